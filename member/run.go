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
	if _, err := DeviceOf(run[0].Agent); err != nil {
		return err
	}
	var hash [32]byte
	for i, h := range run {
		if err := checkInRun(run, i, prev); err != nil {
			return err
		}
		hash = h.Hash()
		prev = hash
	}
	return run[len(run)-1].verifySig(&hash)
}

// ParseRun decodes a run of one agent's consecutive headers for doc,
// oldest first, and verifies it as VerifyRun does; the hashes are taken
// from the bytes, so each header is decoded once and never re-encoded.
// This is the catch-up path: raws are what a peer or a relay sent.
func ParseRun(raws [][]byte, doc vocab.DocID, prev [32]byte) ([]*Header, error) {
	if len(raws) > MaxRun {
		return nil, vocab.Reject(vocab.ReasonOversized, "run of %d headers (at most %d)", len(raws), MaxRun)
	}
	run := make([]*Header, len(raws))
	var hash [32]byte
	for i, raw := range raws {
		h, hh, err := parseHeader(raw, doc)
		if err != nil {
			return nil, err
		}
		run[i] = h
		if err := checkInRun(run, i, prev); err != nil {
			return nil, err
		}
		hash, prev = hh, hh
	}
	if len(run) == 0 {
		return run, nil
	}
	if err := run[len(run)-1].verifySig(&hash); err != nil {
		return nil, err
	}
	return run, nil
}

// checkInRun checks run[i] alone and against run[i-1] (or, for the
// first, against the anchor prev). The agent was checked to be a device's
// (run[0]'s, and the others must equal it).
func checkInRun(run []*Header, i int, prev [32]byte) error {
	h, first := run[i], run[0]
	if h.Doc != first.Doc || h.Agent != first.Agent {
		return vocab.Reject(vocab.ReasonHashChain, "a run mixes documents or agents (%s, %s)", first.Span(), h.Span())
	}
	if err := h.Header.Check(); err != nil {
		return vocab.Reject(vocab.ReasonMalformed, "header: %v", err)
	}
	if (h.Seq == 0) != (h.Prev == [32]byte{}) {
		return vocab.Reject(vocab.ReasonHashChain, "header %s: a previous-header hash must be given exactly after seq 0", h.Span())
	}
	if i > 0 && h.Seq != run[i-1].Span().End() {
		return vocab.Reject(vocab.ReasonHashChain, "header %s does not follow %s", h.Span(), run[i-1].Span())
	}
	if h.Prev != prev {
		return vocab.Reject(vocab.ReasonHashChain, "header %s does not name its previous header's hash", h.Span())
	}
	return nil
}
