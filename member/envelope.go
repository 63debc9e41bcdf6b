package member

import (
	"fmt"

	"weft/vocab"
)

// Gossip messages and stored transactions (docs/members-only.md, "On the
// wire and on disk"): a CBOR array whose first element says what it is.
//
//	envelope     = [2, header, payload]   ; header: a signed header's encoding
//	                                      ; payload: its sealed payload
//	announcement = [3, chain]             ; a member's chain
//	revocation   = [4, revocation]        ; a removal and its rekey
//	proof        = [5, proof]             ; an agent's equivocation
//	presence     = [8, sealed]            ; a cursor, sealed (purpose presence)
//	durable      = [9, ack]               ; a relay's durability acknowledgement
//
// Every gossip message is sealed whole under the route key (route.go), and
// all of them travel on the document's one topic. The bytes a presence or
// durable message carries are another package's record (wire.Presence,
// sealed; wire.Durable): this package frames and bounds them only.
const (
	KindEnvelope = 2
	KindAnnounce = 3
	KindRevoke   = 4
	KindProof    = 5
	KindPresence = 8
	KindDurable  = 9
	// MaxPresenceBytes bounds a presence message's sealed record (a
	// 1 KiB record and its seal), and MaxDurableBytes a durability
	// acknowledgement (a version naming a few thousand agents).
	MaxPresenceBytes = 2 << 10
	MaxDurableBytes  = 256 << 10
	// MaxEnvelopeBytes bounds an envelope: a header and a sealed payload
	// of at most 4 MiB.
	MaxEnvelopeBytes = MaxSealedBytes + MaxHeaderBytes + 16
)

type pairWire struct {
	_ struct{} `cbor:",toarray"`
	V uint64
	A []byte
	B []byte
}

type announceWire struct {
	_     struct{} `cbor:",toarray"`
	V     uint64
	Chain []byte
}

// Envelope is a signed transaction: its header (decoded), the header's
// hash, and the sealed payload. Raw is its encoding, what is gossiped,
// stored and served.
type Envelope struct {
	Header  *Header
	Hash    [32]byte
	Payload []byte
	Raw     []byte
}

// NewEnvelope encodes a signed header and its sealed payload.
func NewEnvelope(h *Header, payload []byte) (*Envelope, error) {
	if len(h.Sig) == 0 {
		return nil, fmt.Errorf("member: an envelope needs a signed header")
	}
	if err := h.CheckPayload(payload); err != nil {
		return nil, err
	}
	raw := marshal(pairWire{V: KindEnvelope, A: h.Marshal(), B: payload})
	return &Envelope{Header: h, Hash: h.Hash(), Payload: payload, Raw: raw}, nil
}

// Kind reads what a gossip message's plaintext is (one of the Kind
// constants above) without decoding the rest.
func Kind(data []byte) (uint64, error) {
	var head [1]uint64
	if err := decMode.Unmarshal(data, &head); err != nil {
		return 0, vocab.Reject(vocab.ReasonMalformed, "gossip message: %v", err)
	}
	switch head[0] {
	case KindEnvelope, KindAnnounce, KindRevoke, KindProof, KindPresence, KindDurable:
		return head[0], nil
	}
	return 0, vocab.Reject(vocab.ReasonVersion, "gossip message of kind %d (this build reads %d to %d, %d and %d)", head[0], KindEnvelope, KindProof, KindPresence, KindDurable)
}

// ParseEnvelope decodes an envelope for doc: bounded, canonical, its header
// well formed with a signature, and the payload the one the header names.
// The signature is not verified here (Header.Verify, or VerifyRun for a
// run of them): the caller decides which are checked.
func ParseEnvelope(data []byte, doc vocab.DocID) (*Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return nil, vocab.Reject(vocab.ReasonOversized, "envelope of %d bytes (at most %d)", len(data), MaxEnvelopeBytes)
	}
	var w pairWire
	if err := decMode.Unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "envelope: %v", err)
	}
	if w.V != KindEnvelope {
		return nil, vocab.Reject(vocab.ReasonVersion, "envelope of kind %d (want %d)", w.V, KindEnvelope)
	}
	if len(data) != 2+bstrLen(len(w.A))+bstrLen(len(w.B)) {
		// A longer form of the same three items (non-minimal heads):
		// one envelope has one byte form, and so one message ID.
		return nil, vocab.Reject(vocab.ReasonMalformed, "envelope not in canonical CBOR")
	}
	h, hash, err := parseHeader(w.A, doc)
	if err != nil {
		return nil, err
	}
	if len(h.Sig) == 0 {
		return nil, vocab.Reject(vocab.ReasonSignature, "envelope %s carries no signature", h.Span())
	}
	if err := h.CheckPayload(w.B); err != nil {
		return nil, err
	}
	// parseHeader took the hash from the bytes without re-encoding them:
	// a non-canonical encoding hashes differently from the canonical one
	// that the signature covers (and the agent's next header names), so
	// it fails verification, whether alone or in a run.
	return &Envelope{Header: h, Hash: hash, Payload: w.B, Raw: data}, nil
}

