package member

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"slices"
	"sort"

	"weft/vocab"
)

// MaxMembers bounds the chains a Book holds (devices of one document).
const MaxMembers = 1000

// MaxBookBytes bounds an encoded Book.
const MaxBookBytes = 64<<10 + MaxMembers*(MaxChainBytes/4)

// Book is what a replica knows of one document's membership, all of it
// public and verifiable offline: the document key and, per
// device, the best chain it was shown (the highest role, then the longest
// lasting; the first seen among equals). It is what catch-up's roster carries and what a
// transaction's author is looked up in. Chains are judged without a
// clock (IgnoreExpiry) when they describe authors of the history;
// admission (a session, a join) checks expiry separately.
type Book struct {
	DocKey  ed25519.PublicKey
	doc     vocab.DocID
	members map[string]*entry // by the subject key's bytes
	revs    []*Revocation     // verified (IgnoreExpiry), each once
	proofs  map[string]*Proof // equivocation proofs, by agent: the one of lowest ForkSeq
}

// MaxRevocations bounds the revocations a Book holds.
const MaxRevocations = 1000

type entry struct {
	chain  Chain
	member *Member
}

// NewBook starts the book of the document whose key is docKey (its ID is
// derived from the key, so the key needs no other proof).
func NewBook(docKey ed25519.PublicKey) (*Book, error) {
	doc, err := DocIDOf(docKey)
	if err != nil {
		return nil, err
	}
	return &Book{DocKey: docKey, doc: doc, members: make(map[string]*entry), proofs: make(map[string]*Proof)}, nil
}

// AddProof verifies an equivocation proof and keeps it when it puts an
// earlier seq of its agent in dispute than the book knew; changed says
// whether it did.
func (b *Book) AddProof(p *Proof) (changed bool, err error) {
	if p.A.Doc != b.doc {
		return false, vocab.Reject(vocab.ReasonWrongDocument, "a proof for another document")
	}
	if err := p.Verify(); err != nil {
		return false, err
	}
	if old, ok := b.proofs[p.Agent()]; ok && old.ForkSeq() <= p.ForkSeq() {
		return false, nil
	}
	if _, ok := b.proofs[p.Agent()]; !ok && len(b.proofs) >= MaxMembers {
		return false, vocab.Reject(vocab.ReasonOversized, "more than %d proofs", MaxMembers)
	}
	b.proofs[p.Agent()] = p
	return true, nil
}

// Proofs returns the proofs held, by agent.
func (b *Book) Proofs() []*Proof {
	agents := make([]string, 0, len(b.proofs))
	for a := range b.proofs {
		agents = append(agents, a)
	}
	sort.Strings(agents)
	out := make([]*Proof, len(agents))
	for i, a := range agents {
		out[i] = b.proofs[a]
	}
	return out
}

// Revoke verifies a revocation (as a record of the history, without a
// clock) and keeps it; changed is false for one already held.
func (b *Book) Revoke(r *Revocation) (changed bool, err error) {
	if err := VerifyRevocation(r, b.DocKey, IgnoreExpiry); err != nil {
		return false, err
	}
	h := r.Hash()
	for _, o := range b.revs {
		if o.Hash() == h {
			return false, nil
		}
	}
	if len(b.revs) >= MaxRevocations {
		return false, vocab.Reject(vocab.ReasonOversized, "more than %d revocations", MaxRevocations)
	}
	b.revs = append(b.revs, r)
	return true, nil
}

// Revocations returns the revocations held.
func (b *Book) Revocations() []*Revocation { return slices.Clone(b.revs) }

// Revoked reports whether pub's membership was revoked: a revocation
// names it, or names a key on the chain that granted it (what an admin
// delegated falls with it).
func (b *Book) Revoked(pub ed25519.PublicKey) bool {
	e := b.members[string(pub)]
	for _, r := range b.revs {
		if r.Subject.Equal(pub) || (e != nil && e.chain.Contains(r.Subject)) {
			return true
		}
	}
	return false
}

// revocationsOf returns the revocations that remove pub.
func (b *Book) revocationsOf(pub ed25519.PublicKey) []*Revocation {
	e := b.members[string(pub)]
	var out []*Revocation
	for _, r := range b.revs {
		if r.Subject.Equal(pub) || (e != nil && e.chain.Contains(r.Subject)) {
			out = append(out, r)
		}
	}
	return out
}

// Active is the number of members not revoked.
func (b *Book) Active() int {
	n := 0
	for _, e := range b.members {
		if !b.Revoked(e.member.Subject) {
			n++
		}
	}
	return n
}

// Doc is the document's ID.
func (b *Book) Doc() vocab.DocID { return b.doc }

// Add verifies chain (expiry judged at now; IgnoreExpiry for a record of
// the history) and keeps it when it grants its subject more than the
// book knew. It returns what the chain grants.
func (b *Book) Add(c Chain, now int64) (m *Member, changed bool, err error) {
	m, err = Verify(c, b.DocKey, now)
	if err != nil {
		return nil, false, err
	}
	key := string(m.Subject)
	if old, ok := b.members[key]; ok {
		if !better(m, old.member) {
			return old.member, false, nil
		}
	} else if len(b.members) >= MaxMembers {
		return nil, false, vocab.Reject(vocab.ReasonOversized, "more than %d members", MaxMembers)
	}
	b.members[key] = &entry{chain: c, member: m}
	return m, true, nil
}

