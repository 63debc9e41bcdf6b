package store

import (
	"context"
	"fmt"
)

// The fetch list of a document (/docs/<id>/fetch) records spans that Check
// found missing or damaged and could not rebuild locally. A replica's
// catch-up asks peers for them, stores what arrives, then calls
// ResolveMissing.

// Missing returns doc's recorded spans to fetch from peers (nil if none).
func (s *Store) Missing(ctx context.Context, doc DocID) ([]Span, error) {
	raw, err := get(ctx, s.kv.d, fetchKey(doc))
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeFetch(raw)
}

func decodeFetch(raw []byte) ([]Span, error) {
	var fr fetchRec
	if err := decodeRecord(recFetch, raw, &fr); err != nil {
		return nil, err
	}
	out := make([]Span, len(fr.Spans))
	for i, sp := range fr.Spans {
		out[i] = Span{Agent: sp.Agent, Seq: sp.Seq, Len: sp.Len}
		if out[i].Check() != nil {
			return nil, fmt.Errorf("%w: bad span %v", ErrCorrupt, out[i])
		}
	}
	return out, nil
}

// ResolveMissing trims doc's fetch list to the parts not yet stored and
// returns what is still missing. When nothing is, the list is removed.
func (s *Store) ResolveMissing(ctx context.Context, doc DocID) ([]Span, error) {
	s.excl.RLock()
	defer s.excl.RUnlock()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	spans, err := s.Missing(ctx, doc)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	v, err := s.Version(ctx, doc)
	if err != nil {
		return nil, err
	}
	var left []Span
	for _, sp := range spans {
		if h := v[sp.Agent]; h > sp.Seq {
			if h >= sp.End() {
				continue
			}
			sp = Span{Agent: sp.Agent, Seq: h, Len: sp.End() - h}
		}
		left = append(left, sp)
	}
	op, err := fetchOp(doc, left)
	if err != nil {
		return nil, err
	}
	if err := s.submit(ctx, &group{ops: []kvOp{op}}, true); err != nil {
		return nil, err
	}
	return left, nil
}

func fetchOp(doc DocID, spans []Span) (kvOp, error) {
	if len(spans) == 0 {
		return kvOp{key: fetchKey(doc), del: true}, nil
	}
	b, err := encodeRecord(recFetch, fetchRec{Spans: encodeSpans(spans)})
	return kvOp{key: fetchKey(doc), val: b}, err
}

// mergeSpans merges overlapping or adjacent spans of the same agent.
func mergeSpans(spans []Span) []Span {
	in := encodeSpans(spans) // sorted copy
	var out []Span
	for _, r := range in {
		sp := Span{Agent: r.Agent, Seq: r.Seq, Len: r.Len}
		if n := len(out); n > 0 && out[n-1].Agent == sp.Agent && out[n-1].End() >= sp.Seq {
			if sp.End() > out[n-1].End() {
				out[n-1].Len = sp.End() - out[n-1].Seq
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}
