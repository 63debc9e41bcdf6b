package ui_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"weft/api"
	"weft/ui"
	"weft/ui/uitest"
	"weft/vocab"
)

var _ ui.Backend = (*uitest.Fake)(nil)

const (
	token = "test-token-0123456789abcdef"
	docA  = "0123456789abcdef0123456789abcdef"
)

func newServer(t *testing.T, mod ...func(*ui.Options)) (*ui.Server, *uitest.Fake) {
	t.Helper()
	fake := uitest.New()
	o := ui.DefaultOptions()
	o.Addr = "127.0.0.1:0"
	o.Token = token
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, m := range mod {
		m(&o)
	}
	s, err := ui.New(fake, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

// request builds an authorised request from this machine; opts change it.
func request(method, path, body string, opts ...func(*http.Request)) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Host = "127.0.0.1:7420"
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	return req
}

func serve(s http.Handler, req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	return w
}

func do(t *testing.T, s http.Handler, method, path, body string, opts ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	return serve(s, request(method, path, body, opts...))
}

// decode checks status and content type and decodes the JSON reply.
func decode[T any](t *testing.T, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var v T
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T: %v", v, err)
	}
	return v
}

// wantError checks an error reply's status, code and that its message
// mentions each of the given fragments.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string, mention ...string) ui.ErrorReply {
	t.Helper()
	e := decode[ui.ErrorReply](t, w, status)
	if e.Code != code {
		t.Errorf("code %q, want %q (error %q)", e.Code, code, e.Error)
	}
	for _, m := range mention {
		if !strings.Contains(e.Error, m) {
			t.Errorf("error %q does not mention %q", e.Error, m)
		}
	}
	return e
}

func TestCreateListRenameJoin(t *testing.T) {
	s, fake := newServer(t)
	w := do(t, s, "POST", "/api/docs", `{"title":"Notes ✏️"}`)
	info := decode[api.DocInfo](t, w, http.StatusCreated)
	if _, err := vocab.ParseDocID(info.ID); err != nil || info.Title != "Notes ✏️" || info.Role != api.RoleAdmin {
		t.Fatalf("created %+v", info)
	}
	if loc := w.Header().Get("Location"); loc != "/api/docs/"+info.ID {
		t.Errorf("Location %q", loc)
	}
	// An empty body creates an untitled document.
	untitled := decode[api.DocInfo](t, do(t, s, "POST", "/api/docs", ""), http.StatusCreated)
	if untitled.Title != "" || untitled.ID == info.ID {
		t.Fatalf("untitled %+v", untitled)
	}

	renamed := decode[api.DocInfo](t, do(t, s, "PATCH", "/api/docs/"+info.ID, `{"title":"Plans"}`), http.StatusOK)
	if renamed.ID != info.ID || renamed.Title != "Plans" {
		t.Fatalf("renamed %+v", renamed)
	}
	// Joining by ID works only for a legacy document this daemon has; any
	// other needs an invite.
	wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/join", ""), http.StatusBadRequest, "need_invite", docA, api.ErrNeedInvite.Error())
	wantError(t, do(t, s, "POST", "/api/docs/"+info.ID+"/join", ""), http.StatusBadRequest, "need_invite", api.ErrNeedInvite.Error())
	fake.Put(docA, "", "")
	joined := decode[api.DocInfo](t, do(t, s, "POST", "/api/docs/"+docA+"/join", ""), http.StatusOK)
	if joined.ID != docA || joined.Role != "" {
		t.Fatalf("joined %+v", joined)
	}

	list := decode[[]api.DocInfo](t, do(t, s, "GET", "/api/docs", ""), http.StatusOK)
	var got []string
	for _, d := range list {
		got = append(got, d.ID+" "+d.Title)
	}
	want := []string{info.ID + " Plans", untitled.ID + " ", docA + " "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list %q, want %q", got, want)
	}
}

func TestEmptyListsAreJSONArrays(t *testing.T) {
	s, _ := newServer(t)
	for _, path := range []string{"/api/docs", "/api/peers"} {
		w := do(t, s, "GET", path, "")
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "[]" {
			t.Errorf("GET %s: %d %q, want 200 []", path, w.Code, w.Body)
		}
	}
}

