package replica

import (
	"context"
	"fmt"

	"weft/api"
	"weft/crdt"
)

// A document's change feed (GET /api/docs/{id}/events): positional
// patches and title changes as the document takes them, for programs on
// this machine.
//
// The driver keeps, while anyone watches, a hub: a follower copy of the
// crdt state (a snapshot of the document's when the hub was made) that
// takes every transaction the document integrates, after the step's
// effects (so only what is durable by the step's rules), exactly as an
// editor tab would, and whose crdt.Apply gives the positional patch; and
// the last feedKeep events, for resuming; it lives while the document is
// loaded or watched. A feed is a bounded channel: a
// reader that falls feedBuffer events behind is dropped with a final end
// event, never waited for. A resume names a version: events after it are
// sent again when kept; a version of the history that is not kept gets one
// patch from its text (crdt.TextAt) and the title; anything else a reset
// event with the whole text.
const (
	feedBuffer = 1024 // events a reader may fall behind before it is dropped
	feedKeep   = 256  // events kept for resuming
)

// Reasons a feed ends, as its end event says.
const (
	EndSlow    = "slow reader: more than 1024 events behind; resume with Last-Event-ID"
	EndDeleted = "document deleted"
	EndClosed  = "daemon closing"
	EndReload  = "document reloaded after a failed write; resume with Last-Event-ID"
)

type feed struct {
	ch   chan api.DocEvent // capacity feedBuffer+1: the last slot is the end event's
	done bool
}

type eventHub struct {
	follower *crdt.Doc
	feeds    map[*feed]struct{}
	base     string         // the version before recent[0]
	recent   []api.DocEvent // the last feedKeep events, oldest first
}

// versionString is the printable form of a document's version
// (crdt.Frontier.String).
func versionString(doc *crdt.Doc) string { return doc.Frontier().String() }

// diffEvent is the patch from old to text: one change replacing what
// lies between their common prefix and suffix (in code points).
func diffEvent(old, text, version string) api.DocEvent {
	a, b := []rune(old), []rune(text)
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	q := 0
	for q < len(a)-p && q < len(b)-p && a[len(a)-1-q] == b[len(b)-1-q] {
		q++
	}
	return api.DocEvent{Kind: api.EventPatch, Version: version, Changes: []api.Change{{Pos: p, Delete: len(a) - p - q, Insert: string(b[p : len(b)-q])}}}
}

