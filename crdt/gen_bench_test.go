package crdt_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"weft/crdt"
	"weft/internal/trace"
)

// Benchmarks of merging long-diverged histories (issue 14): the generated
// asynchronous histories (gen_test.go), and one long offline branch into a
// document the size of automerge-paper that moved on meanwhile.

var asyncCache = struct {
	sync.Mutex
	m map[uint64][]*crdt.Txn
}{m: map[uint64][]*crdt.Txn{}}

// asyncTxns are the transactions the authors' replicas made for benchmark
// history seed, in history order (generated once per process).
func asyncTxns(b *testing.B, seed uint64) []*crdt.Txn {
	asyncCache.Lock()
	defer asyncCache.Unlock()
	if t, ok := asyncCache.m[seed]; ok {
		return t
	}
	h, err := genAsync(seed, asyncBench)
	if err != nil {
		b.Fatal(err)
	}
	asyncCache.m[seed] = h.crdt
	return asyncCache.m[seed]
}

// BenchmarkMergeAsync merges every transaction of a generated history, from
// its wire bytes, into a fresh replica: what a daemon's catch-up gives a
// joining peer.
func BenchmarkMergeAsync(b *testing.B) {
	for _, seed := range asyncBenchSeeds {
		b.Run(fmt.Sprintf("gen-async-%d", seed), func(b *testing.B) {
			all := asyncTxns(b, seed)
			wire := encodeTxns(b, all)
			b.ReportAllocs()
			b.ReportMetric(float64(len(wire)), "txns")
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				applyWire(b, "merge", wire)
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkMergeAsyncDecoded is BenchmarkMergeAsync without the decoding.
func BenchmarkMergeAsyncDecoded(b *testing.B) {
	for _, seed := range asyncBenchSeeds {
		b.Run(fmt.Sprintf("gen-async-%d", seed), func(b *testing.B) {
			all := asyncTxns(b, seed)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := trace.Merge(all); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkCatchUpAsync: the generated history as Missing sends it (merged
// spans), decoded and applied into a fresh replica.
func BenchmarkCatchUpAsync(b *testing.B) {
	for _, seed := range asyncBenchSeeds {
		b.Run(fmt.Sprintf("gen-async-%d", seed), func(b *testing.B) {
			src, err := trace.Merge(asyncTxns(b, seed))
			if err != nil {
				b.Fatal(err)
			}
			wire := encodeTxns(b, src.Missing(crdt.Version{}))
			want := src.Text()
			b.ReportAllocs()
			b.ReportMetric(float64(len(wire)), "txns")
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if d := applyWire(b, "fresh", wire); d.Text() != want {
					b.Fatal("wrong text")
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// offlineBranch builds the offline-branch case: automerge-paper typed up
// to patch fork by agent "paper"; from there one replica ("away") types
// edits random edits offline, each its own transaction, while "paper"
// types the rest of the trace. It returns the snapshot of the moved-on
// document, the offline branch's transactions in wire bytes, and the text
// the merge must reach.
func offlineBranch(tb testing.TB, edits int) (snap []byte, wire [][]byte, want string) {
	tb.Helper()
	tr, err := trace.Load(filepath.Join("..", "testdata", "traces", "sequential", "automerge-paper.json.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	fork := tr.Patches() * 3 / 4
	home, _ := crdt.New("paper")
	var away *crdt.Doc
	k := 0
	for i := range tr.Txns {
		for p := range tr.PatchesOf(i) {
			if k == fork {
				if away, err = crdt.LoadSnapshot("away", home.EncodeSnapshot()); err != nil {
					tb.Fatal(err)
				}
			}
			if err := home.Edit(p.Pos, p.Del, p.Ins); err != nil {
				tb.Fatal(err)
			}
			k++
		}
	}
	r := rand.New(rand.NewPCG(14, 14))
	cur := r.IntN(away.Len())
	for i := 0; i < edits; i++ {
		n := away.Len()
		cur = min(cur, n)
		var tx *crdt.Txn
		switch x := r.IntN(10); {
		case x < 6:
			tx, err = away.Replace(cur, 0, genWords[r.IntN(len(genWords))]+" ")
			cur += 2
		case x < 8 && cur > 0:
			tx, err = away.Replace(cur-1, 1, "")
			cur--
		default:
			cur = r.IntN(n)
			d := min(1+r.IntN(20), n-cur)
			tx, err = away.Replace(cur, d, "")
		}
		if err != nil {
			tb.Fatal(err)
		}
		w, err := crdt.EncodeTxn(tx)
		if err != nil {
			tb.Fatal(err)
		}
		wire = append(wire, w)
	}
	for _, t := range home.Missing(away.Version()) {
		if _, err := away.Apply(t); err != nil {
			tb.Fatal(err)
		}
	}
	return home.EncodeSnapshot(), wire, away.Text()
}

// BenchmarkOfflineBranch merges a 10,000-edit offline branch (each edit a
// transaction, from its wire bytes) into a document of automerge-paper's
// size that moved on by a quarter of the paper's edits meanwhile. The load
// of the moved-on document is not timed.
func BenchmarkOfflineBranch(b *testing.B) {
	snap, wire, want := offlineBranch(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d, err := crdt.LoadSnapshot("paper", snap)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := cpuTime()
		for _, w := range wire {
			tx, err := crdt.DecodeTxn(w)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.Apply(tx); err != nil {
				b.Fatal(err)
			}
		}
		cpu += cpuTime() - start
		b.StopTimer()
		if d.Text() != want {
			b.Fatal("wrong text")
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
