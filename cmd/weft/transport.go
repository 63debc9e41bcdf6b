package main

import (
	"context"
	"crypto/ed25519"

	"weft/api"
	"weft/p2p"
	"weft/replica"
)

// p2pTransport adapts the libp2p node to what the replica declares it
// needs; the two packages stay independent of each other.
type p2pTransport struct{ n *p2p.Node }

var _ replica.Transport = p2pTransport{}

func (t p2pTransport) ID() string      { return t.n.ID() }
func (t p2pTransport) Addrs() []string { return t.n.Addrs() }

func (t p2pTransport) Join(topic string, validate func(string, []byte) (any, error)) (replica.Topic, error) {
	tp, err := t.n.Join(topic, validate)
	if err != nil {
		return nil, err
	}
	return p2pTopic{tp}, nil
}

func (t p2pTransport) Handle(proto string, h func(string, replica.Stream)) {
	t.n.Handle(proto, func(peer string, s p2p.Stream) { h(peer, s) })
}

func (t p2pTransport) Open(ctx context.Context, peer, proto string) (replica.Stream, error) {
	return t.n.Open(ctx, peer, proto)
}

func (t p2pTransport) Peers() []api.PeerInfo {
	ps := t.n.Peers()
	out := make([]api.PeerInfo, len(ps))
	for i, p := range ps {
		out[i] = api.PeerInfo{ID: p.ID, Addrs: p.Addrs}
	}
	return out
}

func (t p2pTransport) Notify(f func(string, bool)) {
	t.n.Notify(func(ev p2p.PeerEvent) { f(ev.Peer, ev.Connected) })
}

func (t p2pTransport) Announce(ctx context.Context, topic string) error {
	return t.n.Announce(ctx, topic)
}

func (t p2pTransport) FindPeers(ctx context.Context, topic string, max int) ([]string, error) {
	ps, err := t.n.FindPeers(ctx, topic, max)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out, err
}

type p2pTopic struct{ t *p2p.Topic }

func (t p2pTopic) WatchPeers(f func()) error { return t.t.WatchPeers(f) }

func (t p2pTopic) Publish(ctx context.Context, data []byte) error { return t.t.Publish(ctx, data) }
func (t p2pTopic) Peers() []string                                { return t.t.Peers() }
func (t p2pTopic) Close() error                                   { return t.t.Close() }

func (t p2pTopic) Next(ctx context.Context) (replica.Message, error) {
	m, err := t.t.Next(ctx)
	return replica.Message(m), err
}

func (t p2pTransport) Want(want func(string) bool, wanted func(string)) {
	t.n.SetInterest(want, wanted)
}
func (t p2pTransport) Penalize(peer, reason string) { t.n.Penalize(peer, reason) }

func (t p2pTransport) Connect(ctx context.Context, addr string) error { return t.n.Connect(ctx, addr) }

func (t p2pTransport) PeerKey(peer string) (ed25519.PublicKey, error) { return p2p.PeerKey(peer) }
