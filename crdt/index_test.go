package crdt

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstModel: random pushes and reassignments of LV ranges give
// the same leaf for every LV as a plain slice (the model), through chunk
// splits (a chunk holds up to 2*ixChunk entries) and leaf numbering.
func TestIndexAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x1d))
		leaves := make([]*leaf, 1+r.IntN(40))
		for i := range leaves {
			leaves[i] = &leaf{}
		}
		pick := func() *leaf { return leaves[r.IntN(len(leaves))] }
		var x lvIndex
		var model []*leaf
		for step := 0; step < 3000; step++ {
			switch k := r.IntN(10); {
			case k < 3 || len(model) == 0:
				n := 1 + r.IntN(20)
				l := pick()
				x.push(uint32(len(model)), uint32(len(model)+n), l)
				for range n {
					model = append(model, l)
				}
			default:
				lo := r.IntN(len(model))
				hi := lo + 1 + r.IntN(min(len(model)-lo, 1+r.IntN(30)))
				l := pick()
				x.assign(uint32(lo), uint32(hi), l)
				for i := lo; i < hi; i++ {
					model[i] = l
				}
			}
			// A few lookups between changes (lookup keeps the entry it
			// found: a change must forget it).
			for range 3 {
				lv := r.IntN(len(model))
				if got := x.lookup(uint32(lv)); got != model[lv] {
					t.Fatalf("seed %d, step %d: LV %d in leaf %p, model says %p", seed, step, lv, got, model[lv])
				}
			}
			if step%50 == 0 || step == 2999 {
				for lv, want := range model {
					if got := x.lookup(uint32(lv)); got != want {
						t.Fatalf("seed %d, step %d: LV %d in leaf %p, model says %p", seed, step, lv, got, want)
					}
				}
				if len(x.firsts) != len(x.chunks) {
					t.Fatalf("seed %d, step %d: %d chunks, %d firsts", seed, step, len(x.chunks), len(x.firsts))
				}
				for c, ch := range x.chunks {
					if x.firsts[c] != ch[0].lv {
						t.Fatalf("seed %d, step %d: chunk %d starts at %d, firsts says %d", seed, step, c, ch[0].lv, x.firsts[c])
					}
				}
			}
		}
		if len(x.chunks) < 3 {
			t.Fatalf("seed %d: only %d chunks: the test did not split any", seed, len(x.chunks))
		}
	}
}
