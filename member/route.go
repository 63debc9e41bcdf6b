package member

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"

	"weft/vocab"
)

// Routing: what members who hold no read secret (relays) and everyone else
// who knows a document's ID share, and strangers, who see only topic
// names, do not. The ID is not a capability: it grants no data and no
// writes. It hides who talks about which document, and headers (agents,
// parents, sizes) from anyone who has not been told the ID.
const (
	domainTopic    = "weft/member/v1/topic\x00"
	domainOpen     = "weft/member/v1/open\x00"
	routeKeyInfo   = "weft/member/v1/seal-keys/route/0"
	routeNonceInfo = "weft/member/v1/route-nonce/0"
	topicIDSize    = 16
	openMACSize    = sha256.Size
	maxPeerIDBytes = 128
)

// TopicID is the first 16 bytes of SHA-256 over a domain label and the
// document ID: what topic names and catch-up's open message carry instead
// of the ID.
func TopicID(doc vocab.DocID) [topicIDSize]byte {
	h := hashOf(domainTopic, doc[:])
	var t [topicIDSize]byte
	copy(t[:], h[:])
	return t
}

// TopicHex is TopicID in lowercase hex (32 characters).
func TopicHex(doc vocab.DocID) string {
	t := TopicID(doc)
	return hex.EncodeToString(t[:])
}

// RouteKey seals and opens whole gossip messages of one document: the
// sealed form with purpose route, epoch 0, under HKDF-SHA256(secret =
// salt = the ID's 16 bytes, info "weft/member/v1/seal-keys/route/0"), with
// the topic name as associated data.
type RouteKey struct {
	doc   vocab.DocID
	aead  cipher.AEAD
	nonce []byte // keys the synthetic nonces
}

// NewRouteKey derives doc's route key.
func NewRouteKey(doc vocab.DocID) (*RouteKey, error) {
	key, err := hkdf.Key(sha256.New, doc[:], doc[:], routeKeyInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("member: route key: %w", err)
	}
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("member: route key: %w", err)
	}
	nk, err := hkdf.Key(sha256.New, doc[:], doc[:], routeNonceInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("member: route key: %w", err)
	}
	return &RouteKey{doc: doc, aead: a, nonce: nk}, nil
}

// Seal seals a gossip message for topic. The nonce is synthetic: the
// first 24 bytes of HMAC-SHA256(HKDF(ID, info
// "weft/member/v1/route-nonce/0"), topic ‖ 0 ‖ plaintext), so one message
// sealed by any member is the same bytes (GossipSub's message ID is their
// hash: a transaction re-published after catch-up is still recognised as
// seen). A nonce repeats only for the same plaintext, which reveals no
// more than that the message was sent twice.
func (k *RouteKey) Seal(topic string, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxSealedBytes-Overhead {
		return nil, vocab.Reject(vocab.ReasonOversized, "sealing %d bytes (at most %d)", len(plaintext), MaxSealedBytes-Overhead)
	}
	out := sealedPrefix(PurposeRoute, 0)
	n := len(out)
	mac := hmac.New(sha256.New, k.nonce)
	mac.Write([]byte(topic))
	mac.Write([]byte{0})
	mac.Write(plaintext)
	out = append(out, mac.Sum(nil)[:NonceSize]...)
	return k.aead.Seal(out, out[n:], plaintext, append(out[:n:n], topic...)), nil
}

// Open opens a gossip message of topic.
func (k *RouteKey) Open(topic string, sealed []byte) ([]byte, error) {
	s, err := ParseSealed(sealed)
	if err != nil {
		return nil, err
	}
	if s.Purpose != PurposeRoute || s.Epoch != 0 {
		return nil, vocab.Reject(vocab.ReasonDecrypt, "a gossip message sealed as %v of epoch %d", s.Purpose, s.Epoch)
	}
	pt, err := k.aead.Open(nil, s.Nonce, s.Ciphertext, append(s.prefix[:len(s.prefix):len(s.prefix)], topic...))
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonDecrypt, "a gossip message that does not open under its document's route key")
	}
	return pt, nil
}

// OpenMAC is what catch-up's open message carries: HMAC-SHA256 keyed with
// the document ID over a domain label, the sender's and the receiver's
// peer IDs (their binary forms). It shows the sender knows the ID
// without naming it, bound to this pair of peers so it cannot be replayed
// to another.
func OpenMAC(doc vocab.DocID, from, to []byte) []byte {
	m := hmac.New(sha256.New, doc[:])
	m.Write([]byte(domainOpen))
	writeLen(m, from)
	writeLen(m, to)
	return m.Sum(nil)
}

// CheckOpenMAC checks an OpenMAC in constant time.
func CheckOpenMAC(doc vocab.DocID, from, to, mac []byte) error {
	if len(from) > maxPeerIDBytes || len(to) > maxPeerIDBytes {
		return vocab.Reject(vocab.ReasonMalformed, "peer ID of more than %d bytes", maxPeerIDBytes)
	}
	if !hmac.Equal(OpenMAC(doc, from, to), mac) {
		return vocab.Reject(vocab.ReasonCapability, "the open message does not show knowledge of the document")
	}
	return nil
}

func writeLen(w io.Writer, b []byte) {
	_, _ = w.Write([]byte{byte(len(b))})
	_, _ = w.Write(b)
}
