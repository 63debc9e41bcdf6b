package obs

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readyz serves h's /readyz once and decodes the report.
func readyz(t *testing.T, h *Health) (int, Report, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ReadyHandler().ServeHTTP(rec, httptest.NewRequest("GET", PathReady, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var rep Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	return rec.Code, rep, raw
}

func mustAdd(t *testing.T, h *Health, name string, f CheckFunc, o CheckOptions) {
	t.Helper()
	if err := h.Add(name, f, o); err != nil {
		t.Fatal(err)
	}
}

func TestReadyzStatusAndJSON(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	code, rep, _ := readyz(t, h)
	if code != 200 || rep.Status != "ok" || len(rep.Checks) != 0 {
		t.Fatalf("no checks: %d %+v", code, rep)
	}
	var storageErr atomic.Value
	storageErr.Store("")
	mustAdd(t, h, "storage", Simple(func(context.Context) error {
		if s := storageErr.Load().(string); s != "" {
			return errors.New(s)
		}
		return nil
	}), CheckOptions{})
	mustAdd(t, h, "replication", func(context.Context) (any, error) {
		return map[string]int{"peers": 2}, nil
	}, CheckOptions{})

	code, rep, raw := readyz(t, h)
	if code != 200 || rep.Status != "ok" || !rep.Healthy() || len(rep.Failing()) != 0 {
		t.Fatalf("all passing: %d %+v", code, rep)
	}
	for _, name := range []string{"storage", "replication"} {
		c, ok := rep.Checks[name]
		if !ok || !c.OK || c.Error != "" || c.TookMS < 0 || c.At.IsZero() {
			t.Errorf("check %s: %+v", name, c)
		}
	}
	// The wire form is the documented one.
	checks := raw["checks"].(map[string]any)
	repl := checks["replication"].(map[string]any)
	if repl["ok"] != true || repl["details"].(map[string]any)["peers"] != float64(2) {
		t.Errorf("replication as JSON: %v", repl)
	}
	if _, ok := repl["took_ms"].(float64); !ok {
		t.Errorf("took_ms missing: %v", repl)
	}
	if _, ok := checks["storage"].(map[string]any)["error"]; ok {
		t.Errorf("a passing check carries an error field: %v", checks["storage"])
	}

	storageErr.Store("store: probe sync: input/output error\nsecond line")
	code, rep, raw = readyz(t, h)
	if code != http.StatusServiceUnavailable || rep.Status != "unhealthy" || raw["status"] != "unhealthy" {
		t.Fatalf("storage failing: %d %+v", code, rep)
	}
	if f := rep.Failing(); len(f) != 1 || f[0] != "storage" {
		t.Errorf("Failing() = %v", f)
	}
	if c := rep.Checks["storage"]; c.OK || c.Error != "store: probe sync: input/output error second line" {
		t.Errorf("storage result: %+v", c)
	}
	if !rep.Checks["replication"].OK {
		t.Errorf("replication failed too: %+v", rep.Checks["replication"])
	}

	storageErr.Store("")
	if code, rep, _ := readyz(t, h); code != 200 || !rep.Healthy() {
		t.Fatalf("recovered: %d %+v", code, rep)
	}
}

// A check that does not answer in time is reported failing; while it is
// still running, later requests join it instead of starting another.
func TestCheckTimeoutJoinsRunInFlight(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	release := make(chan struct{})
	var runs atomic.Int32
	mustAdd(t, h, "stuck", Simple(func(context.Context) error {
		runs.Add(1)
		<-release // ignores its context, like a hung disk
		return nil
	}), CheckOptions{Timeout: 20 * time.Millisecond})
	for range 3 {
		rep := h.Check(context.Background())
		if c := rep.Checks["stuck"]; c.OK || !strings.Contains(c.Error, "no answer within 20ms") {
			t.Fatalf("stuck check: %+v", c)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs of a hung check, want 1", n)
	}
	close(release)
	// Once it answers, the next request gets a passing result (from the
	// run that was stuck, or a new one).
	deadline := time.Now().Add(10 * time.Second)
	for !h.Check(context.Background()).Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("the check never passed after it was released")
		}
	}
}

func TestCheckRespectsRequestContext(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	mustAdd(t, h, "slow", Simple(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}), CheckOptions{Timeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c := h.Check(ctx).Checks["slow"]; c.OK || !strings.Contains(c.Error, "request ended") {
		t.Fatalf("after the request ended: %+v", c)
	}
}

func TestCheckEveryReusesResults(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	h := NewHealth(HealthOptions{Now: clock})
	var runs atomic.Int32
	mustAdd(t, h, "consistency", Simple(func(context.Context) error {
		runs.Add(1)
		return nil
	}), CheckOptions{Every: time.Minute})
	h.Check(context.Background())
	advance(59 * time.Second)
	rep := h.Check(context.Background())
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs within Every, want 1", n)
	}
	if at := rep.Checks["consistency"].At; !at.Equal(now.Add(-59 * time.Second)) {
		t.Errorf("reused result dated %v", at)
	}
	advance(time.Second)
	h.Check(context.Background())
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs after Every, want 2", n)
	}
}

