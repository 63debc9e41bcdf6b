package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrPrune: a backup was written but deleting old backups failed. The
// error names the backup that failed to go; nothing else was lost.
var ErrPrune = errors.New("store: pruning old backups failed")

// Retention says which backups PruneBackups keeps. The zero value keeps
// everything (pruning off).
//
// Only backups that Backup wrote without a label are ever deleted:
// labelled ones (the pre-migration backups) and objects whose names do
// not parse are left alone. The backup just written is always kept, and
// so is every backup whose time is after now (a clock that went back).
type Retention struct {
	// KeepLast keeps the N newest backups. DefaultRetention: 24 (a day of
	// hourly backups).
	KeepLast int
	// KeepDaily keeps, for each of the last M days (UTC calendar days,
	// today included), the newest backup taken that day. DefaultRetention:
	// 30.
	KeepDaily int
}

// DefaultRetention keeps the last 24 backups and one a day for 30 days.
func DefaultRetention() Retention { return Retention{KeepLast: 24, KeepDaily: 30} }

// Enabled reports whether r deletes anything at all.
func (r Retention) Enabled() bool { return r.KeepLast > 0 || r.KeepDaily > 0 }

func (r Retention) validate() error {
	if r.KeepLast < 0 || r.KeepDaily < 0 || r.KeepLast > 100_000 || r.KeepDaily > 100_000 {
		return fmt.Errorf("%w: retention keep-last %d, keep-daily %d (want 0 to 100000; 0 and 0 keep everything)", ErrInvalid, r.KeepLast, r.KeepDaily)
	}
	return nil
}

// String describes r for logs and messages.
func (r Retention) String() string {
	if !r.Enabled() {
		return "keep all"
	}
	return fmt.Sprintf("keep last %d, daily for %d days", r.KeepLast, r.KeepDaily)
}

// DeleteSink is a Sink that can delete backups; pruning needs it. DirSink
// and S3Sink are both.
type DeleteSink interface {
	Sink
	// Delete removes a committed backup. Deleting a missing one is not an
	// error.
	Delete(ctx context.Context, name string) error
}

var (
	_ DeleteSink = (*DirSink)(nil)
	_ DeleteSink = (*S3Sink)(nil)
)

// Delete removes the backup file name (DeleteSink).
func (d *DirSink) Delete(ctx context.Context, name string) error {
	if err := checkSinkName(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: delete backup: %w", err)
	}
	return syncDir(d.Dir)
}

// backupTime returns the time in the name of an unlabelled backup.
func backupTime(name string) (time.Time, bool) {
	if !isBackupName(name) {
		return time.Time{}, false
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(name, backupPrefix), backupExt)
	if len(stamp) != len(backupTimeFmt) {
		return time.Time{}, false // labelled, or not ours
	}
	t, err := time.Parse(backupTimeFmt, stamp)
	if err != nil || backupName(t, "") != name {
		return time.Time{}, false
	}
	return t, true
}

// pruneSet returns, of names, those r deletes as of now; keep is never
// among them. Pure: the policy, without a sink.
func (r Retention) pruneSet(names []string, now time.Time, keep string) []string {
	if !r.Enabled() {
		return nil
	}
	type cand struct {
		name string
		t    time.Time
	}
	var cands []cand
	for _, n := range names {
		if t, ok := backupTime(n); ok {
			cands = append(cands, cand{n, t})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].t.After(cands[j].t) }) // newest first
	now = now.UTC()
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	oldestDay := today.AddDate(0, 0, -(r.KeepDaily - 1))
	days := map[time.Time]bool{}
	var out []string
	for i, c := range cands {
		y, m, d := c.t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		daily := r.KeepDaily > 0 && !day.Before(oldestDay) && !days[day]
		if daily {
			days[day] = true
		}
		if c.name == keep || c.t.After(now) || i < r.KeepLast || daily {
			continue
		}
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// PruneBackups deletes the backups in sink that r does not keep as of now
// (see Retention), never the one named keep (pass the backup just written,
// or ""). It returns the names it deleted, oldest first. It decides from
// names alone, reading no backup. A failed delete stops it with ErrPrune.
func PruneBackups(ctx context.Context, sink Sink, r Retention, now time.Time, keep string) ([]string, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	if !r.Enabled() {
		return nil, nil
	}
	ds, ok := sink.(DeleteSink)
	if !ok {
		return nil, fmt.Errorf("%w: this backup sink cannot delete backups", ErrPrune)
	}
	objs, err := sink.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPrune, err)
	}
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.Name
	}
	var deleted []string
	for _, n := range r.pruneSet(names, now, keep) {
		if err := ds.Delete(ctx, n); err != nil {
			return deleted, fmt.Errorf("%w: %s: %w", ErrPrune, n, err)
		}
		deleted = append(deleted, n)
	}
	return deleted, nil
}

// BackupAndPrune takes a backup (Backup) and then, if it succeeded,
// applies r (PruneBackups as of the backup's time, keeping it). A failed
// prune returns the written backup's info with an ErrPrune error.
func (s *Store) BackupAndPrune(ctx context.Context, sink Sink, r Retention, progress func(Progress)) (BackupInfo, []string, error) {
	if err := r.validate(); err != nil {
		return BackupInfo{}, nil, err
	}
	info, err := s.Backup(ctx, sink, progress)
	if err != nil {
		return info, nil, err
	}
	deleted, err := PruneBackups(ctx, sink, r, info.Created, info.Name)
	return info, deleted, err
}
