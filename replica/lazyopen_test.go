package replica

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/crdt"
	"weft/member"
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

// downgrade turns a format-3 snapshot into the format-2 one of the same
// document: the first five fields, version 2 (format 3 only adds the
// head).
func downgrade(t *testing.T, snap []byte) []byte {
	t.Helper()
	var f []cbor.RawMessage
	if err := cbor.Unmarshal(snap, &f); err != nil || len(f) != 7 {
		t.Fatalf("a format-3 snapshot of %d fields: %v", len(f), err)
	}
	two, err := cbor.Marshal(2)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cbor.Marshal(append([]cbor.RawMessage{two}, f[1:5]...))
	if err != nil {
		t.Fatal(err)
	}
	if crdt.SnapshotVersion(out) != 2 {
		t.Fatalf("the downgraded snapshot is format %d", crdt.SnapshotVersion(out))
	}
	return out
}

// TestOlderCheckpointIsRewritten: a members-only document whose stored
// checkpoint carries a crdt snapshot of the format before lazy opens
// loads from it whole, shows what it holds, and gets a new checkpoint of
// the current format when it unloads, so that its next open is lazy; the
// envelopes stay and the store stays consistent.
func TestOlderCheckpointIsRewritten(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, newHub(), "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id := mustID(t, info.ID)
	d, _ := a.m.doc(id)
	want := ""
	for i := 0; i < 12; i++ {
		edit(t, a, info.ID, api.Edit{Pos: len(want) / 2, Ins: "ab"})
		want = want[:len(want)/2] + "ab" + want[len(want)/2:]
	}
	// Store a checkpoint of the document as it is, its state in format 2,
	// and unload without writing another.
	err := d.do(ctx, func(dr *driver) error {
		doc, err := dr.history(ctx)
		if err != nil {
			return err
		}
		heads := make([]*member.Header, 0, len(dr.hl.last))
		for _, ag := range slices.Sorted(maps.Keys(dr.hl.last)) {
			heads = append(heads, dr.hl.last[ag])
		}
		ms := dr.d.mem
		ms.mu.Lock()
		b, err := member.NewCheckpoint(ms.keys, rand.Reader, id, heads, downgrade(t, doc.EncodeSnapshot()), ms.dev.Sign)
		ms.mu.Unlock()
		if err != nil {
			return err
		}
		if err := a.store.PutSnapshot(ctx, id, b, store.Version(dr.hl.version.Clone())); err != nil {
			return err
		}
		dr.sinceSnapshot, dr.rewrite = 0, false
		dr.unload(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rewrite := func() bool {
		var r bool
		if err := d.do(ctx, func(dr *driver) error { r = dr.rewrite; return dr.ensure(ctx) }); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := text(t, a, info.ID); got != want {
		t.Fatalf("opened from the older checkpoint: %q, want %q", got, want)
	}
	if !rewrite() {
		t.Fatal("a checkpoint of an older crdt format is not marked to be written again")
	}
	if err := d.do(ctx, func(dr *driver) error { dr.unload(ctx); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := text(t, a, info.ID); got != want {
		t.Fatalf("opened from the new checkpoint: %q, want %q", got, want)
	}
	if rewrite() {
		t.Fatal("after an unload the stored checkpoint is still of an older crdt format")
	}
	if _, err := a.m.History(ctx, info.ID, time.Time{}); err != nil {
		t.Fatalf("the history of the rewritten checkpoint: %v", err)
	}
	if res, err := a.store.Check(ctx, store.CheckOptions{Codec: StoreCodec{}}); err != nil || res.Problems != 0 {
		t.Fatalf("check: %+v, %v", res, err)
	}
}
