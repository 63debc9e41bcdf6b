package main

import (
	"weft/wire"
)

// Unsent edits that outlive the tab (ui/PROTOCOL.md, "Unsent edits"). The
// page keeps, per document, every own transaction the daemon has not
// acked in IndexedDB under the tab's agent: Unstored hands out what it
// has not kept yet. A later tab of the same document takes another tab's
// kept transactions with Adopt before its first resync, so that they go
// to the daemon under their own agent and seqs — the daemon ignores any
// it already has, so nothing is doubled — and forgets them once an ack
// covers them. A tab never writes under an adopted agent: new edits are
// its own agent's, so no seq is ever used twice.

// adoptedRange is what a tab adopted of another agent: seqs below upto;
// acked is what the daemon has acknowledged of that agent.
type adoptedRange struct{ upto, acked uint64 }

// Unstored returns the txns messages holding the tab's own transactions
// made since the last call, and the own seq they reach (upto); nil when
// there is nothing new.
func (t *Tab) Unstored() (msgs [][]byte, upto uint64, err error) {
	own := t.own()
	if own <= t.stored {
		return nil, own, nil
	}
	v := t.doc.Version()
	v[t.agent] = t.stored
	msgs, err = t.txnsMessages(t.doc.Missing(v))
	if err != nil {
		return nil, 0, err
	}
	t.stored = own
	return msgs, own, nil
}

// Adopt applies a txns message another tab of this document kept: its
// envelopes must all be of one agent other than this tab's. It returns the
// patch and the agent; the agent's transactions count as unsaved until an
// ack covers them. A message that does not parse, or mixes agents,
// changes nothing.
func (t *Tab) Adopt(b []byte) (Event, string, error) {
	if len(b) > maxMessage {
		return Event{}, "", tabErr("message of %d bytes (at most %d)", len(b), maxMessage)
	}
	m, err := wire.ParseSync(b)
	if err != nil {
		return Event{}, "", err
	}
	if m.Kind != wire.MsgTxns || (m.Doc != nil && string(m.Doc) != string(t.id[:])) {
		return Event{}, "", tabErr("a kept message that is not txns of this document")
	}
	agent := ""
	var upto uint64
	for _, w := range m.Envs {
		e, err := wire.ParseEnvelope(w, t.id)
		if err != nil {
			return Event{}, "", err
		}
		a := e.Header.Agent
		if a == t.agent || (agent != "" && a != agent) {
			return Event{}, "", tabErr("a kept message of agent %q in a record of %q (this tab is %q)", a, agent, t.agent)
		}
		agent = a
		upto = max(upto, e.Header.Seq+e.Header.Len)
	}
	if agent == "" {
		return Event{}, "", tabErr("an empty kept message")
	}
	p, err := t.applyEnvelopes(m.Envs)
	if t.adopted == nil {
		t.adopted = map[string]adoptedRange{}
	}
	r := t.adopted[agent]
	// Only what the replica now has counts: a transaction refused (its
	// parents lost with a daemon's crash) would never be acked.
	r.upto = max(r.upto, min(upto, t.doc.Version()[agent]))
	// What the daemon's hello said it has needs no ack: nothing will be
	// sent for it (the driver answers a hello only after it made the
	// tab transactions it integrated before durable).
	r.acked = max(r.acked, t.remote[agent])
	t.adopted[agent] = r
	return Event{Kind: "txns", Patch: p, Err: err}, agent, nil
}

// ackAdopted takes an ack's version for the adopted agents.
func (t *Tab) ackAdopted(v map[string]uint64) {
	for a, r := range t.adopted {
		if n := v[a]; n > r.acked {
			r.acked = n
			t.adopted[a] = r
		}
	}
}

// unsavedAdopted counts the adopted transactions' seqs not acked yet.
func (t *Tab) unsavedAdopted() uint64 {
	var n uint64
	for _, r := range t.adopted {
		if r.upto > r.acked {
			n += r.upto - r.acked
		}
	}
	return n
}

// Acked returns what the daemon has acknowledged of the tab's own agent
// and of each adopted one (the page forgets kept records it covers).
func (t *Tab) Acked() map[string]uint64 {
	out := map[string]uint64{t.agent: t.acked}
	for a, r := range t.adopted {
		out[a] = r.acked
	}
	return out
}
