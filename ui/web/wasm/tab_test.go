package main

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"weft/crdt"
	"weft/vocab"
	"weft/wire"
)

// daemon stands in for the daemon's side of the socket: a replica that
// takes the tab's txns messages and answers hello as the protocol says.
type daemon struct {
	t   *testing.T
	doc *crdt.Doc
	id  vocab.DocID
}

func newDaemon(t *testing.T, id vocab.DocID) *daemon {
	d, err := crdt.New("daemon")
	if err != nil {
		t.Fatal(err)
	}
	return &daemon{t: t, doc: d, id: id}
}

func (d *daemon) take(msgs [][]byte) {
	d.t.Helper()
	for _, b := range msgs {
		m, err := wire.ParseSync(b)
		if err != nil || m.Kind != wire.MsgTxns || string(m.Doc) != string(d.id[:]) {
			d.t.Fatalf("tab sent %+v, %v", m, err)
		}
		for _, w := range m.Envs {
			e, err := wire.ParseEnvelope(w, d.id)
			if err != nil {
				d.t.Fatal(err)
			}
			txn, err := e.Open()
			if err != nil {
				d.t.Fatal(err)
			}
			if _, err := d.doc.Apply(txn); err != nil {
				d.t.Fatal(err)
			}
		}
	}
}

func (d *daemon) msg(m wire.SyncMsg) []byte {
	d.t.Helper()
	b, err := wire.MarshalSync(m)
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}

// answer is the daemon's reply to a hello: its version, what the tab
// lacks, done.
func (d *daemon) answer(hello []byte) [][]byte {
	d.t.Helper()
	m, err := wire.ParseSync(hello)
	if err != nil || m.Kind != wire.MsgHello {
		d.t.Fatalf("not a hello: %+v %v", m, err)
	}
	out := [][]byte{d.msg(wire.SyncMsg{Kind: wire.MsgHello, Doc: d.id[:], Version: d.doc.Version()})}
	var envs [][]byte
	for _, txn := range d.doc.Missing(crdt.Version(m.Version)) {
		_, b, err := wire.Seal(d.id, txn)
		if err != nil {
			d.t.Fatal(err)
		}
		envs = append(envs, b)
	}
	if len(envs) > 0 {
		out = append(out, d.msg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: envs}))
	}
	return append(out, d.msg(wire.SyncMsg{Kind: wire.MsgDone}))
}

// view follows a tab's patches the way the editor does.
type view struct{ text []rune }

func (v *view) apply(t *testing.T, p crdt.Patch) {
	t.Helper()
	for _, c := range p {
		if c.Pos < 0 || c.Pos+c.Delete > len(v.text) {
			t.Fatalf("patch %+v outside a view of %d", c, len(v.text))
		}
		v.text = append(v.text[:c.Pos], append([]rune(c.Insert), v.text[c.Pos+c.Delete:]...)...)
	}
}

func receiveAll(t *testing.T, tab *Tab, v *view, msgs [][]byte) []Event {
	t.Helper()
	var evs []Event
	for _, b := range msgs {
		ev, err := tab.Receive(b)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
		v.apply(t, ev.Patch)
		evs = append(evs, ev)
	}
	return evs
}

