package p2p

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// Liveness: a connection that outlives a network cut is not closed by TCP
// for minutes; it sits in retransmission backoff, and once the network
// returns nothing moves on it until the next retry (seen: up to 12 s),
// while libp2p dials no second connection because one is open. So the
// node pings the peers that carry its documents — its bootstrap peers (a
// daemon's relay) and the peers of the topics it joined — every
// livenessEvery, and closes a peer's connections when a ping gets no
// answer within livenessTimeout: a bootstrap peer is redialled at once
// (keepBootstrap), and catch-up starts again when the peer is back on a
// topic. A ping that fails at once (a peer that does not speak ping, a
// refused stream) closes nothing: only silence does.
const (
	livenessEvery   = time.Second
	livenessTimeout = 2 * time.Second
	livenessMax     = 64 // peers probed per round, at most
)

func (n *Node) liveness() {
	defer n.wg.Done()
	t := time.NewTicker(livenessEvery)
	defer t.Stop()
	probing := map[peer.ID]bool{}
	done := make(chan peer.ID, livenessMax)
	for {
		select {
		case <-n.ctx.Done():
			return
		case p := <-done:
			delete(probing, p)
			continue
		case <-t.C:
		}
		for _, p := range n.livenessPeers() {
			if probing[p] || len(probing) >= livenessMax {
				continue
			}
			probing[p] = true
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.probe(p)
				select {
				case done <- p:
				case <-n.ctx.Done():
				}
			}()
		}
	}
}

// livenessPeers are the connected bootstrap peers and topic peers.
func (n *Node) livenessPeers() []peer.ID {
	seen := map[peer.ID]bool{}
	var out []peer.ID
	add := func(p peer.ID) {
		if !seen[p] && n.host.Network().Connectedness(p) == network.Connected {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, ai := range n.boots {
		add(ai.ID)
	}
	n.mu.Lock()
	topics := make([]*Topic, 0, len(n.topics))
	for _, t := range n.topics {
		topics = append(topics, t)
	}
	n.mu.Unlock()
	for _, t := range topics {
		if len(out) >= livenessMax {
			break // a round probes livenessMax peers at most: ask no more topics
		}
		for _, p := range t.topic.ListPeers() {
			add(p)
		}
	}
	return out
}

// probe pings p once and closes its connections if no answer comes in time.
func (n *Node) probe(p peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, livenessTimeout)
	defer cancel()
	var err error
	select {
	case res := <-ping.Ping(ctx, n.host, p):
		err = res.Error
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil || n.ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return
	}
	n.log.Info("peer silent: closing its connections to dial again", "peer", p, "after", livenessTimeout)
	_ = n.host.Network().ClosePeer(p)
}
