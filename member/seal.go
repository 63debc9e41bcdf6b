package member

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"weft/vocab"
)

// Purpose says what sealed bytes hold. Each purpose has its own key in
// every epoch, so bytes sealed for one never open as another.
type Purpose uint8

// The purposes. The numbers are the wire form.
const (
	PurposePayload  Purpose = 1 // a transaction's payload (and a snapshot)
	PurposeTitle    Purpose = 2 // a document title
	PurposePresence Purpose = 3 // cursors and selections
	PurposeEpoch    Purpose = 4 // the previous epoch's secret, in a rekey
	numPurposes             = 4
	// PurposeRoute seals a whole gossip message under the document's
	// route key (route.go), which every member holds, pull included; it
	// is not derived from a read secret, so EpochKeys has no key for it.
	PurposeRoute Purpose = 5
)

func (p Purpose) valid() bool { return 1 <= p && p <= numPurposes }

var purposeNames = []string{PurposePayload: "payload", PurposeTitle: "title", PurposePresence: "presence", PurposeEpoch: "epoch", PurposeRoute: "route"}

func (p Purpose) String() string { return nameOf(p, purposeNames, "purpose") }

// Sealed form (bytes, not CBOR: it is on every transaction):
//
//	sealed = version(1 byte: 1) purpose(1 byte) epoch(uvarint) nonce(24 bytes) ciphertext
//
// The ciphertext is XChaCha20-Poly1305 (golang.org/x/crypto) under the
// epoch's key for the purpose, with a random 24-byte nonce (random nonces
// are safe at this size: 2^96 messages per key before a collision is
// likely), and as associated data the form's prefix (version, purpose,
// epoch) followed by the caller's: for a payload, its header's
// SealedAD, so a payload cannot be moved under another header.
const (
	sealedVersion = 1
	// NonceSize is the size of a nonce.
	NonceSize = chacha20poly1305.NonceSizeX
	// Overhead is the most a sealed form adds to its plaintext: version,
	// purpose, a 10-byte uvarint epoch, nonce and tag.
	Overhead = 2 + binary.MaxVarintLen64 + NonceSize + chacha20poly1305.Overhead
	// MaxSealedBytes bounds a sealed form: a transaction envelope's bound
	// (4 MiB, wire.MaxEnvelopeBytes).
	MaxSealedBytes = 4 << 20
)

// EpochKeys are one epoch's sealing keys, derived from its read secret
// with HKDF-SHA256: salt the document ID, info "weft/member/v1/seal-keys"
// then the purpose's name and the epoch, 32 bytes each.
type EpochKeys struct {
	Doc   vocab.DocID
	Epoch uint64
	id    [32]byte // the secret's ID: SHA-256 over a domain label and it
	aead  [numPurposes]cipher.AEAD
}

// NewEpochKeys derives an epoch's keys.
func NewEpochKeys(doc vocab.DocID, epoch uint64, secret *Secret) (*EpochKeys, error) {
	k := &EpochKeys{Doc: doc, Epoch: epoch, id: hashOf(domainSecretID, secret[:])}
	for p := Purpose(1); p <= numPurposes; p++ {
		info := fmt.Sprintf("%s/%s/%d", domainSealKeys, p, epoch)
		key, err := hkdf.Key(sha256.New, secret[:], doc[:], info, chacha20poly1305.KeySize)
		if err != nil {
			return nil, fmt.Errorf("member: sealing key: %w", err)
		}
		if k.aead[p-1], err = chacha20poly1305.NewX(key); err != nil {
			return nil, fmt.Errorf("member: sealing key: %w", err)
		}
	}
	return k, nil
}

func sealedPrefix(p Purpose, epoch uint64) []byte {
	b := []byte{sealedVersion, byte(p)}
	return binary.AppendUvarint(b, epoch)
}

// Seal seals plaintext for purpose p, with a nonce read from random and
// ad (the associated data: authenticated, not included). random must be
// crypto/rand.Reader outside tests: a repeated nonce under one key
// reveals the XOR of two plaintexts and allows forgeries.
func (k *EpochKeys) Seal(random io.Reader, p Purpose, plaintext, ad []byte) ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("member: seal: %v", p)
	}
	if len(plaintext) > MaxSealedBytes-Overhead {
		return nil, vocab.Reject(vocab.ReasonOversized, "sealing %d bytes (at most %d)", len(plaintext), MaxSealedBytes-Overhead)
	}
	out := sealedPrefix(p, k.Epoch)
	prefixLen := len(out)
	out = append(out, make([]byte, NonceSize)...)
	if _, err := io.ReadFull(random, out[prefixLen:]); err != nil {
		return nil, fmt.Errorf("member: nonce: %w", err)
	}
	nonce := out[prefixLen:]
	return k.aead[p-1].Seal(out, nonce, plaintext, append(out[:prefixLen:prefixLen], ad...)), nil
}

// Open opens bytes sealed for purpose p under this epoch with ad.
func (k *EpochKeys) Open(p Purpose, sealed, ad []byte) ([]byte, error) {
	s, err := ParseSealed(sealed)
	if err != nil {
		return nil, err
	}
	return k.open(p, s, ad)
}

