package main

import (
	"strings"
	"testing"

	"weft/vocab"
	"weft/wire"
)

// A tab's kept edits, adopted by the next tab of the document, reach the
// daemon exactly once whether or not the first tab's messages arrived,
// count as unsaved until acked, and stay under their own agent.
func TestTabAdoptsKeptEdits(t *testing.T) {
	for _, arrived := range []bool{false, true} {
		id := vocab.DocID{5}
		d := newDaemon(t, id)
		if _, err := d.doc.Insert(0, "base"); err != nil {
			t.Fatal(err)
		}
		old, _ := NewTab("dev.old", id)
		var v view
		hello, _ := old.Hello()
		receiveAll(t, old, &v, d.answer(hello))
		if _, err := old.Resync(); err != nil {
			t.Fatal(err)
		}
		var kept [][]byte
		for i, s := range []string{"x", "y", "🐙"} {
			if err := old.Edit(4+i, 0, s); err != nil {
				t.Fatal(err)
			}
			msgs, upto, err := old.Unstored()
			if err != nil || len(msgs) == 0 || upto != uint64(i+1) {
				t.Fatalf("unstored after edit %d: %d messages up to %d, %v", i, len(msgs), upto, err)
			}
			kept = append(kept, msgs...)
		}
		if again, _, _ := old.Unstored(); again != nil {
			t.Fatal("unstored handed out the same edits twice")
		}
		sent, _ := old.Flush()
		if arrived {
			d.take(sent) // the daemon got them, but the tab closed before the ack
		}

		tab, _ := NewTab("dev.new", id)
		var w view
		receiveAll(t, tab, &w, d.snapshotAnswer())
		for _, b := range kept {
			ev, agent, err := tab.Adopt(b)
			if err != nil || ev.Err != nil || agent != "dev.old" {
				t.Fatalf("adopt: agent %q, %v, %v", agent, err, ev.Err)
			}
			w.text = []rune(tab.doc.Text())
		}
		wantUnsaved := uint64(3)
		if arrived {
			wantUnsaved = 0 // the daemon's hello says it has them
		}
		if tab.doc.Text() != "basexy🐙" || tab.Unsaved() != wantUnsaved {
			t.Fatalf("arrived=%v: after adopting: %q, saved %v, unsaved %d", arrived, tab.doc.Text(), tab.Saved(), tab.Unsaved())
		}
		msgs, err := tab.Resync()
		if err != nil {
			t.Fatal(err)
		}
		if arrived && len(msgs) != 0 {
			t.Fatalf("resync sent %d messages of what the daemon had", len(msgs))
		}
		d.take(msgs)
		if got := d.doc.Text(); got != "basexy🐙" || strings.Count(got, "🐙") != 1 {
			t.Fatalf("arrived=%v: daemon has %q", arrived, got)
		}
		if d.doc.Version()["dev.new"] != 0 {
			t.Fatal("the adopted edits were sent under the new tab's agent")
		}
		ev, err := tab.Receive(d.msg(wire.SyncMsg{Kind: wire.MsgAck, Version: d.doc.Version()}))
		if err != nil || !ev.Saved || tab.Unsaved() != 0 || tab.Acked()["dev.old"] != 3 {
			t.Fatalf("ack: %+v %v; unsaved %d, acked %v", ev, err, tab.Unsaved(), tab.Acked())
		}
		// New edits are the new tab's own.
		if err := tab.Edit(0, 0, "!"); err != nil {
			t.Fatal(err)
		}
		if tab.doc.Version()["dev.new"] != 1 || tab.doc.Version()["dev.old"] != 3 {
			t.Fatalf("versions after a new edit: %v", tab.doc.Version())
		}
	}
}

func TestTabRefusesBadKeptEdits(t *testing.T) {
	id := vocab.DocID{6}
	a, _ := NewTab("dev.a", id)
	b, _ := NewTab("dev.b", id)
	_ = a.Edit(0, 0, "a")
	_ = b.Edit(0, 0, "b")
	ma, _, _ := a.Unstored()
	mb, _, _ := b.Unstored()
	pa, _ := wire.ParseSync(ma[0])
	pb, _ := wire.ParseSync(mb[0])
	mixed, _ := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgTxns, Doc: id[:], Envs: append(pa.Envs, pb.Envs...)})
	other := vocab.DocID{7}
	wrongDoc, _ := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgTxns, Doc: other[:], Envs: pa.Envs})
	hello, _ := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgHello, Doc: id[:]})
	tab, _ := NewTab("dev.c", id)
	for name, m := range map[string][]byte{"own agent": mustOne(t, tab), "mixed agents": mixed, "other document": wrongDoc, "not txns": hello, "garbage": {1, 2, 3}} {
		if _, _, err := tab.Adopt(m); err == nil {
			t.Errorf("%s: adopted", name)
		}
		if tab.doc.Text() != "" || tab.Unsaved() != 0 {
			t.Fatalf("%s: the tab changed: %q, unsaved %d", name, tab.doc.Text(), tab.Unsaved())
		}
	}
}

// mustOne is a txns message of the tab's own agent (made by a twin).
func mustOne(t *testing.T, tab *Tab) []byte {
	twin, _ := NewTab(tab.agent, tab.id)
	_ = twin.Edit(0, 0, "z")
	m, _, err := twin.Unstored()
	if err != nil {
		t.Fatal(err)
	}
	return m[0]
}