// Events starts a change feed of a document: since (a version, or ""
// for none) says where the reader is. The channel is closed when the
// feed ends, after an end event unless ctx ended it.
func (m *Manager) Events(ctx context.Context, sid, since string) (<-chan api.DocEvent, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return nil, err
	}
	f := &feed{ch: make(chan api.DocEvent, feedBuffer+1)}
	err = d.do(ctx, func(dr *driver) error {
		doc, err := dr.history(ctx)
		if err != nil {
			return err
		}
		if dr.hub == nil {
			follower, err := crdt.LoadSnapshot(doc.Agent(), doc.EncodeSnapshot())
			if err != nil {
				return fmt.Errorf("replica: copying document %s for its change feed: %w", d.id, err)
			}
			dr.hub = &eventHub{follower: follower, feeds: map[*feed]struct{}{}, base: versionString(follower)}
		}
		h := dr.hub
		h.catchUp(doc) // what came before this request is the resume's
		cur := versionString(h.follower)
		switch {
		case since == "" || since == cur:
		case since == h.base:
			for _, e := range h.recent {
				f.ch <- e
			}
		default:
			i := -1
			for j, e := range h.recent {
				if e.Version == since {
					i = j
				}
			}
			if i >= 0 {
				for _, e := range h.recent[i+1:] {
					f.ch <- e
				}
				break
			}
			text := h.follower.Text()
			// A version (or time) of the history: one patch from its text.
			if v, err := resolveVersion(h.follower, since); err == nil {
				if old, err := h.follower.TextAt(v); err == nil {
					f.ch <- diffEvent(old, text, cur)
					if t := h.follower.Title(); t != "" { // the crdt keeps no past titles to compare
						f.ch <- api.DocEvent{Kind: api.EventTitle, Version: cur, Title: &t}
					}
					break
				}
			}
			f.ch <- api.DocEvent{Kind: api.EventReset, Version: cur, Text: &text}
		}
		h.feeds[f] = struct{}{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() {
		// Counted like every goroutine of the manager's, so that Close
		// waits for it (or it finds the manager closed: the feed ended
		// with the driver).
		if !m.enter() {
			return
		}
		defer m.wg.Done()
		_ = d.do(context.WithoutCancel(m.ctx), func(dr *driver) error {
			dr.endFeed(f, "")
			return nil
		})
	})
	return f.ch, nil
}

// catchUp applies to the follower what doc has and it has not, and
// records the events; it returns them.
func (h *eventHub) catchUp(doc *crdt.Doc) []api.DocEvent {
	var out []api.DocEvent
	title := h.follower.Title()
	for _, t := range doc.Missing(h.follower.Version()) {
		p, err := h.follower.Apply(t)
		if err != nil {
			continue // the document took it: the copy cannot refuse it
		}
		if len(p) == 0 {
			continue
		}
		ch := make([]api.Change, len(p))
		for i, c := range p {
			ch[i] = api.Change{Pos: c.Pos, Delete: c.Delete, Insert: c.Insert}
		}
		out = append(out, api.DocEvent{Kind: api.EventPatch, Changes: ch})
	}
	var titled []api.DocEvent
	if t := h.follower.Title(); t != title {
		titled = []api.DocEvent{{Kind: api.EventTitle, Version: versionString(h.follower), Title: &t}}
	}
	if len(out) == 0 {
		h.keep(titled...)
		return titled
	}
	// One version for the batch: the follower's now (events in between
	// name no version a reader could resume from exactly).
	v := versionString(h.follower)
	merged := api.DocEvent{Kind: api.EventPatch, Version: v}
	for _, e := range out {
		merged.Changes = append(merged.Changes, e.Changes...)
	}
	all := append([]api.DocEvent{merged}, titled...)
	h.keep(all...)
	return all
}

// keep records events for resuming, the last feedKeep.
func (h *eventHub) keep(es ...api.DocEvent) {
	h.recent = append(h.recent, es...)
	if n := len(h.recent) - feedKeep; n > 0 {
		h.base = h.recent[n-1].Version
		h.recent = append(h.recent[:0], h.recent[n:]...)
	}
}

// fanEvents sends the feeds what the document took since they last
// heard (called after a step's effects).
func (dr *driver) fanEvents() {
	h := dr.hub
	if h == nil || dr.doc == nil {
		return
	}
	for _, e := range h.catchUp(dr.doc) {
		for f := range h.feeds {
			if len(f.ch) >= feedBuffer {
				dr.endFeed(f, EndSlow)
				continue
			}
			f.ch <- e
		}
	}
}

// endFeed ends one feed, with an end event unless reason is "".
func (dr *driver) endFeed(f *feed, reason string) {
	h := dr.hub
	if h == nil || f.done {
		return
	}
	f.done = true
	delete(h.feeds, f)
	if reason != "" {
		f.ch <- api.DocEvent{Kind: api.EventEnd, Reason: reason}
	}
	close(f.ch)
}

// endFeeds ends every feed of the document with reason and drops the
// hub (its copy may be ahead of what a reload gives).
func (dr *driver) endFeeds(reason string) {
	if dr.hub == nil {
		return
	}
	for f := range dr.hub.feeds {
		dr.endFeed(f, reason)
	}
	dr.hub = nil
}

// unloadHub drops the hub when the document unloads and nobody watches
// (a reader resuming later gets a reset).
func (dr *driver) unloadHub() {
	if dr.hub != nil && len(dr.hub.feeds) == 0 {
		dr.hub = nil
	}
}
