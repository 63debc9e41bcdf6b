package crdt_test

import (
	"path/filepath"
	"strings"
	"testing"

	"weft/crdt"
	"weft/internal/trace"
)

// Benchmarks on the bundled editing traces. `make bench` runs them beside
// the peer comparison (scripts/bench-peers.sh); see BENCHMARKS.md.

func loadTraces(b *testing.B, kind string) map[string]*trace.Trace {
	b.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "traces", kind, "*.json.gz"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no %s traces: %v", kind, err)
	}
	out := map[string]*trace.Trace{}
	for _, f := range files {
		t, err := trace.Load(f)
		if err != nil {
			b.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json.gz")] = t
	}
	return out
}

// BenchmarkReplay types every patch of each sequential trace as its own
// local transaction.
func BenchmarkReplay(b *testing.B) { benchReplay(b, trace.ReplaySequential) }

// BenchmarkReplayEdit is BenchmarkReplay through Edit: each patch is its
// own local transaction, with its wire form built only when sent.
func BenchmarkReplayEdit(b *testing.B) { benchReplay(b, trace.ReplaySequentialEdits) }

func benchReplay(b *testing.B, replay func(*trace.Trace, string) (*crdt.Doc, error)) {
	for name, t := range loadTraces(b, "sequential") {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				d, err := replay(t, "bench")
				if err != nil {
					b.Fatal(err)
				}
				if d.Len() == 0 {
					b.Fatal("empty result")
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(t.Patches()), "patches")
		})
	}
}

// concurrentTxns are the transactions of a concurrent trace, as its
// agents made them.
func concurrentTxns(b *testing.B, t *trace.Trace) []*crdt.Txn {
	c, err := trace.ReplayConcurrent(t)
	if err != nil {
		b.Fatal(err)
	}
	return c.All()
}

func encodeTxns(b *testing.B, txns []*crdt.Txn) [][]byte {
	var wire [][]byte
	for _, tx := range txns {
		w, err := crdt.EncodeTxn(tx)
		if err != nil {
			b.Fatal(err)
		}
		wire = append(wire, w)
	}
	return wire
}

// applyWire decodes and applies wire into a fresh replica of agent.
func applyWire(b *testing.B, agent string, wire [][]byte) *crdt.Doc {
	d, _ := crdt.New(agent)
	for _, w := range wire {
		tx, err := crdt.DecodeTxn(w)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Apply(tx); err != nil {
			b.Fatal(err)
		}
	}
	return d
}

// BenchmarkMerge merges every transaction of each concurrent trace into a
// fresh replica (what a new peer does on catch-up).
func BenchmarkMerge(b *testing.B) {
	for name, t := range loadTraces(b, "concurrent") {
		b.Run(name, func(b *testing.B) {
			all := concurrentTxns(b, t)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				d, err := trace.Merge(all)
				if err != nil {
					b.Fatal(err)
				}
				if d.Len() != len([]rune(t.End)) {
					b.Fatal("wrong length")
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkMergeEncoded is BenchmarkMerge starting from the wire bytes.
func BenchmarkMergeEncoded(b *testing.B) {
	for name, t := range loadTraces(b, "concurrent") {
		b.Run(name, func(b *testing.B) {
			wire := encodeTxns(b, concurrentTxns(b, t))
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				applyWire(b, "merge", wire)
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkCatchUp is what a fresh replica joining does: it receives the
// whole history as a peer's catch-up sends it (Missing: runs of one
// agent merged into spans), decodes and applies it.
func BenchmarkCatchUp(b *testing.B) {
	for name, t := range loadTraces(b, "concurrent") {
		b.Run(name, func(b *testing.B) {
			src, err := trace.Merge(concurrentTxns(b, t))
			if err != nil {
				b.Fatal(err)
			}
			wire := encodeTxns(b, src.Missing(crdt.Version{}))
			b.ReportAllocs()
			b.ReportMetric(float64(len(wire)), "txns")
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if d := applyWire(b, "fresh", wire); d.Text() != t.End {
					b.Fatal("wrong text")
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkReplayConcurrent replays each concurrent trace with one replica
// per agent, typing and merging.
func BenchmarkReplayConcurrent(b *testing.B) {
	for name, t := range loadTraces(b, "concurrent") {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := trace.ReplayConcurrent(t); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func finalDocs(b *testing.B) map[string]*crdt.Doc {
	out := map[string]*crdt.Doc{}
	for name, t := range loadTraces(b, "sequential") {
		d, err := trace.ReplaySequential(t, "bench")
		if err != nil {
			b.Fatal(err)
		}
		out[name] = d
	}
	return out
}

// BenchmarkLoadSnapshot decodes each final document's snapshot and reads
// its text.
func BenchmarkLoadSnapshot(b *testing.B) {
	for name, d := range finalDocs(b) {
		snap := d.EncodeSnapshot()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(float64(len(snap)), "snapshot-bytes")
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				l, err := crdt.LoadSnapshot("bench", snap)
				if err != nil {
					b.Fatal(err)
				}
				if len(l.Text()) == 0 {
					b.Fatal("empty text")
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkOpenSnapshot opens each final document's snapshot lazily and
// reads its text and version: the open of a stored document (issue 14's
// load), its history left unread.
func BenchmarkOpenSnapshot(b *testing.B) {
	for name, d := range finalDocs(b) {
		snap := d.EncodeSnapshot()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				l, err := crdt.OpenSnapshot("bench", snap)
				if err != nil {
					b.Fatal(err)
				}
				if len(l.Text()) == 0 || len(l.Version()) == 0 {
					b.Fatal("empty text or version")
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkEncodeSnapshot encodes each final document.
func BenchmarkEncodeSnapshot(b *testing.B) {
	for name, d := range finalDocs(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = d.EncodeSnapshot()
			}
		})
	}
}
