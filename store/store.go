package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	badger4 "github.com/ipfs/go-ds-badger4"
)

// SchemaVersion is the store layout this code reads and writes. Older
// stores are migrated at Open; newer ones are refused.
const SchemaVersion = 3

// DBDirName is the badger directory inside a data directory.
const DBDirName = "db"

// BackupsDirName holds the automatic pre-migration backups inside a data
// directory.
const BackupsDirName = "backups"

// Store is weft's durable local state. It is safe for concurrent use.
type Store struct {
	opts    Options
	kv      *kv
	closeDS func() error
	dir     string // data directory ("" for OpenDatastore)
	lock    *dirLock
	install [16]byte

	// excl is held shared by every mutation while it validates and queues,
	// and exclusively by Check's repair.
	excl   sync.RWMutex
	metaMu sync.Mutex // serialises metadata read-modify-write

	mu      sync.Mutex // guards everything below
	docs    map[DocID]*docState
	queue   []*group
	qTxns   int
	qBytes  int
	qOldest time.Time
	urgent  bool
	failed  error // sticky write-path failure
	closed  bool

	wake       chan struct{}
	writerDone chan struct{}
}

// docState is what the store keeps in memory for a document it has touched.
type docState struct {
	heads     Version // agent → next seq, including queued writes
	epoch     uint64  // the arrival log's current epoch
	nextLog   uint64  // next arrival-log counter
	dirty     bool    // epochs other than epoch may hold entries
	frozen    bool    // compaction is switching epochs: appends wait
	readers   int     // open streams
	compact   bool    // a compaction holds readers off
	compactor bool    // a compaction is running
	changed   chan struct{}
}

