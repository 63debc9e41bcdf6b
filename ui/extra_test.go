package ui_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"weft/ui"
	"weft/ui/uitest"
)

// extraHandler answers with its name, so a test sees which one ran.
func extraHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(name + " " + r.Method))
	})
}

func withExtra(o *ui.Options) {
	o.Extra = map[string]http.Handler{
		"/healthz":     extraHandler("live"),
		"/metrics":     extraHandler("metrics"),
		"/debug/stats": extraHandler("stats"),
	}
}

func TestExtraRoutesServedWithToken(t *testing.T) {
	s, _ := newServer(t, withExtra)
	for path, want := range map[string]string{"/healthz": "live GET", "/metrics": "metrics GET", "/debug/stats": "stats GET"} {
		w := do(t, s, "GET", path, "")
		if w.Code != http.StatusOK || w.Body.String() != want {
			t.Errorf("GET %s: %d %q, want %q", path, w.Code, w.Body, want)
		}
		// The API's security headers apply to them too.
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: headers %v", path, w.Header())
		}
	}
	if w := do(t, s, "HEAD", "/healthz", ""); w.Code != http.StatusOK {
		t.Errorf("HEAD /healthz: %d", w.Code)
	}
	// Other methods get the API's JSON 405; paths below an extra one, 404.
	w := do(t, s, "POST", "/healthz", "")
	wantError(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, do(t, s, "GET", "/healthz/more", ""), http.StatusNotFound, "not_found")
	wantError(t, do(t, s, "GET", "/debug", ""), http.StatusNotFound, "not_found")
	// The API still works beside them.
	if w := do(t, s, "GET", "/api/status", ""); w.Code != http.StatusOK {
		t.Errorf("GET /api/status: %d", w.Code)
	}
}

func TestExtraRoutesGuarded(t *testing.T) {
	s, _ := newServer(t, withExtra)
	w := do(t, s, "GET", "/metrics", "", func(r *http.Request) { r.Header.Del("Authorization") })
	if w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "metrics GET") {
		t.Errorf("no token: %d %q", w.Code, w.Body)
	}
	w = do(t, s, "GET", "/metrics", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong-token-0123456789") })
	wantError(t, w, http.StatusUnauthorized, "unauthorized", "wrong token")
	w = do(t, s, "GET", "/healthz", "", func(r *http.Request) { r.Host = "evil.com" })
	wantError(t, w, http.StatusForbidden, "forbidden", "Host")
	w = do(t, s, "GET", "/healthz", "", func(r *http.Request) { r.Header.Set("Origin", "http://evil.com") })
	wantError(t, w, http.StatusForbidden, "forbidden", "Origin")
}

func TestExtraRoutesRefusedPaths(t *testing.T) {
	h := extraHandler("x")
	for _, p := range []string{
		"", "/", "healthz", "/healthz/", "/a//b", "/a/./b", "/a/../b", "/{id}", "/a b", "/a?b", "/a%2fb",
		"/api", "/api/status", "/api/x", "/ws", "/ws/x", "/é", "/" + strings.Repeat("a", 128),
	} {
		o := ui.DefaultOptions()
		o.Token = token
		o.Extra = map[string]http.Handler{p: h}
		if _, err := ui.New(uitest.New(), o); !errors.Is(err, ui.ErrOptions) {
			t.Errorf("Extra path %q: %v, want ErrOptions", p, err)
		}
	}
	o := ui.DefaultOptions()
	o.Token = token
	o.Extra = map[string]http.Handler{"/healthz": nil}
	if _, err := ui.New(uitest.New(), o); !errors.Is(err, ui.ErrOptions) {
		t.Errorf("nil handler: %v", err)
	}
	// A path that is one of the editor's files is refused too.
	o.Extra = map[string]http.Handler{"/index.html": h}
	if _, err := ui.New(uitest.New(), o); !errors.Is(err, ui.ErrOptions) || !strings.Contains(err.Error(), "editor") {
		t.Errorf("editor file: %v", err)
	}
	// apix is not under /api/.
	o.Extra = map[string]http.Handler{"/apix": h, "/a.b/c-d_e~f": h}
	if _, err := ui.New(uitest.New(), o); err != nil {
		t.Errorf("good paths: %v", err)
	}
}
