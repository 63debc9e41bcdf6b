package ui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"weft/api"
	"weft/ui"
	"weft/ui/uitest"
)

// historyFake is the fake backend with the history methods, recording
// what they were asked.
type historyFake struct {
	*uitest.Fake
	asked []string
}

func (f *historyFake) History(_ context.Context, id string, since time.Time) (api.History, error) {
	f.asked = append(f.asked, "history "+id+" "+since.UTC().Format(time.RFC3339))
	return api.History{Version: "a@1", Sessions: []api.HistorySession{{Agent: "a", Start: 1_765_000_000_123, End: 1_765_000_000_123, Inserted: 2, Txns: 1, Version: "a@1"}, {Agent: "b", Version: "b@0"}}}, nil
}

func (f *historyFake) TextAt(_ context.Context, id, at, since string) (api.TextAt, error) {
	f.asked = append(f.asked, "text "+at+" "+since)
	if at == "bad" {
		return api.TextAt{}, api.ErrBadInput
	}
	return api.TextAt{Version: at, Text: "hi"}, nil
}

func (f *historyFake) Diff(_ context.Context, id, from, to string) (api.Diff, error) {
	f.asked = append(f.asked, "diff "+from+" "+to)
	return api.Diff{From: from, To: to, Diff: "@@"}, nil
}

func (f *historyFake) Blame(_ context.Context, id, at string) (api.Blame, error) {
	f.asked = append(f.asked, "blame "+at)
	return api.Blame{Version: "a@1"}, nil
}

func (f *historyFake) Restore(_ context.Context, id, to string) (api.Restored, error) {
	f.asked = append(f.asked, "restore "+to)
	return api.Restored{Version: "a@2", Edits: 1}, nil
}

const histDoc = "0123456789abcdef0123456789abcdef"

func newHistoryServer(t *testing.T) (*ui.Server, *historyFake) {
	t.Helper()
	fake := &historyFake{Fake: uitest.New()}
	fake.Put(histDoc, "t", "hi")
	o := ui.DefaultOptions()
	o.Addr = "127.0.0.1:0"
	o.Token = token
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := ui.New(fake, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

// The history routes: JSON shapes (times RFC 3339 with milliseconds,
// null when unknown), parameters passed through, the token required,
// bad input 400, and 501 from a backend without history.
func TestHistoryRoutes(t *testing.T) {
	s, fake := newHistoryServer(t)
	w := do(t, s, "GET", "/api/docs/"+histDoc+"/history?since=2026-12-07T10:00:00Z", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"start":"2025-12-06T05:46:40.123Z"`) || !strings.Contains(w.Body.String(), `"start":null`) {
		t.Fatalf("history: %d %s", w.Code, w.Body)
	}
	tx := decode[api.TextAt](t, do(t, s, "GET", "/api/docs/"+histDoc+"/text?at=a%401&since=0", ""), http.StatusOK)
	if tx.Text != "hi" || tx.Version != "a@1" {
		t.Fatalf("text at: %+v", tx)
	}
	if w := do(t, s, "GET", "/api/docs/"+histDoc+"/text", ""); w.Body.String() != "hi" {
		t.Fatalf("plain text route changed: %q", w.Body)
	}
	decode[api.Diff](t, do(t, s, "GET", "/api/docs/"+histDoc+"/diff?from=0&to=a%401", ""), http.StatusOK)
	bl := do(t, s, "GET", "/api/docs/"+histDoc+"/blame?at=a%401", "")
	if !strings.Contains(bl.Body.String(), `"lines":[]`) {
		t.Fatalf("blame with no lines: %s", bl.Body)
	}
	decode[api.Restored](t, do(t, s, "POST", "/api/docs/"+histDoc+"/restore", `{"to":"a@0"}`), http.StatusOK)
	want := []string{"history " + histDoc + " 2026-12-07T10:00:00Z", "text a@1 0", "diff 0 a@1", "blame a@1", "restore a@0"}
	if strings.Join(fake.asked, "|") != strings.Join(want, "|") {
		t.Fatalf("asked %q, want %q", fake.asked, want)
	}

	wantError(t, do(t, s, "GET", "/api/docs/"+histDoc+"/history?since=yesterday", ""), http.StatusBadRequest, "bad_input", "since")
	wantError(t, do(t, s, "GET", "/api/docs/"+histDoc+"/diff", ""), http.StatusBadRequest, "bad_input", "from")
	wantError(t, do(t, s, "GET", "/api/docs/"+histDoc+"/text?at=bad", ""), http.StatusBadRequest, "bad_input")
	wantError(t, do(t, s, "POST", "/api/docs/"+histDoc+"/restore", `{}`), http.StatusBadRequest, "bad_input", "to")
	wantError(t, do(t, s, "GET", "/api/docs/nothex/blame", ""), http.StatusBadRequest, "bad_input")
	for _, p := range []string{"/history", "/blame", "/diff?from=0", "/text?at=0"} {
		w := do(t, s, "GET", "/api/docs/"+histDoc+p, "", func(r *http.Request) { r.Header.Del("Authorization") })
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", p, w.Code)
		}
	}
	if n := len(fake.asked); n != len(want)+1 { // only text?at=bad reached the backend
		t.Fatalf("refused requests reached the backend: %q", fake.asked)
	}

	plain, _ := newServer(t)
	wantError(t, do(t, plain, "GET", "/api/docs/"+histDoc+"/history", ""), http.StatusNotImplemented, "internal")
}
