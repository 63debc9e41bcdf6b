package replica

import (
	"context"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/crdt"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// storeTxns stores a document typed by two agents; with compact, a
// snapshot covers the first three transactions and two stay in the log.
func storeTxns(t *testing.T, st *store.Store, compact bool) store.DocID {
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
	const half = 3
	edit(b, a, 0, "¡")
	edit(a, b, 3, "é")
	for i, tx := range txns {
		env, _, err := wire.Seal(id, tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Append(ctx, id, store.Immediate, record(&env)); err != nil {
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

func openMemStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.OpenDatastore(dssync.MutexWrap(ds.NewMapDatastore()), store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The store's checks, looking inside real crdt payloads, find a store the
// replica wrote consistent, with and without a snapshot.
func TestStoreCodecConsistent(t *testing.T) {
	ctx := context.Background()
	st := openMemStore(t)
	plain, compacted := storeTxns(t, st, false), storeTxns(t, st, true)
	c := store.NewSpotCheck(st, StoreCodec{}, 1)
	seen := map[string]store.SpotResult{}
	for range 40 {
		det, err := c.Run(ctx)
		if err != nil {
			t.Fatalf("consistent store: %v", err)
		}
		d := det.(store.SpotResult)
		seen[d.Doc] = d
	}
	if d, ok := seen[plain.String()]; !ok || d.Snapshot || d.Txns != 5 || d.Docs != 2 || d.Partial {
		t.Errorf("plain document: %+v (seen %v)", d, ok)
	}
	if d, ok := seen[compacted.String()]; !ok || !d.Snapshot || d.Txns != 2 {
		t.Errorf("compacted document: %+v (seen %v)", d, ok)
	}
	res, err := st.Check(ctx, store.CheckOptions{Codec: StoreCodec{}})
	if err != nil || res.Problems != 0 || res.Docs != 2 {
		t.Fatalf("full check: %+v %v", res, err)
	}
}

// A stored transaction whose payload is not what its header says is found
// (the store keeps payloads opaque, so it accepted it).
func TestStoreCodecFindsMismatch(t *testing.T) {
	ctx := context.Background()
	st := openMemStore(t)
	id := store.NewDocID()
	if err := st.CreateDoc(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	a, _ := crdt.New("alice")
	t0, _ := a.Insert(0, "ab")
	t1, _ := a.Insert(2, "c")
	e0, _, _ := wire.Seal(id, t0)
	e1, _, _ := wire.Seal(id, t1)
	bad := record(&e0)
	bad.Payload = e1.Payload // header: alice 0+2; payload: alice 2+1
	if err := (StoreCodec{}).CheckTxn(bad.Header, bad.Payload); err == nil || vocab.Reason(err) != "header-mismatch" {
		t.Fatalf("CheckTxn of a mismatched record: %v", err)
	}
	if err := (StoreCodec{}).CheckTxn(bad.Header, []byte("junk")); err == nil || vocab.Reason(err) != "bad-payload" {
		t.Fatalf("CheckTxn of junk: %v", err)
	}
	if _, err := st.Append(ctx, id, store.Immediate, bad); err != nil {
		t.Fatal(err)
	}
	_, err := store.NewSpotCheck(st, StoreCodec{}, 1).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "does not match its header") || !strings.Contains(err.Error(), id.String()) {
		t.Fatalf("mismatched payload: %v", err)
	}
}
