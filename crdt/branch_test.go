package crdt_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"weft/crdt"
)

// TestBranchesAgainstReference: offline branches merged one transaction at
// a time (from wire bytes) into a replica whose main line moves on between
// them — the case the kept regions of merge.go serve — and forged copies
// of the branches' transactions whose references name items the branch
// could not have seen (the main line's latest inserts, others' branches)
// or could have. The replica must accept and refuse exactly what the
// reference implementation does and hold the same text throughout.
func TestBranchesAgainstReference(t *testing.T) {
	seeds := []uint64{*flagSeed}
	if *flagSeed == 0 {
		seeds = seeds[:0]
		for s := uint64(1); s <= uint64(iterations(40)); s++ {
			seeds = append(seeds, s)
		}
	}
	for _, seed := range seeds {
		if err := branchHistory(seed); err != nil {
			t.Fatalf("seed %d (replay: go test ./crdt -run TestBranchesAgainstReference -crdt.seed=%d): %v", seed, seed, err)
		}
	}
}

// TestOfflineBranchMerge: BenchmarkOfflineBranch's case, shorter: the
// merge reaches the text the branch's own replica reached, and the LV
// index built for the loaded document and kept through the merge agrees
// with the tree.
func TestOfflineBranchMerge(t *testing.T) {
	snap, wire, want := offlineBranch(t, 2000)
	d, err := crdt.LoadSnapshot("paper", snap)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range wire {
		tx, err := crdt.DecodeTxn(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Apply(tx); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if i == 0 || i == len(wire)-1 {
			if err := crdt.CheckIndex(d); err != nil {
				t.Fatalf("after transaction %d: %v", i, err)
			}
		}
	}
	if d.Text() != want {
		t.Fatal("the merge's text differs from the branch's replica's")
	}
}

func branchHistory(seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0xb4a))
	main, _ := crdt.New("main")
	got, _ := crdt.New("m")
	ref := newRef("m", ruleDesign)
	var seen []crdt.ID // items inserted so far, by anyone
	deliver := func(tx *crdt.Txn, what string) error {
		w, err := crdt.EncodeTxn(tx)
		if err != nil {
			return err
		}
		dec, err := crdt.DecodeTxn(w)
		if err != nil {
			return err
		}
		_, gerr := got.Apply(dec)
		_, rerr := ref.Apply(cloneTxn(tx))
		if outcome(gerr) != outcome(rerr) {
			return fmt.Errorf("%s %s/%d: replica says %v, reference %v", what, tx.Agent, tx.Seq, gerr, rerr)
		}
		if got.Text() != ref.Text() {
			return fmt.Errorf("%s %s/%d: text %q, reference %q", what, tx.Agent, tx.Seq, got.Text(), ref.Text())
		}
		if gerr == nil {
			for _, o := range tx.Ops {
				if o.Kind == crdt.OpInsert {
					for k := range []rune(o.Text) {
						seen = append(seen, crdt.ID{Agent: tx.Agent, Seq: tx.Seq + uint64(k)})
					}
				}
			}
		}
		return nil
	}
	edit := func(d *crdt.Doc) (*crdt.Txn, error) {
		n := d.Len()
		if n > 0 && r.IntN(3) == 0 {
			p := r.IntN(n)
			return d.Replace(p, min(1+r.IntN(3), n-p), "")
		}
		p := r.IntN(n + 1)
		w := genWords[r.IntN(len(genWords))]
		return d.Replace(p, 0, w[:min(len(w), 1+r.IntN(3))])
	}
	// A starting text on the main line, known to everyone.
	for range 5 {
		tx, err := edit(main)
		if err != nil {
			return err
		}
		if err := deliver(tx, "main"); err != nil {
			return err
		}
	}
	type branch struct {
		d     *crdt.Doc
		queue []*crdt.Txn
	}
	var bs []*branch
	for i := range 2 + r.IntN(3) {
		d, err := crdt.LoadSnapshot(fmt.Sprintf("b%d", i), main.EncodeSnapshot())
		if err != nil {
			return err
		}
		bs = append(bs, &branch{d: d})
	}
	for step := 0; step < 300; step++ {
		b := bs[r.IntN(len(bs))]
		switch k := r.IntN(20); {
		case k < 4: // the main line moves on, delivered at once
			tx, err := edit(main)
			if err != nil {
				return err
			}
			if err := deliver(tx, "main"); err != nil {
				return err
			}
		case k < 10: // the branch's author edits offline
			tx, err := edit(b.d)
			if err != nil {
				return err
			}
			b.queue = append(b.queue, tx)
		case k < 11: // the branch pulls the main line: its next edit merges
			for _, tx := range main.Missing(b.d.Version()) {
				if _, err := b.d.Apply(tx); err != nil {
					return err
				}
			}
		case k < 16 && len(b.queue) > 0: // the branch's next transaction arrives
			tx := b.queue[0]
			b.queue = b.queue[1:]
			if err := deliver(tx, "branch"); err != nil {
				return err
			}
		case len(b.queue) > 0 && len(seen) > 0: // a forged copy of it
			f := cloneTxn(b.queue[0])
			// Mostly the newest items: those landed since the branch's
			// previous transaction, which it cannot have seen.
			id := seen[len(seen)-1-min(r.IntN(4), len(seen)-1)]
			if r.IntN(3) == 0 {
				id = seen[r.IntN(len(seen))]
			}
			o := &f.Ops[r.IntN(len(f.Ops))]
			if o.Kind == crdt.OpInsert {
				o.Left, o.Right = id, crdt.ID{}
			} else if o.Kind == crdt.OpDelete {
				o.Target, o.Len, o.Rev = id, 1, false
			}
			if err := deliver(f, "forged"); err != nil {
				return err
			}
		}
	}
	return nil
}

// outcome names an Apply's result: "ok" or its error's category.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return errCategory(err)
}

// TestReferenceToNonItem: an origin or delete target naming a title op or
// a delete (no item) is refused, also in a document without any item yet.
func TestReferenceToNonItem(t *testing.T) {
	d, _ := crdt.New("a")
	tt, err := d.SetTitle("T")
	if err != nil {
		t.Fatal(err)
	}
	title := crdt.ID{Agent: "a", Seq: tt.Seq}
	for i, tx := range []*crdt.Txn{
		{Agent: "x", Parents: []crdt.ID{title}, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "q", Left: title}}},
		{Agent: "x", Parents: []crdt.ID{title}, Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: title, Len: 1}}},
	} {
		if _, err := d.Apply(tx); !errors.Is(err, crdt.ErrInvalid) {
			t.Fatalf("empty document, forged %d: %v, want ErrInvalid", i, err)
		}
	}
	if _, err := d.Insert(0, "hello"); err != nil {
		t.Fatal(err)
	}
	del, err := d.Delete(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	gone := crdt.ID{Agent: "a", Seq: del.Seq}
	for i, tx := range []*crdt.Txn{
		{Agent: "x", Parents: []crdt.ID{gone}, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "q", Left: title}}},
		{Agent: "x", Parents: []crdt.ID{gone}, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "q", Left: gone}}},
		{Agent: "x", Parents: []crdt.ID{gone}, Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: gone, Len: 1}}},
		{Agent: "x", Parents: []crdt.ID{gone}, Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: crdt.ID{Agent: "a", Seq: 2}, Len: 5}}},
	} {
		if _, err := d.Apply(tx); !errors.Is(err, crdt.ErrInvalid) {
			t.Fatalf("forged %d: %v, want ErrInvalid", i, err)
		}
	}
	if d.Text() != "hllo" {
		t.Fatalf("text %q", d.Text())
	}
}
