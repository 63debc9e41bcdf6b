package p2p

import (
	"time"
	"weft/vocab"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// signatureTracer charges the peers that deliver messages GossipSub itself
// refuses before any validator runs — a missing, unexpected or forged
// signature or author — so that a peer flooding forged messages is
// graylisted like one flooding messages the caller's validator refuses,
// and banned after a few (ban.go)
// (those are charged by Topic.validator; a refusal reported here with
// RejectValidationFailed is one of them and is not charged twice).
type signatureTracer Node

var _ pubsub.RawTracer = (*signatureTracer)(nil)

func (t *signatureTracer) RejectMessage(msg *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectInvalidSignature, pubsub.RejectMissingSignature, pubsub.RejectUnexpectedSignature, pubsub.RejectUnexpectedAuthInfo:
		n := (*Node)(t)
		n.reject(vocab.ReasonSignature)
		if msg.ReceivedFrom != "" {
			n.refusals.add(msg.ReceivedFrom, refusalCost)
			n.bans.forgery(msg.ReceivedFrom)
		}
	}
}

func (*signatureTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (*signatureTracer) RemovePeer(peer.ID)                                   {}
func (*signatureTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (*signatureTracer) OnClosedOutboundStream(peer.ID)                       {}
func (*signatureTracer) Join(string)                                          {}
func (*signatureTracer) Leave(string)                                         {}
func (*signatureTracer) Graft(peer.ID, string)                                {}
func (*signatureTracer) Prune(peer.ID, string)                                {}
func (*signatureTracer) ValidateMessage(*pubsub.Message)                      {}
func (*signatureTracer) DeliverMessage(*pubsub.Message)                       {}
func (*signatureTracer) DuplicateMessage(*pubsub.Message)                     {}
func (*signatureTracer) ThrottlePeer(peer.ID)                                 {}
func (*signatureTracer) RecvRPC(*pubsub.RPC)                                  {}
func (*signatureTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (*signatureTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (*signatureTracer) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (*signatureTracer) UndeliverableMessage(*pubsub.Message)                 {}
