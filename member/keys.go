package member

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"

	"weft/vocab"
)

// Sizes of keys and secrets.
const (
	// SecretSize is the size of a read secret, a seed and a box key.
	SecretSize = 32
	// PublicKeySize is the size of an Ed25519 or X25519 public key.
	PublicKeySize = 32
)

// Secret is a read secret: the 32 random bytes one epoch's sealing keys
// are derived from.
type Secret [SecretSize]byte

// Document is what creating a document makes: its key pair (the root of
// its authority) and the read secret of epoch 0. The private key stays
// with the creator; the ID and the public key are public.
type Document struct {
	ID     vocab.DocID
	Public ed25519.PublicKey
	Key    ed25519.PrivateKey
	Secret Secret // epoch 0
}

// NewDocument makes a document's key pair and first read secret from
// random (crypto/rand.Reader in production; the bytes are read, so a
// test's reader makes them deterministic).
func NewDocument(random io.Reader) (*Document, error) {
	var seed [ed25519.SeedSize]byte
	d := &Document{}
	if _, err := io.ReadFull(random, seed[:]); err != nil {
		return nil, fmt.Errorf("member: document key: %w", err)
	}
	if _, err := io.ReadFull(random, d.Secret[:]); err != nil {
		return nil, fmt.Errorf("member: read secret: %w", err)
	}
	d.Key = ed25519.NewKeyFromSeed(seed[:])
	d.Public = d.Key.Public().(ed25519.PublicKey)
	id, err := DocIDOf(d.Public)
	if err != nil {
		return nil, err
	}
	d.ID = id
	return d, nil
}

// DocIDOf derives a document's ID from its public key: the first 16
// bytes of SHA-256(domain, key). The ID is self-certifying: whoever holds
// the key can check that it names this document. It fails only for a key
// of the wrong size, or (with probability 2^-128) an all-zero ID.
func DocIDOf(pub ed25519.PublicKey) (vocab.DocID, error) {
	var id vocab.DocID
	if len(pub) != ed25519.PublicKeySize {
		return id, vocab.Reject(vocab.ReasonMalformed, "document key of %d bytes (want %d)", len(pub), ed25519.PublicKeySize)
	}
	h := hashOf(domainDocID, pub)
	copy(id[:], h[:len(id)])
	if err := id.Check(); err != nil {
		return vocab.DocID{}, vocab.Reject(vocab.ReasonMalformed, "document key: %v", err)
	}
	return id, nil
}

// CheckDocKey returns a rejection (wrong-document) unless pub is the key
// doc was derived from.
func CheckDocKey(doc vocab.DocID, pub ed25519.PublicKey) error {
	id, err := DocIDOf(pub)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(id[:], doc[:]) != 1 {
		return vocab.Reject(vocab.ReasonWrongDocument, "document key names %s, not %s", id, doc)
	}
	return nil
}

// Device is a device's keys: its Ed25519 key (the libp2p identity key:
// it signs links and transactions, and its public half is the device's
// ID) and an X25519 key that read secrets are sealed to.
type Device struct {
	Sign ed25519.PrivateKey
	Box  *ecdh.PrivateKey
}

// DeviceFrom makes a device's keys from its Ed25519 private key. The
// X25519 key is derived from the Ed25519 seed with HKDF (not converted
// from the Edwards point, which the standard library cannot do), so a
// device needs to store nothing more than the key it has.
func DeviceFrom(sign ed25519.PrivateKey) (*Device, error) {
	if len(sign) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("member: device key of %d bytes (want %d)", len(sign), ed25519.PrivateKeySize)
	}
	box, err := boxKeyFrom(sign.Seed(), domainDeviceBox)
	if err != nil {
		return nil, err
	}
	return &Device{Sign: sign, Box: box}, nil
}

// Public returns the device's Ed25519 public key.
func (d *Device) Public() ed25519.PublicKey { return d.Sign.Public().(ed25519.PublicKey) }

// BoxPublic returns the device's X25519 public key.
func (d *Device) BoxPublic() []byte { return d.Box.PublicKey().Bytes() }

// boxKeyFrom derives an X25519 private key from a seed.
func boxKeyFrom(seed []byte, domain string) (*ecdh.PrivateKey, error) {
	k, err := hkdf.Key(sha256.New, seed, nil, domain, SecretSize)
	if err != nil {
		return nil, fmt.Errorf("member: box key: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(k)
}
