package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"weft/api"
)

// History across two daemons sharing a document through a real invite:
// versions, text at a version, diff and blame through the API and the
// CLI; a restore on one daemon is a new edit that reaches the other, and
// can itself be restored away. CLI mistakes are one line on stderr and a
// non-zero exit.
func TestHistoryRestoreSyncs(t *testing.T) {
	c := newCluster(t, 2, "1s")
	c.startAll()
	a, b := c.ds[0], c.ds[1]
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "history"))
	share(t, a, b, id, api.RoleWrite)
	c.waitTopicMesh(id)

	a.mustEdit(t, id, api.Edit{Pos: 0, Ins: "one\ntwo\n"})
	ctx, cancel := ctxT()
	defer cancel()
	var h api.History
	if err := a.call(ctx, "GET", "/api/docs/"+id+"/history", nil, &h); err != nil {
		t.Fatal(err)
	}
	v1 := h.Version
	if len(h.Sessions) != 1 || h.Sessions[0].Inserted != 8 || h.Sessions[0].Start == 0 || h.Sessions[0].Future {
		t.Fatalf("history after one edit: %+v", h)
	}
	if h.Sessions[0].Device != "" {
		t.Logf("session device label %q", h.Sessions[0].Device)
	}
	waitFor(t, 60*time.Second*slow, "b to have the first edit", func() (bool, string) {
		got := b.mustText(t, id)
		return got == "one\ntwo\n", fmt.Sprintf("b has %q", got)
	})
	b.mustEdit(t, id, api.Edit{Pos: 4, Del: 3, Ins: "TWO"})
	waitFor(t, 60*time.Second*slow, "a to have b's edit", func() (bool, string) {
		got := a.mustText(t, id)
		return got == "one\nTWO\n", fmt.Sprintf("a has %q", got)
	})

	// The text at v1, through the API (with what was inserted since the
	// empty document) and the CLI.
	var ta api.TextAt
	if err := a.call(ctx, "GET", "/api/docs/"+id+"/text?at="+url.QueryEscape(v1)+"&since=0", nil, &ta); err != nil {
		t.Fatal(err)
	}
	if ta.Text != "one\ntwo\n" || ta.Version != v1 || len(ta.Inserted) != 1 || ta.Inserted[0].Len != 8 {
		t.Fatalf("text at %s: %+v", v1, ta)
	}
	if got := a.mustCLI(t, []string{"doc", "cat"}, id, "--at", v1); got != "one\ntwo\n" {
		t.Fatalf("weft doc cat --at %s: %q", v1, got)
	}
	diff := a.mustCLI(t, []string{"doc", "diff"}, id, v1)
	if !strings.Contains(diff, "-two\n") || !strings.Contains(diff, "+TWO\n") || !strings.Contains(diff, "@@") {
		t.Fatalf("weft doc diff %s:\n%s", v1, diff)
	}
	var bl api.Blame
	if err := a.call(ctx, "GET", "/api/docs/"+id+"/blame", nil, &bl); err != nil {
		t.Fatal(err)
	}
	agentA, agentB := a.mustDocStatus(t, id).Agent, b.mustDocStatus(t, id).Agent
	if len(bl.Lines) != 2 || bl.Lines[0].Text != "one" || bl.Lines[0].Agent != agentA || bl.Lines[1].Text != "TWO" || bl.Lines[1].Agent != agentB || bl.Lines[1].Time == 0 {
		t.Fatalf("blame: %+v (a is %s, b is %s)", bl, agentA, agentB)
	}
	if out := a.mustCLI(t, []string{"doc", "blame"}, id); !strings.Contains(out, "TWO") {
		t.Fatalf("weft doc blame:\n%s", out)
	}
	logJSON := a.mustCLI(t, []string{"doc", "log"}, id, "--json")
	var lh api.History
	if err := json.Unmarshal([]byte(logJSON), &lh); err != nil || len(lh.Sessions) != 2 || lh.Sessions[0].Agent != agentB {
		t.Fatalf("weft doc log --json: %v\n%s", err, logJSON)
	}
	before := lh.Version

	// Restore on a: a new edit by a that b receives.
	out := a.mustCLI(t, []string{"doc", "restore"}, id, "--to", v1)
	if !strings.Contains(out, "restored") {
		t.Fatalf("weft doc restore: %q", out)
	}
	if got := a.mustText(t, id); got != "one\ntwo\n" {
		t.Fatalf("a after restore: %q", got)
	}
	waitFor(t, 60*time.Second*slow, "b to receive the restore", func() (bool, string) {
		got := b.mustText(t, id)
		return got == "one\ntwo\n", fmt.Sprintf("b has %q", got)
	})
	// And restored away, from b this time.
	var res api.Restored
	if err := b.call(ctx, "POST", "/api/docs/"+id+"/restore", api.RestoreRequest{To: before}, &res); err != nil || res.Edits == 0 {
		t.Fatalf("restore to %s on b: %+v %v", before, res, err)
	}
	waitFor(t, 60*time.Second*slow, "a to receive b's restore", func() (bool, string) {
		got := a.mustText(t, id)
		return got == "one\nTWO\n", fmt.Sprintf("a has %q", got)
	})

	// Mistakes: one line on stderr, exit != 0.
	for _, args := range [][]string{
		{"cat", id, "--at", "not a version"},
		{"diff", id, "nobody@99"},
		{"blame", "00000000000000000000000000000001"},
		{"restore", id},
	} {
		r, err := a.cli(ctx, []string{"doc"}, args...)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code == 0 || strings.Count(strings.TrimRight(r.Stderr, "\n"), "\n") != 0 || r.Stderr == "" {
			t.Errorf("weft doc %s: exit %d, stderr %q", strings.Join(args, " "), r.Code, r.Stderr)
		}
	}
}
