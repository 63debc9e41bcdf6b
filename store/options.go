package store

import (
	"fmt"
	"log/slog"
	"time"
)

// Policy says when a write is durable.
type Policy int

const (
	// Immediate: Append returns once the transactions are on disk (fsynced).
	// For local edits, which are acknowledged only once durable.
	Immediate Policy = iota
	// Batched: group commit. Append returns once the transactions are
	// validated and queued; they are written with others in one batch and
	// one sync within Options.MaxDelay. The returned Ack reports durability.
	// For remote transactions and relay ingestion.
	Batched
)

func (p Policy) String() string {
	switch p {
	case Immediate:
		return "immediate"
	case Batched:
		return "batched"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Options configure a Store. Start from DefaultOptions.
type Options struct {
	// MaxDelay is the longest a Batched write waits before its batch is
	// committed. Default 10ms.
	MaxDelay time.Duration
	// MaxBatchTxns commits a batch early once it holds this many
	// transactions. Default 4096.
	MaxBatchTxns int
	// MaxBatchBytes commits a batch early once its encoded values reach this
	// many bytes; it is also the most one atomic database transaction holds
	// (at most 4 MiB, well inside badger's limit). Default 1 MiB.
	MaxBatchBytes int
	// MaxPayload bounds one transaction's payload. Default 4 MiB.
	MaxPayload int
	// MaxSnapshot bounds one snapshot's payload. Default 512 MiB.
	MaxSnapshot int
	// StreamChunkTxns and StreamChunkBytes bound one chunk handed out by
	// Stream (whichever is reached first). Defaults 512 and 256 KiB.
	StreamChunkTxns  int
	StreamChunkBytes int
	// BlockCacheBytes is badger's block cache (Open only). Default 64 MiB.
	BlockCacheBytes int64
	// MemTableBytes is the size of one badger memtable (Open only): the
	// memory that holds recent writes (badger keeps up to five) and the
	// size its write-ahead log file is mapped at. It must be at least 12 ×
	// MaxBatchBytes, so that a batch fits in one badger transaction.
	// Default 64 MiB (badger's own default).
	MemTableBytes int64
	// MinFreeBytes: writes are refused (ErrDiskFull) while the data
	// directory's file system has less free space than this (Open only;
	// 0: no check). Badger's write-ahead log and the tables it flushes are
	// memory-mapped files that take their space only when written, and a
	// write to a mapped page of a full disk kills the process (SIGBUS)
	// instead of returning an error; stopping short of full keeps the
	// daemon alive, serving reads and refusing edits. Default 192 MiB, 3 ×
	// the default MemTableBytes (the log maps two memtables, a flush
	// writes one).
	MinFreeBytes int64
	// BackupBeforeMigrate writes a backup under <dir>/backups before any
	// migration runs at Open. Default true.
	BackupBeforeMigrate bool
	// Logger receives the store's log lines. Default: discard.
	Logger *slog.Logger
	// Metrics receives instrumentation events. Default: none.
	Metrics Metrics
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
}

// DefaultOptions returns the defaults documented on each field.
func DefaultOptions() Options {
	return Options{
		MaxDelay:            10 * time.Millisecond,
		MaxBatchTxns:        4096,
		MaxBatchBytes:       1 << 20,
		MaxPayload:          4 << 20,
		MaxSnapshot:         512 << 20,
		StreamChunkTxns:     512,
		StreamChunkBytes:    256 << 10,
		BlockCacheBytes:     64 << 20,
		MemTableBytes:       64 << 20,
		MinFreeBytes:        3 * 64 << 20,
		BackupBeforeMigrate: true,
	}
}

func (o *Options) validate() error {
	bad := func(f string, args ...any) error {
		return fmt.Errorf("%w: options: "+f, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case o.MaxDelay < 0 || o.MaxDelay > time.Minute:
		return bad("MaxDelay %v not in 0..1m", o.MaxDelay)
	case o.MaxBatchTxns < 1:
		return bad("MaxBatchTxns %d < 1", o.MaxBatchTxns)
	case o.MaxBatchBytes < 1<<10 || o.MaxBatchBytes > 4<<20:
		return bad("MaxBatchBytes %d not in 1 KiB..4 MiB", o.MaxBatchBytes)
	case o.MaxPayload < 1 || o.MaxPayload > 64<<20:
		return bad("MaxPayload %d not in 1..64 MiB", o.MaxPayload)
	case o.MaxSnapshot < 1 || o.MaxSnapshot > 2<<30:
		return bad("MaxSnapshot %d not in 1..2 GiB", o.MaxSnapshot)
	case o.StreamChunkTxns < 1 || o.StreamChunkBytes < 1:
		return bad("StreamChunkTxns and StreamChunkBytes must be ≥ 1")
	case o.MinFreeBytes < 0:
		return bad("MinFreeBytes %d < 0", o.MinFreeBytes)
	case o.BlockCacheBytes < 0:
		return bad("BlockCacheBytes %d < 0", o.BlockCacheBytes)
	case o.MemTableBytes < 12*int64(o.MaxBatchBytes) || o.MemTableBytes > 1<<30:
		return bad("MemTableBytes %d not in 12 × MaxBatchBytes (%d)..1 GiB", o.MemTableBytes, 12*int64(o.MaxBatchBytes))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}
