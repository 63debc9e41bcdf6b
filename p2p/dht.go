package p2p

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	mh "github.com/multiformats/go-multihash"
)

// dhtPrefix keeps weft's DHT apart from the public IPFS one: weft nodes speak
// /weft/kad/1.0.0 and never answer or query /ipfs/kad/1.0.0.
const dhtPrefix protocol.ID = "/weft"

// defaultFindPeers is FindPeers' limit when max <= 0.
const defaultFindPeers = 20

// topicKey is the DHT key for a topic: a CIDv1 (raw codec) of the SHA-256 of
// the topic name, so the DHT sees a hash, not the document ID.
func topicKey(topic string) (cid.Cid, error) {
	h, err := mh.Sum([]byte(topic), mh.SHA2_256, -1)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, h), nil
}

// Announce records in the DHT that this node has topic (a provider record on
// the DHT servers closest to the topic's key). Records expire after 48 hours
// in kad-dht, so a long-running node should announce again periodically
// (e.g. every 12 hours). It fails when no DHT server is reachable.
func (n *Node) Announce(ctx context.Context, topic string) error {
	if n.dht == nil {
		return ErrDHTDisabled
	}
	if topic == "" || len(topic) > maxTopicLen {
		return fmt.Errorf("%w: %d bytes (need 1..%d)", ErrBadTopic, len(topic), maxTopicLen)
	}
	if n.isClosed() {
		return ErrClosed
	}
	key, err := topicKey(topic)
	if err != nil {
		return fmt.Errorf("p2p: DHT key for %q: %w", topic, err)
	}
	if err := n.dht.Provide(ctx, key, true); err != nil {
		return fmt.Errorf("p2p: announce %q: %w", topic, err)
	}
	return nil
}

// FindPeers looks up, through the DHT, up to max peers (20 when max <= 0)
// that announced topic, other than this node. Their addresses are remembered,
// so Connect or Open to them can follow. It returns what it found when ctx
// ends, with ctx's error only if it found nothing.
func (n *Node) FindPeers(ctx context.Context, topic string, max int) ([]PeerInfo, error) {
	if n.dht == nil {
		return nil, ErrDHTDisabled
	}
	if topic == "" || len(topic) > maxTopicLen {
		return nil, fmt.Errorf("%w: %d bytes (need 1..%d)", ErrBadTopic, len(topic), maxTopicLen)
	}
	if n.isClosed() {
		return nil, ErrClosed
	}
	if max <= 0 {
		max = defaultFindPeers
	}
	key, err := topicKey(topic)
	if err != nil {
		return nil, fmt.Errorf("p2p: DHT key for %q: %w", topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []PeerInfo
	// Ask for one more than max: our own record may be among them.
	for ai := range n.dht.FindProvidersAsync(ctx, key, max+1) {
		if ai.ID == n.host.ID() || ai.ID == "" {
			continue
		}
		if len(ai.Addrs) > 0 {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
		}
		out = append(out, PeerInfo{ID: ai.ID.String(), Addrs: toStrings(ai.Addrs)})
		if len(out) == max {
			break
		}
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, fmt.Errorf("p2p: find peers of %q: %w", topic, ctx.Err())
	}
	return out, nil
}
