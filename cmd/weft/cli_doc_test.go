package main

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"weft/api"
)

const testDocID = "00112233445566778899aabbccddeeff"

func TestDocLifecycle(t *testing.T) {
	d := startFakeDaemon(t)
	out := d.ok(t, "doc", "new", "--title", "Shopping list")
	id := strings.TrimSuffix(out, "\n")
	if !strings.HasSuffix(out, "\n") || len(id) != 32 {
		t.Fatalf("doc new printed %q, want an ID line", out)
	}
	if out := d.ok(t, "doc", "insert", id, "0", "milk, eggs"); out != "" {
		t.Fatalf("insert printed %q", out)
	}
	d.ok(t, "doc", "insert", id, "4", "🥛")
	d.ok(t, "doc", "delete", id, "5", "1") // the comma, after the emoji: positions are code points
	if got := d.ok(t, "doc", "cat", id); got != "milk🥛 eggs" {
		t.Fatalf("cat = %q", got)
	}
	d.ok(t, "doc", "insert", id, "--", "0", "-- ") // TEXT starting with a dash
	if got := d.ok(t, "doc", "cat", id); got != "-- milk🥛 eggs" {
		t.Fatalf("cat = %q", got)
	}
	d.ok(t, "doc", "rename", id, "Groceries")

	table := d.ok(t, "doc", "list")
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], id) || !strings.Contains(lines[1], "Groceries") ||
		!strings.Contains(lines[1], " admin ") || !strings.Contains(lines[1], " 13 ") {
		t.Fatalf("doc list:\n%s", table)
	}
	var docs []api.DocInfo
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "list", "--json")), &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].ID != id || docs[0].Title != "Groceries" || docs[0].Chars != 13 {
		t.Fatalf("doc list --json: %+v", docs)
	}

	var st api.DocStatus
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "status", id)), &st); err != nil {
		t.Fatal(err)
	}
	if st.ID != id || st.Chars != 13 || st.Version["fake"] == 0 || st.Peers == nil {
		t.Fatalf("doc status: %+v", st)
	}
}

func TestDocCatPrintsExactly(t *testing.T) {
	d := startFakeDaemon(t)
	for _, text := range []string{"", "no newline", "one newline\n", "two\n\n", "🧵 thread\r\n", "\x00nul"} {
		d.fake.Put(testDocID, "", text)
		if got := d.ok(t, "doc", "cat", testDocID); got != text {
			t.Errorf("cat printed %q, want %q", got, text)
		}
	}
}

func TestDocListShowsUntitledAndEmpty(t *testing.T) {
	d := startFakeDaemon(t)
	if out := d.ok(t, "doc", "list"); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("empty list: %q", out)
	}
	if out := d.ok(t, "doc", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty list --json: %q", out)
	}
	d.fake.Put(testDocID, "", "x")
	if out := d.ok(t, "doc", "list"); !strings.Contains(out, "(untitled)") || !strings.Contains(out, " legacy ") {
		t.Fatalf("list: %q", out)
	}
}

// cliFailure is a command that must fail with exit status code and one
// line on stderr containing want.
type cliFailure struct {
	name string
	args []string
	code int
	want string
}

func (d *fakeDaemon) failsAll(t *testing.T, cases []cliFailure) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := d.cli(t, c.args...)
			fails(t, c.code, c.want, code, out, errs)
		})
	}
}

func TestDocErrors(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "t", "abc")
	unknown := "ffffffffffffffffffffffffffffffff"
	cases := []cliFailure{
		{"unknown doc cat", []string{"doc", "cat", unknown}, 1, "weft: unknown document " + unknown + "\n"},
		{"unknown doc insert", []string{"doc", "insert", unknown, "0", "x"}, 1, "weft: unknown document " + unknown + "\n"},
		{"unknown doc delete", []string{"doc", "delete", unknown, "0", "1"}, 1, "weft: unknown document " + unknown + "\n"},
		{"unknown doc status", []string{"doc", "status", unknown}, 1, "weft: unknown document " + unknown + "\n"},
		{"unknown doc rename", []string{"doc", "rename", unknown, "x"}, 1, "weft: unknown document " + unknown + "\n"},
		{"position out of range", []string{"doc", "insert", testDocID, "9", "x"}, 1, "position 9 is past the end of the document (3 code points)"},
		{"delete past the end", []string{"doc", "delete", testDocID, "2", "5"}, 1, "runs past the end"},
		{"title with a newline", []string{"doc", "rename", testDocID, "a\nb"}, 1, "control character"},
		{"non-numeric POS", []string{"doc", "insert", testDocID, "one", "x"}, 2, `POS must be a whole number ≥ 0, not "one"`},
		{"negative POS", []string{"doc", "delete", testDocID, "-1", "1"}, 2, "unknown shorthand flag"},
		{"zero LEN", []string{"doc", "delete", testDocID, "0", "0"}, 2, `LEN must be a whole number ≥ 1, not "0"`},
		{"empty TEXT", []string{"doc", "insert", testDocID, "0", ""}, 2, "TEXT is empty"},
		{"invalid UTF-8 TEXT", []string{"doc", "insert", testDocID, "0", "\xff"}, 2, "TEXT is not valid UTF-8"},
		{"invalid UTF-8 title", []string{"doc", "new", "--title", "\xfe"}, 2, "--title is not valid UTF-8"},
		{"too few arguments", []string{"doc", "insert", testDocID, "0"}, 2, "doc insert: want ID POS TEXT, got 2 arguments"},
		{"too many arguments", []string{"doc", "cat", testDocID, "extra"}, 2, "doc cat: want ID, got 2 arguments"},
		{"arguments to list", []string{"doc", "list", "x"}, 2, "doc list: takes no arguments, got 1 argument"},
		{"not an ID", []string{"doc", "cat", "abc"}, 2, `"abc" is not a document ID`},
		{"uppercase ID", []string{"doc", "cat", strings.ToUpper(testDocID)}, 2, "is not a document ID"},
		{"unknown flag", []string{"doc", "list", "--bogus"}, 2, "unknown flag: --bogus"},
		{"unknown subcommand", []string{"doc", "bogus"}, 2, `unknown command "bogus" for 'weft doc'`},
	}
	d.failsAll(t, cases)
	if got := d.ok(t, "doc", "cat", testDocID); got != "abc" {
		t.Fatalf("failed commands changed the text to %q", got)
	}
}

