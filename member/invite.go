package member

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"weft/vocab"
)

// InvitePrefix starts every invite. The invite is one string, which is
// also the link the editor opens: "weft:invite/" and the base64url (no
// padding) of the CBOR record below.
const InvitePrefix = "weft:invite/"

// Limits of an invite.
const (
	// MaxInviteBytes bounds the decoded record: a full chain and the
	// fixed fields.
	MaxInviteBytes = MaxChainBytes + 256
	// MaxInviteChars bounds the string, checked before decoding.
	MaxInviteChars = len(InvitePrefix) + (MaxInviteBytes*4+2)/3
)

// Invite format (CBOR, Core Deterministic Encoding):
//
//	invite = [1, docKey, seed, chain, epoch, secret]
//	docKey = bstr .size 32      ; the document's public key
//	seed   = bstr .size 32      ; the one-time invite key's private seed
//	chain  = [1* link]          ; root → … → the invite link (invite = true)
//	epoch  = uint               ; the epoch of secret
//	secret = bstr .size 0 / 32  ; the read secret, for reading roles only
//
// The invite key is the Ed25519 key of seed; its X25519 key (the invite
// link's box, so that a rotation can seal the new secret to an invite
// not yet redeemed) is derived from seed with HKDF. The role is the
// invite link's: it is not repeated, so it cannot disagree.
type Invite struct {
	DocKey ed25519.PublicKey
	Seed   [SecretSize]byte
	Chain  Chain
	Epoch  uint64
	Secret *Secret // nil for pull
}

type inviteWire struct {
	_      struct{} `cbor:",toarray"`
	V      uint64
	DocKey []byte
	Seed   []byte
	Chain  []linkWire
	Epoch  uint64
	Secret []byte
}

// InviteGrant is what an invite grants.
type InviteGrant struct {
	Role     Role
	Label    string // the invitee, as the inviter names them
	NotAfter int64  // unix seconds, 0 = none; also bounds the joined device
}

// NewInvite makes an invite: a fresh invite key from random, and a link
// to it issued by issuer, whose own chain is issuerChain (nil when issuer
// is the document key). For reading roles secret (the current epoch's) is
// required and travels in the invite.
func NewInvite(random io.Reader, issuer ed25519.PrivateKey, issuerChain Chain, docKey ed25519.PublicKey, g InviteGrant, epoch uint64, secret *Secret) (*Invite, error) {
	doc, err := DocIDOf(docKey)
	if err != nil {
		return nil, err
	}
	if g.Role.CanRead() != (secret != nil) {
		return nil, fmt.Errorf("member: a %v invite %s a read secret", g.Role, map[bool]string{true: "needs", false: "must not carry"}[g.Role.CanRead()])
	}
	inv := &Invite{DocKey: docKey, Epoch: epoch, Secret: secret}
	if _, err := io.ReadFull(random, inv.Seed[:]); err != nil {
		return nil, fmt.Errorf("member: invite key: %w", err)
	}
	box, err := inv.box()
	if err != nil {
		return nil, err
	}
	grant := Grant{Role: g.Role, Invite: true, Subject: inv.key().Public().(ed25519.PublicKey), Box: box.PublicKey().Bytes(), NotAfter: g.NotAfter, Label: g.Label}
	l, err := Issue(issuer, doc, issuerChain.Leaf(), grant)
	if err != nil {
		return nil, err
	}
	inv.Chain = issuerChain.Extend(l)
	return inv, nil
}

func (inv *Invite) key() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(inv.Seed[:]) }

func (inv *Invite) box() (*ecdh.PrivateKey, error) { return boxKeyFrom(inv.Seed[:], domainInviteBox) }

// Role is the role the invite grants.
func (inv *Invite) Role() Role { return inv.Chain.Leaf().Role }

// Doc is the invited document.
func (inv *Invite) Doc() vocab.DocID { return inv.Chain.Leaf().Doc }

// String returns the invite's one string form (also its link).
func (inv *Invite) String() string {
	w := inviteWire{V: Format, DocKey: inv.DocKey, Seed: inv.Seed[:], Chain: inv.Chain.wire(), Epoch: inv.Epoch}
	if inv.Secret != nil {
		w.Secret = inv.Secret[:]
	}
	return InvitePrefix + base64.RawURLEncoding.EncodeToString(marshal(w))
}

