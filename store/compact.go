package store

import (
	"context"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Compact stores a new snapshot of doc — payload made by the caller,
// covering version covers — and then drops the transactions it fully
// covers, with their log entries. The snapshot is durable before anything
// is dropped, and it must cover at least what the previous snapshot
// covered and no more than what is stored. Compaction waits until no stream
// or load is reading doc, and holds new ones off while it drops. It returns
// the number of transactions dropped.
func (s *Store) Compact(ctx context.Context, doc DocID, payload []byte, covers Version) (int, error) {
	if len(payload) == 0 || len(payload) > s.opts.MaxSnapshot {
		return 0, fmt.Errorf("%w: snapshot of %d bytes not in 1..%d", ErrInvalid, len(payload), s.opts.MaxSnapshot)
	}
	if err := validVersion(covers); err != nil {
		return 0, err
	}
	s.excl.RLock()
	defer s.excl.RUnlock()
	st, err := s.state(ctx, doc)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	for a, n := range covers {
		if n > st.heads[a] {
			s.mu.Unlock()
			return 0, fmt.Errorf("%w: document %s: snapshot covers %q up to %d but only %d seqs are stored", ErrInvalid, doc, a, n, st.heads[a])
		}
	}
	s.mu.Unlock()
	if old, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		for a, n := range old.Covers {
			if covers[a] < n {
				return 0, fmt.Errorf("%w: document %s: new snapshot covers %q up to %d, the stored one up to %d", ErrInvalid, doc, a, covers[a], n)
			}
		}
	} else if !isNotFound(err) && !isCorrupt(err) {
		return 0, err
	}
	leave, err := s.enterCompact(ctx, st)
	if err != nil {
		return 0, err
	}
	defer leave()
	b, err := encodeRecord(recSnapshot, snapRec{Covers: encodeVersion(covers), Payload: payload})
	if err != nil {
		return 0, err
	}
	if err := s.submit(ctx, &group{ops: []kvOp{{key: snapshotKey(doc), val: b}}, bytes: len(b)}, true); err != nil {
		return 0, err
	}
	// Drop covered transactions in bounded groups.
	dropped := 0
	var ops []kvOp
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		g := &group{ops: ops}
		ops = nil
		return s.submit(ctx, g, true)
	}
	err = s.kv.view(ctx, func(r ds.Read) error {
		return each(ctx, r, dsq.Query{Prefix: logPrefix(doc)}, func(e dsq.Entry) error {
			var lr logRec
			if err := decodeRecord(recLog, e.Value, &lr); err != nil {
				return nil // left for Check to report and repair
			}
			if !covers.Contains(Span{Agent: lr.Agent, Seq: lr.Seq, Len: lr.Len}) {
				return nil
			}
			ops = append(ops, kvOp{key: txnKey(doc, lr.Agent, lr.Seq), del: true}, kvOp{key: e.Key, del: true})
			dropped++
			if len(ops) >= 2048 {
				return flush()
			}
			return nil
		})
	})
	if err == nil {
		err = flush()
	}
	s.cache.drop(doc)
	return dropped, err
}