func TestEditsAndExactText(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "a", "")
	body := `{"edits":[{"pos":0,"del":0,"ins":"héllo 👋🏽"},{"pos":5,"del":1,"ins":""},{"pos":5,"del":0,"ins":", wörld\u0000"}]}`
	res := decode[api.EditResult](t, do(t, s, "POST", "/api/docs/"+docA+"/edits", body), http.StatusOK)
	want := "héllo, wörld\x00👋🏽"
	if res.Applied != 3 || res.Chars != len([]rune(want)) || res.Version[uitest.Agent] == 0 {
		t.Fatalf("result %+v", res)
	}
	w := do(t, s, "GET", "/api/docs/"+docA+"/text", "")
	if w.Code != http.StatusOK {
		t.Fatalf("text: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := w.Body.String(); got != want {
		t.Fatalf("text %q, want exactly %q", got, want)
	}
	// A surrogate pair escape is one code point.
	decode[api.EditResult](t, do(t, s, "POST", "/api/docs/"+docA+"/edits", `{"edits":[{"pos":0,"del":0,"ins":"\ud83d\ude00"}]}`), http.StatusOK)
	if got := do(t, s, "GET", "/api/docs/"+docA+"/text", "").Body.String(); got != "😀"+want {
		t.Fatalf("text %q", got)
	}
}

func TestTextWithoutTrailingNewline(t *testing.T) {
	s, fake := newServer(t)
	for _, text := range []string{"", "no newline", "ends in newline\n", "🧵"} {
		fake.Put(docA, "", text)
		w := do(t, s, "GET", "/api/docs/"+docA+"/text", "")
		if w.Code != http.StatusOK || w.Body.String() != text {
			t.Errorf("text of %q: %d %q", text, w.Code, w.Body)
		}
		if cl := w.Header().Get("Content-Length"); cl != fmt.Sprint(len(text)) {
			t.Errorf("Content-Length %s for %d bytes", cl, len(text))
		}
	}
}

func TestEditErrorsSayHowManyApplied(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "abc")
	w := do(t, s, "POST", "/api/docs/"+docA+"/edits", `{"edits":[{"pos":3,"del":0,"ins":"d"},{"pos":9,"del":0,"ins":"x"},{"pos":0,"del":0,"ins":"y"}]}`)
	e := wantError(t, w, http.StatusBadRequest, "bad_input", "position 9", "past the end")
	if e.Applied == nil || *e.Applied != 1 {
		t.Fatalf("applied %v, want 1", e.Applied)
	}
	if got := do(t, s, "GET", "/api/docs/"+docA+"/text", "").Body.String(); got != "abcd" {
		t.Fatalf("text %q, want the first edit kept", got)
	}
}

func TestStatusRoutes(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "t", "xy")
	fake.SetPeers([]api.PeerInfo{{ID: "12D3KooWPeer", Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}}})
	fake.SetNode(api.NodeStatus{PeerID: "12D3KooWSelf", API: "http://127.0.0.1:7420", Version: "v"})

	st := decode[api.DocStatus](t, do(t, s, "GET", "/api/docs/"+docA+"/status", ""), http.StatusOK)
	if st.ID != docA || st.Chars != 2 || st.Version[uitest.Agent] != 2 || len(st.Peers) != 1 || st.Agent != uitest.Agent {
		t.Fatalf("doc status %+v", st)
	}
	peers := decode[[]api.PeerInfo](t, do(t, s, "GET", "/api/peers", ""), http.StatusOK)
	if len(peers) != 1 || peers[0].ID != "12D3KooWPeer" || peers[0].Addrs[0] != "/ip4/127.0.0.1/tcp/4001" {
		t.Fatalf("peers %+v", peers)
	}
	node := decode[api.NodeStatus](t, do(t, s, "GET", "/api/status", ""), http.StatusOK)
	if node.PeerID != "12D3KooWSelf" || node.Docs != 1 || node.Peers != 1 || node.API != "http://127.0.0.1:7420" {
		t.Fatalf("node status %+v", node)
	}
}

func TestUnknownDocIs404(t *testing.T) {
	s, _ := newServer(t)
	for _, r := range [][3]string{
		{"GET", "/api/docs/" + docA + "/text", ""},
		{"GET", "/api/docs/" + docA + "/status", ""},
		{"PATCH", "/api/docs/" + docA, `{"title":"x"}`},
		{"POST", "/api/docs/" + docA + "/edits", `{"edits":[{"pos":0,"del":0,"ins":"x"}]}`},
	} {
		wantError(t, do(t, s, r[0], r[1], r[2]), http.StatusNotFound, "unknown_doc", "unknown document", docA)
	}
}