// ParseInvite reads an invite (surrounding white space is ignored) and
// checks everything but its expiry, which Join checks: the chain's
// signatures and rules, that the seed is the invite link's key, and that
// a read secret is there exactly for reading roles.
func ParseInvite(s string) (*Invite, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxInviteChars {
		return nil, vocab.Reject(vocab.ReasonOversized, "invite of %d characters (at most %d)", len(s), MaxInviteChars)
	}
	rest, ok := strings.CutPrefix(s, InvitePrefix)
	if !ok {
		return nil, vocab.Reject(vocab.ReasonMalformed, "an invite starts with %q", InvitePrefix)
	}
	data, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "invite: %v", err)
	}
	var w inviteWire
	if err := unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "invite: %v", err)
	}
	if w.V != Format {
		return nil, vocab.Reject(vocab.ReasonVersion, "invite format %d (this build reads %d)", w.V, Format)
	}
	if len(w.DocKey) != ed25519.PublicKeySize || len(w.Seed) != SecretSize || (len(w.Secret) != 0 && len(w.Secret) != SecretSize) {
		return nil, vocab.Reject(vocab.ReasonMalformed, "invite: a key, seed or secret of the wrong size")
	}
	inv := &Invite{DocKey: w.DocKey, Epoch: w.Epoch}
	copy(inv.Seed[:], w.Seed)
	if len(w.Secret) != 0 {
		inv.Secret = new(Secret)
		copy(inv.Secret[:], w.Secret)
	}
	if inv.Chain, err = chainFromWire(w.Chain); err != nil {
		return nil, err
	}
	m, err := verify(inv.Chain, inv.DocKey, noExpiry)
	if err != nil {
		return nil, err
	}
	if !m.Invite {
		return nil, vocab.Reject(vocab.ReasonCapability, "invite: the chain does not end at an invite key")
	}
	box, err := inv.box()
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "invite: %v", err)
	}
	if !m.Subject.Equal(inv.key().Public()) || (len(m.Box) != 0 && !bytes.Equal(m.Box, box.PublicKey().Bytes())) {
		return nil, vocab.Reject(vocab.ReasonCapability, "invite: the seed is not the invite link's key")
	}
	if m.Role.CanRead() != (inv.Secret != nil) {
		return nil, vocab.Reject(vocab.ReasonMalformed, "invite: a %v invite with%s a read secret", m.Role, map[bool]string{true: "", false: "out"}[inv.Secret != nil])
	}
	return inv, nil
}

// Join redeems an invite for a device at time now: the invite key issues
// a link to dev of role (RoleNone: the invite's; never above it) and
// label, and Join returns the device's chain root → … → invite key →
// device. The new link has no expiry of its own; the invite's bounds it.
//
// An invite is meant to be redeemed once, but a link cannot know whether
// another was issued under the same invite. Where two are seen, the one
// with the lowest LinkHash counts (FirstRedemption): a rule on the links
// alone, so every replica decides alike.
func Join(inv *Invite, dev *Device, role Role, label string, now int64) (Chain, error) {
	m, err := VerifyInvite(inv.Chain, inv.DocKey, now)
	if err != nil {
		return nil, err
	}
	if role == RoleNone {
		role = m.Role
	}
	l, err := Issue(inv.key(), inv.Doc(), inv.Chain.Leaf(), Grant{Role: role, Subject: dev.Public(), Box: dev.BoxPublic(), Label: label})
	if err != nil {
		return nil, err
	}
	return inv.Chain.Extend(l), nil
}

// BoxKey returns the invite's X25519 key, which opens the
// boxes a rekey sealed to the invite while it was not yet redeemed.
func (inv *Invite) BoxKey() (*ecdh.PrivateKey, error) { return inv.box() }

// FirstRedemption returns, among links issued under one invite link (all
// naming it as parent), the one that counts: the lowest Hash. Nil for
// none.
func FirstRedemption(links []*Link) *Link {
	var best *Link
	var bestHash [32]byte
	for _, l := range links {
		if h := l.Hash(); best == nil || bytes.Compare(h[:], bestHash[:]) < 0 {
			best, bestHash = l, h
		}
	}
	return best
}