// Announce encodes a member's chain announcement.
func Announce(c Chain) []byte { return marshal(announceWire{V: KindAnnounce, Chain: c.Marshal()}) }

// ParseAnnounce decodes an announcement's chain (not verified).
func ParseAnnounce(data []byte) (Chain, error) {
	if len(data) > MaxChainBytes+16 {
		return nil, vocab.Reject(vocab.ReasonOversized, "announcement of %d bytes (at most %d)", len(data), MaxChainBytes+16)
	}
	var w announceWire
	if err := unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "announcement: %v", err)
	}
	if w.V != KindAnnounce {
		return nil, vocab.Reject(vocab.ReasonVersion, "announcement of kind %d (want %d)", w.V, KindAnnounce)
	}
	return ParseChain(w.Chain)
}

// AnnounceRevocation encodes a revocation for gossip.
func AnnounceRevocation(r *Revocation) []byte {
	return marshal(pairWire{V: KindRevoke, A: r.Marshal(), B: []byte{}})
}

// ParseRevocationMsg decodes a gossiped revocation (not verified).
func ParseRevocationMsg(data []byte) (*Revocation, error) {
	if len(data) > MaxRevocationBytes+16 {
		return nil, vocab.Reject(vocab.ReasonOversized, "revocation message of %d bytes", len(data))
	}
	var w pairWire
	if err := unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "revocation message: %v", err)
	}
	if w.V != KindRevoke {
		return nil, vocab.Reject(vocab.ReasonVersion, "revocation message of kind %d (want %d)", w.V, KindRevoke)
	}
	if len(w.B) != 0 {
		return nil, vocab.Reject(vocab.ReasonMalformed, "revocation message with a third element")
	}
	return ParseRevocation(w.A)
}

// AnnounceProof encodes an equivocation proof for gossip.
func AnnounceProof(p *Proof) []byte {
	return marshal(pairWire{V: KindProof, A: p.Marshal(), B: []byte{}})
}

// ParseProofMsg decodes and verifies a gossiped proof for doc.
func ParseProofMsg(data []byte, doc vocab.DocID) (*Proof, error) {
	if len(data) > MaxProofBytes+16 {
		return nil, vocab.Reject(vocab.ReasonOversized, "proof message of %d bytes", len(data))
	}
	var w pairWire
	if err := unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "proof message: %v", err)
	}
	if w.V != KindProof {
		return nil, vocab.Reject(vocab.ReasonVersion, "proof message of kind %d (want %d)", w.V, KindProof)
	}
	if len(w.B) != 0 {
		return nil, vocab.Reject(vocab.ReasonMalformed, "proof message with a third element")
	}
	return ParseProof(w.A, doc)
}

// bstrLen is the length of a byte string of n bytes in canonical CBOR.
func bstrLen(n int) int {
	switch {
	case n < 24:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	case n < 1<<32:
		return 5 + n
	}
	return 9 + n
}

// PresenceMsg frames a sealed presence record for gossip.
func PresenceMsg(sealed []byte) []byte { return marshal(announceWire{V: KindPresence, Chain: sealed}) }

// ParsePresenceMsg returns the sealed presence record a gossiped presence
// message carries (not opened).
func ParsePresenceMsg(data []byte) ([]byte, error) {
	return parseFramed(data, KindPresence, MaxPresenceBytes, "presence message")
}

// DurableMsg frames a durability acknowledgement for gossip.
func DurableMsg(ack []byte) []byte { return marshal(announceWire{V: KindDurable, Chain: ack}) }

// ParseDurableMsg returns the acknowledgement a gossiped durability
// message carries (not decoded).
func ParseDurableMsg(data []byte) ([]byte, error) {
	return parseFramed(data, KindDurable, MaxDurableBytes, "durability message")
}

// parseFramed decodes [kind, bytes] with bytes of at most limit, in its
// one canonical form.
func parseFramed(data []byte, kind uint64, limit int, what string) ([]byte, error) {
	if len(data) > limit+16 {
		return nil, vocab.Reject(vocab.ReasonOversized, "%s of %d bytes (at most %d)", what, len(data), limit+16)
	}
	var w announceWire
	if err := unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "%s: %v", what, err)
	}
	if w.V != kind {
		return nil, vocab.Reject(vocab.ReasonVersion, "%s of kind %d (want %d)", what, w.V, kind)
	}
	if len(w.Chain) == 0 || len(w.Chain) > limit {
		return nil, vocab.Reject(vocab.ReasonOversized, "%s carrying %d bytes (1 to %d)", what, len(w.Chain), limit)
	}
	return w.Chain, nil
}
