package replica

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"weft/api"
	"weft/crdt"
	"weft/member"
	"weft/store"
	"weft/vocab"
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

	doc *crdt.Doc // nil while unloaded (and always on a member that cannot read)
	// hl is a members-only document's header log (nil while unloaded,
	// and for a legacy document); cpCovers is what its stored checkpoint
	// covers (nil: none).
	hl            *hlog
	cpCovers      vocab.Version
	seqsSince     uint64 // seqs stored since the last checkpoint
	sinceSnapshot int    // stored transactions not covered by the snapshot
	lastApplied   time.Time
	unloadErr     error // the last unload's snapshot failure, reported by close
	// rewrite: the stored snapshot (or checkpoint state) is of an older
	// crdt format, read whole at every open; unload writes it again in
	// the current one (crdt.SnapshotFormat), whose open is lazy.
	rewrite bool

	sessions map[*Session]struct{} // attached tabs
	tabSnap  tabSnapshot           // the snapshot fresh tabs get (tabsnap.go)
	hub      *eventHub             // change feeds (events.go); nil: none
	title    string                // the crdt title last stored (docs.go)
	titled   bool                  // title holds one (docs.go)

	// Durability acknowledgements, by role (durable.go): on a relay, what
	// it has on disk and the writes it waits for; on a daemon configured
	// with relays, what they acknowledged.
	relay *relayAcks
	acked *daemonAcks
}