// Open opens (creating if needed) the data directory dir: it takes the
// directory lock, opens badger under dir/db, and migrates an older schema
// (after an automatic backup under dir/backups).
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	d, err := openBadger(filepath.Join(dir, DBDirName), opts)
	if err != nil {
		lock.unlock()
		return nil, err
	}
	s, err := newStore(d, opts, dir)
	if err != nil {
		d.Close()
		lock.unlock()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func openBadger(path string, opts Options) (*badger4.Datastore, error) {
	bo := badger4.DefaultOptions
	// Durability is explicit: commits do not fsync; the store calls Sync
	// once per batch (Immediate: once per call) before acknowledging.
	bo.Options = badger.DefaultOptions(path).
		WithSyncWrites(false).
		WithBlockCacheSize(opts.BlockCacheBytes).
		WithMemTableSize(opts.MemTableBytes).
		// Badger refuses a value threshold above its largest transaction
		// (15% of a memtable); at the default memtable this stays 1 MiB.
		WithValueThreshold(min(1<<20, opts.MemTableBytes/8)).
		WithNumVersionsToKeep(1).
		WithLoggingLevel(badger.WARNING)
	bo.GcInterval = 10 * time.Minute
	d, err := badger4.NewDatastore(path, &bo)
	if err != nil {
		return nil, fmt.Errorf("store: open database %s: %w", path, err)
	}
	return d, nil
}

// OpenDatastore opens a store over any batching datastore (an in-memory one
// in tests). The caller keeps ownership of d: Close does not close it. No
// directory lock and no pre-migration backup.
func OpenDatastore(d ds.Batching, opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s, err := newStore(d, opts, "")
	if err != nil {
		return nil, err
	}
	s.closeDS = func() error { return nil }
	return s, nil
}

func newStore(d ds.Batching, opts Options, dir string) (*Store, error) {
	s := &Store{
		opts:       opts,
		kv:         newKV(d),
		closeDS:    d.Close,
		dir:        dir,
		docs:       map[DocID]*docState{},
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
	if err := s.initSchema(context.Background()); err != nil {
		return nil, err
	}
	go s.writer()
	if err := s.finishDeletes(context.Background()); err != nil {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.signal()
		<-s.writerDone // the caller closes the datastore
		return nil, err
	}
	return s, nil
}

// initSchema creates the schema record of an empty store, migrates an old
// one, and refuses a newer one.
func (s *Store) initSchema(ctx context.Context) error {
	raw, err := get(ctx, s.kv.d, schemaKey)
	if errors.Is(err, ErrNotFound) {
		empty := true
		if err := each(ctx, s.kv.d, dsq.Query{KeysOnly: true, Limit: 1}, func(dsq.Entry) error {
			empty = false
			return errStop
		}); err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: %s missing from a non-empty store", ErrCorrupt, schemaKey)
		}
		if _, err := rand.Read(s.install[:]); err != nil {
			return err
		}
		return s.writeSchema(ctx, SchemaVersion)
	}
	if err != nil {
		return err
	}
	var rec schemaRec
	if err := decodeRecord(recSchema, raw, &rec); err != nil {
		return fmt.Errorf("%s: %w", schemaKey, err)
	}
	if len(rec.Install) != len(s.install) {
		return fmt.Errorf("%w: %s: install ID of %d bytes", ErrCorrupt, schemaKey, len(rec.Install))
	}
	copy(s.install[:], rec.Install)
	switch {
	case rec.Schema > SchemaVersion:
		return fmt.Errorf("%w: the store has schema version %d, this weft understands up to %d", ErrSchemaTooNew, rec.Schema, SchemaVersion)
	case rec.Schema == 0:
		return fmt.Errorf("%w: %s: schema version 0", ErrCorrupt, schemaKey)
	case rec.Schema < SchemaVersion:
		return s.migrate(ctx, rec.Schema)
	}
	return nil
}

func (s *Store) writeSchema(ctx context.Context, v uint64) error {
	b, err := encodeRecord(recSchema, schemaRec{Schema: v, Install: s.install[:]})
	if err != nil {
		return err
	}
	if err := s.kv.commit(ctx, [][]kvOp{{{key: schemaKey, val: b}}}, s.opts.MaxBatchBytes); err != nil {
		return fmt.Errorf("store: write schema: %w", err)
	}
	return s.kv.sync(ctx)
}

// InstallID returns the random ID this store was created with.
func (s *Store) InstallID() [16]byte { return s.install }

// Dir returns the data directory ("" for OpenDatastore).
func (s *Store) Dir() string { return s.dir }

// Close flushes every pending write, waits for it to be durable, and closes
// the database. Writes after Close fail with ErrClosed. It returns the
// flush error, if any.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.urgent = true
	s.mu.Unlock()
	s.signal()
	<-s.writerDone
	s.mu.Lock()
	ferr := s.failed
	s.mu.Unlock()
	err := s.closeDS()
	if lerr := s.lock.unlock(); err == nil {
		err = lerr
	}
	if ferr != nil {
		return fmt.Errorf("%w: %w", ErrFailed, ferr)
	}
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// state returns the in-memory state of doc, loading it on first use.
// ErrNotFound if the document does not exist.
func (s *Store) state(ctx context.Context, doc DocID) (*docState, error) {
	s.mu.Lock()
	st, ok := s.docs[doc]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	loaded, err := s.loadState(ctx, doc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.docs[doc]; ok {
		return st, nil // loaded concurrently; no write can have run without it
	}
	s.docs[doc] = loaded
	return loaded, nil
}

func (s *Store) loadState(ctx context.Context, doc DocID) (*docState, error) {
	st := &docState{heads: Version{}, changed: make(chan struct{})}
	err := s.kv.view(ctx, func(r ds.Read) error {
		if _, err := get(ctx, r, metaKey(doc)); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%w: document %s", ErrNotFound, doc)
			}
			return err
		}
		if err := each(ctx, r, dsq.Query{Prefix: headPrefix(doc)}, func(e dsq.Entry) error {
			dk, err := parseDocKey(e.Key)
			if err != nil || dk.kind != kindHead {
				return fmt.Errorf("%w: %s: unexpected key", ErrCorrupt, e.Key)
			}
			var h headRec
			if err := decodeRecord(recHead, e.Value, &h); err != nil {
				return fmt.Errorf("%s: %w", e.Key, err)
			}
			st.heads[dk.agent] = h.Next
			return nil
		}); err != nil {
			return err
		}
		raw, err := get(ctx, r, logEndKey(doc))
		if isNotFound(err) {
			return nil // no transaction stored yet
		}
		if err != nil {
			return err
		}
		var le logEndRec
		if err := decodeRecord(recLogEnd, raw, &le); err != nil {
			return fmt.Errorf("%s: %w", logEndKey(doc), err)
		}
		st.epoch, st.nextLog, st.dirty = le.Epoch, le.Next, le.Dirty
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// broadcast wakes goroutines waiting on st's gate. s.mu must be held.
func (st *docState) broadcast() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// enterRead registers a reader of doc's transactions; compaction waits for
// readers to leave.
func (s *Store) enterRead(ctx context.Context, doc DocID) (*docState, func(), error) {
	st, err := s.state(ctx, doc)
	if err != nil {
		return nil, nil, err
	}
	for {
		s.mu.Lock()
		if !st.compact {
			st.readers++
			s.mu.Unlock()
			return st, func() {
				s.mu.Lock()
				st.readers--
				st.broadcast()
				s.mu.Unlock()
			}, nil
		}
		if err := s.awaitChangeLocked(ctx, st); err != nil {
			return nil, nil, err
		}
	}
}

// awaitChangeLocked releases s.mu and waits until st changes (its changed
// channel is closed) or ctx ends. It is called with s.mu held and returns
// with it released.
func (s *Store) awaitChangeLocked(ctx context.Context, st *docState) error {
	ch := st.changed
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logEndOpLocked is the op that records st's log state. s.mu must be held,
// and the op queued before s.mu is released, so that the log-state records
// reach the database in the order the state changed.
func logEndOpLocked(doc DocID, st *docState) (kvOp, error) {
	b, err := encodeRecord(recLogEnd, logEndRec{Epoch: st.epoch, Next: st.nextLog, Dirty: st.dirty})
	return kvOp{key: logEndKey(doc), val: b, coalesce: true}, err
}

// waitThawedLocked waits until no compaction is switching st's log epoch.
// It is called with s.mu held and returns with it held, or released when
// ctx ends first.
func (s *Store) waitThawedLocked(ctx context.Context, st *docState) error {
	for st.frozen {
		if err := s.awaitChangeLocked(ctx, st); err != nil {
			return err
		}
		s.mu.Lock()
	}
	return nil
}

// enterCompact waits until no other compaction runs on doc and no reader is
// open, then holds new readers off. readersBack lets readers in again;
// done ends the compaction (and lets readers in, if still held off). Both
// may be called more than once.
func (s *Store) enterCompact(ctx context.Context, st *docState) (readersBack, done func(), err error) {
	for {
		s.mu.Lock()
		if !st.compactor && st.readers == 0 {
			st.compact, st.compactor = true, true
			s.mu.Unlock()
			release := func(compactor bool) func() {
				return func() {
					s.mu.Lock()
					st.compact = false
					if compactor {
						st.compactor = false
					}
					st.broadcast()
					s.mu.Unlock()
				}
			}
			return release(false), release(true), nil
		}
		if err := s.awaitChangeLocked(ctx, st); err != nil {
			return nil, nil, err
		}
	}
}
