package member

import (
	"bytes"
	"crypto/ed25519"

	"weft/vocab"
)

// Limits of a chain.
const (
	// MaxChainLinks bounds a chain: root link, admins delegating to
	// admins, an invite, the device. Verifying one costs one Ed25519
	// verification per link.
	MaxChainLinks = 16
	// MaxChainBytes bounds an encoded chain.
	MaxChainBytes = MaxChainLinks*MaxLinkBytes + 16
)

// Chain is a capability: links from the document key (root) to a leaf.
//
//	chain = [1* link]      ; CBOR array, root first, at most 16 links
type Chain []*Link

// Member is what a valid chain grants: the leaf's role and keys.
type Member struct {
	Role    Role
	Subject ed25519.PublicKey // the leaf's Ed25519 key
	Box     []byte            // the leaf's X25519 key (empty for pull)
	Label   string            // the leaf's label
	// NotAfter is the earliest expiry along the chain (0 = none): a
	// link's expiry bounds everything issued under it.
	NotAfter int64
	// Invite is set when the leaf is an invite key (VerifyInvite's
	// result); Verify never returns one.
	Invite bool
}

// Verify checks a member's chain for the document with key docKey at
// time now (unix seconds) and returns what it grants. Each link must be
// for the document and signed by its issuer (the document key for the
// first, the previous link's subject after) and name its parent's hash;
// a role never exceeds its parent's and only admins delegate (an invite
// key issues one device link); no link is expired; at most MaxChainLinks
// links. A chain ending at an invite key grants nothing until redeemed
// (Join), so Verify refuses it.
//
// Errors are rejections: capability, signature, expired, malformed,
// oversized or wrong-document.
func Verify(c Chain, docKey ed25519.PublicKey, now int64) (*Member, error) {
	m, err := verify(c, docKey, now)
	if err != nil {
		return nil, err
	}
	if m.Invite {
		return nil, vocab.Reject(vocab.ReasonCapability, "the chain ends at an invite key, not a device")
	}
	return m, nil
}

// VerifyInvite checks a chain that ends at an invite key.
func VerifyInvite(c Chain, docKey ed25519.PublicKey, now int64) (*Member, error) {
	m, err := verify(c, docKey, now)
	if err != nil {
		return nil, err
	}
	if !m.Invite {
		return nil, vocab.Reject(vocab.ReasonCapability, "the chain does not end at an invite key")
	}
	return m, nil
}

// noExpiry, given as now, skips the expiry check (to inspect a chain).
const noExpiry = -1

func verify(c Chain, docKey ed25519.PublicKey, now int64) (*Member, error) {
	doc, err := DocIDOf(docKey)
	if err != nil {
		return nil, err
	}
	if len(c) == 0 {
		return nil, vocab.Reject(vocab.ReasonCapability, "empty chain")
	}
	if len(c) > MaxChainLinks {
		return nil, vocab.Reject(vocab.ReasonOversized, "chain of %d links (at most %d)", len(c), MaxChainLinks)
	}
	m := &Member{}
	issuer := docKey
	for i, l := range c {
		if err := l.checkFields(); err != nil {
			return nil, err
		}
		if l.Doc != doc {
			return nil, vocab.Reject(vocab.ReasonWrongDocument, "link %d is for document %s, not %s", i, l.Doc, doc)
		}
		if i == 0 {
			if len(l.Parent) != 0 {
				return nil, vocab.Reject(vocab.ReasonCapability, "the first link names a parent")
			}
		} else {
			p := c[i-1]
			h := p.Hash()
			if !bytes.Equal(l.Parent, h[:]) {
				return nil, vocab.Reject(vocab.ReasonCapability, "link %d does not name link %d as its parent", i, i-1)
			}
			if err := checkStep(p, l); err != nil {
				return nil, err
			}
		}
		if len(l.Sig) != ed25519.SignatureSize || !ed25519.Verify(issuer, signed(domainDelegation, l.body()), l.Sig) {
			return nil, vocab.Reject(vocab.ReasonSignature, "link %d (%v, %q): bad signature", i, l.Role, l.Label)
		}
		if l.NotAfter != 0 && (m.NotAfter == 0 || l.NotAfter < m.NotAfter) {
			m.NotAfter = l.NotAfter
		}
		issuer = l.Subject
	}
	if now != noExpiry && m.NotAfter != 0 && now > m.NotAfter {
		return nil, vocab.Reject(vocab.ReasonExpired, "the chain expired at %d (now %d)", m.NotAfter, now)
	}
	leaf := c[len(c)-1]
	m.Role, m.Subject, m.Box, m.Label, m.Invite = leaf.Role, leaf.Subject, leaf.Box, leaf.Label, leaf.Invite
	return m, nil
}

// Extend returns a new chain: c followed by l.
func (c Chain) Extend(l *Link) Chain {
	return append(append(Chain(nil), c...), l)
}

// Leaf returns the last link (nil for an empty chain).
func (c Chain) Leaf() *Link {
	if len(c) == 0 {
		return nil
	}
	return c[len(c)-1]
}

// Contains reports whether key is the subject of a link of c: whether a
// revocation of key takes c down (every chain through a revoked key
// falls with it).
func (c Chain) Contains(key ed25519.PublicKey) bool {
	for _, l := range c {
		if l.Subject.Equal(key) {
			return true
		}
	}
	return false
}

func (c Chain) wire() []linkWire {
	w := make([]linkWire, len(c))
	for i, l := range c {
		w[i] = l.wire()
	}
	return w
}

// Marshal encodes the chain.
func (c Chain) Marshal() []byte { return marshal(c.wire()) }

// ParseChain decodes a chain and checks each link's fields (bounds,
// sizes); signatures and the rules between links are Verify's.
func ParseChain(data []byte) (Chain, error) {
	if len(data) > MaxChainBytes {
		return nil, vocab.Reject(vocab.ReasonOversized, "chain of %d bytes (at most %d)", len(data), MaxChainBytes)
	}
	var w []linkWire
	if err := unmarshal(data, &w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "chain: %v", err)
	}
	return chainFromWire(w)
}

func chainFromWire(w []linkWire) (Chain, error) {
	if len(w) == 0 || len(w) > MaxChainLinks {
		return nil, vocab.Reject(vocab.ReasonMalformed, "chain of %d links (1 to %d)", len(w), MaxChainLinks)
	}
	c := make(Chain, len(w))
	for i := range w {
		l, err := parseLink(&w[i])
		if err != nil {
			return nil, err
		}
		c[i] = l
	}
	return c, nil
}
