package main

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"weft/crdt"
	"weft/vocab"
	"weft/wire"
)

// Tab is the editor tab's replica of one document: the crdt, which of its
// own edits it has handed out to be sent and which the daemon has acked,
// the daemon's version from its last hello, and the sequence number of the
// tab's presence messages. It knows nothing of JavaScript, so it is tested
// like any Go code; main.go binds it to the page.
type Tab struct {
	doc   *crdt.Doc
	id    vocab.DocID
	agent string

	sent    uint64       // own seqs below this were handed out by Flush or Resync
	acked   uint64       // own seqs below this are durable at the daemon
	remote  crdt.Version // the daemon's version from its hello; nil before one
	relay   uint64       // own seqs below this are durable at the relay (from status)
	presSeq uint64
	now     int64 // the time local edits carry (SetNow)
}

// Errors of the tab's replica.
var (
	ErrTab = errors.New("weft tab")
)

func tabErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTab}, args...)...)
}

// maxMessage bounds one socket message the tab accepts (a txns message
// of at most wire.ChunkBytes of envelopes, or one envelope of at most
// wire.MaxEnvelopeBytes, plus framing).
const maxMessage = wire.MaxEnvelopeBytes + 64<<10

// NewTab starts an empty replica of document doc for agent.
func NewTab(agent string, doc vocab.DocID) (*Tab, error) {
	d, err := crdt.New(agent)
	if err != nil {
		return nil, err
	}
	return &Tab{doc: d, id: doc, agent: agent}, nil
}

// own is the number of operations this tab has made.
func (t *Tab) own() uint64 { return t.doc.Version()[t.agent] }

// Hello is the tab's first message on a fresh socket: its version. It
// forgets the daemon's previous hello, so that Resync waits for the next.
func (t *Tab) Hello() ([]byte, error) {
	t.remote = nil
	return wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgHello, Doc: t.id[:], Version: t.doc.Version()})
}

// Edit makes a local edit, in code points. Flush hands it out later.
func (t *Tab) Edit(pos, del int, text string) error {
	return t.doc.Edit(pos, del, text)
}

// SetNow gives the browser's clock (ms since the Unix epoch) for the next
// edits' transaction time. A burst of edits keeps the time of its first
// one while the clock moves less than a second: edits of different times
// cannot share a transaction, and typing should not become one
// transaction per millisecond.
func (t *Tab) SetNow(ms int64) {
	if t.now != 0 && ms >= t.now && ms-t.now < 1000 {
		return
	}
	if t.doc.SetNow(ms) == nil {
		t.now = ms
	}
}

// Flush returns the txns messages holding the tab's own edits made since
// the last Flush (or Resync), and counts them as handed out. Consecutive
// edits travel as one span.
func (t *Tab) Flush() ([][]byte, error) {
	v := t.doc.Version()
	own := v[t.agent]
	if own <= t.sent {
		return nil, nil
	}
	v[t.agent] = t.sent
	msgs, err := t.txnsMessages(t.doc.Missing(v))
	if err != nil {
		return nil, err
	}
	t.sent = own
	return msgs, nil
}

// Resync returns, after the daemon's hello, the txns messages holding
// everything the daemon lacked then (the tab's unacknowledged edits, and
// anything else it has that the daemon does not), and counts every own
// edit as handed out.
func (t *Tab) Resync() ([][]byte, error) {
	if t.remote == nil {
		return nil, tabErr("resync before the daemon's hello")
	}
	msgs, err := t.txnsMessages(t.doc.Missing(t.remote))
	if err != nil {
		return nil, err
	}
	t.sent = t.own()
	return msgs, nil
}

// txnsMessages seals txns and packs them into txns messages of bounded
// size (wire.Pack).
func (t *Tab) txnsMessages(txns []*crdt.Txn) ([][]byte, error) {
	envs := make([][]byte, 0, len(txns))
	for _, txn := range txns {
		_, b, err := wire.Seal(t.id, txn)
		if err != nil {
			return nil, err
		}
		if len(b) > wire.MaxEnvelopeBytes {
			return nil, tabErr("a transaction of %d bytes is larger than the %d a message may carry", len(b), wire.MaxEnvelopeBytes)
		}
		envs = append(envs, b)
	}
	var out [][]byte
	for _, group := range wire.Pack(envs) {
		b, err := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgTxns, Doc: t.id[:], Envs: group})
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// applyEnvelopes integrates envelopes and returns the patch that follows
// them. An envelope that is malformed or contradicts the history changes
// nothing; the others are still applied, and the first error is returned
// beside the patch of what was.
func (t *Tab) applyEnvelopes(envs [][]byte) (crdt.Patch, error) {
	var patch crdt.Patch
	var first error
	for i, b := range envs {
		if err := t.applyOne(b, &patch); err != nil && first == nil {
			first = fmt.Errorf("envelope %d of %d: %w", i+1, len(envs), err)
		}
	}
	return patch, first
}

