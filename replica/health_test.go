package replica

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"weft/api"
)

// fakeReplication is a ReplicationSource whose state a test sets.
type fakeReplication struct {
	mu       sync.Mutex
	peers    []string
	docs     []api.DocInfo
	status   map[string]api.DocStatus
	statusOf []string // documents DocStatus was asked for
}

func (f *fakeReplication) set(fn func(f *fakeReplication)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeReplication) ListDocs(context.Context) ([]api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.DocInfo(nil), f.docs...), nil
}

func (f *fakeReplication) DocStatus(_ context.Context, id string) (api.DocStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusOf = append(f.statusOf, id)
	st, ok := f.status[id]
	if !ok {
		return st, api.ErrUnknownDoc
	}
	return st, nil
}

func (f *fakeReplication) Peers(context.Context) ([]api.PeerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.PeerInfo
	for _, p := range f.peers {
		out = append(out, api.PeerInfo{ID: p})
	}
	return out, nil
}

func TestReplicationCheckWithoutRelay(t *testing.T) {
	f := &fakeReplication{peers: []string{"p1", "p2"}}
	det, err := NewReplicationCheck(f, nil, time.Minute, time.Now).Run(context.Background())
	d := det.(ReplicationReport)
	if err != nil || d.Peers != 2 || d.Note != "no relay configured" {
		t.Fatalf("no relay: %+v %v", d, err)
	}
	f.set(func(f *fakeReplication) { f.peers = nil })
	if _, err := NewReplicationCheck(f, nil, time.Minute, time.Now).Run(context.Background()); err != nil {
		t.Fatalf("offline without a relay is healthy: %v", err)
	}
}

func TestReplicationCheckRelayLag(t *testing.T) {
	const docA, docB = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := &fakeReplication{
		peers: []string{"relay1"},
		docs:  []api.DocInfo{{ID: docA, Chars: 3}, {ID: docB, Chars: -1}},
		status: map[string]api.DocStatus{
			docA: {ID: docA, Version: map[string]uint64{"me": 5}, RelayAcked: map[string]uint64{"me": 5}},
			docB: {ID: docB, Version: map[string]uint64{"me": 9}},
		},
	}
	c := NewReplicationCheck(f, []string{"relay1"}, 2*time.Minute, func() time.Time { return now })
	run := func(step time.Duration) (ReplicationReport, error) {
		t.Helper()
		now = now.Add(step)
		det, err := c.Run(context.Background())
		return det.(ReplicationReport), err
	}
	if d, err := run(0); err != nil || d.Docs != 1 || len(d.Behind) != 0 || !d.Relays[0].Connected {
		t.Fatalf("acknowledged: %+v %v", d, err)
	}
	// A document that is not loaded is not looked at.
	for _, id := range f.statusOf {
		if id == docB {
			t.Fatal("DocStatus was asked for an unloaded document")
		}
	}
	// Local edits the relay has not acknowledged yet: fine for a while.
	f.set(func(f *fakeReplication) {
		f.status[docA] = api.DocStatus{Version: map[string]uint64{"me": 7, "tab": 2}, RelayAcked: map[string]uint64{"me": 5}}
	})
	if d, err := run(time.Second); err != nil || len(d.Behind) != 1 || d.Behind[0].ForS != 0 {
		t.Fatalf("just behind: %+v %v", d, err)
	}
	if d, err := run(2 * time.Minute); err != nil || d.Behind[0].ForS != 120 {
		t.Fatalf("behind for exactly the limit: %+v %v", d, err)
	}
	_, err := run(time.Second)
	if err == nil || !strings.Contains(err.Error(), "document "+docA+": no relay acknowledged its version of 2m1s ago") {
		t.Fatalf("behind past the limit: %v", err)
	}
	// The relay acknowledges that version while newer edits arrive: the
	// wait restarts from the newer version.
	f.set(func(f *fakeReplication) {
		f.status[docA] = api.DocStatus{Version: map[string]uint64{"me": 8, "tab": 2}, RelayAcked: map[string]uint64{"me": 7, "tab": 2}}
	})
	if d, err := run(time.Second); err != nil || d.Behind[0].ForS != 0 {
		t.Fatalf("acknowledged the old version: %+v %v", d, err)
	}
	f.set(func(f *fakeReplication) {
		f.status[docA] = api.DocStatus{Version: map[string]uint64{"me": 8, "tab": 2}, RelayAcked: map[string]uint64{"me": 8, "tab": 2}}
	})
	if d, err := run(time.Hour); err != nil || len(d.Behind) != 0 {
		t.Fatalf("caught up: %+v %v", d, err)
	}
	// The relay goes away: unhealthy once it stayed away past the limit.
	f.set(func(f *fakeReplication) { f.peers = []string{"someone"} })
	if d, err := run(time.Second); err != nil || d.Relays[0].Connected || d.Peers != 1 {
		t.Fatalf("relay just gone: %+v %v", d, err)
	}
	_, err = run(2*time.Minute + time.Second)
	if err == nil || !strings.Contains(err.Error(), "relay relay1 unreachable for 2m1s") {
		t.Fatalf("relay gone past the limit: %v", err)
	}
	f.set(func(f *fakeReplication) { f.peers = []string{"relay1"} })
	if _, err := run(time.Second); err != nil {
		t.Fatalf("relay back: %v", err)
	}
}

func TestVersionCovers(t *testing.T) {
	for _, c := range []struct {
		acked, v map[string]uint64
		want     bool
	}{
		{nil, nil, true},
		{nil, map[string]uint64{}, true},
		{nil, map[string]uint64{"a": 1}, false},
		{map[string]uint64{"a": 1}, map[string]uint64{"a": 1}, true},
		{map[string]uint64{"a": 2, "b": 1}, map[string]uint64{"a": 1}, true},
		{map[string]uint64{"a": 2}, map[string]uint64{"a": 1, "b": 1}, false},
	} {
		if got := versionCovers(c.acked, c.v); got != c.want {
			t.Errorf("versionCovers(%v, %v) = %v", c.acked, c.v, got)
		}
	}
}