func TestBadInputIs400(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "abc")
	edits := "/api/docs/" + docA + "/edits"
	cases := []struct {
		name, method, path, body, mention string
	}{
		{"malformed JSON", "POST", edits, `{"edits":[`, "truncated"},
		{"syntax error", "POST", edits, `{"edits":[}`, "not valid JSON"},
		{"not an object", "POST", edits, `[1,2]`, "must be"},
		{"unknown field", "POST", edits, `{"edits":[{"pos":0,"ins":"x"}],"extra":1}`, `unknown field "extra"`},
		{"trailing data", "POST", edits, `{"edits":[{"pos":0,"ins":"x"}]} {}`, "more after"},
		{"wrong type", "POST", edits, `{"edits":[{"pos":"0","ins":"x"}]}`, `"edits.pos" must be a whole number`},
		{"fractional pos", "POST", edits, `{"edits":[{"pos":1.5,"ins":"x"}]}`, "edits.pos"},
		{"huge pos", "POST", edits, `{"edits":[{"pos":1e40,"ins":"x"}]}`, "edits.pos"},
		{"negative pos", "POST", edits, `{"edits":[{"pos":-1,"ins":"x"}]}`, "pos -1 is negative"},
		{"negative del", "POST", edits, `{"edits":[{"pos":0,"del":-2}]}`, "del -2 is negative"},
		{"no-op edit", "POST", edits, `{"edits":[{"pos":0,"ins":"x"},{"pos":0}]}`, "edits[1] neither deletes nor inserts"},
		{"no edits", "POST", edits, `{"edits":[]}`, "non-empty list"},
		{"empty body", "POST", edits, ``, "empty body"},
		{"invalid UTF-8", "POST", edits, "{\"edits\":[{\"pos\":0,\"ins\":\"\xff\"}]}", "not valid UTF-8"},
		{"lone high surrogate", "POST", edits, `{"edits":[{"pos":0,"ins":"a\ud83dz"}]}`, "unpaired UTF-16 surrogate"},
		{"lone low surrogate", "POST", edits, `{"edits":[{"pos":0,"ins":"\ude00"}]}`, "unpaired UTF-16 surrogate"},
		{"reversed pair", "POST", edits, `{"edits":[{"pos":0,"ins":"\ude00\ud83d"}]}`, "unpaired UTF-16 surrogate"},
		{"past the end", "POST", edits, `{"edits":[{"pos":4,"ins":"x"}]}`, "past the end"},
		{"bad doc ID", "GET", "/api/docs/ABC/text", "", `"ABC" is not a document ID`},
		{"uppercase doc ID", "GET", "/api/docs/0123456789ABCDEF0123456789ABCDEF/text", "", "not a document ID"},
		{"zero doc ID", "GET", "/api/docs/" + strings.Repeat("0", 32) + "/text", "", "not a document ID"},
		{"title with invalid UTF-8", "PATCH", "/api/docs/" + docA, "{\"title\":\"a\xffb\"}", "not valid UTF-8"},
		{"title with newline", "POST", "/api/docs", `{"title":"a\nb"}`, "control character"},
		{"title too long", "POST", "/api/docs", `{"title":"` + strings.Repeat("é", vocab.MaxTitle+1) + `"}`, "code points long"},
		{"rename without title", "PATCH", "/api/docs/" + docA, `{}`, `needs a "title"`},
		{"join with fields", "POST", "/api/docs/" + docA + "/join", `{"secret":"x"}`, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, do(t, s, c.method, c.path, c.body), http.StatusBadRequest, "bad_input", c.mention)
		})
	}
	if got := do(t, s, "GET", "/api/docs/"+docA+"/text", "").Body.String(); got != "abc" {
		t.Fatalf("bad requests changed the text to %q", got)
	}
	if calls := fake.EditCalls(); len(calls) != 1 { // only "past the end" reaches the backend
		t.Fatalf("backend saw %d edit calls, want 1", len(calls))
	}
}

