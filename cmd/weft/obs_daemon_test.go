package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"weft/api"
	"weft/obs"
)

// runTestDaemon runs the real daemon (badger store, libp2p node on
// loopback, the API server) in this process until the test ends, and
// returns a client for it. mods change its configuration.
func runTestDaemon(t *testing.T, dir string, mods ...func(*daemonConfig)) *apiClient {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("daemon log:\n%s", b)
		}
	})
	cfg := daemonConfig{
		Data: dir, API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		MDNS: boolPtr(false), DHT: boolPtr(false), LogLevel: "info", LogFormat: "text",
		SyncInterval: duration(30 * time.Second), ReplicationLag: duration(defaultReplicationLag), apiExplicit: true,
	}
	for _, m := range mods {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, cfg, io.Discard, logf) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop within 30s")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := readAPIInfo(dir); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the daemon exited during start-up: %v", err)
		case <-time.After(10 * time.Millisecond): // start-up poll
		}
		if time.Now().After(deadline) {
			t.Fatal("no api.json after 30s")
		}
	}
	cl, err := dialDaemon(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// get fetches path from the daemon, with or without its token.
func (c *apiClient) get(t *testing.T, path string, withToken bool) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// waitReadyz polls /readyz until it answers code, and returns the report.
func waitReadyz(t *testing.T, c *apiClient, code int) obs.Report {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, body := c.get(t, obs.PathReady, true)
		var rep obs.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatalf("/readyz answered %d %q: %v", got, body, err)
		}
		if got == code {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answers %d after 30s, want %d: %s", got, code, body)
		}
		<-tick.C
	}
}

