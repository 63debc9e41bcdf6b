package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Clock is the scheduler's time: tests inject a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Every is the time from the start of one scheduled backup to the
	// start of the next. A backup that takes longer delays the next one;
	// missed times are not made up. Default 1h; at least 1s.
	Every time.Duration
	// RetryAfter is how soon a failed backup is tried again. Default 5
	// minutes, or Every if that is shorter.
	RetryAfter time.Duration
	// Retention is applied after each successful backup. Default
	// DefaultRetention(); the zero Retention keeps everything.
	Retention Retention
	// Logger receives a line per backup and per failure. Default: discard.
	Logger *slog.Logger
	// Clock is the time source. Default: the real clock.
	Clock Clock
	// Progress, if set, is called after each chunk a backup writes.
	// Default nil.
	Progress func(Progress)
}

// DefaultSchedulerOptions returns the defaults.
func DefaultSchedulerOptions() SchedulerOptions {
	return SchedulerOptions{Every: time.Hour, RetryAfter: 5 * time.Minute, Retention: DefaultRetention()}
}

func (o *SchedulerOptions) validate() error {
	if o.Every < time.Second {
		return fmt.Errorf("%w: backup interval %s: at least 1s", ErrInvalid, o.Every)
	}
	if o.RetryAfter <= 0 {
		return fmt.Errorf("%w: backup retry interval %s: must be positive", ErrInvalid, o.RetryAfter)
	}
	o.RetryAfter = min(o.RetryAfter, o.Every)
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	return o.Retention.validate()
}

// BackupStatus is what a health check needs to know of a Scheduler.
type BackupStatus struct {
	Sink string // the sink: a directory, an s3:// URL
	// Running: a backup is in progress since RunningSince, Progress far.
	Running      bool
	RunningSince time.Time
	Progress     Progress
	// LastSuccess is when the last successful backup finished; LastBackup
	// is it (zero before the first).
	LastSuccess time.Time
	LastBackup  BackupInfo
	// LastError is the last failed backup's error, at LastErrorAt;
	// Failures counts failures since the last success (0: healthy).
	LastError   error
	LastErrorAt time.Time
	Failures    int
	// PruneError is the last pruning failure (nil after a clean prune);
	// Pruned counts the backups retention has deleted.
	PruneError error
	Pruned     int
	// Next is when the next scheduled backup is due (zero when Run is not
	// running).
	Next time.Time
}

// Scheduler takes backups of a store to one sink: every Every while Run
// runs, and on demand (BackupNow); never two at a time. After each
// successful backup it applies the retention policy. Failures are logged
// and kept in Status for health checks.
type Scheduler struct {
	st   *Store
	sink Sink
	name string // the sink, for logs and messages
	opts SchedulerOptions
	sem  chan struct{} // one backup at a time

	mu     sync.Mutex
	status BackupStatus
}

// NewScheduler returns a scheduler for st and sink; Run starts it.
func NewScheduler(st *Store, sink Sink, opts SchedulerOptions) (*Scheduler, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Retention.Enabled() {
		if _, ok := sink.(DeleteSink); !ok {
			return nil, fmt.Errorf("%w: retention needs a sink that can delete backups", ErrInvalid)
		}
	}
	name := sinkName(sink)
	return &Scheduler{st: st, sink: sink, name: name, opts: opts, sem: make(chan struct{}, 1), status: BackupStatus{Sink: name}}, nil
}

// sinkName names a sink in logs and health reports: its directory, its
// String (S3Sink: the s3:// URL) or its type.
func sinkName(sink Sink) string {
	switch s := sink.(type) {
	case *DirSink:
		return s.Dir
	case fmt.Stringer:
		return s.String()
	}
	return fmt.Sprintf("%T", sink)
}

// Status returns a copy of the scheduler's state.
func (sc *Scheduler) Status() BackupStatus {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.status
}

