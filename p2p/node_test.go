package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// The same IdentityFile gives the same peer ID across restarts; the file is
// private; a corrupt file is an error and is left untouched.
func TestIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "identity.key") // directory created on demand
	start := func() string {
		t.Helper()
		o := testOptions(t)
		o.IdentityFile = path
		n, err := New(context.Background(), o)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		id := n.ID()
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		return id
	}
	first := start()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("identity file mode %o, want 600", perm)
	}
	if second := start(); second != first {
		t.Fatalf("peer ID changed across restart: %s then %s", first, second)
	}
	other := startNode(t, nil)
	if other.ID() == first {
		t.Fatal("two identity files gave the same peer ID")
	}

	for name, content := range map[string][]byte{
		"garbage": []byte("not a key at all"),
		"empty":   {},
		"huge":    bytes.Repeat([]byte{1}, maxIdentityBytes+1),
	} {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "identity.key")
			if err := os.WriteFile(bad, content, 0o600); err != nil {
				t.Fatal(err)
			}
			o := testOptions(t)
			o.IdentityFile = bad
			n, err := New(context.Background(), o)
			if err == nil {
				n.Close()
				t.Fatal("New accepted a corrupt identity file")
			}
			if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("error %q should wrap ErrIdentity and name the file", err)
			}
			after, _ := os.ReadFile(bad)
			if !bytes.Equal(after, content) {
				t.Fatal("a corrupt identity file was overwritten")
			}
		})
	}
}

