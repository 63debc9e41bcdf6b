package member

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"weft/vocab"
)

// Limits of a rekey.
const (
	// MaxBoxes bounds the recipients of one rekey: the members (and open
	// invites) that can read.
	MaxBoxes = 1000
	// boxSize is one sealed secret: HPKE's encapsulated X25519 key (32),
	// the secret (32) and the ChaCha20-Poly1305 tag (16).
	boxSize = 32 + SecretSize + 16
)

// Rekey starts a new epoch: its secret sealed to each remaining reader's
// X25519 key (the box key of its link), and the previous epoch's secret
// sealed under the new epoch's keys, so that whoever holds the new
// secret (a member invited later) can open the history before it, epoch
// by epoch.
//
// Sealing to a member is HPKE (RFC 9180, crypto/hpke): DHKEM(X25519),
// HKDF-SHA256, ChaCha20-Poly1305, base mode, info
// "weft/member/v1/rekey\0" || doc || epoch (8 bytes, big endian).
// crypto/hpke draws its ephemeral key from the system's secure source
// (Go 1.26 ignores custom readers for key generation), which is the one
// randomness this package does not take as an argument.
type Rekey struct {
	Epoch     uint64 // the new epoch
	PrevEpoch uint64 // the epoch whose secret Prev holds (< Epoch)
	Prev      []byte // sealed form, PurposeEpoch, under the new epoch
	Boxes     []Box  // ordered by recipient key, no duplicates
}

// Box is the new secret sealed to one recipient.
type Box struct {
	Recipient []byte // X25519 public key
	Sealed    []byte // HPKE encapsulated key || ciphertext
}

type boxWire struct {
	_         struct{} `cbor:",toarray"`
	Recipient []byte
	Sealed    []byte
}

var (
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.ChaCha20Poly1305()
)

func rekeyInfo(doc vocab.DocID, epoch uint64) []byte {
	b := append([]byte(domainRekey), doc[:]...)
	return binary.BigEndian.AppendUint64(b, epoch)
}

// NewRekey makes the rekey to epoch with secret next, sealed to each of
// recipients (X25519 public keys), and the previous epoch's secret prev
// sealed under next. random supplies the nonce of that seal.
func NewRekey(random io.Reader, doc vocab.DocID, epoch uint64, next *Secret, prevEpoch uint64, prev *Secret, recipients [][]byte) (*Rekey, error) {
	if epoch <= prevEpoch {
		return nil, fmt.Errorf("member: rekey to epoch %d from epoch %d", epoch, prevEpoch)
	}
	if len(recipients) > MaxBoxes {
		return nil, fmt.Errorf("member: rekey to %d recipients (at most %d)", len(recipients), MaxBoxes)
	}
	keys, err := NewEpochKeys(doc, epoch, next)
	if err != nil {
		return nil, err
	}
	r := &Rekey{Epoch: epoch, PrevEpoch: prevEpoch}
	if r.Prev, err = keys.Seal(random, PurposeEpoch, prev[:], binary.BigEndian.AppendUint64(nil, prevEpoch)); err != nil {
		return nil, err
	}
	info := rekeyInfo(doc, epoch)
	rs := slices.Clone(recipients)
	slices.SortFunc(rs, bytes.Compare)
	rs = slices.CompactFunc(rs, bytes.Equal)
	for _, rcpt := range rs {
		pub, err := ecdh.X25519().NewPublicKey(rcpt)
		if err != nil {
			return nil, fmt.Errorf("member: rekey recipient: %w", err)
		}
		hpub, err := hpke.NewDHKEMPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("member: rekey recipient: %w", err)
		}
		sealed, err := hpke.Seal(hpub, hpkeKDF, hpkeAEAD, info, next[:])
		if err != nil {
			return nil, fmt.Errorf("member: rekey: %w", err)
		}
		r.Boxes = append(r.Boxes, Box{Recipient: slices.Clone(rcpt), Sealed: sealed})
	}
	return r, nil
}

// Open returns the new epoch's secret, opened with a recipient's X25519
// key. A key that is not a recipient (a removed member's) gets a revoked
// rejection; a box that does not open, a decrypt one.
func (r *Rekey) Open(doc vocab.DocID, key *ecdh.PrivateKey) (*Secret, error) {
	pub := key.PublicKey().Bytes()
	i, found := slices.BinarySearchFunc(r.Boxes, pub, func(b Box, k []byte) int { return bytes.Compare(b.Recipient, k) })
	if !found {
		return nil, vocab.Reject(vocab.ReasonRevoked, "epoch %d was not sealed to this key", r.Epoch)
	}
	hk, err := hpke.NewDHKEMPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("member: rekey: %w", err)
	}
	pt, err := hpke.Open(hk, hpkeKDF, hpkeAEAD, rekeyInfo(doc, r.Epoch), r.Boxes[i].Sealed)
	if err != nil || len(pt) != SecretSize {
		return nil, vocab.Reject(vocab.ReasonDecrypt, "the box of epoch %d does not open", r.Epoch)
	}
	s := new(Secret)
	copy(s[:], pt)
	return s, nil
}

// OpenPrev returns the previous epoch's secret, given the new one.
func (r *Rekey) OpenPrev(doc vocab.DocID, next *Secret) (*Secret, error) {
	keys, err := NewEpochKeys(doc, r.Epoch, next)
	if err != nil {
		return nil, err
	}
	pt, err := keys.Open(PurposeEpoch, r.Prev, binary.BigEndian.AppendUint64(nil, r.PrevEpoch))
	if err != nil {
		return nil, err
	}
	if len(pt) != SecretSize {
		return nil, vocab.Reject(vocab.ReasonMalformed, "previous secret of %d bytes", len(pt))
	}
	s := new(Secret)
	copy(s[:], pt)
	return s, nil
}

// check applies the rekey's bounds.
func (r *Rekey) check() error {
	if r.Epoch <= r.PrevEpoch {
		return vocab.Reject(vocab.ReasonMalformed, "rekey to epoch %d from %d", r.Epoch, r.PrevEpoch)
	}
	if len(r.Boxes) > MaxBoxes {
		return vocab.Reject(vocab.ReasonOversized, "rekey of %d boxes (at most %d)", len(r.Boxes), MaxBoxes)
	}
	if s, err := ParseSealed(r.Prev); err != nil || s.Purpose != PurposeEpoch || s.Epoch != r.Epoch || len(s.Ciphertext) != SecretSize+chacha20poly1305.Overhead {
		return vocab.Reject(vocab.ReasonMalformed, "rekey: the previous secret is not a secret sealed in epoch %d", r.Epoch)
	}
	for i, b := range r.Boxes {
		if len(b.Recipient) != PublicKeySize || len(b.Sealed) != boxSize {
			return vocab.Reject(vocab.ReasonMalformed, "rekey: a box of the wrong size")
		}
		if i > 0 && bytes.Compare(r.Boxes[i-1].Recipient, b.Recipient) >= 0 {
			return vocab.Reject(vocab.ReasonMalformed, "rekey: boxes not in recipient order")
		}
	}
	return nil
}

func (r *Rekey) boxes() []boxWire {
	w := make([]boxWire, len(r.Boxes))
	for i, b := range r.Boxes {
		w[i] = boxWire{Recipient: b.Recipient, Sealed: b.Sealed}
	}
	return w
}
