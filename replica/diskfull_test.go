package replica

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/store"
)

// fullStore is a real store whose disk can be declared full: Writable and
// Append then fail with store.ErrDiskFull, as *store.Store's free-space
// guard makes them.
type fullStore struct {
	*store.Store
	full    atomic.Bool
	appends atomic.Int64 // Append calls refused while full
}

func (f *fullStore) Writable() error {
	if f.full.Load() {
		return store.ErrDiskFull
	}
	return f.Store.Writable()
}

func (f *fullStore) Append(ctx context.Context, doc store.DocID, p store.Policy, txns ...store.TxnRecord) (*store.Ack, error) {
	if f.full.Load() {
		f.appends.Add(1)
		return nil, store.ErrDiskFull
	}
	return f.Store.Append(ctx, doc, p, txns...)
}

// A full disk refuses edits before they are applied: the document stays
// loaded and unchanged (it used to be applied, fail to persist, and be
// dropped and reloaded from disk for every message while the disk was
// full), and takes edits again once space returns.
func TestDiskFullRefusesBeforeApplying(t *testing.T) {
	ctx := context.Background()
	var fs *fullStore
	a := startTestNode(t, nil, "alice", dssync.MutexWrap(ds.NewMapDatastore()), func(o *Options) {
		fs = &fullStore{Store: o.Store.(*store.Store)}
		o.Store = fs
	})
	info, err := a.m.CreateDoc(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	edit(t, a, info.ID, api.Edit{Pos: 0, Ins: "kept"})
	d, err := a.m.lookup(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := a.m.DocStatus(ctx, info.ID)

	fs.full.Store(true)
	for i := 0; i < 5; i++ {
		_, err := a.m.Edit(ctx, info.ID, []api.Edit{{Pos: 0, Ins: "lost? "}})
		if !errors.Is(err, store.ErrDiskFull) {
			t.Fatalf("edit %d on a full disk: %v; want store.ErrDiskFull", i, err)
		}
		if !d.loaded.Load() {
			t.Fatalf("edit %d on a full disk dropped the document's state", i)
		}
	}
	if n := fs.appends.Load(); n != 0 {
		t.Fatalf("%d writes were tried on a full disk; want the edits refused before", n)
	}
	if got := text(t, a, info.ID); got != "kept" {
		t.Fatalf("text after refused edits %q; want %q", got, "kept")
	}
	if st, _ := a.m.DocStatus(ctx, info.ID); !maps.Equal(st.Version, before.Version) {
		t.Fatalf("version moved on a full disk: %v → %v", before.Version, st.Version)
	}

	fs.full.Store(false)
	edit(t, a, info.ID, api.Edit{Pos: 4, Ins: "!"})
	if got := text(t, a, info.ID); got != "kept!" {
		t.Fatalf("text once space returned %q; want %q", got, "kept!")
	}
}
