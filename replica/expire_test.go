package replica

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Orphans a peer left in the waiting room expire on the anti-entropy tick
// when nothing more arrives from peers (before, only an arrival expired
// them: the hostile suite's flood left 1,024 held for good).
func TestWaitingExpiresWithoutArrivals(t *testing.T) {
	ctx := context.Background()
	start := time.Unix(1e9, 0)
	var clock atomic.Int64
	clock.Store(start.UnixNano())
	a := newTestNode(t, newHub(), "a", func(o *Options) {
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		o.SyncInterval = 20 * time.Millisecond
	})
	info, err := a.m.CreateDoc(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := a.m.doc(mustID(t, info.ID))
	const n = 50
	err = d.do(ctx, func(dr *driver) error {
		_, err := dr.apply(ctx, input{src: fromGossip, peer: "X", envs: func() []received {
			var out []received
			for _, e := range orphans("x", n, 10) {
				out = append(out, received{sig: e})
			}
			return out
		}()}, nil, start)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waiting := func() (k int) {
		_ = d.do(ctx, func(dr *driver) error {
			k = len(dr.hl.waiting)
			return nil
		})
		return k
	}
	if k := waiting(); k != n {
		t.Fatalf("%d waiting, want %d", k, n)
	}
	// Ticks before maxWaitAge keep them.
	time.Sleep(100 * time.Millisecond) // several ticks pass: what must not happen, not a convergence wait
	if k := waiting(); k != n {
		t.Fatalf("%d waiting before maxWaitAge, want %d", k, n)
	}
	clock.Store(start.Add(maxWaitAge).UnixNano())
	deadline := time.Now().Add(10 * time.Second)
	for waiting() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d still waiting 10 s after maxWaitAge passed; none arrived meanwhile", waiting())
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if got := a.m.stats.waitExpired.Load(); got != n {
		t.Fatalf("counted %d expired, want %d", got, n)
	}
}
