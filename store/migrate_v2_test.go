package store

import (
	"context"
	"errors"
	"flag"
	"iter"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var writeV2Fixture = flag.Bool("write-v2-fixture", false, "rewrite testdata/v2 with the schema-2 store code (only the schema-2 code may do this)")

// v2Doc is one document of testdata/v2: its transactions, stored in this
// order; optionally a compaction whose snapshot is before[snapOf...]
// applied (it drops them), followed by more transactions.
type v2Doc struct {
	id, title string
	before    []TxnRecord
	snapOf    []int // indexes into before (nil: no compaction)
	after     []TxnRecord
	touch     bool
}

// v2Fixture is what testdata/v2 holds: a compacted document whose log had
// its first entries dropped and grew after, a document whose compaction
// dropped one agent's transactions from the middle of the log (the
// survivors interleave with the dropped), a plain one, and an empty one.
var v2Fixture = []v2Doc{
	{
		id: "6a1f0c3e9b2d4f5a8c7e6d5b4a392817", title: "compacted",
		before: []TxnRecord{
			txn("z", 0, "hello"),
			txn("a", 0, " ", ID{"z", 4}),
			txn("z", 5, "world", ID{"a", 0}),
			txn("a", 1, "!", ID{"z", 9}),
			txn("m\x00/.", 0, "?", ID{"z", 9}), // concurrent with a:1
			txn("a", 2, ".", ID{"a", 1}, ID{"m\x00/.", 0}),
		},
		snapOf: []int{0, 1, 2},
		after: []TxnRecord{
			txn("z", 10, "~~", ID{"a", 2}),
			txn("m\x00/.", 1, "#", ID{"z", 11}),
		},
	},
	{
		id: "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f50", title: "interleaved",
		before: interleaved(30),
		snapOf: evens(20), // x's first 20 only
		touch:  true,
	},
	{
		id: "5e4d3c2b1a0f9e8d7c6b5a4938271605", title: "plain",
		before: linear("q", 0, 50),
	},
	{id: "1b2c3d4e5f60718293a4b5c6d7e8f901", title: ""},
}

// interleaved returns n transactions of x and n of y, alternating, with
// no parents across agents.
func interleaved(n uint64) []TxnRecord {
	xs, ys := linear("x", 0, n), linear("y", 0, n)
	out := make([]TxnRecord, 0, 2*n)
	for i := range xs {
		out = append(out, xs[i], ys[i])
	}
	return out
}

func evens(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 2 * i
	}
	return out
}

// snapTxns returns the transactions d's snapshot covers.
func (d *v2Doc) snapTxns() []TxnRecord {
	var out []TxnRecord
	for _, i := range d.snapOf {
		out = append(out, d.before[i])
	}
	return out
}

// wantStream is what streaming d returns: every stored transaction not
// covered by the snapshot, in the order stored.
func (d *v2Doc) wantStream() []TxnRecord {
	covered := Version{}
	for _, t := range d.snapTxns() {
		covered[t.Agent] = t.Seq + t.Len
	}
	var out []TxnRecord
	for _, t := range append(append([]TxnRecord(nil), d.before...), d.after...) {
		if !covered.Contains(t.Span()) {
			out = append(out, t)
		}
	}
	return out
}

func v2Clock() time.Time { return time.Unix(1750000000, 0) }

