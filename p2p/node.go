package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Node is one libp2p host with its GossipSub router, DHT and discovery.
// All methods are safe for concurrent use.
type Node struct {
	opts  Options
	log   *slog.Logger
	host  host.Host
	ps    *pubsub.PubSub
	dht   *dht.IpfsDHT // nil without Options.DHT
	mdns  mdns.Service // nil without Options.MDNS
	cmgr  *connmgr.BasicConnMgr
	boots []peer.AddrInfo
	relay *relayCounter // the circuit relay service's counts
	acl   *relayACL     // the circuit relay service's filter (SetRelayFilter)

	ctx    context.Context // cancelled by Close; bounds every background goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines

	mu       sync.Mutex
	closed   bool
	topics   map[string]*Topic
	notify   []func(PeerEvent)
	conns    map[peer.ID]bool          // last connectedness reported to Notify
	bootKick map[peer.ID]chan struct{} // wakes a bootstrap keeper on disconnect
	up       chan struct{}             // closed (and replaced) when any peer connects

	rejMu    sync.Mutex
	rejected map[string]uint64
	ignored  map[string]uint64

	refusals *refusals // the application score's counts
	bans     *banList  // peers refused every connection for a while
	scoreMu  sync.Mutex
	scores   []float64 // GossipSub's last report, sorted

	joinMu   sync.RWMutex
	joined   map[string]struct{}      // topics joined: their subscriptions are tracked
	interest atomic.Pointer[interest] // SetInterest's

	closeOnce sync.Once
	closeErr  error
}

// PeerInfo is a peer's ID and the multiaddrs we know for it (for connected
// peers: the remote addresses of the open connections).
type PeerInfo struct {
	ID    string
	Addrs []string
}

// PeerEvent reports that a peer became connected (at least one direct
// connection) or disconnected (none left).
type PeerEvent struct {
	Peer      string
	Connected bool
}

// Bootstrap keeper timing.
const (
	bootMinBackoff = 500 * time.Millisecond
	bootMaxBackoff = time.Minute
	// bootDialTimeout bounds one dial of a bootstrap peer: a dial made
	// while the network is cut waits out SYN retries (1, 3, 7, 15 s…), and
	// one started just before the network returns would hold the redial
	// for seconds after it; a new dial every few seconds sends a fresh SYN.
	bootDialTimeout = 3 * time.Second
	// bootEagerFor is how long after losing a bootstrap peer its redial
	// backoff stays at most bootEagerBackoff: a cut of seconds (a laptop
	// waking, Wi-Fi switching) should cost seconds, a long outage
	// backs off to bootMaxBackoff.
	bootEagerFor     = time.Minute
	bootEagerBackoff = 2 * time.Second
	bootCheckEvery   = 30 * time.Second
	// bootFreshAfter: a bootstrap dial running this long when another
	// peer connects is dialled afresh (freshDialOnUp).
	bootFreshAfter = 700 * time.Millisecond
	dialTimeout    = 15 * time.Second
)