func (t *Tab) applyOne(b []byte, patch *crdt.Patch) error {
	e, err := wire.ParseEnvelope(b, t.id)
	if err != nil {
		return err
	}
	txn, err := e.Open()
	if err != nil {
		return err
	}
	p, err := t.doc.Apply(txn)
	if err != nil {
		return err
	}
	*patch = append(*patch, p...)
	return nil
}

// Event is what one message from the daemon means to the page.
type Event struct {
	Kind     string     // hello, txns, done, fail, ack, status, presence
	Patch    crdt.Patch // txns: the changes to apply to the view, in order
	Err      error      // txns: the first envelope refused (the rest applied)
	Reason   string     // fail
	Saved    bool       // ack, status: every own edit is durable at the daemon
	Peers    int        // status: peers online for the document
	Relay    bool       // status: every own edit is durable at the relay
	HasRelay bool       // status: the daemon knows the relay's version
	Presence *wire.Presence
}

// Receive takes one message from the daemon.
func (t *Tab) Receive(b []byte) (Event, error) {
	if len(b) > maxMessage {
		return Event{}, tabErr("message of %d bytes (at most %d)", len(b), maxMessage)
	}
	kind, err := wire.Kind(b)
	if err != nil {
		return Event{}, err
	}
	switch kind {
	case wire.MsgPresence:
		p, _, err := wire.ParsePresenceMsg(b, t.id)
		if err != nil {
			return Event{}, err
		}
		if p.Agent == t.agent {
			return Event{Kind: "ignored"}, nil
		}
		return Event{Kind: "presence", Presence: &p}, nil
	case wire.MsgStatus:
		s, err := wire.ParseStatus(b)
		if err != nil {
			return Event{}, err
		}
		ev := Event{Kind: "status", Peers: int(min(s.Peers, math.MaxInt32)), Saved: t.Saved()}
		if s.Relay != nil {
			ev.HasRelay = true
			if n := s.Relay[t.agent]; n > t.relay {
				t.relay = n
			}
		}
		ev.Relay = t.relay >= t.own()
		return ev, nil
	}
	m, err := wire.ParseSync(b)
	if err != nil {
		return Event{}, err
	}
	if m.Doc != nil && string(m.Doc) != string(t.id[:]) {
		return Event{}, vocab.Reject(vocab.ReasonWrongDocument, "message for another document")
	}
	switch m.Kind {
	case wire.MsgHello:
		t.remote = crdt.Version{}
		for a, n := range m.Version {
			t.remote[a] = n
		}
		return Event{Kind: "hello"}, nil
	case wire.MsgTxns:
		p, err := t.applyEnvelopes(m.Envs)
		return Event{Kind: "txns", Patch: p, Err: err}, nil
	case wire.MsgDone:
		return Event{Kind: "done"}, nil
	case wire.MsgFail:
		return Event{Kind: "fail", Reason: m.Reason}, nil
	case wire.MsgAck:
		if n := m.Version[t.agent]; n > t.acked {
			t.acked = n
		}
		return Event{Kind: "ack", Saved: t.Saved()}, nil
	}
	return Event{}, vocab.Reject(vocab.ReasonMalformed, "unexpected message of kind %d from the daemon", m.Kind)
}

// Saved reports whether the daemon has acked every edit this tab made.
func (t *Tab) Saved() bool { return t.acked >= t.own() }

// Unsaved is the number of own operations the daemon has not acked.
func (t *Tab) Unsaved() uint64 {
	if o := t.own(); o > t.acked {
		return o - t.acked
	}
	return 0
}

// Presence returns the tab's cursor message (kind MsgPresence): the
// selection from anchor to head (code points) anchored to items, with the
// user's name and colour.
func (t *Tab) Presence(name, color string, anchor, head int) ([]byte, error) {
	if len(name) > wire.MaxName || !utf8.ValidString(name) {
		return nil, tabErr("name must be valid UTF-8 of at most %d bytes", wire.MaxName)
	}
	a, ok1 := t.doc.AnchorAt(anchor)
	h, ok2 := t.doc.AnchorAt(head)
	if !ok1 || !ok2 {
		return nil, tabErr("selection %d..%d outside a text of %d code points", anchor, head, t.doc.Len())
	}
	t.presSeq++
	p := wire.Presence{Doc: t.id[:], Agent: t.agent, Name: name, Color: color,
		AnchorAgent: a.Agent, AnchorSeq: a.Seq, HeadAgent: h.Agent, HeadSeq: h.Seq, Seq: t.presSeq}
	record, err := wire.MarshalPresence(p)
	if err != nil {
		return nil, err
	}
	b, err := wire.MarshalPresenceMsg(record)
	if err != nil {
		return nil, err
	}
	// Check it as a receiver would (colour format, sizes).
	if _, _, err := wire.ParsePresenceMsg(b, t.id); err != nil {
		return nil, err
	}
	return b, nil
}
