package replica

import (
	"context"
	"slices"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"weft/api"
	"weft/store"
)

// The online consistency check, on a members-only document that lost a
// record under its checkpoint while the daemon runs: it quarantines the
// record and lists it, says exactly why it cannot fetch it while no peer
// is connected, and once one is, has it asked: the record comes back
// (checked against the stored chain of headers), the list empties, the
// store checks clean, and a member who joins later catches up from this
// replica alone.
func TestConsistencyCheckRepairsUnderCheckpoint(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	for _, s := range []string{"one ", "two ", "three ", "four "} {
		edit(t, a, info.ID, api.Edit{Ins: s})
	}
	h.connect(a.net, b.net)
	share(t, a, b, info.ID, "write")
	want := text(t, a, info.ID)
	waitFor(t, "b to catch up", func() bool { return text(t, b, info.ID) == want })

	// a stops (unloading writes a checkpoint over everything) and starts
	// again on the same data, alone.
	a.stop(t)
	a = startTestNode(t, h, "a", a.mem, nil)
	snap, err := a.store.Snapshot(ctx, id)
	if err != nil {
		t.Fatalf("no checkpoint after a clean stop: %v", err)
	}
	// A bad sector in its second record, under the checkpoint.
	res, err := a.mem.Query(ctx, dsq.Query{Prefix: "/docs/" + info.ID + "/txn/", KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := res.Rest()
	if err != nil || len(entries) < 3 {
		t.Fatalf("records %v %v", entries, err)
	}
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	slices.Sort(keys)
	bad := ds.NewKey(keys[1])
	v, err := a.mem.Get(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	v[len(v)/2] ^= 0x20
	if err := a.mem.Put(ctx, bad, v); err != nil {
		t.Fatal(err)
	}

	check := NewConsistencyCheck(a.m, a.store, 1)
	out, err := check.Run(ctx)
	cr := out.(ConsistencyResult)
	if cr.Repaired == nil || cr.Repaired.Quarantined != 1 || len(cr.Repaired.Fetch) != 1 {
		t.Fatalf("repaired %+v (checkpoint covers %v)", cr.Repaired, snap.Covers)
	}
	if err == nil || !strings.Contains(err.Error(), "document "+info.ID+": ") || !strings.Contains(err.Error(), "none of its peers is connected") {
		t.Fatalf("alone, the check says: %v", err)
	}
	if st, _ := a.m.DocStatus(ctx, info.ID); len(st.Fetch) != 1 {
		t.Fatalf("status lists to fetch %v", st.Fetch)
	}

	h.connect(a.net, b.net)
	waitFor(t, "a's topic to see b", func() bool {
		d, err := a.m.lookup(info.ID)
		return err == nil && slices.Contains(d.topicPeers(), "b")
	})
	out, err = check.Run(ctx)
	cr = out.(ConsistencyResult)
	if err != nil || (len(cr.Fetching) > 0 && !slices.Contains(cr.Fetching[0].Asked, "b")) {
		t.Fatalf("with b connected (the list may be empty already: connecting starts a catch-up too): %+v %v", cr.Fetching, err)
	}
	waitFor(t, "the record to come back", func() bool {
		m, err := a.store.Missing(ctx, id)
		return err == nil && len(m) == 0
	})
	if _, err := a.mem.Get(ctx, bad); err != nil {
		t.Fatalf("the record is not back: %v", err)
	}
	if r, err := a.store.Check(ctx, store.CheckOptions{Codec: StoreCodec{}}); err != nil || r.Problems != 0 {
		t.Fatalf("check after the online repair: %+v %v", r, err)
	}
	if _, err := check.Run(ctx); err != nil {
		t.Fatalf("the check after the fetch: %v", err)
	}

	// A member who joins now catches up from a alone.
	c := newTestNode(t, h, "c", nil)
	h.disconnect(a.net, b.net)
	h.connect(a.net, c.net)
	share(t, a, c, info.ID, "read")
	waitFor(t, "c to catch up from a alone", func() bool { return text(t, c, info.ID) == want })
}
