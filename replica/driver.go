package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"weft/crdt"
	"weft/store"
	"weft/wire"
)

// driver is the state of one document that its goroutine owns: the crdt
// state while loaded, the attached tabs, and the durability
// acknowledgements. Only the running goroutine (docState.loop) touches it;
// it is handed from one run to the next through docState.mu, so nothing
// else locks it. Every change of the crdt state goes through step, and the
// driver carries out the step's effects in the order the step lists.
type driver struct {
	d *docState

	doc           *crdt.Doc // nil while unloaded
	sinceSnapshot int       // stored transactions not covered by the snapshot
	lastApplied   time.Time
	unloadErr     error // the last unload's snapshot failure, reported by close

	sessions map[*Session]struct{} // attached tabs

	// Durability acknowledgements, by role (durable.go): on a relay, what
	// it has on disk and the writes it waits for; on a daemon configured
	// with relays, what they acknowledged.
	relay *relayAcks
	acked *daemonAcks
}

// loaded returns the crdt state, loading it from the store if needed: the
// latest snapshot and the stored transactions after it.
func (dr *driver) loaded(ctx context.Context) (*crdt.Doc, error) {
	d, m := dr.d, dr.d.m
	if dr.doc != nil {
		m.opts.Observer.DocCache("hit", 0)
		return dr.doc, nil
	}
	ctx = context.WithoutCancel(ctx)
	start := m.opts.Now()
	doc, n, err := load(ctx, m.opts.Store, m.opts.Agent, d.id)
	if err != nil {
		m.log.Error("loading a document", "doc", d.id, "err", err)
		return nil, err
	}
	m.opts.Observer.DocCache("load", m.opts.Now().Sub(start))
	dr.doc = doc
	dr.sinceSnapshot = n
	d.loaded.Store(true)
	d.chars.Store(int64(doc.Len()))
	if dr.relay != nil {
		dr.relay.onDisk(doc.Version())
	}
	if n >= m.opts.CompactAfter {
		_ = dr.compact(ctx)
	}
	_ = m.opts.Store.Touch(ctx, d.id)
	return doc, nil
}