func TestTabSyncsThroughTheDaemon(t *testing.T) {
	id := vocab.DocID{1, 2, 3}
	d := newDaemon(t, id)
	if _, err := d.doc.Insert(0, "héllo 🌍"); err != nil {
		t.Fatal(err)
	}
	tab, err := NewTab("peer/tab1", id)
	if err != nil {
		t.Fatal(err)
	}
	var v view
	hello, err := tab.Hello()
	if err != nil {
		t.Fatal(err)
	}
	evs := receiveAll(t, tab, &v, d.answer(hello))
	if kinds := kindsOf(evs); kinds != "hello txns done" {
		t.Fatalf("events %q", kinds)
	}
	if string(v.text) != "héllo 🌍" || tab.doc.Text() != "héllo 🌍" {
		t.Fatalf("after catch-up: view %q, tab %q", string(v.text), tab.doc.Text())
	}
	resync, err := tab.Resync()
	if err != nil || len(resync) != 0 {
		t.Fatalf("resync of a fresh tab: %d messages, %v", len(resync), err)
	}

	// Local edits are sent by Flush, as one span, and only once.
	for i, r := range "abc" {
		if err := tab.Edit(i, 0, string(r)); err != nil {
			t.Fatal(err)
		}
		v.apply(t, crdt.Patch{{Pos: i, Insert: string(r)}})
	}
	if tab.Saved() {
		t.Fatal("saved before the daemon acked")
	}
	msgs, err := tab.Flush()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("flush: %d messages, %v", len(msgs), err)
	}
	m, _ := wire.ParseSync(msgs[0])
	if len(m.Envs) != 1 {
		t.Fatalf("three keystrokes in %d envelopes, want one span", len(m.Envs))
	}
	if again, _ := tab.Flush(); len(again) != 0 {
		t.Fatal("flush sent the same edits twice")
	}
	d.take(msgs)
	if d.doc.Text() != "abchéllo 🌍" {
		t.Fatalf("daemon has %q", d.doc.Text())
	}
	ev, err := tab.Receive(d.msg(wire.SyncMsg{Kind: wire.MsgAck, Version: d.doc.Version()}))
	if err != nil || !ev.Saved || !tab.Saved() {
		t.Fatalf("ack: %+v %v", ev, err)
	}

	// A remote edit arrives as a patch.
	txn, _ := d.doc.Replace(3, 2, "E")
	_, env, _ := wire.Seal(id, txn)
	evs = receiveAll(t, tab, &v, [][]byte{d.msg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{env}})})
	if string(v.text) != "abcEllo 🌍" || tab.doc.Text() != string(v.text) {
		t.Fatalf("remote edit: view %q tab %q", string(v.text), tab.doc.Text())
	}
	// The same envelope again is a no-op.
	evs = receiveAll(t, tab, &v, [][]byte{d.msg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{env}})})
	if len(evs[0].Patch) != 0 {
		t.Fatalf("duplicate produced %+v", evs[0].Patch)
	}
}

func kindsOf(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Kind)
	}
	return strings.Join(s, " ")
}

// The socket drops with edits in flight and more are made offline; after
// the reconnect's hello, Resync sends what the daemon lacks, and nothing is
// lost or doubled whichever of the in-flight messages arrived.
func TestTabResyncAfterDrop(t *testing.T) {
	for _, arrived := range []bool{false, true} {
		id := vocab.DocID{9}
		d := newDaemon(t, id)
		tab, _ := NewTab("tab", id)
		var v view
		hello, _ := tab.Hello()
		receiveAll(t, tab, &v, d.answer(hello))
		tab.Edit(0, 0, "one ")
		v.apply(t, crdt.Patch{{Pos: 0, Insert: "one "}})
		inflight, _ := tab.Flush()
		if arrived {
			d.take(inflight)
		}
		// Offline: more typing, and the daemon gets a peer's edit.
		tab.Edit(4, 0, "two ")
		v.apply(t, crdt.Patch{{Pos: 4, Insert: "two "}})
		d.doc.Insert(d.doc.Len(), "[peer]")
		if msgs, _ := tab.Flush(); len(msgs) == 0 {
			t.Fatal("nothing to flush")
		} // lost with the socket

		hello, _ = tab.Hello()
		if _, err := tab.Resync(); err == nil {
			t.Fatal("resync before the daemon's hello")
		}
		receiveAll(t, tab, &v, d.answer(hello))
		msgs, err := tab.Resync()
		if err != nil {
			t.Fatal(err)
		}
		d.take(msgs)
		if d.doc.Text() != tab.doc.Text() || tab.doc.Text() != string(v.text) {
			t.Fatalf("arrived=%v: daemon %q tab %q view %q", arrived, d.doc.Text(), tab.doc.Text(), string(v.text))
		}
		if !strings.Contains(d.doc.Text(), "one ") || !strings.Contains(d.doc.Text(), "two ") || !strings.Contains(d.doc.Text(), "[peer]") || utf8.RuneCountInString(d.doc.Text()) != 14 {
			t.Fatalf("arrived=%v: %q", arrived, d.doc.Text())
		}
	}
}

