package replica

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"weft/api"
	"weft/crdt"
	"weft/store"
	"weft/wire"
)

// actor is the goroutine that owns one loaded document. Everything that
// reads or changes the crdt state runs on it, in arrival order, so the
// order persist → broadcast → notify holds for every transaction.
type actor struct {
	d     *docState
	doc   *crdt.Doc
	inbox chan request
	done  chan struct{}

	chars         atomic.Int64
	lastApplied   time.Time
	sinceSnapshot int
	broken        error // memory and disk disagree: unload and reload
	stopping      bool
	unloadErr     error
}

func (a *actor) run() {
	m := a.d.m
	defer m.wg.Done()
	defer close(a.done)

	ctx := context.WithoutCancel(m.ctx)
	doc, n, err := a.d.load(ctx)
	if err != nil {
		m.log.Error("loading a document", "doc", a.d.id, "err", err)
		a.failAll(err)
		return
	}
	a.doc = doc
	a.d.loadedDurable(doc.Version())
	a.chars.Store(int64(doc.Len()))
	a.sinceSnapshot = n
	if n >= m.opts.CompactAfter {
		a.compact(ctx)
	}
	_ = m.opts.Store.Touch(ctx, a.d.id)

	idle := time.NewTimer(m.opts.IdleUnload)
	defer idle.Stop()
	for {
		select {
		case req := <-a.inbox:
			req.reply <- req.f(a)
			a.chars.Store(int64(a.doc.Len()))
			if a.broken != nil || a.stopping {
				if a.broken != nil {
					m.log.Warn("reloading a document after a failed write", "doc", a.d.id, "err", a.broken)
				}
				a.exit(ctx)
				return
			}
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(m.opts.IdleUnload)
		case <-idle.C:
			if a.exit(ctx) {
				return
			}
			idle.Reset(m.opts.IdleUnload)
		case <-m.ctx.Done():
			a.exit(ctx)
			return
		}
	}
}

// exit unloads the document if no request is waiting; it reports whether
// the actor is done. A snapshot is written first when the document changed
// since the last one, so the state on disk is compact before it is dropped.
func (a *actor) exit(ctx context.Context) bool {
	final := a.broken != nil || a.stopping || a.d.m.ctx.Err() != nil
	if !final && len(a.inbox) > 0 {
		return false
	}
	if a.broken == nil && a.sinceSnapshot > 0 {
		a.unloadErr = a.compact(ctx)
	}
	d := a.d
	d.mu.Lock()
	if !final && len(a.inbox) > 0 {
		d.mu.Unlock()
		return false
	}
	d.a = nil
	d.chars = a.doc.Len()
	if a.broken != nil {
		d.chars = -1 // memory was ahead of disk: unknown until reloaded
	}
	d.mu.Unlock()
	return true
}

// failAll answers every queued request with err once loading failed, and
// unregisters the actor so that the next request tries to load again.
func (a *actor) failAll(err error) {
	d := a.d
	d.mu.Lock()
	d.a = nil
	d.mu.Unlock()
	for {
		select {
		case req := <-a.inbox:
			req.reply <- err
		default:
			return
		}
	}
}

// compact writes a snapshot covering the whole document and lets the
// store drop the transactions it covers.
func (a *actor) compact(ctx context.Context) error {
	st := a.d.m.opts.Store
	if f, ok := st.(interface{ Flush(context.Context) error }); ok {
		if err := f.Flush(ctx); err != nil {
			return err
		}
	}
	snap := a.doc.EncodeSnapshot()
	if _, err := st.Compact(ctx, a.d.id, snap, store.Version(a.doc.Version())); err != nil {
		a.d.m.log.Warn("compacting a document", "doc", a.d.id, "err", err)
		return err
	}
	a.sinceSnapshot = 0
	return nil
}

// localEdits applies local edits, each its own transaction, persists them
// (durable before returning), then publishes them.
func (a *actor) localEdits(ctx context.Context, edits []api.Edit) (api.EditResult, error) {
	m := a.d.m
	start := time.Now()
	before := a.doc.Version()
	var editErr error
	applied := 0
	for i, e := range edits {
		if err := a.doc.Edit(e.Pos, e.Del, e.Ins); err != nil {
			editErr = fmt.Errorf("%w: edit %d: %v", api.ErrBadInput, i, err)
			break
		}
		applied++
	}
	// Each edit is its own transaction; consecutive ones travel and are
	// stored merged into spans, so a request of many edits costs one
	// record and one signed gossip message per span, not per edit.
	fresh := a.doc.Missing(before)
	if len(fresh) > 0 {
		recs, wires, err := a.seal(fresh)
		if err != nil {
			return api.EditResult{}, err
		}
		if _, err := a.appendAll(context.WithoutCancel(ctx), store.Immediate, recs); err != nil {
			// The edits are in memory but not on disk: nothing is
			// acknowledged and the document reloads from disk.
			a.broken = err
			return api.EditResult{}, fmt.Errorf("replica: saving edits: %w", err)
		}
		a.sinceSnapshot += len(recs)
		a.lastApplied = m.opts.Now()
		m.stats.add(&m.stats.localTxns, uint64(applied))
		m.opts.Observer.Integrated("local", applied, time.Since(start))
		a.publish(wires)
		a.d.fanTxns(wires, nil)
	}
	res := api.EditResult{Applied: applied, Version: a.doc.Version(), Chars: a.doc.Len()}
	return res, editErr
}

