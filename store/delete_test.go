package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	dsq "github.com/ipfs/go-datastore/query"
)

// allKeys lists every key in the datastore.
func allKeys(t *testing.T, s *Store) []string {
	t.Helper()
	var keys []string
	if err := each(context.Background(), s.kv.d, dsq.Query{KeysOnly: true}, func(e dsq.Entry) error {
		keys = append(keys, e.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// keysOf lists the keys that name doc anywhere.
func keysOf(t *testing.T, s *Store, doc DocID) []string {
	var out []string
	for _, k := range allKeys(t, s) {
		if strings.Contains(k, doc.String()) {
			out = append(out, k)
		}
	}
	return out
}

// fillEveryKind gives a document every kind of record: transactions (log,
// heads, log end), a snapshot, a membership record, a fetch list entry
// and a quarantined value.
func fillEveryKind(t *testing.T, s *Store, id DocID, n uint64) {
	t.Helper()
	ctx := context.Background()
	all := linear("a", 0, n)
	mustAppend(t, s, id, Immediate, all...)
	snap, v := fakeSnapshot(t, all[:n/2])
	if err := s.PutSnapshot(ctx, id, snap, v); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMembers(ctx, id, Members{Book: []byte("book"), Local: []byte("secret keys")}); err != nil {
		t.Fatal(err)
	}
	b, err := encodeRecord(recQuarantine, quarRec{Key: txnKey(id, "a", 1), Reason: "test", At: 1, Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	corrupt(t, s, quarantineKey(1, txnKey(id, "a", 1)), b)
}

// Deleting a document leaves no key that names it, and nothing of it
// readable through the store; the other document is untouched and Check
// passes.
func TestDeleteDoc(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		ctx := context.Background()
		o := testOpts()
		o.MaxBatchBytes = 4 << 10 // several chunks
		s := open(t, o)
		gone, kept := mustCreate(t, s), mustCreate(t, s)
		fillEveryKind(t, s, gone, 5000)
		mustAppend(t, s, kept, Immediate, linear("b", 0, 10)...)
		if len(keysOf(t, s, gone)) < 5000 {
			t.Fatalf("the document to delete has only %d keys", len(keysOf(t, s, gone)))
		}
		before := len(keysOf(t, s, kept))

		if err := s.DeleteDoc(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if left := keysOf(t, s, gone); len(left) != 0 {
			t.Fatalf("%d keys of the deleted document left, e.g. %s", len(left), left[0])
		}
		if _, err := s.Meta(ctx, gone); !errors.Is(err, ErrNotFound) {
			t.Errorf("Meta: %v", err)
		}
		if _, err := s.Snapshot(ctx, gone); !errors.Is(err, ErrNotFound) {
			t.Errorf("Snapshot: %v", err)
		}
		if _, err := s.GetMembers(ctx, gone); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetMembers: %v", err)
		}
		if _, err := s.Txn(ctx, gone, "a", 4999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Txn: %v", err)
		}
		if err := s.Stream(ctx, gone, nil, func([]TxnRecord) error { return nil }); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stream: %v", err)
		}
		if _, err := s.Append(ctx, gone, Immediate, txn("a", 5000, "x", ID{Agent: "a", Seq: 4999})); !errors.Is(err, ErrNotFound) {
			t.Errorf("Append after delete: %v", err)
		}
		if err := s.DeleteDoc(ctx, gone); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting it again: %v", err)
		}
		ids, err := s.Docs(ctx)
		if err != nil || len(ids) != 1 || ids[0] != kept {
			t.Fatalf("Docs after delete: %v %v", ids, err)
		}
		if n := len(keysOf(t, s, kept)); n != before {
			t.Fatalf("the other document has %d keys, had %d", n, before)
		}
		if text, _, err := loadText(ctx, s, kept); err != nil || len(text) != 10 {
			t.Fatalf("the other document: %q %v", text, err)
		}
		if res, ps := check(t, s, false); res.Problems != 0 {
			t.Fatalf("check after delete: %v", ps)
		}
	})
}

// A deletion cut short after its first write (a crash) is finished when
// the store is next opened.
func TestDeleteDocFinishesAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, dir)
	id := mustCreate(t, s)
	fillEveryKind(t, s, id, 100)
	mark, err := encodeRecord(recDeleting, deletingRec{})
	if err != nil {
		t.Fatal(err)
	}
	// What the first step writes, and no more.
	if err := s.submit(ctx, &group{ops: []kvOp{{key: deletingKey(id), val: mark}, {key: docIndexKey(id), del: true}, {key: metaKey(id), del: true}, {key: membersKey(id), del: true}, {key: snapshotKey(id), del: true}}}, true); err != nil {
		t.Fatal(err)
	}
	if len(keysOf(t, s, id)) < 100 {
		t.Fatal("the interrupted deletion removed more than its first step")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if left := keysOf(t, s, id); len(left) != 0 {
		t.Fatalf("%d keys left after reopening, e.g. %s", len(left), left[0])
	}
	if res, ps := check(t, s, false); res.Problems != 0 {
		t.Fatalf("check: %v", ps)
	}
}
