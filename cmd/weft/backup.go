package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"weft/store"
)

func init() { extraCommands = append(extraCommands, newBackupCmd) }

func newBackupCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "backup",
		Short: "Create, list and restore backups of the local store",
		Long: `Backups are timestamped, self-describing, checksummed files (format in
store/BACKUP.md). 'create' works on a data directory no other process holds;
a running daemon or relay takes its own backups while it keeps writing.`,
	}
	c.AddCommand(newBackupCreateCmd(), newBackupListCmd(), newBackupRestoreCmd())
	return c
}

func newBackupCreateCmd() *cobra.Command {
	var data, to string
	c := &cobra.Command{
		Use:   "create [--data DIR] --to DIR",
		Short: "Write a consistent backup of the whole store into a directory",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if to == "" {
				return withCode(2, errors.New("backup create: --to DIR is required"))
			}
			dir, err := dataDirFlag(data)
			if err != nil {
				return withCode(2, err)
			}
			if _, err := os.Stat(filepath.Join(dir, store.DBDirName)); err != nil {
				return withCode(2, fmt.Errorf("backup create: no store in %s", dir))
			}
			s, err := store.Open(dir, store.DefaultOptions())
			if err != nil {
				return withCode(2, fmt.Errorf("backup create: %w", err))
			}
			p := newProgress(c.ErrOrStderr(), "backup")
			info, err := s.Backup(contextOf(c), &store.DirSink{Dir: to}, p.report)
			p.done()
			if cerr := s.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return withCode(1, fmt.Errorf("backup create: %w", err))
			}
			fmt.Fprintf(c.OutOrStdout(), "wrote %s (%d entries, %s) to %s\n", info.Name, info.Entries, humanBytes(info.Bytes), to)
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "", "data directory (default $XDG_DATA_HOME/weft or ~/.local/share/weft)")
	c.Flags().StringVar(&to, "to", "", "directory to write the backup into (created if needed)")
	return c
}

func newBackupListCmd() *cobra.Command {
	var from string
	c := &cobra.Command{
		Use:   "list --from DIR",
		Short: "List the backups in a directory, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if from == "" {
				return withCode(2, errors.New("backup list: --from DIR is required"))
			}
			list, err := store.ListBackups(contextOf(c), &store.DirSink{Dir: from})
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
	c.Flags().StringVar(&from, "from", "", "directory holding backups")
	return c
}

func newBackupRestoreCmd() *cobra.Command {
	var from, at, data string
	var force bool
	c := &cobra.Command{
		Use:   "restore --from DIR --at TIMESTAMP|latest [--data DIR] [--force]",
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
				return withCode(2, errors.New("backup restore: --from DIR and --at TIMESTAMP|latest are required"))
			}
			dir, err := dataDirFlag(data)
			if err != nil {
				return withCode(2, err)
			}
			ctx := contextOf(c)
			sink := &store.DirSink{Dir: from}
			b, err := store.FindBackup(ctx, sink, at)
			if err != nil {
				return withCode(1, fmt.Errorf("backup restore: %w", err))
			}
			p := newProgress(c.ErrOrStderr(), "restore")
			info, err := store.Restore(ctx, sink, b.Name, dir, store.RestoreOptions{
				Force:    force,
				Progress: func(pass string, pr store.Progress) { p.pass = pass; p.report(pr) },
			})
			p.done()
			if err != nil {
				return withCode(1, fmt.Errorf("backup restore: %w", err))
			}
			fmt.Fprintf(c.OutOrStdout(), "restored %s (%d entries, %s, created %s) into %s\n", info.Name, info.Entries, humanBytes(info.Bytes), info.Created.Format(time.RFC3339), dir)
			return nil
		},
	}
	c.Flags().StringVar(&from, "from", "", "directory holding backups")
	c.Flags().StringVar(&at, "at", "", "which backup: latest, a timestamp or name from 'weft backup list', or an RFC 3339 time")
	c.Flags().StringVar(&data, "data", "", "data directory (default $XDG_DATA_HOME/weft or ~/.local/share/weft)")
	c.Flags().BoolVar(&force, "force", false, "replace a data directory that already holds a store (the old one is kept)")
	return c
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
