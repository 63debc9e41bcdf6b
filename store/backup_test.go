package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	s := mustOpen(t, src)
	id := mustCreate(t, s)
	mustAppend(t, s, id, Immediate, linear("a", 0, 200)...)
	// Writes continue while the backup runs; the backup is one consistent
	// state: its log and its transactions agree.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq := uint64(0)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var ps []ID
			if seq > 0 {
				ps = []ID{{Agent: "w", Seq: seq - 1}}
			}
			if _, err := s.Append(ctx, id, Batched, txn("w", seq, "w", ps...)); err != nil {
				t.Error(err)
				return
			}
			seq++
		}
	}()
	sink := &DirSink{Dir: t.TempDir()}
	var progress []Progress
	info, err := s.Backup(ctx, sink, func(p Progress) { progress = append(progress, p) })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) == 0 || progress[len(progress)-1].Entries != info.Entries {
		t.Fatalf("progress %v, info %+v", progress, info)
	}
	if info.Docs != 1 {
		t.Fatalf("the backup counts %d documents; want 1", info.Docs)
	}
	s.Close()

	list, err := ListBackups(ctx, sink)
	if err != nil || len(list) != 1 || list[0].Name != info.Name || list[0].Schema != SchemaVersion || list[0].Size == 0 {
		t.Fatalf("list %+v %v", list, err)
	}
	got, err := FindBackup(ctx, sink, "latest")
	if err != nil || got.Name != info.Name {
		t.Fatalf("latest: %v %v", got, err)
	}
	if _, err := FindBackup(ctx, sink, list[0].Created.Format(backupTimeFmt)); err != nil {
		t.Fatalf("by timestamp: %v", err)
	}
	if _, err := FindBackup(ctx, sink, "2001-01-01T00:00:00Z"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before any backup: %v", err)
	}

	dst := t.TempDir()
	if _, err := Restore(ctx, sink, info.Name, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, dst)
	if r.InstallID() != s.InstallID() {
		t.Fatal("install ID not restored")
	}
	if got := streamAll(t, r, id, Version{"w": 1 << 40}); len(got) != 200 {
		t.Fatalf("restored %d of agent a's txns", len(got))
	}
	res, err := r.Check(ctx, CheckOptions{Codec: fakeCodec{}})
	if err != nil || res.Problems != 0 {
		t.Fatalf("restored store not consistent: %+v %v", res, err)
	}
	r.Close()

	// A non-empty directory needs force; the old database is kept.
	if _, err := Restore(ctx, sink, info.Name, dst, RestoreOptions{}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore over data: %v", err)
	}
	if _, err := Restore(ctx, sink, info.Name, dst, RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	kept, _ := filepath.Glob(filepath.Join(dst, DBDirName+".replaced-*"))
	if len(kept) != 1 {
		t.Fatalf("old database not kept: %v", kept)
	}
}

func TestRestoreVerifiesFirst(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, t.TempDir())
	id := mustCreate(t, s)
	mustAppend(t, s, id, Immediate, linear("a", 0, 50)...)
	sink := &DirSink{Dir: t.TempDir()}
	info, err := s.Backup(ctx, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	path := filepath.Join(sink.Dir, info.Name)
	orig, _ := os.ReadFile(path)
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }},
		{"trailing data", func(b []byte) []byte { return append(b, 0) }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, tc.mut(append([]byte(nil), orig...)), 0o600); err != nil {
				t.Fatal(err)
			}
			dst := t.TempDir()
			if _, err := Restore(ctx, sink, info.Name, dst, RestoreOptions{}); !errors.Is(err, ErrBackup) {
				t.Fatalf("restore of damaged backup: %v", err)
			}
			if exists(filepath.Join(dst, DBDirName)) || exists(filepath.Join(dst, DBDirName+".restoring")) {
				t.Fatal("restore touched the target before verifying")
			}
		})
	}
}

func TestBackupFileNames(t *testing.T) {
	at := time.Date(2025, 11, 28, 22, 30, 0, 123456789, time.UTC)
	if n := backupName(at, ""); n != "weft-backup-20251128T223000.123456789Z.wbk" || !isBackupName(n) {
		t.Fatal(n)
	}
	if err := checkSinkName("../x"); !errors.Is(err, ErrInvalid) {
		t.Fatal("path in backup name accepted")
	}
}
