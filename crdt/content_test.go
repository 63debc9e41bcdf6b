package crdt

import (
	"math/rand/v2"
	"testing"
)

// TestContentCursor compares contentCursor.text with the reference that
// decodes each run from its start, over reads that move forward in a run
// (the cursor continues), jump back, skip ahead past a mark, and change
// runs, on mixed-script content typed at random places (many op runs).
func TestContentCursor(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	words := []string{"ab", "λόγος", "漢字", "🙂", "x\r\n", "é"}
	d, _ := New("a")
	for i := 0; i < 150; i++ {
		text := ""
		for k := rng.IntN(200); k >= 0; k-- {
			text += words[rng.IntN(len(words))]
		}
		pos := d.Len()
		if rng.IntN(3) == 0 {
			pos = rng.IntN(d.Len() + 1)
		}
		if _, err := d.Insert(pos, text); err != nil {
			t.Fatal(err)
		}
	}
	h := &d.h
	var cc contentCursor
	reads := 0
	for i := 0; i < 4000; i++ {
		j := rng.IntN(len(h.ops))
		o := &h.ops[j]
		if o.isDel() || o.len() == 0 {
			continue
		}
		lv := o.lv + uint32(rng.IntN(o.len()))
		if cc.init && cc.run == j && rng.IntN(2) == 0 && cc.lv < o.lv+uint32(o.len()) {
			lv = cc.lv + uint32(rng.IntN(int(o.lv+uint32(o.len())-cc.lv))) // forward in the run
		}
		n := uint32(rng.IntN(int(o.lv + uint32(o.len()) - lv + 1)))
		got, want := cc.text(d, j, lv, n), h.textRef(j, lv, n)
		if got != want {
			t.Fatalf("seed %d: read %d of run %d at LV %d, %d code points: %q, want %q", seed, i, j, lv, n, got, want)
		}
		reads++
	}
	if reads < 500 {
		t.Fatalf("seed %d: only %d reads of insert runs", seed, reads)
	}
}
