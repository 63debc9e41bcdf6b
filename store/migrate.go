package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"weft/vocab"
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
//	   read in causal order, its next counter (/docs/<id>/logend), and
//	   per-agent heads (/docs/<id>/head/<agent>).
//	3: the arrival log gets epochs (/docs/<id>/log/<epoch>/<n>, logend names
//	   the current one) so that readers never step over the keys compaction
//	   deleted; the document index (/docindex/<id>) lists documents without
//	   walking their keys.
var migrations = []migration{
	{from: 1, name: "build each document's arrival log and heads from its transactions' parents", run: migrateV1toV2},
	{from: 2, name: "move each document's arrival log into epoch 0 and build the document index", run: migrateV2toV3},
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

// storedDocs returns every document that has a key under /docs, and
// whether it has metadata. It walks every key (migrations and checks only)
// and parses no more of a key than its document ID, so it reads any schema.
func storedDocs(ctx context.Context, r ds.Read) (docs []DocID, hasMeta map[DocID]bool, err error) {
	hasMeta = map[DocID]bool{}
	err = each(ctx, r, dsq.Query{Prefix: docsPrefix, KeysOnly: true}, func(e dsq.Entry) error {
		seg, rest, _ := strings.Cut(strings.TrimPrefix(e.Key, docsPrefix+"/"), "/")
		id, err := ParseDocID(seg)
		if err != nil {
			return nil // Check reports it
		}
		if _, ok := hasMeta[id]; !ok {
			docs = append(docs, id)
			hasMeta[id] = false
		}
		if rest == kindMeta {
			hasMeta[id] = true
		}
		return nil
	})
	return docs, hasMeta, err
}

// placedTxns reads doc's transaction records (skipping undecodable ones,
// which Check reports) and orders them causally after the snapshot's
// version. It returns the headers, the order (indexes into hdrs) and the
// heads that order reaches. Transactions that cannot be placed (damaged
// history) are left out; Check reports them.
func placedTxns(ctx context.Context, s *Store, doc DocID) (hdrs []vocab.Header, order []int, heads Version, err error) {
	var base Version
	if snap, err := readSnapshot(ctx, s.kv.d, doc); err == nil {
		base = snap.Covers
	} else if !isNotFound(err) && !isCorrupt(err) {
		return nil, nil, nil, err
	}
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: txnPrefix(doc)}, func(e dsq.Entry) error {
		if t, err := decodeTxnAt(e.Key, e.Value); err == nil {
			hdrs = append(hdrs, t.Header)
		}
		return nil
	}); err != nil {
		return nil, nil, nil, err
	}
	order, _ = causalOrder(hdrs, base)
	heads = Version{}
	for a, n := range base {
		heads[a] = n
	}
	for _, i := range order {
		h := &hdrs[i]
		if e := h.Seq + h.Len; e > heads[h.Agent] {
			heads[h.Agent] = e
		}
	}
	return hdrs, order, heads, nil
}

func headOps(doc DocID, heads Version) ([]kvOp, error) {
	var ops []kvOp
	for _, a := range sortedAgents(heads) {
		b, err := encodeRecord(recHead, headRec{Next: heads[a]})
		if err != nil {
			return nil, err
		}
		ops = append(ops, kvOp{key: headKey(doc, a), val: b})
	}
	return ops, nil
}

// commitSingly commits ops each in a group of its own (not atomically) and
// syncs: for migrations and repairs that are idempotent and are recorded
// as done only afterwards.
func commitSingly(ctx context.Context, s *Store, ops []kvOp) error {
	groups := make([][]kvOp, len(ops))
	for i := range ops {
		groups[i] = ops[i : i+1]
	}
	if err := s.kv.commit(ctx, groups, s.opts.MaxBatchBytes); err != nil {
		return err
	}
	return s.kv.sync(ctx)
}

// Schema 2's arrival log, as the migrations into and out of it know it.
func v2LogKey(doc DocID, n uint64) string { return logPrefix(doc) + "/" + pad(n) }

type logEndRecV2 struct {
	_    struct{} `cbor:",toarray"`
	Next uint64
}

// migrateV1toV2 builds each document's arrival log (in schema 2's layout)
// by ordering its transactions causally from their parents (schema 1 had
// no log), and its per-agent heads. Transactions that cannot be placed
// (damaged history) are left out of the log; Check reports them. Run again
// after a crash it writes the same keys with the same values.
func migrateV1toV2(ctx context.Context, s *Store) error {
	docs, hasMeta, err := storedDocs(ctx, s.kv.d)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		if !hasMeta[doc] {
			continue
		}
		hdrs, order, heads, err := placedTxns(ctx, s, doc)
		if err != nil {
			return fmt.Errorf("document %s: %w", doc, err)
		}
		var ops []kvOp
		for n, i := range order {
			h := &hdrs[i]
			b, err := encodeRecord(recLog, spanRec{Agent: h.Agent, Seq: h.Seq, Len: h.Len})
			if err != nil {
				return err
			}
			ops = append(ops, kvOp{key: v2LogKey(doc, uint64(n)), val: b})
		}
		le, err := encodeRecord(recLogEnd, logEndRecV2{Next: uint64(len(order))})
		if err != nil {
			return err
		}
		ops = append(ops, kvOp{key: logEndKey(doc), val: le})
		hops, err := headOps(doc, heads)
		if err != nil {
			return err
		}
		if err := commitSingly(ctx, s, append(ops, hops...)); err != nil {
			return fmt.Errorf("document %s: %w", doc, err)
		}
	}
	return nil
}

