package store

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// opBatch gathers ops and hands them to write in groups of about maxBytes
// (one database transaction each).
type opBatch struct {
	ops      []kvOp
	size     int
	maxBytes int
	write    func([]kvOp) error
}

func (b *opBatch) add(ops ...kvOp) error {
	for _, op := range ops {
		b.ops = append(b.ops, op)
		b.size += op.size()
	}
	if b.size >= b.maxBytes {
		return b.flush()
	}
	return nil
}

func (b *opBatch) flush() error {
	if len(b.ops) == 0 {
		return nil
	}
	err := b.write(b.ops)
	b.ops, b.size = nil, 0
	return err
}

// PutSnapshot stores a new snapshot of doc — payload made by the caller,
// covering version covers — and keeps every transaction: a reader opens
// the document from the snapshot and the transactions after it, and the
// transactions stay to be served (members-only documents, whose signed
// envelopes are their history). The same rules as Compact: it covers at
// least what the previous snapshot covered and no more than is stored.
func (s *Store) PutSnapshot(ctx context.Context, doc DocID, payload []byte, covers Version) error {
	s.excl.RLock()
	defer s.excl.RUnlock()
	if _, err := s.checkNewSnapshot(ctx, doc, payload, covers); err != nil {
		return err
	}
	b, err := encodeRecord(recSnapshot, snapRec{Covers: encodeVersion(covers), Payload: payload})
	if err != nil {
		return err
	}
	return s.submit(ctx, &group{ops: []kvOp{{key: snapshotKey(doc), val: b}}, bytes: len(b)}, true)
}

// checkSnapshotArgs checks a snapshot's payload size and version.
func (s *Store) checkSnapshotArgs(payload []byte, covers Version) error {
	if len(payload) == 0 || len(payload) > s.opts.MaxSnapshot {
		return fmt.Errorf("%w: snapshot of %d bytes not in 1..%d", ErrInvalid, len(payload), s.opts.MaxSnapshot)
	}
	return validVersion(covers)
}

// checkNewSnapshot applies the rules a new snapshot of doc obeys (callers
// hold excl): it covers no more than is stored and at least what the
// stored snapshot covers. It returns the document's state.
func (s *Store) checkNewSnapshot(ctx context.Context, doc DocID, payload []byte, covers Version) (*docState, error) {
	if err := s.checkSnapshotArgs(payload, covers); err != nil {
		return nil, err
	}
	st, err := s.state(ctx, doc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for a, n := range covers {
		if n > st.heads[a] {
			s.mu.Unlock()
			return nil, fmt.Errorf("%w: document %s: snapshot covers %q up to %d but only %d seqs are stored", ErrInvalid, doc, a, n, st.heads[a])
		}
	}
	s.mu.Unlock()
	if old, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		for a, n := range old.Covers {
			if covers[a] < n {
				return nil, fmt.Errorf("%w: document %s: new snapshot covers %q up to %d, the stored one up to %d", ErrInvalid, doc, a, covers[a], n)
			}
		}
	} else if !isNotFound(err) && !isCorrupt(err) {
		return nil, err
	}
	return st, nil
}

