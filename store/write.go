package store

import (
	"context"
	"fmt"
	"time"

	"weft/vocab"
)

// Ack reports when a write is durable. It is done once the batch holding
// the write was committed and synced (Err nil), or failed (Err says why);
// nothing is reported durable that is not.
type Ack struct {
	done chan struct{}
	err  error
}

func newAck() *Ack { return &Ack{done: make(chan struct{})} }

func (a *Ack) finish(err error) {
	a.err = err
	close(a.done)
}

// Done is closed once the outcome is known.
func (a *Ack) Done() <-chan struct{} { return a.done }

// Err returns the outcome once Done is closed (nil: durable).
func (a *Ack) Err() error {
	select {
	case <-a.done:
		return a.err
	default:
		return fmt.Errorf("store: write not yet durable")
	}
}

// Wait blocks until the write is durable or failed, or ctx ends (in which
// case the write may still become durable later).
func (a *Ack) Wait(ctx context.Context) error {
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// group is the unit of atomicity: its ops land together or not at all.
type group struct {
	ops   []kvOp
	txns  int
	bytes int
	doc   DocID
	ack   *Ack // may be nil
}

// Append stores transactions of doc, which must already exist. They must
// arrive in causal order: each one's first seq is its agent's next seq, and
// its parents are stored (or earlier in the same call). A transaction that
// is already fully stored is skipped (idempotent); a partial overlap, a gap
// or a missing parent is an error and nothing of the call is written.
//
// Under Immediate, Append returns once everything is durable. Under
// Batched, it returns once the transactions are validated and queued; the
// Ack reports durability. Either way the returned error covers validation;
// under Immediate it also covers the write.
func (s *Store) Append(ctx context.Context, doc DocID, p Policy, txns ...TxnRecord) (*Ack, error) {
	if p != Immediate && p != Batched {
		return nil, fmt.Errorf("%w: policy %d", ErrInvalid, int(p))
	}
	vals := make([][]byte, len(txns))
	for i := range txns {
		if err := txns[i].validate(s.opts.MaxPayload); err != nil {
			return nil, err
		}
		b, err := encodeTxn(&txns[i])
		if err != nil {
			return nil, err
		}
		vals[i] = b
	}
	s.excl.RLock()
	defer s.excl.RUnlock()
	st, err := s.state(ctx, doc)
	if err != nil {
		return nil, err
	}
	ack := newAck()
	s.mu.Lock()
	if err := s.waitThawedLocked(ctx, st); err != nil {
		return nil, err
	}
	if err := s.writableLocked(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	head := func(a string, over Version) uint64 {
		if n, ok := over[a]; ok {
			return n
		}
		return st.heads[a]
	}
	over := Version{}
	accept := make([]bool, len(txns))
	for i := range txns {
		t := &txns[i]
		next := head(t.Agent, over)
		switch {
		case t.Seq+t.Len <= next:
			continue // already stored
		case t.Seq < next:
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: document %s: transaction %s, %q already has seqs up to %d", ErrOverlap, doc, t.Span(), t.Agent, next-1)
		case t.Seq > next:
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: document %s: transaction %s, %q's next seq is %d", ErrGap, doc, t.Span(), t.Agent, next)
		}
		for _, par := range t.Parents {
			if par.Seq >= head(par.Agent, over) {
				s.mu.Unlock()
				return nil, fmt.Errorf("%w: document %s: transaction %s names parent (%q, %d)", ErrMissingParent, doc, t.Span(), par.Agent, par.Seq)
			}
		}
		over[t.Agent] = t.Seq + t.Len
		accept[i] = true
	}
	g := &group{doc: doc, ack: ack}
	startLog := st.nextLog // restored if the call fails: no counter is skipped
	for i := range txns {
		if !accept[i] {
			continue
		}
		t := &txns[i]
		lb, err := encodeRecord(recLog, spanRec{Agent: t.Agent, Seq: t.Seq, Len: t.Len})
		if err == nil {
			var hb []byte
			hb, err = encodeRecord(recHead, headRec{Next: t.Seq + t.Len})
			if err == nil {
				g.ops = append(g.ops,
					kvOp{key: txnKey(doc, t.Agent, t.Seq), val: vals[i]},
					kvOp{key: logKey(doc, st.epoch, st.nextLog), val: lb},
					kvOp{key: headKey(doc, t.Agent), val: hb, coalesce: true})
				st.nextLog++
				var le kvOp
				if le, err = logEndOpLocked(doc, st); err == nil {
					g.ops = append(g.ops, le)
				}
				g.bytes += len(vals[i]) + len(lb) + len(hb)
				g.txns++
			}
		}
		if err != nil {
			st.nextLog = startLog
			s.mu.Unlock()
			return nil, err
		}
	}
	for a, n := range over {
		st.heads[a] = n
	}
	s.enqueueLocked(g, p == Immediate)
	s.mu.Unlock()
	s.signal()
	s.opts.Metrics.DocWrite(doc, g.txns)
	if p == Immediate {
		return ack, ack.Wait(ctx)
	}
	return ack, nil
}

func (s *Store) writableLocked() error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("%w: %w", ErrFailed, s.failed)
	}
	if s.dir != "" && s.opts.MinFreeBytes > 0 {
		free, err := freeBytes(s.dir)
		if err != nil {
			return fmt.Errorf("store: measuring free space in %s: %w", s.dir, err)
		}
		if free < s.opts.MinFreeBytes {
			return fmt.Errorf("%w: %d MiB free in %s; writes need at least %d MiB", ErrDiskFull, free>>20, s.dir, s.opts.MinFreeBytes>>20)
		}
	}
	return nil
}

