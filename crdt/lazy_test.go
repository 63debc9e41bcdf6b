package crdt_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
)

// sameHead fails unless the lazily opened doc shows what the whole one does.
func sameHead(t *testing.T, what string, lazy, whole *crdt.Doc) {
	t.Helper()
	if lazy.Text() != whole.Text() || lazy.Len() != whole.Len() {
		t.Fatalf("%s: lazy text %q (%d), whole %q (%d)", what, lazy.Text(), lazy.Len(), whole.Text(), whole.Len())
	}
	if !versionsEqual(lazy.Version(), whole.Version()) || !slices.Equal(lazy.Frontier(), whole.Frontier()) {
		t.Fatalf("%s: lazy version %s frontier %s, whole %s %s", what, fmtVersion(lazy.Version()), lazy.Frontier(), fmtVersion(whole.Version()), whole.Frontier())
	}
	if lazy.Title() != whole.Title() || lazy.Titled() != whole.Titled() {
		t.Fatalf("%s: lazy title %q %v, whole %q %v", what, lazy.Title(), lazy.Titled(), whole.Title(), whole.Titled())
	}
}

// TestOpenSnapshotIsLoadSnapshot: on random concurrent histories (renames,
// clocks, deletes), a lazily opened document shows the whole one's text,
// version, frontier and title before its history is read, and after any
// first call that reads it behaves exactly as the whole one: the same
// answers, and the same state after the same edit and remote transaction.
func TestOpenSnapshotIsLoadSnapshot(t *testing.T) {
	firsts := []struct {
		name string
		call func(d *crdt.Doc) string
	}{
		{"Edit", func(d *crdt.Doc) string { return fmt.Sprint(d.Edit(d.Len()/2, min(d.Len()/2, 2), "xé")) }},
		{"Insert", func(d *crdt.Doc) string { tx, err := d.Insert(0, "q"); return canonTxnOrErr(tx, err) }},
		{"SetTitle", func(d *crdt.Doc) string { tx, err := d.SetTitle("T"); return canonTxnOrErr(tx, err) }},
		{"Missing", func(d *crdt.Doc) string { return fmt.Sprint(len(d.Missing(crdt.Version{"ann": 3}))) }},
		{"AnchorAt", func(d *crdt.Doc) string { id, ok := d.AnchorAt(d.Len()); return fmt.Sprint(id, ok) }},
		{"PosOf", func(d *crdt.Doc) string { p, ok := d.PosOf(crdt.ID{Agent: "bo", Seq: 1}); return fmt.Sprint(p, ok) }},
		{"TextAt", func(d *crdt.Doc) string { s, err := d.TextAt(d.Frontier()); return fmt.Sprint(s, err) }},
		{"VersionAt", func(d *crdt.Doc) string { return d.VersionAt(1_765_000_300_000).String() }},
		{"Sessions", func(d *crdt.Doc) string { return fmt.Sprint(len(d.Sessions(0))) }},
		{"Blame", func(d *crdt.Doc) string { b, err := d.Blame(d.Frontier()); return fmt.Sprint(len(b), err) }},
		{"Inserted", func(d *crdt.Doc) string {
			s, err := d.Inserted(crdt.Frontier{}, d.Frontier())
			return fmt.Sprint(s, err)
		}},
		{"HasVersion", func(d *crdt.Doc) string { return fmt.Sprint(d.HasVersion(d.Frontier())) }},
		{"Materialize", func(d *crdt.Doc) string { return fmt.Sprint(d.Materialize()) }},
	}
	for seed := uint64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewPCG(seed, 14))
		src := randomHistory(t, rng, 150)
		other := randomHistory(t, rand.New(rand.NewPCG(seed, 15)), 40) // agents ann, bo, cy again: only the new ones apply
		snap := src.EncodeSnapshot()
		for _, f := range firsts {
			what := fmt.Sprintf("seed %d, first call %s", seed, f.name)
			whole, err := crdt.LoadSnapshot("me", snap)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			lazy, err := crdt.OpenSnapshot("me", snap)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sameHead(t, what, lazy, whole)
			lazy.SetNow(1_765_000_900_000 + int64(seed)) // before the history is read: kept
			whole.SetNow(1_765_000_900_000 + int64(seed))
			if got, want := f.call(lazy), f.call(whole); got != want {
				t.Fatalf("%s: lazy answers %q, whole %q", what, got, want)
			}
			sameHead(t, what+", after it", lazy, whole)
			// Then the same remote transactions and a local edit.
			fresh, _ := crdt.New("zed")
			for _, tx := range other.Missing(crdt.Version{}) {
				fresh.Apply(tx)
			}
			tx, _ := fresh.Insert(0, "remote ")
			_, errL := lazy.Apply(tx)
			_, errW := whole.Apply(tx)
			if fmt.Sprint(errL) != fmt.Sprint(errW) {
				t.Fatalf("%s: Apply: lazy %v, whole %v", what, errL, errW)
			}
			lazy.Insert(lazy.Len(), "!")
			whole.Insert(whole.Len(), "!")
			sameHead(t, what+", after edits", lazy, whole)
			if !slices.Equal(lazy.EncodeSnapshot(), whole.EncodeSnapshot()) {
				t.Fatalf("%s: snapshots differ after the same edits", what)
			}
		}
	}
}

