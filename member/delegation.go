package member

import (
	"crypto/ed25519"
	"unicode"
	"unicode/utf8"

	"weft/vocab"
)

// Limits of a link.
const (
	// MaxLabelBytes bounds a link's label (a person's name for a device).
	MaxLabelBytes = 64
	// MaxLinkBytes bounds one encoded link (a full one is about 300).
	MaxLinkBytes = 512
)

// Link format (CBOR, Core Deterministic Encoding):
//
//	link     = [1, doc, role, invite, subject, box, parent, notAfter, label, sig]
//	doc      = bstr .size 16
//	role     = 1..4                  ; pull, read, write, admin
//	invite   = bool                  ; the subject is a one-time invite key
//	subject  = bstr .size 32         ; Ed25519 key the role is granted to
//	box      = bstr .size 0 / 32     ; X25519 key for sealing read secrets
//	                                 ; to; present exactly for reading roles
//	parent   = bstr .size 0 / 32     ; LinkHash of the previous link; empty
//	                                 ; for a link issued by the document key
//	notAfter = uint                  ; unix seconds, 0 = no expiry
//	label    = tstr .size (0..64)
//	sig      = bstr .size 64         ; the issuer's signature over
//	                                 ; "weft/member/v1/delegation\0" || the
//	                                 ; first nine fields as a CBOR array
//
// The issuer is not named: it is the document key for the first link of
// a chain and the previous link's subject after, so a link cannot claim
// an issuer it does not chain to.
type Link struct {
	Doc      vocab.DocID
	Role     Role
	Invite   bool
	Subject  ed25519.PublicKey
	Box      []byte
	Parent   []byte
	NotAfter int64
	Label    string
	Sig      []byte
}

type linkBody struct {
	_        struct{} `cbor:",toarray"`
	V        uint64
	Doc      []byte
	Role     uint8
	Invite   bool
	Subject  []byte
	Box      []byte
	Parent   []byte
	NotAfter uint64
	Label    string
}

// linkWire is the whole link: its body, then the signature (an embedded
// struct's fields stand in its place in the array).
type linkWire struct {
	_ struct{} `cbor:",toarray"`
	linkBody
	Sig []byte
}

func (l *Link) bodyWire() linkBody {
	return linkBody{V: Format, Doc: l.Doc[:], Role: uint8(l.Role), Invite: l.Invite, Subject: l.Subject, Box: l.Box, Parent: l.Parent, NotAfter: uint64(l.NotAfter), Label: l.Label}
}

func (l *Link) body() []byte { return marshal(l.bodyWire()) }

func (l *Link) wire() linkWire { return linkWire{linkBody: l.bodyWire(), Sig: l.Sig} }

// Marshal encodes the link.
func (l *Link) Marshal() []byte { return marshal(l.wire()) }

// Hash is the link's hash, which its children name as their parent:
// SHA-256 over a domain label and the whole encoded link.
func (l *Link) Hash() [32]byte { return hashOf(domainLinkHash, l.Marshal()) }

// Grant is what an issuer fills in; Issue adds the parent and signs.
type Grant struct {
	Role     Role
	Invite   bool
	Subject  ed25519.PublicKey
	Box      []byte // X25519 public key; required for reading roles
	NotAfter int64  // unix seconds, 0 = none
	Label    string
}

// Issue signs a link granting g under parent (nil when issuer is the
// document key). It checks the link against the rules Verify applies to
// it alone (not the chain above parent): a link Issue returns, appended to
// a valid chain ending in parent, gives a valid chain.
func Issue(issuer ed25519.PrivateKey, doc vocab.DocID, parent *Link, g Grant) (*Link, error) {
	l := &Link{Doc: doc, Role: g.Role, Invite: g.Invite, Subject: g.Subject, Box: g.Box, NotAfter: g.NotAfter, Label: g.Label}
	if parent != nil {
		h := parent.Hash()
		l.Parent = h[:]
	}
	if err := l.checkFields(); err != nil {
		return nil, err
	}
	pub := issuer.Public().(ed25519.PublicKey)
	if parent == nil {
		if err := CheckDocKey(doc, pub); err != nil {
			return nil, vocab.Reject(vocab.ReasonCapability, "a first link must be issued by the document key: %v", err)
		}
	} else {
		if err := checkStep(parent, l); err != nil {
			return nil, err
		}
		if !pub.Equal(parent.Subject) {
			return nil, vocab.Reject(vocab.ReasonCapability, "the issuer is not the parent link's subject")
		}
	}
	l.Sig = ed25519.Sign(issuer, signed(domainDelegation, l.body()))
	return l, nil
}