func TestBodyLimitIs413(t *testing.T) {
	s, fake := newServer(t, func(o *ui.Options) { o.MaxBody = 4 << 10 })
	fake.Put(docA, "", "")
	big := `{"edits":[{"pos":0,"ins":"` + strings.Repeat("x", 5<<10) + `"}]}`
	// Declared length over the limit.
	wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/edits", big), http.StatusRequestEntityTooLarge, "too_large", "larger than 4096 bytes")
	// Unknown length (chunked): the limit is found while reading.
	w := do(t, s, "POST", "/api/docs/"+docA+"/edits", big, func(r *http.Request) {
		r.ContentLength = -1
		r.Body = io.NopCloser(strings.NewReader(big))
	})
	wantError(t, w, http.StatusRequestEntityTooLarge, "too_large")
	if len(fake.EditCalls()) != 0 {
		t.Fatal("an oversized body reached the backend")
	}
	// Just under the limit is fine.
	ok := `{"edits":[{"pos":0,"ins":"` + strings.Repeat("x", 4<<10-40) + `"}]}`
	decode[api.EditResult](t, do(t, s, "POST", "/api/docs/"+docA+"/edits", ok), http.StatusOK)
}

func TestDefaultBodyLimitIs16MiB(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "")
	big := `{"edits":[{"pos":0,"ins":"` + strings.Repeat("x", 16<<20) + `"}]}`
	wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/edits", big), http.StatusRequestEntityTooLarge, "too_large")
}

func TestTooManyEditsIs413(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "")
	body := `{"edits":[` + strings.Repeat(`{"ins":"x"},`, ui.MaxEdits) + `{"ins":"x"}]}`
	wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/edits", body), http.StatusRequestEntityTooLarge, "too_large", "edits in one request")
}

func TestContentTypeMustBeJSON(t *testing.T) {
	s, _ := newServer(t)
	w := do(t, s, "POST", "/api/docs", `{"title":"x"}`, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
	wantError(t, w, http.StatusUnsupportedMediaType, "unsupported_media_type", "text/plain")
	w = do(t, s, "POST", "/api/docs", `{"title":"x"}`, func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") })
	decode[api.DocInfo](t, w, http.StatusCreated)
}

func TestUnknownRouteAndMethod(t *testing.T) {
	s, _ := newServer(t)
	wantError(t, do(t, s, "GET", "/api/nope", ""), http.StatusNotFound, "not_found", "/api/nope")
	wantError(t, do(t, s, "GET", "/nope.html", ""), http.StatusNotFound, "not_found")
	wantError(t, do(t, s, "GET", "/api/docs/"+docA+"/text/more", ""), http.StatusNotFound, "not_found")
	w := do(t, s, "DELETE", "/api/docs", "")
	wantError(t, w, http.StatusMethodNotAllowed, "method_not_allowed", "DELETE")
	if allow := w.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q, want GET and POST", allow)
	}
	w = do(t, s, "PUT", "/api/docs/"+docA+"/edits", `{}`)
	wantError(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := w.Header().Get("Allow"); allow != "POST" {
		t.Errorf("Allow %q, want POST", allow)
	}
}

func TestBackendErrorsMapToStatus(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "x")
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("shutting down: %w", api.ErrClosed), http.StatusServiceUnavailable, "closed"},
		{fmt.Errorf("%w: id", api.ErrUnknownDoc), http.StatusNotFound, "unknown_doc"},
		{fmt.Errorf("%w: weird", api.ErrBadInput), http.StatusBadRequest, "bad_input"},
		{errors.New("disk on fire"), http.StatusInternalServerError, "internal"},
		{context.DeadlineExceeded, http.StatusInternalServerError, "internal"},
	}
	for _, c := range cases {
		fake.SetErr(c.err)
		for _, path := range []string{"/api/docs", "/api/peers", "/api/status", "/api/docs/" + docA + "/status", "/api/docs/" + docA + "/text"} {
			wantError(t, do(t, s, "GET", path, ""), c.status, c.code, c.err.Error())
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	s, _ := newServer(t)
	for _, w := range []*httptest.ResponseRecorder{
		do(t, s, "GET", "/api/status", ""),
		do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Header.Del("Authorization") }),
		do(t, s, "GET", "/api/status", "", func(r *http.Request) { r.Host = "evil.com" }),
	} {
		for h, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
			"X-Frame-Options":        "DENY",
		} {
			if got := w.Header().Get(h); got != want {
				t.Errorf("status %d: %s %q, want %q", w.Code, h, got, want)
			}
		}
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("status %d: CORS header set", w.Code)
		}
	}
}
