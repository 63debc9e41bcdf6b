package crdt_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"weft/crdt"
)

// Weft issue 11: a transaction that repeats known seqs is checked against
// the history. The check must cost what the transaction's encoding
// allows, not what the history holds: a 21-byte delete of 2^20 known seqs
// used to expand both sides seq by seq (1.5 GiB, 2.8 s).

// typedReplica returns a replica that knows agent a's n seqs, inserted as
// one run and then (when del) deleted as one run by a second transaction.
// It also returns a's transactions.
func typedReplica(t testing.TB, n int, del bool) (*crdt.Doc, []*crdt.Txn) {
	t.Helper()
	a, err := crdt.New("a")
	if err != nil {
		t.Fatal(err)
	}
	var txns []*crdt.Txn
	ins, err := a.Insert(0, strings.Repeat("x", n))
	if err != nil {
		t.Fatal(err)
	}
	txns = append(txns, ins)
	if del {
		d, err := a.Delete(0, n)
		if err != nil {
			t.Fatal(err)
		}
		txns = append(txns, d)
	}
	r, err := crdt.New("r")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range txns {
		if _, err := r.Apply(x); err != nil {
			t.Fatal(err)
		}
	}
	return r, txns
}

// applyAllocs applies x to r and returns the bytes allocated and the error.
func applyAllocs(r *crdt.Doc, x *crdt.Txn) (uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := r.Apply(x)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// checkBytes bounds what one check of a transaction of a few ops may
// allocate, whatever the history: the old expansion allocated about 1.4 KiB
// per known seq.
const checkBytes = 16 << 10

func TestDuplicateCheckBoundedAttack(t *testing.T) {
	for _, n := range []int{1 << 16, 1 << 18} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r, _ := typedReplica(t, n, false)
			text, v := r.Text(), r.Version()
			// {agent a, seq 0, delete a/0 len n}: a's seqs 0..n-1 are
			// inserts, so this contradicts them.
			x := &crdt.Txn{Agent: "a", Seq: 0, Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: crdt.ID{Agent: "a", Seq: 0}, Len: n}}}
			if enc, err := crdt.EncodeTxn(x); err != nil || len(enc) > 32 {
				t.Fatalf("attack encodes in %d bytes (%v)", len(enc), err)
			}
			for _, m := range []int{n, n - 1, n / 2} {
				x.Ops[0].Len = m
				b, err := applyAllocs(r, x)
				if !errors.Is(err, crdt.ErrContradiction) {
					t.Fatalf("len %d: err = %v, want a contradiction", m, err)
				}
				if b > checkBytes {
					t.Errorf("len %d against %d known seqs: refusing allocated %d bytes (bound %d)", m, n, b, checkBytes)
				}
			}
			if r.Text() != text || !r.Version().Equal(v) {
				t.Fatal("a refused transaction changed the replica")
			}
		})
	}
}

func TestDuplicateCheckBoundedMatching(t *testing.T) {
	for _, n := range []int{1 << 16, 1 << 18} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r, txns := typedReplica(t, n, true)
			text, v := r.Text(), r.Version()
			del := txns[1]
			// The delete itself, and prefixes of it: true duplicates, each
			// a new gossip message. They must stay cheap and succeed.
			for _, m := range []int{n, n - 1, n / 2, 1} {
				x := *del
				x.Ops = []crdt.Op{del.Ops[0]}
				x.Ops[0].Len = m
				b, err := applyAllocs(r, &x)
				if err != nil {
					t.Fatalf("duplicate of len %d: %v", m, err)
				}
				if b > checkBytes {
					t.Errorf("duplicate of len %d against %d known seqs: checking allocated %d bytes (bound %d)", m, n, b, checkBytes)
				}
			}
			// The insert repeated: its text is its size, so the check may
			// grow with it, but not beyond a constant times it.
			b, err := applyAllocs(r, txns[0])
			if err != nil {
				t.Fatalf("duplicate insert: %v", err)
			}
			enc, err := crdt.EncodeTxn(txns[0])
			if err != nil {
				t.Fatal(err)
			}
			if b > checkBytes+4*uint64(len(enc)) {
				t.Errorf("duplicate insert of %d bytes: checking allocated %d bytes", len(enc), b)
			}
			if r.Text() != text || !r.Version().Equal(v) {
				t.Fatal("a duplicate changed the replica")
			}
		})
	}
}

