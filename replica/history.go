package replica

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	udiff "github.com/aymanbagabas/go-udiff"

	"weft/api"
	"weft/crdt"
)

// History: the local API's view of a document's past (issue 13). Every
// query runs on the document's driver goroutine against its crdt state
// (crdt's history queries; nothing is replayed), so a version read and the
// text at it belong to one state. Versions come as crdt's printable
// frontier or an RFC 3339 time (the version at that time, by the authors'
// clocks).

// resolveVersion reads a VERSION or TIME of a request against doc.
func resolveVersion(doc *crdt.Doc, s string) (crdt.Frontier, error) {
	s = strings.TrimSpace(s)
	if f, ferr := crdt.ParseFrontier(s); ferr == nil {
		if !doc.HasVersion(f) {
			return nil, fmt.Errorf("%w: version %s is not in this document's history", api.ErrBadInput, s)
		}
		return f, nil
	} else if t, terr := time.Parse(time.RFC3339Nano, s); terr == nil {
		ms := t.UnixMilli()
		if ms < 0 {
			ms = 0
		}
		return doc.VersionAt(ms), nil
	} else {
		return nil, fmt.Errorf("%w: %q is neither a version (agent@seq,…; 0 for the empty document) nor an RFC 3339 time: %v", api.ErrBadInput, s, ferr)
	}
}

// versionOrNow is resolveVersion, with "" meaning the current version.
func versionOrNow(doc *crdt.Doc, s string) (crdt.Frontier, error) {
	if s == "" {
		return doc.Frontier(), nil
	}
	return resolveVersion(doc, s)
}

// withDoc runs fn on the loaded document of sid, on its driver.
func (m *Manager) withDoc(ctx context.Context, sid string, fn func(dr *driver, doc *crdt.Doc) error) error {
	d, err := m.lookup(sid)
	if err != nil {
		return err
	}
	return d.do(ctx, func(dr *driver) error {
		doc, err := dr.history(ctx)
		if err != nil {
			return err
		}
		return fn(dr, doc)
	})
}

// labels maps agents (device IDs) to their labels in the document's
// member book, when it has one.
func (m *Manager) labels(ctx context.Context, sid string) map[string]string {
	ms, err := m.Members(ctx, sid)
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(ms))
	for _, mi := range ms {
		out[mi.Device] = mi.Label
	}
	return out
}

func (m *Manager) future(ms int64) bool {
	return ms > m.opts.Now().Add(api.FutureSlack).UnixMilli()
}

// History returns the document's editing sessions that end at or after
// since (zero: all), newest first.
func (m *Manager) History(ctx context.Context, sid string, since time.Time) (api.History, error) {
	labels := m.labels(ctx, sid)
	var h api.History
	err := m.withDoc(ctx, sid, func(_ *driver, doc *crdt.Doc) error {
		var sinceMs int64
		if !since.IsZero() {
			sinceMs = max(since.UnixMilli(), 0)
		}
		h.Version = doc.Frontier().String()
		ss := doc.Sessions(sinceMs)
		h.Sessions = make([]api.HistorySession, len(ss))
		for i, s := range ss {
			h.Sessions[i] = api.HistorySession{Agent: s.Agent, Device: labels[s.Agent], Start: api.Millis(s.Start), End: api.Millis(s.End),
				Future: m.future(s.End), Inserted: s.Inserted, Deleted: s.Deleted, Titles: s.Titles, Txns: s.Txns, Version: s.Version.String()}
		}
		return nil
	})
	return h, err
}

// TextAt returns the text at version at (VERSION or TIME; "" the current
// one) and, when since is not "", the spans inserted after since.
func (m *Manager) TextAt(ctx context.Context, sid, at, since string) (api.TextAt, error) {
	var out api.TextAt
	err := m.withDoc(ctx, sid, func(_ *driver, doc *crdt.Doc) error {
		f, err := versionOrNow(doc, at)
		if err != nil {
			return err
		}
		text, err := doc.TextAt(f)
		if err != nil {
			return fmt.Errorf("%w: %v", api.ErrBadInput, err)
		}
		out = api.TextAt{Version: f.String(), Text: text}
		if since != "" {
			from, err := resolveVersion(doc, since)
			if err != nil {
				return err
			}
			spans, err := doc.Inserted(from, f)
			if err != nil {
				return fmt.Errorf("%w: %v", api.ErrBadInput, err)
			}
			out.Inserted = make([]api.InsertedSpan, len(spans))
			for i, s := range spans {
				out.Inserted[i] = api.InsertedSpan{Start: s.Start, Len: s.Len, Agent: s.Agent}
			}
		}
		return nil
	})
	return out, err
}

