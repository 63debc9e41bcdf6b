package replica

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"weft/api"
	"weft/store"
)

// recv takes the next event of a feed, within a deadline.
func recv(t *testing.T, ch <-chan api.DocEvent) (api.DocEvent, bool) {
	t.Helper()
	select {
	case e, ok := <-ch:
		return e, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return api.DocEvent{}, false
}

// applyChanges applies a patch to text (positions in code points).
func applyChanges(text string, cs []api.Change) string {
	r := []rune(text)
	for _, c := range cs {
		r = append(r[:c.Pos], append([]rune(c.Insert), r[c.Pos+c.Delete:]...)...)
	}
	return string(r)
}

// A change feed follows the document's text exactly (a reader applying
// the patches ends with the text), resumes from any kept version with
// exactly what came after it, sends a reset for a version it does not
// know, and drops a reader that does not read, with an end event,
// without holding up edits.
func TestEventsFeed(t *testing.T) {
	ctx := context.Background()
	n := newTestNode(t, nil, "a", nil)
	info, err := n.m.CreateDoc(ctx, "feed")
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := n.m.RenameDoc(ctx, info.ID, "renamed"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.m.Edit(ctx, info.ID, []api.Edit{{Pos: 0, Ins: "pr"}}); err != nil {
		t.Fatal(err)
	}
	st, _ := n.m.DocStatus(ctx, info.ID)
	pre := strings.Join(st.Frontier, ",") // before the feed: not kept, but in the history
	if _, err := n.m.Edit(ctx, info.ID, []api.Edit{{Pos: 2, Ins: "e "}}); err != nil {
		t.Fatal(err)
	}
	ch, err := n.m.Events(fctx, info.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	edits := []api.Edit{{Pos: 0, Ins: "hello 🧵"}, {Pos: 6, Del: 1, Ins: "wörld"}, {Pos: 0, Ins: "\ufeff"}, {Pos: 12, Ins: "\r\n"}}
	mirror := "pre "
	var versions []string
	for _, e := range edits {
		if _, err := n.m.Edit(ctx, info.ID, []api.Edit{e}); err != nil {
			t.Fatal(err)
		}
		ev, ok := recv(t, ch)
		if !ok || ev.Kind != api.EventPatch || ev.Version == "" {
			t.Fatalf("event %+v %v", ev, ok)
		}
		mirror = applyChanges(mirror, ev.Changes)
		versions = append(versions, ev.Version)
	}
	text, _ := n.m.Text(ctx, info.ID)
	if mirror != text {
		t.Fatalf("the feed's reader has %q, the document %q", mirror, text)
	}

	// Resume from the second version: the last two patches again.
	ch2, err := n.m.Events(fctx, info.ID, versions[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range versions[2:] {
		ev, _ := recv(t, ch2)
		if ev.Kind != api.EventPatch || ev.Version != want {
			t.Fatalf("resumed: %+v, want the patch to %s", ev, want)
		}
	}
	// An unknown version: the whole text.
	ch3, err := n.m.Events(fctx, info.ID, "nobody@7")
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := recv(t, ch3); ev.Kind != api.EventReset || ev.Text == nil || *ev.Text != text || ev.Version != versions[3] {
		t.Fatalf("reset: %+v", ev)
	}

	// A version of the history from before the feed: one patch from its
	// text.
	ch4, err := n.m.Events(fctx, info.ID, pre)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := recv(t, ch4); ev.Kind != api.EventPatch || applyChanges("pr", ev.Changes) != text || ev.Version != versions[3] {
		t.Fatalf("resumed from before the feed: %+v", ev)
	}
	if ev, _ := recv(t, ch4); ev.Kind != api.EventTitle || *ev.Title != "renamed" {
		t.Fatalf("resumed from before the feed, the title: %+v", ev)
	}

	// ch is never read again: after feedBuffer more events it is dropped.
	start := time.Now()
	for i := 0; i < feedBuffer+10; i++ {
		if _, err := n.m.Edit(ctx, info.ID, []api.Edit{{Pos: 0, Ins: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d edits with a reader that does not read: %v", feedBuffer+10, time.Since(start))
	var last api.DocEvent
	count := 0
	for e := range ch {
		last = e
		count++
	}
	if last.Kind != api.EventEnd || last.Reason != EndSlow || count != feedBuffer+1 {
		t.Fatalf("the slow reader got %d events, the last %+v", count, last)
	}
}

// Import stores the text exactly (astral characters, CR LF, a BOM, a
// chunk boundary inside a character), export gives it back byte for
// byte; text that is not UTF-8 is refused naming the offset and leaves
// no document; delete leaves nothing readable and ends the feeds.
func TestImportExportDelete(t *testing.T) {
	ctx := context.Background()
	n := newTestNode(t, nil, "a", nil)
	big := strings.Repeat("a", importChunk-1) + "🧵" + strings.Repeat("é\r\n", 50000)
	for _, text := range []string{"", "\ufeffline one\r\nline two 𝄞\r\n", "no newline 🎉", big} {
		info, err := n.m.Import(ctx, "imp", strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.m.Export(ctx, info.ID, "")
		if err != nil || got != text {
			t.Fatalf("export of %d bytes gave %d bytes (%v); equal: %v", len(text), len(got), err, got == text)
		}
	}
	before, _ := n.m.ListDocs(ctx)
	bad := strings.Repeat("b", importChunk+5) + "\xff tail"
	_, err := n.m.Import(ctx, "bad", strings.NewReader(bad))
	var ue *InvalidUTF8Error
	if !errors.As(err, &ue) || ue.Offset != int64(importChunk+5) || !errors.Is(err, api.ErrBadInput) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	after, _ := n.m.ListDocs(ctx)
	if len(after) != len(before) {
		t.Fatalf("a failed import left a document: %d documents, had %d", len(after), len(before))
	}

	id := before[0].ID
	ch, err := n.m.Events(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.m.DeleteDoc(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Asked != "admin" {
		t.Errorf("asked: %q", res.Asked)
	}
	if ev, _ := recv(t, ch); ev.Kind != api.EventEnd || ev.Reason != EndDeleted {
		t.Fatalf("the feed after delete: %+v", ev)
	}
	if _, err := n.m.Text(ctx, id); !errors.Is(err, api.ErrUnknownDoc) {
		t.Fatalf("text after delete: %v", err)
	}
	sid, _ := store.ParseDocID(id)
	if _, err := n.store.Meta(ctx, sid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("meta after delete: %v", err)
	}
	if _, err := n.store.GetMembers(ctx, sid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("keys after delete: %v", err)
	}
	if _, err := n.m.DeleteDoc(ctx, id); !errors.Is(err, api.ErrUnknownDoc) {
		t.Fatalf("deleting again: %v", err)
	}
}
