package replica

import (
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"weft/crdt"
	"weft/vocab"
	"weft/wire"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/member"
	"weft/store"
)

// A stranger connected to members for a while gets nothing: catch-up
// with it ends before any hello, its store stays empty, and joining by ID
// is refused with the error that says to ask for an invite.
func TestStrangerGetsNothing(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	s := newTestNode(t, h, "stranger", nil)
	info, _ := a.m.CreateDoc(ctx, "secret title")
	id, _ := store.ParseDocID(info.ID)
	edit(t, a, info.ID, api.Edit{Ins: "secret text"})
	h.connect(a.net, s.net)
	if _, err := s.m.JoinDoc(ctx, info.ID); !errors.Is(err, api.ErrNeedInvite) {
		t.Fatalf("join by ID: %v", err)
	}
	// The stranger opens catch-up naming the topic: it cannot show it
	// knows the ID, and hears "unknown document".
	if err := a.m.SyncWith(ctx, "stranger", id); err == nil {
		t.Fatal("a member synced with a stranger")
	}
	if l, _ := s.m.ListDocs(ctx); len(l) != 0 {
		t.Fatalf("the stranger holds %+v", l)
	}
	ids, _ := s.store.Docs(ctx)
	if len(ids) != 0 {
		t.Fatalf("the stranger's store holds %v", ids)
	}
}

// A reader reads, and what it writes is refused: by its own daemon, and
// by the others when it arrives signed anyway.
func TestReaderCannotWrite(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	r := newTestNode(t, h, "r", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	edit(t, a, info.ID, api.Edit{Ins: "read me"})
	h.connect(a.net, r.net)
	if got := share(t, a, r, info.ID, "read"); got.Role != "read" {
		t.Fatalf("joined as %q", got.Role)
	}
	waitFor(t, "the reader to catch up", func() bool { return text(t, r, info.ID) == "read me" })
	if _, err := r.m.Edit(ctx, info.ID, []api.Edit{{Ins: "x"}}); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a reader's edit: %v", err)
	}
	if _, err := r.m.Invite(ctx, info.ID, api.InviteRequest{Role: "write"}); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a reader's invite: %v", err)
	}
	edit(t, a, info.ID, api.Edit{Pos: 7, Ins: "!"})
	waitFor(t, "the reader to follow", func() bool { return text(t, r, info.ID) == "read me!" })
}

// Removing a member rotates the read secret: the others move to the new
// epoch, the removed device cannot open what is written after, what it
// writes after is refused, and a member invited later reads the whole
// history (the rekey carries the previous secret).
func TestRemoveRotatesAndCutsOff(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	c := newTestNode(t, h, "c", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	edit(t, a, info.ID, api.Edit{Ins: "before"})
	h.connect(a.net, b.net)
	h.connect(a.net, c.net)
	h.connect(b.net, c.net)
	shareAndCatchUp(t, a, info.ID, "before", []*testNode{b, c}, "write", "write")
	cDevice := member.DeviceID(c.net.key.Public().(ed25519.PublicKey))
	// c is away when it is removed: it hears of it only later.
	h.disconnect(a.net, c.net)
	h.disconnect(b.net, c.net)
	if err := a.m.RemoveMember(ctx, info.ID, cDevice); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, b} {
		waitFor(t, n.net.id+" to hold the new epoch", func() bool {
			st, err := n.m.DocStatus(ctx, info.ID)
			return err == nil && st.Epoch == 1 && st.Members == 2
		})
	}
	if st, _ := c.m.DocStatus(ctx, info.ID); st.Epoch != 0 {
		t.Fatalf("the removed device holds epoch %d", st.Epoch)
	}
	ms, _ := a.m.Members(ctx, info.ID)
	removed := 0
	for _, m := range ms {
		if m.Removed {
			removed++
			if m.Device != cDevice {
				t.Fatalf("removed %s, want %s", m.Device, cDevice)
			}
		}
	}
	if removed != 1 {
		t.Fatalf("members %+v", ms)
	}
	// After: a writes, b reads it, c does not; c writes (not knowing it
	// was removed), nobody takes it.
	edit(t, a, info.ID, api.Edit{Pos: 6, Ins: " after"})
	waitFor(t, "b to read the new epoch", func() bool { return text(t, b, info.ID) == "before after" })
	edit(t, c, info.ID, api.Edit{Pos: 0, Ins: "C:"})
	h.connect(a.net, c.net)
	h.connect(b.net, c.net)
	for _, n := range []*testNode{a, b} {
		if err := n.m.SyncWith(ctx, "c", id); err == nil {
			t.Fatalf("%s synced with a removed member", n.net.id)
		}
	}
	if err := c.m.SyncWith(ctx, "a", id); err == nil {
		t.Fatal("a removed member synced")
	}
	edit(t, b, info.ID, api.Edit{Pos: 0, Ins: ">"})
	waitFor(t, "a and b to converge", func() bool { return text(t, a, info.ID) == ">before after" && text(t, b, info.ID) == ">before after" })
	if got := text(t, c, info.ID); strings.Contains(got, "after") {
		t.Fatalf("the removed device read %q", got)
	}
	if n := storedBy(t, a, id, c.m.opts.Agent); n != 0 {
		t.Fatalf("a stored %d transactions of the removed device", n)
	}
	// Once c has heard of its removal (in a's proof), it refuses its own
	// edits.
	waitFor(t, "c to know it was removed", func() bool {
		st, err := c.m.DocStatus(ctx, info.ID)
		return err == nil && st.Role == ""
	})
	if _, err := c.m.Edit(ctx, info.ID, []api.Edit{{Ins: "x"}}); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a removed device's edit: %v", err)
	}
	// A member invited after the removal reads everything.
	d := newTestNode(t, h, "d", nil)
	h.connect(a.net, d.net)
	share(t, a, d, info.ID, "read")
	waitFor(t, "the late member to read the whole history", func() bool { return text(t, d, info.ID) == ">before after" })
}