// BenchmarkDuplicateCheck applies issue 11's attack ({a, 0, delete a/0 len
// n} against n known inserts of a) and a true duplicate (a prefix of a
// known delete of n seqs) to a replica: one op each, whatever n.
func BenchmarkDuplicateCheck(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 20} {
		b.Run(fmt.Sprintf("contradiction/%d", n), func(b *testing.B) {
			r, _ := typedReplica(b, n, false)
			x := &crdt.Txn{Agent: "a", Seq: 0, Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: crdt.ID{Agent: "a", Seq: 0}, Len: n - 1}}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Apply(x); !errors.Is(err, crdt.ErrContradiction) {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("duplicate/%d", n), func(b *testing.B) {
			r, txns := typedReplica(b, n, true)
			x := *txns[1]
			x.Ops = []crdt.Op{txns[1].Ops[0]}
			x.Ops[0].Len = n - 1
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.Apply(&x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fragmentedReplicas returns replica a and a copy r where b's n
// keystrokes interleave with c's (each its own transaction), so that b's
// seqs are n separate LV runs, and a's transaction deleting all of b's
// text (one op: delete b/0 len n), applied to a only.
func fragmentedReplicas(t *testing.T, n int) (a, r *crdt.Doc, del *crdt.Txn) {
	t.Helper()
	docs := map[string]*crdt.Doc{}
	for _, name := range []string{"a", "b", "c", "r"} {
		d, err := crdt.New(name)
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = d
	}
	a, r = docs["a"], docs["r"]
	deliver := func(x *crdt.Txn) {
		for _, d := range []*crdt.Doc{a, r} {
			if _, err := d.Apply(x); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < n; i++ {
		xb, err := docs["b"].Insert(docs["b"].Len(), "b")
		if err != nil {
			t.Fatal(err)
		}
		deliver(xb)
		xc, err := docs["c"].Insert(0, "c")
		if err != nil {
			t.Fatal(err)
		}
		deliver(xc)
	}
	pos := 0 // of b's text
	if strings.HasPrefix(a.Text(), "c") {
		pos = n
	}
	del, err := a.Delete(pos, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Ops) != 1 || del.Ops[0].Target != (crdt.ID{Agent: "b"}) || del.Ops[0].Len != n {
		t.Fatalf("delete is %+v, want one op deleting b/0..", del.Ops)
	}
	return a, r, del
}

// A delete of a few bytes may match a known run stored in many fragments.
// Its check is cut off at its budget: a pure duplicate changes nothing
// (nil), one that also carries new seqs is refused with ErrUnchecked, and
// catch-up then delivers the new seqs.
func TestDuplicateCheckFragmented(t *testing.T) {
	const n = 300
	a, r, del := fragmentedReplicas(t, n)
	if !a.IsDuplicate(del) {
		t.Fatal("a's own delete is not a duplicate at a")
	}
	if p, err := a.Apply(del); err != nil || p != nil {
		t.Fatalf("duplicate: patch %v, err %v", p, err)
	}

	// r knows the delete's first n-1 seqs (a prefix, a valid transaction).
	pre := *del
	pre.Ops = []crdt.Op{del.Ops[0]}
	pre.Ops[0].Len = n - 1
	if _, err := r.Apply(&pre); err != nil {
		t.Fatal(err)
	}
	if r.IsDuplicate(del) {
		t.Fatal("IsDuplicate with a seq unknown")
	}
	text, v := r.Text(), r.Version()
	if _, err := r.Apply(del); !errors.Is(err, crdt.ErrUnchecked) {
		t.Fatalf("partial overlap with %d fragments: err = %v, want ErrUnchecked", n, err)
	}
	if r.Text() != text || !r.Version().Equal(v) {
		t.Fatal("a refused transaction changed the replica")
	}
	for _, x := range a.Missing(r.Version()) {
		if _, err := r.Apply(x); err != nil {
			t.Fatal(err)
		}
	}
	if r.Text() != a.Text() || !r.Version().Equal(a.Version()) {
		t.Fatalf("after catch-up: %q, want %q", r.Text(), a.Text())
	}
}

// A transaction that extends a known one is compared on its known part and
// its new part integrated; changing the known part makes it a
// contradiction.
func TestDuplicateCheckPartialOverlap(t *testing.T) {
	a, _ := crdt.New("a")
	r, _ := crdt.New("r")
	x1, _ := a.Insert(0, "héllo")
	x2, _ := a.Insert(5, " wörld")
	x3, _ := a.Delete(1, 3)
	for _, x := range []*crdt.Txn{x1, x2} {
		if _, err := r.Apply(x); err != nil {
			t.Fatal(err)
		}
	}
	// x2 and x3 as one transaction: x2 known, x3 new.
	both := *x2
	both.Ops = append(append([]crdt.Op(nil), x2.Ops...), x3.Ops...)
	bad := both
	bad.Ops = append([]crdt.Op(nil), both.Ops...)
	bad.Ops[0].Text = " world"
	if _, err := r.Apply(&bad); !errors.Is(err, crdt.ErrContradiction) {
		t.Fatalf("altered known part: err = %v, want a contradiction", err)
	}
	if r.IsDuplicate(&both) {
		t.Fatal("IsDuplicate with new seqs")
	}
	if _, err := r.Apply(&both); err != nil {
		t.Fatal(err)
	}
	if r.Text() != a.Text() || r.Text() != "ho wörld" {
		t.Fatalf("text %q, want %q", r.Text(), a.Text())
	}
}

// BenchmarkNewDeleteRun applies a new transaction of one op deleting n
// known items (all of agent a's, one run here): {zi, 0, delete a/0 len n},
// a new agent each time, made on the current frontier. Its 20-odd bytes
// must not cost work per deleted seq when the targets are one run.
func BenchmarkNewDeleteRun(b *testing.B) {
	for _, n := range []int{1 << 16, 1 << 20} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r, _ := typedReplica(b, n, false)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x := &crdt.Txn{Agent: fmt.Sprint("z", i), Parents: r.Frontier(), Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: crdt.ID{Agent: "a"}, Len: n}}}
				if _, err := r.Apply(x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Local versions number every operation of the document in 32 bits. Small
// transactions deleting a long run each add that many operations: past
// MaxSeq operations in all, a replica refuses them (before, its local
// versions would wrap at 2^32 and corrupt the document).
func TestHistoryLimit(t *testing.T) {
	const n = 1 << 20
	r, _ := typedReplica(t, n, false)
	applied := 0
	for i := 0; ; i++ {
		if i > 2*crdt.MaxSeq/n+2 {
			t.Fatalf("%d deletes of %d items applied: never refused", i, n)
		}
		x := &crdt.Txn{Agent: fmt.Sprint("z", i), Parents: r.Frontier(), Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: crdt.ID{Agent: "a"}, Len: n}}}
		text, v := r.Text(), r.Version()
		_, err := r.Apply(x)
		if err == nil {
			applied++
			continue
		}
		if !errors.Is(err, crdt.ErrInvalid) {
			t.Fatal(err)
		}
		if r.Text() != text || !r.Version().Equal(v) {
			t.Fatal("a refused transaction changed the replica")
		}
		break
	}
	// n inserts, then n per delete, at most MaxSeq.
	if want := (crdt.MaxSeq - n) / n; applied != want {
		t.Fatalf("%d deletes applied, want %d", applied, want)
	}
	if _, err := r.Insert(0, strings.Repeat("y", n)); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("local insert past the limit: %v", err)
	}
}
