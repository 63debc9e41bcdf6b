package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	dsq "github.com/ipfs/go-datastore/query"
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
//
// A seq counts as stored when a transaction record holds it. Under the
// document's snapshot it also counts when the agent has no record there
// at all: the document was compacted, and nothing under the snapshot is
// to be had back. A document that keeps its records under its snapshot
// (a members-only one: they are what catch-up serves) needs them back,
// and Refill stores them.
func (s *Store) ResolveMissing(ctx context.Context, doc DocID) ([]Span, error) {
	s.excl.RLock()
	defer s.excl.RUnlock()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	return s.resolveMissingLocked(ctx, doc)
}

// resolveMissingLocked is ResolveMissing with s.excl read-held and
// s.metaMu held.
func (s *Store) resolveMissingLocked(ctx context.Context, doc DocID) ([]Span, error) {
	spans, err := s.Missing(ctx, doc)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	var covers Version
	if snap, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		covers = snap.Covers
	} else if !isNotFound(err) {
		return nil, err
	}
	stored := map[string][]Span{}
	var left []Span
	for _, sp := range spans {
		have, ok := stored[sp.Agent]
		if !ok {
			if have, err = s.storedSpans(ctx, doc, sp.Agent); err != nil {
				return nil, err
			}
			if c := covers[sp.Agent]; c > 0 && !slices.ContainsFunc(have, func(h Span) bool { return h.Seq < c }) {
				have = append(have, Span{Agent: sp.Agent, Seq: 0, Len: c}) // compacted
			}
			stored[sp.Agent] = have
		}
		left = append(left, subtractSpans(sp, have)...)
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

// storedSpans returns the spans of agent's transaction records in doc
// (those written; a batch not yet committed is not among them).
func (s *Store) storedSpans(ctx context.Context, doc DocID, agent string) ([]Span, error) {
	var out []Span
	err := each(ctx, s.kv.d, dsq.Query{Prefix: txnPrefix(doc) + "/" + escapeAgent(agent) + "/"}, func(e dsq.Entry) error {
		t, err := decodeTxnAt(e.Key, e.Value)
		if err == nil && t.Agent == agent {
			out = append(out, t.Span())
		}
		return nil // a damaged record holds nothing: Check quarantines it
	})
	return out, err
}

// subtractSpans returns the parts of sp that no span of have (same agent)
// holds, in order.
func subtractSpans(sp Span, have []Span) []Span {
	hs := slices.Clone(have)
	slices.SortFunc(hs, func(a, b Span) int { return cmp.Compare(a.Seq, b.Seq) })
	var out []Span
	at := sp.Seq
	for _, h := range hs {
		if h.End() <= at || h.Seq >= sp.End() {
			continue
		}
		if h.Seq > at {
			out = append(out, Span{Agent: sp.Agent, Seq: at, Len: h.Seq - at})
		}
		at = max(at, h.End())
		if at >= sp.End() {
			return out
		}
	}
	if at < sp.End() {
		out = append(out, Span{Agent: sp.Agent, Seq: at, Len: sp.End() - at})
	}
	return out
}

// Refill stores transactions that doc's fetch list names and that lie
// under its snapshot, where Append cannot put them: the heads already
// cover them, so Append skips them as stored. A document that keeps its
// records under its snapshot needs them back (see ResolveMissing). A
// transaction is written only when it lies inside the fetch list and the
// snapshot and no record starts at its seq; the others are skipped. The
// caller has verified them (they are opaque here). They are written at
// once, listed at the end of the arrival log (under the snapshot the
// log's order is free: readers start after the snapshot, and Check
// places covered transactions on top of it), and the list is trimmed.
// It returns how many were written. Calls are serialised (two catch-up
// exchanges may bring the same transaction at once).
func (s *Store) Refill(ctx context.Context, doc DocID, txns ...TxnRecord) (int, error) {
	s.excl.RLock()
	defer s.excl.RUnlock()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	spans, err := s.Missing(ctx, doc)
	if err != nil || len(spans) == 0 {
		return 0, err
	}
	var covers Version
	if snap, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		covers = snap.Covers
	} else if !isNotFound(err) {
		return 0, err
	}
	type fill struct {
		t   *TxnRecord
		val []byte
	}
	var fills []fill
	for i := range txns {
		t := &txns[i]
		if err := t.validate(s.opts.MaxPayload); err != nil {
			return 0, err
		}
		sp := t.Span()
		if !covers.ContainsSpan(sp) || !slices.ContainsFunc(spans, func(m Span) bool { return m.Agent == sp.Agent && m.Seq <= sp.Seq && sp.End() <= m.End() }) {
			continue
		}
		if _, err := get(ctx, s.kv.d, txnKey(doc, t.Agent, t.Seq)); err == nil {
			continue
		} else if !isNotFound(err) {
			return 0, err
		}
		b, err := encodeTxn(t)
		if err != nil {
			return 0, err
		}
		fills = append(fills, fill{t, b})
	}
	if len(fills) == 0 {
		return 0, nil
	}
	st, err := s.state(ctx, doc)
	if err != nil {
		return 0, err
	}
	ack := newAck()
	s.mu.Lock()
	if err := s.waitThawedLocked(ctx, st); err != nil {
		return 0, err
	}
	if err := s.writableLocked(); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	g := &group{doc: doc, ack: ack}
	startLog := st.nextLog
	for _, f := range fills {
		lb, err := encodeRecord(recLog, spanRec{Agent: f.t.Agent, Seq: f.t.Seq, Len: f.t.Len})
		if err != nil {
			st.nextLog = startLog
			s.mu.Unlock()
			return 0, err
		}
		g.ops = append(g.ops, kvOp{key: txnKey(doc, f.t.Agent, f.t.Seq), val: f.val}, kvOp{key: logKey(doc, st.epoch, st.nextLog), val: lb})
		st.nextLog++
		g.bytes += len(f.val) + len(lb)
		g.txns++
	}
	le, err := logEndOpLocked(doc, st)
	if err != nil {
		st.nextLog = startLog
		s.mu.Unlock()
		return 0, err
	}
	g.ops = append(g.ops, le)
	s.enqueueLocked(g, true)
	s.mu.Unlock()
	s.signal()
	if err := ack.Wait(ctx); err != nil {
		return 0, err
	}
	if _, err := s.resolveMissingLocked(ctx, doc); err != nil {
		return len(fills), err
	}
	return len(fills), nil
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

// CoveredRepair is what RepairCovered did to one document.
type CoveredRepair struct {
	Checked     int    // records under the snapshot read
	Quarantined int    // of them, damaged and moved to the quarantine
	Fetch       []Span // recorded to fetch from peers
}

// RepairCovered is the part of Check's repair that is safe while a
// replica runs the document: the transaction records under the snapshot
// of a document that keeps them (a members-only one) are read by nobody
// but catch-up serving them (loading starts after the snapshot), so a
// damaged one is quarantined, the log entries naming it dropped, and its
// span recorded to fetch from peers (which Refill puts back). At most max
// records are read (0: all). Damage above the snapshot is not touched:
// the replica's loaded state holds it; Check --repair with the replica
// stopped rebuilds the log and heads there.
func (s *Store) RepairCovered(ctx context.Context, doc DocID, codec Codec, max int) (CoveredRepair, error) {
	var res CoveredRepair
	s.excl.RLock()
	defer s.excl.RUnlock()
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	snap, err := readSnapshot(ctx, s.kv.d, doc)
	if isNotFound(err) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	covers := snap.Covers
	type rec struct {
		key, agent string
		seq        uint64
		span       Span
		bad        string
	}
	var recs []rec
	kept := false
	errEnough := errors.New("enough")
	err = each(ctx, s.kv.d, dsq.Query{Prefix: txnPrefix(doc)}, func(e dsq.Entry) error {
		dk, err := parseDocKey(e.Key)
		if err != nil || dk.kind != kindTxn || dk.n >= covers[dk.agent] {
			return nil
		}
		if max > 0 && res.Checked >= max {
			return errEnough
		}
		res.Checked++
		r := rec{key: e.Key, agent: dk.agent, seq: dk.n}
		t, err := decodeTxnAt(e.Key, e.Value)
		if err == nil && codec != nil {
			if cerr := codec.CheckTxn(t.Header, t.Payload); cerr != nil {
				err = fmt.Errorf("payload disagrees with header of %s: %v", t.Span(), cerr)
			}
		}
		if err != nil {
			r.bad = err.Error()
		} else {
			r.span = t.Span()
			kept = true
		}
		recs = append(recs, r)
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, errEnough) {
		return res, err
	}
	if !kept {
		return res, nil // compacted: nothing is kept under the snapshot
	}
	var ops []kvOp
	var fetch []Span
	now := s.opts.Now().UnixNano()
	for i, r := range recs {
		if r.bad == "" {
			continue
		}
		// It runs to the agent's next record, or to the snapshot's end.
		end := covers[r.agent]
		for _, o := range recs[i+1:] {
			if o.agent == r.agent && o.seq > r.seq {
				end = min(end, o.seq)
				break
			}
		}
		fetch = append(fetch, Span{Agent: r.agent, Seq: r.seq, Len: end - r.seq})
		raw, err := get(ctx, s.kv.d, r.key)
		if err != nil {
			return res, err
		}
		q, err := encodeRecord(recQuarantine, quarRec{Key: r.key, Reason: r.bad, At: now, Value: raw})
		if err != nil {
			return res, err
		}
		ops = append(ops, kvOp{key: quarantineKey(now+int64(len(ops)), r.key), val: q}, kvOp{key: r.key, del: true})
		res.Quarantined++
	}
	if len(fetch) == 0 {
		return res, nil
	}
	// The log entries naming them go too: Refill lists them again.
	st, err := s.state(ctx, doc)
	if err != nil {
		return res, err
	}
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: epochPrefix(doc, s.epoch(st))}, func(e dsq.Entry) error {
		var lr spanRec
		if decodeRecord(recLog, e.Value, &lr) != nil {
			return nil
		}
		for _, sp := range fetch {
			if lr.Agent == sp.Agent && lr.Seq >= sp.Seq && lr.Seq < sp.End() {
				ops = append(ops, kvOp{key: e.Key, del: true})
			}
		}
		return nil
	}); err != nil {
		return res, err
	}
	old, err := s.Missing(ctx, doc)
	if err != nil {
		return res, err
	}
	res.Fetch = mergeSpans(append(old, fetch...))
	fop, err := fetchOp(doc, res.Fetch)
	if err != nil {
		return res, err
	}
	ops = append(ops, fop)
	if err := s.submit(ctx, &group{ops: ops}, true); err != nil {
		return res, err
	}
	return res, nil
}
