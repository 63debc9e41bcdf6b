package replica

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/crdt"
	"weft/member"
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
	return startTestNodeStore(t, h, id, mem, so, mod)
}

// startTestNodeStore is startTestNode with the store's options given.
func startTestNodeStore(t *testing.T, h *hub, id string, mem ds.Batching, so store.Options, mod func(*Options)) *testNode {
	t.Helper()
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
	seed := sha256.Sum256([]byte("memnet device " + id))
	opts.Device = ed25519.NewKeyFromSeed(seed[:]) // the same as the memnet node's
	if n != nil {
		opts.Transport = n
	}
	opts.SyncInterval = time.Hour // tests trigger catch-up explicitly
	if os.Getenv("WEFT_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
	}
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

// share makes an invite on from and joins it on to (the way a document
// reaches another replica).
func share(t *testing.T, from, to *testNode, id, role string) api.DocInfo {
	t.Helper()
	ctx := context.Background()
	inv, err := from.m.Invite(ctx, id, api.InviteRequest{Role: role})
	if err != nil {
		t.Fatalf("invite: %v", err)
	}
	info, err := to.m.JoinInvite(ctx, inv.Invite)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	return info
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
	if err != nil || st.Version[b.m.opts.Agent] != uint64(1+len([]rune("hello wörld 🎉"))+6+1+1) /* the title, then the edits */ {
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
	share(t, a, b, info.ID, "write")
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
		share(t, nodes[0], n, info.ID, "write")
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

// A members-only document's topic refuses, each for its named reason,
// whatever is not a transaction signed by a member who may write: bytes
// not sealed with the route key, or sealed for another topic; a stranger's
// transaction; a member's agent under another device's signature; a
// reader's; a payload that is not the one its header names, or that does
// not open; another document's; an unknown kind. The transport counts
// each (not the replica), nothing of them is applied, and then a writer's
// valid transaction is.
func TestHostileGossipIsRejectedAndCounted(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	edit(t, a, info.ID, api.Edit{Ins: "safe"})
	w := newTestNode(t, h, "w", nil)
	share(t, a, w, info.ID, "write")
	r := newTestNode(t, h, "r", nil)
	share(t, a, r, info.ID, "read")
	da, _ := a.m.doc(id)
	dw, _ := w.m.doc(id)
	for _, n := range []*testNode{w, r} { // as their announcements would
		d, _ := n.m.doc(id)
		if _, _, err := da.mem.add(d.mem.localChain(), member.IgnoreExpiry); err != nil {
			t.Fatal(err)
		}
	}
	topic := da.topicName()
	keyOf := func(n string) ed25519.PrivateKey {
		seed := sha256.Sum256([]byte("memnet device " + n))
		return ed25519.NewKeyFromSeed(seed[:])
	}
	agentOf := func(n string) string { return member.AgentOf(keyOf(n).Public().(ed25519.PublicKey)) }
	// envelope builds agent's first transaction inserting text, sealed
	// with keys, signed by signer (for doc).
	envelope := func(doc store.DocID, agent string, signer ed25519.PrivateKey, keys *member.Keyring, text string) *member.Envelope {
		c, _ := crdt.New(agent)
		txn, err := c.Insert(0, text)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := crdt.EncodeTxn(txn)
		hd := member.Header{Doc: doc, Header: wire.HeaderOf(txn)}
		sealed, err := member.SealPayload(keys, crand.Reader, &hd, payload)
		if err != nil {
			t.Fatal(err)
		}
		hash := hd.Hash()
		hd.Sig = ed25519.Sign(signer, append([]byte("weft/member/v1/header\x00"), hash[:]...))
		e, err := member.NewEnvelope(&hd, sealed)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	seal := func(pt []byte) []byte {
		b, err := da.mem.route.Seal(topic, pt)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keys := dw.mem.keys
	other := member.NewKeyring(id)
	if err := other.Add(0, &member.Secret{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	valid := envelope(id, agentOf("w"), keyOf("w"), keys, "x")
	flipped := append([]byte(nil), valid.Payload...)
	flipped[len(flipped)-1] ^= 1
	forgedPayload := &member.Envelope{Header: valid.Header, Payload: flipped}
	wrongSealed, _ := other.Seal(crand.Reader, member.PurposePayload, []byte("x"), nil)
	otherTopic, _ := da.mem.route.Seal(topic+"-other", valid.Raw)
	otherDoc := store.NewDocID()
	cases := map[string][]byte{
		vocab.ReasonMalformed:      {1, 5},                                                                  // not a sealed form
		vocab.ReasonDecrypt:        otherTopic,                                                              // sealed for another topic
		vocab.ReasonCapability:     seal(envelope(id, agentOf("mallory"), keyOf("mallory"), keys, "m").Raw), // a stranger's
		vocab.ReasonSignature:      seal(envelope(id, agentOf("w"), keyOf("mallory"), keys, "m").Raw),       // w's agent, mallory's signature
		vocab.ReasonHeaderMismatch: seal(pairOf(t, forgedPayload)),                                          // payload not the header's
		vocab.ReasonWrongDocument:  seal(envelope(otherDoc, agentOf("w"), keyOf("w"), keys, "m").Raw),
		vocab.ReasonVersion:        seal([]byte{0x81, 0x06}), // a kind this build does not know
	}
	// A reader's transaction, and one whose payload does not open, are
	// refused for reasons counted above (capability, decrypt).
	extra := map[string][]byte{
		vocab.ReasonCapability: seal(envelope(id, agentOf("r"), keyOf("r"), keys, "r").Raw),
		vocab.ReasonDecrypt:    seal(signedWith(t, envelope(id, agentOf("w"), keyOf("w"), keys, "m"), wrongSealed, keyOf("w"))),
	}
	before := a.m.Stats().Rejected
	a.net.mu.Lock()
	tp := a.net.topics[topic][0]
	a.net.mu.Unlock()
	want := map[string]int{}
	for _, set := range []map[string][]byte{cases, extra} {
		for reason, data := range set {
			tp.deliver("mallory", data)
			want[reason]++
		}
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
	tp.deliver("w", seal(valid.Raw))
	waitFor(t, "the writer's transaction", func() bool { return strings.Contains(text(t, a, info.ID), "x") })
	if n := storedBy(t, a, id, agentOf("mallory")); n != 0 {
		t.Fatalf("%d transactions of mallory stored", n)
	}
}

// pairOf encodes an envelope's header and payload as [2, header, payload]
// without checking that they belong together.
func pairOf(t *testing.T, e *member.Envelope) []byte {
	t.Helper()
	b, err := cbor.Marshal([]any{2, e.Header.Marshal(), e.Payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedWith gives e's header another sealed payload, re-signed by key.
func signedWith(t *testing.T, e *member.Envelope, sealed []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	h := *e.Header
	h.SetPayload(sealed)
	if err := h.Sign(key); err != nil {
		t.Fatal(err)
	}
	out, err := member.NewEnvelope(&h, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return out.Raw
}

func mustEncode(t *testing.T, txn *crdt.Txn) []byte {
	b, err := crdt.EncodeTxn(txn)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An idle document unloads and reloads. A members-only document writes a
// checkpoint (its state sealed, with each agent's last header) to reload
// from, and keeps its envelopes: they are what catch-up serves, signed by
// their authors (docs/members-only.md). The store's check accepts both.
// (The idle bound is well above one edit's time even on a loaded machine
// under the race detector: 20 ms made a slow edit unload it in between.)
func TestIdleUnloadAndReload(t *testing.T) {
	ctx := context.Background()
	cache := &cacheEvents{}
	a := newTestNode(t, nil, "a", func(o *Options) { o.IdleUnload = 300 * time.Millisecond; o.Observer = cache })
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
	if err != nil || !member.IsCheckpoint(snap.Payload) || snap.Covers[a.m.opts.Agent] != 50 {
		t.Fatalf("checkpoint %v (covers %v), %v", snap != nil && member.IsCheckpoint(snap.Payload), snap, err)
	}
	if bytes.Contains(snap.Payload, []byte("0123456789")) {
		t.Fatal("the checkpoint holds the text in clear")
	}
	if n := storedBy(t, a, id, a.m.opts.Agent); n != 50 {
		t.Fatalf("%d envelopes stored, want the 50 signed ones", n)
	}
	if res, err := a.store.Check(ctx, store.CheckOptions{Codec: StoreCodec{}}); err != nil || res.Problems != 0 {
		t.Fatalf("check: %+v, %v", res, err)
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
