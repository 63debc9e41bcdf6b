package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"weft/internal/s3test"
	"weft/store"
)

// clearS3Env makes sure nothing from the outer environment leaks in.
func clearS3Env(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
		"AWS_DEFAULT_REGION", "WEFT_S3_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		t.Setenv(k, "")
	}
}

func docCount(t *testing.T, dir string) int {
	t.Helper()
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	docs, err := s.Docs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(docs)
}

func TestBackupCommandsS3(t *testing.T) {
	clearS3Env(t)
	srv := s3test.Start(t)
	srv.MakeBucket(t, "weft-cli")
	srv.SetEnv(t)
	dir, _ := makeStore(t)
	const url = "s3://weft-cli/relay"

	code, out, errs := runWeft(t, "backup", "create", "--data", dir, "--to", url)
	if code != 0 || !strings.HasPrefix(out, "wrote weft-backup-") || !strings.Contains(out, url) {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	// A second document, then a second backup.
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDoc(context.Background(), store.NewDocID(), "second"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if code, out, errs = runWeft(t, "backup", "create", "--data", dir, "--to", url+"/"); code != 0 {
		t.Fatalf("second create: %d %q %q", code, out, errs)
	}

	stamps := listBackups(t, url, 2)
	dst := restoreChecked(t, url, stamps[0])
	if n := docCount(t, dst); n != 1 {
		t.Fatalf("restored the first backup: %d documents, want 1", n)
	}
	latest := filepath.Join(t.TempDir(), "latest")
	if code, out, errs = runWeft(t, "backup", "restore", "--from", url, "--at", "latest", "--data", latest); code != 0 {
		t.Fatalf("restore latest: %d %q %q", code, out, errs)
	}
	if n := docCount(t, latest); n != 2 {
		t.Fatalf("restored the latest backup: %d documents, want 2", n)
	}

	// Retention through the CLI: keep the newest only.
	code, out, errs = runWeft(t, "backup", "create", "--data", dir, "--to", url, "--keep-last", "1")
	if code != 0 || !strings.Contains(out, "deleted 2 older backup(s)") {
		t.Fatalf("create --keep-last 1: %d %q %q", code, out, errs)
	}
	if _, out, _ = runWeft(t, "backup", "list", "--from", url); strings.Count(out, "weft-backup-") != 1 {
		t.Fatalf("after --keep-last 1: %q", out)
	}

	// A damaged object is refused and the target is not created.
	var key string
	for o := range srv.Client(t).ListObjects(context.Background(), "weft-cli", minio.ListObjectsOptions{Prefix: "relay/"}) {
		key = o.Key
	}
	b := srv.Get(t, "weft-cli", key)
	srv.Put(t, "weft-cli", key, b[:len(b)-7]) // truncated
	empty := filepath.Join(t.TempDir(), "x")
	code, _, errs = runWeft(t, "backup", "restore", "--from", url, "--at", "latest", "--data", empty)
	if code != 1 || !strings.Contains(errs, "bad backup") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("truncated backup: %d %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(empty, store.DBDirName)); err == nil {
		t.Fatal("truncated backup restored")
	}
}

func TestBackupS3Errors(t *testing.T) {
	clearS3Env(t)
	dir, _ := makeStore(t)
	oneLine := func(t *testing.T, code, want int, errs string, words ...string) {
		t.Helper()
		if code != want || strings.Count(errs, "\n") != 1 {
			t.Fatalf("exit %d (want %d), stderr %q: want one line", code, want, errs)
		}
		for _, w := range words {
			if !strings.Contains(errs, w) {
				t.Fatalf("stderr %q lacks %q", errs, w)
			}
		}
	}
	code, _, errs := runWeft(t, "backup", "create", "--data", dir, "--to", "s3://Bad_Bucket/x")
	oneLine(t, code, 2, errs, "bad bucket name")
	code, _, errs = runWeft(t, "backup", "list", "--from", "gs://bucket/x")
	oneLine(t, code, 2, errs, "s3://BUCKET/PREFIX")
	code, _, errs = runWeft(t, "backup", "list", "--from", "s3://weft-cli/x")
	oneLine(t, code, 2, errs, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
	code, _, errs = runWeft(t, "backup", "create", "--data", dir, "--to", t.TempDir(), "--keep-last", "-1")
	oneLine(t, code, 2, errs, "--keep-last")

	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	t.Setenv("WEFT_S3_ENDPOINT", "127.0.0.1:9000")
	code, _, errs = runWeft(t, "backup", "list", "--from", "s3://weft-cli/x")
	oneLine(t, code, 2, errs, "endpoint", "http://")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEFT_S3_ENDPOINT", "http://"+ln.Addr().String())
	ln.Close() // nothing listens there now
	code, _, errs = runWeft(t, "backup", "restore", "--from", "s3://weft-cli/x", "--at", "latest", "--data", t.TempDir())
	oneLine(t, code, 1, errs, "unreachable", ln.Addr().String())

	srv := s3test.Start(t)
	srv.SetEnv(t)
	code, _, errs = runWeft(t, "backup", "create", "--data", dir, "--to", "s3://no-such-bucket/x")
	oneLine(t, code, 1, errs, "bucket", "no-such-bucket", "not found")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	srv.MakeBucket(t, "weft-cli")
	code, _, errs = runWeft(t, "backup", "list", "--from", "s3://weft-cli/x")
	oneLine(t, code, 1, errs, "denied")
}