// Random edits on both sides, random drops and duplicate deliveries: the
// tab, its view and the daemon converge.
func TestTabRandomSync(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	id := vocab.DocID{7}
	d := newDaemon(t, id)
	tab, _ := NewTab("tab", id)
	var v view
	alphabet := []rune("ab c\n😀é")
	word := func() string {
		n := 1 + r.IntN(5)
		s := make([]rune, n)
		for i := range s {
			s[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(s)
	}
	randomEdit := func(length int) (int, int, string) {
		pos := r.IntN(length + 1)
		del := 0
		if pos < length && r.IntN(3) == 0 {
			del = 1 + r.IntN(min(4, length-pos))
		}
		return pos, del, word()
	}
	connected := false
	for step := range 2000 {
		switch k := r.IntN(10); {
		case k < 4:
			pos, del, s := randomEdit(tab.doc.Len())
			if err := tab.Edit(pos, del, s); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			v.apply(t, crdt.Patch{{Pos: pos, Delete: del, Insert: s}})
		case k < 6:
			pos, del, s := randomEdit(d.doc.Len())
			txn, err := d.doc.Replace(pos, del, s)
			if err != nil {
				t.Fatal(err)
			}
			if connected {
				_, env, _ := wire.Seal(id, txn)
				msg := d.msg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{env}})
				receiveAll(t, tab, &v, [][]byte{msg})
				if r.IntN(4) == 0 {
					receiveAll(t, tab, &v, [][]byte{msg}) // delivered twice
				}
			}
		case k < 8:
			msgs, err := tab.Flush()
			if err != nil {
				t.Fatal(err)
			}
			if connected && r.IntN(5) != 0 {
				d.take(msgs)
			}
		case k == 8:
			connected = false // the socket drops
		default:
			if !connected {
				hello, _ := tab.Hello()
				receiveAll(t, tab, &v, d.answer(hello))
				msgs, err := tab.Resync()
				if err != nil {
					t.Fatal(err)
				}
				d.take(msgs)
				connected = true
			}
		}
		if tab.doc.Text() != string(v.text) {
			t.Fatalf("seed %d step %d: view %q, tab %q", seed, step, string(v.text), tab.doc.Text())
		}
	}
	hello, _ := tab.Hello()
	receiveAll(t, tab, &v, d.answer(hello))
	msgs, _ := tab.Resync()
	d.take(msgs)
	if d.doc.Text() != tab.doc.Text() || tab.doc.Text() != string(v.text) {
		t.Fatalf("seed %d: diverged:\ndaemon %q\ntab    %q\nview   %q", seed, d.doc.Text(), tab.doc.Text(), string(v.text))
	}
	tab.Receive(d.msg(wire.SyncMsg{Kind: wire.MsgAck, Version: d.doc.Version()}))
	if !tab.Saved() || tab.Unsaved() != 0 {
		t.Fatalf("seed %d: not saved after a full ack", seed)
	}
}

func TestTabRefusesBadInput(t *testing.T) {
	id := vocab.DocID{5}
	tab, _ := NewTab("tab", id)
	other := vocab.DocID{6}
	good, _ := crdt.New("x")
	txn, _ := good.Insert(0, "hi")
	_, envOther, _ := wire.Seal(other, txn)
	_, env, _ := wire.Seal(id, txn)
	mk := func(m wire.SyncMsg) []byte { b, _ := wire.MarshalSync(m); return b }
	record, _ := wire.MarshalPresence(wire.Presence{Doc: id[:], Agent: "x", Color: "#000000"})
	otherRecord, _ := wire.MarshalPresence(wire.Presence{Doc: other[:], Agent: "x", Color: "#000000"})
	otherPresence, _ := wire.MarshalPresenceMsg(otherRecord)

	for name, b := range map[string][]byte{
		"garbage":                  {0xff, 0x00},
		"empty":                    {},
		"wrong document":           mk(wire.SyncMsg{Kind: wire.MsgHello, Doc: other[:]}),
		"presence for another doc": otherPresence,
		"untagged presence record": record,
		"presence as a sync msg":   mk(wire.SyncMsg{Kind: wire.MsgPresence}),
		"status as a sync msg":     mk(wire.SyncMsg{Kind: wire.MsgStatus, Reason: `{"peers":3}`}),
		"huge":                     make([]byte, maxMessage+1),
	} {
		if _, err := tab.Receive(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A txns message with one foreign envelope applies the good one and
	// reports the other.
	ev, err := tab.Receive(mk(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{envOther, env}}))
	if err != nil || ev.Err == nil || vocab.Reason(ev.Err) != vocab.ReasonWrongDocument || tab.doc.Text() != "hi" || len(ev.Patch) != 1 {
		t.Fatalf("mixed batch: %+v %v, text %q", ev, err, tab.doc.Text())
	}
	// A contradicting transaction (same IDs, other content) changes nothing.
	bad, _ := crdt.New("x")
	btxn, _ := bad.Insert(0, "yo")
	_, benv, _ := wire.Seal(id, btxn)
	ev, _ = tab.Receive(mk(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{benv}}))
	if !errors.Is(ev.Err, crdt.ErrContradiction) || tab.doc.Text() != "hi" {
		t.Fatalf("contradiction: %v, text %q", ev.Err, tab.doc.Text())
	}
	if err := tab.Edit(5, 0, "x"); !errors.Is(err, crdt.ErrPosition) {
		t.Fatalf("edit out of range: %v", err)
	}
	if _, err := tab.Presence("me", "red", 0, 0); err == nil {
		t.Fatal("bad colour accepted")
	}
	if _, err := tab.Presence(strings.Repeat("n", wire.MaxName+1), "#000000", 0, 0); err == nil {
		t.Fatal("long name accepted")
	}
	if _, err := tab.Presence("me", "#000000", 0, 3); err == nil {
		t.Fatal("selection out of range accepted")
	}
}

