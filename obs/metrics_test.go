package obs

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func newTestMetrics(t *testing.T, mod func(*Options)) *Metrics {
	t.Helper()
	o := DefaultOptions()
	o.NoRuntime = true
	if mod != nil {
		mod(&o)
	}
	m, err := NewMetrics(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// gather returns the registry's families by name.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// sampleSum is the sum of the histogram series(fams, name, labels).
func sampleSum(fams map[string]*dto.MetricFamily, name, labels string) float64 {
	return series(fams, name, labels).GetHistogram().GetSampleSum()
}

// series returns the metric of family name whose labels are exactly
// labels ("k=v,k=v"; "" for none), or nil.
func series(fams map[string]*dto.MetricFamily, name, labels string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		if strings.Join(ls, ",") == labels {
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's count; NaN when
// the series is absent.
func value(fams map[string]*dto.MetricFamily, name, labels string) float64 {
	m := series(fams, name, labels)
	switch {
	case m == nil:
		return math.NaN()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return math.NaN()
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, name, labels string, want float64) {
	t.Helper()
	if got := value(fams, name, labels); got != want {
		t.Errorf("%s{%s} = %v, want %v", name, labels, got, want)
	}
}

func TestReplicaEvents(t *testing.T) {
	m := newTestMetrics(t, nil)
	m.Integrated("local", 3, 2*time.Millisecond)
	m.Integrated("gossip", 1, 50*time.Microsecond)
	m.Integrated("gossip", 2, 70*time.Microsecond)
	m.Integrated("tab", 1, time.Millisecond)
	m.Integrated("sync", 5, -time.Second) // a clock step back counts as zero
	m.Integrated("martian", 4, time.Millisecond)
	m.Integrated("local", -7, time.Millisecond) // ignored count, latency observed
	m.Published()
	m.Published()
	m.SyncDone(30*time.Millisecond, 4, 6, nil)
	m.SyncDone(2*time.Second, 1, 0, errors.New("reset"))
	m.SyncDone(time.Millisecond, -1, -1, nil)

	f := gather(t, m)
	expect(t, f, "weft_replica_transactions_integrated_total", "source=local", 3)
	expect(t, f, "weft_replica_transactions_integrated_total", "source=gossip", 3)
	expect(t, f, "weft_replica_transactions_integrated_total", "source=tab", 1)
	expect(t, f, "weft_replica_transactions_integrated_total", "source=sync", 5)
	expect(t, f, "weft_replica_transactions_integrated_total", "source=other", 4)
	expect(t, f, "weft_replica_integration_latency_seconds", "source=local", 2)
	expect(t, f, "weft_replica_integration_latency_seconds", "source=gossip", 2)
	if got := sampleSum(f, "weft_replica_integration_latency_seconds", "source=sync"); got != 0 {
		t.Errorf("negative latency summed as %v", got)
	}
	if got := sampleSum(f, "weft_replica_integration_latency_seconds", "source=gossip"); math.Abs(got-120e-6) > 1e-9 {
		t.Errorf("gossip latency sum %v, want 120µs", got)
	}
	expect(t, f, "weft_replica_transactions_published_total", "", 2)
	expect(t, f, "weft_replica_sync_duration_seconds", "result=ok", 2)
	expect(t, f, "weft_replica_sync_duration_seconds", "result=error", 1)
	expect(t, f, "weft_replica_sync_envelopes_total", "direction=sent", 5)
	expect(t, f, "weft_replica_sync_envelopes_total", "direction=received", 6)
	// Families with every label value pre-declared appear before any event.
	f0 := gather(t, newTestMetrics(t, nil))
	expect(t, f0, "weft_replica_transactions_integrated_total", "source=gossip", 0)
	expect(t, f0, "weft_replica_sync_envelopes_total", "direction=received", 0)
}

func TestDocCache(t *testing.T) {
	m := newTestMetrics(t, nil)
	for _, e := range []string{"hit", "hit", "load", "unload", "hit", "nonsense"} {
		m.DocCache(e, 3*time.Millisecond)
	}
	resident := 2
	m.SetSources(Sources{ResidentDocs: func() int { return resident }})
	f := gather(t, m)
	expect(t, f, "weft_replica_doc_cache_total", "event=hit", 3)
	expect(t, f, "weft_replica_doc_cache_total", "event=load", 1)
	expect(t, f, "weft_replica_doc_cache_total", "event=unload", 1)
	expect(t, f, "weft_replica_doc_cache_total", "event=other", 1)
	expect(t, f, "weft_replica_docs_resident", "", 2)
	if h := f["weft_replica_doc_load_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.003 {
		t.Errorf("load durations: %d samples, sum %v; want one of 3 ms", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestRejectedReasonsAreBounded(t *testing.T) {
	m := newTestMetrics(t, func(o *Options) { o.MaxReasons = 3 })
	// Reasons are admitted in sorted order: the first three get series,
	// the rest fold into "other".
	counts := map[string]uint64{"malformed": 2, "too_large": 2, "signature": 1, "zz1": 1, "zz2": 1, strings.Repeat("z", 500): 1, "\xff\xfe": 1}
	m.SetSources(Sources{ReplicaRejected: func() map[string]uint64 { return counts }})
	f := gather(t, m)
	expect(t, f, "weft_replica_rejected_total", "reason=malformed", 2)
	expect(t, f, "weft_replica_rejected_total", "reason=too_large", 2)
	expect(t, f, "weft_replica_rejected_total", "reason=signature", 1)
	expect(t, f, "weft_replica_rejected_total", "reason=other", 4)
	if n := len(f["weft_replica_rejected_total"].GetMetric()); n != 4 {
		t.Errorf("%d rejection series, want 3 reasons + other", n)
	}
	// Cleaning: empty, overlong and invalid UTF-8 values are made safe.
	if got := cleanLabel(""); got != "unknown" {
		t.Errorf("cleanLabel(\"\") = %q", got)
	}
	if got := cleanLabel(strings.Repeat("é", 40)); len(got) > maxLabelLen+2 || !strings.HasPrefix(got, "éé") {
		t.Errorf("cleanLabel(long) = %q", got)
	}
	if got := cleanLabel("a\xffb"); got != "a?b" {
		t.Errorf("cleanLabel(invalid) = %q", got)
	}
}

func TestStoreEvents(t *testing.T) {
	m := newTestMetrics(t, nil)
	a, b := [16]byte{1}, [16]byte{2}
	m.DocRead(a)
	m.DocRead(a)
	m.DocRead(b)
	m.DocWrite(a, 5)
	m.DocWrite(b, 0)
	m.DocWrite(b, -3)
	m.Flush(5, 1000, 3*time.Millisecond, nil)
	m.Flush(100, 300000, 20*time.Millisecond, nil)
	m.Flush(7, 9, time.Second, errors.New("EIO"))

	f := gather(t, m)
	expect(t, f, "weft_store_doc_reads_total", "", 3)
	expect(t, f, "weft_store_transactions_written_total", "", 5)
	expect(t, f, "weft_store_batch_transactions", "", 2)
	expect(t, f, "weft_store_batch_bytes", "", 2)
	expect(t, f, "weft_store_flush_duration_seconds", "", 2)
	if got := sampleSum(f, "weft_store_batch_transactions", ""); got != 105 {
		t.Errorf("batch transactions sum %v, want 105", got)
	}
	if got := sampleSum(f, "weft_store_batch_bytes", ""); got != 301000 {
		t.Errorf("batch bytes sum %v, want 301000", got)
	}
	expect(t, f, "weft_store_flush_errors_total", "", 1)
	expect(t, f, "weft_store_hot_doc_accesses", "doc=01000000000000000000000000000000", 7)
	expect(t, f, "weft_store_hot_doc_accesses", "doc=02000000000000000000000000000000", 1)
}

func TestSources(t *testing.T) {
	m := newTestMetrics(t, func(o *Options) { o.MaxReasons = 2 })
	f := gather(t, m)
	for _, name := range []string{"weft_p2p_peers_connected", "weft_p2p_relay_reservations", "weft_replica_gossip_received_total", "weft_p2p_gossip_rejected_total"} {
		if f[name] != nil {
			t.Errorf("%s exported without a source", name)
		}
	}
	peers := 3
	rejected := map[string]uint64{"size": 4, "validator": 2}
	m.SetSources(Sources{
		Peers:             func() int { return peers },
		RelayReservations: func() int { return 1 },
		GossipReceived:    func() uint64 { return 42 },
		GossipRejected:    func() map[string]uint64 { return rejected },
	})
	f = gather(t, m)
	expect(t, f, "weft_p2p_peers_connected", "", 3)
	expect(t, f, "weft_p2p_relay_reservations", "", 1)
	expect(t, f, "weft_replica_gossip_received_total", "", 42)
	expect(t, f, "weft_p2p_gossip_rejected_total", "reason=size", 4)
	expect(t, f, "weft_p2p_gossip_rejected_total", "reason=validator", 2)
	// Values are read at each scrape; reasons past the bound fold into
	// "other" and the admitted ones stay.
	peers = 0
	rejected = map[string]uint64{"size": 5, "validator": 2, "a": 1, "b": 3}
	f = gather(t, m)
	expect(t, f, "weft_p2p_peers_connected", "", 0)
	expect(t, f, "weft_p2p_gossip_rejected_total", "reason=size", 5)
	expect(t, f, "weft_p2p_gossip_rejected_total", "reason=other", 4)
	if n := len(f["weft_p2p_gossip_rejected_total"].GetMetric()); n != 3 {
		t.Errorf("%d gossip rejection series, want 3", n)
	}
	// Ignored messages and peer scores: one histogram series, however many
	// peers.
	m.SetSources(Sources{
		GossipIgnored:    func() map[string]uint64 { return map[string]uint64{"duplicate": 7} },
		PeerScores:       func() []float64 { return []float64{-90, -5, 0, 0, 3} },
		PeerScoreBuckets: []float64{-80, -10, 0, 10},
	})
	f = gather(t, m)
	expect(t, f, "weft_p2p_gossip_ignored_total", "reason=duplicate", 7)
	h := f["weft_p2p_peer_score"].GetMetric()[0].GetHistogram()
	var cum []uint64
	for _, b := range h.GetBucket() {
		cum = append(cum, b.GetCumulativeCount())
	}
	if h.GetSampleCount() != 5 || h.GetSampleSum() != -92 || !slices.Equal(cum, []uint64{1, 1, 4, 5}) {
		t.Errorf("peer score histogram: count %d sum %v buckets %v; want 5, -92, [1 1 4 5]", h.GetSampleCount(), h.GetSampleSum(), cum)
	}
}

func TestMetricsHandler(t *testing.T) {
	m := newTestMetrics(t, func(o *Options) { o.NoRuntime = false })
	m.Integrated("local", 1, time.Millisecond)
	srv := httptest.NewServer(Handler(m, NewHealth(DefaultHealthOptions())))
	defer srv.Close()
	resp, err := http.Get(srv.URL + PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"# TYPE weft_replica_transactions_integrated_total counter",
		`weft_replica_transactions_integrated_total{source="local"} 1`,
		"# TYPE weft_replica_integration_latency_seconds histogram",
		"# TYPE weft_store_flush_duration_seconds histogram",
		"# TYPE go_goroutines gauge",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Post(srv.URL+PathMetrics, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/metricsx")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metricsx: %d", resp.StatusCode)
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, mod := range map[string]func(*Options){
		"no reasons":          func(o *Options) { o.MaxReasons = 0 },
		"no hot docs":         func(o *Options) { o.HotDocs = 0 },
		"too many hot docs":   func(o *Options) { o.HotDocs = 101 },
		"tracked below top":   func(o *Options) { o.HotTracked = o.HotDocs - 1 },
		"tracked beyond ever": func(o *Options) { o.HotTracked = 2_000_000 },
	} {
		o := DefaultOptions()
		mod(&o)
		if _, err := NewMetrics(o); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
	}
	if o := DefaultOptions(); o.MaxReasons != 32 || o.HotDocs != 10 || o.HotTracked != 10000 || o.NoRuntime {
		t.Errorf("DefaultOptions() = %+v", o)
	}
	// Two registries are independent (nothing goes to the global one).
	a, b := newTestMetrics(t, nil), newTestMetrics(t, nil)
	a.Published()
	if v := value(gather(t, b), "weft_replica_transactions_published_total", ""); v != 0 {
		t.Errorf("a's event shows in b: %v", v)
	}
}