// checkFields applies the rules of one link that need no other.
func (l *Link) checkFields() error {
	switch {
	case l.Doc.Check() != nil:
		return vocab.Reject(vocab.ReasonMalformed, "link: %v", l.Doc.Check())
	case !l.Role.Valid():
		return vocab.Reject(vocab.ReasonMalformed, "link: %v is not a role", l.Role)
	case len(l.Subject) != ed25519.PublicKeySize:
		return vocab.Reject(vocab.ReasonMalformed, "link: subject key of %d bytes", len(l.Subject))
	case l.Role.CanRead() && len(l.Box) != PublicKeySize:
		return vocab.Reject(vocab.ReasonMalformed, "link: a %v link needs a %d-byte box key (has %d bytes)", l.Role, PublicKeySize, len(l.Box))
	case len(l.Box) != 0 && len(l.Box) != PublicKeySize:
		return vocab.Reject(vocab.ReasonMalformed, "link: box key of %d bytes", len(l.Box))
	case len(l.Parent) != 0 && len(l.Parent) != 32:
		return vocab.Reject(vocab.ReasonMalformed, "link: parent hash of %d bytes", len(l.Parent))
	case l.NotAfter < 0:
		return vocab.Reject(vocab.ReasonMalformed, "link: negative expiry")
	}
	return checkLabel(l.Label)
}

// checkLabel: at most MaxLabelBytes of valid UTF-8, no control
// characters.
func checkLabel(s string) error {
	if len(s) > MaxLabelBytes {
		return vocab.Reject(vocab.ReasonOversized, "label of %d bytes (at most %d)", len(s), MaxLabelBytes)
	}
	if !utf8.ValidString(s) {
		return vocab.Reject(vocab.ReasonMalformed, "label is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return vocab.Reject(vocab.ReasonMalformed, "label has a control character")
		}
	}
	return nil
}

// checkStep applies the rules between a link and its parent: the role
// never rises, and only an admin link issues, except that an invite
// link's subject issues exactly one kind of link: a non-invite link of at
// most the invite's role (the joining device's).
func checkStep(parent, l *Link) error {
	if parent.Invite {
		if l.Invite {
			return vocab.Reject(vocab.ReasonCapability, "an invite key cannot issue another invite")
		}
		if !parent.Role.Covers(l.Role) {
			return vocab.Reject(vocab.ReasonCapability, "a %v link under a %v invite", l.Role, parent.Role)
		}
		return nil
	}
	if !parent.Role.MayGrant(l.Role) {
		return vocab.Reject(vocab.ReasonCapability, "a %v link issued by a %v: only admins delegate", l.Role, parent.Role)
	}
	return nil
}

// parseLink reads one decoded link and checks its fields (not its
// signature: that needs the issuer).
func parseLink(w *linkWire) (*Link, error) {
	if w.V != Format {
		return nil, vocab.Reject(vocab.ReasonVersion, "link format %d (this build reads %d)", w.V, Format)
	}
	if len(w.Doc) != len(vocab.DocID{}) {
		return nil, vocab.Reject(vocab.ReasonMalformed, "link: document ID of %d bytes", len(w.Doc))
	}
	if w.NotAfter > 1<<62 {
		return nil, vocab.Reject(vocab.ReasonMalformed, "link: expiry out of range")
	}
	if len(w.Sig) != ed25519.SignatureSize {
		return nil, vocab.Reject(vocab.ReasonMalformed, "link: signature of %d bytes", len(w.Sig))
	}
	l := &Link{Role: Role(w.Role), Invite: w.Invite, Subject: w.Subject, Box: w.Box, Parent: w.Parent, NotAfter: int64(w.NotAfter), Label: w.Label, Sig: w.Sig}
	copy(l.Doc[:], w.Doc)
	if err := l.checkFields(); err != nil {
		return nil, err
	}
	return l, nil
}
