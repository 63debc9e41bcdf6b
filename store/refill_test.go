package store

import (
	"context"
	"testing"
)

// A document that keeps its records under its snapshot (PutSnapshot, as a
// members-only one does) loses one to a bad sector: Check --repair records
// it to fetch even though the snapshot covers it, ResolveMissing does not
// take the heads' word for it, and Refill puts the record back (and only
// what the list names), after which the list is gone and Check passes.
// A compacted document's covered seqs count as stored.
func TestRefillUnderSnapshot(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	id := mustCreate(t, s)
	all := linear("a", 0, 6)
	mustAppend(t, s, id, Immediate, all...)
	snap, v := fakeSnapshot(t, all[:4])
	if err := s.PutSnapshot(ctx, id, snap, v); err != nil {
		t.Fatal(err)
	}
	corrupt(t, s, txnKey(id, "a", 2), []byte{0xff, 0x00})
	res, ps := check(t, s, true)
	if got := res.Fetch[id]; len(got) != 1 || got[0] != (Span{Agent: "a", Seq: 2, Len: 1}) {
		t.Fatalf("fetch list %v; problems %v", got, ps)
	}
	if res, ps := check(t, s, false); res.Problems != 0 {
		t.Fatalf("after repair: %v", ps)
	}
	if left, err := s.ResolveMissing(ctx, id); err != nil || len(left) != 1 {
		t.Fatalf("resolve before the fetch: %v %v (the heads cover it; the record is gone)", left, err)
	}
	// Only what the list names, under the snapshot, goes in.
	if n, err := s.Refill(ctx, id, all[1], all[4]); err != nil || n != 0 {
		t.Fatalf("refill of what the list does not name: %d %v", n, err)
	}
	if n, err := s.Refill(ctx, id, all[2]); err != nil || n != 1 {
		t.Fatalf("refill: %d %v", n, err)
	}
	if m, err := s.Missing(ctx, id); err != nil || len(m) != 0 {
		t.Fatalf("list after the refill: %v %v", m, err)
	}
	if got, err := s.Txn(ctx, id, "a", 2); err != nil || string(got.Payload) != string(all[2].Payload) {
		t.Fatalf("the record back: %v %v", got, err)
	}
	if res, ps := check(t, s, false); res.Problems != 0 {
		t.Fatalf("after the refill: %v", ps)
	}
	if res, _ := check(t, s, true); !res.Healthy() {
		t.Fatalf("repair after the refill: %+v", res)
	}

	// Compacted: nothing under the snapshot is stored, nor to be had.
	id2 := mustCreate(t, s)
	mustAppend(t, s, id2, Immediate, all...)
	if n := compactTo(t, s, id2, all[:4]); n != 4 {
		t.Fatalf("compacted %d", n)
	}
	op, _ := fetchOp(id2, []Span{{Agent: "a", Seq: 1, Len: 4}})
	if err := s.submit(ctx, &group{ops: []kvOp{op}}, true); err != nil {
		t.Fatal(err)
	}
	if left, err := s.ResolveMissing(ctx, id2); err != nil || len(left) != 0 {
		t.Fatalf("compacted document's list: %v %v", left, err)
	}
}

func TestSubtractSpans(t *testing.T) {
	sp := Span{Agent: "a", Seq: 2, Len: 8} // 2..9
	have := []Span{{Agent: "a", Seq: 5, Len: 2}, {Agent: "a", Seq: 0, Len: 3}, {Agent: "a", Seq: 9, Len: 4}}
	got := subtractSpans(sp, have)
	want := []Span{{Agent: "a", Seq: 3, Len: 2}, {Agent: "a", Seq: 7, Len: 2}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := subtractSpans(sp, nil); len(got) != 1 || got[0] != sp {
		t.Fatalf("nothing stored: %v", got)
	}
	if got := subtractSpans(sp, []Span{{Agent: "a", Seq: 0, Len: 20}}); len(got) != 0 {
		t.Fatalf("all stored: %v", got)
	}
}

// RepairCovered, online: a damaged record under the snapshot of a document
// that keeps its records is quarantined, its log entry dropped and its
// span listed; Refill puts it back, listed once; Check passes throughout.
// Damage above the snapshot is left alone, and a compacted document has
// nothing under its snapshot to repair.
func TestRepairCovered(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	id := mustCreate(t, s)
	all := linear("a", 0, 6)
	mustAppend(t, s, id, Immediate, all...)
	snap, v := fakeSnapshot(t, all[:4])
	if err := s.PutSnapshot(ctx, id, snap, v); err != nil {
		t.Fatal(err)
	}
	if res, err := s.RepairCovered(ctx, id, fakeCodec{}, 0); err != nil || res.Checked != 4 || res.Quarantined != 0 || len(res.Fetch) != 0 {
		t.Fatalf("healthy: %+v %v", res, err)
	}
	corrupt(t, s, txnKey(id, "a", 1), []byte{0xff, 0x00})
	corrupt(t, s, txnKey(id, "a", 5), []byte{0xff, 0x00}) // above the snapshot
	res, err := s.RepairCovered(ctx, id, fakeCodec{}, 0)
	if err != nil || res.Quarantined != 1 || len(res.Fetch) != 1 || res.Fetch[0] != (Span{Agent: "a", Seq: 1, Len: 1}) {
		t.Fatalf("repair: %+v %v", res, err)
	}
	if m, _ := s.Missing(ctx, id); len(m) != 1 {
		t.Fatalf("list %v", m)
	}
	if _, err := get(ctx, s.kv.d, txnKey(id, "a", 5)); err != nil {
		t.Fatalf("the damage above the snapshot was touched: %v", err)
	}
	corrupt(t, s, txnKey(id, "a", 5), encodeTxnT(t, all[5])) // mend it: only the covered part is under test
	if res, ps := check(t, s, false); res.Problems != 0 {
		t.Fatalf("after the online repair: %v", ps)
	}
	if n, err := s.Refill(ctx, id, all[1]); err != nil || n != 1 {
		t.Fatalf("refill: %d %v", n, err)
	}
	if res, ps := check(t, s, false); res.Problems != 0 {
		t.Fatalf("after the refill: %v", ps)
	}
	if m, _ := s.Missing(ctx, id); len(m) != 0 {
		t.Fatalf("list after the refill %v", m)
	}

	id2 := mustCreate(t, s)
	mustAppend(t, s, id2, Immediate, all...)
	compactTo(t, s, id2, all[:4])
	if res, err := s.RepairCovered(ctx, id2, fakeCodec{}, 0); err != nil || res.Checked != 0 || res.Quarantined != 0 {
		t.Fatalf("compacted: %+v %v", res, err)
	}
}

func encodeTxnT(t *testing.T, r TxnRecord) []byte {
	t.Helper()
	b, err := encodeTxn(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
