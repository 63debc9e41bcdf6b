package obs

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrOptions reports Options that cannot be used.
var ErrOptions = errors.New("obs: bad options")

// Options configure Metrics. Start from DefaultOptions.
type Options struct {
	// MaxReasons bounds the distinct reason labels of each rejection
	// counter; later reasons are counted as "other". Default 32.
	MaxReasons int
	// HotDocs is how many of the most accessed documents are exported.
	// Default 10.
	HotDocs int
	// HotTracked bounds the documents whose accesses are counted (see the
	// package comment). Default 10000.
	HotTracked int
	// NoRuntime leaves out the Go runtime and process collectors. Default
	// false: they are registered.
	NoRuntime bool
}

// DefaultOptions returns the defaults documented on Options.
func DefaultOptions() Options {
	return Options{MaxReasons: 32, HotDocs: 10, HotTracked: 10000}
}

func (o *Options) validate() error {
	bad := func(f string, args ...any) error {
		return fmt.Errorf("%w: "+f, append([]any{ErrOptions}, args...)...)
	}
	switch {
	case o.MaxReasons < 1 || o.MaxReasons > 1000:
		return bad("MaxReasons %d not in 1..1000", o.MaxReasons)
	case o.HotDocs < 1 || o.HotDocs > 100:
		return bad("HotDocs %d not in 1..100", o.HotDocs)
	case o.HotTracked < o.HotDocs || o.HotTracked > 1_000_000:
		return bad("HotTracked %d not in HotDocs (%d)..1000000", o.HotTracked, o.HotDocs)
	}
	return nil
}

// Histogram buckets, in seconds or counts.
var (
	latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	syncBuckets    = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	batchTxns      = prometheus.ExponentialBuckets(1, 2, 13)   // 1 … 4096
	batchBytes     = prometheus.ExponentialBuckets(256, 4, 10) // 256 B … 64 MiB
)

// Metrics is weft's metrics registry. It receives the replica's events
// (the methods of replica.Observer) and the store's (those of
// store.Metrics, with a document as its 16-byte ID). Its methods are quick
// and safe for concurrent use, and never panic on odd input (negative
// counts are ignored, negative durations count as zero).
type Metrics struct {
	reg *prometheus.Registry

	integrated map[string]prometheus.Counter
	latency    map[string]prometheus.Observer
	published  prometheus.Counter
	syncDur    map[bool]prometheus.Observer // by success
	syncSent   prometheus.Counter
	syncRecv   prometheus.Counter
	docCache   map[string]prometheus.Counter
	loadDur    prometheus.Observer

	batchTxns   prometheus.Observer
	batchBytes  prometheus.Observer
	flushDur    prometheus.Observer
	flushErrors prometheus.Counter
	reads       prometheus.Counter
	written     prometheus.Counter
	hot         atomic.Pointer[hotDocs] // nil once HideDocs

	sources    atomic.Pointer[Sources]
	maxReasons int // Options.MaxReasons, for collectors added later
}

// NewMetrics makes the registry and registers every metric.
func NewMetrics(opts Options) (*Metrics, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, maxReasons: opts.MaxReasons}

	integrated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_replica_transactions_integrated_total",
		Help: "Transactions integrated and handed to the store, by where they came from.",
	}, []string{"source"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "weft_replica_integration_latency_seconds",
		Help:    "Time from a transaction's arrival until it was integrated and handed to the store, by where it came from.",
		Buckets: latencyBuckets,
	}, []string{"source"})
	m.integrated, m.latency = map[string]prometheus.Counter{}, map[string]prometheus.Observer{}
	// The replica's sources get their own series; any other counts as "other".
	for _, s := range []string{"local", "tab", "gossip", "sync", otherLabel} {
		m.integrated[s] = integrated.WithLabelValues(s)
		m.latency[s] = latency.WithLabelValues(s)
	}
	published := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weft_replica_transactions_published_total",
		Help: "Transactions published on gossip topics.",
	})
	m.published = published
	syncDur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "weft_replica_sync_duration_seconds",
		Help:    "Duration of catch-up exchanges with peers, by result.",
		Buckets: syncBuckets,
	}, []string{"result"})
	m.syncDur = map[bool]prometheus.Observer{true: syncDur.WithLabelValues("ok"), false: syncDur.WithLabelValues("error")}
	syncEnv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_replica_sync_envelopes_total",
		Help: "Transactions exchanged by catch-up, by direction.",
	}, []string{"direction"})
	m.syncSent, m.syncRecv = syncEnv.WithLabelValues("sent"), syncEnv.WithLabelValues("received")
	docCache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_replica_doc_cache_total",
		Help: "The document cache (loaded crdt states, unloaded when idle): requests that found their document loaded (hit), loads from the store, unloads.",
	}, []string{"event"})
	m.docCache = map[string]prometheus.Counter{}
	for _, e := range []string{"hit", "load", "unload", otherLabel} {
		m.docCache[e] = docCache.WithLabelValues(e)
	}
	loadDur := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "weft_replica_doc_load_duration_seconds", Help: "Time to load a document from the store (snapshot and the transactions after it).", Buckets: latencyBuckets,
	})
	m.loadDur = loadDur

	bt := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "weft_store_batch_transactions", Help: "Transactions per batch committed by the store.", Buckets: batchTxns,
	})
	bb := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "weft_store_batch_bytes", Help: "Value bytes per batch committed by the store.", Buckets: batchBytes,
	})
	fd := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "weft_store_flush_duration_seconds", Help: "Time to commit and sync one batch.", Buckets: latencyBuckets,
	})
	m.batchTxns, m.batchBytes, m.flushDur = bt, bb, fd
	m.flushErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weft_store_flush_errors_total", Help: "Batches whose commit or sync failed.",
	})
	m.reads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weft_store_doc_reads_total", Help: "Document reads (loads, streams, snapshots) from the store.",
	})
	m.written = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "weft_store_transactions_written_total", Help: "Transactions handed to the store to write.",
	})
	hot := newHotDocs(opts.HotDocs, opts.HotTracked)
	m.hot.Store(hot)

	cs := []prometheus.Collector{integrated, latency, published, syncDur, syncEnv, docCache, loadDur,
		bt, bb, fd, m.flushErrors, m.reads, m.written, hot, newSourceCollector(m, opts.MaxReasons)}
	if !opts.NoRuntime {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("obs: registering a collector: %w", err)
		}
	}
	return m, nil
}