// Every invalid option is refused with ErrInvalidOptions naming the field.
func TestOptionsValidate(t *testing.T) {
	cases := map[string]func(*Options){
		"no identity":        func(o *Options) { o.IdentityFile = "" },
		"no listen":          func(o *Options) { o.Listen = nil },
		"bad listen":         func(o *Options) { o.Listen = []string{"/ip4/999.0.0.1/tcp/0"} },
		"bootstrap no p2p":   func(o *Options) { o.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001"} },
		"bootstrap garbage":  func(o *Options) { o.Bootstrap = []string{"hello"} },
		"mdns empty tag":     func(o *Options) { o.MDNS, o.MDNSTag = true, "" },
		"low above high":     func(o *Options) { o.ConnLow, o.ConnHigh = 50, 10 },
		"zero low":           func(o *Options) { o.ConnLow = 0 },
		"high over rcmgr":    func(o *Options) { o.ConnHigh = 10000 },
		"negative grace":     func(o *Options) { o.ConnGrace = -time.Second },
		"tiny memory":        func(o *Options) { o.ResourceMemory = 1 << 20 },
		"few fds":            func(o *Options) { o.ResourceFDs = 10 },
		"zero max message":   func(o *Options) { o.MaxMessageBytes = 0 },
		"huge max message":   func(o *Options) { o.MaxMessageBytes = 1 << 30 },
		"small gossip queue": func(o *Options) { o.GossipQueue = 1 },
		"small topic queue":  func(o *Options) { o.TopicQueue = 1 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t)
			mod(&o)
			n, err := New(context.Background(), o)
			if err == nil {
				n.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

// The documented resource limits are the ones in force, and they leave room
// above the connection manager's high watermark.
func TestResourceLimits(t *testing.T) {
	o := DefaultOptions()
	l := limits(&o)
	sys := l.ToPartialLimitConfig().System
	got := fmt.Sprintf("conns=%d in=%d out=%d streams=%d memory=%dMiB fd=%d",
		sys.Conns, sys.ConnsInbound, sys.ConnsOutbound, sys.Streams, int64(sys.Memory)>>20, sys.FD)
	const want = "conns=160 in=80 out=160 streams=2560 memory=384MiB fd=512" // as in doc.go
	if got != want {
		t.Fatalf("system limits %s, doc.go says %s", got, want)
	}
	if c := systemConns(&o); c < 3*o.ConnHigh/2 {
		t.Fatalf("resource manager allows %d connections, too close to ConnHigh %d", c, o.ConnHigh)
	}
}

// Notify reports a connect and a disconnect, once each.
func TestNotify(t *testing.T) {
	a := startNode(t, nil)
	var mu sync.Mutex
	var events []PeerEvent
	a.Notify(func(ev PeerEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	snapshot := func() []PeerEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]PeerEvent(nil), events...)
	}
	o := testOptions(t)
	b, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Connect(ctx, a.Addrs()[0]); err != nil {
		b.Close()
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a connect event", func() bool { return len(snapshot()) >= 1 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a disconnect event", func() bool { return len(snapshot()) >= 2 })
	want := []PeerEvent{{Peer: b.ID(), Connected: true}, {Peer: b.ID(), Connected: false}}
	if got := snapshot(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// Connect's argument checks.
func TestConnectErrors(t *testing.T) {
	a := startNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range []string{"", "garbage", "/ip4/127.0.0.1/tcp/1"} {
		if err := a.Connect(ctx, addr); !errors.Is(err, ErrBadPeer) {
			t.Fatalf("Connect(%q): %v, want ErrBadPeer", addr, err)
		}
	}
	if err := a.Connect(ctx, a.Addrs()[0]); !errors.Is(err, ErrBadPeer) {
		t.Fatalf("Connect to self: %v, want ErrBadPeer", err)
	}
}

// A bootstrap peer that drops the connection is redialled.
func TestBootstrapReconnects(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	var mu sync.Mutex
	ups := 0
	b.Notify(func(ev PeerEvent) {
		if ev.Peer == a.ID() && ev.Connected {
			mu.Lock()
			ups++
			mu.Unlock()
		}
	})
	waitFor(t, 15*time.Second, "B to dial its bootstrap peer A", func() bool {
		return connectedTo(b, a.ID()) && connectedTo(a, b.ID()) // A must see it too before it can drop it
	})
	if !b.cmgr.IsProtected(a.host.ID(), "weft-bootstrap") {
		t.Fatal("bootstrap peer is not protected from the connection manager")
	}
	mu.Lock()
	before := ups
	mu.Unlock()
	if err := a.host.Network().ClosePeer(b.host.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "B to redial A", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ups > before && connectedTo(b, a.ID())
	})
}

// A bootstrap peer that was away and comes back is redialled at the
// keeper's own pace, not refused by the swarm's dial backoff: every dial
// made while it was away failed, and the swarm would refuse to dial it
// again for 5 s after the last failure (longer after several), so a cut of
// seconds cost the reconnection 5–9 s more (the chaos harness's slow heals).
func TestBootstrapRedialIgnoresDialBackoff(t *testing.T) {
	idFile := filepath.Join(t.TempDir(), "a.key")
	a := startNode(t, func(o *Options) { o.IdentityFile = idFile })
	aID := a.host.ID()
	listen := a.host.Addrs()[0]
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B to dial its bootstrap peer A", func() bool { return connectedTo(b, a.ID()) })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Wait until B's dials of A have failed: the swarm holds A's address in
	// backoff.
	sw := b.host.Network().(*swarm.Swarm)
	waitFor(t, 15*time.Second, "B's dial of the stopped A to fail", func() bool { return sw.Backoff().Backoff(aID, listen) })
	failed := time.Now()
	startNode(t, func(o *Options) { o.IdentityFile = idFile; o.Listen = []string{listen.String()} })
	// The keeper redials within 2 s (its eager backoff, ±20%) of the
	// failure; the swarm alone would have refused until failed + 5 s.
	within := swarm.BackoffBase - 500*time.Millisecond
	waitFor(t, within, "B to redial A once it is back", func() bool { return connectedTo(b, a.ID()) })
	t.Logf("B reconnected %s after its dial of A failed", time.Since(failed).Round(time.Millisecond))
}

// A keeper waiting to redial a lost bootstrap peer dials at once when
// another peer connects: that connection says the network is back (after a
// cut, every keeper of a node waits out its own backoff, up to 2 s, and the
// first to get through should not leave the others waiting).
func TestBootstrapRedialWhenAnotherPeerConnects(t *testing.T) {
	idFile := filepath.Join(t.TempDir(), "a.key")
	a := startNode(t, func(o *Options) { o.IdentityFile = idFile })
	listen := a.host.Addrs()[0]
	waits := make(chan time.Duration, 64)
	b := startNode(t, func(o *Options) {
		bootstrapTo(a)(o)
		o.Logger = slog.New(retryLog{waits})
	})
	waitFor(t, 15*time.Second, "B to dial its bootstrap peer A", func() bool { return connectedTo(b, a.ID()) })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// B's keeper backs off 0.5, 1, 2 s (±20%); wait until it waits ≥ 1.5 s.
	var wait time.Duration
	deadline := time.After(20 * time.Second)
	for wait < 1500*time.Millisecond {
		select {
		case wait = <-waits:
		case <-deadline:
			t.Fatal("B's keeper never waited 1.5 s or more to redial A")
		}
	}
	waiting := time.Now()
	startNode(t, func(o *Options) { o.IdentityFile = idFile; o.Listen = []string{listen.String()} })
	c := startNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.host.Connect(ctx, peer.AddrInfo{ID: b.host.ID(), Addrs: b.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	connected := time.Now()
	waitFor(t, time.Second, "B to redial A at once when C connected", func() bool { return connectedTo(b, a.ID()) })
	t.Logf("B's keeper was to wait %s; it redialled A %s after C connected (%s into the wait)", wait.Round(time.Millisecond),
		time.Since(connected).Round(time.Millisecond), time.Since(waiting).Round(time.Millisecond))
}

// retryLog passes on the retry_in of every record logged.
type retryLog struct{ ch chan time.Duration }

func (retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (r retryLog) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "retry_in" && a.Value.Kind() == slog.KindDuration {
			select {
			case r.ch <- a.Value.Duration():
			default:
			}
		}
		return true
	})
	return nil
}
func (r retryLog) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r retryLog) WithGroup(string) slog.Handler      { return r }

// QUIC works on its own.
func TestQUIC(t *testing.T) {
	quicOnly := func(o *Options) { o.Listen = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} }
	a := startNode(t, quicOnly)
	b := startNode(t, func(o *Options) { quicOnly(o); bootstrapTo(a)(o) })
	waitFor(t, 15*time.Second, "B connected to A over QUIC", func() bool { return connectedTo(a, b.ID()) })
	for _, p := range b.Peers() {
		if p.ID == a.ID() && (len(p.Addrs) == 0 || !strings.Contains(p.Addrs[0], "/quic-v1")) {
			t.Fatalf("connection addrs %v are not QUIC", p.Addrs)
		}
	}
	a.Handle(echoProto, echo)
	s := openStream(t, b, a, echoProto)
	if err := s.WriteMsg([]byte("over quic")); err != nil {
		t.Fatal(err)
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if m, err := s.ReadMsg(); err != nil || string(m) != "over quic" {
		t.Fatalf("echo over QUIC: %q, %v", m, err)
	}
}

// exercise runs a small scenario on two fresh nodes with the DHT (and mDNS
// when a tag is given) on: connect, gossip, a stream, a DHT announcement;
// then closes them, returning their TCP and UDP listen ports.
func exercise(t *testing.T, mdnsTag string) []ma.Multiaddr {
	t.Helper()
	both := func(o *Options) {
		o.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
		o.DHT = true
		if mdnsTag != "" {
			o.MDNS, o.MDNSTag = true, mdnsTag
		}
	}
	oa := testOptions(t)
	both(&oa)
	a, err := New(context.Background(), oa)
	if err != nil {
		t.Fatal(err)
	}
	ob := testOptions(t)
	both(&ob)
	ob.Bootstrap = a.Addrs()
	b, err := New(context.Background(), ob)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	listen := append(a.host.Network().ListenAddresses(), b.host.Network().ListenAddresses()...)
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	ta, tb := joinBoth(t, a, b, "weft/doc/leak")
	if err := ta.Publish(context.Background(), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, tb, 10*time.Second); string(m.Data) != "hi" {
		t.Fatalf("got %q", m.Data)
	}
	a.Handle(echoProto, echo)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.Open(ctx, a.ID(), echoProto)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteMsg([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	waitFor(t, 20*time.Second, "a DHT announcement", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return b.Announce(ctx, "weft/doc/leak") == nil
	})
	// Close the node with joined topics and the stream handler in place:
	// Node.Close must leave topics itself.
	if err := b.Close(); err != nil {
		t.Fatalf("Close B: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close A: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.Join("weft/doc/after", acceptAll); !errors.Is(err, ErrClosed) {
		t.Fatalf("Join after Close: %v", err)
	}
	return listen
}

// Close releases the listen ports and leaves no goroutines behind. The first
// run warms up libp2p's process-wide goroutines; after the second, the count
// must come back to what it was between the two.
func TestCloseIsClean(t *testing.T) {
	tag := ""
	if hasMulticast() {
		tag = uniqueTag()
	}
	exercise(t, tag)
	base := runtime.NumGoroutine()
	listen := exercise(t, tag)
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after Close, %d before the run:\n%s", runtime.NumGoroutine(), base, buf)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling interval of the deadline loop
	}
	for _, a := range listen {
		network, addr, err := manet.DialArgs(a)
		if err != nil {
			continue // e.g. /p2p-circuit: no port of its own
		}
		switch {
		case strings.HasPrefix(network, "tcp"):
			l, err := net.Listen(network, addr)
			if err != nil {
				t.Fatalf("TCP port of %s still held after Close: %v", a, err)
			}
			l.Close()
		case strings.HasPrefix(network, "udp"):
			l, err := net.ListenPacket(network, addr)
			if err != nil {
				t.Fatalf("UDP port of %s still held after Close: %v", a, err)
			}
			l.Close()
		}
	}
}

// NAT traversal and the relay service start and stop cleanly, and a relay
// serves the circuit v2 hop protocol.
func TestRelayAndNATOptionsStart(t *testing.T) {
	relay := startNode(t, func(o *Options) { o.RelayService = true })
	const hop = "/libp2p/circuit/relay/0.2.0/hop"
	waitFor(t, 10*time.Second, "the relay to serve "+hop, func() bool {
		return slices.Contains(relay.host.Mux().Protocols(), hop)
	})
	n := startNode(t, func(o *Options) { o.NATTraversal = true; bootstrapTo(relay)(o) })
	waitFor(t, 15*time.Second, "the node to reach its bootstrap relay", func() bool { return connectedTo(n, relay.ID()) })
	plain := startNode(t, nil)
	if slices.Contains(plain.host.Mux().Protocols(), hop) {
		t.Fatal("a node without RelayService serves " + hop)
	}
}

// The defaults a daemon runs with start (TCP and QUIC on every interface,
// DHT, NAT traversal; mDNS under a test-unique tag) and close cleanly.
func TestDefaultOptionsStart(t *testing.T) {
	o := DefaultOptions()
	o.IdentityFile = filepath.Join(t.TempDir(), "identity.key")
	o.MDNSTag = uniqueTag()
	o.Logger = testLogger()
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
	var tcp, quic bool
	for _, a := range n.Addrs() {
		tcp = tcp || strings.Contains(a, "/tcp/")
		quic = quic || strings.Contains(a, "/quic-v1/")
		if !strings.HasSuffix(a, "/p2p/"+n.ID()) {
			t.Errorf("address %s does not end in /p2p/<id>", a)
		}
	}
	if !tcp || !quic {
		t.Errorf("addresses %v lack TCP or QUIC", n.Addrs())
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestPeerIDOf(t *testing.T) {
	const id = "12D3KooWBJQELosTmABWLTGXsGTWJaCr4yXhTzJaJhzZxWLVdrV5"
	got, err := PeerIDOf("/ip4/127.0.0.1/tcp/4001/p2p/" + id)
	if err != nil || got != id {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"", "/ip4/127.0.0.1/tcp/4001", "nonsense", "/p2p/notanid"} {
		if _, err := PeerIDOf(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A connection that closes before the swarm reports it reaches eventLoop as
// one "not connected" with no "connected" before it (the swarm reads the
// peer's state when it gets to the event). The keeper whose dial made that
// connection believes it connected, so it must be woken all the same; before
// this, it slept bootCheckEvery (30 s) with its bootstrap peer gone.
func TestLostBeforeReportedWakesKeeper(t *testing.T) {
	boot, other := peer.ID("boot"), peer.ID("other")
	kick := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		log: testLogger(), ctx: ctx, cancel: cancel,
		conns:    map[peer.ID]bool{},
		bootKick: map[peer.ID]chan struct{}{boot: kick},
		up:       make(chan struct{}),
	}
	events := make(chan any, 8)
	n.wg.Add(1)
	go n.eventLoop(fakeSub(events))
	t.Cleanup(func() { cancel(); n.wg.Wait() })

	woken := func(what string) {
		t.Helper()
		select {
		case <-kick:
		case <-time.After(10 * time.Second):
			t.Fatalf("the bootstrap keeper was not woken by %s", what)
		}
	}
	state := func(p peer.ID, c network.Connectedness) event.EvtPeerConnectednessChanged {
		return event.EvtPeerConnectednessChanged{Peer: p, Connectedness: c}
	}
	events <- state(boot, network.NotConnected)
	woken("a loss never reported as a connection")

	events <- state(boot, network.Connected)
	events <- state(boot, network.NotConnected)
	woken("a loss after a reported connection")

	// Other peers' losses wake no keeper: once the loop has handled the
	// bootstrap peer's next event, nothing else may be pending.
	events <- state(other, network.Connected)
	events <- state(other, network.NotConnected)
	events <- state(boot, network.Connected)
	waitFor(t, 10*time.Second, "the loop to handle the bootstrap peer's connection", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.conns[boot]
	})
	select {
	case <-kick:
		t.Fatal("another peer's loss woke the bootstrap keeper")
	default:
	}
}

// fakeSub is an event.Subscription delivering what is sent on ch.
type fakeSub chan any

func (s fakeSub) Out() <-chan any { return s }
func (fakeSub) Close() error      { return nil }
func (fakeSub) Name() string      { return "fake" }