// New starts a node: loads or creates the identity, listens, starts GossipSub,
// the DHT and mDNS as configured, and begins dialling the bootstrap peers in
// the background (New does not wait for them). ctx bounds only the start-up;
// the node runs until Close.
func New(ctx context.Context, opts Options) (*Node, error) {
	p, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if sys := systemConns(&opts); opts.ConnHigh >= sys {
		return nil, fmt.Errorf("%w: ConnHigh %d must stay below the resource manager's %d connections (raise ResourceMemory)", ErrInvalidOptions, opts.ConnHigh, sys)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key, err := loadIdentity(opts.IdentityFile)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(opts.ConnLow, opts.ConnHigh, connmgr.WithGracePeriod(opts.ConnGrace))
	if err != nil {
		return nil, fmt.Errorf("p2p: connection manager: %w", err)
	}
	rm, err := newResourceManager(&opts)
	if err != nil {
		cm.Close()
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	bans := newBanList()
	lopts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(p.listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.DefaultMuxers, // yamux
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater(bans),
		libp2p.UserAgent("weft"),
		libp2p.Ping(true),
		libp2p.DisableMetrics(),
	}
	if opts.NATTraversal {
		lopts = append(lopts, libp2p.NATPortMap(), libp2p.EnableHolePunching(), libp2p.EnableAutoNATv2())
		if len(p.bootstrap) > 0 {
			lopts = append(lopts, libp2p.EnableAutoRelayWithStaticRelays(p.bootstrap))
		}
	}
	relayStats, acl := &relayCounter{}, &relayACL{}
	if opts.RelayService {
		// A relay is deployed on a public address; libp2p starts the relay
		// service only once it believes it is publicly reachable, which
		// AutoNAT may never confirm when the relay is the only server
		// around. So the relay says it is.
		lopts = append(lopts, libp2p.EnableRelayService(relayv2.WithResources(relayResources()), relayv2.WithMetricsTracer(relayStats), relayv2.WithACL(acl)),
			libp2p.EnableNATService(), libp2p.ForceReachabilityPublic())
	}
	h, err := libp2p.New(lopts...)
	if err != nil {
		// libp2p.New closes what it built when it fails, except what we passed in.
		rm.Close()
		cm.Close()
		return nil, fmt.Errorf("p2p: start libp2p host: %w", err)
	}

	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		relay:    relayStats,
		acl:      acl,
		opts:     opts,
		log:      opts.Logger,
		host:     h,
		cmgr:     cm,
		boots:    p.bootstrap,
		ctx:      nctx,
		cancel:   cancel,
		topics:   map[string]*Topic{},
		conns:    map[peer.ID]bool{},
		bootKick: map[peer.ID]chan struct{}{},
		up:       make(chan struct{}),
		rejected: map[string]uint64{},
		ignored:  map[string]uint64{},
		refusals: newRefusals(),
		bans:     bans,
		joined:   map[string]struct{}{},
	}
	bans.mu.Lock()
	bans.onBlock = func(id peer.ID) {
		n.log.Warn("peer banned: it delivered forged gossip", "peer", id, "for", banFor)
		go func() { _ = h.Network().ClosePeer(id) }()
	}
	bans.mu.Unlock()
	fail := func(err error) (*Node, error) {
		_ = n.Close()
		return nil, err
	}

	// Subscribe to connectedness before anything can connect, so that
	// Notify and the bootstrap keepers miss nothing.
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(eventBufSize))
	if err != nil {
		return fail(fmt.Errorf("p2p: subscribe to peer events: %w", err))
	}
	n.wg.Add(1)
	go n.eventLoop(sub)

	n.ps, err = newPubSub(nctx, h, n)
	if err != nil {
		return fail(fmt.Errorf("p2p: start gossipsub: %w", err))
	}
	if opts.DHT {
		mode := dht.ModeAutoServer
		if opts.DHTServer {
			mode = dht.ModeServer
		}
		n.dht, err = dht.New(h, dht.ProtocolPrefix(dhtPrefix), dht.Mode(mode))
		if err != nil {
			return fail(fmt.Errorf("p2p: start DHT: %w", err))
		}
	}
	for _, ai := range p.bootstrap {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, permanentAddrTTL)
		cm.Protect(ai.ID, "weft-bootstrap")
		kick := make(chan struct{}, 1)
		n.bootKick[ai.ID] = kick
		n.wg.Add(1)
		go n.keepBootstrap(ai, kick)
	}
	n.wg.Add(1)
	go n.liveness()
	if opts.MDNS {
		n.mdns = mdns.NewMdnsService(h, opts.MDNSTag, (*mdnsNotifee)(n))
		if err := n.mdns.Start(); err != nil {
			return fail(fmt.Errorf("p2p: start mDNS: %w", err))
		}
	}
	n.log.Info("p2p node started", "peer", n.ID(), "addrs", n.Addrs(),
		"mdns", opts.MDNS, "dht", opts.DHT, "bootstrap", len(p.bootstrap))
	return n, nil
}

// eventBufSize is the event-bus buffer for connectedness changes; the loop
// that drains it only updates maps and calls non-blocking callbacks.
const eventBufSize = 256

// permanentAddrTTL keeps bootstrap addresses for the node's lifetime.
const permanentAddrTTL = 100 * 365 * 24 * time.Hour

// ID returns this node's peer ID.
func (n *Node) ID() string { return n.host.ID().String() }

// Addrs returns the node's listen addresses as full multiaddrs ending in
// /p2p/<id>, suitable for another node's Bootstrap or Connect.
func (n *Node) Addrs() []string {
	ai := peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
	full, err := peer.AddrInfoToP2pAddrs(&ai)
	if err != nil {
		return nil
	}
	out := make([]string, len(full))
	for i, a := range full {
		out[i] = a.String()
	}
	return out
}

