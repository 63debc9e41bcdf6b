package member

import (
	"bytes"
	"testing"

	"weft/vocab"
)

func TestEquivocationProof(t *testing.T) {
	d := newDoc(t, 1)
	dev, other := newDevice(t, 1), newDevice(t, 2)
	agent := AgentOf(dev.Public())
	hs := chainOf(t, dev, agent, d.ID, 4, true)
	// The same seqs, another payload.
	fork := resigned(t, dev, hs[2], func(h *Header) { h.PayloadHash[0] ^= 1 })
	p, err := NewProof(hs[2], fork)
	must(t, err)
	q, err := NewProof(fork, hs[2])
	must(t, err)
	if !bytes.Equal(p.Marshal(), q.Marshal()) {
		t.Fatal("a pair of headers has two proofs")
	}
	if p.Agent() != agent || p.ForkSeq() != hs[2].Seq {
		t.Fatalf("proof of %q at %d", p.Agent(), p.ForkSeq())
	}
	got, err := ParseProof(p.Marshal(), d.ID)
	must(t, err)
	if !bytes.Equal(got.Marshal(), p.Marshal()) {
		t.Fatal("proof round trip changed it")
	}
	// Overlapping, not equal spans.
	wide := resigned(t, dev, hs[2], func(h *Header) { h.Len = 3 })
	if _, err := NewProof(hs[2], wide); err != nil {
		t.Fatal(err)
	}
	// A header that starts where another ends without naming it.
	next := resigned(t, dev, hs[3], func(h *Header) { h.Prev[0] ^= 1 })
	p2, err := NewProof(hs[2], next)
	must(t, err)
	if p2.ForkSeq() != hs[2].Seq {
		t.Fatalf("fork seq %d", p2.ForkSeq())
	}
	// CheckConsistent says the same, as a rejection.
	wantReason(t, CheckConsistent(hs[2], fork), vocab.ReasonEquivocation)
	wantReason(t, CheckConsistent(hs[2], next), vocab.ReasonEquivocation)
	wantReason(t, CheckConsistent(next, hs[2]), vocab.ReasonEquivocation)
	must(t, CheckConsistent(hs[2], hs[2]))
	must(t, CheckConsistent(hs[2], hs[3]))
	must(t, CheckConsistent(hs[0], hs[3]))
	// Not proofs: consecutive headers, the same header twice, unsigned or
	// forged, different agents.
	_, err = NewProof(hs[2], hs[3])
	wantReason(t, err, vocab.ReasonMalformed)
	_, err = NewProof(hs[2], hs[2])
	wantReason(t, err, vocab.ReasonMalformed)
	unsigned := *fork
	unsigned.Sig = nil
	_, err = NewProof(hs[2], &unsigned)
	wantReason(t, err, vocab.ReasonSignature)
	forged := *fork
	h := forged.Hash()
	forged.Sig = signWith(other, h)
	_, err = NewProof(hs[2], &forged)
	wantReason(t, err, vocab.ReasonSignature)
	theirs := chainOf(t, other, AgentOf(other.Public()), d.ID, 3, true)
	_, err = NewProof(hs[2], theirs[2])
	wantReason(t, err, vocab.ReasonMalformed)
	// Out of order on the wire.
	swapped := marshal(proofWire{V: Format, A: p.B.Marshal(), B: p.A.Marshal()})
	_, err = ParseProof(swapped, d.ID)
	wantReason(t, err, vocab.ReasonMalformed)
}
