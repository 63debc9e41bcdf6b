package p2p

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Options configure a Node. Start from DefaultOptions and set IdentityFile.
type Options struct {
	// IdentityFile is the path of the persisted Ed25519 private key (libp2p's
	// protobuf key encoding). It is created with mode 0600 when missing; an
	// existing file that does not hold a valid key is an error (never
	// overwritten). Required; no default.
	IdentityFile string

	// Listen lists the multiaddrs to listen on. Default: TCP and QUIC on every
	// IPv4 and IPv6 interface with a system-chosen port
	// (/ip4/0.0.0.0/tcp/0, /ip4/0.0.0.0/udp/0/quic-v1, /ip6/::/tcp/0,
	// /ip6/::/udp/0/quic-v1). Starting fails only if none can be listened on.
	Listen []string

	// Bootstrap lists peers to dial at start and keep connected: each a
	// multiaddr ending in /p2p/<peer id>. They are protected from the
	// connection manager and redialled with backoff when lost. With
	// NATTraversal they are also the static relays for AutoRelay. Default: none.
	Bootstrap []string

	// MDNS announces this node on the LAN with multicast DNS and connects to
	// the weft peers it finds there. Default: true.
	MDNS bool

	// MDNSTag is the mDNS service name; only nodes with the same tag find
	// each other. Default: "weft". (Tests use unique tags so that
	// concurrently running clusters on one machine stay apart.)
	MDNSTag string

	// DHT runs the Kademlia DHT (protocol prefix "/weft", so it never joins
	// the public IPFS DHT) used by Announce and FindPeers. Default: true.
	DHT bool

	// DHTServer makes this node answer DHT queries even when it believes it
	// is not publicly reachable. Default: false, which means "auto server":
	// serve while reachability is unknown (a LAN of daemons keeps a working
	// DHT) and become a client once AutoNAT says the node is private. The
	// relay sets true.
	DHTServer bool

	// ConnLow and ConnHigh are the connection manager's watermarks: above
	// ConnHigh connections the least useful unprotected peers are trimmed
	// down to ConnLow. Defaults: 32 and 96 — a desktop editor talks to a
	// handful of collaborators plus DHT neighbours, and trimming must never
	// reach the bootstrap relay (protected) or topic mesh peers (tagged by
	// GossipSub).
	ConnLow, ConnHigh int

	// ConnGrace is how long a new connection is exempt from trimming.
	// Default: 1 minute.
	ConnGrace time.Duration

	// ResourceMemory and ResourceFDs scale libp2p's resource manager limits
	// (rcmgr.DefaultLimits plus libp2p's service limits, scaled with
	// ScalingLimitConfig.Scale). Defaults: 256 MiB and 512 file descriptors.
	// See doc.go for the resulting numbers. The relay may raise both.
	ResourceMemory int64
	ResourceFDs    int

	// MaxMessageBytes bounds a gossip message's data and a stream frame.
	// Default: 4 MiB. At most 64 MiB.
	MaxMessageBytes int

	// GossipQueue is the capacity, in messages, of each peer's outbound
	// GossipSub queue, of the validation queue, and of each topic's receive
	// buffer. A message that finds its queue full is dropped by GossipSub, so
	// this is sized for a burst: default 16384 (a 5,000-transaction burst
	// fits three times).
	GossipQueue int

	// TopicQueue is the capacity, in messages, of each joined topic's
	// receive buffer (0: GossipQueue). GossipSub allocates it whole when the
	// topic is joined (8 bytes a message: 128 KiB at 16384), so a node that
	// joins many topics — a relay — holds it for each: 200 topics held
	// 24 MiB at the default. A relay sets 1024 (8 KiB a topic); a message
	// that finds the buffer full is dropped, and catch-up repairs.
	TopicQueue int

	// NATTraversal enables UPnP/NAT-PMP port mapping, AutoNAT v2, hole
	// punching (DCUtR) and, when Bootstrap peers are given, AutoRelay with
	// them as static relays. Default: true. Tests on loopback turn it off.
	NATTraversal bool

	// RelayService makes this node a circuit relay v2 for others and
	// answers AutoNAT dial-back requests. It also declares the node publicly
	// reachable (libp2p would otherwise wait for AutoNAT to confirm that
	// before relaying), so set it only on a node with a public address.
	// Default: false; the relay sets true.
	RelayService bool

	// Logger receives the node's logs. Default: a logger that discards.
	Logger *slog.Logger
}

// Defaults, named so doc.go and tests can refer to them.
const (
	defaultMaxMessageBytes = 4 << 20
	maxMaxMessageBytes     = 64 << 20
	defaultGossipQueue     = 16384
	defaultMDNSTag         = "weft"
	maxTopicLen            = 256
	maxProtocolLen         = 256
)

