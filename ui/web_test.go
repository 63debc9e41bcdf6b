package ui_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"weft/ui"
	"weft/ui/uitest"
)

func TestEditorPageNeedsNoTokenButALoopbackHost(t *testing.T) {
	s, _ := newServer(t)
	w := do(t, s, "GET", "/", "", func(r *http.Request) { r.Header.Del("Authorization") })
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<html") {
		t.Fatalf("page: %d %q", w.Code, w.Body)
	}
	csp := w.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "'wasm-unsafe-eval'", "frame-ancestors 'none'", "connect-src 'self' ws://"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	etag := w.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if w := do(t, s, "GET", "/", "", func(r *http.Request) { r.Header.Set("If-None-Match", etag) }); w.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", w.Code)
	}
	if w := do(t, s, "GET", "/", "", func(r *http.Request) { r.Host = "evil.com:7420" }); w.Code != http.StatusForbidden {
		t.Fatalf("foreign Host: %d", w.Code)
	}
	if w := do(t, s, "POST", "/", ""); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /: %d", w.Code)
	}
}

// echoBackend serves sessions that send back what they get, and refuse
// the message "bad".
type echoBackend struct{ *uitest.Fake }

type echoSession struct{ out chan []byte }

func (echoBackend) OpenSession(_ context.Context, id string) (ui.Session, error) {
	if id != docA {
		return nil, errors.New("no such document")
	}
	return &echoSession{out: make(chan []byte, 8)}, nil
}

type rejection struct{}

func (rejection) Error() string  { return "rejected (bad)" }
func (rejection) Reason() string { return "bad" }

func (e *echoSession) Handle(_ context.Context, b []byte) error {
	if string(b) == "bad" {
		return rejection{}
	}
	e.out <- append([]byte("echo:"), b...)
	return nil
}
func (e *echoSession) Out() <-chan []byte { return e.out }
func (e *echoSession) Close()             {}

func startWS(t *testing.T) string {
	o := ui.DefaultOptions()
	o.Token = token
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := ui.New(echoBackend{uitest.New()}, o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

func dial(t *testing.T, base, origin string, protos ...string) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, strings.Replace(base, "http://", "ws://", 1)+"/ws/"+docA, &websocket.DialOptions{HTTPHeader: h, Subprotocols: protos})
}

func TestEditorSocket(t *testing.T) {
	base := startWS(t)
	good := []string{"weft.v4", "bearer." + token}
	// Refused before any upgrade.
	for name, c := range map[string]struct {
		origin string
		protos []string
		status int
	}{
		"no token":       {base, []string{"weft.v4"}, http.StatusUnauthorized},
		"wrong token":    {base, []string{"weft.v4", "bearer.nope"}, http.StatusUnauthorized},
		"foreign origin": {"http://evil.com", good, http.StatusForbidden},
		"other port":     {"http://127.0.0.1:1", good, http.StatusForbidden},
		"no origin":      {"", good, http.StatusForbidden},
		"no subprotocol": {base, []string{"bearer." + token}, http.StatusBadRequest},
		"older protocol": {base, []string{"weft.v3", "bearer." + token}, http.StatusBadRequest},
	} {
		conn, resp, err := dial(t, base, c.origin, c.protos...)
		if err == nil {
			conn.CloseNow()
			t.Errorf("%s: upgraded", name)
			continue
		}
		if resp == nil || resp.StatusCode != c.status {
			t.Errorf("%s: %v (response %v), want status %d", name, err, resp, c.status)
		}
	}
	// A good socket: binary in, binary out; the token is never echoed.
	conn, resp, err := dial(t, base, base, good...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "weft.v4" {
		t.Fatalf("chosen subprotocol %q", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageBinary, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if typ, b, err := conn.Read(ctx); err != nil || typ != websocket.MessageBinary || string(b) != "echo:hi" {
		t.Fatalf("read %v %q %v", typ, b, err)
	}
	// A refused message closes the socket with a policy violation.
	if err := conn.Write(ctx, websocket.MessageBinary, []byte("bad")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("after a rejected message: %v", err)
	}
	// Text frames are refused.
	conn2, _, err := dial(t, base, base, good...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.CloseNow()
	if err := conn2.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn2.Read(ctx); websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Fatalf("after a text frame: %v", err)
	}
}
