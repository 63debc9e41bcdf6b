package store

import (
	"context"
	"fmt"
)

// probeKey is the key Probe writes. It lies outside the document layout
// and is never visible: Probe only ever writes its deletion.
const probeKey = "/weft/probe"

// Probe checks that the store can still make a write durable, for health
// checks. It fails with ErrClosed after Close, with ErrFailed once the write
// path has failed (the store then refuses writes until it is reopened),
// with ErrDiskFull while free space is below Options.MinFreeBytes, and
// otherwise with the database's error when a small write or the sync after
// it fails.
//
// The write is the deletion of a key outside the layout, in its own
// database transaction: it appends a real entry to the database's log,
// which the sync must make durable, but no key ever appears, so a
// concurrent Backup or Check sees nothing of it. It bypasses the write
// queue and touches no document.
func (s *Store) Probe(ctx context.Context) error {
	s.mu.Lock()
	err := s.writableLocked()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.kv.commit(ctx, [][]kvOp{{{key: probeKey, del: true}}}, s.opts.MaxBatchBytes); err != nil {
		return fmt.Errorf("store: probe write: %w", err)
	}
	if err := s.kv.sync(ctx); err != nil {
		return fmt.Errorf("store: probe sync: %w", err)
	}
	return nil
}

// Writable reports, without writing, whether the store takes writes now:
// ErrClosed, ErrFailed or ErrDiskFull as a write would fail, nil
// otherwise. A replica asks it before applying input that it would have
// to persist, so that a full disk refuses the input instead of leaving
// memory ahead of disk.
func (s *Store) Writable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writableLocked()
}
