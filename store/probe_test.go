package store

import (
	"context"
	"errors"
	"syscall"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

func TestProbe(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		s := open(t, testOpts())
		id := mustCreate(t, s)
		mustAppend(t, s, id, Immediate, txn("a", 0, "ab"))
		if err := s.Probe(ctx); err != nil {
			t.Fatalf("probe of a healthy store: %v", err)
		}
		// The probe leaves no key behind: the layout is unchanged.
		if err := each(ctx, s.kv.d, dsq.Query{KeysOnly: true}, func(e dsq.Entry) error {
			if e.Key == probeKey {
				t.Errorf("probe left %s behind", probeKey)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}})
		if err != nil || res.Problems != 0 || res.Docs != 1 {
			t.Fatalf("check after probes: %+v %v", res, err)
		}
	})
}

func TestProbeFailingDisk(t *testing.T) {
	ctx := context.Background()
	for _, op := range []string{"sync", "batch-commit", "batch-delete"} {
		t.Run(op, func(t *testing.T) {
			s, f := faultyStore(t, dssync.MutexWrap(ds.NewMapDatastore()))
			if err := s.Probe(ctx); err != nil {
				t.Fatalf("probe before the fault: %v", err)
			}
			f.set(op, syscall.EIO)
			if err := s.Probe(ctx); !errors.Is(err, syscall.EIO) {
				t.Fatalf("probe with %s failing: %v, want EIO", op, err)
			}
			f.set(op, nil)
			if err := s.Probe(ctx); err != nil {
				t.Fatalf("probe after the fault went away: %v", err)
			}
		})
	}
}

func TestProbeAfterWriteFailure(t *testing.T) {
	ctx := context.Background()
	s, f := faultyStore(t, dssync.MutexWrap(ds.NewMapDatastore()))
	id := mustCreate(t, s)
	f.set("sync", syscall.ENOSPC)
	if _, err := s.Append(ctx, id, Immediate, txn("a", 0, "x")); !errors.Is(err, ErrFailed) {
		t.Fatalf("append on a failing disk: %v", err)
	}
	f.set("sync", nil)
	// The disk works again, but the store refuses writes until reopened,
	// and the probe says so.
	if err := s.Probe(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("probe after a failed write: %v, want ErrFailed", err)
	}
}

func TestProbeClosed(t *testing.T) {
	s, err := OpenDatastore(dssync.MutexWrap(ds.NewMapDatastore()), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("probe after Close: %v, want ErrClosed", err)
	}
}
