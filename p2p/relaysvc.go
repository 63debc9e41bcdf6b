package p2p

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// relayResources are the circuit relay v2 limits of a weft relay. A
// relayed connection is for reaching a peer behind a NAT and punching a
// hole to it (weft's live edits flow through GossipSub, which a relay
// routes itself), so circuits stay short and small; reservations are
// generous, since every member's daemon behind a NAT keeps one: 1,024 in
// all (each an entry in a map and a refresh an hour), 16 per IP address (an
// office behind one NAT), 64 per ASN. Only peers SetRelayFilter allows get
// any (relayACL).
func relayResources() relayv2.Resources {
	r := relayv2.DefaultResources()
	r.ReservationTTL = time.Hour
	r.MaxReservations = 1024
	r.MaxCircuits = 32
	r.MaxReservationsPerIP = 16
	r.MaxReservationsPerASN = 64
	r.BufferSize = 4096
	r.Limit = &relayv2.RelayLimit{Duration: 2 * time.Minute, Data: 1 << 20}
	return r
}

// relayCounter counts the relay service's live reservations and circuits.
type relayCounter struct {
	reservations atomic.Int64
	circuits     atomic.Int64
}

var _ relayv2.MetricsTracer = (*relayCounter)(nil)

func (c *relayCounter) RelayStatus(bool)                      {}
func (c *relayCounter) ConnectionOpened()                     { c.circuits.Add(1) }
func (c *relayCounter) ConnectionClosed(time.Duration)        { c.circuits.Add(-1) }
func (c *relayCounter) ConnectionRequestHandled(pbv2.Status)  {}
func (c *relayCounter) ReservationRequestHandled(pbv2.Status) {}
func (c *relayCounter) BytesTransferred(int)                  {}
func (c *relayCounter) ReservationClosed(n int)               { c.reservations.Add(-int64(n)) }
func (c *relayCounter) ReservationAllowed(renewal bool) {
	if !renewal {
		c.reservations.Add(1)
	}
}

// RelayStats returns the circuit relay service's reservations and open
// circuits (zero when this node is not a relay).
func (n *Node) RelayStats() (reservations, circuits int) {
	return int(n.relay.reservations.Load()), int(n.relay.circuits.Load())
}

// relayACL is the circuit relay service's filter: it asks the function
// SetRelayFilter gave, and refuses everything until there is one (a relay
// serves no stranger between starting and learning whom it serves).
type relayACL struct {
	allow atomic.Pointer[func(peer string) bool]
}

var _ relayv2.ACLFilter = (*relayACL)(nil)

func (a *relayACL) allows(p peer.ID) bool {
	f := a.allow.Load()
	return f != nil && *f != nil && (*f)(p.String())
}

// AllowReserve admits a reservation from an allowed peer only.
func (a *relayACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return a.allows(p) }

// AllowConnect admits a relayed connection between two allowed peers (the
// destination holds a reservation, so it was allowed when it reserved).
func (a *relayACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	return a.allows(src) && a.allows(dest)
}