func (s *Store) enqueueLocked(g *group, urgent bool) {
	if len(s.queue) == 0 {
		s.qOldest = s.opts.Now()
	}
	s.queue = append(s.queue, g)
	s.qTxns += g.txns
	s.qBytes += g.bytes
	if urgent || s.qTxns >= s.opts.MaxBatchTxns || s.qBytes >= s.opts.MaxBatchBytes {
		s.urgent = true
	}
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// submit queues one atomic group of ops (not a transaction append) and,
// when urgent, waits for it to be durable.
func (s *Store) submit(ctx context.Context, g *group, urgent bool) error {
	g.ack = newAck()
	s.mu.Lock()
	if err := s.writableLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	s.enqueueLocked(g, urgent)
	s.mu.Unlock()
	s.signal()
	if !urgent {
		return nil
	}
	return g.ack.Wait(ctx)
}

// Flush commits and syncs everything queued so far and waits for it.
func (s *Store) Flush(ctx context.Context) error {
	return s.submit(ctx, &group{}, true)
}

// writer is the one goroutine that writes: it gathers queued groups for at
// most MaxDelay (less when a batch fills up or an Immediate write arrives),
// commits them, syncs once, then completes their acks.
func (s *Store) writer() {
	defer close(s.writerDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		<-s.wake
		s.mu.Lock()
		for len(s.queue) > 0 && !s.urgent && !s.closed {
			wait := s.opts.MaxDelay - s.opts.Now().Sub(s.qOldest)
			if wait <= 0 {
				break
			}
			s.mu.Unlock()
			timer.Reset(wait)
			expired := false
			select {
			case <-timer.C:
				expired = true // the wait is over even if an injected clock stands still
			case <-s.wake:
				timer.Stop()
			}
			s.mu.Lock()
			if expired {
				break
			}
		}
		batch := s.queue
		s.queue, s.qTxns, s.qBytes, s.urgent = nil, 0, 0, false
		closed := s.closed
		failed := s.failed
		s.mu.Unlock()
		if len(batch) > 0 {
			if failed != nil {
				s.finish(batch, fmt.Errorf("%w: %w", ErrFailed, failed))
			} else {
				s.commitBatch(batch)
			}
		}
		if closed {
			s.mu.Lock()
			more := len(s.queue) > 0
			s.mu.Unlock()
			if !more {
				return
			}
			s.signal()
		}
	}
}

func (s *Store) commitBatch(batch []*group) {
	start := time.Now()
	ctx := context.Background()
	groups := make([][]kvOp, 0, len(batch))
	txns, bytes := 0, 0
	for _, g := range batch {
		if len(g.ops) > 0 {
			groups = append(groups, g.ops)
		}
		txns += g.txns
		bytes += g.bytes
	}
	var err error
	if len(groups) > 0 {
		err = s.kv.commit(ctx, groups, s.opts.MaxBatchBytes)
		if err == nil {
			err = s.kv.sync(ctx)
			if err != nil {
				err = fmt.Errorf("sync: %w", err)
			}
		} else {
			err = fmt.Errorf("commit: %w", err)
		}
	}
	s.opts.Metrics.Flush(txns, bytes, time.Since(start), err)
	if err != nil {
		s.opts.Logger.Error("store: write failed; refusing further writes", "err", err)
		s.mu.Lock()
		if s.failed == nil {
			s.failed = err
		}
		rest := s.queue
		s.queue, s.qTxns, s.qBytes = nil, 0, 0
		s.mu.Unlock()
		werr := fmt.Errorf("%w: %w", ErrFailed, err)
		s.finish(batch, werr)
		s.finish(rest, werr)
		return
	}
	s.finish(batch, nil)
}

func (s *Store) finish(batch []*group, err error) {
	for _, g := range batch {
		if g.ack != nil {
			g.ack.finish(err)
		}
	}
}

// Meta is a document's metadata.
type Meta struct {
	Title      string
	Created    time.Time
	LastOpened time.Time // zero: never opened
}

// Members is a members-only document's membership record: package
// member's Book (public: genesis and chains) and Local (this device's
// keys), opaque to the store. A document without one is a legacy
// document (made before members-only documents).
type Members struct {
	Book  []byte
	Local []byte
}

// MaxMembersBytes bounds a membership record.
const MaxMembersBytes = 16 << 20

// CreateDoc creates an empty document (durably). ErrExists if it exists.
func (s *Store) CreateDoc(ctx context.Context, doc DocID, title string) error {
	return s.CreateDocWith(ctx, doc, title, nil)
}

// CreateDocWith creates an empty document with its membership record (nil:
// none), both in one write (durably). ErrExists if it exists.
func (s *Store) CreateDocWith(ctx context.Context, doc DocID, title string, m *Members) error {
	if err := doc.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := validTitle(title); err != nil {
		return err
	}
	s.excl.RLock()
	defer s.excl.RUnlock()
	if _, err := s.state(ctx, doc); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, doc)
	} else if !isNotFound(err) {
		return err
	}
	b, err := encodeRecord(recMeta, metaRec{Title: title, Created: s.opts.Now().UnixNano()})
	if err != nil {
		return err
	}
	ib, err := encodeRecord(recDocIndex, docIndexRec{})
	if err != nil {
		return err
	}
	// A concurrent CreateDoc of the same random ID is not a real case; the
	// second simply rewrites the same empty metadata. The metadata, the
	// membership and the index entry land together.
	ops := []kvOp{{key: metaKey(doc), val: b}, {key: docIndexKey(doc), val: ib}}
	if m != nil {
		mb, err := encodeMembers(m)
		if err != nil {
			return err
		}
		ops = append(ops, kvOp{key: membersKey(doc), val: mb})
	}
	return s.submit(ctx, &group{ops: ops}, true)
}