func TestTabPresenceAndStatus(t *testing.T) {
	id := vocab.DocID{4}
	a, _ := NewTab("a", id)
	b, _ := NewTab("b", id)
	txn, _ := a.doc.Replace(0, 0, "hello")
	b.doc.Apply(txn)
	msg, err := a.Presence("Ada", "#12ab9f", 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := b.Receive(msg)
	if err != nil || ev.Kind != "presence" || ev.Presence.Name != "Ada" {
		t.Fatalf("%+v %v", ev, err)
	}
	pa, _ := b.doc.PosOf(ev.Presence.Anchor())
	ph, _ := b.doc.PosOf(ev.Presence.Head())
	if pa != 1 || ph != 4 {
		t.Fatalf("selection %d..%d, want 1..4", pa, ph)
	}
	// Its own presence, echoed, is ignored; sequence numbers increase.
	if ev, _ := a.Receive(msg); ev.Kind != "ignored" {
		t.Fatalf("own presence: %+v", ev)
	}
	msg2, _ := a.Presence("Ada", "#12ab9f", 2, 2)
	if k, err := wire.Kind(msg2); err != nil || k != wire.MsgPresence {
		t.Fatalf("presence message of kind %d, %v", k, err)
	}
	p2, _, _ := wire.ParsePresenceMsg(msg2, id)
	if p2.Seq != 2 {
		t.Fatalf("seq %d", p2.Seq)
	}

	st, _ := wire.MarshalStatus(wire.Status{Peers: 3, Relay: map[string]uint64{"a": 5}})
	ev, err = a.Receive(st)
	if err != nil || ev.Kind != "status" || ev.Peers != 3 || !ev.HasRelay || !ev.Relay {
		t.Fatalf("status: %+v %v", ev, err)
	}
	a.Edit(0, 0, "x")
	ev, _ = a.Receive(st)
	if ev.Relay {
		t.Fatal("relay saved after a new edit")
	}
	// No relay yet: the status says so, and the peer count stands alone.
	alone, _ := wire.MarshalStatus(wire.Status{Peers: 0})
	ev, err = b.Receive(alone)
	if err != nil || ev.Kind != "status" || ev.Peers != 0 || ev.HasRelay {
		t.Fatalf("status without a relay: %+v %v", ev, err)
	}
}

// The browser's clock reaches the tab's transactions: a burst of edits
// under a second apart keeps its first edit's time (one transaction), a
// later edit its own.
func TestTabEditsCarryTheClock(t *testing.T) {
	tab, _ := NewTab("tab", vocab.DocID{7})
	const t0 = 1_765_000_000_000
	for i, ms := range []int64{t0, t0 + 300, t0 + 900, t0 + 5_000} {
		tab.SetNow(ms)
		if err := tab.Edit(i, 0, "x"); err != nil {
			t.Fatal(err)
		}
	}
	txns := tab.doc.Missing(crdt.Version{})
	if len(txns) != 2 || txns[0].Time != t0 || txns[0].Count() != 3 || txns[1].Time != t0+5_000 {
		for _, x := range txns {
			t.Logf("%s@%d +%d time %d", x.Agent, x.Seq, x.Count(), x.Time)
		}
		t.Fatalf("%d transactions; want 2: three edits at %d, one at %d", len(txns), int64(t0), int64(t0+5_000))
	}
	tab.SetNow(-5) // a clock crdt refuses leaves the time as it was
	tab.Edit(0, 0, "y")
	if last := tab.doc.Missing(crdt.Version{"tab": 4}); len(last) != 1 || last[0].Time != t0+5_000 {
		t.Fatalf("after a refused clock: %+v", last)
	}
}
