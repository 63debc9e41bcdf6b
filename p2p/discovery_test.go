package p2p

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// DHT: A announces a topic; C, connected only to B, finds A through the DHT
// and can then connect to it with the addresses found.
func TestDHTFindPeers(t *testing.T) {
	withDHT := func(o *Options) { o.DHT = true }
	b := startNode(t, func(o *Options) { withDHT(o); o.DHTServer = true })
	a := startNode(t, func(o *Options) { withDHT(o); bootstrapTo(b)(o) })
	c := startNode(t, func(o *Options) { withDHT(o); bootstrapTo(b)(o) })
	waitFor(t, 15*time.Second, "A and C connected to B", func() bool {
		return connectedTo(b, a.ID()) && connectedTo(b, c.ID())
	})
	// The DHT's own routing-table refresh may already have walked C to A
	// through B: forget that, so the addresses C dials below are the ones
	// FindPeers returns.
	c.host.Network().ClosePeer(a.host.ID())
	c.host.Peerstore().ClearAddrs(a.host.ID())
	const topic = "weft/doc/dht-test"

	// Announce needs B in A's routing table, which follows identify.
	waitFor(t, 20*time.Second, "A's announcement to succeed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return a.Announce(ctx, topic) == nil
	})
	var found []PeerInfo
	waitFor(t, 20*time.Second, "C to find A", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ps, err := c.FindPeers(ctx, topic, 5)
		if err != nil {
			return false
		}
		found = ps
		return slices.ContainsFunc(ps, func(p PeerInfo) bool { return p.ID == a.ID() })
	})
	for _, p := range found {
		if p.ID == c.ID() {
			t.Fatal("FindPeers returned the asking node itself")
		}
		if p.ID == a.ID() && len(p.Addrs) == 0 {
			t.Fatal("A was found without addresses")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	i := slices.IndexFunc(found, func(p PeerInfo) bool { return p.ID == a.ID() })
	if err := c.Connect(ctx, found[i].Addrs[0]+"/p2p/"+a.ID()); err != nil {
		t.Fatalf("connect to A at the address the DHT gave: %v", err)
	}

	// A topic nobody announced has no providers.
	ps, err := c.FindPeers(ctx, "weft/doc/nobody", 5)
	if err != nil {
		t.Fatalf("FindPeers of an unannounced topic: %v", err)
	}
	if len(ps) != 0 {
		t.Fatalf("FindPeers of an unannounced topic found %v", ps)
	}
}

func TestDHTDisabled(t *testing.T) {
	a := startNode(t, nil)
	if err := a.Announce(context.Background(), "t"); !errors.Is(err, ErrDHTDisabled) {
		t.Fatalf("Announce without DHT: %v", err)
	}
	if _, err := a.FindPeers(context.Background(), "t", 1); !errors.Is(err, ErrDHTDisabled) {
		t.Fatalf("FindPeers without DHT: %v", err)
	}
}

// mDNS: two nodes with the same (test-unique) service tag find and connect
// to each other without being told about one another; a third with another
// tag stays apart.
func TestMDNSDiscovery(t *testing.T) {
	if !hasMulticast() {
		t.Skip("no up, non-loopback, multicast-capable interface: mDNS cannot work here")
	}
	tag := uniqueTag()
	mdnsOn := func(tag string) func(*Options) {
		return func(o *Options) { o.MDNS, o.MDNSTag = true, tag }
	}
	a := startNode(t, mdnsOn(tag))
	b := startNode(t, mdnsOn(tag))
	other := startNode(t, mdnsOn(tag+"-other"))
	waitFor(t, 30*time.Second, "A and B to find each other over mDNS", func() bool {
		return connectedTo(a, b.ID()) && connectedTo(b, a.ID())
	})
	if connectedTo(a, other.ID()) || connectedTo(b, other.ID()) {
		t.Fatal("a node with another mDNS tag was connected")
	}
}

// uniqueTag is an mDNS service tag no other test run shares.
func uniqueTag() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return "weft-test-" + hex.EncodeToString(r[:])
}

func hasMulticast() bool {
	ifs, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
			return true
		}
	}
	return false
}