func (a *actor) publish(wires [][]byte) {
	t := a.d.topic
	if t == nil {
		return
	}
	m := a.d.m
	for _, w := range wires {
		if err := t.Publish(m.ctx, w); err != nil {
			m.log.Debug("publishing a transaction", "doc", a.d.id, "err", err)
			continue
		}
		m.stats.add(&m.stats.published, 1)
		m.opts.Observer.Published()
	}
}

// remote integrates transactions from peers and persists what was new
// (batched: gossip and catch-up can always deliver it again). source and
// arrived feed the observer.
func (a *actor) remote(envs []wire.Envelope, source string, arrived time.Time) error {
	m := a.d.m
	before := a.doc.Version()
	for i := range envs {
		t, err := envs[i].Open()
		if err != nil {
			m.stats.reject(Reason(err))
			continue
		}
		if _, err := a.doc.Apply(t); err != nil {
			reason := "history"
			if errors.Is(err, crdt.ErrBufferFull) {
				reason = "buffer-full"
			}
			m.stats.reject(reason)
			m.log.Debug("rejecting a transaction", "doc", a.d.id, "agent", t.Agent, "seq", t.Seq, "err", err)
			continue
		}
	}
	fresh := a.doc.Missing(before)
	if len(fresh) == 0 {
		return nil
	}
	recs, wires, err := a.seal(fresh)
	if err != nil {
		return err
	}
	ack, err := a.appendAll(m.ctx, store.Batched, recs)
	if err != nil {
		a.broken = err
		return fmt.Errorf("replica: saving remote transactions: %w", err)
	}
	a.d.ackWhenDurable(ack, a.doc.Version())
	a.sinceSnapshot += len(recs)
	a.lastApplied = m.opts.Now()
	m.stats.add(&m.stats.remoteTxns, uint64(len(recs)))
	m.opts.Observer.Integrated(source, len(recs), time.Since(arrived))
	a.d.fanTxns(wires, nil)
	if source == "sync" && m.opts.AckDurable {
		// A relay passes on what catch-up brought it (a peer back from
		// offline), so peers already online need not wait for their next
		// anti-entropy round.
		a.publish(wires)
	}
	return nil
}

// missing returns envelopes of everything a replica at version v lacks.
func (a *actor) missing(v store.Version) ([][]byte, error) {
	txns := a.doc.Missing(crdt.Version(v))
	out := make([][]byte, 0, len(txns))
	for _, t := range txns {
		_, wire, err := wire.Seal(wire.DocID(a.d.id), t)
		if err != nil {
			return nil, err
		}
		out = append(out, wire)
	}
	return out, nil
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
func (a *actor) appendAll(ctx context.Context, p store.Policy, recs []store.TxnRecord) (*store.Ack, error) {
	var ack *store.Ack
	for len(recs) > 0 {
		n := min(len(recs), appendChunk)
		var err error
		if ack, err = a.d.m.opts.Store.Append(ctx, a.d.id, p, recs[:n]...); err != nil {
			return nil, err
		}
		recs = recs[n:]
	}
	return ack, nil
}

// seal encodes newly integrated transactions as records for the store and
// envelopes for peers and tabs. A failure means the in-memory state cannot
// be written out: the document is marked for reloading.
func (a *actor) seal(txns []*crdt.Txn) ([]store.TxnRecord, [][]byte, error) {
	recs := make([]store.TxnRecord, 0, len(txns))
	wires := make([][]byte, 0, len(txns))
	for _, t := range txns {
		env, w, err := wire.Seal(wire.DocID(a.d.id), t)
		if err != nil {
			a.broken = err
			return nil, nil, fmt.Errorf("replica: encoding a transaction: %w", err)
		}
		recs = append(recs, record(&env))
		wires = append(wires, w)
	}
	return recs, wires, nil
}
