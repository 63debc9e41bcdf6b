package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"weft/api"
	"weft/member"
	"weft/store"
	"weft/vocab"
)

// membership is a members-only document's membership as this replica
// holds it: the book (public: the document key and every member's
// chain), this device's keys (its chain, the read secrets it holds, the
// document key if it made the document) and the route key every member
// derives from the ID. Topic validators, catch-up and the driver read it;
// mu guards it.
type membership struct {
	doc   vocab.DocID
	dev   *member.Device
	route *member.RouteKey

	saveMu sync.Mutex // one save at a time, each of the latest state
	mu     sync.Mutex
	book   *member.Book
	local  *member.Local
	keys   *member.Keyring // nil: this device holds no read secret (pull)
	self   *member.Member  // what this device's chain grants
	// onMember hears of every chain the book gains (its leaf's key),
	// under mu; set once by the manager (devices.go).
	onMember func(ed25519.PublicKey)
}

// newMembership builds the membership of doc from its book and local keys.
func newMembership(doc vocab.DocID, dev *member.Device, book *member.Book, local *member.Local) (*membership, error) {
	route, err := member.NewRouteKey(doc)
	if err != nil {
		return nil, err
	}
	ms := &membership{doc: doc, dev: dev, route: route, book: book, local: local}
	self, _, err := book.Add(local.Chain, member.IgnoreExpiry)
	if err != nil {
		return nil, fmt.Errorf("replica: document %s: this device's capability: %w", doc, err)
	}
	if !ed25519.PublicKey(self.Subject).Equal(dev.Public()) {
		// A store restored under a new identity: what it holds stays, but
		// this device is no member until one grants it a place again
		// (an invite, or weft doc host for a relay).
		self = &member.Member{Role: member.RoleNone, Subject: dev.Public()}
	}
	ms.self = self
	if self.Role.CanRead() {
		if ms.keys, err = local.Keyring(doc); err != nil {
			return nil, err
		}
		if ms.keys.Current() == nil {
			return nil, fmt.Errorf("replica: document %s: a %v member without a read secret", doc, self.Role)
		}
	}
	return ms, nil
}

// loadMembership reads doc's membership from the store; nil, nil for a
// legacy document (made before members-only documents).
func loadMembership(ctx context.Context, st Store, dev *member.Device, doc vocab.DocID) (*membership, error) {
	rec, err := st.GetMembers(ctx, doc)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	book, err := member.ParseBook(rec.Book, doc)
	if err != nil {
		return nil, fmt.Errorf("replica: document %s: stored membership: %w", doc, err)
	}
	local, err := member.ParseLocal(rec.Local)
	if err != nil {
		return nil, fmt.Errorf("replica: document %s: stored keys: %w", doc, err)
	}
	return newMembership(doc, dev, book, local)
}

// record is what the store keeps (callers hold mu).
func (ms *membership) record() store.Members {
	return store.Members{Book: ms.book.Marshal(), Local: ms.local.Marshal()}
}

func (ms *membership) role() member.Role {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.self == nil {
		return member.RoleNone
	}
	return ms.self.Role
}

// canRead reports whether this device holds the read secret.
func (ms *membership) canRead() bool { return ms.keys != nil }

// add verifies a chain and adds it to the book (expiry judged at now, or
// IgnoreExpiry for the history); changed says whether the book grew.
// When the chain is this device's and grants more, it becomes its own.
func (ms *membership) add(c member.Chain, now int64) (*member.Member, bool, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, changed, err := ms.book.Add(c, now)
	if err != nil {
		return nil, false, err
	}
	if now != member.IgnoreExpiry && ms.book.Revoked(m.Subject) {
		// Admission (a session, an announcement): a removed member is
		// let in nowhere.
		return nil, changed, vocab.Reject(vocab.ReasonRevoked, "a removed member")
	}
	if !changed {
		return m, false, nil
	}
	if ms.onMember != nil {
		ms.onMember(m.Subject)
	}
	if ed25519.PublicKey(m.Subject).Equal(ms.dev.Public()) && (ms.self.Role == member.RoleNone || member.Better(m, ms.self)) && (!m.Role.CanRead() || ms.keys != nil) && !ms.book.Revoked(m.Subject) {
		ms.local.Chain, ms.self = c, m
	}
	return m, true, nil
}

// author checks that a transaction's agent belongs to a member who may
// write: readers and strangers are refused.
func (ms *membership) author(s vocab.Span) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, err := ms.book.Author(s)
	if err != nil {
		return err
	}
	if !m.Role.CanWrite() {
		return vocab.Reject(vocab.ReasonCapability, "agent %.16s… belongs to a %v member, who may not write", s.Agent, m.Role)
	}
	return nil
}

