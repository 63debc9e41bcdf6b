package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"

	"weft/api"
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

// `weft backup create` on a data directory a daemon holds asks the daemon
// (through its API) and gets a backup of what it has, taken while it
// runs; restoring it gives a store `weft check` passes with the
// document's text. Restoring into the held directory is refused in one
// line. A daemon with --backup-to takes scheduled backups itself and
// reports their health.
func TestBackupThroughRunningDaemon(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	scheduled := t.TempDir()
	cl := runTestDaemon(t, dir, func(c *daemonConfig) {
		c.backups = backupSchedule{to: scheduled, every: time.Hour, keepLast: 5}
	})
	var doc api.DocInfo
	if err := cl.call(ctx, "POST", "/api/docs", map[string]string{"title": "backed up"}, &doc); err != nil {
		t.Fatal(err)
	}
	if err := cl.call(ctx, "POST", "/api/docs/"+doc.ID+"/edits", map[string]any{"edits": []api.Edit{{Ins: "hello"}, {Pos: 5, Ins: " world"}}}, nil); err != nil {
		t.Fatal(err)
	}

	// A relative --to is the caller's directory, not the daemon's.
	t.Chdir(t.TempDir())
	code, out, errs := runWeft(t, "backup", "create", "--data", dir, "--to", "bk")
	if code != 0 || !strings.HasPrefix(out, "wrote weft-backup-") || !strings.Contains(out, " to ") || errs != "" {
		t.Fatalf("create through the daemon: %d %q %q", code, out, errs)
	}
	bdir, _ := filepath.Abs("bk")
	stamps := listBackups(t, bdir, 1)

	code, _, errs = runWeft(t, "backup", "restore", "--from", bdir, "--at", "latest", "--data", dir, "--force")
	if code == 0 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "in use") || !strings.Contains(errs, "stop it first") {
		t.Fatalf("restore into a running daemon's directory: %d %q", code, errs)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if code, out, errs := runWeft(t, "backup", "restore", "--from", bdir, "--at", stamps[0], "--data", dst); code != 0 {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	if code, out, _ := runWeft(t, "check", "--data", dst); code != 0 || !strings.Contains(out, "checked 1 documents") || !strings.Contains(out, "healthy") {
		t.Fatalf("check the restored store: %d %q", code, out)
	}
	// The backup holds the store, not the device's key: the same device
	// reads its documents again with its identity.key.
	key, err := os.ReadFile(filepath.Join(dir, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "identity.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := runTestDaemon(t, dst)
	var text string
	if b, err := restored.do(ctx, "GET", "/api/docs/"+doc.ID+"/text", nil, 1<<20); err != nil {
		t.Fatal(err)
	} else {
		text = string(b)
	}
	if text != "hello world" {
		t.Fatalf("restored text %q", text)
	}

	// The API refuses what cannot be a destination, in JSON.
	var re *apiReplyError
	if err := cl.call(ctx, "POST", "/api/backups", api.BackupRequest{To: "relative"}, nil); !errors.As(err, &re) || re.Status != 400 || !strings.Contains(re.Reply.Error, "absolute") {
		t.Fatalf("relative destination: %v", err)
	}
	if err := cl.call(ctx, "POST", "/api/backups", api.BackupRequest{To: "ftp://x/y"}, nil); !errors.As(err, &re) || re.Status != 400 {
		t.Fatalf("unknown scheme: %v", err)
	}
	code, _, errs = runWeft(t, "backup", "create", "--data", dir, "--to", "s3://x")
	if code != 2 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "bucket") {
		t.Fatalf("bad bucket through the daemon: %d %q", code, errs)
	}

	// The scheduled backup: taken at start (the directory had none), and
	// the health check that watches it passes.
	rep := waitReadyz(t, cl, http.StatusOK)
	if c, ok := rep.Checks["backups"]; !ok || !c.OK {
		t.Fatalf("backups check: %+v", rep.Checks)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		es, _ := filepath.Glob(filepath.Join(scheduled, "weft-backup-*.wbk"))
		if len(es) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no scheduled backup after 30s")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	// On demand into the scheduled destination goes through the scheduler.
	var info api.BackupInfo
	if err := cl.call(ctx, "POST", "/api/backups", api.BackupRequest{To: scheduled, KeepLast: 5}, &info); err != nil {
		t.Fatal(err)
	}
	if info.Docs != 1 || info.To != scheduled || info.Entries == 0 || info.Created.IsZero() {
		t.Fatalf("on-demand backup %+v", info)
	}
}

// A store held by a process that announces no API (a relay, a running
// check) cannot be backed up from outside: one line says so and what a
// relay does instead.
func TestBackupCreateHeldWithoutDaemon(t *testing.T) {
	dir, _ := makeStore(t)
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, out, errs := runWeft(t, "backup", "create", "--data", dir, "--to", t.TempDir())
	if code != 1 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "in use") || !strings.Contains(errs, "no daemon API") || !strings.Contains(errs, "--backup-to") {
		t.Fatalf("held without a daemon: %d %q %q", code, out, errs)
	}
}
