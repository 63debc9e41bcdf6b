package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"weft/api"
	"weft/obs"
	"weft/replica"
	"weft/store"
)

func newBackupCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "backup",
		Short: "Create, list and restore backups of the local store",
		Long: `Backups are timestamped, self-describing, checksummed files (format in
store/BACKUP.md). 'create' works whether or not a daemon runs: when a
daemon holds the data directory, it asks that daemon (through its local
API, found in api.json) for the backup, which it takes while it keeps
writing; otherwise it reads the store itself. A relay takes its own backups
(weft relay --backup-to), as a daemon can (weft daemon --backup-to).
'restore' needs a data directory that no process holds.

Backups go to a directory or to an S3-compatible bucket, s3://BUCKET/PREFIX.
For a bucket, credentials come from AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), the region from AWS_REGION,
and a server other than Amazon S3 from WEFT_S3_ENDPOINT (or
AWS_ENDPOINT_URL), for example http://127.0.0.1:7070. A backup taken by a
running daemon uses the daemon's environment for these, not the caller's.`,
	}
	c.AddCommand(newBackupCreateCmd(), newBackupListCmd(), newBackupRestoreCmd())
	return c
}

func newBackupCreateCmd() *cobra.Command {
	var data, to string
	var keep store.Retention
	c := &cobra.Command{
		Use:   "create [--data DIR] --to DIR|s3://BUCKET/PREFIX [--keep-last N] [--keep-daily M]",
		Short: "Write a consistent backup of the whole store into a directory or bucket",
		Long: `Create writes a consistent backup of the whole store. With --keep-last or
--keep-daily it then deletes older backups there: it keeps the N newest and
the newest of each of the last M days (UTC), never the one just written, and
never labelled backups (such as pre-migration ones) or other files. Without
them nothing is deleted. For the s3:// settings see 'weft backup --help'.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if to == "" {
				return withCode(2, errors.New("backup create: --to DIR|s3://BUCKET/PREFIX is required"))
			}
			if keep.KeepLast < 0 || keep.KeepDaily < 0 || keep.KeepLast > 100_000 || keep.KeepDaily > 100_000 {
				return withCode(2, errors.New("backup create: --keep-last and --keep-daily take 0 to 100000"))
			}
			dir, err := dataDirFlag(data)
			if err != nil {
				return withCode(2, err)
			}
			if _, err := os.Stat(filepath.Join(dir, store.DBDirName)); err != nil {
				return withCode(2, fmt.Errorf("backup create: no store in %s", dir))
			}
			ctx := contextOf(c)
			s, err := store.Open(dir, store.DefaultOptions())
			if errors.Is(err, store.ErrLocked) {
				return backupThroughDaemon(ctx, c.OutOrStdout(), dir, to, keep, err)
			}
			if err != nil {
				return withCode(2, fmt.Errorf("backup create: %w", err))
			}
			sink, err := openSink(ctx, to)
			if err != nil {
				s.Close()
				return sinkError("backup create", err)
			}
			p := newProgress(c.ErrOrStderr(), "backup")
			info, pruned, err := s.BackupAndPrune(ctx, sink, keep, p.report)
			p.done()
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			if info.Name != "" && (err == nil || errors.Is(err, store.ErrPrune)) {
				fmt.Fprintf(c.OutOrStdout(), "wrote %s (%d entries, %s) to %s\n", info.Name, info.Entries, humanBytes(info.Bytes), to)
				if len(pruned) > 0 {
					fmt.Fprintf(c.OutOrStdout(), "deleted %d older backup(s) (%s)\n", len(pruned), keep)
				}
			}
			if err != nil {
				return withCode(1, fmt.Errorf("backup create: %w", err))
			}
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "", "data directory (default $XDG_DATA_HOME/weft or ~/.local/share/weft)")
	c.Flags().StringVar(&to, "to", "", "directory (created if needed) or s3://BUCKET/PREFIX to write the backup into")
	c.Flags().IntVar(&keep.KeepLast, "keep-last", 0, "after the backup, keep only the N newest backups there (plus --keep-daily); 0 with --keep-daily 0 deletes nothing")
	c.Flags().IntVar(&keep.KeepDaily, "keep-daily", 0, "after the backup, also keep the newest backup of each of the last M days (UTC)")
	return c
}

// backupThroughDaemon asks the daemon that holds dir (locked: the error
// store.Open gave) for a backup to to, and prints what it wrote as a
// direct backup does.
func backupThroughDaemon(ctx context.Context, out io.Writer, dir, to string, keep store.Retention, locked error) error {
	cl, err := dialDaemon(dir)
	if err != nil {
		return withCode(1, fmt.Errorf("backup create: %v, and no daemon API is announced there (a relay takes its own backups: weft relay --backup-to)", locked))
	}
	if !strings.HasPrefix(to, "s3:") {
		if strings.Contains(to, "://") {
			return sinkError("backup create", fmt.Errorf("%w: %q: want a directory or s3://BUCKET/PREFIX", store.ErrS3Config, to))
		}
		if to, err = filepath.Abs(to); err != nil { // the daemon runs elsewhere
			return withCode(2, fmt.Errorf("backup create: --to: %w", err))
		}
	}
	var info api.BackupInfo
	err = cl.call(ctx, "POST", "/api/backups", api.BackupRequest{To: to, KeepLast: keep.KeepLast, KeepDaily: keep.KeepDaily}, &info)
	var re *apiReplyError
	switch {
	case errors.As(err, &re) && re.Status == http.StatusNotFound && re.Reply.Code == "not_found":
		return withCode(1, fmt.Errorf("backup create: the daemon at %s takes no backups through its API (an older version); stop it, or upgrade it", cl.base))
	case errors.As(err, &re) && re.Status == http.StatusBadRequest:
		return withCode(2, fmt.Errorf("backup create: %s", re.msg))
	case err != nil:
		return withCode(1, fmt.Errorf("backup create: %w", err))
	}
	fmt.Fprintf(out, "wrote %s (%d entries, %s) to %s\n", info.Name, info.Entries, humanBytes(info.Bytes), to)
	if len(info.Pruned) > 0 {
		fmt.Fprintf(out, "deleted %d older backup(s) (%s)\n", len(info.Pruned), keep)
	}
	if info.PruneError != "" {
		return withCode(1, fmt.Errorf("backup create: %s", oneLine(info.PruneError)))
	}
	return nil
}

func newBackupListCmd() *cobra.Command {
	var from string
	c := &cobra.Command{
		Use:   "list --from DIR|s3://BUCKET/PREFIX",
		Short: "List the backups in a directory or bucket, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" {
				return withCode(2, errors.New("backup list: --from DIR|s3://BUCKET/PREFIX is required"))
			}
			ctx := contextOf(c)
			sink, err := openSink(ctx, from)
			if err != nil {
				return sinkError("backup list", err)
			}
			list, err := store.ListBackups(ctx, sink)
			if err != nil {
				return withCode(1, fmt.Errorf("backup list: %w", err))
			}
			if len(list) == 0 {
				fmt.Fprintf(c.OutOrStdout(), "no backups in %s\n", from)
				return nil
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIMESTAMP\tCREATED\tSCHEMA\tSIZE\tNAME")
			for _, b := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", b.Created.Format("20060102T150405.000000000Z"), b.Created.Format(time.RFC3339), b.Schema, humanBytes(uint64(b.Size)), b.Name)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&from, "from", "", "directory or s3://BUCKET/PREFIX holding backups")
	return c
}

func newBackupRestoreCmd() *cobra.Command {
	var from, at, data string
	var force bool
	c := &cobra.Command{
		Use:   "restore --from DIR|s3://BUCKET/PREFIX --at TIMESTAMP|latest [--data DIR] [--force]",
		Short: "Restore a backup into an empty data directory (verifying it first)",
		Long: `Restore reads the whole backup and verifies every checksum before touching
the data directory, then writes a new database beside it and moves it into
place. --at takes 'latest', a TIMESTAMP or NAME from 'weft backup list', or an
RFC 3339 time (the latest backup at or before it). A data directory that
already holds a store is replaced only with --force; the old database is kept
beside it as db.replaced-<time>.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" || at == "" {
				return withCode(2, errors.New("backup restore: --from DIR|s3://BUCKET/PREFIX and --at TIMESTAMP|latest are required"))
			}
			dir, err := dataDirFlag(data)
			if err != nil {
				return withCode(2, err)
			}
			ctx := contextOf(c)
			sink, err := openSink(ctx, from)
			if err != nil {
				return sinkError("backup restore", err)
			}
			b, err := store.FindBackup(ctx, sink, at)
			if err != nil {
				return withCode(1, fmt.Errorf("backup restore: %w", err))
			}
			p := newProgress(c.ErrOrStderr(), "restore")
			info, err := store.Restore(ctx, sink, b.Name, dir, store.RestoreOptions{
				Force:    force,
				Progress: func(pass string, pr store.Progress) { p.pass = pass; p.report(pr) },
				Check:    replica.NewRestoreCheck(),
			})
			p.done()
			if errors.Is(err, store.ErrLocked) {
				return withCode(1, fmt.Errorf("backup restore: %w; stop it first (a restore replaces the whole store, which a running daemon would not see)", err))
			}
			if err != nil {
				return withCode(1, fmt.Errorf("backup restore: %w", err))
			}
			fmt.Fprintf(c.OutOrStdout(), "restored %s (%d entries, %s, created %s) into %s\n", info.Name, info.Entries, humanBytes(info.Bytes), info.Created.Format(time.RFC3339), dir)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "directory or s3://BUCKET/PREFIX holding backups")
	c.Flags().StringVar(&at, "at", "", "which backup: latest, a timestamp or name from 'weft backup list', or an RFC 3339 time")
	c.Flags().StringVar(&data, "data", "", "data directory (default $XDG_DATA_HOME/weft or ~/.local/share/weft)")
	c.Flags().BoolVar(&force, "force", false, "replace a data directory that already holds a store (the old one is kept)")
	return c
}

