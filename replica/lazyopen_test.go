package replica

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/crdt"
	"weft/store"
	"weft/wire"
)

// mixedSnapshot is body's snapshot with head's head (text, version, title):
// both documents have one agent and the same version, so the
// result is well formed and says a text its history does not give.
func mixedSnapshot(t *testing.T, body, head *crdt.Doc) []byte {
	t.Helper()
	var b, h []cbor.RawMessage
	if err := cbor.Unmarshal(body.EncodeSnapshot(), &b); err != nil {
		t.Fatal(err)
	}
	if err := cbor.Unmarshal(head.EncodeSnapshot(), &h); err != nil {
		t.Fatal(err)
	}
	if len(b) != 7 || len(h) != 7 {
		t.Fatalf("snapshots of %d and %d fields, want format 3's 7", len(b), len(h))
	}
	b[5], b[6] = h[5], h[6]
	out, err := cbor.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storedDoc stores a legacy document made of txns with snapshot covering
// all of them, in a fresh in-memory datastore that a node can start on.
func storedDoc(t *testing.T, txns []*crdt.Txn, snapshot []byte, covers store.Version) (ds.Batching, store.DocID) {
	t.Helper()
	ctx := context.Background()
	mem := dssync.MutexWrap(ds.NewMapDatastore())
	st, err := store.OpenDatastore(mem, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	id := store.NewDocID()
	if err := st.CreateDoc(ctx, id, "t"); err != nil {
		t.Fatal(err)
	}
	for _, tx := range txns {
		env, _, err := wire.Seal(id, tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, id, store.Immediate, record(&env)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Compact(ctx, id, snapshot, covers); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return mem, id
}

// TestCorruptSnapshotHeadIsALoadFailure: a stored snapshot whose head
// (what a replica opens without reading the history) says another text
// than its history opens showing the head, and the first thing that needs
// the history fails as a load does, naming the snapshot: nothing is
// applied, nothing stored is changed, and the store's check finds it.
func TestCorruptSnapshotHeadIsALoadFailure(t *testing.T) {
	ctx := context.Background()
	real, _ := crdt.New("writer")
	claimed, _ := crdt.New("writer")
	tx, err := real.Insert(0, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := claimed.Insert(0, "jello"); err != nil {
		t.Fatal(err)
	}
	snap := mixedSnapshot(t, real, claimed)
	mem, id := storedDoc(t, []*crdt.Txn{tx}, snap, store.Version{"writer": 5})
	st, err := store.OpenDatastore(mem, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Check(ctx, store.CheckOptions{Codec: StoreCodec{}})
	if err != nil || res.Problems == 0 {
		t.Fatalf("the store's check passed a snapshot whose head is not its history: %+v %v", res, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	n := startTestNode(t, nil, "a", mem, nil)
	if got := text(t, n, id.String()); got != "jello" {
		t.Fatalf("opened text %q, want the head's", got)
	}
	_, err = n.m.Edit(ctx, id.String(), []api.Edit{{Pos: 0, Ins: "x"}})
	if err == nil || !strings.Contains(err.Error(), "reading its snapshot's history") || !errors.Is(err, crdt.ErrFormat) {
		t.Fatalf("an edit on a document whose history does not read: %v", err)
	}
	if _, err := n.m.History(ctx, id.String(), time.Time{}); err == nil {
		t.Fatal("history of a document whose history does not read")
	}
	got, err := n.store.Snapshot(ctx, id)
	if err != nil || string(got.Payload) != string(snap) {
		t.Fatalf("the stored snapshot changed: %v", err)
	}
}

// TestOlderSnapshotIsRewritten: a document stored with a snapshot of the
// format before lazy opens (crdt's format-2 fixture: two authors, renames,
// times) opens whole, shows what it holds, and is written again in the
// current format when it unloads, so that its next open is lazy.
func TestOlderSnapshotIsRewritten(t *testing.T) {
	ctx := context.Background()
	v2, err := os.ReadFile("../crdt/testdata/format2/snapshot-v2.bin")
	if err != nil {
		t.Fatal(err)
	}
	if crdt.SnapshotVersion(v2) != 2 {
		t.Fatalf("the fixture is format %d", crdt.SnapshotVersion(v2))
	}
	src, err := crdt.LoadSnapshot("reader", v2)
	if err != nil {
		t.Fatal(err)
	}
	mem, id := storedDoc(t, src.Missing(crdt.Version{}), v2, store.Version(src.Version()))

	n := startTestNode(t, nil, "a", mem, nil)
	if got := text(t, n, id.String()); got != src.Text() {
		t.Fatalf("opened text %q, want %q", got, src.Text())
	}
	n.stop(t) // unloads every document
	st, err := store.OpenDatastore(mem, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v := crdt.SnapshotVersion(snap.Payload); v != crdt.SnapshotFormat {
		t.Fatalf("after an unload the stored snapshot is still format %d", v)
	}
	d, err := crdt.OpenSnapshot("x", snap.Payload)
	if err != nil || d.Text() != src.Text() || d.Title() != src.Title() {
		t.Fatalf("the rewritten snapshot: %v", err)
	}
	if err := d.Materialize(); err != nil || len(d.Sessions(0)) != len(src.Sessions(0)) {
		t.Fatalf("the rewritten snapshot's history: %v", err)
	}
}
