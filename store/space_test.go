package store

import (
	"context"
	"errors"
	"testing"
)

// A store whose file system has less free space than MinFreeBytes refuses
// writes with ErrDiskFull (nothing written), fails its probe, keeps
// serving reads, and writes again once the space is there.
func TestDiskFullRefusesWrites(t *testing.T) {
	ctx := context.Background()
	o := testOpts()
	s, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := mustCreate(t, s)
	mustAppend(t, s, id, Immediate, txn("a", 0, "ab"))
	free, err := freeBytes(s.Dir())
	if err != nil {
		t.Fatal(err)
	}

	s.mu.Lock()
	s.opts.MinFreeBytes = free + 1<<40 // more than the disk will ever have
	s.mu.Unlock()
	if _, err := s.Append(ctx, id, Immediate, txn("a", 2, "cd")); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append on a full disk: %v, want ErrDiskFull", err)
	}
	if err := s.Probe(ctx); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("probe on a full disk: %v, want ErrDiskFull", err)
	}
	if v, err := s.Version(ctx, id); err != nil || v["a"] != 2 {
		t.Fatalf("reading on a full disk: version %v, %v; want a:2", v, err)
	}

	s.mu.Lock()
	s.opts.MinFreeBytes = 1
	s.mu.Unlock()
	mustAppend(t, s, id, Immediate, txn("a", 2, "cd"))
	if err := s.Probe(ctx); err != nil {
		t.Fatalf("probe once space returned: %v", err)
	}
}