// openSink returns the backup sink spec names: s3://BUCKET/PREFIX (checked:
// the endpoint answers and the bucket exists; settings from the
// environment, see 'weft backup --help') or a directory.
func openSink(ctx context.Context, spec string) (store.Sink, error) {
	if strings.HasPrefix(spec, "s3:") {
		s, err := store.NewS3Sink(spec, store.S3OptionsFromEnv(os.Getenv))
		if err != nil {
			return nil, err
		}
		if err := s.Check(ctx); err != nil {
			return nil, err
		}
		return s, nil
	}
	if strings.Contains(spec, "://") {
		return nil, fmt.Errorf("%w: %q: want a directory or s3://BUCKET/PREFIX", store.ErrS3Config, spec)
	}
	return &store.DirSink{Dir: spec}, nil
}

// sinkError is openSink's error for cmd: a configuration mistake is a usage
// error (2), a server that fails or refuses is 1.
func sinkError(cmd string, err error) error {
	if errors.Is(err, store.ErrS3Config) {
		return withCode(2, fmt.Errorf("%s: %w", cmd, err))
	}
	return withCode(1, fmt.Errorf("%s: %w", cmd, err))
}

// progress prints one line on w at most once a second, starting only after
// the first second (small stores print nothing).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	what    string
	pass    string
	start   time.Time
	last    time.Time
	printed bool
}