// better reports whether grant m beats o: a higher role, or the same role
// lasting longer (no expiry beats any).
func better(m, o *Member) bool {
	if m.Role != o.Role {
		return m.Role > o.Role
	}
	return o.NotAfter != 0 && (m.NotAfter == 0 || m.NotAfter > o.NotAfter)
}

// Better reports whether grant m beats o (a higher role, or the same role
// lasting longer).
func Better(m, o *Member) bool { return better(m, o) }

// Member returns what the book grants device key pub (nil: nothing).
func (b *Book) Member(pub ed25519.PublicKey) *Member {
	if e, ok := b.members[string(pub)]; ok {
		return e.member
	}
	return nil
}

// Chain returns the chain the book holds for pub (nil: none).
func (b *Book) Chain(pub ed25519.PublicKey) Chain {
	if e, ok := b.members[string(pub)]; ok {
		return e.chain
	}
	return nil
}

// Author returns the member that a transaction's agent belongs to (an
// agent names its device), refusing an agent of no member of the book,
// and one of a revoked member unless the span counts under every
// revocation that removed it (Counted: what it wrote before its removal
// was known).
func (b *Book) Author(s vocab.Span) (*Member, error) {
	pub, err := DeviceOf(s.Agent)
	if err != nil {
		return nil, err
	}
	m := b.Member(pub)
	if m == nil {
		return nil, vocab.Reject(vocab.ReasonCapability, "agent %.16s… is no member's of document %s", s.Agent, b.doc)
	}
	if rs := b.revocationsOf(pub); len(rs) > 0 && !Counted(s, rs) {
		return nil, vocab.Reject(vocab.ReasonRevoked, "agent %.16s… belongs to a removed member", s.Agent)
	}
	if p, ok := b.proofs[s.Agent]; ok && s.End() > p.ForkSeq() {
		// From the fork on, none of the agent's transactions count, on
		// either branch (docs/members-only.md).
		return nil, vocab.Reject(vocab.ReasonEquivocation, "agent %.16s… signed two histories from seq %d", s.Agent, p.ForkSeq())
	}
	return m, nil
}

// Len is the number of members.
func (b *Book) Len() int { return len(b.members) }

// Chains returns every chain held, ordered by subject key (the roster
// catch-up sends).
func (b *Book) Chains() []Chain {
	keys := make([]string, 0, len(b.members))
	for k := range b.members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Chain, len(keys))
	for i, k := range keys {
		out[i] = b.members[k].chain
	}
	return out
}

// Roster returns the encoded chains (Chains), for catch-up.
func (b *Book) Roster() [][]byte {
	cs := b.Chains()
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Marshal()
	}
	return out
}

// Issuer returns the key that granted a chain's leaf its place among the
// members: the document key for a chain of one link; for a device that
// redeemed an invite, whoever issued the invite; else the previous
// link's subject.
func Issuer(c Chain, docKey ed25519.PublicKey) ed25519.PublicKey {
	n := len(c)
	switch {
	case n <= 1:
		return docKey
	case c[n-2].Invite && n >= 3:
		return c[n-3].Subject
	case c[n-2].Invite:
		return docKey
	}
	return c[n-2].Subject
}

type bookWire struct {
	_           struct{} `cbor:",toarray"`
	V           uint64
	DocKey      []byte
	Chains      [][]byte
	Revocations [][]byte
	Proofs      [][]byte
}

func (w bookWire) version() uint64 { return w.V }

// Marshal encodes the book: [1, document key, [chain…], [revocation…],
// [proof…]].
func (b *Book) Marshal() []byte {
	w := bookWire{V: Format, DocKey: b.DocKey, Chains: b.Roster(), Revocations: [][]byte{}}
	for _, r := range b.revs {
		w.Revocations = append(w.Revocations, r.Marshal())
	}
	w.Proofs = [][]byte{}
	for _, p := range b.Proofs() {
		w.Proofs = append(w.Proofs, p.Marshal())
	}
	return marshal(w)
}

// BookDocKey reads the document key of a stored book for doc without
// verifying its chains (a relay's start-up: the key is checked against
// the ID, which is derived from it).
func BookDocKey(data []byte, doc vocab.DocID) (ed25519.PublicKey, error) {
	w, err := decodeRecord[bookWire]("book", data, MaxBookBytes, unmarshal)
	if err != nil {
		return nil, err
	}
	if len(w.DocKey) != ed25519.PublicKeySize {
		return nil, vocab.Reject(vocab.ReasonMalformed, "book: document key of %d bytes", len(w.DocKey))
	}
	if err := CheckDocKey(doc, w.DocKey); err != nil {
		return nil, err
	}
	return ed25519.PublicKey(w.DocKey), nil
}

