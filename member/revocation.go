package member

import (
	"crypto/ed25519"
	"io"
	"maps"
	"slices"

	"weft/vocab"
)

// Limits of a revocation.
const (
	// MaxRevokedAgents bounds the agents a revocation lists (a device and
	// its tabs).
	MaxRevokedAgents = 256
	// MaxRevocationBytes bounds an encoded revocation.
	MaxRevocationBytes = 160 << 10
)

// IgnoreExpiry, passed as now to VerifyRevocation (or Verify), judges a
// record that is part of a document's history without a clock: whether
// it counts must not depend on when a replica looks (docs/members-only.md).
const IgnoreExpiry = noExpiry

// Revocation removes a device (or an invite key, or an admin with all it
// issued) from a document, signed by an admin, and starts a new epoch
// whose secret the removed device does not get.
//
// Format (CBOR, Core Deterministic Encoding):
//
//	revocation = [1, doc, subject, counts, epoch, prevEpoch, prev, boxes, chain, sig]
//	subject    = bstr .size 32          ; the revoked Ed25519 key
//	counts     = [* [tstr, uint]]       ; per agent of subject, in agent order:
//	                                    ; how many of its seqs count (seqs < n)
//	epoch, prevEpoch, prev, boxes       ; the Rekey (boxes = [* [bstr, bstr]])
//	chain      = [* link]               ; the revoker's; empty: the document key
//	sig        = bstr .size 64          ; the revoker's signature over
//	                                    ; "weft/member/v1/revocation\0" || the
//	                                    ; first nine fields as a CBOR array
//
// Counts is the revoker's frontier of the revoked device's agents: its
// transactions the revoker had seen when it removed it. An agent not
// listed has none that count. The rule that uses it is in
// docs/members-only.md.
type Revocation struct {
	Doc     vocab.DocID
	Subject ed25519.PublicKey
	Counts  vocab.Version
	Rekey   Rekey
	Chain   Chain
	Sig     []byte
}

type revocationBody struct {
	_         struct{} `cbor:",toarray"`
	V         uint64
	Doc       []byte
	Subject   []byte
	Counts    []wireID
	Epoch     uint64
	PrevEpoch uint64
	Prev      []byte
	Boxes     []boxWire
	Chain     []linkWire
}

// revocationWire is the whole revocation: its body, then the signature
// (an embedded struct's fields stand in its place in the array).
type revocationWire struct {
	_ struct{} `cbor:",toarray"`
	revocationBody
	Sig []byte
}

func (r *Revocation) counts() []wireID {
	agents := slices.Sorted(maps.Keys(r.Counts))
	w := make([]wireID, len(agents))
	for i, a := range agents {
		w[i] = wireID{Agent: a, Seq: r.Counts[a]}
	}
	return w
}

func (b revocationBody) version() uint64 { return b.V }

func (r *Revocation) bodyWire() revocationBody {
	return revocationBody{V: Format, Doc: r.Doc[:], Subject: r.Subject, Counts: r.counts(), Epoch: r.Rekey.Epoch, PrevEpoch: r.Rekey.PrevEpoch, Prev: r.Rekey.Prev, Boxes: r.Rekey.boxes(), Chain: r.Chain.wire()}
}

func (r *Revocation) body() []byte { return marshal(r.bodyWire()) }

// Marshal encodes the revocation.
func (r *Revocation) Marshal() []byte {
	return marshal(revocationWire{revocationBody: r.bodyWire(), Sig: r.Sig})
}

// Hash is the revocation's hash (concurrent rekeys to one epoch are
// told apart by it).
func (r *Revocation) Hash() [32]byte { return hashOf(domainRevocation, r.Marshal()) }

