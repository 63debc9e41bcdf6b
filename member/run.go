package member

import "weft/vocab"

// MaxRun bounds the headers VerifyRun takes at once (the work it does is
// one hash per header and one signature).
const MaxRun = 1 << 20

// VerifyRun verifies a run of one agent's consecutive headers, oldest
// first, with one signature: the newest header's. Every header must be
// for the same document and agent, start where the one before it ends and
// name its Hash as prev; the first must name prev (the Hash of the
// agent's header ending where the run starts, which the caller has
// already verified; zeros when the run starts at seq 0). The signatures of
// the older headers are not checked (they may be absent): the newest
// signature covers them through the hashes, and an agent that signed two
// different histories is caught by equivocation proofs, not here.
//
// A catch-up of n transactions from k agents costs n hashes and k
// Ed25519 verifications instead of n verifications.
func VerifyRun(run []*Header, prev [32]byte) error {
	if len(run) == 0 {
		return nil
	}
	if len(run) > MaxRun {
		return vocab.Reject(vocab.ReasonOversized, "run of %d headers (at most %d)", len(run), MaxRun)
	}
	first := run[0]
	var hash [32]byte
	for i, h := range run {
		if err := h.Check(); err != nil {
			return err
		}
		if h.Doc != first.Doc || h.Agent != first.Agent {
			return vocab.Reject(vocab.ReasonHashChain, "a run mixes documents or agents (%s, %s)", first.Span(), h.Span())
		}
		if i > 0 && h.Seq != run[i-1].Span().End() {
			return vocab.Reject(vocab.ReasonHashChain, "header %s does not follow %s", h.Span(), run[i-1].Span())
		}
		if h.Prev != prev {
			return vocab.Reject(vocab.ReasonHashChain, "header %s does not name its previous header's hash", h.Span())
		}
		hash = h.Hash()
		prev = hash
	}
	return run[len(run)-1].verifySig(&hash)
}
