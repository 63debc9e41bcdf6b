package replica

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"weft/api"
)

// A scripted history through the Manager: API edits carry the daemon's
// clock, sessions split at a pause of 5 minutes, the text, diff and blame
// at known versions, versions by time, and a restore that is one new
// transaction and can be restored away.
func TestHistoryScripted(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(t0.UnixMilli())
	a := newTestNode(t, nil, "a", func(o *Options) { o.Now = func() time.Time { return time.UnixMilli(now.Load()) } })
	ctx := context.Background()
	info, err := a.m.CreateDoc(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	id := info.ID
	edit := func(e ...api.Edit) {
		t.Helper()
		if _, err := a.m.Edit(ctx, id, e); err != nil {
			t.Fatal(err)
		}
	}
	edit(api.Edit{Ins: "alpha\nbeta\n"})
	h, _ := a.m.History(ctx, id, time.Time{})
	v1 := h.Version
	now.Add(60_000)
	edit(api.Edit{Pos: 6, Del: 4, Ins: "BETA"})
	now.Add(int64(time.Hour / time.Millisecond))
	edit(api.Edit{Pos: 11, Ins: "gamma"})

	h, err = a.m.History(ctx, id, time.Time{})
	if err != nil || len(h.Sessions) != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
	if s := h.Sessions[1]; !time.UnixMilli(int64(s.Start)).Equal(t0) || !time.UnixMilli(int64(s.End)).Equal(t0.Add(time.Minute)) || s.Inserted != 15 || s.Deleted != 4 || s.Txns != 2 {
		t.Fatalf("first session %+v", s)
	}
	if s := h.Sessions[0]; s.Inserted != 5 || s.Future {
		t.Fatalf("last session %+v", s)
	}
	if h2, _ := a.m.History(ctx, id, t0.Add(30*time.Minute)); len(h2.Sessions) != 1 {
		t.Fatalf("since: %+v", h2)
	}
	ta, err := a.m.TextAt(ctx, id, v1, "")
	if err != nil || ta.Text != "alpha\nbeta\n" {
		t.Fatalf("text at v1: %+v %v", ta, err)
	}
	ta, err = a.m.TextAt(ctx, id, t0.Add(2*time.Minute).Format(time.RFC3339), v1)
	if err != nil || ta.Text != "alpha\nBETA\n" || len(ta.Inserted) != 1 || ta.Inserted[0] != (api.InsertedSpan{Start: 6, Len: 4, Agent: a.m.opts.Agent}) {
		t.Fatalf("text at t0+2m since v1: %+v %v", ta, err)
	}
	d, err := a.m.Diff(ctx, id, v1, "")
	if err != nil || !strings.Contains(d.Diff, "-beta\n+BETA\n") || !strings.Contains(d.Diff, "+gamma") {
		t.Fatalf("diff: %+v %v", d, err)
	}
	bl, err := a.m.Blame(ctx, id, "")
	if err != nil || len(bl.Lines) != 3 || !time.UnixMilli(int64(bl.Lines[0].Time)).Equal(t0) || !time.UnixMilli(int64(bl.Lines[1].Time)).Equal(t0.Add(time.Minute)) || bl.Lines[2].Text != "gamma" {
		t.Fatalf("blame: %+v %v", bl, err)
	}

	// Restore: one new transaction; and back.
	before := h.Version
	r, err := a.m.Restore(ctx, id, v1)
	if err != nil || r.Edits == 0 {
		t.Fatalf("restore: %+v %v", r, err)
	}
	if txt, _ := a.m.Text(ctx, id); txt != "alpha\nbeta\n" {
		t.Fatalf("after restore: %q", txt)
	}
	if h3, _ := a.m.History(ctx, id, time.Time{}); h3.Sessions[0].Txns != 1 {
		t.Fatalf("the restore is not one transaction: %+v", h3.Sessions[0])
	}
	if r, err := a.m.Restore(ctx, id, v1); err != nil || r.Edits != 0 {
		t.Fatalf("restore to the text it has: %+v %v", r, err)
	}
	if _, err := a.m.Restore(ctx, id, before); err != nil {
		t.Fatal(err)
	}
	if txt, _ := a.m.Text(ctx, id); txt != "alpha\nBETA\ngamma" {
		t.Fatalf("restored away: %q", txt)
	}

	// A time ahead of the clock is marked; bad versions are bad input.
	now.Add(-int64(time.Hour / time.Millisecond))
	if h4, _ := a.m.History(ctx, id, time.Time{}); !h4.Sessions[0].Future {
		t.Fatalf("a session an hour ahead is not marked future: %+v", h4.Sessions[0])
	}
	for _, v := range []string{"nobody@3", "garbage", "x@1"} {
		if _, err := a.m.TextAt(ctx, id, v, ""); !errors.Is(err, api.ErrBadInput) {
			t.Errorf("TextAt(%q): %v", v, err)
		}
	}
	if _, err := a.m.Blame(ctx, "00000000000000000000000000000001", ""); !errors.Is(err, api.ErrUnknownDoc) {
		t.Errorf("blame of an unknown document: %v", err)
	}
}
