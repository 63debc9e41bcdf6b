package store

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/failstore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// faulty wraps a datastore and fails chosen operations on demand, like a
// disk that fills up or returns I/O errors.
type faulty struct {
	fail atomic.Value // map[string]error
}

func (f *faulty) set(op string, err error) {
	m := map[string]error{}
	if old, ok := f.fail.Load().(map[string]error); ok {
		for k, v := range old {
			m[k] = v
		}
	}
	if err == nil {
		delete(m, op)
	} else {
		m[op] = err
	}
	f.fail.Store(m)
}

func (f *faulty) errfunc(op string) error {
	if m, ok := f.fail.Load().(map[string]error); ok {
		return m[op]
	}
	return nil
}

func faultyStore(t *testing.T, inner ds.Batching) (*Store, *faulty) {
	f := &faulty{}
	s, err := OpenDatastore(failstore.NewFailstore(inner, f.errfunc), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f
}

func TestFailingDisk(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"sync", "batch-commit", "batch-put"} {
		for _, errno := range []error{syscall.ENOSPC, syscall.EIO} {
			t.Run(op+"/"+errno.Error(), func(t *testing.T) {
				inner := dssync.MutexWrap(ds.NewMapDatastore())
				s, f := faultyStore(t, inner)
				id := mustCreate(t, s)
				mustAppend(t, s, id, Immediate, txn("a", 0, "ok"))
				f.set(op, errno)
				// Immediate: the error surfaces from Append itself.
				_, err := s.Append(ctx, id, Immediate, txn("a", 2, "x", ID{Agent: "a", Seq: 1}))
				if !errors.Is(err, ErrFailed) || !errors.Is(err, errno) {
					t.Fatalf("immediate append on failing disk: %v", err)
				}
				// Afterwards every write is refused; nothing is acknowledged.
				if err := appendDurable(ctx, s, id, Batched, txn("b", 0, "y")); !errors.Is(err, ErrFailed) {
					t.Fatalf("batched append after failure: %v", err)
				}
				if err := s.Flush(ctx); !errors.Is(err, ErrFailed) {
					t.Fatalf("flush after failure: %v", err)
				}
				// Reads still work, and what was durable is intact. (After a
				// failed sync the commit itself may be visible, but it was
				// never acknowledged.)
				f.set(op, nil)
				if got := streamAll(t, s, id, nil); len(got) != 1 && !(op == "sync" && len(got) == 2) {
					t.Fatalf("stream after failure: %s", spanList(got))
				}
				// Reopening recovers.
				s2, err := OpenDatastore(inner, testOpts())
				if err != nil {
					t.Fatal(err)
				}
				defer s2.Close()
				mustAppend(t, s2, id, Immediate, txn("a", 2, "x", ID{Agent: "a", Seq: 1}))
				if res, err := s2.Check(ctx, CheckOptions{Codec: fakeCodec{}}); err != nil || res.Problems != 0 {
					t.Fatalf("check after recovery: %+v %v", res, err)
				}
			})
		}
	}
}

func TestFailingDiskBatched(t *testing.T) {
	ctx := context.Background()
	s, f := faultyStore(t, dssync.MutexWrap(ds.NewMapDatastore()))
	id := mustCreate(t, s)
	f.set("sync", syscall.EIO)
	var acks []*Ack
	for _, tr := range linear("a", 0, 20) {
		ack, err := s.Append(ctx, id, Batched, tr)
		if err != nil {
			if !errors.Is(err, ErrFailed) {
				t.Fatal(err)
			}
			break
		}
		acks = append(acks, ack)
	}
	if len(acks) == 0 {
		t.Fatal("no write was queued")
	}
	for i, a := range acks {
		if err := a.Wait(ctx); !errors.Is(err, ErrFailed) {
			t.Fatalf("ack %d of a batch whose sync failed: %v", i, err)
		}
	}
	if err := s.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close should report the write failure: %v", err)
	}
}