func encodeMembers(m *Members) ([]byte, error) {
	if len(m.Book)+len(m.Local) > MaxMembersBytes {
		return nil, fmt.Errorf("%w: membership record of %d bytes (at most %d)", ErrInvalid, len(m.Book)+len(m.Local), MaxMembersBytes)
	}
	return encodeRecord(recMembers, membersRec{Book: m.Book, Local: m.Local})
}

// SetMembers replaces a document's membership record (durably).
func (s *Store) SetMembers(ctx context.Context, doc DocID, m Members) error {
	mb, err := encodeMembers(&m)
	if err != nil {
		return err
	}
	s.excl.RLock()
	defer s.excl.RUnlock()
	if _, err := s.state(ctx, doc); err != nil {
		return err
	}
	return s.submit(ctx, &group{ops: []kvOp{{key: membersKey(doc), val: mb}}}, true)
}

// GetMembers returns a document's membership record; ErrNotFound when it
// has none (a legacy document) or the document is unknown.
func (s *Store) GetMembers(ctx context.Context, doc DocID) (Members, error) {
	s.excl.RLock()
	defer s.excl.RUnlock()
	if _, err := s.state(ctx, doc); err != nil {
		return Members{}, err
	}
	raw, err := get(ctx, s.kv.d, membersKey(doc))
	if err != nil {
		return Members{}, err
	}
	var r membersRec
	if err := decodeRecord(recMembers, raw, &r); err != nil {
		return Members{}, fmt.Errorf("%s: %w", membersKey(doc), err)
	}
	return Members{Book: r.Book, Local: r.Local}, nil
}

func validTitle(t string) error {
	if err := vocab.CheckTitle(t); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// SetTitle changes a document's title (durably).
func (s *Store) SetTitle(ctx context.Context, doc DocID, title string) error {
	if err := validTitle(title); err != nil {
		return err
	}
	return s.updateMeta(ctx, doc, true, func(m *metaRec) { m.Title = title })
}

// Touch records that doc was opened now. It does not wait: the change is
// durable within MaxDelay.
func (s *Store) Touch(ctx context.Context, doc DocID) error {
	now := s.opts.Now().UnixNano()
	return s.updateMeta(ctx, doc, false, func(m *metaRec) { m.LastOpened = now })
}

func (s *Store) updateMeta(ctx context.Context, doc DocID, urgent bool, fn func(*metaRec)) error {
	s.excl.RLock()
	defer s.excl.RUnlock()
	s.metaMu.Lock() // read-modify-write: one at a time
	defer s.metaMu.Unlock()
	if _, err := s.state(ctx, doc); err != nil {
		return err
	}
	raw, err := get(ctx, s.kv.d, metaKey(doc))
	if err != nil {
		return err
	}
	var m metaRec
	if err := decodeRecord(recMeta, raw, &m); err != nil {
		return fmt.Errorf("%s: %w", metaKey(doc), err)
	}
	fn(&m)
	b, err := encodeRecord(recMeta, m)
	if err != nil {
		return err
	}
	return s.submit(ctx, &group{ops: []kvOp{{key: metaKey(doc), val: b, coalesce: true}}}, urgent)
}
