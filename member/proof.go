package member

import (
	"bytes"

	"weft/vocab"
)

// MaxProofBytes bounds an encoded proof.
const MaxProofBytes = 2*MaxHeaderBytes + 64

// Proof is a proof of equivocation: two headers of one agent, both
// validly signed by its device, that cannot both be in one history. Either
// they share a seq and differ (two transactions under one (agent, seq)),
// or one starts where the other ends but does not name it as prev (the
// device signed two different pasts). Anyone can check it with nothing
// but the two headers, so it is passed on like a transaction.
//
// Format (CBOR, Core Deterministic Encoding): [1, a, b], a and b each a
// header's encoding as a byte string, ordered by Hash (a's lower), so a
// pair of headers has one proof.
type Proof struct {
	A, B *Header
}

type proofWire struct {
	_ struct{} `cbor:",toarray"`
	V uint64
	A []byte
	B []byte
}

func (w proofWire) version() uint64 { return w.V }

// NewProof checks that a and b prove equivocation and returns the proof.
func NewProof(a, b *Header) (*Proof, error) {
	ha, hb := a.Hash(), b.Hash()
	if bytes.Compare(ha[:], hb[:]) > 0 {
		a, b, ha, hb = b, a, hb, ha
	}
	p := &Proof{A: a, B: b}
	if err := p.verify(ha, hb); err != nil {
		return nil, err
	}
	return p, nil
}

// Verify checks the proof: both signatures, and that the headers
// conflict.
func (p *Proof) Verify() error {
	ha, hb := p.A.Hash(), p.B.Hash()
	if bytes.Compare(ha[:], hb[:]) >= 0 {
		return vocab.Reject(vocab.ReasonMalformed, "proof: headers not in order, or equal")
	}
	return p.verify(ha, hb)
}

func (p *Proof) verify(ha, hb [32]byte) error {
	a, b := p.A, p.B
	if !conflict(a, b, ha, hb) {
		return vocab.Reject(vocab.ReasonMalformed, "proof: %s and %s do not conflict", a.Span(), b.Span())
	}
	if err := a.verifySig(&ha); err != nil {
		return err
	}
	return b.verifySig(&hb)
}

// conflict reports whether two headers (with hashes ha, hb) of one
// document and agent cannot both be in one history.
func conflict(a, b *Header, ha, hb [32]byte) bool {
	if a.Doc != b.Doc || a.Agent != b.Agent || ha == hb {
		return false
	}
	sa, sb := a.Span(), b.Span()
	overlap := sa.Seq < sb.End() && sb.Seq < sa.End()
	badPrev := (sa.End() == sb.Seq && b.Prev != ha) || (sb.End() == sa.Seq && a.Prev != hb)
	return overlap || badPrev
}

// CheckConsistent returns an equivocation rejection when h cannot be in
// one history with known (a header already accepted): the caller refuses
// h and, if both are signed, keeps NewProof(known, h). Headers of other
// agents or documents, and h equal to known, are consistent.
func CheckConsistent(known, h *Header) error {
	if conflict(known, h, known.Hash(), h.Hash()) {
		return vocab.Reject(vocab.ReasonEquivocation, "header %s conflicts with the accepted %s of the same agent", h.Span(), known.Span())
	}
	return nil
}

// Agent is the equivocating agent.
func (p *Proof) Agent() string { return p.A.Agent }

// ForkSeq is the first seq the proof puts in dispute: the lower start of
// the two headers. From it on, none of the agent's transactions count
// (docs/members-only.md).
func (p *Proof) ForkSeq() uint64 { return min(p.A.Seq, p.B.Seq) }

// Marshal encodes the proof.
func (p *Proof) Marshal() []byte {
	return marshal(proofWire{V: Format, A: p.A.Marshal(), B: p.B.Marshal()})
}

// ParseProof decodes a proof for doc (any document when zero) and
// verifies it.
func ParseProof(data []byte, doc vocab.DocID) (*Proof, error) {
	w, err := decodeRecord[proofWire]("proof", data, MaxProofBytes, unmarshal)
	if err != nil {
		return nil, err
	}
	a, err := ParseHeader(w.A, doc)
	if err != nil {
		return nil, err
	}
	b, err := ParseHeader(w.B, doc)
	if err != nil {
		return nil, err
	}
	p := &Proof{A: a, B: b}
	if err := p.Verify(); err != nil {
		return nil, err
	}
	return p, nil
}
