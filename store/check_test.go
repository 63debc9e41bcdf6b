package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"weft/vocab"
)

// corrupt overwrites key's value directly in the datastore.
func corrupt(t *testing.T, s *Store, key string, val []byte) {
	t.Helper()
	if err := s.kv.commit(context.Background(), [][]kvOp{{{key: key, val: val}}}, 1<<20); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.docs = map[DocID]*docState{}
	s.mu.Unlock()
}

func remove(t *testing.T, s *Store, key string) {
	t.Helper()
	if err := s.kv.commit(context.Background(), [][]kvOp{{{key: key, del: true}}}, 1<<20); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, s *Store, repair bool) (*CheckResult, []Problem) {
	t.Helper()
	var ps []Problem
	res, err := s.Check(context.Background(), CheckOptions{Codec: fakeCodec{}, Repair: repair, Report: func(p Problem) { ps = append(ps, p) }})
	if err != nil {
		t.Fatal(err)
	}
	return res, ps
}

func hasProblem(ps []Problem, key, what string) bool {
	for _, p := range ps {
		if p.Key == key && strings.Contains(p.What, what) {
			return true
		}
	}
	return false
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		setup := func(t *testing.T) (*Store, DocID, []TxnRecord) {
			s := open(t, testOpts())
			id := mustCreate(t, s)
			all := []TxnRecord{txn("a", 0, "ab"), txn("b", 0, "c", ID{Agent: "a", Seq: 1}), txn("a", 2, "d", ID{Agent: "b", Seq: 0}), txn("b", 1, "e", ID{Agent: "a", Seq: 2})}
			mustAppend(t, s, id, Immediate, all...)
			if res, ps := check(t, s, false); res.Problems != 0 || !res.Healthy() || res.Txns != 4 || res.Docs != 1 {
				t.Fatalf("healthy store: %+v %v", res, ps)
			}
			return s, id, all
		}
		t.Run("ChecksumMismatchQuarantinedAndFetched", func(t *testing.T) {
			s, id, _ := setup(t)
			key := txnKey(id, "a", 2)
			raw, _ := s.kv.d.Get(ctx, dkey(key))
			raw[len(raw)-6] ^= 0x40 // inside the payload: only the checksum notices
			corrupt(t, s, key, raw)
			if _, err := s.Txn(ctx, id, "a", 2); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), key) {
				t.Fatalf("read of damaged value: %v", err)
			}
			if err := s.Stream(ctx, id, nil, func([]TxnRecord) error { return nil }); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("stream over damaged value: %v", err)
			}
			res, ps := check(t, s, false)
			if res.Healthy() || !hasProblem(ps, key, "checksum mismatch") {
				t.Fatalf("not reported: %+v %v", res, ps)
			}
			res, ps = check(t, s, true)
			if res.Healthy() || !hasProblem(ps, key, "checksum") {
				t.Fatalf("repair: %+v %v", res, ps)
			}
			// a:2 is damaged; b:1 depends on it and is set aside too.
			want := []Span{{Agent: "a", Seq: 2, Len: 1}, {Agent: "b", Seq: 1, Len: 1}}
			got, _ := s.Missing(ctx, id)
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("fetch list %v, want %v", got, want)
			}
			if res.Quarantined != 2 {
				t.Fatalf("quarantined %d", res.Quarantined)
			}
			// Consistent again: the store is usable and the re-fetched
			// transactions go back in.
			if res, ps := check(t, s, false); res.Problems != 0 {
				t.Fatalf("after repair: %v", ps)
			}
			if v, _ := s.Version(ctx, id); v["a"] != 2 || v["b"] != 1 {
				t.Fatalf("version after repair %v", v)
			}
			mustAppend(t, s, id, Immediate, txn("a", 2, "d", ID{Agent: "b", Seq: 0}), txn("b", 1, "e", ID{Agent: "a", Seq: 2}))
			if left, err := s.ResolveMissing(ctx, id); err != nil || len(left) != 0 {
				t.Fatalf("resolve: %v %v", left, err)
			}
		})
		t.Run("GarbageValueAndBadKey", func(t *testing.T) {
			s, id, _ := setup(t)
			corrupt(t, s, metaKey(id), []byte{0xff, 0x00})
			corrupt(t, s, "/docs/"+id.String()+"/bogus", []byte("x"))
			corrupt(t, s, "/elsewhere", []byte("x"))
			res, ps := check(t, s, true)
			if !hasProblem(ps, metaKey(id), "does not decode") || !hasProblem(ps, "/docs/"+id.String()+"/bogus", "layout") || !hasProblem(ps, "/elsewhere", "outside") {
				t.Fatalf("problems %v", ps)
			}
			if !res.Healthy() {
				t.Fatalf("everything here is locally repairable: %+v %v", res, ps)
			}
			if _, err := s.Meta(ctx, id); err != nil {
				t.Fatalf("metadata not recreated: %v", err)
			}
		})
		t.Run("LogAndHeadsRebuilt", func(t *testing.T) {
			s, id, all := setup(t)
			remove(t, s, logKey(id, 0, 1))
			l3, _ := s.kv.d.Get(ctx, dkey(logKey(id, 0, 3)))
			corrupt(t, s, logKey(id, 0, 0), l3) // b:1 listed first: out of causal order and twice
			h, _ := encodeRecord(recHead, headRec{Next: 7})
			corrupt(t, s, headKey(id, "a"), h)
			le, _ := encodeRecord(recLogEnd, logEndRec{Next: 2})
			corrupt(t, s, logEndKey(id), le)
			res, ps := check(t, s, false)
			for _, w := range []string{"before", "second time", "missing from the log", "head says", "not past the last"} {
				found := false
				for _, p := range ps {
					found = found || strings.Contains(p.What, w)
				}
				if !found {
					t.Errorf("no problem mentions %q: %v", w, ps)
				}
			}
			if res.Healthy() {
				t.Fatal("damaged log called healthy")
			}
			if res, ps = check(t, s, true); !res.Healthy() {
				t.Fatalf("repair: %+v %v", res, ps)
			}
			if got := streamAll(t, s, id, nil); len(got) != len(all) {
				t.Fatalf("stream after rebuild: %s", spanList(got))
			}
			if res, ps := check(t, s, false); res.Problems != 0 {
				t.Fatalf("after repair: %v", ps)
			}
		})
		t.Run("DocumentIndex", func(t *testing.T) {
			s, id, _ := setup(t)
			other := mustCreate(t, s)
			ghost := NewDocID()
			ib, _ := encodeRecord(recDocIndex, docIndexRec{})
			remove(t, s, docIndexKey(id))                  // a document missing from the index
			corrupt(t, s, docIndexKey(ghost), ib)          // an entry with no document
			corrupt(t, s, docIndexKey(other), []byte{1})   // a damaged entry
			corrupt(t, s, docIndexPrefix+"/not-an-id", ib) // a key outside the layout
			if _, err := s.Docs(ctx); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not-an-id") {
				t.Fatalf("listing over a bad index key: %v", err)
			}
			res, ps := check(t, s, false)
			if res.Healthy() || !hasProblem(ps, docIndexKey(id), "missing from the document index") ||
				!hasProblem(ps, docIndexKey(ghost), "no data") || !hasProblem(ps, docIndexKey(other), "does not decode") ||
				!hasProblem(ps, docIndexPrefix+"/not-an-id", "document ID") {
				t.Fatalf("problems %+v %v", res, ps)
			}
			if res, ps = check(t, s, true); !res.Healthy() {
				t.Fatalf("repair: %+v %v", res, ps)
			}
			docs, err := s.Docs(ctx)
			want := []DocID{id, other}
			if id.String() > other.String() {
				want = []DocID{other, id}
			}
			if err != nil || len(docs) != 2 || docs[0] != want[0] || docs[1] != want[1] {
				t.Fatalf("documents after repair %v %v, want %v", docs, err, want)
			}
			if res, ps := check(t, s, false); res.Problems != 0 {
				t.Fatalf("after repair: %v", ps)
			}
		})
		t.Run("InterruptedCompactionLeftovers", func(t *testing.T) {
			s, id, all := setup(t)
			compactTo(t, s, id, all[:2])
			// As if the compaction had died while deleting epoch 0: a
			// covered transaction and its old entry are still there, and a
			// surviving one's old entry; and as if a later one had died
			// before switching: a copy in epoch 2.
			b, _ := encodeTxn(&all[0])
			corrupt(t, s, txnKey(id, "a", 0), b)
			lb, _ := encodeRecord(recLog, spanRec{Agent: "a", Seq: 0, Len: 2})
			corrupt(t, s, logKey(id, 0, 0), lb)
			lb, _ = encodeRecord(recLog, spanRec{Agent: "a", Seq: 2, Len: 1})
			corrupt(t, s, logKey(id, 0, 2), lb)
			corrupt(t, s, logKey(id, 2, 2), lb)
			le, _ := encodeRecord(recLogEnd, logEndRec{Epoch: 1, Next: 4, Dirty: true})
			corrupt(t, s, logEndKey(id), le)
			if got := streamAll(t, s, id, nil); spanList(got) != spanList(all[2:]) {
				t.Fatalf("stream reads leftovers: %s", spanList(got))
			}
			res, ps := check(t, s, false)
			if res.Problems != 0 || res.Leftovers != 3 || !res.Healthy() {
				t.Fatalf("leftovers are not problems: %+v %v", res, ps)
			}
			if res, ps = check(t, s, true); res.Problems != 0 || res.Leftovers != 3 {
				t.Fatalf("repair: %+v %v", res, ps)
			}
			checkLayout(t, s)
			if _, err := s.Txn(ctx, id, "a", 0); !errors.Is(err, ErrNotFound) {
				t.Fatalf("covered transaction of the interrupted compaction not dropped: %v", err)
			}
			if _, err := s.Txn(ctx, id, "a", 2); err != nil {
				t.Fatalf("surviving transaction dropped: %v", err)
			}
			if res, ps := check(t, s, false); res.Problems != 0 || res.Leftovers != 0 {
				t.Fatalf("after repair: %+v %v", res, ps)
			}
		})
		t.Run("PayloadDisagreesWithHeader", func(t *testing.T) {
			s, id, _ := setup(t)
			bad := txn("b", 1, "e", ID{Agent: "a", Seq: 2})
			bad.Payload = fakePayload(vocab.Header{Agent: "b", Seq: 1, Parents: []ID{{Agent: "a", Seq: 1}}}, "e")
			b, _ := encodeTxn(&bad)
			corrupt(t, s, txnKey(id, "b", 1), b)
			res, ps := check(t, s, true)
			if !hasProblem(ps, txnKey(id, "b", 1), "payload disagrees") || res.Fetch[id] == nil {
				t.Fatalf("%+v %v", res, ps)
			}
		})
		t.Run("SnapshotDisagreesWithLog", func(t *testing.T) {
			s, id, all := setup(t)
			fd := fakeApply(t, all[:2])
			fd.items[ID{Agent: "a", Seq: 0}] = 'Z' // wrong text, right version
			b, _ := encodeRecord(recSnapshot, snapRec{Covers: encodeVersion(fd.v), Payload: fd.Snapshot()})
			corrupt(t, s, snapshotKey(id), b)
			res, ps := check(t, s, true)
			if !hasProblem(ps, snapshotKey(id), "differs") || !res.Healthy() {
				t.Fatalf("%+v %v", res, ps)
			}
			if _, err := s.Snapshot(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("bad snapshot still in place: %v", err)
			}
		})
		t.Run("LostSnapshotAfterCompaction", func(t *testing.T) {
			s, id, all := setup(t)
			compactTo(t, s, id, all[:2])
			corrupt(t, s, snapshotKey(id), []byte("garbage"))
			res, ps := check(t, s, true)
			if res.Healthy() || len(res.Fetch[id]) == 0 {
				t.Fatalf("%+v %v", res, ps)
			}
			got := res.Fetch[id]
			if got[0] != (Span{Agent: "a", Seq: 0, Len: 3}) || got[1] != (Span{Agent: "b", Seq: 0, Len: 2}) {
				t.Fatalf("fetch %v", got)
			}
		})
	})
}

