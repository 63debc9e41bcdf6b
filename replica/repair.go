package replica

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"weft/api"
	"weft/member"
	"weft/store"
)

// Repair's fetch list. `weft check --repair` quarantines what it cannot
// trust and records, per document, the spans that must come from peers
// (store.Missing). It also rebuilds the heads to what is stored, so the
// version this replica announces in a catch-up hello lacks those spans
// and peers send them like any other missing transactions: the ordinary
// exchange is the fetch. What is left is to notice that it happened:
// after every catch-up exchange, resolveMissing trims the list to what
// is still not stored and removes it once nothing is (the store
// counts the records it holds: store.ResolveMissing). Until then the
// document's status lists what is still to fetch.
//
// A members-only document keeps every envelope under its checkpoint (they
// are what catch-up serves), so a record lost there must come back too,
// though the heads, and so the version, already cover it. For such spans
// the hello asks again (askAgain: the version it announces starts at the
// span), and the envelopes that come back are stored beside the others
// (refill) before step drops them as duplicates: each is the one lost —
// signed by a member who may write it, and named as prev by the agent's
// next stored header (or, for the agent's last, by the header log).

// resolveMissing trims doc's fetch list after a catch-up exchange. A
// document with no list costs one store read.
func (m *Manager) resolveMissing(ctx context.Context, doc store.DocID) {
	spans, err := m.opts.Store.Missing(ctx, doc)
	if err != nil {
		m.log.Warn("reading the spans a repair left to fetch", "doc", doc, "err", err)
		return
	}
	if len(spans) == 0 {
		return
	}
	left, err := m.opts.Store.ResolveMissing(ctx, doc)
	if err != nil {
		m.log.Warn("recording the spans fetched after a repair", "doc", doc, "err", err)
		return
	}
	if len(left) == 0 {
		m.log.Info("fetched from peers every span a repair recorded", "doc", doc, "spans", len(spans))
		return
	}
	if len(left) != len(spans) || left[0] != spans[0] {
		m.log.Info("fetched part of the spans a repair recorded", "doc", doc, "left", spanList(left))
	}
}

// toFetch lists doc's spans still to fetch from peers after a repair (nil
// when none, or when the list cannot be read: the status is best effort).
func (m *Manager) toFetch(ctx context.Context, doc store.DocID) []string {
	spans, err := m.opts.Store.Missing(ctx, doc)
	if err != nil {
		return nil
	}
	return spanList(spans)
}

func spanList(spans []store.Span) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.String())
	}
	return out
}

// askAgain returns the version a catch-up hello for doc announces: mine,
// lowered to the start of each span of the fetch list that lies under it
// (mine itself when there is none).
func (m *Manager) askAgain(ctx context.Context, doc store.DocID, mine map[string]uint64) map[string]uint64 {
	spans, err := m.opts.Store.Missing(ctx, doc)
	if err != nil || len(spans) == 0 {
		return mine
	}
	out := maps.Clone(mine)
	for _, sp := range spans {
		if n, ok := out[sp.Agent]; ok && sp.Seq < n {
			out[sp.Agent] = sp.Seq
		}
	}
	return out
}

// refill stores the envelopes of a catch-up message that d's fetch list
// names under the version (store.Refill takes only those), once each is
// shown to be the one lost. Nothing is done for a document with no list.
func (m *Manager) refill(ctx context.Context, d *docState, raws [][]byte) {
	if d.mem == nil {
		return
	}
	spans, err := m.opts.Store.Missing(ctx, d.id)
	if err != nil || len(spans) == 0 {
		return
	}
	var have map[string]uint64 // spans past it come through step, as usual
	if err := d.do(ctx, func(dr *driver) error {
		if err := dr.ensure(ctx); err != nil {
			return err
		}
		have = dr.hl.version.Clone()
		return nil
	}); err != nil {
		return
	}
	var recs []store.TxnRecord
	for _, raw := range raws {
		e, err := member.ParseEnvelope(raw, d.id)
		if err != nil {
			continue // parseEnvs refuses it
		}
		sp := e.Header.Span()
		if sp.End() > have[sp.Agent] || !slices.ContainsFunc(spans, func(m store.Span) bool { return m.Agent == sp.Agent && m.Seq <= sp.Seq && sp.End() <= m.End() }) {
			continue
		}
		if d.mem.author(sp) != nil || e.Header.CheckPayload(e.Payload) != nil || e.Header.Verify() != nil || !m.namedAsPrev(ctx, d, e) {
			m.log.Warn("a peer sent a transaction a repair asked for that is not the one lost", "doc", d.id, "span", sp.String())
			continue
		}
		recs = append(recs, store.TxnRecord{Header: e.Header.Header, Payload: raw})
	}
	if len(recs) == 0 {
		return
	}
	n, err := m.opts.Store.Refill(ctx, d.id, recs...)
	if err != nil {
		m.log.Warn("storing transactions a repair asked for", "doc", d.id, "err", err)
		return
	}
	if n > 0 {
		m.log.Info("stored transactions a repair asked for", "doc", d.id, "txns", n)
	}
}

