package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	dsq "github.com/ipfs/go-datastore/query"
)

// A migration turns a store of schema version from into from+1. It must be
// safe to run again after a crash part-way (the schema record is written
// only after it completed).
type migration struct {
	from uint64
	name string
	run  func(ctx context.Context, s *Store) error
}

// migrations, in order. Schema history:
//
//	1: meta, txn and snapshot records under /docs/<id>/.
//	2: adds the per-document arrival log (/docs/<id>/log/<n>) that streams
//	   read in causal order, and per-agent heads (/docs/<id>/head/<agent>).
var migrations = []migration{
	{from: 1, name: "build each document's arrival log and heads from its transactions' parents", run: migrateV1toV2},
}

func (s *Store) migrate(ctx context.Context, from uint64) error {
	if s.dir != "" && s.opts.BackupBeforeMigrate {
		sink := &DirSink{Dir: filepath.Join(s.dir, BackupsDirName)}
		info, err := s.backup(ctx, sink, fmt.Sprintf("pre-migration-v%d", from), nil)
		if err != nil {
			return fmt.Errorf("store: backup before migrating from schema %d: %w", from, err)
		}
		s.opts.Logger.Info("store: backed up before migrating", "backup", info.Name, "dir", sink.Dir)
	}
	for v := from; v < SchemaVersion; v++ {
		var m *migration
		for i := range migrations {
			if migrations[i].from == v {
				m = &migrations[i]
			}
		}
		if m == nil {
			return fmt.Errorf("store: no migration from schema %d", v)
		}
		s.opts.Logger.Info("store: migrating", "from", v, "to", v+1, "what", m.name)
		if err := m.run(ctx, s); err != nil {
			return fmt.Errorf("store: migrate schema %d → %d: %w", v, v+1, err)
		}
		if err := s.writeSchema(ctx, v+1); err != nil {
			return err
		}
	}
	return nil
}

// migrateV1toV2 builds each document's arrival log by ordering its
// transactions causally from their parents (schema 1 had no log), and its
// per-agent heads. Transactions that cannot be placed (damaged history)
// are left out of the log; Check reports them.
func migrateV1toV2(ctx context.Context, s *Store) error {
	var docs []DocID
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: docsPrefix, KeysOnly: true}, func(e dsq.Entry) error {
		if dk, err := parseDocKey(e.Key); err == nil && dk.kind == kindMeta {
			docs = append(docs, dk.doc)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, doc := range docs {
		if err := rebuildIndex(ctx, s, doc); err != nil {
			return fmt.Errorf("document %s: %w", doc, err)
		}
	}
	return nil
}

// rebuildIndex replaces doc's log and heads with ones derived from its
// transaction records. Undecodable records are skipped (and reported by
// Check). It returns the headers it could not place in causal order.
func rebuildIndex(ctx context.Context, s *Store, doc DocID) error {
	var base Version
	if snap, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		base = snap.Covers
	} else if !isNotFound(err) && !isCorrupt(err) {
		return err
	}
	var hdrs []TxnHeader
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: txnPrefix(doc)}, func(e dsq.Entry) error {
		if t, err := decodeTxnAt(e.Key, e.Value); err == nil {
			hdrs = append(hdrs, t.TxnHeader)
		}
		return nil
	}); err != nil {
		return err
	}
	order, _ := causalOrder(hdrs, base)
	var ops []kvOp
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: logPrefix(doc), KeysOnly: true}, func(e dsq.Entry) error {
		ops = append(ops, kvOp{key: e.Key, del: true})
		return nil
	}); err != nil {
		return err
	}
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: headPrefix(doc), KeysOnly: true}, func(e dsq.Entry) error {
		ops = append(ops, kvOp{key: e.Key, del: true})
		return nil
	}); err != nil {
		return err
	}
	heads := Version{}
	for a, n := range base {
		heads[a] = n
	}
	for n, i := range order {
		h := &hdrs[i]
		b, err := encodeRecord(recLog, logRec{Agent: h.Agent, Seq: h.Seq, Len: h.Len})
		if err != nil {
			return err
		}
		ops = append(ops, kvOp{key: logKey(doc, uint64(n)), val: b})
		if e := h.Seq + h.Len; e > heads[h.Agent] {
			heads[h.Agent] = e
		}
	}
	le, err := encodeRecord(recLogEnd, logEndRec{Next: uint64(len(order))})
	if err != nil {
		return err
	}
	ops = append(ops, kvOp{key: logEndKey(doc), val: le})
	for _, a := range sortedAgents(heads) {
		b, err := encodeRecord(recHead, headRec{Next: heads[a]})
		if err != nil {
			return err
		}
		ops = append(ops, kvOp{key: headKey(doc, a), val: b})
	}
	// One group per op: the rebuild is not atomic, but it is idempotent and
	// the schema (or repair) is recorded only after it finished.
	groups := make([][]kvOp, len(ops))
	for i := range ops {
		groups[i] = ops[i : i+1]
	}
	if err := s.kv.commit(ctx, groups, s.opts.MaxBatchBytes); err != nil {
		return err
	}
	return s.kv.sync(ctx)
}

func isCorrupt(err error) bool { return err != nil && errors.Is(err, ErrCorrupt) }