func canonTxnOrErr(tx *crdt.Txn, err error) string {
	if err != nil || tx == nil {
		return fmt.Sprint(err)
	}
	return canonTxn(tx)
}

// TestOpenSnapshotKeepsItsBytes: a lazily opened document that nothing
// changed encodes to the snapshot it was opened from (its history still
// unread), and after reading it to one that opens to the same document.
func TestOpenSnapshotKeepsItsBytes(t *testing.T) {
	src := randomHistory(t, rand.New(rand.NewPCG(3, 3)), 200)
	snap := src.EncodeSnapshot()
	lazy, err := crdt.OpenSnapshot("me", snap)
	if err != nil {
		t.Fatal(err)
	}
	if got := lazy.EncodeSnapshot(); !slices.Equal(got, snap) {
		t.Fatalf("lazy EncodeSnapshot: %d bytes, differs from the %d it was opened from", len(got), len(snap))
	}
	// Reading the history does not change what is encoded (but for the
	// local agent, which is now known).
	if err := lazy.Materialize(); err != nil {
		t.Fatal(err)
	}
	again, err := crdt.OpenSnapshot("me", lazy.EncodeSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	sameHead(t, "re-encoded after Materialize", again, src)
}

// TestOpenSnapshotFormat2: a snapshot written by the build before format 3
// (no head: testdata/format2, two authors, renames, times, astral and CR LF
// text) is read whole by OpenSnapshot and LoadSnapshot, and is re-encoded
// as format 3.
func TestOpenSnapshotFormat2(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("testdata/format2/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	snap := []byte(read("snapshot-v2.bin"))
	for _, open := range []func(string, []byte) (*crdt.Doc, error){crdt.OpenSnapshot, crdt.LoadSnapshot} {
		d, err := open("reader", snap)
		if err != nil {
			t.Fatal(err)
		}
		if d.Text() != read("text-v2.txt") || d.Title() != read("title-v2.txt") || d.Frontier().String() != read("frontier-v2.txt") {
			t.Fatalf("format-2 snapshot reads as %q titled %q at %s", d.Text(), d.Title(), d.Frontier())
		}
		if len(d.Sessions(0)) == 0 {
			t.Fatal("format-2 snapshot lost its sessions")
		}
		re := d.EncodeSnapshot()
		if slices.Equal(re, snap) || re[1] != 3 {
			t.Fatalf("format-2 snapshot re-encoded as version %d", re[1])
		}
		again, err := crdt.OpenSnapshot("reader", re)
		if err != nil {
			t.Fatal(err)
		}
		sameHead(t, "format 2 re-encoded", again, d)
	}
}

// TestOpenSnapshotHeadMustMatchHistory: a snapshot whose head says
// something its history does not (text, length, version, frontier, title)
// opens, shows the head, and is refused as soon as its history is read:
// every change is refused with the same ErrFormat error, the answers that
// cannot return an error are those of a document with no history, and
// LoadSnapshot refuses it outright.
func TestOpenSnapshotHeadMustMatchHistory(t *testing.T) {
	src := randomHistory(t, rand.New(rand.NewPCG(9, 9)), 120)
	if src.Len() < 3 {
		t.Fatal("seed 9 gave a text too short")
	}
	for _, c := range crdt.HeadCorruptions(src) {
		t.Run(c.Name, func(t *testing.T) {
			d, err := crdt.OpenSnapshot("me", c.Snapshot)
			if err != nil {
				t.Fatalf("open: %v (the head alone is well formed)", err)
			}
			err = d.Materialize()
			if !errors.Is(err, crdt.ErrFormat) || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("Materialize: %v, want ErrFormat naming %q", err, c.Want)
			}
			if _, err2 := d.Insert(0, "x"); !errors.Is(err2, crdt.ErrFormat) {
				t.Fatalf("Insert after a failed read: %v", err2)
			}
			tx, _ := crdt.New("zed")
			rt, _ := tx.Insert(0, "y")
			if _, err2 := d.Apply(rt); !errors.Is(err2, crdt.ErrFormat) {
				t.Fatalf("Apply after a failed read: %v", err2)
			}
			if m := d.Missing(crdt.Version{}); m != nil || d.IsDuplicate(rt) || d.HasVersion(nil) {
				t.Fatalf("a document whose history did not read still answers: missing %d", len(m))
			}
			if _, err := crdt.LoadSnapshot("me", c.Snapshot); !errors.Is(err, crdt.ErrFormat) || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("LoadSnapshot: %v", err)
			}
		})
	}
}

