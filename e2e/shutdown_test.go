package e2e

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft/api"
)

// SIGINT and SIGTERM stop a daemon cleanly: exit status 0, api.json
// removed; a restart on the same data directory has the same documents
// with the same text, and the CLI says clearly when no daemon runs.
func TestCleanShutdown(t *testing.T) {
	c := newCluster(t, 2, "1s")
	c.startAll()
	a, b := c.ds[0], c.ds[1]

	// Two documents on A, one of them shared with B, with emoji and
	// deletions, edited through the CLI and the API.
	id1 := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "first"))
	id2 := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "second"))
	a.mustCLI(t, []string{"doc", "insert"}, id1, "0", "héllo wörld 👋🏽")
	a.mustCLI(t, []string{"doc", "delete"}, id1, "5", "1")
	a.mustEdit(t, id2, api.Edit{Pos: 0, Ins: "second 🦀 doc"}, api.Edit{Pos: 7, Del: 2, Ins: "🐙"})
	share(t, a, b, id1, "write")
	c.waitConverged(id1, 30*time.Second*slow)
	b.mustEdit(t, id1, api.Edit{Pos: 0, Ins: "B: "})
	c.waitConverged(id1, 30*time.Second*slow)

	before := map[*daemon]snapshot{a: takeSnapshot(t, a), b: takeSnapshot(t, b)}
	if len(before[a].docs) != 2 || len(before[b].docs) != 1 {
		t.Fatalf("before the restart: A has %d documents, B %d; want 2 and 1", len(before[a].docs), len(before[b].docs))
	}

	for _, tc := range []struct {
		d   *daemon
		sig syscall.Signal
	}{{a, syscall.SIGINT}, {b, syscall.SIGTERM}, {a, syscall.SIGTERM}, {b, syscall.SIGINT}} {
		if code := tc.d.stop(t, tc.sig); code != 0 {
			t.Fatalf("daemon %s exited with status %d after %v; want 0\n%s", tc.d.name, code, tc.sig, tc.d.logTail(64<<10))
		}
		if _, err := os.Stat(filepath.Join(tc.d.dir, "api.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("daemon %s left api.json behind after %v (stat: %v)", tc.d.name, tc.sig, err)
		}
		// With no daemon, the CLI fails with one clear line.
		r, err := tc.d.cli(t.Context(), []string{"doc", "list"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 1 || strings.Count(strings.TrimRight(r.Stderr, "\n"), "\n") != 0 || !strings.Contains(r.Stderr, "no daemon is running") {
			t.Fatalf("weft doc list with no daemon: exit %d, stderr %q; want 1 and one line saying no daemon runs", r.Code, r.Stderr)
		}
		c.start(tc.d)
		after := takeSnapshot(t, tc.d)
		before[tc.d].mustEqual(t, tc.d.name+" after "+tc.sig.String(), after)
	}
	// The two still converge after the restarts.
	c.waitConverged(id1, 30*time.Second*slow)
}

type snapshot struct {
	docs  []api.DocInfo
	texts map[string]string
}

func takeSnapshot(t *testing.T, d *daemon) snapshot {
	t.Helper()
	docs := d.mustListDocs(t)
	s := snapshot{texts: map[string]string{}}
	for _, doc := range docs {
		doc.Chars, doc.LastOpened = 0, time.Time{} // loaded state and access time change
		s.docs = append(s.docs, doc)
		s.texts[doc.ID] = d.mustText(t, doc.ID)
	}
	slices.SortFunc(s.docs, func(x, y api.DocInfo) int { return strings.Compare(x.ID, y.ID) })
	return s
}

func (s snapshot) mustEqual(t *testing.T, what string, o snapshot) {
	t.Helper()
	if len(s.docs) != len(o.docs) {
		t.Fatalf("%s: %d documents, want %d: %+v", what, len(o.docs), len(s.docs), o.docs)
	}
	for i := range s.docs {
		x, y := s.docs[i], o.docs[i]
		if x.ID != y.ID || x.Title != y.Title || !x.Created.Equal(y.Created) {
			t.Fatalf("%s: document %d is %+v, want %+v", what, i, y, x)
		}
		if s.texts[x.ID] != o.texts[x.ID] {
			t.Fatalf("%s: document %s reads %q, want %q", what, x.ID, o.texts[x.ID], s.texts[x.ID])
		}
	}
}