// DefaultOptions returns the defaults documented on each Options field.
// IdentityFile is left empty: the caller must set it.
func DefaultOptions() Options {
	return Options{
		Listen: []string{
			"/ip4/0.0.0.0/tcp/0",
			"/ip4/0.0.0.0/udp/0/quic-v1",
			"/ip6/::/tcp/0",
			"/ip6/::/udp/0/quic-v1",
		},
		MDNS:            true,
		MDNSTag:         defaultMDNSTag,
		DHT:             true,
		ConnLow:         32,
		ConnHigh:        96,
		ConnGrace:       time.Minute,
		ResourceMemory:  256 << 20,
		ResourceFDs:     512,
		MaxMessageBytes: defaultMaxMessageBytes,
		GossipQueue:     defaultGossipQueue,
		NATTraversal:    true,
	}
}

// parsed holds what validate derived from the options.
type parsed struct {
	listen    []ma.Multiaddr
	bootstrap []peer.AddrInfo
}

// validate checks every field and parses the addresses. It names the field
// and the value that is wrong.
func (o *Options) validate() (parsed, error) {
	var p parsed
	if o.IdentityFile == "" {
		return p, fmt.Errorf("%w: IdentityFile is required", ErrInvalidOptions)
	}
	if len(o.Listen) == 0 {
		return p, fmt.Errorf("%w: Listen is empty", ErrInvalidOptions)
	}
	for _, s := range o.Listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return p, fmt.Errorf("%w: listen address %q: %v", ErrInvalidOptions, s, err)
		}
		p.listen = append(p.listen, a)
	}
	seen := map[peer.ID]bool{}
	for _, s := range o.Bootstrap {
		ai, err := parsePeerAddr(s)
		if err != nil {
			return p, fmt.Errorf("%w: bootstrap address: %w", ErrInvalidOptions, err)
		}
		if seen[ai.ID] {
			// Two addresses of one peer: merge them.
			for i := range p.bootstrap {
				if p.bootstrap[i].ID == ai.ID {
					p.bootstrap[i].Addrs = append(p.bootstrap[i].Addrs, ai.Addrs...)
				}
			}
			continue
		}
		seen[ai.ID] = true
		p.bootstrap = append(p.bootstrap, ai)
	}
	if o.MDNS && o.MDNSTag == "" {
		return p, fmt.Errorf("%w: MDNSTag is empty while MDNS is on", ErrInvalidOptions)
	}
	if o.ConnLow < 1 || o.ConnHigh < o.ConnLow {
		return p, fmt.Errorf("%w: connection watermarks low=%d high=%d (need 1 <= low <= high)", ErrInvalidOptions, o.ConnLow, o.ConnHigh)
	}
	if o.ConnGrace < 0 {
		return p, fmt.Errorf("%w: ConnGrace %v is negative", ErrInvalidOptions, o.ConnGrace)
	}
	if o.ResourceMemory < 64<<20 {
		return p, fmt.Errorf("%w: ResourceMemory %d is below 64 MiB", ErrInvalidOptions, o.ResourceMemory)
	}
	if o.ResourceFDs < 64 {
		return p, fmt.Errorf("%w: ResourceFDs %d is below 64", ErrInvalidOptions, o.ResourceFDs)
	}
	if o.MaxMessageBytes < 1 || o.MaxMessageBytes > maxMaxMessageBytes {
		return p, fmt.Errorf("%w: MaxMessageBytes %d (need 1..%d)", ErrInvalidOptions, o.MaxMessageBytes, maxMaxMessageBytes)
	}
	if o.GossipQueue < 32 || o.GossipQueue > 1<<20 {
		return p, fmt.Errorf("%w: GossipQueue %d (need 32..%d)", ErrInvalidOptions, o.GossipQueue, 1<<20)
	}
	if o.TopicQueue != 0 && (o.TopicQueue < 32 || o.TopicQueue > 1<<20) {
		return p, fmt.Errorf("%w: TopicQueue %d (need 0, or 32..%d)", ErrInvalidOptions, o.TopicQueue, 1<<20)
	}
	return p, nil
}

// parsePeerAddr parses a multiaddr that must end in /p2p/<id>.
func parsePeerAddr(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q: %v", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%q has no /p2p/<peer id>: %v", s, err)
	}
	return *ai, nil
}

// PeerIDOf returns the peer ID of a multiaddr that ends in /p2p/<id> (a
// bootstrap or relay address), or an error naming what is wrong with it.
func PeerIDOf(addr string) (string, error) {
	ai, err := parsePeerAddr(addr)
	if err != nil {
		return "", err
	}
	return ai.ID.String(), nil
}
