package member

import (
	"io"

	"weft/vocab"
)

// SealPayload seals a transaction's payload for header h with the
// keyring's current epoch: it sets h.Epoch, seals with h's SealedAD, and
// records the sealed bytes' hash in h. Sign h afterwards.
func SealPayload(r *Keyring, random io.Reader, h *Header, plaintext []byte) ([]byte, error) {
	k := r.Current()
	if k == nil {
		return nil, vocab.Reject(vocab.ReasonEpoch, "no read secret to seal with")
	}
	h.Epoch = k.Epoch
	sealed, err := k.Seal(random, PurposePayload, plaintext, h.SealedAD())
	if err != nil {
		return nil, err
	}
	h.SetPayload(sealed)
	return sealed, nil
}

// OpenPayload opens the sealed payload of a verified header: the bytes
// must be the ones the header names (header-mismatch), sealed in the
// header's epoch (epoch), for this header (decrypt).
func OpenPayload(r *Keyring, h *Header, sealed []byte) ([]byte, error) {
	if err := h.CheckPayload(sealed); err != nil {
		return nil, err
	}
	s, err := ParseSealed(sealed)
	if err != nil {
		return nil, err
	}
	if s.Epoch != h.Epoch {
		return nil, vocab.Reject(vocab.ReasonHeaderMismatch, "payload sealed in epoch %d under a header of epoch %d", s.Epoch, h.Epoch)
	}
	return r.Open(PurposePayload, sealed, h.SealedAD())
}
