package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/vocab"
)

// backend opens a store for the behavioural suite.
type backend struct {
	name string
	open func(t testing.TB, opts Options) *Store
}

func backends() []backend {
	return []backend{
		{"memory", func(t testing.TB, opts Options) *Store {
			s, err := OpenDatastore(dssync.MutexWrap(ds.NewMapDatastore()), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
		{"badger", func(t testing.TB, opts Options) *Store {
			s, err := Open(t.TempDir(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
}

// forEachBackend runs fn as a subtest against every backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(testing.TB, Options) *Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

func testOpts() Options {
	o := DefaultOptions()
	o.MaxDelay = 2 * time.Millisecond
	o.BlockCacheBytes = 8 << 20
	return o
}

// txn makes a transaction record whose payload the fake codec understands:
// it inserts text (one seq per byte).
func txn(agent string, seq uint64, text string, parents ...ID) TxnRecord {
	h := vocab.Header{Agent: agent, Seq: seq, Len: uint64(len(text)), Parents: parents}
	return TxnRecord{Header: h, Payload: fakePayload(h, text)}
}

func mustCreate(t testing.TB, s *Store) DocID {
	t.Helper()
	id := NewDocID()
	if err := s.CreateDoc(context.Background(), id, "test"); err != nil {
		t.Fatal(err)
	}
	return id
}

func mustAppend(t testing.TB, s *Store, doc DocID, p Policy, txns ...TxnRecord) {
	t.Helper()
	ack, err := s.Append(context.Background(), doc, p, txns...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ack.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// linear appends n single-seq transactions of agent, each on the previous.
func linear(agent string, from, n uint64) []TxnRecord {
	out := make([]TxnRecord, 0, n)
	for i := from; i < from+n; i++ {
		var ps []ID
		if i > 0 {
			ps = []ID{{Agent: agent, Seq: i - 1}}
		}
		out = append(out, txn(agent, i, string(rune('a'+i%26)), ps...))
	}
	return out
}

func streamAll(t testing.TB, s *Store, doc DocID, since Version) []TxnRecord {
	t.Helper()
	var out []TxnRecord
	if err := s.Stream(context.Background(), doc, since, func(c []TxnRecord) error {
		out = append(out, c...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func spanList(ts []TxnRecord) string {
	s := ""
	for _, t := range ts {
		s += fmt.Sprintf("%s:%d+%d ", t.Agent, t.Seq, t.Len)
	}
	return s
}
