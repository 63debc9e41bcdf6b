package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Meta returns doc's metadata.
func (s *Store) Meta(ctx context.Context, doc DocID) (Meta, error) {
	raw, err := get(ctx, s.kv.d, metaKey(doc))
	if err != nil {
		if isNotFound(err) {
			return Meta{}, fmt.Errorf("%w: document %s", ErrNotFound, doc)
		}
		return Meta{}, err
	}
	var m metaRec
	if err := decodeRecord(recMeta, raw, &m); err != nil {
		return Meta{}, fmt.Errorf("%s: %w", metaKey(doc), err)
	}
	out := Meta{Title: m.Title, Created: time.Unix(0, m.Created)}
	if m.LastOpened != 0 {
		out.LastOpened = time.Unix(0, m.LastOpened)
	}
	return out, nil
}

// Docs lists every document, in ID order. It reads the document index
// (keys only), so its cost is proportional to the number of documents.
func (s *Store) Docs(ctx context.Context) ([]DocID, error) {
	var out []DocID
	err := each(ctx, s.kv.d, dsq.Query{Prefix: docIndexPrefix, KeysOnly: true}, func(e dsq.Entry) error {
		id, err := parseDocIndexKey(e.Key)
		if err != nil {
			return fmt.Errorf("%w: document index: %v (weft check --repair sets it aside)", ErrCorrupt, err)
		}
		out = append(out, id)
		return nil
	})
	return out, err
}

// Version returns doc's version: for each agent, the next seq after the
// transactions handed to the store (queued ones included).
func (s *Store) Version(ctx context.Context, doc DocID) (Version, error) {
	st, err := s.state(ctx, doc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return st.heads.Clone(), nil
}

// Txn returns the stored transaction of doc that starts at (agent, seq).
func (s *Store) Txn(ctx context.Context, doc DocID, agent string, seq uint64) (TxnRecord, error) {
	if err := validAgent(agent); err != nil {
		return TxnRecord{}, err
	}
	s.opts.Metrics.DocRead(doc)
	key := txnKey(doc, agent, seq)
	raw, err := get(ctx, s.kv.d, key)
	if err != nil {
		return TxnRecord{}, err
	}
	return decodeTxnAt(key, raw)
}

func decodeTxnAt(key string, raw []byte) (TxnRecord, error) {
	r, err := decodeTxn(raw)
	if err != nil {
		return TxnRecord{}, fmt.Errorf("%s: %w", key, err)
	}
	dk, _ := parseDocKey(key)
	if r.Agent != dk.agent || r.Seq != dk.n {
		return TxnRecord{}, fmt.Errorf("%w: %s holds transaction %s", ErrCorrupt, key, r.Span())
	}
	return r, nil
}

// Snapshot is a document snapshot: an opaque payload and the version it
// covers.
type Snapshot struct {
	Covers  Version
	Payload []byte
}

// Snapshot returns doc's latest snapshot, or an error wrapping ErrNotFound.
func (s *Store) Snapshot(ctx context.Context, doc DocID) (*Snapshot, error) {
	s.opts.Metrics.DocRead(doc)
	return readSnapshot(ctx, s.kv.d, doc)
}

func readSnapshot(ctx context.Context, r ds.Read, doc DocID) (*Snapshot, error) {
	raw, err := get(ctx, r, snapshotKey(doc))
	if err != nil {
		return nil, err
	}
	return decodeSnapshot(snapshotKey(doc), raw)
}

// decodeSnapshot decodes a snapshot record. Its payload is raw's bytes,
// not a copy (a snapshot is the largest value a document has: the
// record's two copies were a third of a compacted document's open; see
// snapshotInPlace): the caller owns raw and reads the payload only.
func decodeSnapshot(key string, raw []byte) (*Snapshot, error) {
	var sr snapRec
	if body, ok := recordInPlace(recSnapshot, raw); !ok || !snapshotInPlace(body, &sr) {
		sr = snapRec{}
		if err := decodeRecord(recSnapshot, raw, &sr); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	v, err := decodeVersion(sr.Covers)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: covered version: %v", ErrCorrupt, key, err)
	}
	return &Snapshot{Covers: v, Payload: sr.Payload}, nil
}

// Stream hands doc's transactions to fn in causal order (the order they
// were stored), in chunks of at most StreamChunkTxns transactions or
// StreamChunkBytes payload bytes, skipping those fully contained in since
// (nil: send all). It reads from one consistent view and never holds more
// than one chunk; compaction of doc waits until it returns. fn owns each
// chunk. A corrupt value ends the stream with an error naming its key.
func (s *Store) Stream(ctx context.Context, doc DocID, since Version, fn func(chunk []TxnRecord) error) error {
	st, leave, err := s.enterRead(ctx, doc)
	if err != nil {
		return err
	}
	defer leave()
	epoch := s.epoch(st)
	s.opts.Metrics.DocRead(doc)
	return s.kv.view(ctx, func(r ds.Read) error {
		var chunk []TxnRecord
		size := 0
		err := s.eachTxn(ctx, r, doc, epoch, since, func(t TxnRecord) error {
			chunk = append(chunk, t)
			size += len(t.Payload)
			if len(chunk) >= s.opts.StreamChunkTxns || size >= s.opts.StreamChunkBytes {
				c := chunk
				chunk, size = nil, 0
				return fn(c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(chunk) > 0 {
			return fn(chunk)
		}
		return nil
	})
}

// epoch returns the log epoch readers of st read. It changes only while a
// compaction holds readers off, so a reader registered with enterRead sees
// one epoch until it leaves.
func (s *Store) epoch(st *docState) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return st.epoch
}

// eachTxn walks epoch of doc's arrival log in order and calls fn with each
// stored transaction not contained in skip.
func (s *Store) eachTxn(ctx context.Context, r ds.Read, doc DocID, epoch uint64, skip Version, fn func(TxnRecord) error) error {
	return each(ctx, r, dsq.Query{Prefix: epochPrefix(doc, epoch)}, func(e dsq.Entry) error {
		var lr spanRec
		if err := decodeRecord(recLog, e.Value, &lr); err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
		sp := Span{Agent: lr.Agent, Seq: lr.Seq, Len: lr.Len}
		if skip.ContainsSpan(sp) {
			return nil
		}
		key := txnKey(doc, lr.Agent, lr.Seq)
		raw, err := get(ctx, r, key)
		if err != nil {
			return fmt.Errorf("%w: log entry %s names missing transaction %s", ErrCorrupt, e.Key, key)
		}
		t, err := decodeTxnAt(key, raw)
		if err != nil {
			return err
		}
		if t.Len != lr.Len {
			return fmt.Errorf("%w: log entry %s says %d seqs, %s holds %d", ErrCorrupt, e.Key, lr.Len, key, t.Len)
		}
		return fn(t)
	})
}