// Registry is the registry, for parts that add metrics of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetSources sets the functions read at scrape time (replacing earlier
// ones).
func (m *Metrics) SetSources(s Sources) { m.sources.Store(&s) }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg, // counts its own errors
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

func seconds(d time.Duration) float64 { return max(d, 0).Seconds() }

// Replica events (replica.Observer).

// Integrated: txns transactions from source were integrated and handed
// to the store, latency after they arrived.
func (m *Metrics) Integrated(source string, txns int, latency time.Duration) {
	c, ok := m.integrated[source]
	if !ok {
		source = otherLabel
		c = m.integrated[source]
	}
	if txns > 0 {
		c.Add(float64(txns))
	}
	m.latency[source].Observe(seconds(latency))
}

// DocCache counts the replica's document cache: hits, loads (with their
// duration) and unloads.
func (m *Metrics) DocCache(event string, dur time.Duration) {
	c, ok := m.docCache[event]
	if !ok {
		c = m.docCache[otherLabel]
	}
	c.Inc()
	if event == "load" {
		m.loadDur.Observe(max(dur, 0).Seconds())
	}
}

// Published: a transaction was published on a gossip topic.
func (m *Metrics) Published() { m.published.Inc() }

// SyncDone: a catch-up exchange ended after dur (err nil: complete),
// having sent and received that many envelopes.
func (m *Metrics) SyncDone(dur time.Duration, sent, received int, err error) {
	m.syncDur[err == nil].Observe(seconds(dur))
	if sent > 0 {
		m.syncSent.Add(float64(sent))
	}
	if received > 0 {
		m.syncRecv.Add(float64(received))
	}
}

// Store events (store.Metrics, with documents as their 16-byte IDs).

// DocRead: a document was read.
func (m *Metrics) DocRead(doc [16]byte) {
	m.reads.Inc()
	if h := m.hot.Load(); h != nil {
		h.add(doc, 1)
	}
}

// DocWrite: txns transactions of a document were handed to the store.
func (m *Metrics) DocWrite(doc [16]byte, txns int) {
	if txns <= 0 {
		return
	}
	m.written.Add(float64(txns))
	if h := m.hot.Load(); h != nil {
		h.add(doc, uint64(txns))
	}
}

// Flush: one batch was committed and synced (err nil), or failed.
func (m *Metrics) Flush(txns, bytes int, latency time.Duration, err error) {
	if err != nil {
		m.flushErrors.Inc()
		return
	}
	m.batchTxns.Observe(float64(max(txns, 0)))
	m.batchBytes.Observe(float64(max(bytes, 0)))
	m.flushDur.Observe(seconds(latency))
}

// Hot returns the most accessed documents (at most Options.HotDocs),
// busiest first; none after HideDocs.
func (m *Metrics) Hot() []HotDoc {
	if h := m.hot.Load(); h != nil {
		return h.hottest()
	}
	return nil
}

// HideDocs stops exporting every metric that names a document (the hot
// documents: weft_store_hot_doc_accesses) and counting for it, for a
// /metrics served to others (a relay's). No other metric names one.
func (m *Metrics) HideDocs() {
	if h := m.hot.Swap(nil); h != nil {
		m.reg.Unregister(h)
	}
}