// migrateV2toV3 moves each document's arrival log from /log/<n> to epoch 0
// (/log/<0>/<n>, values and counters unchanged: each entry's move is one
// atomic put-and-delete) and then writes its log state naming epoch 0; and
// it adds an index entry for every document with metadata. A document
// whose log state is already in schema 3's form was moved by an earlier,
// interrupted run.
func migrateV2toV3(ctx context.Context, s *Store) error {
	docs, hasMeta, err := storedDocs(ctx, s.kv.d)
	if err != nil {
		return err
	}
	ib, err := encodeRecord(recDocIndex, docIndexRec{})
	if err != nil {
		return err
	}
	for _, doc := range docs {
		if hasMeta[doc] {
			if err := s.kv.commit(ctx, [][]kvOp{{{key: docIndexKey(doc), val: ib}}}, s.opts.MaxBatchBytes); err != nil {
				return err
			}
		}
		if err := migrateLogV2toV3(ctx, s, doc); err != nil {
			return fmt.Errorf("document %s: %w", doc, err)
		}
	}
	return s.kv.sync(ctx)
}

func migrateLogV2toV3(ctx context.Context, s *Store, doc DocID) error {
	var next uint64
	raw, err := get(ctx, s.kv.d, logEndKey(doc))
	switch {
	case isNotFound(err):
	case err != nil:
		return err
	default:
		var v3 logEndRec
		if decodeRecord(recLogEnd, raw, &v3) == nil {
			return nil // moved by an earlier run
		}
		var v2 logEndRecV2
		if decodeRecord(recLogEnd, raw, &v2) == nil {
			next = v2.Next
		} // a damaged one: the counter follows the entries, Check reports the rest
	}
	var groups [][]kvOp
	entries := 0
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: logPrefix(doc)}, func(e dsq.Entry) error {
		seg := strings.TrimPrefix(e.Key, logPrefix(doc)+"/")
		n, ok := parsePad(seg)
		if !ok {
			return nil // not a schema-2 entry: moved already, or Check reports it
		}
		groups = append(groups, []kvOp{{key: logKey(doc, 0, n), val: e.Value}, {key: e.Key, del: true}})
		next = max(next, n+1)
		entries++
		return nil
	}); err != nil {
		return err
	}
	if entries == 0 && raw == nil {
		return nil // no transaction was ever stored: nothing to move
	}
	le, err := encodeRecord(recLogEnd, logEndRec{Epoch: 0, Next: next})
	if err != nil {
		return err
	}
	if err := s.kv.commit(ctx, groups, s.opts.MaxBatchBytes); err != nil {
		return err
	}
	// The log state last: until it is written the move is not done.
	if err := s.kv.commit(ctx, [][]kvOp{{{key: logEndKey(doc), val: le}}}, s.opts.MaxBatchBytes); err != nil {
		return err
	}
	return nil
}

// rebuildIndex replaces doc's log and heads with ones derived from its
// transaction records, in a new epoch: the new entries are written first,
// then the heads and the switch to the new epoch in one atomic group, then
// every entry of the other epochs is deleted and the log marked clean.
// Undecodable records are skipped (and reported by Check).
func rebuildIndex(ctx context.Context, s *Store, doc DocID) error {
	hdrs, order, heads, err := placedTxns(ctx, s, doc)
	if err != nil {
		return err
	}
	// The new epoch is past every epoch named anywhere.
	var epoch uint64
	var old []kvOp
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: logPrefix(doc), KeysOnly: true}, func(e dsq.Entry) error {
		if dk, err := parseDocKey(e.Key); err == nil && dk.kind == kindLog {
			epoch = max(epoch, dk.epoch)
		}
		old = append(old, kvOp{key: e.Key, del: true})
		return nil
	}); err != nil {
		return err
	}
	if raw, err := get(ctx, s.kv.d, logEndKey(doc)); err == nil {
		var le logEndRec
		if decodeRecord(recLogEnd, raw, &le) == nil {
			epoch = max(epoch, le.Epoch)
		}
	} else if !isNotFound(err) {
		return err
	}
	epoch++
	var groups [][]kvOp
	for n, i := range order {
		h := &hdrs[i]
		b, err := encodeRecord(recLog, spanRec{Agent: h.Agent, Seq: h.Seq, Len: h.Len})
		if err != nil {
			return err
		}
		groups = append(groups, []kvOp{{key: logKey(doc, epoch, uint64(n)), val: b}})
	}
	// Switch: heads replaced and the new epoch named, atomically.
	var sw []kvOp
	if err := each(ctx, s.kv.d, dsq.Query{Prefix: headPrefix(doc), KeysOnly: true}, func(e dsq.Entry) error {
		sw = append(sw, kvOp{key: e.Key, del: true})
		return nil
	}); err != nil {
		return err
	}
	hops, err := headOps(doc, heads)
	if err != nil {
		return err
	}
	sw = append(sw, hops...)
	state := logEndRec{Epoch: epoch, Next: uint64(len(order)), Dirty: len(old) > 0}
	le, err := encodeRecord(recLogEnd, state)
	if err != nil {
		return err
	}
	groups = append(groups, append(sw, kvOp{key: logEndKey(doc), val: le}))
	if len(old) > 0 {
		for i := range old {
			groups = append(groups, old[i:i+1])
		}
		state.Dirty = false
		if le, err = encodeRecord(recLogEnd, state); err != nil {
			return err
		}
		groups = append(groups, []kvOp{{key: logEndKey(doc), val: le}})
	}
	if err := s.kv.commit(ctx, groups, s.opts.MaxBatchBytes); err != nil {
		return err
	}
	return s.kv.sync(ctx)
}

func isCorrupt(err error) bool { return err != nil && errors.Is(err, ErrCorrupt) }
