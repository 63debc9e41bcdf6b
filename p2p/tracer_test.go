package p2p

import (
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"

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
