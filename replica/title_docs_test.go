package replica

import (
	"context"
	"testing"

	"weft/api"
	"weft/store"
)

// Renames are title transactions: two members renaming at once (each
// before hearing of the other) end with the same title everywhere once
// they have caught up, the listing (store meta) follows it, and a change
// feed reports it.
func TestConcurrentRenamesConverge(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	info, err := a.m.CreateDoc(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	edit(t, a, info.ID, api.Edit{Ins: "text"})
	h.connect(a.net, b.net)
	share(t, a, b, info.ID, api.RoleWrite)
	id, _ := store.ParseDocID(info.ID)
	if err := a.m.SyncWith(ctx, "b", id); err != nil {
		t.Fatal(err)
	}
	feed, err := b.m.Events(ctx, info.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	h.disconnect(a.net, b.net)
	if _, err := a.m.RenameDoc(ctx, info.ID, "Alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.RenameDoc(ctx, info.ID, "Beta"); err != nil {
		t.Fatal(err)
	}
	h.connect(a.net, b.net)
	if err := a.m.SyncWith(ctx, "b", id); err != nil {
		t.Fatal(err)
	}
	if err := b.m.SyncWith(ctx, "a", id); err != nil {
		t.Fatal(err)
	}
	titles := func() (string, string) {
		ia, _ := a.m.info(ctx, id)
		ib, _ := b.m.info(ctx, id)
		return ia.Title, ib.Title
	}
	waitFor(t, "the same title on both", func() bool {
		ta, tb := titles()
		return ta == tb && (ta == "Alpha" || ta == "Beta")
	})
	ta, _ := titles()
	t.Logf("both titled %q", ta)
	var sawTitle bool
	for !sawTitle {
		e, ok := recv(t, feed)
		if !ok {
			t.Fatal("the feed ended")
		}
		sawTitle = e.Kind == api.EventTitle && e.Title != nil
		if sawTitle && *e.Title != "Beta" && *e.Title != ta {
			t.Fatalf("title event %q", *e.Title)
		}
	}
}