// Peers returns the connected peers and the remote addresses of their
// connections.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, id := range n.host.Network().Peers() {
		pi := PeerInfo{ID: id.String()}
		for _, c := range n.host.Network().ConnsToPeer(id) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
		}
		out = append(out, pi)
	}
	return out
}

// Connect dials addr, a multiaddr ending in /p2p/<peer id>, and returns once
// connected (or ctx ends).
func (n *Node) Connect(ctx context.Context, addr string) error {
	ai, err := parsePeerAddr(addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadPeer, err)
	}
	if n.isClosed() {
		return ErrClosed
	}
	if ai.ID == n.host.ID() {
		return fmt.Errorf("%w: %s is this node", ErrBadPeer, ai.ID)
	}
	if err := n.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("p2p: connect %s: %w", ai.ID, err)
	}
	return nil
}

// Notify registers f to be called on every peer connect and disconnect, from
// one goroutine, in order. f must not block: hand work to another goroutine.
func (n *Node) Notify(f func(ev PeerEvent)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notify = append(n.notify, f)
}

// eventLoop turns libp2p's connectedness events into PeerEvents (reported
// only when the connected/disconnected state flips) and wakes the bootstrap
// keeper of a lost bootstrap peer.
func (n *Node) eventLoop(sub event.Subscription) {
	defer n.wg.Done()
	defer sub.Close()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev := e.(event.EvtPeerConnectednessChanged)
			connected := ev.Connectedness == network.Connected
			n.mu.Lock()
			// Every loss wakes the peer's keeper, also one that flips
			// nothing reported: a connection that closes before the swarm
			// reports it comes as one "not connected" with no "connected"
			// before it, and a keeper whose dial just made it would wait
			// bootCheckEvery to notice it gone.
			if !connected {
				kickKeeper(n.bootKick[ev.Peer])
			}
			if n.conns[ev.Peer] == connected {
				n.mu.Unlock()
				continue
			}
			if connected {
				n.conns[ev.Peer] = true
				close(n.up) // the keepers of lost bootstrap peers try again (keepBootstrap)
				n.up = make(chan struct{})
			} else {
				delete(n.conns, ev.Peer)
			}
			fs := slices.Clone(n.notify)
			n.mu.Unlock()
			n.log.Debug("peer connectedness", "peer", ev.Peer, "connected", connected)
			pe := PeerEvent{Peer: ev.Peer.String(), Connected: connected}
			for _, f := range fs {
				f(pe)
			}
		}
	}
}

// kickKeeper wakes the bootstrap keeper listening on kick (nil: the peer
// is no bootstrap peer); a wake already pending is enough.
func kickKeeper(kick chan struct{}) {
	if kick == nil {
		return
	}
	select {
	case kick <- struct{}{}:
	default:
	}
}

