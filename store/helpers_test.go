package store

import (
	"context"
	"errors"
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

// mustOpen opens the store in dir with testOpts; the caller closes it.
func mustOpen(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	return s
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
	if err := appendDurable(context.Background(), s, doc, p, txns...); err != nil {
		t.Fatal(err)
	}
}

// appendDurable appends txns and waits until they are durable (for
// goroutines, which must not call t.Fatal).
func appendDurable(ctx context.Context, s *Store, doc DocID, p Policy, txns ...TxnRecord) error {
	ack, err := s.Append(ctx, doc, p, txns...)
	if err == nil {
		err = ack.Wait(ctx)
	}
	return err
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

// fakeApply applies txns (in a causal order, whatever order they come in)
// to an empty fake document.
func fakeApply(t testing.TB, txns []TxnRecord) *fakeDoc {
	t.Helper()
	hdrs := make([]vocab.Header, len(txns))
	for i := range txns {
		hdrs[i] = txns[i].Header
	}
	order, stuck := causalOrder(hdrs, nil)
	if len(stuck) > 0 {
		t.Fatalf("transactions %v cannot be placed", stuck)
	}
	rb, _ := fakeCodec{}.Rebuild(nil)
	for _, i := range order {
		if err := rb.Apply(txns[i].Payload); err != nil {
			t.Fatal(err)
		}
	}
	return rb.(*fakeDoc)
}

// fakeSnapshot returns the snapshot and version of txns applied.
func fakeSnapshot(t testing.TB, txns []TxnRecord) ([]byte, Version) {
	t.Helper()
	d := fakeApply(t, txns)
	return d.Snapshot(), d.Version()
}

// compactTo compacts doc with the fake snapshot of txns, failing the test
// on an error, and returns how many transactions the compaction dropped.
func compactTo(t testing.TB, s *Store, doc DocID, txns []TxnRecord) int {
	t.Helper()
	snap, v := fakeSnapshot(t, txns)
	n, err := s.Compact(context.Background(), doc, snap, v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// loadDoc opens doc with the fake codec the way a replica opens a
// document: its latest snapshot (if any), then Stream of the transactions
// the snapshot does not cover.
func loadDoc(ctx context.Context, s *Store, doc DocID) (*fakeDoc, error) {
	var payload []byte
	var since Version
	snap, err := s.Snapshot(ctx, doc)
	switch {
	case err == nil:
		payload, since = snap.Payload, snap.Covers
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	rb, err := fakeCodec{}.Rebuild(payload)
	if err != nil {
		return nil, err
	}
	err = s.Stream(ctx, doc, since, func(chunk []TxnRecord) error {
		for _, tr := range chunk {
			if err := rb.Apply(tr.Payload); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rb.(*fakeDoc), nil
}

// loadText opens doc as loadDoc does and returns its text and version.
func loadText(ctx context.Context, s *Store, doc DocID) (string, Version, error) {
	d, err := loadDoc(ctx, s, doc)
	if err != nil {
		return "", nil, err
	}
	return d.Text(), d.Version(), nil
}