// ParseBook decodes a book for doc and verifies every chain in it
// (IgnoreExpiry).
func ParseBook(data []byte, doc vocab.DocID) (*Book, error) {
	w, err := decodeRecord[bookWire]("book", data, MaxBookBytes, unmarshal)
	if err != nil {
		return nil, err
	}
	if len(w.DocKey) != ed25519.PublicKeySize {
		return nil, vocab.Reject(vocab.ReasonMalformed, "book: document key of %d bytes", len(w.DocKey))
	}
	if err := CheckDocKey(doc, w.DocKey); err != nil {
		return nil, err
	}
	if len(w.Chains) > MaxMembers {
		return nil, vocab.Reject(vocab.ReasonOversized, "book of %d chains (at most %d)", len(w.Chains), MaxMembers)
	}
	b, err := NewBook(ed25519.PublicKey(w.DocKey))
	if err != nil {
		return nil, err
	}
	for _, raw := range w.Chains {
		c, err := ParseChain(raw)
		if err != nil {
			return nil, err
		}
		if _, _, err := b.Add(c, IgnoreExpiry); err != nil {
			return nil, err
		}
	}
	for _, raw := range w.Revocations {
		r, err := ParseRevocation(raw)
		if err != nil {
			return nil, err
		}
		if _, err := b.Revoke(r); err != nil {
			return nil, err
		}
	}
	for _, raw := range w.Proofs {
		p, err := ParseProof(raw, doc)
		if err != nil {
			return nil, err
		}
		if _, err := b.AddProof(p); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// EpochSecret is one epoch's read secret.
type EpochSecret struct {
	Epoch  uint64
	Secret Secret
}

// Local is what only this device knows of a document: the document key
// (its creator's), this device's chain, and the read secrets it holds.
// It never leaves the device (a daemon's own backups hold it).
type Local struct {
	DocKey  ed25519.PrivateKey // nil unless this device made the document
	Chain   Chain
	Secrets []EpochSecret
	// SealedTitle is the latest sealed title a member that cannot read
	// (a relay) was given, to pass on as it came.
	SealedTitle []byte
}

// MaxSealedTitle bounds a sealed title (a title of 256 code points, at
// most 4 bytes each, sealed).
const MaxSealedTitle = 1024 + Overhead

type secretWire struct {
	_      struct{} `cbor:",toarray"`
	Epoch  uint64
	Secret []byte
}

type localWire struct {
	_           struct{} `cbor:",toarray"`
	V           uint64
	DocSeed     []byte
	Chain       []byte
	Secrets     []secretWire
	SealedTitle []byte
}

func (w localWire) version() uint64 { return w.V }

// Marshal encodes l: [1, document key seed (or empty), chain, [[epoch, secret]…]].
func (l *Local) Marshal() []byte {
	w := localWire{V: Format, Chain: l.Chain.Marshal(), Secrets: []secretWire{}, SealedTitle: l.SealedTitle}
	if w.SealedTitle == nil {
		w.SealedTitle = []byte{}
	}
	if l.DocKey != nil {
		w.DocSeed = l.DocKey.Seed()
	}
	for _, s := range l.Secrets {
		w.Secrets = append(w.Secrets, secretWire{Epoch: s.Epoch, Secret: bytes.Clone(s.Secret[:])})
	}
	return marshal(w)
}

// ParseLocal decodes a Local (the chain is parsed, not verified: Book.Add
// does that).
func ParseLocal(data []byte) (*Local, error) {
	w, err := decodeRecord[localWire]("local keys", data, MaxChainBytes+64<<10, unmarshal)
	if err != nil {
		return nil, err
	}
	if len(w.SealedTitle) > MaxSealedTitle {
		return nil, vocab.Reject(vocab.ReasonOversized, "local keys: sealed title of %d bytes", len(w.SealedTitle))
	}
	l := &Local{}
	if len(w.SealedTitle) > 0 {
		l.SealedTitle = w.SealedTitle
	}
	switch len(w.DocSeed) {
	case 0:
	case ed25519.SeedSize:
		l.DocKey = ed25519.NewKeyFromSeed(w.DocSeed)
	default:
		return nil, vocab.Reject(vocab.ReasonMalformed, "local keys: document key seed of %d bytes", len(w.DocSeed))
	}
	if l.Chain, err = ParseChain(w.Chain); err != nil {
		return nil, err
	}
	for _, s := range w.Secrets {
		if len(s.Secret) != SecretSize {
			return nil, vocab.Reject(vocab.ReasonMalformed, "local keys: secret of %d bytes", len(s.Secret))
		}
		var es EpochSecret
		es.Epoch = s.Epoch
		copy(es.Secret[:], s.Secret)
		l.Secrets = append(l.Secrets, es)
	}
	slices.SortFunc(l.Secrets, func(a, b EpochSecret) int { return cmp.Compare(a.Epoch, b.Epoch) })
	return l, nil
}

// Keyring returns a keyring of l's secrets.
func (l *Local) Keyring(doc vocab.DocID) (*Keyring, error) {
	r := NewKeyring(doc)
	for i := range l.Secrets {
		if err := r.Add(l.Secrets[i].Epoch, &l.Secrets[i].Secret); err != nil {
			return nil, err
		}
	}
	return r, nil
}
