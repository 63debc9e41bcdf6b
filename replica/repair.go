package replica

import (
	"context"

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
// compares the list with its heads: store.ResolveMissing). Until then
// the document's status lists what is still to fetch.

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
