package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"weft/api"
	"weft/crdt"
	"weft/store"
)

func openTestStore(t *testing.T) *store.Store {
	t.Helper()
	o := store.DefaultOptions()
	o.BlockCacheBytes = 8 << 20
	st, err := store.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writeDoc stores a document typed by two agents; with compact, a
// snapshot covers the first half and the rest stays in the log.
func writeDoc(t *testing.T, st *store.Store, compact bool) store.DocID {
	t.Helper()
	ctx := context.Background()
	id := store.NewDocID()
	if err := st.CreateDoc(ctx, id, "t"); err != nil {
		t.Fatal(err)
	}
	a, _ := crdt.New("alice")
	b, _ := crdt.New("bob")
	var txns []*crdt.Txn
	edit := func(d, other *crdt.Doc, pos int, s string) {
		tx, err := d.Insert(pos, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Apply(tx); err != nil {
			t.Fatal(err)
		}
		txns = append(txns, tx)
	}
	edit(a, b, 0, "hello")
	edit(b, a, 5, " world")
	edit(a, b, 0, "> ")
	half := len(txns)
	edit(b, a, 0, "¡")
	edit(a, b, 3, "é")
	for i, tx := range txns {
		rec, err := txnRecord(tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, id, store.Immediate, rec); err != nil {
			t.Fatal(err)
		}
		if compact && i == half-1 {
			snap, _ := crdt.New("snap")
			for _, tx := range txns[:half] {
				if _, err := snap.Apply(tx); err != nil {
					t.Fatal(err)
				}
			}
			covers := store.Version{}
			for agent, n := range snap.Version() {
				covers[agent] = n
			}
			if _, err := st.Compact(ctx, id, snap.EncodeSnapshot(), covers); err != nil {
				t.Fatal(err)
			}
		}
	}
	return id
}

func TestSpotCheckPasses(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	c := newSpotCheck(st, crdtCodec{}, 1)
	det, err := c.run(ctx)
	if err != nil || det.(spotDetails).Docs != 0 {
		t.Fatalf("empty store: %+v %v", det, err)
	}
	plain, compacted := writeDoc(t, st, false), writeDoc(t, st, true)
	seen := map[string]spotDetails{}
	for range 40 {
		det, err := c.run(ctx)
		if err != nil {
			t.Fatalf("consistent store: %v", err)
		}
		d := det.(spotDetails)
		seen[d.Doc] = d
	}
	if d, ok := seen[plain.String()]; !ok || d.Snapshot || d.Txns != 5 || d.Docs != 2 || d.Partial {
		t.Errorf("plain document: %+v (seen %v)", d, ok)
	}
	if d, ok := seen[compacted.String()]; !ok || !d.Snapshot || d.Txns != 2 {
		t.Errorf("compacted document: %+v (seen %v)", d, ok)
	}
	// A bound shorter than the tail checks a prefix and says so.
	c.maxTxns = 3
	for range 40 {
		det, err := c.run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := det.(spotDetails); d.Doc == plain.String() {
			if !d.Partial || d.Txns != 3 {
				t.Fatalf("bounded check: %+v", d)
			}
			return
		}
	}
	t.Fatal("the plain document was never picked")
}

// A transaction whose payload is not what its header says is found (the
// store keeps payloads opaque, so it accepted it).
func TestSpotCheckFindsMismatch(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	id := store.NewDocID()
	if err := st.CreateDoc(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	a, _ := crdt.New("alice")
	t0, _ := a.Insert(0, "ab")
	t1, _ := a.Insert(2, "c")
	r0, _ := txnRecord(t0)
	r1, _ := txnRecord(t1)
	bad := r0
	bad.Payload = r1.Payload // header: alice 0+2; payload: alice 2+1
	if _, err := st.Append(ctx, id, store.Immediate, bad); err != nil {
		t.Fatal(err)
	}
	_, err := newSpotCheck(st, crdtCodec{}, 1).run(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not match its header") || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("mismatched payload: %v", err)
	}
}

func TestStorageCheck(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	fault := filepath.Join(t.TempDir(), "fail")
	check := storageCheck(st, fault)
	if _, err := check(ctx); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	if err := os.WriteFile(fault, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := check(ctx); err == nil || !strings.Contains(err.Error(), failStorageEnv) {
		t.Fatalf("with the fault file: %v", err)
	}
	os.Remove(fault)
	if _, err := check(ctx); err != nil {
		t.Fatalf("fault removed: %v", err)
	}
	st.Close()
	if _, err := check(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed store: %v", err)
	}
}

// fakeReplication is a replicationSource whose state a test sets.
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
	det, err := newReplicationCheck(f, nil, time.Minute, time.Now).run(context.Background())
	d := det.(replicationDetails)
	if err != nil || d.Peers != 2 || d.Note != "no relay configured" {
		t.Fatalf("no relay: %+v %v", d, err)
	}
	f.set(func(f *fakeReplication) { f.peers = nil })
	if _, err := newReplicationCheck(f, nil, time.Minute, time.Now).run(context.Background()); err != nil {
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
	c := newReplicationCheck(f, []string{"relay1"}, 2*time.Minute, func() time.Time { return now })
	run := func(step time.Duration) (replicationDetails, error) {
		t.Helper()
		now = now.Add(step)
		det, err := c.run(context.Background())
		return det.(replicationDetails), err
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

func TestCovers(t *testing.T) {
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
		if got := covers(c.acked, c.v); got != c.want {
			t.Errorf("covers(%v, %v) = %v", c.acked, c.v, got)
		}
	}
}
