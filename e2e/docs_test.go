package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"weft/api"
)

// Renames are title transactions: two daemons sharing a document through
// a real invite each rename it without hearing of the other's rename (one
// is stopped while the other renames), and once both run they end with the
// same title, the one crdt's rule picks (the greater agent's), in their
// listings and statuses.
func TestConcurrentRenamesConverge(t *testing.T) {
	c := newCluster(t, 2, "1s")
	c.startAll()
	a, b := c.ds[0], c.ds[1]
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "first"))
	share(t, a, b, id, api.RoleWrite)
	c.waitTopicMesh(id)
	a.mustEdit(t, id, api.Edit{Ins: "shared text"})
	waitFor(t, 60*time.Second*slow, "b to have the text", func() (bool, string) {
		got := b.mustText(t, id)
		return got == "shared text", fmt.Sprintf("b has %q", got)
	})
	agentA, agentB := a.mustDocStatus(t, id).Agent, b.mustDocStatus(t, id).Agent

	b.stopClean(t)
	a.mustCLI(t, []string{"doc", "rename"}, id, "Alpha")
	a.stopClean(t)
	c.start(b) // alone: it has not heard of Alpha
	b.mustCLI(t, []string{"doc", "rename"}, id, "Beta")
	if got := b.mustDocStatus(t, id).Title; got != "Beta" {
		t.Fatalf("b's title after its own rename: %q", got)
	}
	c.start(a)

	want := "Beta"
	if agentA > agentB {
		want = "Alpha"
	}
	titleOf := func(d *daemon) string {
		for _, info := range d.mustListDocs(t) {
			if info.ID == id {
				return info.Title
			}
		}
		return "(missing)"
	}
	waitFor(t, 60*time.Second*slow, "both to take the same title", func() (bool, string) {
		ta, tb := titleOf(a), titleOf(b)
		return ta == want && tb == want, fmt.Sprintf("a lists %q, b lists %q, want %q", ta, tb, want)
	})
	if sa, sb := a.mustDocStatus(t, id), b.mustDocStatus(t, id); sa.Title != want || sb.Title != want {
		t.Fatalf("statuses: a %q, b %q, want %q", sa.Title, sb.Title, want)
	}
	if got := a.mustText(t, id); got != "shared text" {
		t.Fatalf("the renames changed the text: %q", got)
	}
}
