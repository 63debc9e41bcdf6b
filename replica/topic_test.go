package replica

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"weft/api"
	"weft/crdt"
	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// docTopic returns n's joined topic of the document (the memnet side) and
// its state.
func docTopic(t *testing.T, n *testNode, id store.DocID) (*memTopic, *docState) {
	t.Helper()
	d, err := n.m.doc(id)
	if err != nil {
		t.Fatal(err)
	}
	n.net.mu.Lock()
	defer n.net.mu.Unlock()
	ts := n.net.topics[d.topicName()]
	if len(ts) != 1 {
		t.Fatalf("%s holds %d subscriptions to the document's topic; want 1", n.net.id, len(ts))
	}
	return ts[0], d
}

// A transaction already committed, announced again: dropped as a duplicate
// (Ignore, not rejected, not handed to the driver). An announcement of a
// member already known is passed on, neither ignored nor rejected (a peer
// may not have it: see validate). A different header over the same seqs
// is no duplicate: the driver sees it and proves the fork.
func TestDuplicatesAreIgnored(t *testing.T) {
	ctx := context.Background()
	a, w, info, id := writerPair(t)

	tp, da := docTopic(t, a, id)
	agent := w.m.opts.Agent
	rec, err := w.store.Txn(ctx, id, agent, 0)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(pt []byte) []byte {
		b, err := da.mem.route.Seal(da.topicName(), pt)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	received, rejected := a.m.Stats().GossipReceived, tp.rejectedByReason()
	tp.deliver("w", seal(rec.Payload))
	dw, _ := w.m.doc(id)
	tp.deliver("w", seal(member.Announce(dw.mem.localChain())))
	if got, want := tp.ignoredByReason(), map[string]int{vocab.ReasonDuplicate: 1}; !mapsEqual(got, want) {
		t.Fatalf("ignored %v; want %v", got, want)
	}
	if r := tp.rejectedByReason(); !mapsEqual(r, rejected) {
		t.Fatalf("duplicates rejected: %v → %v", rejected, r)
	}
	if got := a.m.Stats().GossipReceived; got != received {
		t.Fatalf("a duplicate reached the driver: gossip received %d → %d", received, got)
	}

	// The same seqs under another header: a fork, not a duplicate.
	fork := firstTxn(t, id, w.net.key, dw.mem.keys, "yo")
	tp.deliver("w", seal(fork.Raw))
	if got := tp.ignoredByReason()[vocab.ReasonDuplicate]; got != 1 {
		t.Fatalf("a contradicting header was ignored as a duplicate (%d ignored)", got)
	}
	waitFor(t, "a to prove the fork", func() bool {
		st, err := a.m.DocStatus(ctx, info.ID)
		return err == nil && slices.Equal(st.Forks, []string{agent + "@0"})
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// presenceFrom builds agent's presence record number seq, sealed by n's
// membership and framed for d's topic, route-sealed.
func presenceFrom(t *testing.T, n *testNode, d *docState, agent string, seq uint64) []byte {
	t.Helper()
	rec, err := wire.MarshalPresence(wire.Presence{Doc: d.id[:], Agent: agent, Name: "p", Color: "#aa3300", Seq: seq})
	if err != nil {
		t.Fatal(err)
	}
	dn, _ := n.m.doc(d.id)
	sealed, err := dn.mem.sealPresence(d.topicName(), rec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.mem.route.Seal(d.topicName(), member.PresenceMsg(sealed))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A flood of presence from a peer while a tab is attached: every message
// within the rate reaches the validator's gate, the tab gets each agent's
// latest record (coalesced), its queue never overflows, it stays attached
// and is never made to resync.
func TestPresenceFloodIsCoalesced(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	// A clock that moves 100 ms per reading: the flood stays within each
	// agent's rate, so what bounds the tab is coalescing alone.
	var ticks atomic.Int64
	start := time.Now()
	clock := func(o *Options) {
		o.Now = func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 100 * time.Millisecond) }
	}
	a := newTestNode(t, h, "a", clock)
	b := newTestNode(t, h, "b", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	share(t, a, b, info.ID, "write")
	tb := openTab(t, a, info.ID, "1")
	tp, da := docTopic(t, a, id)
	const agents, each = 4, 3000
	names := make([]string, agents)
	for i := range names {
		names[i] = fmt.Sprintf("%s.%d", b.m.opts.Agent, i)
	}
	for seq := uint64(1); seq <= each; seq++ {
		for _, ag := range names {
			tp.deliver("b", presenceFrom(t, b, da, ag, seq))
		}
	}
	if r := tp.rejectedByReason(); len(r) != 0 {
		t.Fatalf("presence rejected: %v", r)
	}
	latest := func() map[string]uint64 {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		out := map[string]uint64{}
		for _, p := range tb.pres {
			out[p.Agent] = max(out[p.Agent], p.Seq)
		}
		return out
	}
	waitFor(t, "the tab to get every agent's latest cursor", func() bool {
		l := latest()
		for _, ag := range names {
			if l[ag] != each {
				return false
			}
		}
		return true
	})
	tb.mu.Lock()
	got, fail := len(tb.pres), tb.fail
	tb.mu.Unlock()
	if fail != "" || da.tabs.Load() != 1 {
		t.Fatalf("the tab was detached (%d tabs) or failed (%q)", da.tabs.Load(), fail)
	}
	if got >= agents*each {
		t.Fatalf("the tab got %d presence messages for %d sent: not coalesced", got, agents*each)
	}
	t.Logf("%d presence messages sent, %d reached the tab", agents*each, got)
}

// Presence over an agent's rate is dropped at the validator, without
// blame; what passes is within the burst plus the rate.
func TestPresenceIsRateLimited(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	start := time.Now()
	var elapsed atomic.Int64 // time stands still unless moved
	a := newTestNode(t, h, "a", func(o *Options) { o.Now = func() time.Time { return start.Add(time.Duration(elapsed.Load())) } })
	b := newTestNode(t, h, "b", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	id, _ := store.ParseDocID(info.ID)
	share(t, a, b, info.ID, "write")
	tp, da := docTopic(t, a, id)
	const n = 200
	for seq := uint64(1); seq <= n; seq++ {
		tp.deliver("b", presenceFrom(t, b, da, b.m.opts.Agent, seq))
	}
	if got, want := tp.ignoredByReason(), map[string]int{vocab.ReasonQuota: n - presenceBurst}; !mapsEqual(got, want) {
		t.Fatalf("ignored %v; want %v (a burst of %d passes)", got, want, presenceBurst)
	}
	// An old record (a lower seq) is no news: ignored too.
	elapsed.Store(int64(time.Second))
	tp.deliver("b", presenceFrom(t, b, da, b.m.opts.Agent, 1))
	if got := tp.ignoredByReason()[vocab.ReasonDuplicate]; got != 1 {
		t.Fatalf("a stale presence record: %d ignored as duplicates, want 1", got)
	}
	// Fresh agents do not lift the publishing peer's own bound.
	elapsed.Store(int64(time.Hour))
	before := tp.ignoredByReason()[vocab.ReasonQuota]
	for i := range n {
		tp.deliver("b", presenceFrom(t, b, da, fmt.Sprintf("%s.%d", b.m.opts.Agent, i), 1))
	}
	if got := tp.ignoredByReason()[vocab.ReasonQuota] - before; got != n-peerPresenceBurst {
		t.Fatalf("%d agents of one peer: %d ignored, want %d (the peer's burst of %d passes)", n, got, n-peerPresenceBurst, peerPresenceBurst)
	}
}

// A relay joins no topic at start; it joins a hosted document's topic when
// a peer subscribes to it, keeps acknowledging and taking live edits, and
// leaves the topic once it has had no peer for TopicIdle.
func TestRelayJoinsTopicsLazily(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	relayOpts := func(o *Options) {
		o.Host = HostPolicy{All: true}
		o.AckDurable = true
		o.TopicIdle = 200 * time.Millisecond
		o.HostMaxDocs = 1
		o.HostMaxDocsPerMember = 1
	}
	relay := newTestNode(t, h, "relay", relayOpts)
	a := newTestNode(t, h, "a", func(o *Options) { o.Relays = []string{"relay"} })
	info, _ := a.m.CreateDoc(ctx, "kept")
	edit(t, a, info.ID, api.Edit{Ins: "one"})
	if err := a.m.Host(ctx, info.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err != nil {
		t.Fatal(err)
	}
	agentA := a.m.opts.Agent
	waitFor(t, "the relay to host the document", func() bool {
		st, err := relay.m.DocStatus(ctx, info.ID)
		return err == nil && st.Version[agentA] > 0
	})

	// Restarted, the relay holds the document and joins nothing.
	h.disconnect(a.net, relay.net)
	relay.stop(t)
	relay = startTestNode(t, h, "relay", relay.mem, relayOpts)
	if l, _ := relay.m.ListDocs(ctx); len(l) != 1 {
		t.Fatalf("the restarted relay holds %d documents, want 1", len(l))
	}
	if now, joins := relay.net.subscriptions(); now != 0 || joins != 0 {
		t.Fatalf("the relay joined %d topics at start (%d now); want none", joins, now)
	}
	relay.m.mu.Lock()
	built, held := len(relay.m.docs), len(relay.m.held)
	relay.m.mu.Unlock()
	if built != 0 || held != 1 {
		t.Fatalf("the relay built %d documents' state at start and holds %d for later; want 0 and 1", built, held)
	}
	// The quotas count what is held, built or not.
	other, _ := a.m.CreateDoc(ctx, "one too many")
	h.connect(a.net, relay.net)
	if err := a.m.Host(ctx, other.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err == nil {
		t.Fatal("the relay took a document over its quota")
	}
	if l, _ := relay.m.ListDocs(ctx); len(l) != 1 || relay.m.Stats().Rejected[vocab.ReasonQuota] == 0 {
		t.Fatalf("the relay holds %d documents (want 1) and refused %v", len(l), relay.m.Stats().Rejected)
	}
	h.disconnect(a.net, relay.net)
	// a comes: its subscription makes the relay join.
	h.connect(a.net, relay.net)
	waitFor(t, "the relay to join the topic a is in", func() bool { now, _ := relay.net.subscriptions(); return now == 1 })
	edit(t, a, info.ID, api.Edit{Pos: 3, Ins: " two"})
	waitFor(t, "a live edit to reach the relay and its acknowledgement to come back", func() bool {
		rs, err := relay.m.DocStatus(ctx, info.ID)
		if err != nil {
			return false
		}
		as, err := a.m.DocStatus(ctx, info.ID)
		return err == nil && rs.Version[agentA] == as.Version[agentA] && as.RelayAcked[agentA] == as.Version[agentA]
	})
	// a goes: the relay leaves the quiet topic, and joins again when a
	// comes back.
	h.disconnect(a.net, relay.net)
	waitFor(t, "the relay to leave the quiet topic", func() bool { now, _ := relay.net.subscriptions(); return now == 0 })
	h.connect(a.net, relay.net)
	waitFor(t, "the relay to join again", func() bool { now, joins := relay.net.subscriptions(); return now == 1 && joins == 2 })
	// Should a's subscription go unheard, a's catch-up with the relay
	// makes it join.
	h.disconnect(a.net, relay.net)
	waitFor(t, "the relay to leave the quiet topic", func() bool { now, _ := relay.net.subscriptions(); return now == 0 })
	relay.net.mu.Lock()
	relay.net.want = nil
	relay.net.mu.Unlock()
	h.connect(a.net, relay.net)
	id, _ := store.ParseDocID(info.ID)
	if err := a.m.SyncWith(ctx, "relay", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to join after a catch-up", func() bool { now, joins := relay.net.subscriptions(); return now == 1 && joins == 3 })
}

// Gossip transactions that arrive ahead of their predecessors are taken
// from a peer up to a burst, then dropped at the validator as over a
// rate (Ignore: no blame; catch-up brings them), before the signature
// check and the driver.
func TestOrphanFloodIsCutOff(t *testing.T) {
	a, w, _, id := writerPair(t)

	tp, da := docTopic(t, a, id)
	dw, _ := w.m.doc(id)
	// w's key signs transactions far past what a holds: each would wait.
	c, _ := crdt.New(w.m.opts.Agent)
	var envs [][]byte
	const over = 50
	for i := range earlyBurst + over + 10 {
		txn, err := c.Insert(i, "x")
		if err != nil {
			t.Fatal(err)
		}
		if i < 10 {
			continue // a gap: the rest are ahead of their predecessors
		}
		payload, _ := crdt.EncodeTxn(txn)
		hd := member.Header{Doc: id, Header: wire.HeaderOf(txn)}
		hd.Prev[0] = 1 // names a header a has not got
		sealed, err := member.SealPayload(dw.mem.keys, crand.Reader, &hd, payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := hd.Sign(w.net.key); err != nil {
			t.Fatal(err)
		}
		e, err := member.NewEnvelope(&hd, sealed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := da.mem.route.Seal(da.topicName(), e.Raw)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, b)
	}
	// The clock stands still: no tokens come back during the flood.
	now := time.Now()
	a.m.opts.Now = func() time.Time { return now }
	// What the setup had refused already is not the flood's (seen: one
	// "capability" refusal counted before the flood in 4 runs of 20,
	// which failed this test on main; cause not traced).
	rejected0 := tp.rejectedByReason()
	for _, b := range envs {
		tp.deliver("w", b)
	}
	if got := tp.ignoredByReason()[vocab.ReasonQuota]; got < over {
		t.Fatalf("%d of %d transactions ahead of their predecessors dropped as over the rate; want at least %d (burst %d)", got, len(envs), over, earlyBurst)
	}
	r := tp.rejectedByReason()
	for reason, n := range rejected0 {
		if r[reason] -= n; r[reason] == 0 {
			delete(r, reason)
		}
	}
	if len(r) != 0 {
		t.Fatalf("transactions ahead of their predecessors were rejected (blamed): %v (before the flood: %v)", r, rejected0)
	}
}

// writerPair is a document a made and shared with writer w, connected, with
// w's first edit ("hi") taken by a.
func writerPair(t *testing.T) (a, w *testNode, info api.DocInfo, id store.DocID) {
	t.Helper()
	h := newHub()
	a = newTestNode(t, h, "a", nil)
	w = newTestNode(t, h, "w", nil)
	info, _ = a.m.CreateDoc(context.Background(), "")
	id, _ = store.ParseDocID(info.ID)
	share(t, a, w, info.ID, "write")
	// w writes before the two are connected, so a takes the edit by
	// catch-up alone: a gossip copy still in flight when this returns
	// would reach a's topic later, in the middle of a test's counts.
	edit(t, w, info.ID, api.Edit{Pos: 0, Ins: "hi"})
	h.connect(a.net, w.net)
	waitFor(t, "a to take w's edit", func() bool { return text(t, a, info.ID) == "hi" })
	return a, w, info, id
}
