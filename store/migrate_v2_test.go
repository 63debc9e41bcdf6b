package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dsq "github.com/ipfs/go-datastore/query"
)

// testdata/v2 was written by the schema-2 code (TestWriteV2Fixture in
// commit 85b0c0f, through the public API, with a clock standing at
// v2Clock) from v2Fixture below; the schema-3 code cannot write it.

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
		before: helloWorld,
		snapOf: []int{0, 1, 2},
		after: []TxnRecord{
			txn("z", 10, "~~", ID{Agent: "a", Seq: 2}),
			txn("m\x00/.", 1, "#", ID{Agent: "z", Seq: 11}),
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
		if !covered.ContainsSpan(t.Span()) {
			out = append(out, t)
		}
	}
	return out
}

func v2Clock() time.Time { return time.Unix(1750000000, 0) }

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
		full := fakeApply(t, append(append([]TxnRecord(nil), d.before...), d.after...))
		v, err := s.Version(ctx, id)
		if err != nil || !v.Equal(full.Version()) {
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
		text, _, err := loadText(ctx, s, id)
		if err != nil || text != full.Text() {
			t.Fatalf("doc %s: opened text %q %v, want %q", d.id, text, err, full.Text())
		}
	}
	var ps []Problem
	res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}, Report: func(p Problem) { ps = append(ps, p) }})
	if err != nil || res.Problems != 0 || res.Docs != len(v2Fixture) {
		t.Fatalf("check: %+v %v %v", res, err, ps)
	}
}

// TestMigrateV2Fixture opens the schema-2 fixture: the store is backed up,
// migrated to schema 3 and holds everything it held, in the new layout.
func TestMigrateV2Fixture(t *testing.T) {
	ctx := context.Background()
	s := openFixture(t, 2)
	checkV2Contents(t, s)
	// The migrated logs keep working: appends continue them, compaction
	// moves them to the next epoch.
	d := &v2Fixture[0]
	id, _ := ParseDocID(d.id)
	mustAppend(t, s, id, Immediate, txn("a", 3, "+", ID{Agent: "m\x00/.", Seq: 1}))
	want := append(d.wantStream(), txn("a", 3, "+", ID{Agent: "m\x00/.", Seq: 1}))
	if got := streamAll(t, s, id, nil); spanList(got) != spanList(want) {
		t.Fatalf("after an append: %s, want %s", spanList(got), spanList(want))
	}
	if n := compactTo(t, s, id, append(append(append([]TxnRecord(nil), d.before...), d.after...), want[len(want)-1])); n != len(want) {
		t.Fatalf("compact after migration dropped %d", n)
	}
	if got := streamAll(t, s, id, nil); len(got) != 0 {
		t.Fatalf("after compaction: %s", spanList(got))
	}
	checkLayout(t, s)
	if res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}}); err != nil || res.Problems != 0 || res.Leftovers != 0 {
		t.Fatalf("check after compaction: %+v %v", res, err)
	}
}

// TestMigrateV2Interrupted reruns the 2→3 migration over a store where an
// earlier run stopped part-way: one document's log moved whole (its log
// state rewritten), another's only in part.
func TestMigrateV2Interrupted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "v2"), dir)
	d, err := openBadger(filepath.Join(dir, DBDirName), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	o := testOpts()
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	half := &Store{kv: newKV(d), opts: o}
	whole, _ := ParseDocID(v2Fixture[0].id)
	if err := migrateLogV2toV3(ctx, half, whole); err != nil {
		t.Fatal(err)
	}
	part, _ := ParseDocID(v2Fixture[1].id)
	moved := 0
	if err := each(ctx, d, dsq.Query{Prefix: logPrefix(part)}, func(e dsq.Entry) error {
		n, ok := parsePad(strings.TrimPrefix(e.Key, logPrefix(part)+"/"))
		if ok && moved < 7 {
			moved++
			return half.kv.commit(ctx, [][]kvOp{{{key: logKey(part, 0, n), val: e.Value}, {key: e.Key, del: true}}}, 1<<20)
		}
		return nil
	}); err != nil || moved != 7 {
		t.Fatalf("moved %d: %v", moved, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir)
	defer s.Close()
	checkLayout(t, s)
	checkV2Contents(t, s)
}

// schemaOf reads the stored schema version.
func schemaOf(t *testing.T, s *Store) uint64 {
	t.Helper()
	raw, err := get(context.Background(), s.kv.d, schemaKey)
	if err != nil {
		t.Fatal(err)
	}
	var rec schemaRec
	if err := decodeRecord(recSchema, raw, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Schema
}

// checkLayout fails unless every key of s follows the current layout and
// every document's log entries are in its current epoch.
func checkLayout(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	epochs := map[DocID]uint64{}
	err := each(ctx, s.kv.d, dsq.Query{}, func(e dsq.Entry) error {
		switch {
		case e.Key == schemaKey:
		case strings.HasPrefix(e.Key, docIndexPrefix+"/"):
			if _, err := parseDocIndexKey(e.Key); err != nil {
				t.Errorf("index key: %v", err)
			}
		default:
			dk, err := parseDocKey(e.Key)
			if err != nil {
				t.Errorf("key outside the layout: %v", err)
				return nil
			}
			if dk.kind == kindLogEnd {
				var le logEndRec
				if err := decodeRecord(recLogEnd, e.Value, &le); err != nil {
					t.Errorf("%s: %v", e.Key, err)
				}
				if le.Dirty {
					t.Errorf("%s: log still marked dirty", e.Key)
				}
				epochs[dk.doc] = le.Epoch
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = each(ctx, s.kv.d, dsq.Query{Prefix: docsPrefix, KeysOnly: true}, func(e dsq.Entry) error {
		if dk, err := parseDocKey(e.Key); err == nil && dk.kind == kindLog && dk.epoch != epochs[dk.doc] {
			t.Errorf("%s: entry outside the current epoch %d", e.Key, epochs[dk.doc])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
