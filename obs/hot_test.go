package obs

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func docID(n int) [16]byte {
	var id [16]byte
	id[0], id[1] = byte(n>>8), byte(n)
	return id
}

func hotLabels(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	f := gather(t, m)["weft_store_hot_doc_accesses"]
	for _, s := range f.GetMetric() {
		out[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
	}
	return out
}

// The collector exports only the ten busiest documents, and a document
// that cools down disappears from the series.
func TestHotDocsKeepsTenSeries(t *testing.T) {
	m := newTestMetrics(t, nil)
	// Document i is accessed i+1 times: 0..24.
	for i := range 25 {
		for range i + 1 {
			m.DocRead(docID(i))
		}
	}
	got := hotLabels(t, m)
	if len(got) != 10 {
		t.Fatalf("%d hot-document series, want 10: %v", len(got), got)
	}
	for i := 15; i < 25; i++ {
		id := docID(i)
		if got[hex.EncodeToString(id[:])] != float64(i+1) {
			t.Errorf("document %d: %v accesses exported, want %d", i, got[hex.EncodeToString(id[:])], i+1)
		}
	}
	// Documents 0..9 become the busiest: the earlier top ten vanish.
	for i := range 10 {
		m.DocWrite(docID(i), 100)
	}
	got = hotLabels(t, m)
	if len(got) != 10 {
		t.Fatalf("%d series after the shift, want 10", len(got))
	}
	for i := range 25 {
		id := docID(i)
		_, ok := got[hex.EncodeToString(id[:])]
		if ok != (i < 10) {
			t.Errorf("document %d exported=%v after the shift", i, ok)
		}
	}
	if top := m.Hot(); len(top) != 10 || top[0].ID != docID(9) || top[0].Accesses != 110 {
		t.Errorf("Hot()[0] = %+v, want document 9 with 110", top[0])
	}
}

// With more documents than it tracks, the counter keeps the heavy hitters
// and never under-counts them (Space-Saving).
func TestHotDocsBoundedTracking(t *testing.T) {
	seed := uint64(20260601)
	r := rand.New(rand.NewPCG(seed, seed))
	h := newHotDocs(3, 20)
	truth := map[[16]byte]uint64{}
	for range 20000 {
		var id [16]byte
		if r.IntN(2) == 0 {
			id = docID(r.IntN(3)) // three heavy hitters take half the accesses
		} else {
			id = docID(100 + r.IntN(5000))
		}
		truth[id]++
		h.add(id, 1)
	}
	if len(h.byID) != 20 || len(h.heap) != 20 {
		t.Fatalf("tracking %d/%d documents, want at most 20", len(h.byID), len(h.heap))
	}
	top := h.hottest()
	if len(top) != 3 {
		t.Fatalf("seed %d: %d hot documents, want 3", seed, len(top))
	}
	for _, d := range top {
		if d.ID != docID(0) && d.ID != docID(1) && d.ID != docID(2) {
			t.Errorf("seed %d: %x is not a heavy hitter", seed, d.ID)
		}
		if d.Accesses < truth[d.ID] {
			t.Errorf("seed %d: %x counted %d < true %d", seed, d.ID, d.Accesses, truth[d.ID])
		}
	}
	for i, e := range h.heap {
		if e.idx != i || h.byID[e.id] != e {
			t.Fatalf("heap index broken at %d", i)
		}
	}
}