// firstTxn builds an agent's first transaction inserting text as a peer's
// code would: sealed with keys, signed by key.
func firstTxn(t *testing.T, doc store.DocID, key ed25519.PrivateKey, keys *member.Keyring, text string) *member.Envelope {
	t.Helper()
	c, _ := crdt.New(member.AgentOf(key.Public().(ed25519.PublicKey)))
	txn, err := c.Insert(0, text)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := crdt.EncodeTxn(txn)
	h := member.Header{Doc: doc, Header: wire.HeaderOf(txn)}
	sealed, err := member.SealPayload(keys, crand.Reader, &h, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Sign(key); err != nil {
		t.Fatal(err)
	}
	e, err := member.NewEnvelope(&h, sealed)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A writer that signs two different transactions under one (agent, seq)
// and gives one to each side of a partition is caught when the sides
// meet: both keep the proof, report the fork (status, readiness) and
// refuse the agent's transactions from the fork on.
func TestEquivocationIsProvedAndReported(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	w := newTestNode(t, h, "w", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	h.connect(a.net, b.net)
	share(t, a, b, info.ID, "write")
	share(t, a, w, info.ID, "write")
	dw, _ := w.m.doc(id)
	for _, n := range []*testNode{a, b} { // as w's announcement would
		d, _ := n.m.doc(id)
		if _, _, err := d.mem.add(dw.mem.localChain(), member.IgnoreExpiry); err != nil {
			t.Fatal(err)
		}
	}
	h.disconnect(a.net, b.net)
	one := firstTxn(t, id, w.net.key, dw.mem.keys, "one")
	two := firstTxn(t, id, w.net.key, dw.mem.keys, "two")
	for _, x := range []struct {
		n *testNode
		e *member.Envelope
	}{{a, one}, {b, two}} {
		d, _ := x.n.m.doc(id)
		if err := d.do(ctx, func(dr *driver) error {
			_, err := dr.apply(ctx, input{src: fromSync, envs: []received{{sig: x.e}}}, nil, time.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if text(t, a, info.ID) != "one" || text(t, b, info.ID) != "two" {
		t.Fatalf("the partitions hold %q and %q", text(t, a, info.ID), text(t, b, info.ID))
	}
	h.connect(a.net, b.net)
	if err := a.m.SyncWith(ctx, "b", id); err != nil {
		t.Fatal(err)
	}
	agent := w.m.opts.Agent
	for _, n := range []*testNode{a, b} {
		waitFor(t, n.net.id+" to report the fork", func() bool {
			st, err := n.m.DocStatus(ctx, info.ID)
			return err == nil && slices.Equal(st.Forks, []string{agent + "@0"})
		})
		if _, err := NewReplicationCheck(n.m, nil, time.Minute, time.Now).Run(ctx); err == nil || !strings.Contains(err.Error(), "two histories") {
			t.Fatalf("%s: readiness with a fork: %v", n.net.id, err)
		}
		if f := n.m.Forked(); f != 1 {
			t.Fatalf("%s: %d forked documents in the metrics' source, want 1", n.net.id, f)
		}
	}
	// From the fork on, nothing of the agent's counts anywhere.
	d, _ := a.m.doc(id)
	if err := d.mem.author(vocab.Span{Agent: agent, Seq: 1, Len: 1}); vocab.Reason(err) != vocab.ReasonEquivocation {
		t.Fatalf("the equivocator's next transaction: %v", err)
	}
}

// An invite's expiry bounds the invite, not the membership it gave: the
// admin that made it confirms the join with a lasting capability, which
// the joined device takes as its own.
func TestExpiringInviteGivesLastingMembership(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	h.connect(a.net, b.net)
	inv, err := a.m.Invite(ctx, info.ID, api.InviteRequest{Role: "write", Label: "bea", Expires: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.JoinInvite(ctx, inv.Invite); err != nil {
		t.Fatal(err)
	}
	self := func(n *testNode) api.MemberInfo {
		ms, err := n.m.Members(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Device == member.DeviceID(b.net.key.Public().(ed25519.PublicKey)) {
				return m
			}
		}
		return api.MemberInfo{}
	}
	for _, n := range []*testNode{a, b} {
		waitFor(t, n.net.id+" to hold b's lasting capability", func() bool {
			m := self(n)
			return m.Role == "write" && m.Label == "bea" && m.Expires.IsZero()
		})
	}
	d, _ := b.m.doc(mustID(t, info.ID))
	if c := d.mem.localChain(); c.Leaf().NotAfter != 0 || len(c) != 2 {
		t.Fatalf("b's own chain: %d links, leaf expires %d", len(c), c.Leaf().NotAfter)
	}
}

func mustID(t *testing.T, s string) store.DocID {
	t.Helper()
	id, err := store.ParseDocID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A store written before members-only documents opens: its documents are
// legacy ones, readable and editable here, shared with nobody, and
// upgraded into a members-only copy of their text that can be shared.
func TestLegacyDocumentsOpenAndUpgrade(t *testing.T) {
	ctx := context.Background()
	mem := dssync.MutexWrap(ds.NewMapDatastore())
	// What an earlier weft wrote: a document without membership, its
	// transactions plaintext envelopes' payloads under any agent name.
	{
		so := store.DefaultOptions()
		st, err := store.OpenDatastore(mem, so)
		if err != nil {
			t.Fatal(err)
		}
		id := store.NewDocID()
		if err := st.CreateDoc(ctx, id, "old notes"); err != nil {
			t.Fatal(err)
		}
		c, _ := crdt.New("12D3KooWOldPeerID")
		txn, _ := c.Insert(0, "written before")
		payload, _ := crdt.EncodeTxn(txn)
		ack, err := st.Append(ctx, id, store.Immediate, store.TxnRecord{Header: wire.HeaderOf(txn), Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		<-ack.Done()
		if err := ack.Err(); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	a := startTestNode(t, nil, "a", mem, nil)
	docs, err := a.m.ListDocs(ctx)
	if err != nil || len(docs) != 1 || docs[0].Role != "" || docs[0].Title != "old notes" {
		t.Fatalf("docs %+v, %v", docs, err)
	}
	old := docs[0].ID
	if got := text(t, a, old); got != "written before" {
		t.Fatalf("legacy text %q", got)
	}
	edit(t, a, old, api.Edit{Pos: 14, Ins: ", edited after"})
	if _, err := a.m.Invite(ctx, old, api.InviteRequest{Role: "write"}); !errors.Is(err, api.ErrBadInput) || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("inviting to a legacy document: %v", err)
	}
	up, err := a.m.Upgrade(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if up.ID == old || up.Role != "admin" || up.Title != "old notes" {
		t.Fatalf("upgraded %+v", up)
	}
	if got := text(t, a, up.ID); got != "written before, edited after" {
		t.Fatalf("the copy reads %q", got)
	}
	if got := text(t, a, old); got != "written before, edited after" {
		t.Fatalf("the legacy document changed: %q", got)
	}
	if _, err := a.m.Invite(ctx, up.ID, api.InviteRequest{Role: "read"}); err != nil {
		t.Fatalf("inviting to the copy: %v", err)
	}
}

// A checkpoint speeds up loading without costing the history: after one,
// more edits, another unload and a reload, the text is whole, and a member
// joining later still gets every envelope by catch-up.
func TestCheckpointKeepsHistory(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id := mustID(t, info.ID)
	d, _ := a.m.doc(id)
	unload := func() {
		if err := d.do(ctx, func(dr *driver) error { dr.unload(ctx); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	want := ""
	for round := 0; round < 3; round++ {
		for i := 0; i < 10; i++ {
			edit(t, a, info.ID, api.Edit{Pos: len([]rune(want)), Ins: "ab"})
			want += "ab"
		}
		unload()
		if got := text(t, a, info.ID); got != want {
			t.Fatalf("round %d: after a reload %q, want %q", round, got, want)
		}
	}
	if res, err := a.store.Check(ctx, store.CheckOptions{Codec: StoreCodec{}}); err != nil || res.Problems != 0 {
		t.Fatalf("check: %+v, %v", res, err)
	}
	b := newTestNode(t, h, "b", nil)
	h.connect(a.net, b.net)
	share(t, a, b, info.ID, "read")
	waitFor(t, "b to catch up", func() bool { return text(t, b, info.ID) == want })
	waitFor(t, "b to store every envelope", func() bool { return storedBy(t, b, id, a.m.opts.Agent) == 30 })
}

// A relay keeps a writer's checkpoint in place of the envelopes it covers
// (it never reads either), and a member joining later through the relay
// alone starts from it: the same text, its store consistent, and it goes
// on writing.
func TestRelayCompactsWithAWritersCheckpoint(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	small := func(o *Options) { o.CompactAfter = 5 }
	relay := newTestNode(t, h, "relay", func(o *Options) { small(o); o.Host = HostPolicy{All: true}; o.AckDurable = true })
	a := newTestNode(t, h, "a", func(o *Options) { small(o); o.Relays = []string{"relay"} })
	info, _ := a.m.CreateDoc(ctx, "kept small")
	id := mustID(t, info.ID)
	want := ""
	for i := 0; i < 20; i++ {
		edit(t, a, info.ID, api.Edit{Pos: len(want), Ins: "xy"})
		want += "xy"
	}
	da, _ := a.m.doc(id)
	if err := da.do(ctx, func(dr *driver) error { return dr.checkpoint(ctx) }); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Host(ctx, info.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err != nil {
		t.Fatal(err)
	}
	agentA := a.m.opts.Agent
	waitFor(t, "the relay to hold everything", func() bool {
		st, err := relay.m.DocStatus(ctx, info.ID)
		return err == nil && st.Version[agentA] == 41 // the title and 20 edits of 2
	})
	// The next exchange hands the relay the checkpoint.
	if err := a.m.SyncWith(ctx, "relay", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to drop the covered envelopes", func() bool { return storedBy(t, relay, id, agentA) == 0 })
	snap, err := relay.store.Snapshot(ctx, id)
	if err != nil || !member.IsCheckpoint(snap.Payload) || bytes.Contains(snap.Payload, []byte("xyxy")) {
		t.Fatalf("the relay's snapshot: %v", err)
	}
	if res, err := relay.store.Check(ctx, store.CheckOptions{Codec: StoreCodec{}}); err != nil || res.Problems != 0 {
		t.Fatalf("relay check: %+v, %v", res, err)
	}
	// a writes once more, leaves; b joins through the relay only.
	edit(t, a, info.ID, api.Edit{Pos: len(want), Ins: "!"})
	want += "!"
	waitFor(t, "the relay to hold the last edit", func() bool {
		st, err := relay.m.DocStatus(ctx, info.ID)
		return err == nil && st.Version[agentA] == 42 // the title, 20 edits of 2 and "!"
	})
	inv, err := a.m.Invite(ctx, info.ID, api.InviteRequest{Role: "write"})
	if err != nil {
		t.Fatal(err)
	}
	h.disconnect(a.net, relay.net)
	a.stop(t)
	b := newTestNode(t, h, "b", func(o *Options) { small(o); o.Relays = []string{"relay"} })
	h.connect(b.net, relay.net)
	if _, err := b.m.JoinInvite(ctx, inv.Invite); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to start from the checkpoint", func() bool { return text(t, b, info.ID) == want })
	waitFor(t, "b to store the one envelope after the checkpoint", func() bool { return storedBy(t, b, id, agentA) == 1 })
	edit(t, b, info.ID, api.Edit{Pos: 0, Ins: ">"})
	waitFor(t, "the relay to take b's edit", func() bool {
		st, err := relay.m.DocStatus(ctx, info.ID)
		return err == nil && st.Version[b.m.opts.Agent] == 1
	})
	if res, err := b.store.Check(ctx, store.CheckOptions{Codec: StoreCodec{}}); err != nil || res.Problems != 0 {
		t.Fatalf("b's check: %+v, %v", res, err)
	}
}

// The send side of a catch-up loads the document in its own request: one
// unloaded (idle, or shutting down) since the hello still sends what the
// peer lacks. (A daemon shutting down mid-exchange once panicked here.)
func TestSendMissingAfterUnload(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nil, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	edit(t, a, info.ID, api.Edit{Ins: "sent"})
	d, _ := a.m.doc(mustID(t, info.ID))
	hello := wire.SyncMsg{Kind: wire.MsgHello, Heads: map[string][]byte{a.m.opts.Agent: make([]byte, 32)}, Version: map[string]uint64{}}
	if err := d.do(ctx, func(dr *driver) error { dr.unload(ctx); return nil }); err != nil {
		t.Fatal(err)
	}
	s := &memStream{in: newPipe(), out: newPipe(), peer: "b"}
	n, err := a.m.sendMissing(ctx, s, d, hello, member.RoleWrite)
	if err != nil || n != 1 {
		t.Fatalf("sent %d envelopes, %v", n, err)
	}
}

// A member serves in catch-up everything its hello offered, including
// remote transactions it applied whose batched write has not reached the
// store yet: here a's store holds batched writes for a minute, so b's edit,
// which a took by gossip, is still queued when c (away meanwhile) catches
// up from a alone. Without the write of what is queued before the stream,
// c lacked it until the next anti-entropy round (TestRemoveRotatesAndCutsOff
// failed so, 11 runs in 100 under load).
func TestCatchUpServesQueuedWrites(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	so := store.DefaultOptions()
	so.MaxDelay = time.Minute
	a := startTestNodeStore(t, h, "a", dssync.MutexWrap(ds.NewMapDatastore()), so, nil)
	b := newTestNode(t, h, "b", nil)
	c := newTestNode(t, h, "c", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id := mustID(t, info.ID)
	edit(t, a, info.ID, api.Edit{Ins: "a"})
	h.connect(a.net, b.net)
	h.connect(a.net, c.net)
	shareAndCatchUp(t, a, info.ID, "a", []*testNode{b, c}, "write", "read")
	h.disconnect(a.net, c.net)
	edit(t, b, info.ID, api.Edit{Pos: 1, Ins: "b"})
	waitFor(t, "a to take b's edit", func() bool { return text(t, a, info.ID) == "ab" })
	if n := storedBy(t, a, id, b.m.opts.Agent); n != 0 {
		t.Fatalf("a's store holds %d of b's transactions already: the test needs them queued", n)
	}
	h.connect(a.net, c.net)
	if err := c.m.SyncWith(ctx, "a", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c to catch up from a alone", func() bool { return text(t, c, info.ID) == "ab" })
}

// shareAndCatchUp shares document id from from with each node of to, in
// the role of the same index, and waits until each shows want.
func shareAndCatchUp(t *testing.T, from *testNode, id, want string, to []*testNode, roles ...string) {
	t.Helper()
	for i, n := range to {
		share(t, from, n, id, roles[i])
	}
	for _, n := range to {
		waitFor(t, n.net.id+" to catch up", func() bool { return text(t, n, id) == want })
	}
}