// writeTrace writes a gzipped trace file and returns its path.
func writeTrace(t *testing.T, v any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace.json.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func sequentialTrace(start, end string, patches ...[]any) map[string]any {
	return map[string]any{"startContent": start, "endContent": end, "txns": []any{map[string]any{"patches": patches}}}
}

func TestDocReplay(t *testing.T) {
	d := startFakeDaemon(t)
	path := writeTrace(t, sequentialTrace("héllo", "¡héllo wörld!",
		[]any{5, 0, " w"}, []any{7, 0, "örld"}, []any{0, 0, ""}, []any{11, 0, "!"}, []any{0, 0, "¡"}))
	d.fake.Put(testDocID, "", "")
	out := d.ok(t, "doc", "replay", testDocID, path, "--batch", "2")
	var sum replaySummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("replay printed %q (%v), want one JSON line", out, err)
	}
	// The start content is one edit, then four patches; the empty one is skipped.
	if sum.Doc != testDocID || sum.File != "trace.json.gz" || sum.Edits != 5 || sum.Skipped != 1 || sum.Batches != 3 ||
		!sum.MatchesEnd || sum.Chars != 13 || sum.EditsPerSec <= 0 {
		t.Fatalf("summary %+v", sum)
	}
	if calls := d.fake.EditCalls(); !slices.Equal(calls, []int{2, 2, 1}) {
		t.Fatalf("edit calls %v, want batches of 2", calls)
	}
	if got := d.ok(t, "doc", "cat", testDocID); got != "¡héllo wörld!" {
		t.Fatalf("text %q", got)
	}
}

func TestDocReplayOntoStartContent(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "", "abc")
	path := writeTrace(t, sequentialTrace("abc", "abXc", []any{2, 0, "X"}))
	var sum replaySummary
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "replay", testDocID, path)), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Edits != 1 || !sum.MatchesEnd {
		t.Fatalf("summary %+v", sum)
	}
}

func TestDocReplayBundledTrace(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "", "")
	path := filepath.Join("..", "..", "testdata", "traces", "sequential", "friendsforever_flat.json.gz")
	code, out, errs := d.cli(t, "doc", "replay", testDocID, path, "--progress")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var sum replaySummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.MatchesEnd || sum.Chars != 21362 || sum.Edits+sum.Skipped < 26078 {
		t.Fatalf("summary %+v", sum)
	}
	if n := strings.Count(errs, "replay: "); n < 5 || n > 11 || !strings.Contains(errs, fmt.Sprintf("%d/%d edits (100%%)", sum.Edits, sum.Edits)) {
		t.Fatalf("progress:\n%s", errs)
	}
}

func TestDocReplayErrors(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "", "")
	other := "0000000000000000000000000000aaaa"
	d.fake.Put(other, "", "something else")
	good := writeTrace(t, sequentialTrace("", "ab", []any{0, 0, "a"}, []any{1, 0, "b"}))
	bad := writeTrace(t, sequentialTrace("", "ab", []any{0, 0, "a"}, []any{1, 0, "b"}, []any{9, 0, "c"}, []any{0, 0, "d"}))
	wrongEnd := writeTrace(t, sequentialTrace("", "ab", []any{0, 0, "x"}))
	concurrent := writeTrace(t, map[string]any{"kind": "concurrent", "endContent": "", "numAgents": 1, "txns": []any{}})
	notTrace := filepath.Join(t.TempDir(), "x.json")
	os.WriteFile(notTrace, []byte(`{"txns":[]}`), 0o600)

	cases := []cliFailure{
		{"missing file", []string{"doc", "replay", testDocID, "/nonexistent/trace.json.gz"}, 2, "no such file"},
		{"not a trace", []string{"doc", "replay", testDocID, notTrace}, 2, "no endContent"},
		{"concurrent trace", []string{"doc", "replay", testDocID, concurrent}, 2, "sequential traces only"},
		{"zero batch", []string{"doc", "replay", testDocID, good, "--batch", "0"}, 2, "--batch must be between 1 and 65536"},
		{"document not empty", []string{"doc", "replay", other, good}, 1, "holds text other than the trace's start"},
		{"unknown document", []string{"doc", "replay", "ffffffffffffffffffffffffffffffff", good}, 1, "unknown document ffffffffffffffffffffffffffffffff"},
		{"edit refused", []string{"doc", "replay", testDocID, bad, "--batch", "2"}, 1, "doc replay: edit 3 of 4: bad input: position 9"},
	}
	d.failsAll(t, cases)
	if got := d.ok(t, "doc", "cat", testDocID); got != "ab" {
		t.Fatalf("edits before the refused one should stay: %q", got)
	}

	// A text that does not end as the trace says: summary, then an error.
	d.fake.Put(testDocID, "", "")
	code, out, errs := d.cli(t, "doc", "replay", testDocID, wrongEnd)
	var sum replaySummary
	if code != 1 || json.Unmarshal([]byte(out), &sum) != nil || sum.MatchesEnd || !strings.Contains(errs, "not the trace's endContent") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("wrong end: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
