package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"

	"weft/store"
)

// corruptValue flips one byte in the middle of key's stored value, the way
// a bad sector would.
func corruptValue(t *testing.T, dir, key string) {
	t.Helper()
	d, err := badger4.NewDatastore(filepath.Join(dir, store.DBDirName), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	v, err := d.Get(ctx, ds.RawKey(key))
	if err != nil {
		t.Fatal(err)
	}
	v[len(v)/2] ^= 0x20
	if err := d.Put(ctx, ds.RawKey(key), v); err != nil {
		t.Fatal(err)
	}
}

// listBackups runs `weft backup list` on from and returns the timestamps
// of the want backups it lists, oldest first.
func listBackups(t *testing.T, from string, want int) []string {
	t.Helper()
	code, out, _ := runWeft(t, "backup", "list", "--from", from)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != want+1 || !strings.HasPrefix(lines[0], "TIMESTAMP") {
		t.Fatalf("list: %d %q", code, out)
	}
	var stamps []string
	for _, l := range lines[1:] {
		stamps = append(stamps, strings.Fields(l)[0])
	}
	return stamps
}

// restoreChecked restores the backup at stamp from from into a new data
// directory, which `weft check` must find healthy (makeStore's one
// document), and returns it.
func restoreChecked(t *testing.T, from, stamp string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	code, out, errs := runWeft(t, "backup", "restore", "--from", from, "--at", stamp, "--data", dst)
	if code != 0 || !strings.HasPrefix(out, "restored ") {
		t.Fatalf("restore --at %s: %d %q %q", stamp, code, out, errs)
	}
	code, out, _ = runWeft(t, "check", "--data", dst)
	if code != 0 || !strings.Contains(out, "checked 1 documents, 3 transactions: healthy") {
		t.Fatalf("check restored: %d %q", code, out)
	}
	return dst
}

func TestBackupCommands(t *testing.T) {
	dir, id := makeStore(t)
	bdir := t.TempDir()
	code, out, errs := runWeft(t, "backup", "create", "--data", dir, "--to", bdir)
	if code != 0 || !strings.HasPrefix(out, "wrote weft-backup-") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	stamps := listBackups(t, bdir, 1)
	dst := restoreChecked(t, bdir, stamps[0])
	s, err := store.Open(dst, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Meta(context.Background(), id); err != nil || m.Title != "cli" {
		t.Fatalf("restored meta %+v %v", m, err)
	}
	s.Close()

	code, _, errs = runWeft(t, "backup", "restore", "--from", bdir, "--at", "latest", "--data", dst)
	if code != 1 || !strings.Contains(errs, "--force") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("restore over data without --force: %d %q", code, errs)
	}
	code, _, errs = runWeft(t, "backup", "restore", "--from", bdir, "--at", "latest", "--data", dst, "--force")
	if code != 0 {
		t.Fatalf("restore --force: %d %q", code, errs)
	}
	code, _, errs = runWeft(t, "backup", "restore", "--from", bdir, "--at", "19990101T000000.000000000Z", "--data", t.TempDir())
	if code != 1 || !strings.Contains(errs, "no backup") {
		t.Fatalf("unknown timestamp: %d %q", code, errs)
	}
	code, _, errs = runWeft(t, "backup", "create", "--data", dir)
	if code != 2 || !strings.Contains(errs, "--to") {
		t.Fatalf("missing --to: %d %q", code, errs)
	}
	// A damaged backup is refused before anything is written.
	files, _ := filepath.Glob(filepath.Join(bdir, "weft-backup-*.wbk"))
	b, _ := os.ReadFile(files[0])
	b[len(b)/2] ^= 1
	os.WriteFile(files[0], b, 0o600)
	empty := filepath.Join(t.TempDir(), "x")
	code, _, errs = runWeft(t, "backup", "restore", "--from", bdir, "--at", "latest", "--data", empty)
	if code != 1 || !strings.Contains(errs, "bad backup") {
		t.Fatalf("damaged backup: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(empty, store.DBDirName)); err == nil {
		t.Fatal("damaged backup restored")
	}
}