// Compact stores a new snapshot of doc — payload made by the caller,
// covering version covers — and then drops the transactions it fully
// covers, with their log entries. It returns the number of transactions
// dropped. The snapshot must cover at least what the previous snapshot
// covered and no more than what is stored.
//
// It never leaves readers a log with deleted keys in it: the entries the
// snapshot does not cover move to a new epoch of the arrival log, which
// readers switch to, and only then is the old epoch deleted. In order:
//
//  1. The snapshot is made durable.
//  2. The log is marked dirty and the current epoch's uncovered entries are
//     copied, with their counters, into the next epoch, which no one reads
//     yet.
//  3. Appends to doc wait while what is queued is committed; the entries
//     appended meanwhile are copied too and the log switches to the new
//     epoch in one atomic write; appends resume.
//  4. The old epoch's entries are deleted with the transactions the snapshot
//     covers, in bounded groups; then the log is marked clean.
//
// A crash leaves the old epoch whole (before 3) or the new one (after), and
// the dirty mark; entries left in other epochs are removed by the next
// compaction (or Check with Repair). Streams wait from step 1 to
// step 3, and a compaction waits for those already reading.
func (s *Store) Compact(ctx context.Context, doc DocID, payload []byte, covers Version) (int, error) {
	s.excl.RLock()
	defer s.excl.RUnlock()
	st, err := s.checkNewSnapshot(ctx, doc, payload, covers)
	if err != nil {
		return 0, err
	}
	readersBack, done, err := s.enterCompact(ctx, st)
	if err != nil {
		return 0, err
	}
	defer done()
	defer readersBack()

	// 1. The snapshot.
	b, err := encodeRecord(recSnapshot, snapRec{Covers: encodeVersion(covers), Payload: payload})
	if err != nil {
		return 0, err
	}
	if err := s.submit(ctx, &group{ops: []kvOp{{key: snapshotKey(doc), val: b}}, bytes: len(b)}, true); err != nil {
		return 0, err
	}
	batch := &opBatch{maxBytes: s.opts.MaxBatchBytes, write: func(ops []kvOp) error {
		return s.submit(ctx, &group{ops: ops}, true)
	}}
	s.mu.Lock()
	epoch, dirty := st.epoch, st.dirty
	s.mu.Unlock()
	if dirty {
		if err := s.kv.view(ctx, func(r ds.Read) error {
			_, _, err := dropLeftovers(ctx, r, doc, epoch, covers, batch)
			return err
		}); err != nil {
			return 0, err
		}
	}

	// 2. Mark dirty and copy what the snapshot does not cover. Every entry
	// below cut was queued before the mark, so is committed once it is.
	var cut uint64
	ack, err := s.queueState(st, true, func() ([]kvOp, error) {
		st.dirty = true
		cut = st.nextLog
		op, err := logEndOpLocked(doc, st)
		return []kvOp{op}, err
	})
	if err != nil {
		return 0, err
	}
	if err := ack.Wait(ctx); err != nil {
		return 0, err
	}
	err = s.kv.view(ctx, func(r ds.Read) error {
		return each(ctx, r, dsq.Query{Prefix: epochPrefix(doc, epoch)}, func(e dsq.Entry) error {
			dk, err := parseDocKey(e.Key)
			if err != nil || dk.n >= cut {
				return nil // not an entry (Check reports it), or copied in step 3
			}
			if coveredEntry(e.Value, covers) {
				return nil
			}
			// What cannot be decoded is carried over untouched, for Check.
			return batch.add(kvOp{key: logKey(doc, epoch+1, dk.n), val: e.Value})
		})
	})
	if err == nil {
		err = batch.flush()
	}
	if err != nil {
		return 0, err
	}

	// 3. Switch epochs while appends wait.
	if ack, err = s.switchEpoch(ctx, st, doc, epoch, cut); err != nil {
		return 0, err
	}
	// The switch is queued; the appends that follow it are queued after it.
	// Readers come back once it is committed (it fails only with the
	// store, which then refuses everything).
	<-ack.Done()
	if err := ack.Err(); err != nil {
		return 0, err
	}
	readersBack()

	// 4. Delete the old epoch and the transactions the snapshot covers.
	dropped := 0
	err = s.kv.view(ctx, func(r ds.Read) error {
		return each(ctx, r, dsq.Query{Prefix: epochPrefix(doc, epoch)}, func(e dsq.Entry) error {
			// An entry and the transaction it drops go in one group.
			ops := []kvOp{{key: e.Key, del: true}}
			var lr spanRec
			if decodeRecord(recLog, e.Value, &lr) == nil && covers.ContainsSpan(Span{Agent: lr.Agent, Seq: lr.Seq, Len: lr.Len}) {
				ops = append(ops, kvOp{key: txnKey(doc, lr.Agent, lr.Seq), del: true})
				dropped++
			}
			return batch.add(ops...)
		})
	})
	if err == nil {
		err = batch.flush()
	}
	if err != nil {
		return dropped, err
	}
	ack, err = s.queueState(st, true, func() ([]kvOp, error) {
		st.dirty = false
		op, err := logEndOpLocked(doc, st)
		return []kvOp{op}, err
	})
	if err == nil {
		err = ack.Wait(ctx)
	}
	return dropped, err
}

// coveredEntry reports whether the log entry value names a transaction
// that covers contains (false when it does not decode).
func coveredEntry(val []byte, covers Version) bool {
	var lr spanRec
	if err := decodeRecord(recLog, val, &lr); err != nil {
		return false
	}
	return covers.ContainsSpan(Span{Agent: lr.Agent, Seq: lr.Seq, Len: lr.Len})
}