// Diff returns the unified diff from the text at version from to the text
// at version to ("": the current one).
func (m *Manager) Diff(ctx context.Context, sid, from, to string) (api.Diff, error) {
	var out api.Diff
	err := m.withDoc(ctx, sid, func(_ *driver, doc *crdt.Doc) error {
		ff, err := resolveVersion(doc, from)
		if err != nil {
			return err
		}
		tf, err := versionOrNow(doc, to)
		if err != nil {
			return err
		}
		a, err := doc.TextAt(ff)
		if err != nil {
			return err
		}
		b, err := doc.TextAt(tf)
		if err != nil {
			return err
		}
		out = api.Diff{From: ff.String(), To: tf.String(), Diff: udiff.Unified(ff.String(), tf.String(), a, b)}
		return nil
	})
	return out, err
}

// Blame returns each line of the text at version at ("": the current one)
// with the edit that last changed it.
func (m *Manager) Blame(ctx context.Context, sid, at string) (api.Blame, error) {
	labels := m.labels(ctx, sid)
	var out api.Blame
	err := m.withDoc(ctx, sid, func(_ *driver, doc *crdt.Doc) error {
		f, err := versionOrNow(doc, at)
		if err != nil {
			return err
		}
		lines, err := doc.Blame(f)
		if err != nil {
			return fmt.Errorf("%w: %v", api.ErrBadInput, err)
		}
		out = api.Blame{Version: f.String(), Lines: make([]api.BlameLine, len(lines))}
		for i, l := range lines {
			out.Lines[i] = api.BlameLine{Line: l.Line, Text: l.Text, Agent: l.By.Agent, Device: labels[l.By.Agent], Time: api.Millis(l.Time),
				Future: m.future(l.Time), Version: crdt.Frontier{l.By}.String()}
		}
		return nil
	})
	return out, err
}

// Restore makes the current text equal to the text at version to, as new
// local edits: a minimal edit script (go-udiff's, on code points) applied
// in one step, so that it is one transaction of this device that syncs
// like any edit and can itself be restored away.
func (m *Manager) Restore(ctx context.Context, sid, to string) (api.Restored, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return api.Restored{}, err
	}
	var out api.Restored
	arrived := m.opts.Now()
	err = d.do(ctx, func(dr *driver) error {
		doc, err := dr.history(ctx)
		if err != nil {
			return err
		}
		f, err := resolveVersion(doc, to)
		if err != nil {
			return err
		}
		want, err := doc.TextAt(f)
		if err != nil {
			return err
		}
		edits := editScript(doc.Text(), want)
		if len(edits) == 0 {
			out = api.Restored{Version: doc.Frontier().String()}
			return nil
		}
		r, err := dr.apply(ctx, input{src: fromAPI, edits: edits}, nil, arrived)
		if err != nil {
			return err
		}
		if r.refused != nil {
			return r.refused
		}
		if dr.doc.Text() != want {
			return fmt.Errorf("replica: restore to %s left another text", f)
		}
		out = api.Restored{Version: dr.doc.Frontier().String(), Edits: len(edits)}
		return nil
	})
	return out, err
}

// editScript returns positional edits (code points) that turn cur into
// want, last first, so that each applies to the text the previous one
// left.
func editScript(cur, want string) []api.Edit {
	es := udiff.Strings(cur, want) // byte offsets into cur, sorted, on rune boundaries
	out := make([]api.Edit, 0, len(es))
	pos, b := 0, 0 // code points of cur before byte b
	for _, e := range es {
		pos += utf8.RuneCountInString(cur[b:e.Start])
		del := utf8.RuneCountInString(cur[e.Start:e.End])
		out = append(out, api.Edit{Pos: pos, Del: del, Ins: e.New})
		pos += del
		b = e.End
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
