package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"weft/obs"
	"weft/replica"
	"weft/store"
)

func TestStorageCheckHook(t *testing.T) {
	ctx := context.Background()
	o := store.DefaultOptions()
	o.BlockCacheBytes = 8 << 20
	st, err := store.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	probe := obs.Simple(st.Probe)
	if check := (testHooks{}).storageCheck(probe); check == nil {
		t.Fatal("no check without the hook")
	}
	fault := filepath.Join(t.TempDir(), "fail")
	check := testHooks{failStorage: fault}.storageCheck(probe)
	if _, err := check(ctx); err != nil {
		t.Fatalf("healthy store: %v", err)
	}
	if err := os.WriteFile(fault, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := check(ctx); err == nil || !strings.Contains(err.Error(), "storage fault injected for testing") {
		t.Fatalf("with the fault file: %v", err)
	}
	os.Remove(fault)
	if _, err := check(ctx); err != nil {
		t.Fatalf("fault removed: %v", err)
	}
	st.Close()
	if _, err := check(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("closed store: %v", err)
	}
}

// Only a binary built with -tags weft_testhooks reads WEFT_TEST_*.
func TestTestHooksFromEnv(t *testing.T) {
	t.Setenv("WEFT_TEST_FAIL_STORAGE", "/nonexistent/fault")
	t.Setenv("WEFT_TEST_DROP_GOSSIP", "0.25")
	t.Setenv("WEFT_TEST_CPUPROFILE", "/nonexistent/cpu.pprof")
	t.Setenv("WEFT_TEST_HEAPPROFILE", "/nonexistent/heap")
	t.Setenv("WEFT_TEST_CLOCK_OFFSET", "+3h")
	h, err := loadTestHooks()
	if err != nil {
		t.Fatal(err)
	}
	want := testHooks{}
	if testHooksBuilt {
		want = testHooks{failStorage: "/nonexistent/fault", dropGossip: 0.25, cpuProfile: "/nonexistent/cpu.pprof", heapProfile: "/nonexistent/heap", clockOffset: 3 * time.Hour}
	}
	if h != want {
		t.Fatalf("hooks %+v, want %+v (built with the tag: %v)", h, want, testHooksBuilt)
	}
	t.Setenv("WEFT_TEST_DROP_GOSSIP", "2")
	if _, err := loadTestHooks(); (err != nil) != testHooksBuilt {
		t.Fatalf("WEFT_TEST_DROP_GOSSIP=2: %v (built with the tag: %v)", err, testHooksBuilt)
	}
	t.Setenv("WEFT_TEST_DROP_GOSSIP", "")
	t.Setenv("WEFT_TEST_CLOCK_OFFSET", "3 hours")
	if _, err := loadTestHooks(); (err != nil) != testHooksBuilt {
		t.Fatalf("WEFT_TEST_CLOCK_OFFSET=3 hours: %v (built with the tag: %v)", err, testHooksBuilt)
	}
}

// The clock hook moves the replica's clock, and only when set.
func TestClockOffsetHook(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, off := range []time.Duration{0, -6 * time.Hour, 30 * time.Hour} {
		ro := replica.DefaultOptions()
		stop, err := testHooks{clockOffset: off}.start(log, &ro)
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if got := ro.Now().Sub(time.Now()); got < off-time.Minute || got > off+time.Minute {
			t.Errorf("offset %s: the replica's clock is %s away", off, got)
		}
	}
}

// The shipped binary (go build ./cmd/weft, no tags) holds no string that
// names a WEFT_TEST_* variable, in any weft package it is built from; the
// build for the multi-process tests does.
func TestShippedBinaryReadsNoTestHooks(t *testing.T) {
	files := func(tags ...string) map[string]bool {
		t.Helper()
		args := append([]string{"list", "-deps"}, tags...)
		args = append(args, "-f", `{{if and .Module (eq .Module.Path "weft")}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`, "weft/cmd/weft")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		hooked := map[string]bool{}
		for _, f := range strings.Fields(string(out)) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `"WEFT_TEST_`) {
				hooked[filepath.Base(f)] = true
			}
		}
		return hooked
	}
	if hooked := files(); len(hooked) > 0 {
		t.Errorf("the shipped binary is built from files naming WEFT_TEST_*: %v", hooked)
	}
	if hooked := files("-tags", "weft_testhooks"); !hooked["testhooks_on.go"] {
		t.Errorf("the weft_testhooks build reads no hooks: %v", hooked)
	}
}