// namedAsPrev reports whether e is the header its agent's next stored
// transaction names as prev or, when it is the agent's last, the one the
// header log holds as the agent's head.
func (m *Manager) namedAsPrev(ctx context.Context, d *docState, e *member.Envelope) bool {
	sp := e.Header.Span()
	next, err := m.opts.Store.Txn(ctx, d.id, sp.Agent, sp.End())
	if err == nil {
		ne, err := member.ParseEnvelope(next.Payload, d.id)
		return err == nil && ne.Header.Prev == e.Hash
	}
	ok := false
	_ = d.do(ctx, func(dr *driver) error {
		if err := dr.ensure(ctx); err != nil {
			return err
		}
		ok = dr.hl.version[sp.Agent] == sp.End() && dr.hl.heads[sp.Agent] == e.Hash
		return nil
	})
	return ok
}

// FetchState is a document with spans a repair left to fetch, and the
// peers asked for them.
type FetchState struct {
	Doc   string   `json:"doc"`
	Spans []string `json:"spans"`
	Asked []string `json:"asked,omitempty"` // peers a catch-up was started with
}

// askForMissing starts a catch-up, with every connected peer of its
// topic, for each document with a fetch list, and reports them.
func (m *Manager) askForMissing(ctx context.Context) ([]FetchState, error) {
	m.mu.Lock()
	docs := make([]*docState, 0, len(m.docs))
	for _, d := range m.docs {
		if d.mem != nil {
			docs = append(docs, d)
		}
	}
	m.mu.Unlock()
	var out []FetchState
	for _, d := range docs {
		spans, err := m.opts.Store.Missing(ctx, d.id)
		if err != nil {
			return out, fmt.Errorf("document %s: reading what a repair left to fetch: %w", d.id, err)
		}
		if len(spans) == 0 {
			continue
		}
		fs := FetchState{Doc: d.id.String(), Spans: spanList(spans)}
		for _, p := range d.topicPeers() {
			m.goSync(p, d.id)
			fs.Asked = append(fs.Asked, p)
		}
		out = append(out, fs)
	}
	return out, nil
}

// ownFetched refuses this device's own edits (from the API or a tab) to
// a members-only document while its fetch list names seqs of one of this
// device's agents past the version: a repair lowered that agent's
// version, and a new edit would reuse seqs peers hold with other content
// (a fork). Edits resume once catch-up has brought them back.
func (dr *driver) ownFetched(ctx context.Context, src source) error {
	d, m := dr.d, dr.d.m
	if (src != fromAPI && src != fromTab) || d.mem == nil {
		return nil
	}
	spans, err := m.opts.Store.Missing(ctx, d.id)
	if err != nil || len(spans) == 0 {
		return err
	}
	if err := dr.ensure(ctx); err != nil {
		return err
	}
	pub := m.dev.Public()
	for _, sp := range spans {
		if sp.End() > dr.hl.version[sp.Agent] && member.OwnsAgent(pub, sp.Agent) {
			return fmt.Errorf("%w: document %s waits for this device's own transactions (%s) from its peers after a repair; edits resume once catch-up brings them back", api.ErrClosed, d.id, sp)
		}
	}
	return nil
}
