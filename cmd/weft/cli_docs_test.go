package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"weft/api"
	"weft/ui"
)

// checkSchema validates a real reply of the daemon against the schema
// ui/openapi.yaml gives the route (pattern) for that status.
func checkSchema(t *testing.T, method, pattern string, status int, body []byte) {
	t.Helper()
	spec, err := openapi3.NewLoader().LoadFromData(ui.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	op := spec.Paths.Find(pattern).GetOperation(method)
	if op == nil {
		t.Fatalf("%s %s is not in the reference", method, pattern)
	}
	resp := op.Responses.Status(status)
	if resp == nil {
		resp = op.Responses.Default()
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if err := resp.Value.Content.Get("application/json").Schema.Value.VisitJSON(v); err != nil {
		t.Errorf("%s %s %d: %v\n%s", method, pattern, status, err, body)
	}
}

// sseReader reads server-sent events from a real HTTP response.
type sseReader struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openEvents(t *testing.T, cl *apiClient, id, lastID string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", cl.base+"/api/docs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+cl.token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return &sseReader{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next event's id, name and data (comments skipped).
func (r *sseReader) next(t *testing.T) (id, event string, data api.DocEvent) {
	t.Helper()
	got := make(chan bool, 1)
	go func() {
		for r.sc.Scan() {
			line := r.sc.Text()
			switch {
			case line == "" && event != "":
				got <- true
				return
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				event = line[7:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &data); err != nil {
					got <- false
					return
				}
			}
		}
		got <- false
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatalf("the event stream ended or held bad data (%v)", r.sc.Err())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20 s")
	}
	return id, event, data
}

// Through a real daemon: a file with a byte-order mark, CR LF and astral
// characters is imported and exported byte for byte; a file that is not
// UTF-8 is refused naming the offset; the change feed, read with a real
// HTTP client, reports edits and resumes from Last-Event-ID; delete needs
// --yes without a terminal and leaves the document unknown.
func TestDocImportExportEventsDelete(t *testing.T) {
	dir := t.TempDir()
	cl := runTestDaemon(t, dir)
	files := t.TempDir()
	text := "\ufeffFirst line 𝄞\r\nsecond 🧵 line\r\n" + strings.Repeat("ünïcödé ", 70000) + "no newline at the end"
	in := filepath.Join(files, "notes.txt")
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cliIn(t, dir, "doc", "import", in)
	if code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	id := strings.TrimSpace(out)
	code, out, errs = cliIn(t, dir, "doc", "export", id)
	if code != 0 || out != text {
		t.Fatalf("export to stdout: %d, %d bytes for %d (%s)", code, len(out), len(text), errs)
	}
	outFile := filepath.Join(files, "out.txt")
	if code, _, errs := cliIn(t, dir, "doc", "export", id, "-o", outFile); code != 0 {
		t.Fatalf("export -o: %s", errs)
	}
	if b, _ := os.ReadFile(outFile); !bytes.Equal(b, []byte(text)) {
		t.Fatalf("export -o wrote %d bytes, want %d equal ones", len(b), len(text))
	}
	var docs []api.DocInfo
	if err := cl.call(context.Background(), "GET", "/api/docs", nil, &docs); err != nil || len(docs) != 1 || docs[0].Title != "notes" {
		t.Fatalf("list: %+v %v", docs, err)
	}

	bad := filepath.Join(files, "latin1.txt")
	os.WriteFile(bad, []byte("caf\xe9 au lait"), 0o600)
	if code, _, errs := cliIn(t, dir, "doc", "import", bad); code != 1 || !strings.Contains(errs, "not UTF-8: invalid byte sequence at byte 3") {
		t.Fatalf("import of Latin-1: %d %q", code, errs)
	}
	// The daemon's own check, past the CLI's.
	req, _ := http.NewRequest("POST", cl.base+"/api/docs/import?title=x", strings.NewReader("ok\xc3("))
	req.Header.Set("Authorization", "Bearer "+cl.token)
	resp, err := cl.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var er struct{ Error, Code string }
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	json.Unmarshal(raw, &er)
	checkSchema(t, "POST", "/api/docs/import", resp.StatusCode, raw)
	if resp.StatusCode != 400 || !strings.Contains(er.Error, "invalid byte sequence at byte 2") {
		t.Fatalf("the daemon on bad UTF-8: %d %+v", resp.StatusCode, er)
	}
	if err := cl.call(context.Background(), "GET", "/api/docs", nil, &docs); err != nil || len(docs) != 1 {
		t.Fatalf("a refused import left a document: %+v %v", docs, err)
	}

	ev := openEvents(t, cl, id, "")
	cliIn(t, dir, "doc", "insert", id, "0", "A🎉")
	v1, name, data := ev.next(t)
	if name != "patch" || v1 == "" || data.Version != v1 || len(data.Changes) != 1 || data.Changes[0] != (api.Change{Pos: 0, Insert: "A🎉"}) {
		t.Fatalf("first event: %s %s %+v", v1, name, data)
	}
	cliIn(t, dir, "doc", "delete", id, "1", "1")
	v2, _, data := ev.next(t)
	if data.Changes[0] != (api.Change{Pos: 1, Delete: 1}) {
		t.Fatalf("second event: %+v", data)
	}
	// Export at the first event's version: before the deletion.
	if code, out, errs := cliIn(t, dir, "doc", "export", id, "--at", v1); code != 0 || out != "A🎉"+text {
		t.Fatalf("export --at %s: %d, %d bytes (%s)", v1, code, len(out), errs)
	}
	// A new connection resuming from the first event gets the second.
	ev2 := openEvents(t, cl, id, v1)
	if v, name, _ := ev2.next(t); v != v2 || name != "patch" {
		t.Fatalf("resumed: %s %s, want %s", v, name, v2)
	}

	if code, _, errs := cliIn(t, dir, "doc", "delete", id); code != 2 || !strings.Contains(errs, "--yes") {
		t.Fatalf("delete without a terminal or --yes: %d %q", code, errs)
	}
	// The real replies of the new routes match the reference.
	for _, r := range []struct{ method, path, pattern string }{
		{"GET", "/api/docs/" + id + "/status", "/api/docs/{id}/status"},
		{"GET", "/api/docs/" + id + "/history", "/api/docs/{id}/history"},
		{"GET", "/api/docs/" + id + "/blame", "/api/docs/{id}/blame"},
		{"GET", "/api/docs/" + id + "/text?at=" + v1, "/api/docs/{id}/text"},
	} {
		b, err := cl.do(context.Background(), r.method, r.path, nil, maxReplyBytes)
		if err != nil {
			t.Fatal(err)
		}
		checkSchema(t, r.method, r.pattern, 200, b)
	}
	var other api.DocInfo
	if err := cl.stream(context.Background(), "POST", "/api/docs/import?title=other", "text/plain; charset=utf-8", strings.NewReader("x\r\n"), &other); err != nil {
		t.Fatal(err)
	}
	if b, err := cl.do(context.Background(), "DELETE", "/api/docs/"+other.ID+"?confirm="+other.ID, nil, maxReplyBytes); err != nil {
		t.Fatal(err)
	} else {
		checkSchema(t, "DELETE", "/api/docs/{id}", 200, b)
	}
	if code, _, errs := cliIn(t, dir, "doc", "delete", id, "--yes"); code != 0 || !strings.Contains(errs, "relays: admin") {
		t.Fatalf("delete --yes: %d %q", code, errs)
	}
	if _, name, data := ev.next(t); name != "end" || data.Reason == "" {
		t.Fatalf("the feed after delete: %s %+v", name, data)
	}
	if code, _, errs := cliIn(t, dir, "doc", "export", id); code != 1 || !strings.Contains(errs, "unknown document") {
		t.Fatalf("export after delete: %d %q", code, errs)
	}
}
