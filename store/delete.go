package store

import (
	"context"
	"fmt"
	"strings"

	dsq "github.com/ipfs/go-datastore/query"
)

// deletingPrefix holds one key per document whose deletion has begun and
// not finished: /deleting/<id>. A store opened after a crash in the middle
// of DeleteDoc finishes the deletion.
const deletingPrefix = "/deleting"

func deletingKey(id DocID) string { return deletingPrefix + "/" + id.String() }

// recDeleting marks a deletion in progress (an empty body).
const recDeleting = 12

type deletingRec struct {
	_ struct{} `cbor:",toarray"`
}

// deleteChunk bounds the keys deleted in one database transaction.
const deleteChunk = 4096

// DeleteDoc removes every key of doc (durably): its index entry,
// metadata, membership record (this device's keys and the document's
// secrets), snapshot, transactions, arrival log, heads, fetch list, and
// any value of it moved to quarantine. ErrNotFound if it does not exist.
//
// It runs in two steps. One atomic write removes what makes the document
// exist and readable — the index entry, the metadata, the membership
// record and the snapshot — and records /deleting/<id>; from then on the
// document is unknown (Docs, Meta and every read say ErrNotFound). Then
// the rest goes in chunks of at most 4,096 keys, and the marker last. A
// crash in between leaves only sealed transactions without their keys
// and the marker, and the next Open finishes the deletion.
//
// The values stay in badger's files (as with every delete) until its
// own compaction and value-log garbage collection drop them; backups
// taken before keep the document.
func (s *Store) DeleteDoc(ctx context.Context, doc DocID) error {
	if err := doc.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	s.excl.Lock()
	defer s.excl.Unlock()
	if err := s.Flush(ctx); err != nil {
		return err
	}
	if _, err := s.state(ctx, doc); err != nil {
		return err
	}
	mark, err := encodeRecord(recDeleting, deletingRec{})
	if err != nil {
		return err
	}
	first := []kvOp{
		{key: deletingKey(doc), val: mark},
		{key: docIndexKey(doc), del: true},
		{key: metaKey(doc), del: true},
		{key: membersKey(doc), del: true},
		{key: snapshotKey(doc), del: true},
	}
	if err := s.submit(ctx, &group{ops: first}, true); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.docs, doc)
	s.mu.Unlock()
	return s.purge(ctx, doc)
}

// purge deletes what is left of a document whose deletion began, then
// its /deleting marker.
func (s *Store) purge(ctx context.Context, doc DocID) error {
	prefix := docPrefix(doc) + "/"
	for {
		var keys []string
		err := each(ctx, s.kv.d, dsq.Query{Prefix: prefix, KeysOnly: true}, func(e dsq.Entry) error {
			keys = append(keys, e.Key)
			if len(keys) >= deleteChunk {
				return errStop
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			break
		}
		if err := s.deleteKeys(ctx, keys); err != nil {
			return err
		}
	}
	var quarantined []string
	err := each(ctx, s.kv.d, dsq.Query{Prefix: quarantinePfx, KeysOnly: true}, func(e dsq.Entry) error {
		if strings.Contains(e.Key, prefix) || strings.HasSuffix(e.Key, docIndexKey(doc)) {
			quarantined = append(quarantined, e.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for len(quarantined) > 0 {
		n := min(len(quarantined), deleteChunk)
		if err := s.deleteKeys(ctx, quarantined[:n]); err != nil {
			return err
		}
		quarantined = quarantined[n:]
	}
	return s.deleteKeys(ctx, []string{deletingKey(doc)})
}

func (s *Store) deleteKeys(ctx context.Context, keys []string) error {
	ops := make([]kvOp, len(keys))
	for i, k := range keys {
		ops[i] = kvOp{key: k, del: true}
	}
	return s.submit(ctx, &group{ops: ops}, true)
}

// finishDeletes completes the deletions a crash interrupted (Open).
func (s *Store) finishDeletes(ctx context.Context) error {
	var ids []DocID
	err := each(ctx, s.kv.d, dsq.Query{Prefix: deletingPrefix, KeysOnly: true}, func(e dsq.Entry) error {
		id, err := ParseDocID(strings.TrimPrefix(e.Key, deletingPrefix+"/"))
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, e.Key, err)
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.purge(ctx, id); err != nil {
			return fmt.Errorf("store: finishing the deletion of %s: %w", id, err)
		}
	}
	return nil
}
