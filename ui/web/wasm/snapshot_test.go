package main

import (
	"testing"

	"weft/crdt"
	"weft/vocab"
	"weft/wire"
)

// snapshotAnswer is a weft.v4 daemon's reply to a fresh tab's hello: the
// hello carrying its snapshot, then done.
func (d *daemon) snapshotAnswer() [][]byte {
	return [][]byte{
		d.msg(wire.SyncMsg{Kind: wire.MsgHello, Doc: d.id[:], Version: d.doc.Version(), Checkpoint: d.doc.EncodeSnapshot()}),
		d.msg(wire.SyncMsg{Kind: wire.MsgDone}),
	}
}

// A fresh tab opens from the daemon's snapshot and edits, merges and
// resyncs from it as from a replayed history.
func TestTabOpensFromSnapshot(t *testing.T) {
	id := vocab.DocID{7}
	d := newDaemon(t, id)
	if _, err := d.doc.Insert(0, "héllo 🌍 world"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.doc.Delete(1, 1); err != nil {
		t.Fatal(err)
	}
	tab, err := NewTab("peer/tab1", id)
	if err != nil {
		t.Fatal(err)
	}
	var v view
	evs := receiveAll(t, tab, &v, d.snapshotAnswer())
	if kinds := kindsOf(evs); kinds != "hello done" {
		t.Fatalf("events %q", kinds)
	}
	if tab.doc.Text() != d.doc.Text() {
		t.Fatalf("tab %q, daemon %q", tab.doc.Text(), d.doc.Text())
	}
	if resync, err := tab.Resync(); err != nil || len(resync) != 0 {
		t.Fatalf("resync after a snapshot: %d messages, %v", len(resync), err)
	}

	// Concurrent edits: the tab's and the daemon's, each merged by the
	// other.
	if err := tab.Edit(0, 0, "T"); err != nil {
		t.Fatal(err)
	}
	txn, _ := d.doc.Replace(0, 0, "D")
	msgs, err := tab.Flush()
	if err != nil {
		t.Fatal(err)
	}
	d.take(msgs)
	_, env, _ := wire.Seal(id, txn)
	v.text = []rune(tab.doc.Text())
	receiveAll(t, tab, &v, [][]byte{d.msg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{env}})})
	if tab.doc.Text() != d.doc.Text() || string(v.text) != d.doc.Text() || len([]rune(d.doc.Text())) != 14 {
		t.Fatalf("after merging: tab %q, view %q, daemon %q", tab.doc.Text(), string(v.text), d.doc.Text())
	}
}

// A snapshot is refused, changing nothing, when the tab already has a
// version, when it does not decode, or when it is not of the hello's
// version.
func TestTabRefusesBadSnapshots(t *testing.T) {
	id := vocab.DocID{8}
	d := newDaemon(t, id)
	if _, err := d.doc.Insert(0, "abc"); err != nil {
		t.Fatal(err)
	}
	snap := d.doc.EncodeSnapshot()
	other := crdt.Version{"daemon": 2}
	for name, m := range map[string]wire.SyncMsg{
		"garbage":       {Kind: wire.MsgHello, Doc: id[:], Version: d.doc.Version(), Checkpoint: []byte{1, 2, 3}},
		"other version": {Kind: wire.MsgHello, Doc: id[:], Version: other, Checkpoint: snap},
	} {
		tab, _ := NewTab("peer/t", id)
		if _, err := tab.Receive(d.msg(m)); err == nil {
			t.Errorf("%s: taken", name)
		}
		if tab.doc.Text() != "" || tab.remote != nil {
			t.Errorf("%s: the tab changed: %q, remote %v", name, tab.doc.Text(), tab.remote)
		}
	}
	tab, _ := NewTab("peer/t", id)
	if err := tab.Edit(0, 0, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Receive(d.msg(wire.SyncMsg{Kind: wire.MsgHello, Doc: id[:], Version: d.doc.Version(), Checkpoint: snap})); err == nil {
		t.Error("a snapshot over a replica with edits was taken")
	}
	if tab.doc.Text() != "x" {
		t.Errorf("the tab's text became %q", tab.doc.Text())
	}
}