// TestWriteV2Fixture writes testdata/v2 through the store's public API. It
// must be run by the schema-2 code: later code writes its own layout.
func TestWriteV2Fixture(t *testing.T) {
	if !*writeV2Fixture {
		t.Skip("run with -write-v2-fixture (schema-2 code only) to regenerate testdata/v2")
	}
	if SchemaVersion != 2 {
		t.Fatalf("this code writes schema %d; testdata/v2 must be written by the schema-2 code", SchemaVersion)
	}
	ctx := context.Background()
	dir := t.TempDir()
	o := testOpts()
	o.Now = v2Clock
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v2Fixture {
		d := &v2Fixture[i]
		id, err := ParseDocID(d.id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateDoc(ctx, id, "untitled"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTitle(ctx, id, d.title); err != nil {
			t.Fatal(err)
		}
		if d.touch {
			if err := s.Touch(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		for _, tr := range d.before {
			mustAppend(t, s, id, Immediate, tr)
		}
		if d.snapOf != nil {
			rb, _ := fakeCodec{}.Rebuild(nil)
			for _, tr := range d.snapTxns() {
				if err := rb.Apply(tr.Payload); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Compact(ctx, id, rb.(*fakeDoc).Snapshot(), rb.Version()); err != nil {
				t.Fatal(err)
			}
		}
		for _, tr := range d.after {
			mustAppend(t, s, id, Immediate, tr)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("testdata", "v2")
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(dir, DBDirName), filepath.Join(out, DBDirName))
}

// checkV2Contents verifies that s holds everything testdata/v2 was written
// with: metadata, document list, versions, snapshots, the order of each
// document's log, and that Check finds nothing wrong.
func checkV2Contents(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	docs, err := s.Docs(ctx)
	if err != nil || len(docs) != len(v2Fixture) {
		t.Fatalf("documents %v %v, want %d", docs, err, len(v2Fixture))
	}
	for i := range v2Fixture {
		d := &v2Fixture[i]
		id, _ := ParseDocID(d.id)
		m, err := s.Meta(ctx, id)
		if err != nil || m.Title != d.title || !m.Created.Equal(v2Clock()) || m.LastOpened.IsZero() != !d.touch {
			t.Fatalf("doc %s: meta %+v %v", d.id, m, err)
		}
		want := d.wantStream()
		got := streamAll(t, s, id, nil)
		if spanList(got) != spanList(want) {
			t.Fatalf("doc %s: streamed %s, want %s", d.id, spanList(got), spanList(want))
		}
		for j := range got {
			if string(got[j].Payload) != string(want[j].Payload) {
				t.Fatalf("doc %s: payload of %s differs", d.id, got[j].Span())
			}
		}
		full, _ := fakeCodec{}.Rebuild(nil)
		for _, tr := range append(append([]TxnRecord(nil), d.before...), d.after...) {
			if err := full.Apply(tr.Payload); err != nil {
				t.Fatal(err)
			}
		}
		v, err := s.Version(ctx, id)
		if err != nil || !sameVersion(v, full.Version()) {
			t.Fatalf("doc %s: version %v %v, want %v", d.id, v, err, full.Version())
		}
		snap, err := s.Snapshot(ctx, id)
		switch {
		case d.snapOf == nil && !errors.Is(err, ErrNotFound):
			t.Fatalf("doc %s: snapshot %v %v, want none", d.id, snap, err)
		case d.snapOf != nil && err != nil:
			t.Fatalf("doc %s: snapshot: %v", d.id, err)
		}
		// Opening gives the whole text: snapshot + the log after it.
		text, err := s.Load(ctx, id, func(sn *Snapshot, txns iter.Seq2[TxnRecord, error]) (any, int64, error) {
			var p []byte
			if sn != nil {
				p = sn.Payload
			}
			rb, err := fakeCodec{}.Rebuild(p)
			if err != nil {
				return nil, 0, err
			}
			for tr, err := range txns {
				if err != nil {
					return nil, 0, err
				}
				if err := rb.Apply(tr.Payload); err != nil {
					return nil, 0, err
				}
			}
			return rb.(*fakeDoc).Text(), 1, nil
		})
		if err != nil || text != full.(*fakeDoc).Text() {
			t.Fatalf("doc %s: opened text %q %v, want %q", d.id, text, err, full.(*fakeDoc).Text())
		}
	}
	var ps []Problem
	res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}, Report: func(p Problem) { ps = append(ps, p) }})
	if err != nil || res.Problems != 0 || res.Docs != len(v2Fixture) {
		t.Fatalf("check: %+v %v %v", res, err, ps)
	}
}

// TestV2Fixture reads testdata/v2 with the code that wrote it.
func TestV2Fixture(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "v2"), dir)
	s, err := Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkV2Contents(t, s)
}