// switchEpoch is step 3 of Compact: with doc's appends held off, it
// commits what is queued, copies the entries of epoch from cut on (all
// appended after step 2 began, so none is covered) into epoch+1, and
// queues the switch, in one atomic group. It returns the switch's Ack.
func (s *Store) switchEpoch(ctx context.Context, st *docState, doc DocID, epoch, cut uint64) (*Ack, error) {
	s.mu.Lock()
	st.frozen = true
	end := st.nextLog
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		st.frozen = false
		st.broadcast()
		s.mu.Unlock()
	}()
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	var copies []kvOp
	err := s.kv.view(ctx, func(r ds.Read) error {
		for n := cut; n < end; n++ {
			key := logKey(doc, epoch, n)
			v, err := get(ctx, r, key)
			if err != nil {
				return fmt.Errorf("%w: document %s: log entry %s, appended during compaction, is not there: %v", ErrCorrupt, doc, key, err)
			}
			copies = append(copies, kvOp{key: logKey(doc, epoch+1, n), val: v})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.queueState(st, true, func() ([]kvOp, error) {
		st.epoch = epoch + 1
		op, err := logEndOpLocked(doc, st)
		return append(copies, op), err
	})
}

// queueState queues one atomic group built by build while s.mu is held, so
// that build sees (and may change) st in step with the groups queued around
// it. It does not wait; urgent makes the writer commit without delay.
func (s *Store) queueState(st *docState, urgent bool, build func() ([]kvOp, error)) (*Ack, error) {
	g := &group{ack: newAck()}
	s.mu.Lock()
	defer s.signal()
	defer s.mu.Unlock()
	if err := s.writableLocked(); err != nil {
		return nil, err
	}
	ops, err := build()
	if err != nil {
		return nil, err
	}
	g.ops = ops
	s.enqueueLocked(g, urgent)
	return g.ack, nil
}

// dropLeftovers removes the entries that epochs of doc's log other than
// cur still hold — left by an interrupted compaction or repair — through
// batch. With an entry it drops the transaction the
// entry names when covers (the stored snapshot's) contains it and epoch cur
// does not list it: the interrupted compaction was dropping it. It walks
// every epoch, deleted keys included, so it is for repairs, not for every
// compaction. It returns the entries removed and the transactions dropped.
func dropLeftovers(ctx context.Context, r ds.Read, doc DocID, cur uint64, covers Version, batch *opBatch) (entries, dropped int, err error) {
	listed := map[ID]bool{}
	if err := each(ctx, r, dsq.Query{Prefix: epochPrefix(doc, cur)}, func(e dsq.Entry) error {
		var lr spanRec
		if decodeRecord(recLog, e.Value, &lr) == nil {
			listed[ID{Agent: lr.Agent, Seq: lr.Seq}] = true
		}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	err = each(ctx, r, dsq.Query{Prefix: logPrefix(doc)}, func(e dsq.Entry) error {
		dk, err := parseDocKey(e.Key)
		if err != nil || dk.kind != kindLog || dk.epoch == cur {
			return nil // the current epoch, or not an entry (Check reports it)
		}
		ops := []kvOp{{key: e.Key, del: true}}
		entries++
		var lr spanRec
		if decodeRecord(recLog, e.Value, &lr) == nil && !listed[ID{Agent: lr.Agent, Seq: lr.Seq}] &&
			covers.ContainsSpan(Span{Agent: lr.Agent, Seq: lr.Seq, Len: lr.Len}) {
			ops = append(ops, kvOp{key: txnKey(doc, lr.Agent, lr.Seq), del: true})
			dropped++
		}
		return batch.add(ops...)
	})
	if err == nil {
		err = batch.flush()
	}
	return entries, dropped, err
}

// InstallSnapshot starts an empty document from a snapshot made
// elsewhere — payload covering version covers — as if its transactions had
// been stored and compacted: the snapshot and each agent's head, in one
// write. Transactions after covers are then appended as usual. The
// document must hold no transaction and no snapshot yet (ErrExists
// otherwise): a snapshot cannot be merged into a history.
func (s *Store) InstallSnapshot(ctx context.Context, doc DocID, payload []byte, covers Version) error {
	if err := s.checkSnapshotArgs(payload, covers); err != nil {
		return err
	}
	s.excl.RLock()
	defer s.excl.RUnlock()
	st, err := s.state(ctx, doc)
	if err != nil {
		return err
	}
	if _, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		return fmt.Errorf("%w: document %s already has a snapshot", ErrExists, doc)
	} else if !isNotFound(err) {
		return err
	}
	b, err := encodeRecord(recSnapshot, snapRec{Covers: encodeVersion(covers), Payload: payload})
	if err != nil {
		return err
	}
	ack := newAck()
	g := &group{doc: doc, ack: ack, ops: []kvOp{{key: snapshotKey(doc), val: b}}, bytes: len(b)}
	s.mu.Lock()
	if err := s.waitThawedLocked(ctx, st); err != nil {
		return err
	}
	if err := s.writableLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	for _, n := range st.heads {
		if n > 0 {
			s.mu.Unlock()
			return fmt.Errorf("%w: document %s already holds transactions", ErrExists, doc)
		}
	}
	for a, n := range covers {
		hb, err := encodeRecord(recHead, headRec{Next: n})
		if err != nil {
			s.mu.Unlock()
			return err
		}
		g.ops = append(g.ops, kvOp{key: headKey(doc, a), val: hb, coalesce: true})
		g.bytes += len(hb)
	}
	for a, n := range covers {
		st.heads[a] = n
	}
	s.enqueueLocked(g, true)
	s.mu.Unlock()
	s.signal()
	return ack.Wait(ctx)
}
