package p2p

import (
	"context"
	"io"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"weft/vocab"
)

// Messages GossipSub refuses for their signature or author, before any
// validator, are charged to the peer that delivered them (a forged-
// signature flood ends graylisted too) and counted; a validator's refusal
// reported to the tracer is not charged a second time.
func TestSignatureRefusalsCharged(t *testing.T) {
	n := startNode(t, nil)
	newFakeClock(n) // no decay between the adds
	other := startNode(t, nil)
	id := peerID(t, other.ID())
	tr := (*signatureTracer)(n)
	msg := &pubsub.Message{Message: &pb.Message{}, ReceivedFrom: id}
	for _, reason := range []string{pubsub.RejectInvalidSignature, pubsub.RejectMissingSignature, pubsub.RejectUnexpectedSignature, pubsub.RejectUnexpectedAuthInfo} {
		tr.RejectMessage(msg, reason)
	}
	tr.RejectMessage(msg, pubsub.RejectValidationFailed)
	tr.RejectMessage(msg, pubsub.RejectValidationThrottled)
	if c := n.refusals.count(id); c != 4*refusalCost {
		t.Fatalf("count %v after four signature refusals and two others, want %v", c, 4*refusalCost)
	}
	if got := n.Rejected()[vocab.ReasonSignature]; got != 4 {
		t.Fatalf("rejected %v; want 4 under %q", n.Rejected(), vocab.ReasonSignature)
	}
}

// A peer that keeps delivering forged signatures is disconnected and
// refused for a while, in both directions; others are not.
func TestForgerBanned(t *testing.T) {
	n := startNode(t, nil)
	forger := startNode(t, nil)
	honest := startNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, o := range []*Node{forger, honest} {
		if err := o.Connect(ctx, n.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	fid := peerID(t, forger.ID())
	tr := (*signatureTracer)(n)
	msg := &pubsub.Message{Message: &pb.Message{}, ReceivedFrom: fid}
	for range forgeryBan - 1 {
		tr.RejectMessage(msg, pubsub.RejectInvalidSignature)
	}
	if n.bans.banned(fid) {
		t.Fatalf("banned after %d forgeries, before the bound %d", forgeryBan-1, forgeryBan)
	}
	tr.RejectMessage(msg, pubsub.RejectInvalidSignature)
	waitFor(t, 10*time.Second, "the forger to be disconnected", func() bool {
		return !connectedTo(n, forger.ID()) && !connectedTo(forger, n.ID())
	})
	// The forger's dial may complete its handshake before the node's gate
	// refuses it; the node never takes the connection.
	_ = forger.Connect(ctx, n.Addrs()[0])
	if connectedTo(n, forger.ID()) {
		t.Fatal("a banned peer connected again")
	}
	if err := n.Connect(ctx, forger.Addrs()[0]); err == nil {
		t.Fatal("the node dialled a banned peer")
	}
	if !connectedTo(n, honest.ID()) {
		t.Fatal("the honest peer was disconnected too")
	}
	clock := time.Now().Add(banFor)
	n.bans.mu.Lock()
	n.bans.now = func() time.Time { return clock }
	n.bans.mu.Unlock()
	if n.bans.banned(fid) {
		t.Fatal("still banned after the ban's time")
	}
}

// A topic peer that stops answering (its ping handler swallows pings) has
// its connections closed within the liveness bounds; one that answers
// keeps them.
func TestSilentPeerDisconnected(t *testing.T) {
	a := startNode(t, nil)
	silent := startNode(t, nil)
	alive := startNode(t, nil)
	const topic = "weft/doc/liveness"
	join(t, a, topic, acceptAll)
	ts := join(t, silent, topic, acceptAll)
	tl := join(t, alive, topic, acceptAll)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, o := range []*Node{silent, alive} {
		if err := o.Connect(ctx, a.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	waitTopicPeers(t, ts, a.ID())
	waitTopicPeers(t, tl, a.ID())
	// The silent peer reads pings and never answers.
	silent.host.SetStreamHandler(ping.ID, func(s network.Stream) { _, _ = io.Copy(io.Discard, s) })
	waitFor(t, 10*time.Second, "the silent peer to be disconnected", func() bool { return !connectedTo(a, silent.ID()) })
	if !connectedTo(a, alive.ID()) {
		t.Fatal("the peer that answers pings was disconnected too")
	}
}