// revoke verifies a revocation and applies it: the member it removes
// loses its place (and, if it is this device, its role); when this device
// is a recipient of the rekey, the new epoch's secret joins its keyring.
func (ms *membership) revoke(r *member.Revocation) (bool, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	changed, err := ms.book.Revoke(r)
	if err != nil || !changed {
		return changed, err
	}
	if ms.book.Revoked(ms.dev.Public()) {
		ms.self = &member.Member{Role: member.RoleNone, Subject: ms.dev.Public()}
		return true, nil
	}
	if s, err := r.Rekey.Open(ms.doc, ms.dev.Box); err == nil {
		ms.addSecretLocked(r.Rekey.Epoch, s)
	}
	ms.fillEpochs()
	return true, nil
}

// addSecretLocked adds a read secret to the keyring and the local keys.
func (ms *membership) addSecretLocked(epoch uint64, s *member.Secret) {
	if ms.keys == nil {
		ms.keys = member.NewKeyring(ms.doc)
	}
	if ms.keys.Has(epoch) {
		return
	}
	if err := ms.keys.Add(epoch, s); err == nil {
		ms.local.Secrets = append(ms.local.Secrets, member.EpochSecret{Epoch: epoch, Secret: *s})
	}
}

// fillEpochs opens older epochs' secrets from the rekeys of the epochs
// held (each rekey carries the previous secret sealed under the new
// epoch), so a member who joined after a removal reads the history before
// it (callers hold mu).
func (ms *membership) fillEpochs() {
	if ms.keys == nil {
		return
	}
	for progress := true; progress; {
		progress = false
		for _, r := range ms.book.Revocations() {
			rk := &r.Rekey
			if !ms.keys.Has(rk.Epoch) || ms.keys.Has(rk.PrevEpoch) {
				continue
			}
			for _, es := range ms.local.Secrets {
				if es.Epoch != rk.Epoch {
					continue
				}
				if prev, err := rk.OpenPrev(ms.doc, &es.Secret); err == nil {
					ms.addSecretLocked(rk.PrevEpoch, prev)
					progress = true
					break
				}
			}
		}
	}
}

// revocations returns the revocations held, encoded (for catch-up).
func (ms *membership) revocations() [][]byte {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out [][]byte
	for _, r := range ms.book.Revocations() {
		out = append(out, r.Marshal())
	}
	return out
}

// roster returns the chains to send a peer.
func (ms *membership) roster() [][]byte {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.book.Roster()
}

// chain returns this device's chain, encoded.
func (ms *membership) chain() []byte {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.local.Chain.Marshal()
}

// seal makes an envelope of a transaction this device's agent wrote:
// the payload sealed with the current epoch, the header chained to the
// agent's previous one and signed.
func (ms *membership) seal(h member.Header, payload []byte) (*member.Envelope, error) {
	if ms.keys == nil {
		return nil, fmt.Errorf("%w: this device holds no read secret for %s", api.ErrForbidden, ms.doc)
	}
	sealed, err := member.SealPayload(ms.keys, rand.Reader, &h, payload)
	if err != nil {
		return nil, err
	}
	if err := h.Sign(ms.dev.Sign); err != nil {
		return nil, err
	}
	return member.NewEnvelope(&h, sealed)
}

// open opens an envelope's payload (the header's signature is checked
// separately).
func (ms *membership) open(e *member.Envelope) ([]byte, error) {
	if ms.keys == nil {
		return nil, vocab.Reject(vocab.ReasonEpoch, "this device holds no read secret")
	}
	return member.OpenPayload(ms.keys, e.Header, e.Payload)
}

// save writes the membership to the store.
func (ms *membership) save(ctx context.Context, st Store) error {
	ms.saveMu.Lock()
	defer ms.saveMu.Unlock()
	ms.mu.Lock()
	rec := ms.record()
	ms.mu.Unlock()
	return st.SetMembers(ctx, ms.doc, rec)
}

func roleName(r member.Role) string {
	if !r.Valid() {
		return ""
	}
	return r.String()
}

// owns reports whether agent is this device's (its own or a tab's).
func (ms *membership) owns(agent string) bool { return member.OwnsAgent(ms.dev.Public(), agent) }

// canWrite reports whether this device may write.
func (ms *membership) canWrite() bool { return ms.role().CanWrite() }

// localChain returns this device's chain.
func (ms *membership) localChain() member.Chain {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.local.Chain
}

// sealPresence seals a presence record for the topic (presence purpose,
// current epoch; the topic name as associated data).
func (ms *membership) sealPresence(topic string, b []byte) ([]byte, error) {
	if ms.keys == nil {
		return nil, vocab.Reject(vocab.ReasonEpoch, "this device holds no read secret")
	}
	return ms.keys.Seal(rand.Reader, member.PurposePresence, b, []byte(topic))
}

