package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"weft/vocab"
)

// fakeClock drives a node's refusal counts (tests of decay).
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newFakeClock(n *Node) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	n.refusals.setClock(c.now)
	return c
}

func peerID(t testing.TB, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A message the validator ignores (a duplicate) is counted apart, neither
// delivered nor charged to anyone; GossipSub's score of an honest peer
// that sent only such messages stays at 0.
func TestGossipIgnoreIsNotBlame(t *testing.T) {
	old := scoreInspectEvery
	scoreInspectEvery = 50 * time.Millisecond
	t.Cleanup(func() { scoreInspectEvery = old })

	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	const topic = "weft/doc/ignore"
	ta := join(t, a, topic, acceptAll)
	tb := join(t, b, topic, func(_ string, data []byte) (any, error) {
		if strings.HasPrefix(string(data), "dup:") {
			return nil, vocab.Ignore(vocab.ReasonDuplicate, "%q is known", data)
		}
		return nil, nil
	})
	waitTopicPeers(t, ta, b.ID())
	const dups = 200 // beyond every threshold, were they charged
	for i := range dups {
		if err := ta.Publish(context.Background(), fmt.Appendf(nil, "dup:%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ta.Publish(context.Background(), []byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, tb, 15*time.Second); string(m.Data) != "fresh" {
		t.Fatalf("B delivered %q first; ignored messages must not be delivered", m.Data)
	}
	waitFor(t, 15*time.Second, "B to count the ignored messages", func() bool { return b.Ignored()[vocab.ReasonDuplicate] == dups })
	if got := b.Rejected(); len(got) != 0 {
		t.Fatalf("B rejected %v; ignored messages are not rejections", got)
	}
	if c := b.refusals.count(peerID(t, a.ID())); c != 0 {
		t.Fatalf("A's refusal count at B is %v after only duplicates; want 0", c)
	}
	waitFor(t, 15*time.Second, "B's peer score report", func() bool { return len(b.PeerScores()) == 1 })
	if s := b.PeerScores(); s[0] < 0 {
		t.Fatalf("B scores A at %v after duplicates only; an honest peer stays at 0", s[0])
	}
}

// A peer that sends only invalid messages is graylisted after a bounded
// number (101 when it is both author and deliverer: 20 free, then a score
// below -80):
// every RPC from it is then dropped unread, so the validator sees no more.
// Once its count has decayed it is heard again.
func TestInvalidSenderIsGraylistedThenRecovers(t *testing.T) {
	a := startNode(t, nil) // the attacker
	b := startNode(t, bootstrapTo(a))
	clock := newFakeClock(b)
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	const topic = "weft/doc/graylist"
	var validated atomic.Int64
	ta := join(t, a, topic, acceptAll)
	tb := join(t, b, topic, func(_ string, data []byte) (any, error) {
		validated.Add(1)
		if strings.HasPrefix(string(data), "bad:") {
			return nil, vocab.Reject("bad", "%q", data)
		}
		return nil, nil
	})
	waitTopicPeers(t, ta, b.ID())
	aID := peerID(t, a.ID())
	bound := int((refusalGrace-graylistThreshold)/refusalCost) + 1
	// One at a time, each waited for, so that the count is exact.
	for i := 1; i <= bound; i++ {
		if err := ta.Publish(context.Background(), fmt.Appendf(nil, "bad:%d", i)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, fmt.Sprintf("rejection %d", i), func() bool { return b.Rejected()["bad"] == uint64(i) })
	}
	if c := b.refusals.count(aID); c != float64(bound) {
		t.Fatalf("A's refusal count at B is %v after %d rejections, want %d", c, bound, bound)
	}
	// Graylisted: more invalid messages, then a valid one, are all dropped
	// before validation.
	for i := range 50 {
		if err := ta.Publish(context.Background(), fmt.Appendf(nil, "bad:more:%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ta.Publish(context.Background(), []byte("ok:while graylisted")); err != nil {
		t.Fatal(err)
	}
	// A barrier: subscriptions are read even from a graylisted peer, and
	// A's RPCs reach B in order, so once B sees A in this topic it has
	// dropped all of the above.
	const barrier = "weft/doc/graylist-barrier"
	tbar := join(t, b, barrier, acceptAll)
	join(t, a, barrier, acceptAll)
	waitTopicPeers(t, tbar, a.ID())
	if n := validated.Load(); n != int64(bound) {
		t.Fatalf("B's validator ran %d times; a graylisted peer's messages must not reach it after %d", n, bound)
	}
	// Recovery: an hour later the count has decayed away (12 half-lives).
	clock.advance(time.Hour)
	if c := b.refusals.count(aID); c != 0 {
		t.Fatalf("A's count an hour later is %v, want 0 (forgotten)", c)
	}
	// GossipSub's scores refresh each heartbeat (1 s); A's RPCs pass again.
	deadline := time.Now().Add(20 * time.Second)
	var got Message
	for {
		if err := ta.Publish(context.Background(), fmt.Appendf(nil, "ok:after:%d", time.Now().UnixNano())); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		m, err := tb.Next(ctx)
		cancel()
		if err == nil {
			got = m
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A still unheard 20 s after its count decayed: %v", err)
		}
	}
	if !strings.HasPrefix(string(got.Data), "ok:after:") {
		t.Fatalf("B delivered %q first; what A sent while graylisted must have been dropped", got.Data)
	}
	if n := b.Rejected()["bad"]; n != uint64(bound) {
		t.Fatalf("B rejected %d invalid messages; after %d the sender must be graylisted", n, bound)
	}
	t.Logf("graylisted after %d invalid messages; validator ran %d times in all", bound, validated.Load())
}

// Refusal counts: charged and decayed, a peer ID that does not parse is
// ignored, at most maxScoredPeers are kept and the smallest goes first.
func TestRefusalCounts(t *testing.T) {
	n := startNode(t, nil)
	clock := newFakeClock(n)
	other := startNode(t, nil)
	id := peerID(t, other.ID())
	n.Penalize(other.ID(), "test")
	n.Penalize(other.ID(), "test")
	n.Penalize("not a peer id", "test")
	if c := n.refusals.count(id); c != 2 {
		t.Fatalf("count %v after two Penalize calls, want 2", c)
	}
	if l := len(n.refusals.counts); l != 1 {
		t.Fatalf("%d counts kept; a bad peer ID must be ignored", l)
	}
	clock.advance(refusalHalfLife)
	if c := n.refusals.count(id); c < 0.999 || c > 1.001 {
		t.Fatalf("count %v after one half-life, want 1", c)
	}

	r := newRefusals()
	r.now = clock.now
	ids := make([]peer.ID, maxScoredPeers+1)
	for i := range ids {
		ids[i] = peer.ID(fmt.Sprintf("peer-%d", i))
		cost := 2.0
		if i == 7 {
			cost = 1 // the smallest
		}
		r.add(ids[i], cost)
	}
	if len(r.counts) != maxScoredPeers {
		t.Fatalf("%d counts kept, want at most %d", len(r.counts), maxScoredPeers)
	}
	if r.count(ids[7]) != 0 || r.count(ids[maxScoredPeers]) != 2 || r.count(ids[8]) != 2 {
		t.Fatal("a full map must drop the smallest count for the newcomer")
	}
}

// bareHost is a libp2p host without weft's limits or GossipSub.
func bareHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func connectHost(t *testing.T, h host.Host, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// A peer announcing 100,000 topics in its first RPC (as a relay does:
// GossipSub's hello lists every topic, unsplit) is tracked by the receiver
// in the joined and the wanted topic only; wanted() hears of the wanted
// one; want() is asked once per other topic (work in proportion to the
// RPC, and the RPC is not dropped whole). After joining the wanted topic
// the receiver exchanges messages with the peer.
func TestSubscriptionsTrackedForInterestOnly(t *testing.T) {
	v := startNode(t, nil)
	const joined, wanted = "weft/doc/joined", "weft/doc/wanted"
	var asked atomic.Int64
	var mu sync.Mutex
	heard := map[string]int{}
	v.SetInterest(func(topic string) bool {
		asked.Add(1)
		return topic == wanted
	}, func(topic string) {
		mu.Lock()
		heard[topic]++
		mu.Unlock()
	})
	join(t, v, joined, acceptAll)

	// The flooder: plain GossipSub on a plain host, in every topic
	// before it connects, so that its hello carries them all.
	h := bareHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign), pubsub.WithMessageIdFn(messageID))
	if err != nil {
		t.Fatal(err)
	}
	const total = 100_000
	start := time.Now()
	for i := range total - 2 {
		tp, err := ps.Join(fmt.Sprintf("t/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Relay(); err != nil {
			t.Fatal(err)
		}
	}
	var fsub *pubsub.Subscription
	for _, topic := range []string{joined, wanted} {
		tp, err := ps.Join(topic)
		if err != nil {
			t.Fatal(err)
		}
		if fsub, err = tp.Subscribe(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("flooder in %d topics after %v", total, time.Since(start))
	connectHost(t, h, v)
	start = time.Now()
	waitFor(t, 60*time.Second, "V to track the flooder in its joined topic", func() bool {
		return len(v.ps.ListPeers(joined)) == 1
	})
	t.Logf("V read the %d announcements in %v", total, time.Since(start))
	if got := v.ps.ListPeers(wanted); len(got) != 1 || got[0] != h.ID() {
		t.Fatalf("V tracks %v in the wanted topic, want the flooder", got)
	}
	for _, topic := range []string{"t/0", "t/12345", fmt.Sprintf("t/%d", total-3)} {
		if got := v.ps.ListPeers(topic); len(got) != 0 {
			t.Fatalf("V tracks %v in %s, a topic it neither joined nor wants", got, topic)
		}
	}
	if n := asked.Load(); n != total-1 {
		t.Fatalf("want() asked %d times, want %d (once per topic not joined)", n, total-1)
	}
	mu.Lock()
	if !maps.Equal(heard, map[string]int{wanted: 1}) {
		t.Fatalf("wanted() heard %v, want %s once", heard, wanted)
	}
	mu.Unlock()

	tv := join(t, v, wanted, acceptAll)
	if err := tv.Publish(context.Background(), []byte("to the flooder")); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer rcancel()
	m, err := fsub.Next(rctx)
	if err != nil || string(m.Data) != "to the flooder" {
		t.Fatalf("the flooder got %v, %v in the wanted topic after V joined", m, err)
	}
}

// Unit check of the filter: over-long names are dropped, unsubscriptions
// always pass, every valid name is tracked until SetInterest.
func TestInterestFilter(t *testing.T) {
	n := startNode(t, nil)
	f := (*interestFilter)(n)
	yes, no := true, false
	sub := func(topic string, on *bool) *pb.RPC_SubOpts { return &pb.RPC_SubOpts{Subscribe: on, Topicid: &topic} }
	long := strings.Repeat("x", maxTopicLen+1)
	got, err := f.FilterIncomingSubscriptions("", []*pb.RPC_SubOpts{sub("a", &yes), sub("b", &no), sub(long, &yes), sub("", &yes)})
	if err != nil || len(got) != 2 || got[0].GetTopicid() != "a" || got[1].GetTopicid() != "b" {
		t.Fatalf("before SetInterest: %v, %v; want a and b (every valid name)", got, err)
	}
	n.SetInterest(nil, nil)
	got, _ = f.FilterIncomingSubscriptions("", []*pb.RPC_SubOpts{sub("a", &yes), sub("b", &no)})
	if len(got) != 1 || got[0].GetTopicid() != "b" {
		t.Fatalf("with a nil want: %v; want only the unsubscription from b", got)
	}
	n.SetInterest(func(string) bool { return true }, nil)
	got, _ = f.FilterIncomingSubscriptions("", []*pb.RPC_SubOpts{sub("a", &yes), sub(long, &yes)})
	if len(got) != 1 || got[0].GetTopicid() != "a" {
		t.Fatalf("with want accepting all: %v; want a only (names over %d bytes never)", got, maxTopicLen)
	}
}

// A relay-like peer R is in a topic V wants but has not joined: V hears
// of it through wanted(), joins, and the two exchange messages both ways
// (V kept R's announcement, so flood publishing reaches R at once).
func TestWantedTopicThenJoin(t *testing.T) {
	r := startNode(t, nil)
	const topic, other = "weft/doc/lazy", "weft/doc/unwanted"
	tr := join(t, r, topic, acceptAll)
	join(t, r, other, acceptAll)
	v := startNode(t, nil)
	heard := make(chan string, 16)
	v.SetInterest(func(t string) bool { return t == topic }, func(t string) {
		select {
		case heard <- t:
		default:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := v.Connect(ctx, r.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-heard:
		if got != topic {
			t.Fatalf("wanted(%q), want %q", got, topic)
		}
	case <-ctx.Done():
		t.Fatal("wanted() never called for a wanted topic R is in")
	}
	if got := v.ps.ListPeers(other); len(got) != 0 {
		t.Fatalf("V tracks %v in a topic it does not want", got)
	}
	tv := join(t, v, topic, acceptAll)
	if got := tv.Peers(); len(got) != 1 || got[0] != r.ID() {
		t.Fatalf("V's topic peers right after joining: %v, want R (announced before)", got)
	}
	if err := tv.Publish(context.Background(), []byte("from V")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, tr, 15*time.Second); string(m.Data) != "from V" {
		t.Fatalf("R got %q", m.Data)
	}
	waitTopicPeers(t, tr, v.ID())
	if err := tr.Publish(context.Background(), []byte("from R")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, tv, 15*time.Second); string(m.Data) != "from R" {
		t.Fatalf("V got %q", m.Data)
	}
}

// A peer opening many streams of a weft protocol at once gets
// weftProtoPeerStreams of them; the rest are reset as they are
// negotiated. Another peer still gets through meanwhile.
func TestWeftProtocolStreamLimits(t *testing.T) {
	const proto = "/weft/test/1.0.0"
	s := startNode(t, nil)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.Handle(proto, func(_ string, st Stream) {
		if _, err := st.ReadMsg(); err != nil {
			return
		}
		if err := st.WriteMsg([]byte("ok")); err != nil {
			return
		}
		<-release
	})
	h := bareHost(t) // libp2p's default limits: its outbound side allows more
	connectHost(t, h, s)
	const tries = 3 * weftProtoPeerStreams
	var wg sync.WaitGroup
	var served, refused atomic.Int64
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			st, err := h.NewStream(ctx, s.host.ID(), protocol.ID(proto))
			if err != nil {
				refused.Add(1)
				return
			}
			_ = st.SetDeadline(time.Now().Add(15 * time.Second))
			if _, err := st.Write([]byte{2, 'h', 'i'}); err != nil {
				refused.Add(1)
				return
			}
			reply := make([]byte, 3)
			if _, err := io.ReadFull(st, reply); err != nil {
				refused.Add(1)
				return
			}
			if string(reply) == "\x02ok" {
				served.Add(1)
			}
		}()
	}
	wg.Wait()
	if served.Load() != weftProtoPeerStreams || refused.Load() != tries-weftProtoPeerStreams {
		t.Fatalf("%d streams served and %d refused of %d; want %d served", served.Load(), refused.Load(), tries, weftProtoPeerStreams)
	}
	c := startNode(t, bootstrapTo(s))
	waitFor(t, 15*time.Second, "C connected to S", func() bool { return connectedTo(s, c.ID()) })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := c.Open(ctx, s.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(15 * time.Second))
	if err := st.WriteMsg([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m, err := st.ReadMsg(); err != nil || string(m) != "ok" {
		t.Fatalf("another peer's stream: %q, %v; it must get through", m, err)
	}
	_ = st.Reset()
	if !weftProtocol("/weft/sync/2.0.0") || weftProtocol("/weft/kad/1.0.0") || weftProtocol("/ipfs/id/1.0.0") {
		t.Fatal("weftProtocol must cover weft's stream protocols, not the DHT's or libp2p's")
	}
}

// The circuit relay refuses every reservation until SetRelayFilter is
// called, then grants one to an allowed peer only.
func TestRelayFilter(t *testing.T) {
	relay := startNode(t, func(o *Options) { o.RelayService = true })
	const hop = "/libp2p/circuit/relay/0.2.0/hop"
	waitFor(t, 10*time.Second, "the relay to serve "+hop, func() bool {
		for _, p := range relay.host.Mux().Protocols() {
			if p == hop {
				return true
			}
		}
		return false
	})
	member := startNode(t, nil)
	stranger := startNode(t, nil)
	ai := peer.AddrInfo{ID: relay.host.ID(), Addrs: relay.host.Addrs()}
	reserve := func(n *Node) error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := n.host.Connect(ctx, ai); err != nil {
			t.Fatal(err)
		}
		_, err := client.Reserve(ctx, n.host, ai)
		return err
	}
	if err := reserve(member); err == nil {
		t.Fatal("reservation granted before SetRelayFilter; a relay must fail closed")
	}
	relay.SetRelayFilter(func(p string) bool { return p == member.ID() })
	if err := reserve(member); err != nil {
		t.Fatalf("an allowed peer's reservation: %v", err)
	}
	err := reserve(stranger)
	var re client.ReservationError
	if !errors.As(err, &re) {
		t.Fatalf("a filtered-out peer's reservation: %v, want a refusal", err)
	}
	if r, _ := relay.RelayStats(); r != 1 {
		t.Fatalf("relay holds %d reservations, want 1", r)
	}
	acl := relay.acl
	m, s := peerID(t, member.ID()), peerID(t, stranger.ID())
	if !acl.AllowConnect(m, nil, m) || acl.AllowConnect(s, nil, m) || acl.AllowConnect(m, nil, s) {
		t.Fatal("a relayed connection needs both ends allowed")
	}
}

// With interest set, a peer that announced a topic before this node
// joined it is learnt from its GRAFT: B joins after A, tracks A within a
// heartbeat, and its messages reach A.
func TestGraftImpliesSubscription(t *testing.T) {
	a := startNode(t, nil)
	const topic, barrier = "weft/doc/late", "weft/doc/late-barrier"
	ta := join(t, a, topic, acceptAll)
	join(t, a, barrier, acceptAll)
	b := startNode(t, nil)
	b.SetInterest(func(string) bool { return false }, nil)
	tbar := join(t, b, barrier, acceptAll)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	// A's first RPC lists both topics: once B tracks A in the barrier,
	// it has dropped A's announcement of topic.
	waitTopicPeers(t, tbar, a.ID())
	if got := b.ps.ListPeers(topic); len(got) != 0 {
		t.Fatalf("B tracks %v in a topic it neither joined nor wants", got)
	}
	tb := join(t, b, topic, acceptAll)
	waitTopicPeers(t, tb, a.ID())
	if err := tb.Publish(context.Background(), []byte("late joiner")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ta, 15*time.Second); string(m.Data) != "late joiner" {
		t.Fatalf("A got %q", m.Data)
	}
}