// metricValue finds the sample of series (name with its labels, exactly
// as exposed) in a text exposition.
func metricValue(body []byte, series string) (float64, bool) {
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// A real daemon: /readyz turns unhealthy while its storage fails and
// recovers after; /metrics shows what some edits did; `weft status` agrees.
// The storage fault is injected with a test hook (a file that makes the
// storage check fail while it exists): CI runs as root, where no
// permission change stops badger writing its open files.
func TestDaemonHealthAndMetrics(t *testing.T) {
	fault := filepath.Join(t.TempDir(), "fail-storage")
	dir := t.TempDir()
	cl := runTestDaemon(t, dir, func(c *daemonConfig) { c.hooks.failStorage = fault })
	ctx := context.Background()

	if code, body := cl.get(t, obs.PathLive, true); code != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	rep := waitReadyz(t, cl, http.StatusOK)
	for _, name := range []string{"storage", "consistency", "replication"} {
		if c, ok := rep.Checks[name]; !ok || !c.OK {
			t.Errorf("check %s: %+v (present %v)", name, c, ok)
		}
	}
	if len(rep.Checks) != 3 {
		t.Errorf("checks %v, want storage, consistency, replication", rep.Checks)
	}
	// The endpoints sit behind the API's token.
	for _, p := range []string{obs.PathLive, obs.PathReady, obs.PathMetrics} {
		if code, _ := cl.get(t, p, false); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", p, code)
		}
	}

	// Some edits, then the metrics.
	var doc api.DocInfo
	if err := cl.call(ctx, "POST", "/api/docs", map[string]string{"title": "obs"}, &doc); err != nil {
		t.Fatal(err)
	}
	const edits = 4
	for i := range edits {
		body := map[string]any{"edits": []api.Edit{{Pos: i, Ins: "x"}}}
		if err := cl.call(ctx, "POST", "/api/docs/"+doc.ID+"/edits", body, nil); err != nil {
			t.Fatal(err)
		}
	}
	if text, err := cl.text(ctx, doc.ID); err != nil || text != "xxxx" {
		t.Fatalf("text %q %v", text, err)
	}
	code, body := cl.get(t, obs.PathMetrics, true)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for series, min := range map[string]float64{
		`weft_replica_transactions_integrated_total{source="local"}`:     edits,
		`weft_replica_integration_latency_seconds_count{source="local"}`: edits,
		`weft_store_transactions_written_total`:                          edits,
		`weft_store_flush_duration_seconds_count`:                        1,
		`weft_store_batch_transactions_count`:                            1,
		`weft_store_batch_bytes_count`:                                   1,
		fmt.Sprintf(`weft_store_hot_doc_accesses{doc="%s"}`, doc.ID):     edits,
		`weft_p2p_peers_connected`:                                       0,
		`weft_replica_gossip_received_total`:                             0,
		`weft_replica_transactions_integrated_total{source="gossip"}`:    0,
		`weft_replica_sync_envelopes_total{direction="received"}`:        0,
		`go_goroutines`:                 1,
		`weft_store_flush_errors_total`: 0,
		`weft_replica_integration_latency_seconds_bucket{source="local",le="+Inf"}`: edits,
	} {
		v, ok := metricValue(body, series)
		if !ok || v < min {
			t.Errorf("/metrics: %s = %v (present %v), want ≥ %v", series, v, ok, min)
		}
	}
	if v, _ := metricValue(body, "weft_store_flush_errors_total"); v != 0 {
		t.Errorf("flush errors %v, want 0", v)
	}

	// Storage fails: not ready, and only storage says so.
	if err := os.WriteFile(fault, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rep = waitReadyz(t, cl, http.StatusServiceUnavailable)
	if rep.Status != "unhealthy" || rep.Checks["storage"].OK || !strings.Contains(rep.Checks["storage"].Error, "storage fault injected for testing ("+fault+" exists)") {
		t.Fatalf("storage failing: %+v", rep)
	}
	if !rep.Checks["consistency"].OK || !rep.Checks["replication"].OK {
		t.Errorf("other checks failed with storage: %+v", rep.Checks)
	}
	if code, _ := cl.get(t, obs.PathLive, true); code != 200 {
		t.Errorf("/healthz while not ready: %d", code)
	}
	code2, out, errs := cliIn(t, dir, "status")
	if code2 != 1 || !strings.Contains(out, "  storage      failing: storage fault injected") || errs != "weft: the daemon is unhealthy: storage failing\n" {
		t.Errorf("weft status while storage fails: exit %d\n%s\nstderr %q", code2, out, errs)
	}

	// The fault goes away: ready again.
	if err := os.Remove(fault); err != nil {
		t.Fatal(err)
	}
	rep = waitReadyz(t, cl, http.StatusOK)
	if !rep.Healthy() {
		t.Fatalf("recovered: %+v", rep)
	}
	code2, out, errs = cliIn(t, dir, "status")
	if code2 != 0 || errs != "" || !strings.Contains(out, "health         ok\n") {
		t.Errorf("weft status after recovery: exit %d\n%s\nstderr %q", code2, out, errs)
	}
}

// A daemon configured with a relay it cannot reach: /readyz turns
// unhealthy once the relay has been away, and the edits made meanwhile
// unacknowledged, for longer than the limit (shortened with
// ReplicationLag).
func TestDaemonReadyzRelayUnreachable(t *testing.T) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	relayID, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there: the relay is unreachable
	relay := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", closed, relayID)
	dir := t.TempDir()
	cl := runTestDaemon(t, dir, func(c *daemonConfig) {
		c.Relays = []string{relay}
		c.ReplicationLag = duration(300 * time.Millisecond)
	})
	ctx := context.Background()
	var doc api.DocInfo
	if err := cl.call(ctx, "POST", "/api/docs", map[string]string{"title": "r"}, &doc); err != nil {
		t.Fatal(err)
	}
	if err := cl.call(ctx, "POST", "/api/docs/"+doc.ID+"/edits", map[string]any{"edits": []api.Edit{{Ins: "unacknowledged"}}}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep := waitReadyz(t, cl, http.StatusServiceUnavailable)
		c := rep.Checks["replication"]
		if !c.OK && strings.Contains(c.Error, "relay "+relayID.String()+" unreachable") && strings.Contains(c.Error, "document "+doc.ID+": no relay acknowledged") {
			if !rep.Checks["storage"].OK || !rep.Checks["consistency"].OK {
				t.Errorf("other checks failed: %+v", rep.Checks)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication never reported both the relay and the document: %+v", rep.Checks)
		}
	}
	code, out, _ := cliIn(t, dir, "status")
	if code != 1 || !strings.Contains(out, "  replication  failing: ") {
		t.Errorf("weft status: exit %d\n%s", code, out)
	}
}
