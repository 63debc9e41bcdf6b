package store

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"weft/internal/s3test"
)

// BenchmarkBackupRestoreSinks measures backup and restore of the store of
// BenchmarkBackupRestore (100,000 transactions of 500 bytes, about 60 MB)
// to a directory and to versitygw on loopback (posix backend on the same
// disk), side by side in one run, with the peak live heap during a backup
// (GC forced every 8 chunks): a backup streams, so the S3 figure should
// stay near one part (16 MiB), far below the backup's size.
func BenchmarkBackupRestoreSinks(b *testing.B) {
	ctx := context.Background()
	s, id := benchStore(b)
	fillDoc(b, s, id, 100_000, 500)
	srv := s3test.Start(b)
	srv.MakeBucket(b, "weft-bench")
	s3, err := NewS3Sink("s3://weft-bench/relay", s3Options(srv))
	if err != nil {
		b.Fatal(err)
	}
	for _, sk := range []struct {
		name string
		sink Sink
	}{{"dir", &DirSink{Dir: b.TempDir()}}, {"s3", s3}} {
		var info BackupInfo
		b.Run("backup/"+sk.name, func(b *testing.B) {
			var peak uint64
			for i := 0; i < b.N; i++ {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				base, chunks := ms.HeapAlloc, 0
				info, err = s.Backup(ctx, sk.sink, func(Progress) {
					if chunks++; chunks%8 == 0 {
						runtime.GC()
						runtime.ReadMemStats(&ms)
						if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
							peak = ms.HeapAlloc - base
						}
					}
				})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(info.Bytes))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
		b.Run("restore/"+sk.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Restore(ctx, sk.sink, info.Name, filepath.Join(b.TempDir(), "r"), RestoreOptions{}); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(info.Bytes))
			}
		})
	}
}
