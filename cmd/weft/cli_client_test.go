package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"weft/api"
	"weft/ui"
	"weft/ui/uitest"
)

const cliToken = "cli-test-token-0123456789"

// fakeDaemon is the ui server over a fake backend, announced through an
// api.json in a data directory, as `weft daemon` would.
type fakeDaemon struct {
	fake *uitest.Fake
	dir  string
	url  string
}

// startFakeDaemon starts a fakeDaemon; opts change the ui server's options
// (e.g. to serve more routes).
func startFakeDaemon(t *testing.T, opts ...func(*ui.Options)) *fakeDaemon {
	t.Helper()
	fake := uitest.New()
	o := ui.DefaultOptions()
	o.Addr = "127.0.0.1:0"
	o.Token = cliToken
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, f := range opts {
		f(&o)
	}
	s, err := ui.New(fake, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := writeAPIInfo(dir, apiInfo{API: srv.URL, Token: cliToken, PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	return &fakeDaemon{fake: fake, dir: dir, url: srv.URL}
}

// cli runs weft in-process with --data DIR after the first word.
func (d *fakeDaemon) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return cliIn(t, d.dir, args...)
}

func cliIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	full := append([]string{args[0], "--data=" + dir}, args[1:]...)
	var out, errb bytes.Buffer
	code := run(full, &out, &errb)
	return code, out.String(), errb.String()
}

// ok runs a command that must succeed and returns its stdout.
func (d *fakeDaemon) ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := d.cli(t, args...)
	if code != 0 || errs != "" {
		t.Fatalf("weft %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
	}
	return out
}

// fails runs a command that must fail with code and exactly one line on
// stderr containing want; stdout must be empty.
func fails(t *testing.T, code int, want string, gotCode int, out, errs string) {
	t.Helper()
	if gotCode != code {
		t.Errorf("exit %d, want %d (stderr %q)", gotCode, code, errs)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if !strings.HasPrefix(errs, "weft: ") || strings.Count(errs, "\n") != 1 || !strings.HasSuffix(errs, "\n") {
		t.Errorf("stderr %q, want one line starting with \"weft: \"", errs)
	}
	if !strings.Contains(errs, want) {
		t.Errorf("stderr %q, want it to contain %q", errs, want)
	}
}

func TestNoDaemonRunning(t *testing.T) {
	dir := t.TempDir()
	want := fmt.Sprintf("weft: no daemon is running for data directory %s (start one with `weft daemon`)\n", dir)
	for _, args := range [][]string{
		{"doc", "list"}, {"doc", "new"}, {"doc", "cat", testDocID}, {"peers"}, {"status"},
	} {
		code, out, errs := cliIn(t, dir, args...)
		fails(t, 1, "no daemon", code, out, errs)
		if errs != want {
			t.Errorf("%v: stderr %q, want %q", args, errs, want)
		}
	}

	// A stale api.json whose port no longer answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := writeAPIInfo(dir, apiInfo{API: "http://" + addr, Token: cliToken, PID: 1}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cliIn(t, dir, "doc", "list")
	fails(t, 1, "no daemon", code, out, errs)
	if errs != want {
		t.Errorf("stale api.json: stderr %q, want %q", errs, want)
	}
}

func TestClientUsesDefaultDataDir(t *testing.T) {
	d := startFakeDaemon(t)
	xdg := t.TempDir()
	t.Setenv("XDG_DATA_HOME", xdg)
	if err := os.MkdirAll(filepath.Join(xdg, "weft"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, apiInfoName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "weft", apiInfoName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"doc", "new", "--title", "via default"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if docs, _ := d.fake.ListDocs(t.Context()); len(docs) != 1 || docs[0].Title != "via default" {
		t.Fatalf("docs %+v", docs)
	}
}

func TestWrongToken(t *testing.T) {
	d := startFakeDaemon(t)
	if err := writeAPIInfo(d.dir, apiInfo{API: d.url, Token: "not-the-token-at-all", PID: 1}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := d.cli(t, "doc", "list")
	fails(t, 1, "refused the token", code, out, errs)
}

func TestMalformedAPIInfo(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, apiInfoName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cliIn(t, dir, "status")
	fails(t, 1, "api.json is malformed", code, out, errs)
}

func TestDaemonShuttingDown(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.SetErr(fmt.Errorf("%w: shutting down", api.ErrClosed))
	code, out, errs := d.cli(t, "doc", "list")
	fails(t, 1, "weft: closed: shutting down\n", code, out, errs)
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb\r\nc  d\re"); got != "a b c  d e" {
		t.Fatalf("oneLine = %q", got)
	}
}
