package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAPIInfoRoundTrip(t *testing.T) {
	dir := t.TempDir()
	info := apiInfo{API: "http://127.0.0.1:7420", Token: "0123456789abcdef0123", PID: 4242}
	if err := writeAPIInfo(dir, info); err != nil {
		t.Fatal(err)
	}
	got, err := readAPIInfo(dir)
	if err != nil || got != info {
		t.Fatalf("read %+v, %v; want %+v", got, err, info)
	}
	st, err := os.Stat(filepath.Join(dir, apiInfoName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	// Replacing it leaves no temporary files behind.
	info2 := apiInfo{API: "http://[::1]:9000", Token: "another-token-value", PID: 7}
	if err := writeAPIInfo(dir, info2); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAPIInfo(dir); got != info2 {
		t.Fatalf("after rewrite read %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only %s", len(entries), apiInfoName)
	}
}

func TestAPIInfoMissing(t *testing.T) {
	if _, err := readAPIInfo(t.TempDir()); !errors.Is(err, errNoAPIInfo) {
		t.Fatalf("err %v, want errNoAPIInfo", err)
	}
}

func TestAPIInfoWriteRefusesBadInfo(t *testing.T) {
	dir := t.TempDir()
	for _, info := range []apiInfo{
		{API: "http://127.0.0.1:7420", Token: "", PID: 1},
		{API: "https://127.0.0.1:7420", Token: "tok", PID: 1},
		{API: "127.0.0.1:7420", Token: "tok", PID: 1},
		{API: "http://127.0.0.1:7420", Token: "tok", PID: 0},
	} {
		if err := writeAPIInfo(dir, info); err == nil {
			t.Errorf("wrote %+v", info)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused writes left %d files", len(entries))
	}
	if err := writeAPIInfo(filepath.Join(dir, "missing"), apiInfo{API: "http://127.0.0.1:1", Token: "t", PID: 1}); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

func TestAPIInfoMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":      "hello",
		"empty":         "",
		"unknown field": `{"api":"http://127.0.0.1:1","token":"t","pid":1,"x":1}`,
		"no token":      `{"api":"http://127.0.0.1:1","pid":1}`,
		"DNS name":      `{"api":"http://evil.com:7420","token":"t","pid":1}`,
		"no port":       `{"api":"http://127.0.0.1","token":"t","pid":1}`,
		"path":          `{"api":"http://127.0.0.1:1/x","token":"t","pid":1}`,
		"huge":          `{"api":"http://127.0.0.1:1","token":"` + strings.Repeat("t", maxAPIInfoBytes) + `","pid":1}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, apiInfoName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := readAPIInfo(dir)
		if err == nil || errors.Is(err, errNoAPIInfo) || !strings.Contains(err.Error(), apiInfoName) {
			t.Errorf("%s: err %v, want one naming %s", name, err, apiInfoName)
		}
	}
}

func TestRemoveAPIInfoOnlyOwnFile(t *testing.T) {
	dir := t.TempDir()
	mine := apiInfo{API: "http://127.0.0.1:7420", Token: "mine-mine-mine", PID: 1}
	theirs := apiInfo{API: "http://127.0.0.1:7421", Token: "theirs-theirs", PID: 2}
	if err := writeAPIInfo(dir, theirs); err != nil {
		t.Fatal(err)
	}
	if err := removeAPIInfo(dir, mine); err != nil {
		t.Fatal(err)
	}
	if got, err := readAPIInfo(dir); err != nil || got != theirs {
		t.Fatalf("another daemon's api.json was touched: %+v %v", got, err)
	}
	if err := removeAPIInfo(dir, theirs); err != nil {
		t.Fatal(err)
	}
	if _, err := readAPIInfo(dir); !errors.Is(err, errNoAPIInfo) {
		t.Fatalf("api.json still there: %v", err)
	}
	if err := removeAPIInfo(dir, theirs); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
}
