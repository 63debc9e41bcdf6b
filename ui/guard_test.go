package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"weft/ui"
)

func TestTokenRequired(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "secret text")
	paths := []string{"/api/status", "/api/docs", "/api/docs/" + docA + "/text", "/api/nope", "/ws"}
	cases := []struct {
		name, auth, mention string
	}{
		{"missing", "", "missing"},
		{"wrong", "Bearer " + token + "x", "wrong token"},
		{"prefix of the token", "Bearer " + token[:len(token)-1], "wrong token"},
		{"empty token", "Bearer ", "wrong token"},
		{"other scheme", "Basic " + token, "Bearer"},
		{"no scheme", token, "Bearer"},
	}
	for _, c := range cases {
		for _, p := range paths {
			w := do(t, s, "GET", p, "", func(r *http.Request) {
				r.Header.Del("Authorization")
				if c.auth != "" {
					r.Header.Set("Authorization", c.auth)
				}
			})
			e := wantError(t, w, http.StatusUnauthorized, "unauthorized", c.mention)
			if strings.Contains(e.Error, "secret") {
				t.Fatalf("%s %s: leaked the document: %q", c.name, p, e.Error)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", c.name, p)
			}
		}
	}
	// Edits without a token change nothing.
	w := do(t, s, "POST", "/api/docs/"+docA+"/edits", `{"edits":[{"pos":0,"ins":"x"}]}`, func(r *http.Request) { r.Header.Del("Authorization") })
	wantError(t, w, http.StatusUnauthorized, "unauthorized")
	if len(fake.EditCalls()) != 0 {
		t.Fatal("an unauthorised edit reached the backend")
	}
	// The scheme is case-insensitive.
	if w := do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) }); w.Code != http.StatusOK {
		t.Fatalf("lowercase scheme: %d", w.Code)
	}
}

func TestForeignHostRefused(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "x")
	for _, host := range []string{
		"evil.com", "evil.com:7420", "127.0.0.1.evil.com", "127.0.0.1.evil.com:7420",
		"localhost.evil.com", "localhost.", "evil.localhost", "[::1].evil.com", "10.0.0.5:7420",
		"192.168.1.2", "0.0.0.0:7420", "", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:80a",
		"::1", "[::1", "[127.0.0.1]:7420", "[::1]x", "127.0.0.1:7420:1",
	} {
		w := do(t, s, "GET", "/api/docs/"+docA+"/text", "", func(r *http.Request) { r.Host = host })
		wantError(t, w, http.StatusForbidden, "forbidden", "loopback")
	}
	// Refused even without a token: the Host check comes first.
	w := do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Host = "evil.com"; r.Header.Del("Authorization") })
	wantError(t, w, http.StatusForbidden, "forbidden")
	w = do(t, s, "POST", "/api/docs/"+docA+"/edits", `{"edits":[{"pos":0,"ins":"x"}]}`, func(r *http.Request) { r.Host = "evil.com:7420" })
	wantError(t, w, http.StatusForbidden, "forbidden")
	if len(fake.EditCalls()) != 0 {
		t.Fatal("an edit with a foreign Host reached the backend")
	}
}

func TestLoopbackHostsAccepted(t *testing.T) {
	s, _ := newServer(t)
	for _, host := range []string{
		"localhost", "localhost:7420", "LocalHost:1", "127.0.0.1", "127.0.0.1:7420", "127.1.2.3:80",
		"[::1]", "[::1]:7420", "[0:0:0:0:0:0:0:1]:65535",
	} {
		if w := do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Host = host }); w.Code != http.StatusOK {
			t.Errorf("Host %q: %d %s", host, w.Code, w.Body)
		}
	}
}

func TestAllowNonLoopbackAcceptsIPLiteralsOnly(t *testing.T) {
	s, _ := newServer(t, func(o *ui.Options) { o.AllowNonLoopback = true; o.Addr = "0.0.0.0:0" })
	for host, want := range map[string]int{
		"192.168.1.2:7420": http.StatusOK,
		"[fe80::1]:7420":   http.StatusOK,
		"evil.com:7420":    http.StatusForbidden,
		"10.0.0.1.nip.io":  http.StatusForbidden,
	} {
		if w := do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Host = host }); w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}

func TestForeignOriginRefused(t *testing.T) {
	s, _ := newServer(t)
	for origin, want := range map[string]int{
		"http://127.0.0.1:7420":        http.StatusOK,
		"http://localhost:7420":        http.StatusOK,
		"http://[::1]:7420":            http.StatusOK,
		"https://evil.com":             http.StatusForbidden,
		"http://127.0.0.1.evil.com":    http.StatusForbidden,
		"null":                         http.StatusForbidden,
		"file://":                      http.StatusForbidden,
		"http://user@127.0.0.1:7420":   http.StatusForbidden,
		"chrome-extension://abcdefghi": http.StatusForbidden,
	} {
		w := do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Header.Set("Origin", origin) })
		if w.Code != want {
			t.Errorf("Origin %q: %d, want %d", origin, w.Code, want)
		}
		if want == http.StatusForbidden {
			wantError(t, w, want, "forbidden", "Origin")
		}
	}
}
