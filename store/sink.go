package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Sink is where backups go: a directory now, an S3-compatible bucket later.
// Names are chosen by the store (see backupName) and are plain file names.
type Sink interface {
	// Create starts writing a new backup. Nothing is visible to List or
	// Open until Commit returns; Abort discards it.
	Create(ctx context.Context, name string) (SinkWriter, error)
	// List returns the committed backups' names and sizes.
	List(ctx context.Context) ([]SinkObject, error)
	// Open reads a committed backup.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

// SinkWriter receives one backup's bytes.
type SinkWriter interface {
	io.Writer
	// Commit makes the backup durable and visible.
	Commit() error
	// Abort discards it. Safe after Commit (then a no-op).
	Abort() error
}

// SinkObject names one stored backup.
type SinkObject struct {
	Name string
	Size int64
}

// DirSink stores backups as files in a local directory (created on first
// use). A backup is written to a hidden temporary file, fsynced, and renamed
// into place, so a crash never leaves a half-written backup under a real
// name.
type DirSink struct{ Dir string }

func (d *DirSink) Create(ctx context.Context, name string) (SinkWriter, error) {
	if err := checkSinkName(name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: backup directory: %w", err)
	}
	final := filepath.Join(d.Dir, name)
	if _, err := os.Stat(final); err == nil {
		return nil, fmt.Errorf("store: backup %s already exists", final)
	}
	tmp := filepath.Join(d.Dir, "."+name+".partial")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: create backup file: %w", err)
	}
	return &dirWriter{f: f, tmp: tmp, final: final, dir: d.Dir}, nil
}

func (d *DirSink) List(ctx context.Context) ([]SinkObject, error) {
	ents, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, fmt.Errorf("store: list backups: %w", err)
	}
	var out []SinkObject
	for _, e := range ents {
		if e.Type().IsRegular() && isBackupName(e.Name()) {
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			out = append(out, SinkObject{Name: e.Name(), Size: info.Size()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *DirSink) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkSinkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("store: open backup: %w", err)
	}
	return f, nil
}

func checkSinkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w: backup name %q", ErrInvalid, name)
	}
	return nil
}

type dirWriter struct {
	f               *os.File
	tmp, final, dir string
	done            bool
}

func (w *dirWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *dirWriter) Commit() error {
	if w.done {
		return fmt.Errorf("store: backup already finished")
	}
	w.done = true
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(w.tmp)
		return fmt.Errorf("store: sync backup: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("store: close backup: %w", err)
	}
	if err := os.Rename(w.tmp, w.final); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("store: publish backup: %w", err)
	}
	return syncDir(w.dir)
}

func (w *dirWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.tmp)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync directory %s: %w", dir, err)
	}
	return nil
}
