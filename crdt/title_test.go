package crdt_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"weft/crdt"
)

// Concurrent renames: every delivery order gives every replica the same
// title, the one the rule of crdt/title.go names; a rename made after
// seeing the others replaces them.
func TestTitleConcurrentRenamesConverge(t *testing.T) {
	seed := uint64(13)
	rng := rand.New(rand.NewPCG(seed, 1))
	a, _ := crdt.New("alice")
	b, _ := crdt.New("bob")
	c, _ := crdt.New("carol")
	var txns []*crdt.Txn
	add := func(tx *crdt.Txn, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		txns = append(txns, tx)
	}
	add(a.SetTitle("Plan"))
	b.Apply(txns[0])
	add(b.SetTitle("Plan B"))  // after alice's: replaces it
	add(c.SetTitle("Carol's")) // concurrent with both
	add(a.Insert(0, "text"))   // alice goes on, not having seen the others
	add(a.SetTitle("Plan A"))  // concurrent with bob's and carol's
	// The latest renames are bob@1, carol@0 and alice@5 (alice@0 is in
	// bob@1's past); IDs order by agent name first: carol@0 wins.
	want := "Carol's"
	for round := 0; round < 30; round++ {
		d, _ := crdt.New("dave")
		order := rng.Perm(len(txns))
		for _, i := range order {
			if _, err := d.Apply(txns[i]); err != nil {
				t.Fatalf("seed %d order %v: %v", seed, order, err)
			}
		}
		if got := d.Title(); got != want {
			t.Fatalf("seed %d order %v: title %q, want %q", seed, order, got, want)
		}
		loaded, err := crdt.LoadSnapshot("erin", d.EncodeSnapshot())
		if err != nil || loaded.Title() != want {
			t.Fatalf("snapshot: title %q (%v), want %q", loaded.Title(), err, want)
		}
	}
	// Carol, having seen everything, renames: hers replaces all of them.
	for _, tx := range txns {
		c.Apply(tx)
	}
	tx, err := c.SetTitle("")
	if err != nil || c.Title() != "" {
		t.Fatalf("rename to empty: %q %v", c.Title(), err)
	}
	a.Apply(tx) // alice lacks bob's and carol's earlier ops: it waits
	for _, x := range txns {
		a.Apply(x)
	}
	if a.Title() != "" || a.Pending() != 0 {
		t.Fatalf("alice: title %q, %d pending; want empty, 0", a.Title(), a.Pending())
	}
}

// Titles and times are checked: a title that vocab refuses and a time
// out of range are ErrInvalid locally and on decode; a repeat that
// differs in time or title is a contradiction.
func TestTitleAndTimeChecked(t *testing.T) {
	a, _ := crdt.New("alice")
	if _, err := a.SetTitle("bad\x07title"); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("control character: %v", err)
	}
	if err := a.SetNow(-1); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("SetNow(-1): %v", err)
	}
	if err := a.SetNow(crdt.MaxTime + 1); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("SetNow(MaxTime+1): %v", err)
	}
	if err := a.SetNow(1_765_000_000_000); err != nil {
		t.Fatal(err)
	}
	ins, _ := a.Insert(0, "hi")
	a.SetNow(1_765_000_001_000)
	ti, _ := a.SetTitle("Hi")
	if ins.Time != 1_765_000_000_000 || ti.Time != 1_765_000_001_000 {
		t.Fatalf("local times %d, %d", ins.Time, ti.Time)
	}
	for _, tx := range []*crdt.Txn{ins, ti} {
		b, err := crdt.EncodeTxn(tx)
		if err != nil {
			t.Fatal(err)
		}
		back, err := crdt.DecodeTxn(b)
		if err != nil || canonTxn(back) != canonTxn(tx) {
			t.Fatalf("round trip: %v %s != %s", err, canonTxn(back), canonTxn(tx))
		}
	}
	bad := cloneTxn(ins)
	bad.Time = crdt.MaxTime + 1
	if _, err := crdt.EncodeTxn(bad); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("encode with time past MaxTime: %v", err)
	}
	bt := cloneTxn(ti)
	bt.Ops = []crdt.Op{{Kind: crdt.OpTitle, Text: "tab\there"}}
	if _, err := crdt.EncodeTxn(bt); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("encode bad title: %v", err)
	}

	b, _ := crdt.New("bob")
	for _, tx := range []*crdt.Txn{ins, ti} {
		if _, err := b.Apply(tx); err != nil {
			t.Fatal(err)
		}
	}
	other := cloneTxn(ins)
	other.Time++
	if _, err := b.Apply(other); !errors.Is(err, crdt.ErrContradiction) {
		t.Fatalf("repeat with another time: %v", err)
	}
	if _, err := b.Apply(cloneTxn(ins)); err != nil {
		t.Fatalf("exact repeat: %v", err)
	}
	ot := cloneTxn(ti)
	ot.Ops = []crdt.Op{{Kind: crdt.OpTitle, Text: "Ho"}}
	if _, err := b.Apply(ot); !errors.Is(err, crdt.ErrContradiction) {
		t.Fatalf("repeat with another title: %v", err)
	}
	// Catch-up carries the times and the title op as they were.
	ms := b.Missing(crdt.Version{})
	if len(ms) != 2 || canonTxn(ms[0]) != canonTxn(ins) || canonTxn(ms[1]) != canonTxn(ti) {
		t.Fatalf("Missing: %v", ms)
	}
	// A title op is no item: naming it as an origin or target is invalid.
	del := &crdt.Txn{Agent: "carl", Parents: b.Frontier(), Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: crdt.ID{Agent: "alice", Seq: 2}, Len: 1}}}
	if _, err := b.Apply(del); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("deleting a title op: %v", err)
	}
}

// Format 1 (written before titles and times) still reads: stored
// transactions and snapshots made by the previous build.
func TestFormat1StillReads(t *testing.T) {
	raw, err := os.ReadFile("testdata/format1/txns-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("testdata/format1/text-v1.txt")
	d, _ := crdt.New("reader")
	for len(raw) > 0 {
		n := int(raw[0])<<8 | int(raw[1])
		tx, err := crdt.DecodeTxn(raw[2 : 2+n])
		if err != nil {
			t.Fatalf("format-1 transaction: %v", err)
		}
		if tx.Time != 0 {
			t.Fatalf("format-1 transaction with time %d", tx.Time)
		}
		if _, err := d.Apply(tx); err != nil {
			t.Fatal(err)
		}
		raw = raw[2+n:]
	}
	if d.Text() != string(want) {
		t.Fatalf("format-1 transactions give %q, want %q", d.Text(), want)
	}
	snap, _ := os.ReadFile("testdata/format1/snapshot-v1.bin")
	s, err := crdt.LoadSnapshot("reader", snap)
	if err != nil || s.Text() != string(want) || s.Title() != "" {
		t.Fatalf("format-1 snapshot: %v %q", err, s.Text())
	}
	// A format-1 transaction with a title op does not exist.
	tx, _ := crdt.New("x")
	ti, _ := tx.SetTitle("t")
	b, _ := crdt.EncodeTxn(ti)
	v1 := append([]byte{0x85, 0x01}, b[2:len(b)-1]...) // [1, agents, seq, parents, ops]: time 0 was the last byte
	if _, err := crdt.DecodeTxn(v1); !errors.Is(err, crdt.ErrFormat) {
		t.Fatalf("format-1 title op: %v", err)
	}
}
