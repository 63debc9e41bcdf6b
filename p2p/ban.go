package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// A peer that delivers messages GossipSub refuses for their signature or
// author (forged, missing, unexpected) is disconnected and refused for
// banFor once it has delivered forgeryBan of them. No honest peer ever
// delivers one: GossipSub checks signatures before it forwards, so a
// relay or mesh neighbour passes on only what verified there. Graylisting
// alone (the score) ignores such a peer's RPCs but still reads and
// decodes every one of them: a forger sending 90 MB/s kept the daemon
// decoding garbage (and its heap growing) for as long as it liked.
const (
	forgeryBan = 20
	banFor     = 10 * time.Minute
	maxBanned  = 4096
)

// banList is the node's connection gater: it refuses every connection
// with a banned peer, in both directions, until the ban ends.
type banList struct {
	mu      sync.Mutex
	now     func() time.Time
	until   map[peer.ID]time.Time
	forged  map[peer.ID]int
	onBlock func(peer.ID) // closes the peer's connections (set by New)
}

func newBanList() *banList {
	return &banList{now: time.Now, until: map[peer.ID]time.Time{}, forged: map[peer.ID]int{}}
}

// forgery counts a refused signature delivered by p; at forgeryBan p is
// banned. It reports whether this call banned p.
func (b *banList) forgery(p peer.ID) bool {
	b.mu.Lock()
	b.forged[p]++
	n := b.forged[p]
	if len(b.forged) > maxBanned {
		clear(b.forged) // counts are a short-term signal; a flood of IDs resets them
	}
	if n < forgeryBan {
		b.mu.Unlock()
		return false
	}
	delete(b.forged, p)
	b.prune()
	b.until[p] = b.now().Add(banFor)
	onBlock := b.onBlock
	b.mu.Unlock()
	if onBlock != nil {
		onBlock(p)
	}
	return true
}

// prune drops ended bans, and the oldest when too many (the caller holds mu).
func (b *banList) prune() {
	now := b.now()
	for p, t := range b.until {
		if !now.Before(t) {
			delete(b.until, p)
		}
	}
	for len(b.until) >= maxBanned {
		var oldest peer.ID
		var first time.Time
		for p, t := range b.until {
			if oldest == "" || t.Before(first) {
				oldest, first = p, t
			}
		}
		delete(b.until, oldest)
	}
}

func (b *banList) banned(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.until[p]
	if ok && !b.now().Before(t) {
		delete(b.until, p)
		return false
	}
	return ok
}

func (b *banList) InterceptPeerDial(p peer.ID) bool                 { return !b.banned(p) }
func (b *banList) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return !b.banned(p) }
func (b *banList) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (b *banList) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.banned(p)
}
func (b *banList) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
