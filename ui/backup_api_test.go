package ui_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"weft/api"
)

// POST /api/backups hands a well-formed request to the backend and answers
// 201 with what was written; a malformed one is refused before the backend
// sees it, with the error as JSON; the token is required as everywhere.
func TestBackupRoute(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "notes", "text")
	w := do(t, s, "POST", "/api/backups", `{"to":"/var/backups/weft","keep_last":3}`)
	info := decode[api.BackupInfo](t, w, http.StatusCreated)
	if info.To != "/var/backups/weft" || info.Docs != 1 || !strings.HasPrefix(info.Name, "weft-backup-") || info.Created.IsZero() || info.Bytes == 0 {
		t.Fatalf("backup info %+v", info)
	}
	if got := fake.Backups(); !slices.Equal(got, []api.BackupRequest{{To: "/var/backups/weft", KeepLast: 3}}) {
		t.Fatalf("backend got %+v", got)
	}

	for _, tc := range []struct{ body, code, mention string }{
		{`{}`, "bad_input", `"to"`},
		{``, "bad_input", "empty body"},
		{`{"to":"/x","keep_last":-1}`, "bad_input", "keep_last"},
		{`{"to":"/x","keep_daily":100001}`, "bad_input", "keep_daily"},
		{`{"to":"/x\u0000y"}`, "bad_input", "control characters"},
		{`{"to":"/` + strings.Repeat("a", 5000) + `"}`, "bad_input", "at most 4096 bytes"},
		{`{"to":"/x","extra":1}`, "bad_input", "extra"},
		{`{"to":"relative/dir"}`, "bad_input", "absolute directory"}, // the backend's judgement
	} {
		wantError(t, do(t, s, "POST", "/api/backups", tc.body), http.StatusBadRequest, tc.code, tc.mention)
	}
	if n := len(fake.Backups()); n != 1 {
		t.Fatalf("the backend saw %d requests; want only the good one", n)
	}
	wantError(t, do(t, s, "POST", "/api/backups", `{"to":"/x"}`, func(r *http.Request) { r.Header.Del("Authorization") }), http.StatusUnauthorized, "unauthorized")
	wantError(t, do(t, s, "GET", "/api/backups", ""), http.StatusMethodNotAllowed, "method_not_allowed")
}