// loaded returns the crdt state, loading it from the store if needed: the
// latest snapshot and the stored transactions after it.
func (dr *driver) loaded(ctx context.Context) (*crdt.Doc, error) {
	if ms := dr.d.mem; ms != nil {
		if err := dr.ensure(ctx); err != nil {
			return nil, err
		}
		if dr.doc == nil {
			return nil, fmt.Errorf("%w: this device holds no read secret for document %s", api.ErrForbidden, dr.d.id)
		}
		return dr.doc, nil
	}
	d, m := dr.d, dr.d.m
	if dr.doc != nil {
		m.opts.Observer.DocCache("hit", 0)
		return dr.doc, nil
	}
	ctx = context.WithoutCancel(ctx)
	start := m.opts.Now()
	doc, n, old, err := load(ctx, m.opts.Store, m.opts.Agent, d.id)
	if err != nil {
		m.log.Error("loading a document", "doc", d.id, "err", err)
		return nil, err
	}
	m.opts.Observer.DocCache("load", m.opts.Now().Sub(start))
	dr.doc = doc
	dr.sinceSnapshot = n
	dr.rewrite = old
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
// stored transactions after it; n counts those transactions, and old is
// true when the snapshot is of an older crdt format than this build's.
func load(ctx context.Context, st Store, agent string, id store.DocID) (doc *crdt.Doc, n int, old bool, err error) {
	var since store.Version
	snap, err := st.Snapshot(ctx, id)
	switch {
	case err == nil:
		if doc, err = crdt.OpenSnapshot(agent, snap.Payload); err != nil {
			return nil, 0, false, fmt.Errorf("replica: document %s: loading its snapshot: %w", id, err)
		}
		since = snap.Covers
		old = crdt.SnapshotVersion(snap.Payload) < crdt.SnapshotFormat
	case errors.Is(err, store.ErrNotFound):
		if doc, err = crdt.New(agent); err != nil {
			return nil, 0, false, err
		}
	default:
		return nil, 0, false, err
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
		return nil, 0, false, fmt.Errorf("replica: document %s: %w", id, err)
	}
	return doc, n, old, nil
}

// history returns the crdt state with its history read. A stored snapshot
// opens lazily (crdt.OpenSnapshot: the text, version and title at once,
// the history when first needed); what needs the history (a step, catch-up
// for a tab, history queries, the change feed) takes the document here.
// A history that does not read is a corrupt snapshot: logged and returned,
// as a load that fails is; the text stays readable.
func (dr *driver) history(ctx context.Context) (*crdt.Doc, error) {
	doc, err := dr.loaded(ctx)
	if err != nil {
		return nil, err
	}
	return doc, dr.readHistory(doc)
}

// readHistory reads doc's history if it was opened lazily (see history).
func (dr *driver) readHistory(doc *crdt.Doc) error {
	if doc == nil {
		return nil
	}
	if err := doc.Materialize(); err != nil {
		err = fmt.Errorf("replica: document %s: reading its snapshot's history: %w", dr.d.id, err)
		dr.d.m.log.Error("loading a document", "doc", dr.d.id, "err", err)
		return err
	}
	return nil
}

// ensure loads a members-only document: its header log and, when this
// device can read, its crdt state, from every stored envelope (they are
// never compacted away: they are what catch-up serves, signed by their
// authors). What is stored was verified before it was written, so the
// signatures are not checked again.
func (dr *driver) ensure(ctx context.Context) error {
	if dr.hl != nil {
		dr.d.m.opts.Observer.DocCache("hit", 0)
		return nil
	}
	d, m, ms := dr.d, dr.d.m, dr.d.mem
	ctx = context.WithoutCancel(ctx)
	start := m.opts.Now()
	hl, doc, since, old := dr.fromCheckpoint(ctx)
	if hl == nil {
		hl = newHlog()
		if ms.canRead() {
			var err error
			if doc, err = crdt.New(m.opts.Agent); err != nil {
				return err
			}
		}
	}
	n := 0
	err := m.opts.Store.Stream(ctx, d.id, since, func(chunk []store.TxnRecord) error {
		for _, rec := range chunk {
			e, err := member.ParseEnvelope(rec.Payload, d.id)
			if err == nil {
				if v, cerr := hl.check(e); cerr != nil || v != vReady {
					err = fmt.Errorf("out of order in the store (%v)", cerr)
				}
			}
			if err == nil && doc != nil {
				var t *crdt.Txn
				if t, err = openTxn(ms, e); err == nil {
					_, err = doc.Apply(t)
				}
			}
			if err != nil {
				return fmt.Errorf("stored transaction %s/%d: %w", rec.Agent, rec.Seq, err)
			}
			hl.commit(e)
			n++
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("replica: document %s: %w", d.id, err)
		m.log.Error("loading a document", "doc", d.id, "err", err)
		return err
	}
	m.opts.Observer.DocCache("load", m.opts.Now().Sub(start))
	dr.hl, dr.doc = hl, doc
	d.seen.reset(hl.version, hl.heads)
	dr.sinceSnapshot = n
	dr.rewrite = old
	d.loaded.Store(true)
	if doc != nil {
		d.chars.Store(int64(doc.Len()))
	}
	if dr.relay != nil {
		dr.relay.onDisk(crdt.Version(hl.version))
	}
	if n >= m.opts.CompactAfter {
		_ = dr.checkpoint(ctx)
	}
	_ = m.opts.Store.Touch(ctx, d.id)
	return nil
}

// fromCheckpoint starts a members-only document from its latest
// checkpoint (a reading member's sealed snapshot: member.Checkpoint): the
// header log from its heads, the crdt from its state, and since, the
// version the stored envelopes are replayed from, and whether its state is
// of an older crdt format. Nil when there is none or it does not open
// (everything is replayed then).
func (dr *driver) fromCheckpoint(ctx context.Context) (*hlog, *crdt.Doc, store.Version, bool) {
	d, m, ms := dr.d, dr.d.m, dr.d.mem
	snap, err := m.opts.Store.Snapshot(ctx, d.id)
	if err != nil || !member.IsCheckpoint(snap.Payload) {
		return nil, nil, nil, false
	}
	c, raw, err := member.ParseCheckpoint(snap.Payload, d.id)
	var state []byte
	var doc *crdt.Doc
	if err == nil && ms.canRead() {
		ms.mu.Lock()
		state, err = member.OpenCheckpoint(ms.keys, d.id, c, raw)
		ms.mu.Unlock()
		if err == nil {
			// Verified before it was stored: open it lazily like any
			// stored snapshot (the checkpoint a peer sends is read whole,
			// takeCheckpoint).
			doc, err = crdt.OpenSnapshot(m.opts.Agent, state)
		}
	}
	hl := newHlog()
	for _, h := range c.Heads {
		if err != nil {
			break
		}
		hl.version[h.Agent] = h.Span().End()
		hl.heads[h.Agent] = h.Hash()
		hl.last[h.Agent] = h
	}
	if err == nil && doc != nil && !vocab.Version(doc.Version()).Equal(hl.version) {
		err = fmt.Errorf("its state covers %v, its heads %v", doc.Version(), hl.version)
	}
	if err == nil && !hl.version.Equal(vocab.Version(snap.Covers)) {
		err = fmt.Errorf("its heads cover %v, the store's snapshot %v", hl.version, snap.Covers)
	}
	if err != nil {
		m.log.Warn("a document's checkpoint does not load; replaying its envelopes", "doc", d.id, "err", err)
		return nil, nil, nil, false
	}
	hl.bytes = int64(len(snap.Payload))
	dr.cpCovers = hl.version.Clone()
	return hl, doc, store.Version(hl.version.Clone()), doc != nil && crdt.SnapshotVersion(state) < crdt.SnapshotFormat
}

// checkpoint writes a members-only document's checkpoint (a reading
// member only): the envelopes stay, and the next load starts from it.
func (dr *driver) checkpoint(ctx context.Context) error {
	ms := dr.d.mem
	if dr.doc == nil || dr.hl == nil || !ms.canRead() {
		return nil
	}
	st := dr.d.m.opts.Store
	if err := flushStore(ctx, st); err != nil {
		return err
	}
	agents := slices.Sorted(maps.Keys(dr.hl.last))
	heads := make([]*member.Header, len(agents))
	for i, a := range agents {
		heads[i] = dr.hl.last[a]
	}
	ms.mu.Lock()
	b, err := member.NewCheckpoint(ms.keys, rand.Reader, dr.d.id, heads, dr.doc.EncodeSnapshot(), ms.dev.Sign)
	ms.mu.Unlock()
	if err == nil {
		err = st.PutSnapshot(ctx, dr.d.id, b, store.Version(dr.hl.version.Clone()))
	}
	if err != nil {
		dr.d.m.log.Warn("writing a document's checkpoint", "doc", dr.d.id, "err", err)
		return err
	}
	dr.sinceSnapshot, dr.seqsSince, dr.rewrite = 0, 0, false
	dr.cpCovers = dr.hl.version.Clone()
	return nil
}

// checkpointFor decides what a catch-up peer is sent of this replica's
// checkpoint: a peer starting from nothing gets it from a member that
// cannot read (a relay, which kept it in place of the envelopes it covers),
// and then only the envelopes after it (since); a reading member serves
// the whole signed history instead. A member that cannot read (role pull) and
// holds everything it covers gets it when it covers CompactAfter seqs more
// than the peer's own, so the peer can drop the envelopes it covers.
func (dr *driver) checkpointFor(ctx context.Context, hello wire.SyncMsg, peer member.Role) ([]byte, store.Version, error) {
	if dr.cpCovers == nil {
		return nil, nil, nil
	}
	theirs := vocab.Version(hello.Version)
	empty := true
	for _, n := range theirs {
		if n > 0 {
			empty = false
		}
	}
	send := empty && !dr.d.mem.canRead()
	if !empty && peer == member.RolePull && dr.d.mem.canRead() && theirs.Includes(dr.cpCovers) {
		ahead := uint64(0)
		for a, n := range dr.cpCovers {
			if c := hello.Covers[a]; n > c {
				ahead += n - c
			}
		}
		send = ahead >= uint64(dr.d.m.opts.CompactAfter)
	}
	if !send {
		return nil, nil, nil
	}
	snap, err := dr.d.m.opts.Store.Snapshot(ctx, dr.d.id)
	if err != nil || !member.IsCheckpoint(snap.Payload) {
		return nil, nil, nil
	}
	if empty {
		return snap.Payload, snap.Covers, nil
	}
	return snap.Payload, nil, nil
}

// takeCheckpoint takes a checkpoint a peer sent: signed by a member who
// may write, its heads signed by their agents. A replica that holds
// nothing yet starts from it (it is installed in the store as the
// document's snapshot); a member that cannot read, and holds everything it
// covers with the same heads, keeps it in place of the envelopes it covers
// (store.Compact): it never reads them. Otherwise it is ignored.
func (dr *driver) takeCheckpoint(ctx context.Context, raw []byte) error {
	d, m, ms := dr.d, dr.d.m, dr.d.mem
	if ms == nil {
		return errLegacy
	}
	if err := dr.ensure(ctx); err != nil {
		return err
	}
	c, rawHeads, err := member.ParseCheckpoint(raw, d.id)
	if err != nil {
		return err
	}
	if err := c.Verify(raw); err != nil {
		return err
	}
	if err := ms.writer(c.Author); err != nil {
		return err
	}
	covers := c.Covers()
	st := m.opts.Store
	if len(dr.hl.version) == 0 {
		hl := newHlog()
		for _, h := range c.Heads {
			hl.version[h.Agent] = h.Span().End()
			hl.heads[h.Agent] = h.Hash()
			hl.last[h.Agent] = h
		}
		var doc *crdt.Doc
		if ms.canRead() {
			ms.mu.Lock()
			state, err := member.OpenCheckpoint(ms.keys, d.id, c, rawHeads)
			ms.mu.Unlock()
			if err != nil {
				return err
			}
			if doc, err = crdt.LoadSnapshot(m.opts.Agent, state); err != nil {
				return vocab.Reject(vocab.ReasonBadPayload, "checkpoint state: %v", err)
			}
			if !vocab.Version(doc.Version()).Equal(covers) {
				return vocab.Reject(vocab.ReasonHeaderMismatch, "checkpoint state covers %v, its heads %v", doc.Version(), covers)
			}
		}
		if err := st.InstallSnapshot(ctx, d.id, raw, store.Version(covers)); err != nil {
			return err
		}
		hl.bytes = int64(len(raw))
		dr.hl, dr.cpCovers = hl, covers.Clone()
		d.seen.reset(hl.version, hl.heads)
		if doc != nil {
			dr.doc = doc
			d.chars.Store(int64(doc.Len()))
		}
		if dr.relay != nil {
			dr.relay.onDisk(crdt.Version(hl.version))
		}
		return nil
	}
	if ms.canRead() || dr.cpCovers.Includes(covers) || !dr.hl.version.Includes(covers) {
		return nil
	}
	for _, h := range c.Heads {
		rec, err := st.Txn(ctx, d.id, h.Agent, h.Seq)
		if err != nil {
			return nil // not held as one envelope here (compacted already): cannot confirm
		}
		e, err := member.ParseEnvelope(rec.Payload, d.id)
		if err != nil {
			return err
		}
		if e.Hash != h.Hash() {
			return vocab.Reject(vocab.ReasonEquivocation, "a checkpoint whose head of %.16s… is not the one held", h.Agent)
		}
	}
	if err := flushStore(ctx, st); err != nil {
		return err
	}
	dropped, err := st.Compact(ctx, d.id, raw, store.Version(covers))
	if err != nil {
		return err
	}
	dr.cpCovers = covers.Clone()
	m.log.Info("kept a writer's checkpoint in place of the envelopes it covers", "doc", d.id, "dropped", dropped, "checkpoint_bytes", len(raw))
	return nil
}

// version is the document's version: its header log's for a members-only
// document, else the crdt's (loaded).
func (dr *driver) version() crdt.Version {
	if dr.hl != nil {
		return crdt.Version(dr.hl.version.Clone())
	}
	return dr.doc.Version()
}

// unload drops the crdt state, writing a snapshot first when the document
// changed since the last one, so the state on disk is compact.
func (dr *driver) unload(ctx context.Context) {
	dr.unloadHub()
	if dr.hl != nil {
		if dr.sinceSnapshot > 0 || dr.rewrite {
			dr.unloadErr = dr.checkpoint(ctx)
		}
		if dr.doc != nil {
			dr.d.chars.Store(int64(dr.doc.Len()))
		}
		dr.hl, dr.doc = nil, nil
		dr.d.loaded.Store(false)
		dr.d.m.opts.Observer.DocCache("unload", 0)
		return
	}
	if dr.doc == nil {
		return
	}
	if dr.sinceSnapshot > 0 || dr.rewrite {
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
	dr.endFeeds(EndReload)
	if dr.doc != nil || dr.hl != nil {
		dr.d.m.opts.Observer.DocCache("unload", 0)
	}
	dr.doc, dr.hl = nil, nil
	dr.d.seen.forget() // what was committed may not be on disk: let copies in again
	dr.d.loaded.Store(false)
	dr.d.chars.Store(-1)
}

// compact writes a snapshot covering the whole document and lets the
// store drop the transactions it covers.
func (dr *driver) compact(ctx context.Context) error {
	st := dr.d.m.opts.Store
	if err := flushStore(ctx, st); err != nil {
		return err
	}
	if _, err := st.Compact(ctx, dr.d.id, dr.doc.EncodeSnapshot(), store.Version(dr.doc.Version())); err != nil {
		dr.d.m.log.Warn("compacting a document", "doc", dr.d.id, "err", err)
		return err
	}
	dr.sinceSnapshot, dr.rewrite = 0, false
	return nil
}

// apply runs one step on the document and carries out its effects in the
// order the step lists; from is the tab the input came from (nil
// otherwise). It returns the step's result and the first failure: a
// refusal of input, or a write that failed (the document then reloads).
func (dr *driver) apply(ctx context.Context, in input, from *Session, arrived time.Time) (ready, error) {
	m := dr.d.m
	if err := dr.ownFetched(ctx, in.src); err != nil { // repair.go
		return ready{}, err
	}
	if err := writable(m.opts.Store); err != nil {
		// Refused before the step: applied and then not written, the
		// input would leave memory ahead of disk, and the document would
		// be dropped and reloaded for every message while the disk is
		// full. What is refused comes again (catch-up, the tab's resend).
		return ready{}, saveError(in.src, err)
	}
	cfg := stepConfig{doc: dr.d.id, relay: dr.relay != nil, maxBytes: m.opts.HostMaxBytesPerDoc}
	if in.at.IsZero() {
		in.at = arrived
	}
	var doc *crdt.Doc
	var r ready
	var err error
	if ms := dr.d.mem; ms != nil {
		if err = dr.ensure(ctx); err != nil {
			return ready{}, err
		}
		doc = dr.doc
		if err = dr.readHistory(doc); err != nil {
			return ready{}, err
		}
		r, err = stepSigned(doc, dr.hl, ms, cfg, dr.withinQuota(in))
		if err != nil && errors.Is(err, api.ErrForbidden) {
			return r, err
		}
	} else {
		if doc, err = dr.history(ctx); err != nil {
			return ready{}, err
		}
		r, err = step(doc, cfg, in)
	}
	if err != nil {
		dr.drop(err)
		return ready{}, err
	}
	for _, reason := range r.rejected {
		m.stats.reject(reason)
	}
	m.stats.add(&m.stats.waitEvicted, uint64(r.evicted))
	m.stats.add(&m.stats.waitExpired, uint64(r.expired))
	if r.overQuota > 0 && in.peer != "" && m.opts.Transport != nil {
		// Over its share of the waiting room: the peer is flooding the
		// document with transactions whose past never comes.
		m.opts.Transport.Penalize(in.peer, vocab.ReasonBufferFull)
	}
	for _, p := range r.proofs {
		dr.d.forked(p)
	}
	if len(r.records) == 0 {
		return r, r.refused
	}
	if doc != nil {
		dr.d.chars.Store(int64(doc.Len()))
	}
	for _, e := range r.effects {
		switch e {
		case effPersist:
			ack, err := dr.appendAll(ctx, r.policy, r.records)
			if err != nil {
				dr.drop(err)
				return r, saveError(r.src, err)
			}
			dr.d.seen.add(r.committed)
			dr.sinceSnapshot += len(r.records)
			for i := range r.records {
				dr.seqsSince += r.records[i].Len
			}
			dr.lastApplied = m.opts.Now()
			if dr.relay != nil && r.policy == store.Batched {
				dr.relay.wait(ack, dr.version())
			}
		case effPublish:
			if r.publish && r.sealed != nil {
				dr.publishSealed(r.sealed)
			} else if r.publish {
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
	dr.fanEvents()
	dr.titleFollows(ctx) // docs.go
	return r, r.refused
}

// checkpointDue reports whether a reading member's document has taken
// enough since its last checkpoint (CompactAfter envelopes, or 16 times
// as many seqs) to write a new one when it is next quiet.
func (dr *driver) checkpointDue() bool {
	n := dr.d.m.opts.CompactAfter
	return dr.hl != nil && dr.doc != nil && (dr.sinceSnapshot >= n || dr.seqsSince >= 16*uint64(n))
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

// writable returns store.ErrDiskFull while a store that can tell (it has
// Writable, as *store.Store does) is short of space, nil otherwise; other
// failures are left to the write itself, which names them.
func writable(st Store) error {
	w, ok := st.(interface{ Writable() error })
	if !ok {
		return nil
	}
	if err := w.Writable(); errors.Is(err, store.ErrDiskFull) {
		return err
	}
	return nil
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

// publishSealed publishes a members-only document's signed envelopes (the
// topic seals each with the route key).
func (dr *driver) publishSealed(envs [][]byte) { dr.publish(envs) }

func (dr *driver) publish(wires [][]byte) {
	t := dr.d.topic()
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

// forkedHeads returns, for each agent whose version a peer shares but
// whose last header's hash it names differently, this replica's last
// envelope of that agent: the peer then holds both and can prove the fork.
func (dr *driver) forkedHeads(ctx context.Context, theirs store.Version, heads map[string][]byte) ([][]byte, error) {
	if dr.hl == nil {
		return nil, nil
	}
	var out [][]byte
	for agent, h := range heads {
		mine, ok := dr.hl.heads[agent]
		last := dr.hl.last[agent]
		if !ok || last == nil || theirs[agent] != dr.hl.version[agent] || string(h) == string(mine[:]) {
			continue
		}
		rec, err := dr.d.m.opts.Store.Txn(ctx, dr.d.id, agent, last.Seq)
		if err != nil {
			continue // applied since sendMissing flushed the store: the next exchange sends it
		}
		out = append(out, rec.Payload)
		if len(out) >= 64 {
			break
		}
	}
	return out, nil
}

// missing returns envelopes of everything a replica at version v lacks,
// in clear (format 1): what a tab is sent.
func (dr *driver) missing(ctx context.Context, v store.Version) ([][]byte, error) {
	doc, err := dr.history(ctx)
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
	dr.endFeeds(EndClosed)
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
