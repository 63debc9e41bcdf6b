package replica

import (
	"weft/member"
	"weft/store"
	"weft/vocab"
)

// RestoreCheck verifies a backup's members-only documents before a
// restore writes anything (store.RestoreOptions.Check): every
// transaction is an envelope signed by its agent's device, that device a
// member who may write according to the document's stored membership, its
// header the one the store filed it under, and each agent's transactions
// a hash chain. Every signature is checked. A legacy document (no
// membership record) is taken as it is: it was never shared.
type RestoreCheck struct {
	books map[store.DocID]*member.Book
	run   *runCheck
}

// runCheck is the agent run being read: its newest envelope, which the
// next one of its agent must chain to.
type runCheck struct {
	doc    store.DocID
	agent  string
	newest *member.Envelope
}

var _ store.RestoreCheck = (*RestoreCheck)(nil)

// NewRestoreCheck starts a check.
func NewRestoreCheck() *RestoreCheck {
	return &RestoreCheck{books: map[store.DocID]*member.Book{}}
}

// Members reads a document's membership (its book; the device's own keys
// are not checked here).
func (c *RestoreCheck) Members(doc store.DocID, m store.Members) error {
	b, err := member.ParseBook(m.Book, doc)
	if err != nil {
		return err
	}
	c.books[doc] = b
	return nil
}

// Txn checks one stored transaction.
func (c *RestoreCheck) Txn(doc store.DocID, r store.TxnRecord) error {
	b := c.books[doc]
	if b == nil {
		if _, err := member.Kind(r.Payload); err == nil {
			return vocab.Reject(vocab.ReasonCapability, "a signed transaction in a document without membership")
		}
		return nil
	}
	e, err := member.ParseEnvelope(r.Payload, doc)
	if err != nil {
		return err
	}
	h := &e.Header.Header
	if h.Agent != r.Agent || h.Seq != r.Seq || h.Len != r.Len || len(h.Parents) != len(r.Parents) {
		return vocab.Reject(vocab.ReasonHeaderMismatch, "filed as %s, signed as %s", r.Span(), h.Span())
	}
	for i := range h.Parents {
		if h.Parents[i] != r.Parents[i] {
			return vocab.Reject(vocab.ReasonHeaderMismatch, "filed with other parents than it was signed with")
		}
	}
	m, err := b.Author(h.Span())
	if err != nil {
		return err
	}
	if !m.Role.CanWrite() {
		return vocab.Reject(vocab.ReasonCapability, "written by a %v member", m.Role)
	}
	// Every signature is checked, not only each run's newest: what is
	// restored is served to peers, who check the newest of each message's
	// runs, so a bad signature anywhere would stall their catch-up.
	if err := e.Header.Verify(); err != nil {
		return err
	}
	if run := c.run; run != nil && run.doc == doc && run.agent == h.Agent {
		if h.Seq == run.newest.Header.Span().End() && e.Header.Prev == run.newest.Hash {
			run.newest = e
			return nil
		}
		if h.Seq < run.newest.Header.Span().End() {
			return vocab.Reject(vocab.ReasonEquivocation, "overlaps the transaction before it")
		}
		if h.Seq == run.newest.Header.Span().End() {
			return vocab.Reject(vocab.ReasonHashChain, "does not name the transaction before it as its previous one")
		}
	}
	c.run = &runCheck{doc: doc, agent: h.Agent, newest: e}
	return nil
}

// Done ends the check: every envelope was verified as it came.
func (c *RestoreCheck) Done() error { return nil }