// Revoke makes and signs a revocation. revoker signs; chain is its
// capability (nil when revoker is the document key). counts are the
// revoked device's agents as the revoker knows them; rekey is the new
// epoch (NewRekey, sealed to everyone who still reads).
func Revoke(revoker ed25519.PrivateKey, chain Chain, doc vocab.DocID, subject ed25519.PublicKey, counts vocab.Version, rekey *Rekey) (*Revocation, error) {
	r := &Revocation{Doc: doc, Subject: subject, Counts: counts.Clone(), Rekey: *rekey, Chain: chain}
	if r.Counts == nil {
		r.Counts = vocab.Version{}
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	r.Sig = ed25519.Sign(revoker, signed(domainRevocation, r.body()))
	return r, nil
}

func (r *Revocation) check() error {
	if len(r.Subject) != ed25519.PublicKeySize {
		return vocab.Reject(vocab.ReasonMalformed, "revocation: subject key of %d bytes", len(r.Subject))
	}
	if len(r.Counts) > MaxRevokedAgents {
		return vocab.Reject(vocab.ReasonOversized, "revocation of %d agents (at most %d)", len(r.Counts), MaxRevokedAgents)
	}
	if err := r.Counts.Check(); err != nil {
		return vocab.Reject(vocab.ReasonMalformed, "revocation: %v", err)
	}
	for a := range r.Counts {
		if !OwnsAgent(r.Subject, a) {
			return vocab.Reject(vocab.ReasonAgentOwner, "revocation lists agent %q, which is not the revoked device's", a)
		}
	}
	if len(r.Chain) > MaxChainLinks {
		return vocab.Reject(vocab.ReasonOversized, "revocation: chain of %d links", len(r.Chain))
	}
	return r.Rekey.check()
}

// VerifyRevocation checks a revocation for the document with key docKey:
// its bounds, that its revoker is an admin (its chain verifies at now,
// or IgnoreExpiry) or the document key, and the revoker's signature.
func VerifyRevocation(r *Revocation, docKey ed25519.PublicKey, now int64) error {
	if err := CheckDocKey(r.Doc, docKey); err != nil {
		return err
	}
	if err := r.check(); err != nil {
		return err
	}
	signer := docKey
	if len(r.Chain) > 0 {
		m, err := Verify(r.Chain, docKey, now)
		if err != nil {
			return err
		}
		if !m.Role.CanDelegate() {
			return vocab.Reject(vocab.ReasonRevoked, "revocation by a %v: only admins remove", m.Role)
		}
		signer = m.Subject
	}
	if len(r.Sig) != ed25519.SignatureSize || !ed25519.Verify(signer, signed(domainRevocation, r.body()), r.Sig) {
		return vocab.Reject(vocab.ReasonSignature, "revocation: bad signature")
	}
	return nil
}

// ParseRevocation decodes a revocation and checks its bounds (not its
// signature: VerifyRevocation, which needs the document key).
func ParseRevocation(data []byte) (*Revocation, error) {
	w, err := decodeRecord[revocationWire]("revocation", data, MaxRevocationBytes, unmarshal)
	if err != nil {
		return nil, err
	}
	d, err := vocab.DocIDFromBytes(w.Doc)
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "revocation: %v", err)
	}
	r := &Revocation{Doc: d, Subject: w.Subject, Counts: vocab.Version{}, Sig: w.Sig}
	for i, c := range w.Counts {
		if i > 0 && w.Counts[i-1].Agent >= c.Agent {
			return nil, vocab.Reject(vocab.ReasonMalformed, "revocation: agents not in order")
		}
		r.Counts[c.Agent] = c.Seq
	}
	r.Rekey = Rekey{Epoch: w.Epoch, PrevEpoch: w.PrevEpoch, Prev: w.Prev}
	for _, b := range w.Boxes {
		r.Rekey.Boxes = append(r.Rekey.Boxes, Box{Recipient: b.Recipient, Sealed: b.Sealed})
	}
	if len(w.Chain) > 0 {
		if r.Chain, err = chainFromWire(w.Chain); err != nil {
			return nil, err
		}
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return r, nil
}

// Counted reports whether a transaction span of the revoked device still
// counts under revocations rs (all of one subject's, already verified):
// only if every revocation counts all of its seqs. Concurrent revocations
// of one device all apply, so the lowest count wins; the rule reads the
// revocations alone, so every replica decides alike.
func Counted(s vocab.Span, rs []*Revocation) bool {
	for _, r := range rs {
		if !r.Counts.ContainsSpan(s) {
			return false
		}
	}
	return true
}

// NewSecret reads a fresh read secret from random.
func NewSecret(random io.Reader) (*Secret, error) {
	s := new(Secret)
	if _, err := io.ReadFull(random, s[:]); err != nil {
		return nil, err
	}
	return s, nil
}