func (ms *membership) openPresence(topic string, sealed []byte) ([]byte, error) {
	if ms.keys == nil {
		return nil, vocab.Reject(vocab.ReasonEpoch, "this device holds no read secret")
	}
	return ms.keys.Open(member.PurposePresence, sealed, []byte(topic))
}

// sealTitle and openTitle carry a title between members (title purpose,
// the document ID as associated data); a member without the read secret
// has none to send.
func (ms *membership) sealTitle(title string) []byte {
	if ms.keys == nil {
		ms.mu.Lock()
		defer ms.mu.Unlock()
		return ms.local.SealedTitle // a relay passes on what it was given
	}
	if title == "" {
		return nil
	}
	b, err := ms.keys.Seal(rand.Reader, member.PurposeTitle, []byte(title), ms.doc[:])
	if err != nil {
		return nil
	}
	return b
}

// keepTitle records, on a member that cannot read, the sealed title a
// member sent (it cannot tell which of two is newer; the last one heard
// wins). It reports whether it changed.
func (ms *membership) keepTitle(sealed []byte) bool {
	if ms.keys != nil || len(sealed) == 0 || len(sealed) > member.MaxSealedTitle {
		return false
	}
	if s, err := member.ParseSealed(sealed); err != nil || s.Purpose != member.PurposeTitle {
		return false
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if string(ms.local.SealedTitle) == string(sealed) {
		return false
	}
	ms.local.SealedTitle = append([]byte(nil), sealed...)
	return true
}

func (ms *membership) openTitle(sealed []byte) string {
	if ms.keys == nil || len(sealed) == 0 {
		return ""
	}
	b, err := ms.keys.Open(member.PurposeTitle, sealed, ms.doc[:])
	if err != nil || vocab.CheckTitle(string(b)) != nil {
		return ""
	}
	return string(b)
}

// docKey returns the document's public key.
func (ms *membership) docKey() []byte {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.book.DocKey
}

// addProof keeps an equivocation proof; changed says whether the book
// learned something.
func (ms *membership) addProof(p *member.Proof) (bool, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.book.AddProof(p)
}

// forks lists the agents caught equivocating: "agent@seq", the seq from
// which nothing of theirs counts.
func (ms *membership) forks() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []string
	for _, p := range ms.book.Proofs() {
		out = append(out, fmt.Sprintf("%s@%d", p.Agent(), p.ForkSeq()))
	}
	return out
}

// forked reports whether a proof of equivocation is held.
func (ms *membership) forked() bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.book.Proofs()) > 0
}

// proofs returns the proofs held, encoded (for catch-up).
func (ms *membership) proofs() [][]byte {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out [][]byte
	for _, p := range ms.book.Proofs() {
		out = append(out, p.Marshal())
	}
	return out
}

// confirm gives a member who joined with an expiring invite this device
// issued a lasting place: a direct link from this admin, same role and
// label, without the invite's expiry (what "--expires" means to people:
// the invite, not the membership, runs out). It returns the new chain to
// announce, or nil.
func (ms *membership) confirm(c member.Chain, now int64) member.Chain {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	n := len(c)
	if n < 2 || !c[n-2].Invite || ms.self == nil || !ms.self.Role.CanDelegate() {
		return nil
	}
	issuer := ms.book.DocKey
	if n >= 3 {
		issuer = c[n-3].Subject
	}
	mine := issuer.Equal(ms.dev.Public()) || (ms.local.DocKey != nil && issuer.Equal(ms.book.DocKey))
	got := ms.book.Member(c.Leaf().Subject)
	if !mine || got == nil || got.NotAfter == 0 || got.NotAfter <= now || ms.book.Revoked(got.Subject) {
		return nil
	}
	leaf := c.Leaf()
	link, err := member.Issue(ms.dev.Sign, ms.doc, ms.local.Chain.Leaf(), member.Grant{Role: leaf.Role, Subject: leaf.Subject, Box: leaf.Box, Label: leaf.Label})
	if err != nil {
		return nil
	}
	lasting := ms.local.Chain.Extend(link)
	if _, changed, err := ms.book.Add(lasting, member.IgnoreExpiry); err != nil || !changed {
		return nil
	}
	return lasting
}

// writer checks that agent names a device of a member who may write (not
// removed).
func (ms *membership) writer(agent string) error {
	pub, err := member.DeviceOf(agent)
	if err != nil {
		return err
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m := ms.book.Member(pub)
	if m == nil || !m.Role.CanWrite() || ms.book.Revoked(pub) {
		return vocab.Reject(vocab.ReasonCapability, "%.16s… is no member who may write", agent)
	}
	return nil
}
