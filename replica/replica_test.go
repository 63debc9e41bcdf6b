package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/crdt"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

type testNode struct {
	m     *Manager
	net   *memNode
	store *store.Store
	mem   ds.Batching
}

func newTestNode(t *testing.T, h *hub, id string, mod func(*Options)) *testNode {
	t.Helper()
	mem := dssync.MutexWrap(ds.NewMapDatastore())
	return startTestNode(t, h, id, mem, mod)
}

func startTestNode(t *testing.T, h *hub, id string, mem ds.Batching, mod func(*Options)) *testNode {
	t.Helper()
	so := store.DefaultOptions()
	so.MaxDelay = time.Millisecond
	st, err := store.OpenDatastore(mem, so)
	if err != nil {
		t.Fatal(err)
	}
	var n *memNode
	if h != nil {
		n = h.node(id)
	}
	opts := DefaultOptions()
	opts.Store = st
	if n != nil {
		opts.Transport = n
	}
	opts.Agent = id
	opts.SyncInterval = time.Hour // tests trigger catch-up explicitly
	if mod != nil {
		mod(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{m: m, net: n, store: st, mem: mem}
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (n *testNode) stop(t *testing.T) {
	if n.m == nil {
		return
	}
	if err := n.m.Close(); err != nil {
		t.Errorf("closing the manager: %v", err)
	}
	if err := n.store.Close(); err != nil {
		t.Errorf("closing the store: %v", err)
	}
	n.m = nil
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d := time.Millisecond; !cond(); d = min(2*d, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(d)
	}
}

func text(t *testing.T, n *testNode, id string) string {
	t.Helper()
	s, err := n.m.Text(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func edit(t *testing.T, n *testNode, id string, edits ...api.Edit) api.EditResult {
	t.Helper()
	r, err := n.m.Edit(context.Background(), id, edits)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLocalEditsAreDurableAndReload(t *testing.T) {
	ctx := context.Background()
	mem := dssync.MutexWrap(ds.NewMapDatastore())
	a := startTestNode(t, nil, "alice", mem, nil)
	info, err := a.m.CreateDoc(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	r := edit(t, a, info.ID, api.Edit{Pos: 0, Ins: "hello wörld 🎉"}, api.Edit{Pos: 5, Del: 6, Ins: ","})
	if r.Applied != 2 || r.Chars != len([]rune("hello, 🎉")) {
		t.Fatalf("result %+v", r)
	}
	if _, err := a.m.Edit(ctx, info.ID, []api.Edit{{Pos: 100, Ins: "x"}}); !errors.Is(err, api.ErrBadInput) {
		t.Fatalf("edit out of range: got %v, want api.ErrBadInput", err)
	}
	a.stop(t)
	// A new manager on the same store sees everything.
	b := startTestNode(t, nil, "alice", mem, nil)
	if got := text(t, b, info.ID); got != "hello, 🎉" {
		t.Fatalf("after reopening: %q", got)
	}
	docs, err := b.m.ListDocs(ctx)
	if err != nil || len(docs) != 1 || docs[0].Title != "notes" {
		t.Fatalf("docs %+v, %v", docs, err)
	}
	// The agent continues its seqs after the reload.
	edit(t, b, info.ID, api.Edit{Pos: 0, Ins: ">"})
	st, err := b.m.DocStatus(ctx, info.ID)
	if err != nil || st.Version["alice"] != uint64(len([]rune("hello wörld 🎉"))+6+1+1) {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestUnknownDocAndBadID(t *testing.T) {
	a := newTestNode(t, nil, "a", nil)
	ctx := context.Background()
	if _, err := a.m.Text(ctx, "zz"); !errors.Is(err, api.ErrBadInput) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := a.m.Text(ctx, store.NewDocID().String()); !errors.Is(err, api.ErrUnknownDoc) {
		t.Fatalf("unknown doc: %v", err)
	}
}

func TestJoinCatchesUpAndGossipConverges(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	info, _ := a.m.CreateDoc(ctx, "shared")
	edit(t, a, info.ID, api.Edit{Pos: 0, Ins: "before the join"})
	h.connect(a.net, b.net)
	if _, err := b.m.JoinDoc(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to catch up", func() bool { return text(t, b, info.ID) == "before the join" })
	// The joiner takes the title too.
	waitFor(t, "b to take the title", func() bool {
		docs, err := b.m.ListDocs(ctx)
		return err == nil && len(docs) == 1 && docs[0].Title == "shared"
	})
	// Live edits both ways.
	edit(t, a, info.ID, api.Edit{Pos: 0, Ins: "A:"})
	edit(t, b, info.ID, api.Edit{Pos: len([]rune(text(t, b, info.ID))), Ins: ":B"})
	waitFor(t, "convergence", func() bool {
		return text(t, a, info.ID) == text(t, b, info.ID) && strings.Contains(text(t, a, info.ID), ":B") && strings.Contains(text(t, b, info.ID), "A:")
	})
}

// Random concurrent edits on three replicas with gossip dropped part of the
// time; catch-up repairs what gossip lost.
func TestConvergeWithLossyGossip(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	ctx := context.Background()
	h := newHub()
	nodes := []*testNode{newTestNode(t, h, "a", nil), newTestNode(t, h, "b", nil), newTestNode(t, h, "c", nil)}
	h.connect(nodes[0].net, nodes[1].net)
	h.connect(nodes[1].net, nodes[2].net)
	h.connect(nodes[0].net, nodes[2].net)
	info, _ := nodes[0].m.CreateDoc(ctx, "")
	for _, n := range nodes[1:] {
		if _, err := n.m.JoinDoc(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
	}
	alphabet := []rune("abcdefgh é🎉\n")
	for round := 0; round < 300; round++ {
		h.dropGossip.Store(rng.Intn(3) == 0)
		n := nodes[rng.Intn(len(nodes))]
		// Gossip may change the text between reading it and editing, as
		// for any client: retry an edit whose position went stale.
		for {
			cur := []rune(text(t, n, info.ID))
			var e api.Edit
			if len(cur) > 0 && rng.Intn(3) == 0 {
				e.Pos = rng.Intn(len(cur))
				e.Del = 1 + rng.Intn(min(5, len(cur)-e.Pos))
			} else {
				e.Pos = rng.Intn(len(cur) + 1)
				for k := 0; k <= rng.Intn(4); k++ {
					e.Ins += string(alphabet[rng.Intn(len(alphabet))])
				}
			}
			_, err := n.m.Edit(ctx, info.ID, []api.Edit{e})
			if err == nil {
				break
			}
			if !errors.Is(err, api.ErrBadInput) {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
	}
	h.dropGossip.Store(false)
	id, _ := store.ParseDocID(info.ID)
	for i := range nodes {
		for j := range nodes {
			if i != j {
				if err := nodes[i].m.SyncWith(ctx, nodes[j].net.id, id); err != nil {
					t.Fatalf("seed %d: sync %d→%d: %v", seed, i, j, err)
				}
			}
		}
	}
	want := text(t, nodes[0], info.ID)
	for i, n := range nodes {
		if got := text(t, n, info.ID); got != want {
			t.Fatalf("seed %d: replica %d differs:\n%q\n%q", seed, i, got, want)
		}
	}
}

func TestHostileGossipIsRejectedAndCounted(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	edit(t, a, info.ID, api.Edit{Ins: "safe"})

	good, _ := crdt.New("mallory")
	txn, _ := good.Insert(0, "x")
	_, valid, err := wire.Seal(id, txn)
	if err != nil {
		t.Fatal(err)
	}
	other := store.NewDocID()
	_, wrongDoc, _ := wire.Seal(other, txn)
	mismatch := wire.Envelope{Doc: id, Header: vocab.Header{Agent: "mallory", Seq: 5, Len: 1}, Payload: mustEncode(t, txn)}
	mismatchWire, _ := mismatch.Marshal()
	badPayload := wire.Envelope{Doc: id, Header: vocab.Header{Agent: "mallory", Seq: 0, Len: 1}, Payload: []byte{0xff, 0x00}}
	badPayloadWire, _ := badPayload.Marshal()
	future := append([]byte(nil), valid...)
	future[1] = 0x07 // format version 7 (the array header is the first byte)

	v := wire.Validator(id)
	cases := map[string][]byte{
		"malformed":       []byte("garbage"),
		"truncated":       valid[:len(valid)/2],
		"oversized":       make([]byte, wire.MaxEnvelopeBytes+1),
		"wrong-document":  wrongDoc,
		"header-mismatch": mismatchWire,
		"bad-payload":     badPayloadWire,
		"version":         future,
	}
	for name, data := range cases {
		err := v("mallory", data)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, vocab.ErrRejected) {
			t.Errorf("%s: error %v is not a rejection", name, err)
		}
	}
	if err := v("mallory", valid); err != nil {
		t.Fatalf("a valid envelope was rejected: %v", err)
	}

	// Through the topic: each is refused by the topic's validator with its
	// own reason (counted once, by the transport) and changes nothing; the
	// replica counts none of them again.
	before := a.m.Stats().Rejected
	a.net.mu.Lock()
	tp := a.net.topics[TopicName(id)][0]
	a.net.mu.Unlock()
	want := map[string]int{}
	for name, data := range cases {
		tp.deliver("mallory", data)
		reason := name
		if name == "truncated" {
			reason = vocab.ReasonMalformed // a cut envelope does not decode
		}
		want[reason]++
	}
	if got := tp.rejectedByReason(); !maps.Equal(got, want) {
		t.Fatalf("the topic rejected %v, want %v", got, want)
	}
	if after := a.m.Stats().Rejected; !maps.Equal(after, before) {
		t.Fatalf("the replica counted gossip rejections too: %v → %v", before, after)
	}
	if got := text(t, a, info.ID); got != "safe" {
		t.Fatalf("text changed to %q", got)
	}
	// A transaction with forged parents waits and is never stored.
	forged := &crdt.Txn{Agent: "mallory", Seq: 0, Parents: []crdt.ID{{Agent: "ghost", Seq: 41}}, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "!"}}}
	_, forgedWire, err := wire.Seal(id, forged)
	if err != nil {
		t.Fatal(err)
	}
	e, err := wire.ParseEnvelope(forgedWire, id)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := a.m.doc(id)
	err = d.do(ctx, func(dr *driver) error {
		_, err := dr.apply(ctx, input{src: fromGossip, envs: []received{{env: e, raw: forgedWire}}}, nil, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a.m.DocStatus(ctx, info.ID)
	if st.Buffered != 1 || st.Version["mallory"] != 0 || text(t, a, info.ID) != "safe" {
		t.Fatalf("forged txn: status %+v", st)
	}
	stored := storedBy(t, a, id, "mallory")
	if stored != 0 {
		t.Fatalf("%d transactions of mallory stored", stored)
	}
}

func mustEncode(t *testing.T, txn *crdt.Txn) []byte {
	b, err := crdt.EncodeTxn(txn)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdleUnloadCompactsAndReloads(t *testing.T) {
	ctx := context.Background()
	cache := &cacheEvents{}
	a := newTestNode(t, nil, "a", func(o *Options) { o.IdleUnload = 20 * time.Millisecond; o.Observer = cache })
	info, _ := a.m.CreateDoc(ctx, "")
	for i := 0; i < 50; i++ {
		edit(t, a, info.ID, api.Edit{Pos: i, Ins: fmt.Sprint(i % 10)})
	}
	id, _ := store.ParseDocID(info.ID)
	d, _ := a.m.doc(id)
	waitFor(t, "the document to unload", func() bool { return !d.loaded.Load() })
	// The cache of documents: one load, then a hit for every later edit
	// (the first edit's request loaded it), then one unload.
	if got := cache.counts(); got["load"] != 1 || got["hit"] < 49 || got["unload"] != 1 || a.m.Resident() != 0 {
		t.Fatalf("document cache events %v, %d resident; want 1 load, ≥ 49 hits, 1 unload, 0 resident", got, a.m.Resident())
	}
	snap, err := a.store.Snapshot(ctx, id)
	if err != nil {
		t.Fatalf("no snapshot after unloading: %v", err)
	}
	if snap.Covers["a"] != 50 {
		t.Fatalf("snapshot covers %v", snap.Covers)
	}
	want := strings.Repeat("0123456789", 5)
	if got := text(t, a, info.ID); got != want {
		t.Fatalf("after reload: %q", got)
	}
	if got := cache.counts(); got["load"] != 2 {
		t.Fatalf("reading the text after an unload: cache events %v, want a second load", got)
	}
}

// cacheEvents records the document cache's events (an Observer).
type cacheEvents struct {
	nopObserver
	mu sync.Mutex
	n  map[string]int
}

func (c *cacheEvents) DocCache(event string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[event]++
}

func (c *cacheEvents) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// storedBy counts the stored transactions of agent in doc.
func storedBy(t *testing.T, n *testNode, doc store.DocID, agent string) int {
	t.Helper()
	stored := 0
	err := n.store.Stream(context.Background(), doc, nil, func(c []store.TxnRecord) error {
		for _, r := range c {
			if r.Agent == agent {
				stored++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stored
}
