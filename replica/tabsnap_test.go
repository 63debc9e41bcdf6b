package replica

import (
	"context"
	"strings"
	"testing"

	"weft/api"
	"weft/crdt"
)

// A fresh tab gets the document as one snapshot in the daemon's hello and
// no transactions; it edits and merges from it like any replica. A
// reconnecting tab gets only what it lacks, as transactions. An empty
// document sends no snapshot.
func TestTabOpensFromSnapshot(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nil, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")

	empty := openTab(t, a, info.ID, "empty")
	if empty.snaps != 0 || empty.text() != "" {
		t.Fatalf("a tab of an empty document got %d snapshots, text %q", empty.snaps, empty.text())
	}

	edit(t, a, info.ID, api.Edit{Ins: "héllo 🌍 world"})
	edit(t, a, info.ID, api.Edit{Pos: 5, Del: 1})
	want := text(t, a, info.ID)
	t1 := openTab(t, a, info.ID, "t1")
	if t1.hellos != 1 || t1.snaps != 1 || t1.txnsMsgs != 0 {
		t.Fatalf("fresh tab: %d hellos, %d with a snapshot, %d txns messages; want 1, 1, 0", t1.hellos, t1.snaps, t1.txnsMsgs)
	}
	if t1.text() != want {
		t.Fatalf("fresh tab shows %q, the daemon %q", t1.text(), want)
	}

	// The tab edits on top of the snapshot; the daemon takes it.
	if err := t1.edit(0, 0, ">"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to take the tab's edit", func() bool { return text(t, a, info.ID) == ">"+want })

	// A tab opened later gets the snapshot of the version then (the
	// cached one is replaced), and the first tab's edit merged in it.
	edit(t, a, info.ID, api.Edit{Pos: 1, Ins: "[api]"})
	want = text(t, a, info.ID)
	t2 := openTab(t, a, info.ID, "t2")
	if t2.snaps != 1 || t2.text() != want || !strings.HasPrefix(want, ">[api]") {
		t.Fatalf("second tab: %d snapshots, %q; daemon %q", t2.snaps, t2.text(), want)
	}
	// A concurrent edit of the two tabs merges the same everywhere.
	if err := t1.edit(0, 0, "1"); err != nil {
		t.Fatal(err)
	}
	if err := t2.edit(0, 0, "2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tabs and the daemon to converge", func() bool {
		w := text(t, a, info.ID)
		return len(w) == len(want)+2 && t1.text() == w && t2.text() == w
	})

	// A reconnecting tab (its replica has a version) gets transactions.
	t2.mu.Lock()
	d, err := crdt.LoadSnapshot(t2.agent, t2.doc.EncodeSnapshot())
	t2.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	edit(t, a, info.ID, api.Edit{Ins: "late "})
	back := openTabWith(t, a, info.ID, d)
	if back.snaps != 0 || back.txnsMsgs == 0 || back.text() != text(t, a, info.ID) {
		t.Fatalf("reconnected tab: %d snapshots, %d txns messages, %q; daemon %q", back.snaps, back.txnsMsgs, back.text(), text(t, a, info.ID))
	}
}