// TestOpenSnapshotReadsHistoryOnlyWhenNeeded: what a tab and a daemon do
// right after opening (show the text, say the version and title, encode
// the snapshot for a tab, ask what a replica that has everything lacks)
// leaves the history unread; what needs it reads it.
func TestOpenSnapshotReadsHistoryOnlyWhenNeeded(t *testing.T) {
	src := randomHistory(t, rand.New(rand.NewPCG(4, 4)), 100)
	d, err := crdt.OpenSnapshot("me", src.EncodeSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Text() + d.Title() + d.Frontier().String()
	_, _ = d.Len(), d.Titled()
	if err := d.SetNow(5); err != nil {
		t.Fatal(err)
	}
	if m := d.Missing(d.Version()); m != nil {
		t.Fatalf("Missing of its own version: %d transactions", len(m))
	}
	if m := d.Missing(src.Version()); m != nil {
		t.Fatalf("Missing of the source's version: %d transactions", len(m))
	}
	_ = d.EncodeSnapshot()
	if !crdt.HistoryUnread(d) {
		t.Fatal("reading the head read the history")
	}
	if m := d.Missing(crdt.Version{}); len(m) == 0 || crdt.HistoryUnread(d) {
		t.Fatalf("Missing of the empty version: %d transactions, history unread %v", len(m), crdt.HistoryUnread(d))
	}
}

// TestSnapshotAgentListedTwice: a header naming one agent twice is refused
// by the open (its version would be ambiguous) as by the whole load.
func TestSnapshotAgentListedTwice(t *testing.T) {
	a, _ := crdt.New("ann")
	b, _ := crdt.New("bo")
	tx, _ := b.Insert(0, "hi")
	a.Apply(tx)
	a.Insert(2, "!")
	var fields []cbor.RawMessage
	if err := cbor.Unmarshal(a.EncodeSnapshot(), &fields); err != nil {
		t.Fatal(err)
	}
	twice, _ := cbor.Marshal([]string{"ann", "ann"})
	fields[1] = twice
	data, _ := cbor.Marshal(fields)
	for name, open := range map[string]func(string, []byte) (*crdt.Doc, error){"OpenSnapshot": crdt.OpenSnapshot, "LoadSnapshot": crdt.LoadSnapshot} {
		if _, err := open("me", data); !errors.Is(err, crdt.ErrFormat) || !strings.Contains(err.Error(), `agent "ann" listed twice`) {
			t.Fatalf("%s of a header listing an agent twice: %v", name, err)
		}
	}
}
