package store

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics receives the store's instrumentation events. The daemon publishes
// them (for example as Prometheus metrics); Counters is a simple in-process
// implementation. Methods are called from the store's goroutines and must
// be quick and safe for concurrent use.
type Metrics interface {
	// DocRead: a document was read (Stream, Snapshot, Txn).
	DocRead(doc DocID)
	// DocWrite: txns transactions of a document were handed to the store.
	DocWrite(doc DocID, txns int)
	// Flush: one batch was committed and synced (err nil) or failed.
	Flush(txns, bytes int, latency time.Duration, err error)
}

type nopMetrics struct{}

func (nopMetrics) DocRead(DocID)                        {}
func (nopMetrics) DocWrite(DocID, int)                  {}
func (nopMetrics) Flush(int, int, time.Duration, error) {}

// Counters is a Metrics that counts in memory. The zero value is ready.
type Counters struct {
	mu     sync.Mutex
	reads  map[DocID]uint64
	writes map[DocID]uint64

	Flushes      atomic.Uint64 // batches committed
	FlushErrors  atomic.Uint64 // batches that failed
	FlushedTxns  atomic.Uint64 // transactions in committed batches
	FlushedBytes atomic.Uint64 // value bytes in committed batches
	FlushNanos   atomic.Uint64 // total flush latency
	MaxFlush     atomic.Uint64 // slowest flush, nanoseconds
}

func (c *Counters) DocRead(doc DocID) {
	c.mu.Lock()
	if c.reads == nil {
		c.reads = map[DocID]uint64{}
	}
	c.reads[doc]++
	c.mu.Unlock()
}

func (c *Counters) DocWrite(doc DocID, txns int) {
	c.mu.Lock()
	if c.writes == nil {
		c.writes = map[DocID]uint64{}
	}
	c.writes[doc] += uint64(txns)
	c.mu.Unlock()
}

func (c *Counters) Flush(txns, bytes int, latency time.Duration, err error) {
	if err != nil {
		c.FlushErrors.Add(1)
		return
	}
	c.Flushes.Add(1)
	c.FlushedTxns.Add(uint64(txns))
	c.FlushedBytes.Add(uint64(bytes))
	ns := uint64(latency)
	c.FlushNanos.Add(ns)
	for {
		m := c.MaxFlush.Load()
		if ns <= m || c.MaxFlush.CompareAndSwap(m, ns) {
			break
		}
	}
}

// DocCount is one document's read and write counts.
type DocCount struct {
	Doc    DocID
	Reads  uint64
	Writes uint64
}

// Hot returns the n documents with the most reads plus writes, busiest
// first.
func (c *Counters) Hot(n int) []DocCount {
	c.mu.Lock()
	m := map[DocID]*DocCount{}
	for d, r := range c.reads {
		m[d] = &DocCount{Doc: d, Reads: r}
	}
	for d, w := range c.writes {
		if dc, ok := m[d]; ok {
			dc.Writes = w
		} else {
			m[d] = &DocCount{Doc: d, Writes: w}
		}
	}
	c.mu.Unlock()
	out := make([]DocCount, 0, len(m))
	for _, dc := range m {
		out = append(out, *dc)
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].Reads+out[i].Writes, out[j].Reads+out[j].Writes
		if ti != tj {
			return ti > tj
		}
		return out[i].Doc.String() < out[j].Doc.String()
	})
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

// MeanBatch returns the mean number of transactions per committed batch.
func (c *Counters) MeanBatch() float64 {
	f := c.Flushes.Load()
	if f == 0 {
		return 0
	}
	return float64(c.FlushedTxns.Load()) / float64(f)
}