// load builds a document's crdt state from its latest snapshot and the
// stored transactions after it; n counts those transactions.
func load(ctx context.Context, st Store, agent string, id store.DocID) (doc *crdt.Doc, n int, err error) {
	var since store.Version
	snap, err := st.Snapshot(ctx, id)
	switch {
	case err == nil:
		if doc, err = crdt.LoadSnapshot(agent, snap.Payload); err != nil {
			return nil, 0, fmt.Errorf("replica: document %s: loading its snapshot: %w", id, err)
		}
		since = snap.Covers
	case errors.Is(err, store.ErrNotFound):
		if doc, err = crdt.New(agent); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, err
	}
	err = st.Stream(ctx, id, since, func(chunk []store.TxnRecord) error {
		for _, rec := range chunk {
			t, err := crdt.DecodeTxn(rec.Payload)
			if err == nil {
				_, err = doc.Apply(t)
			}
			if err != nil {
				return fmt.Errorf("stored transaction %s/%d: %w", rec.Agent, rec.Seq, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("replica: document %s: %w", id, err)
	}
	return doc, n, nil
}

// unload drops the crdt state, writing a snapshot first when the document
// changed since the last one, so the state on disk is compact.
func (dr *driver) unload(ctx context.Context) {
	if dr.doc == nil {
		return
	}
	if dr.sinceSnapshot > 0 {
		dr.unloadErr = dr.compact(ctx)
	}
	dr.d.chars.Store(int64(dr.doc.Len()))
	dr.doc = nil
	dr.d.loaded.Store(false)
	dr.d.m.opts.Observer.DocCache("unload", 0)
}

// drop forgets the crdt state without writing it: memory is ahead of disk
// after a failed write, and the next request reloads what is stored.
func (dr *driver) drop(err error) {
	dr.d.m.log.Warn("reloading a document after a failed write", "doc", dr.d.id, "err", err)
	if dr.doc != nil {
		dr.d.m.opts.Observer.DocCache("unload", 0)
	}
	dr.doc = nil
	dr.d.loaded.Store(false)
	dr.d.chars.Store(-1)
}

// compact writes a snapshot covering the whole document and lets the
// store drop the transactions it covers.
func (dr *driver) compact(ctx context.Context) error {
	st := dr.d.m.opts.Store
	if f, ok := st.(interface{ Flush(context.Context) error }); ok {
		if err := f.Flush(ctx); err != nil {
			return err
		}
	}
	if _, err := st.Compact(ctx, dr.d.id, dr.doc.EncodeSnapshot(), store.Version(dr.doc.Version())); err != nil {
		dr.d.m.log.Warn("compacting a document", "doc", dr.d.id, "err", err)
		return err
	}
	dr.sinceSnapshot = 0
	return nil
}

// apply runs one step on the document and carries out its effects in the
// order the step lists; from is the tab the input came from (nil
// otherwise). It returns the step's result and the first failure: a
// refusal of input, or a write that failed (the document then reloads).
func (dr *driver) apply(ctx context.Context, in input, from *Session, arrived time.Time) (ready, error) {
	m := dr.d.m
	doc, err := dr.loaded(ctx)
	if err != nil {
		return ready{}, err
	}
	r, err := step(doc, stepConfig{doc: dr.d.id, relay: dr.relay != nil}, in)
	if err != nil {
		dr.drop(err)
		return ready{}, err
	}
	for _, reason := range r.rejected {
		m.stats.reject(reason)
	}
	if len(r.records) == 0 {
		return r, r.refused
	}
	dr.d.chars.Store(int64(doc.Len()))
	for _, e := range r.effects {
		switch e {
		case effPersist:
			ack, err := dr.appendAll(ctx, r.policy, r.records)
			if err != nil {
				dr.drop(err)
				return r, saveError(r.src, err)
			}
			dr.sinceSnapshot += len(r.records)
			dr.lastApplied = m.opts.Now()
			if dr.relay != nil && r.policy == store.Batched {
				dr.relay.wait(ack, doc.Version())
			}
		case effPublish:
			if r.publish {
				dr.publish(r.wires)
			}
		case effTabs:
			dr.fanTxns(r.wires, from)
		case effReply:
			// The caller is answered when apply returns; what is
			// counted here is what the effects before made true.
			if r.src == fromAPI || r.src == fromTab {
				m.stats.add(&m.stats.localTxns, uint64(r.applied))
			} else {
				m.stats.add(&m.stats.remoteTxns, uint64(r.applied))
			}
			m.opts.Observer.Integrated(r.src.String(), r.applied, m.opts.Now().Sub(arrived))
		}
	}
	return r, r.refused
}

// saveError is what the giver of an input hears when its transactions
// could not be stored: nothing of them is acknowledged.
func saveError(src source, err error) error {
	switch src {
	case fromAPI:
		return fmt.Errorf("replica: saving edits: %w", err)
	case fromTab:
		return errors.New("replica: saving the tab's edits failed; reconnect to resync")
	}
	return fmt.Errorf("replica: saving remote transactions: %w", err)
}

// appendChunk bounds the transactions handed to the store in one call, so
// that each becomes a database transaction of reasonable size (a paste or
// a replayed trace can be tens of thousands of transactions).
const appendChunk = 512

// appendAll hands recs to the store in chunks, in order. Under Immediate
// each chunk is durable before the next is written, so the call returns
// once all are; a failure leaves a durable prefix, which is a causally
// closed part of the history, and nothing is acknowledged. It returns the
// last chunk's ack (the store completes acks in order).
func (dr *driver) appendAll(ctx context.Context, p store.Policy, recs []store.TxnRecord) (*store.Ack, error) {
	ctx = context.WithoutCancel(ctx)
	var ack *store.Ack
	for len(recs) > 0 {
		n := min(len(recs), appendChunk)
		var err error
		if ack, err = dr.d.m.opts.Store.Append(ctx, dr.d.id, p, recs[:n]...); err != nil {
			return nil, err
		}
		recs = recs[n:]
	}
	return ack, nil
}

func (dr *driver) publish(wires [][]byte) {
	t := dr.d.topic
	if t == nil {
		return
	}
	m := dr.d.m
	for _, w := range wires {
		if err := t.Publish(m.ctx, w); err != nil {
			m.log.Debug("publishing a transaction", "doc", dr.d.id, "err", err)
			continue
		}
		m.stats.add(&m.stats.published, 1)
		m.opts.Observer.Published()
	}
}

// missing returns envelopes of everything a replica at version v lacks.
func (dr *driver) missing(ctx context.Context, v store.Version) ([][]byte, error) {
	doc, err := dr.loaded(ctx)
	if err != nil {
		return nil, err
	}
	txns := doc.Missing(crdt.Version(v))
	out := make([][]byte, 0, len(txns))
	for _, t := range txns {
		_, w, err := wire.Seal(dr.d.id, t)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// shutdown ends the document's last run: it unloads and detaches every tab.
func (dr *driver) shutdown(ctx context.Context) {
	dr.unload(ctx)
	for s := range dr.sessions {
		dr.detach(s)
	}
}

// busy reports whether the goroutine must keep running although idle:
// tabs are attached, or writes wait to be acknowledged.
func (dr *driver) busy() bool {
	return len(dr.sessions) > 0 || (dr.relay != nil && len(dr.relay.pending) > 0)
}