// keepBootstrap keeps one bootstrap peer connected: it dials at start, waits
// for a disconnect (or checks every bootCheckEvery), and redials with
// exponential backoff and jitter while dialling fails.
func (n *Node) keepBootstrap(ai peer.AddrInfo, kick <-chan struct{}) {
	defer n.wg.Done()
	backoff := bootMinBackoff
	var lost time.Time // when the peer was found missing (zero: connected)
	for {
		if n.host.Network().Connectedness(ai.ID) != network.Connected {
			if lost.IsZero() {
				lost = time.Now()
			}
			n.forgetDialBackoff(ai.ID)
			eager := time.Since(lost) < bootEagerFor
			up := n.upSignal()
			began := time.Now()
			ctx, cancel := context.WithTimeout(n.ctx, bootDialTimeout)
			var fresh atomic.Bool
			stop := func() {}
			if eager {
				stop = n.freshDialOnUp(up, began, cancel, &fresh)
			}
			err := n.host.Connect(ctx, ai)
			stop()
			cancel()
			if n.ctx.Err() != nil {
				return
			}
			if err != nil && fresh.Load() {
				n.log.Debug("another peer connected while a bootstrap dial waited: dialling afresh", "peer", ai.ID)
				continue
			}
			if err != nil {
				wait := jitter(backoff)
				n.log.Warn("bootstrap peer unreachable", "peer", ai.ID, "err", err, "retry_in", wait)
				t := time.NewTimer(wait)
				var upC <-chan struct{}
				if eager {
					upC = n.upSignal()
				}
				select {
				case <-n.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				case <-upC:
					// Another peer connected: the network is likely back.
					// Dial now, but no sooner than bootMinBackoff after the
					// last dial began however many peers connect.
					t.Stop()
					if !sleepCtx(n.ctx, time.Until(began.Add(bootMinBackoff))) {
						return
					}
					n.log.Debug("another peer connected: redialling a lost bootstrap peer now", "peer", ai.ID)
				}
				backoff = min(2*backoff, bootMaxBackoff)
				if time.Since(lost) < bootEagerFor {
					backoff = min(backoff, bootEagerBackoff)
				}
				continue
			}
			n.log.Info("connected to bootstrap peer", "peer", ai.ID)
		}
		backoff, lost = bootMinBackoff, time.Time{}
		t := time.NewTimer(bootCheckEvery)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// upSignal is closed when the next peer connects.
func (n *Node) upSignal() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// freshDialOnUp cancels a bootstrap dial that has run for bootFreshAfter
// when another peer connects (up closes), setting fresh: such a dial is
// most likely waiting out a SYN retry of the network cut (the next is 1,
// then 2 s away), and the peer that just connected says the network is
// back — a new dial sends a new SYN at once. stop ends the watch.
func (n *Node) freshDialOnUp(up <-chan struct{}, began time.Time, cancel context.CancelFunc, fresh *atomic.Bool) (stop func()) {
	done := make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-done:
			return
		case <-n.ctx.Done():
			return
		case <-up:
		}
		if !sleepCtx(n.ctx, time.Until(began.Add(bootFreshAfter))) {
			return
		}
		select {
		case <-done:
		default:
			fresh.Store(true)
			cancel()
		}
	}()
	return func() { close(done) }
}

// sleepCtx sleeps d (nothing if d <= 0); false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// forgetDialBackoff clears the swarm's dial backoff for p before
// keepBootstrap dials it. The swarm refuses to dial an address for 5 s
// after a dial of it failed (5 s + tries² s after repeated failures, up to
// 5 minutes) and answers "dial backoff" at once; keepBootstrap paces its
// own redials (bootMinBackoff… above), so the swarm's backoff only delays
// the reconnection after a network cut: every dial during the cut failed,
// and the first ones after it were refused for up to 9 s (the chaos
// harness: heals waiting 5–7 s on it).
func (n *Node) forgetDialBackoff(p peer.ID) {
	if s, ok := n.host.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		s.Backoff().Clear(p)
	}
}

// mdnsNotifee connects to the peers mDNS finds.
type mdnsNotifee Node

func (m *mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := (*Node)(m)
	if ai.ID == n.host.ID() {
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()
	if n.host.Network().Connectedness(ai.ID) == network.Connected {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, dialTimeout)
	defer cancel()
	if err := n.host.Connect(ctx, ai); err != nil {
		n.log.Debug("mDNS peer unreachable", "peer", ai.ID, "err", err)
		return
	}
	n.log.Info("connected to mDNS peer", "peer", ai.ID)
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// Close leaves every topic, stops discovery, the DHT and the background
// goroutines, and closes the host (its listeners and connections). It waits
// for all of it; calling it again returns the first result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		topics := make([]*Topic, 0, len(n.topics))
		for _, t := range n.topics {
			topics = append(topics, t)
		}
		n.mu.Unlock()

		var errs []error
		for _, t := range topics {
			if err := t.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if n.mdns != nil {
			if err := n.mdns.Close(); err != nil {
				errs = append(errs, fmt.Errorf("mDNS: %w", err))
			}
		}
		if n.dht != nil {
			if err := n.dht.Close(); err != nil {
				errs = append(errs, fmt.Errorf("DHT: %w", err))
			}
		}
		n.cancel()
		n.wg.Wait()
		if err := n.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("host: %w", err))
		}
		if len(errs) > 0 {
			n.closeErr = fmt.Errorf("p2p: close: %w", errors.Join(errs...))
		}
		n.log.Info("p2p node closed", "peer", n.host.ID())
	})
	return n.closeErr
}

// toStrings renders multiaddrs.
func toStrings(as []ma.Multiaddr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

// jitter spreads d by ±20% so that many nodes losing one relay do not redial
// it in lockstep.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
