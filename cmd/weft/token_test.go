package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestInstallTokenIsStableAndPrivate(t *testing.T) {
	dir := t.TempDir()
	a, err := installToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := installToken(dir)
	if err != nil || a != b {
		t.Fatalf("second start: %q %v, first %q", b, err, a)
	}
	fi, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := installToken(dir); err == nil {
		t.Fatal("a malformed token file was accepted")
	}
}