func TestCheckPanicIsAFailure(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	mustAdd(t, h, "bad", Simple(func(context.Context) error { panic("boom") }), CheckOptions{})
	if c := h.Check(context.Background()).Checks["bad"]; c.OK || !strings.Contains(c.Error, "panicked: boom") {
		t.Fatalf("panicking check: %+v", c)
	}
}

func TestCheckLongErrorIsBounded(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	mustAdd(t, h, "chatty", Simple(func(context.Context) error { return errors.New(strings.Repeat("é", 5000)) }), CheckOptions{})
	c := h.Check(context.Background()).Checks["chatty"]
	if len(c.Error) > maxErrorLen+len("…") || !strings.HasSuffix(c.Error, "…") {
		t.Fatalf("error of %d bytes", len(c.Error))
	}
}

func TestAddRefusesBadChecks(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	ok := Simple(func(context.Context) error { return nil })
	mustAdd(t, h, "storage", ok, CheckOptions{})
	for name, add := range map[string]func() error{
		"duplicate":     func() error { return h.Add("storage", ok, CheckOptions{}) },
		"empty name":    func() error { return h.Add("", ok, CheckOptions{}) },
		"upper case":    func() error { return h.Add("Storage", ok, CheckOptions{}) },
		"long name":     func() error { return h.Add(strings.Repeat("a", 33), ok, CheckOptions{}) },
		"nil func":      func() error { return h.Add("x", nil, CheckOptions{}) },
		"negative time": func() error { return h.Add("y", ok, CheckOptions{Timeout: -1}) },
	} {
		if err := add(); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", name, err)
		}
	}
}

func TestHealthzAndMethods(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	mustAdd(t, h, "storage", Simple(func(context.Context) error { return errors.New("down") }), CheckOptions{})
	srv := httptest.NewServer(Handler(nil, h))
	defer srv.Close()
	// Alive even when not ready.
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, srv.URL+PathLive, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s /healthz: %d", method, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + PathReady)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("GET /readyz: %d, want 503", resp.StatusCode)
	}
	resp, err = http.Post(srv.URL+PathReady, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /readyz: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	// Without Metrics there is no /metrics.
	resp, err = http.Get(srv.URL + PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /metrics without Metrics: %d", resp.StatusCode)
	}
}

func TestWatchRunsChecksUntilCancelled(t *testing.T) {
	h := NewHealth(DefaultHealthOptions())
	runs := make(chan struct{}, 16)
	mustAdd(t, h, "tick", Simple(func(context.Context) error {
		select {
		case runs <- struct{}{}:
		default:
		}
		return nil
	}), CheckOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		h.Watch(ctx, time.Millisecond)
		close(done)
	}()
	for range 3 {
		select {
		case <-runs:
		case <-time.After(10 * time.Second):
			t.Fatal("Watch did not run the check")
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}
