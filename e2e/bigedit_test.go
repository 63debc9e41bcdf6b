package e2e

import (
	"errors"
	"strings"
	"testing"

	"weft/api"
	"weft/ui"
)

// One request with as many edits as the API accepts (ui.MaxEdits) is
// either applied and acknowledged, or refused with a clear error; either
// way the daemon keeps working and holds exactly what it acknowledged,
// also after a restart.
func TestBigEditRequest(t *testing.T) {
	c := newCluster(t, 1, "")
	c.startAll()
	a := c.ds[0]
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "big"))
	edits := make([]api.Edit, ui.MaxEdits)
	for i := range edits {
		edits[i] = api.Edit{Pos: i, Ins: "x"}
	}
	ctx, cancel := ctxT()
	defer cancel()
	res, err := a.edit(ctx, id, edits...)
	want := strings.Repeat("x", len(edits))
	var ae *apiError
	switch {
	case err == nil:
		if res.Applied != len(edits) || res.Chars != len(edits) {
			t.Fatalf("a request of %d edits was acknowledged with %+v", len(edits), res)
		}
	case errors.As(err, &ae) && ae.Status/100 == 4:
		t.Logf("refused: %v", err)
		want = ""
	default:
		t.Errorf("a request of %d edits (within the API's bounds) failed: %v", len(edits), err)
		want = ""
	}
	// The daemon still takes edits and documents.
	if _, err := a.edit(ctx, id, api.Edit{Pos: 0, Ins: "ok"}); err != nil {
		t.Fatalf("after the big request, a one-edit request fails: %v", err)
	}
	want = "ok" + want
	if _, err := a.do(ctx, "POST", "/api/docs", map[string]string{"title": "after"}); err != nil {
		t.Fatalf("after the big request, creating a document fails: %v", err)
	}
	if got := a.mustText(t, id); got != want {
		t.Fatalf("the document holds %d code points, want %d", len(got), len(want))
	}
	c.restart(a)
	if got := a.mustText(t, id); got != want {
		t.Fatalf("after a restart the document holds %d code points, want %d", len(got), len(want))
	}
}
