package replica

import (
	"context"
	"testing"
	"time"

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
	// b applies what the exchange brought on its own driver: the feed
	// opens once b holds the creation's title, or it reports that title
	// as a change.
	waitFor(t, "b to hold the document as created", func() bool {
		ib, err := b.m.info(ctx, id)
		return err == nil && ib.Title == "first" && text(t, b, info.ID) == "text"
	})
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

// A new document's title is its first transaction, a title op: a member
// who joins by invite takes it from the history (not only from the hello),
// the history shows it as a rename, and a peer's rename to "" clears the
// listing's title everywhere, and a stale hello title does not bring it
// back.
func TestCreationTitleAndClear(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	info, err := a.m.CreateDoc(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := store.ParseDocID(info.ID)
	hist, err := a.m.History(ctx, info.ID, time.Time{})
	if err != nil || len(hist.Sessions) != 1 || hist.Sessions[0].Titles != 1 || hist.Sessions[0].Txns != 1 || hist.Sessions[0].Inserted != 0 {
		t.Fatalf("a new document's history is not its one title transaction: %+v %v", hist, err)
	}
	h.connect(a.net, b.net)
	share(t, a, b, info.ID, api.RoleWrite)
	if err := a.m.SyncWith(ctx, "b", id); err != nil {
		t.Fatal(err)
	}
	title := func(n *testNode) string {
		i, err := n.m.info(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return i.Title
	}
	waitFor(t, "b's title from the history", func() bool { return title(b) == "first" && text(t, b, info.ID) == "" })
	if hb, err := b.m.History(ctx, info.ID, time.Time{}); err != nil || len(hb.Sessions) != 1 || hb.Sessions[0].Titles != 1 || hb.Sessions[0].Txns != 1 {
		t.Fatalf("b's history of the new document: %+v %v", hb, err)
	}
	if _, err := b.m.RenameDoc(ctx, info.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got := title(b); got != "" {
		t.Fatalf("b's title after clearing it: %q", got)
	}
	if err := b.m.SyncWith(ctx, "a", id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's title cleared by b", func() bool { return title(a) == "" })
	// a's listing says "first" again (as a stale peer's would): a's
	// hello offers it to b, whose history says "".
	if err := a.m.opts.Store.SetTitle(ctx, id, "first"); err != nil {
		t.Fatal(err)
	}
	if err := a.m.SyncWith(ctx, "b", id); err != nil {
		t.Fatal(err)
	}
	if got := title(b); got != "" {
		t.Fatalf("b took a stale hello title over the history's \"\": %q", got)
	}
}
