package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"weft/vocab"
)

// keystroke is a stand-in single-keystroke transaction: a 24-byte payload,
// about what crdt.EncodeTxn makes for one typed character.
func keystroke(seq uint64) TxnRecord {
	h := vocab.Header{Agent: "bench-agent-0123", Seq: seq, Len: 1}
	if seq > 0 {
		h.Parents = []ID{{Agent: "bench-agent-0123", Seq: seq - 1}}
	}
	p := make([]byte, 24)
	for i := range p {
		p[i] = byte(seq) + byte(i)
	}
	return TxnRecord{Header: h, Payload: p}
}

func benchStore(b *testing.B) (*Store, DocID) {
	o := DefaultOptions()
	if v := os.Getenv("WEFT_BENCH_BLOCK_CACHE"); v != "" {
		fmt.Sscan(v, &o.BlockCacheBytes)
	}
	s, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	id := NewDocID()
	if err := s.CreateDoc(context.Background(), id, "bench"); err != nil {
		b.Fatal(err)
	}
	return s, id
}

// BenchmarkIngest stores single-keystroke transactions one Append call at a
// time, under each policy.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	b.Run("batched", func(b *testing.B) {
		s, id := benchStore(b)
		b.ResetTimer()
		var last *Ack
		for i := 0; i < b.N; i++ {
			ack, err := s.Append(ctx, id, Batched, keystroke(uint64(i)))
			if err != nil {
				b.Fatal(err)
			}
			last = ack
		}
		if err := last.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
	})
	b.Run("immediate", func(b *testing.B) {
		s, id := benchStore(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Append(ctx, id, Immediate, keystroke(uint64(i))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
	})
	// The floor for immediate: one small write plus fsync of a plain file.
	b.Run("fsync-only", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "f"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 100)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
	})
}

func fillDoc(b *testing.B, s *Store, id DocID, n int, payload int) {
	ctx := context.Background()
	p := make([]byte, payload)
	var last *Ack
	for i := 0; i < n; i++ {
		tr := keystroke(uint64(i))
		tr.Payload = p
		ack, err := s.Append(ctx, id, Batched, tr)
		if err != nil {
			b.Fatal(err)
		}
		last = ack
	}
	if err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStreamMemory streams a whole document and reports the peak live
// heap (measured after a forced GC every 64 chunks, so garbage awaiting
// collection does not count) above the heap before the stream, for two
// document sizes: it should stay flat. Badger's own caches count too; they
// are bounded by configuration (BlockCacheBytes).
func BenchmarkStreamMemory(b *testing.B) {
	for _, n := range []int{20_000, 200_000} {
		b.Run(fmt.Sprintf("txns=%d", n), func(b *testing.B) {
			s, id := benchStore(b)
			fillDoc(b, s, id, n, 200)
			ctx := context.Background()
			var peak uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				seen, chunks := 0, 0
				err := s.Stream(ctx, id, nil, func(c []TxnRecord) error {
					seen += len(c)
					chunks++
					if chunks%64 == 0 {
						runtime.GC()
						runtime.ReadMemStats(&ms)
						if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
							peak = ms.HeapAlloc - base
						}
					}
					return nil
				})
				if err != nil || seen != n {
					b.Fatalf("streamed %d of %d: %v", seen, n, err)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(n*200)/(1<<20), "doc-MiB")
		})
	}
}

// BenchmarkBackupRestore measures backup and restore throughput of a store
// holding 100,000 transactions of 500 bytes (about 60 MiB of values).
func BenchmarkBackupRestore(b *testing.B) {
	ctx := context.Background()
	s, id := benchStore(b)
	fillDoc(b, s, id, 100_000, 500)
	sink := &DirSink{Dir: b.TempDir()}
	var info BackupInfo
	b.Run("backup", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var err error
			info, err = s.Backup(ctx, sink, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(info.Bytes))
		}
	})
	b.Run("restore", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Restore(ctx, sink, info.Name, filepath.Join(b.TempDir(), "r"), RestoreOptions{}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(info.Bytes))
		}
	})
}

// BenchmarkOpenCompacted measures the store's part of opening a document
// (the latest snapshot, then a Stream of what it does not cover, as a
// replica opens one; the transactions are only counted) right after
// compaction, for a document of 260,000 single-keystroke transactions (the
// size of automerge-paper): with nothing after the snapshot, and with 100
// transactions stored after it. It also reports how long the compaction
// took. The crdt's share is measured in cmd/weft (BenchmarkOpenPaper).
func BenchmarkOpenCompacted(b *testing.B) {
	const n = 260_000
	ctx := context.Background()
	s, err := Open(b.TempDir(), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	id := NewDocID()
	if err := s.CreateDoc(ctx, id, "bench"); err != nil {
		b.Fatal(err)
	}
	fillDoc(b, s, id, n, 24)
	snap := make([]byte, 200<<10) // about what the paper's crdt snapshot weighs
	for i := range snap {
		snap[i] = byte(i * 7)
	}
	start := time.Now()
	if dropped, err := s.Compact(ctx, id, snap, Version{"bench-agent-0123": n}); err != nil || dropped != n {
		b.Fatalf("compact dropped %d: %v", dropped, err)
	}
	compactTook := time.Since(start)
	open := func(want int) func(b *testing.B) {
		return func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sn, err := s.Snapshot(ctx, id)
				if err != nil || len(sn.Payload) != len(snap) {
					b.Fatalf("snapshot missing: %v", err)
				}
				got := 0
				if err := s.Stream(ctx, id, sn.Covers, func(c []TxnRecord) error {
					got += len(c)
					return nil
				}); err != nil || got != want {
					b.Fatalf("load: %d txns after the snapshot, want %d: %v", got, want, err)
				}
			}
			b.ReportMetric(float64(compactTook.Milliseconds()), "compact-ms")
		}
	}
	b.Run("snapshot", open(0))
	var last *Ack
	for i := n; i < n+100; i++ {
		if last, err = s.Append(ctx, id, Batched, keystroke(uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	if err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot+100", open(100))
}

// BenchmarkDocs lists the documents of a store holding 200 documents of
// 500 transactions each (about 200,000 keys).
func BenchmarkDocs(b *testing.B) {
	const docs, txns = 200, 500
	ctx := context.Background()
	s, err := Open(b.TempDir(), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	for d := 0; d < docs; d++ {
		id := NewDocID()
		if err := s.CreateDoc(ctx, id, "bench"); err != nil {
			b.Fatal(err)
		}
		fillDoc(b, s, id, txns, 24)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ids, err := s.Docs(ctx)
		if err != nil || len(ids) != docs {
			b.Fatalf("listed %d documents, want %d: %v", len(ids), docs, err)
		}
	}
}