// Healthy returns nil unless the last backup failed (with the error and
// how many failed in a row), or the last success is older than two
// intervals while Run is running.
func (sc *Scheduler) Healthy() error {
	st := sc.Status()
	if st.Failures > 0 {
		return fmt.Errorf("store: %d backup(s) to %s failed in a row, the last at %s: %w", st.Failures, st.Sink, st.LastErrorAt.UTC().Format(time.RFC3339), st.LastError)
	}
	if !st.Next.IsZero() && !st.LastSuccess.IsZero() && sc.opts.Clock.Now().Sub(st.LastSuccess) > 2*sc.opts.Every+sc.opts.RetryAfter {
		return fmt.Errorf("store: no backup to %s since %s", st.Sink, st.LastSuccess.UTC().Format(time.RFC3339))
	}
	return nil
}

// BackupNow takes a backup now, waiting first for one in progress to end
// (so the backup it returns was started after the call). It applies the
// retention policy like a scheduled backup.
func (sc *Scheduler) BackupNow(ctx context.Context) (BackupInfo, error) {
	return sc.backup(ctx, "on demand")
}

func (sc *Scheduler) backup(ctx context.Context, why string) (BackupInfo, error) {
	select {
	case sc.sem <- struct{}{}:
	case <-ctx.Done():
		return BackupInfo{}, ctx.Err()
	}
	defer func() { <-sc.sem }()
	clock := sc.opts.Clock
	start := clock.Now()
	sc.mu.Lock()
	sc.status.Running, sc.status.RunningSince, sc.status.Progress = true, start, Progress{}
	sc.mu.Unlock()
	progress := func(p Progress) {
		sc.mu.Lock()
		sc.status.Progress = p
		sc.mu.Unlock()
		if sc.opts.Progress != nil {
			sc.opts.Progress(p)
		}
	}
	info, deleted, err := sc.st.BackupAndPrune(ctx, sc.sink, sc.opts.Retention, progress)
	end := clock.Now()
	log := sc.opts.Logger.With("sink", sc.name, "why", why)

	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.status.Running = false
	if err != nil && ctx.Err() != nil {
		// Shutting down (or the caller gave up): not a failure of the sink.
		log.Info("backup cancelled", "err", err)
		return info, err
	}
	if err != nil && !errors.Is(err, ErrPrune) {
		sc.status.LastError, sc.status.LastErrorAt = err, end
		sc.status.Failures++
		log.Error("backup failed", "err", err, "failures", sc.status.Failures)
		return info, err
	}
	sc.status.LastSuccess, sc.status.LastBackup = end, info
	sc.status.Failures = 0
	sc.status.Pruned += len(deleted)
	sc.status.PruneError = err
	log.Info("backup written", "name", info.Name, "entries", info.Entries, "bytes", info.Bytes,
		"took", end.Sub(start).Round(time.Millisecond), "pruned", len(deleted))
	if err != nil {
		log.Error("pruning old backups failed", "err", err)
	}
	return info, err
}

// Run takes scheduled backups until ctx ends, then returns ctx's error.
// The first is due Every after the newest backup already in the sink
// (now, if there is none or it is older than that).
func (sc *Scheduler) Run(ctx context.Context) error {
	clock := sc.opts.Clock
	next := clock.Now()
	if objs, err := sc.sink.List(ctx); err == nil {
		for _, o := range objs {
			if t, ok := backupTime(o.Name); ok && t.Add(sc.opts.Every).After(next) {
				next = t.Add(sc.opts.Every)
			}
		}
		if limit := clock.Now().Add(sc.opts.Every); next.After(limit) {
			next = limit // a backup from the future: the clock went back
		}
	} else if ctx.Err() == nil {
		sc.opts.Logger.Warn("listing existing backups failed; backing up now", "sink", sc.name, "err", err)
	}
	defer func() {
		sc.mu.Lock()
		sc.status.Next = time.Time{}
		sc.mu.Unlock()
	}()
	for {
		sc.mu.Lock()
		sc.status.Next = next
		sc.mu.Unlock()
		if d := next.Sub(clock.Now()); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-clock.After(d):
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		start := clock.Now()
		_, err := sc.backup(ctx, "scheduled")
		if err := ctx.Err(); err != nil {
			return err
		}
		now := clock.Now()
		if err != nil && !errors.Is(err, ErrPrune) {
			next = now.Add(sc.opts.RetryAfter)
		} else {
			next = start.Add(sc.opts.Every)
		}
		if next.Before(now) {
			next = now
		}
	}
}