func (k *EpochKeys) open(p Purpose, s Sealed, ad []byte) ([]byte, error) {
	if !p.valid() {
		// The route purpose (or any other) has no key derived from a read
		// secret: RouteKey opens it.
		return nil, vocab.Reject(vocab.ReasonDecrypt, "no epoch key for %v", p)
	}
	if s.Purpose != p {
		return nil, vocab.Reject(vocab.ReasonDecrypt, "sealed %v where %v was expected", s.Purpose, p)
	}
	if s.Epoch != k.Epoch {
		return nil, vocab.Reject(vocab.ReasonEpoch, "sealed under epoch %d, key of epoch %d", s.Epoch, k.Epoch)
	}
	pt, err := k.aead[p-1].Open(nil, s.Nonce, s.Ciphertext, append(s.prefix[:len(s.prefix):len(s.prefix)], ad...))
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonDecrypt, "%v of epoch %d does not open", p, s.Epoch)
	}
	return pt, nil
}

// Sealed is a parsed sealed form (its slices alias the input).
type Sealed struct {
	Purpose    Purpose
	Epoch      uint64
	Nonce      []byte
	Ciphertext []byte
	prefix     []byte
}

// ParseSealed reads a sealed form's fields, without opening it: which
// epoch's key it needs.
func ParseSealed(b []byte) (Sealed, error) {
	if len(b) > MaxSealedBytes {
		return Sealed{}, vocab.Reject(vocab.ReasonOversized, "sealed %d bytes (at most %d)", len(b), MaxSealedBytes)
	}
	if len(b) < 2 {
		return Sealed{}, vocab.Reject(vocab.ReasonMalformed, "sealed form of %d bytes", len(b))
	}
	if b[0] != sealedVersion {
		return Sealed{}, vocab.Reject(vocab.ReasonVersion, "sealed form version %d (this build reads %d)", b[0], sealedVersion)
	}
	p := Purpose(b[1])
	if !p.valid() && p != PurposeRoute {
		return Sealed{}, vocab.Reject(vocab.ReasonMalformed, "sealed form of unknown purpose %d", b[1])
	}
	epoch, n := binary.Uvarint(b[2:])
	if n <= 0 || n != len(binary.AppendUvarint(nil, epoch)) {
		return Sealed{}, vocab.Reject(vocab.ReasonMalformed, "sealed form: bad epoch")
	}
	rest := b[2+n:]
	if len(rest) < NonceSize+chacha20poly1305.Overhead {
		return Sealed{}, vocab.Reject(vocab.ReasonMalformed, "sealed form: %d bytes after the epoch", len(rest))
	}
	return Sealed{Purpose: p, Epoch: epoch, Nonce: rest[:NonceSize], Ciphertext: rest[NonceSize:], prefix: b[:2+n]}, nil
}

// MaxSecretsPerEpoch bounds the secrets a keyring holds for one epoch
// number: concurrent rekeys by two admins make two secrets for one epoch.
const MaxSecretsPerEpoch = 4

// Keyring holds the epoch keys a member has, and which is current: the
// highest epoch's, and where concurrent rekeys gave that epoch several
// secrets, the one with the lowest secret ID, so all members holding the
// same secrets seal with the same one.
type Keyring struct {
	doc     vocab.DocID
	epochs  map[uint64][]*EpochKeys
	current *EpochKeys
}

// NewKeyring makes an empty keyring for doc.
func NewKeyring(doc vocab.DocID) *Keyring {
	return &Keyring{doc: doc, epochs: make(map[uint64][]*EpochKeys)}
}

// Add adds an epoch's secret (again is a no-op).
func (r *Keyring) Add(epoch uint64, secret *Secret) error {
	k, err := NewEpochKeys(r.doc, epoch, secret)
	if err != nil {
		return err
	}
	for _, o := range r.epochs[epoch] {
		if o.id == k.id {
			return nil
		}
	}
	if len(r.epochs[epoch]) >= MaxSecretsPerEpoch {
		return vocab.Reject(vocab.ReasonOversized, "more than %d secrets for epoch %d", MaxSecretsPerEpoch, epoch)
	}
	r.epochs[epoch] = append(r.epochs[epoch], k)
	if c := r.current; c == nil || epoch > c.Epoch || epoch == c.Epoch && bytes.Compare(k.id[:], c.id[:]) < 0 {
		r.current = k
	}
	return nil
}

// Current returns the current epoch's keys (nil when empty).
func (r *Keyring) Current() *EpochKeys { return r.current }

// Has reports whether the keyring holds a secret of epoch n.
func (r *Keyring) Has(n uint64) bool { return len(r.epochs[n]) > 0 }

// Seal seals with the current epoch.
func (r *Keyring) Seal(random io.Reader, p Purpose, plaintext, ad []byte) ([]byte, error) {
	if r.current == nil {
		return nil, vocab.Reject(vocab.ReasonEpoch, "no read secret for document %s", r.doc)
	}
	return r.current.Seal(random, p, plaintext, ad)
}

// Open opens with the epoch the sealed form names (trying each of its
// secrets); an epoch not held is an epoch rejection (a removed member's,
// or one whose rekey has not arrived yet).
func (r *Keyring) Open(p Purpose, sealed, ad []byte) ([]byte, error) {
	s, err := ParseSealed(sealed)
	if err != nil {
		return nil, err
	}
	ks := r.epochs[s.Epoch]
	if len(ks) == 0 {
		return nil, vocab.Reject(vocab.ReasonEpoch, "sealed under epoch %d, which this member does not hold", s.Epoch)
	}
	for _, k := range ks {
		if pt, err2 := k.open(p, s, ad); err2 == nil {
			return pt, nil
		} else {
			err = err2
		}
	}
	return nil, err
}

// ID is the hash that names the epoch's secret (which of two concurrent
// secrets of one epoch this is).
func (k *EpochKeys) ID() [32]byte { return k.id }