func newProgress(w io.Writer, what string) *progress {
	now := time.Now()
	return &progress{w: w, what: what, start: now, last: now}
}

func (p *progress) report(pr store.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	p.printed = true
	label := p.what
	if p.pass != "" {
		label += " (" + p.pass + ")"
	}
	rate := float64(pr.Bytes) / now.Sub(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%s: %d entries, %s, %s/s   ", label, pr.Entries, humanBytes(pr.Bytes), humanBytes(uint64(rate)))
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.printed {
		fmt.Fprintln(p.w)
	}
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// backupSchedule is a long-running node's backup settings, the relay's
// and the daemon's alike (--backup-to, --backup-every, --keep-last,
// --keep-daily); start runs a store.Scheduler (one backup at a time,
// retention after each, status for the "backups" health check).
type backupSchedule struct {
	to       string
	every    time.Duration
	keepLast int
	keepDays int

	sched *store.Scheduler
}

func (b *backupSchedule) validate() error {
	switch {
	case b.to == "" && b.every != 0:
		return errors.New("--backup-every needs --backup-to")
	case b.to != "" && b.every == 0:
		b.every = time.Hour
	case b.every < 0 || (b.to != "" && b.every < time.Minute):
		return fmt.Errorf("--backup-every %s: at least a minute", b.every)
	}
	if b.keepLast < 0 || b.keepDays < 0 {
		return errors.New("--keep-last and --keep-daily must not be negative")
	}
	if b.to != "" && !strings.HasPrefix(b.to, "s3:") {
		// The node may run from another directory than its config names.
		abs, err := filepath.Abs(b.to)
		if err != nil {
			return fmt.Errorf("--backup-to %s: %w", b.to, err)
		}
		b.to = abs
	}
	return nil
}

// start runs scheduled backups until ctx ends or the returned func is
// called, which stops them and waits for a backup in progress to stop
// (on every return path of the caller, not only at shutdown).
func (b *backupSchedule) start(ctx context.Context, st *store.Store, log *slog.Logger) (func(), error) {
	if b.to == "" {
		return func() {}, nil
	}
	sink, err := openSink(ctx, b.to)
	if err != nil {
		return nil, withCode(2, fmt.Errorf("--backup-to: %w", err))
	}
	ctx, cancel := context.WithCancel(ctx)
	so := store.DefaultSchedulerOptions()
	so.Every = b.every
	so.Retention = store.Retention{KeepLast: b.keepLast, KeepDaily: b.keepDays}
	so.Logger = log.With("part", "backup")
	sc, err := store.NewScheduler(st, sink, so)
	if err != nil {
		cancel()
		return nil, err
	}
	b.sched = sc
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sc.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("backup scheduler stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// addCheck adds the "backups" health check (the last scheduled backup
// succeeded and is recent) when backups are scheduled.
func (b *backupSchedule) addCheck(h *obs.Health) error {
	sc := b.sched
	if sc == nil {
		return nil
	}
	return h.Add("backups", func(context.Context) (any, error) {
		return sc.Status(), sc.Healthy()
	}, obs.CheckOptions{Timeout: time.Second})
}

// backupNow is POST /api/backups on a running daemon: a backup of st to
// req.To, with the daemon's own S3 settings. A backup to the scheduled
// sink with the scheduled retention goes through the scheduler, so that
// it waits for a scheduled one in progress and its status sees it.
func (b *backupSchedule) backupNow(ctx context.Context, st *store.Store, req api.BackupRequest) (api.BackupInfo, error) {
	to := req.To
	if !strings.HasPrefix(to, "s3:") && !filepath.IsAbs(to) {
		return api.BackupInfo{}, fmt.Errorf("%w: backup to %q: want an absolute directory or s3://BUCKET/PREFIX", api.ErrBadInput, to)
	}
	if !strings.HasPrefix(to, "s3:") {
		to = filepath.Clean(to)
	}
	keep := store.Retention{KeepLast: req.KeepLast, KeepDaily: req.KeepDaily}
	var info store.BackupInfo
	var pruned []string
	var err error
	if sc := b.sched; sc != nil && to == b.to && keep == (store.Retention{KeepLast: b.keepLast, KeepDaily: b.keepDays}) {
		info, err = sc.BackupNow(ctx) // it logs what it pruned, and does not name it
	} else {
		var sink store.Sink
		if sink, err = openSink(ctx, to); err != nil {
			if errors.Is(err, store.ErrS3Config) {
				err = fmt.Errorf("%w: %v", api.ErrBadInput, err)
			}
			return api.BackupInfo{}, err
		}
		info, pruned, err = st.BackupAndPrune(ctx, sink, keep, nil)
	}
	out := api.BackupInfo{Name: info.Name, To: to, Created: info.Created, Docs: info.Docs, Entries: info.Entries, Bytes: info.Bytes, Pruned: pruned}
	switch {
	case errors.Is(err, store.ErrPrune):
		out.PruneError = err.Error()
	case err != nil:
		return api.BackupInfo{}, fmt.Errorf("backup to %s: %w", to, err)
	}
	return out, nil
}