func TestCausalOrder(t *testing.T) {
	h := func(a string, seq, n uint64, ps ...ID) vocab.Header {
		return vocab.Header{Agent: a, Seq: seq, Len: n, Parents: ps}
	}
	hdrs := []vocab.Header{
		h("b", 1, 1, ID{Agent: "a", Seq: 2}),
		h("a", 2, 1, ID{Agent: "b", Seq: 0}),
		h("a", 0, 2),
		h("b", 0, 1, ID{Agent: "a", Seq: 1}),
		h("c", 5, 1),                         // gap
		h("d", 0, 1, ID{Agent: "c", Seq: 5}), // depends on the gap
		h("e", 0, 1, ID{Agent: "x", Seq: 0}), // missing parent
	}
	order, stuck := causalOrder(hdrs, nil)
	if len(order) != 4 || len(stuck) != 3 {
		t.Fatalf("order %v stuck %v", order, stuck)
	}
	have := Version{}
	for _, i := range order {
		x := hdrs[i]
		if x.Seq != have[x.Agent] {
			t.Fatalf("order %v breaks agent sequence at %d", order, i)
		}
		for _, p := range x.Parents {
			if p.Seq >= have[p.Agent] {
				t.Fatalf("order %v places %d before parent", order, i)
			}
		}
		have[x.Agent] = x.Seq + x.Len
	}
	// With a snapshot covering c up to 5, the gap closes.
	order, stuck = causalOrder(hdrs, Version{"c": 5})
	if len(order) != 6 || len(stuck) != 1 {
		t.Fatalf("with base: order %v stuck %v", order, stuck)
	}
}
