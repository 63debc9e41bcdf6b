package obs

import (
	"bytes"
	"container/heap"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// hotDocs counts accesses per document, for at most max documents, and
// emits the top ones at each scrape. It is a prometheus.Collector.
//
// When it is full, a document it does not track replaces the least
// accessed one and inherits its count plus its own (Space-Saving): a
// document accessed more often than 1/max of all accesses is always kept,
// and no count is ever below the true one.
type hotDocs struct {
	desc *prometheus.Desc
	top  int

	mu   sync.Mutex
	max  int
	byID map[[16]byte]*hotEntry
	heap hotHeap // min-heap on count: the eviction candidate is heap[0]
}

type hotEntry struct {
	id    [16]byte
	count uint64
	idx   int
}

type hotHeap []*hotEntry

func (h hotHeap) Len() int           { return len(h) }
func (h hotHeap) Less(i, j int) bool { return h[i].count < h[j].count }
func (h hotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *hotHeap) Push(x any) {
	e := x.(*hotEntry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *hotHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

func newHotDocs(top, max int) *hotDocs {
	return &hotDocs{
		desc: prometheus.NewDesc("weft_store_hot_doc_accesses",
			"Reads plus transactions written of the most accessed documents since start (only the top few are exported; approximate once many documents were seen).",
			[]string{"doc"}, nil),
		top:  top,
		max:  max,
		byID: map[[16]byte]*hotEntry{},
	}
}

// add counts n accesses of doc.
func (h *hotDocs) add(doc [16]byte, n uint64) {
	if n == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.byID[doc]; ok {
		e.count += n
		heap.Fix(&h.heap, e.idx)
		return
	}
	if len(h.heap) < h.max {
		e := &hotEntry{id: doc, count: n}
		h.byID[doc] = e
		heap.Push(&h.heap, e)
		return
	}
	e := h.heap[0]
	delete(h.byID, e.id)
	e.id = doc
	e.count += n
	h.byID[doc] = e
	heap.Fix(&h.heap, 0)
}

// HotDoc is one document and its access count.
type HotDoc struct {
	ID       [16]byte
	Accesses uint64
}

// hottest returns the top documents, busiest first (ties by ID).
func (h *hotDocs) hottest() []HotDoc {
	h.mu.Lock()
	out := make([]HotDoc, len(h.heap))
	for i, e := range h.heap {
		out[i] = HotDoc{ID: e.id, Accesses: e.count}
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Accesses != out[j].Accesses {
			return out[i].Accesses > out[j].Accesses
		}
		return bytes.Compare(out[i].ID[:], out[j].ID[:]) < 0
	})
	if len(out) > h.top {
		out = out[:h.top]
	}
	return out
}

func (h *hotDocs) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *hotDocs) Collect(ch chan<- prometheus.Metric) {
	for _, d := range h.hottest() {
		ch <- prometheus.MustNewConstMetric(h.desc, prometheus.GaugeValue, float64(d.Accesses), hex.EncodeToString(d.ID[:]))
	}
}
