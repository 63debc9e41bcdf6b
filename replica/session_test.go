package replica

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"

	"weft/api"
	"weft/crdt"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// tab is a test stand-in for the editor page: a crdt replica that speaks
// the socket protocol through a Session.
type tab struct {
	t    *testing.T
	s    *Session
	doc  *crdt.Doc
	id   vocab.DocID
	mu   sync.Mutex
	acks []map[string]uint64
	pres []wire.Presence
	done bool
	fail string
	stop chan struct{}

	agent string
	// hellos, snaps and txnsMsgs count the daemon's hellos, the hellos
	// carrying a snapshot, and the txns messages.
	hellos, snaps, txnsMsgs int
}

// openTab attaches a tab to n's document; its agent is n's device's with
// the suffix given (a tab's agents are its daemon's device's).
func openTab(t *testing.T, n *testNode, docID, suffix string) *tab {
	t.Helper()
	agent := n.m.opts.Agent + "." + suffix
	d, _ := crdt.New(agent)
	return openTabWith(t, n, docID, d)
}

// openTabWith attaches a tab whose replica is d (a reconnecting tab's).
func openTabWith(t *testing.T, n *testNode, docID string, d *crdt.Doc) *tab {
	t.Helper()
	agent := d.Agent()
	s, err := n.m.OpenSession(context.Background(), docID)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := vocab.ParseDocID(docID)
	tb := &tab{t: t, s: s, doc: d, id: id, agent: agent, stop: make(chan struct{})}
	go tb.read()
	t.Cleanup(func() { s.Close(); <-tb.stop })
	hello, _ := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgHello, Doc: id[:], Version: d.Version()})
	if err := s.Handle(context.Background(), hello); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tab's catch-up", func() bool { tb.mu.Lock(); defer tb.mu.Unlock(); return tb.done })
	return tb
}

func (tb *tab) read() {
	defer close(tb.stop)
	for b := range tb.s.Out() {
		kind, err := wire.Kind(b)
		switch {
		case err == nil && kind == wire.MsgPresence:
			p, _, err := wire.ParsePresenceMsg(b, tb.id)
			if err != nil {
				tb.t.Errorf("tab got a bad presence message: %v", err)
				return
			}
			tb.mu.Lock()
			tb.pres = append(tb.pres, p)
			tb.mu.Unlock()
			continue
		case err == nil && kind == wire.MsgStatus:
			if _, err := wire.ParseStatus(b); err != nil {
				tb.t.Errorf("tab got a bad status message: %v", err)
				return
			}
			continue
		}
		m, err := wire.ParseSync(b)
		if err != nil {
			tb.t.Errorf("tab got a bad message: %v", err)
			return
		}
		tb.mu.Lock()
		switch m.Kind {
		case wire.MsgHello:
			tb.hellos++
			if m.Checkpoint != nil {
				tb.snaps++
				d, err := crdt.LoadSnapshot(tb.agent, m.Checkpoint)
				if err != nil || !maps.Equal(d.Version(), crdt.Version(m.Version)) {
					tb.t.Errorf("tab: the hello's snapshot: %v (version %v, hello says %v)", err, d.Version(), m.Version)
					break
				}
				tb.doc = d
			}
		case wire.MsgTxns:
			tb.txnsMsgs++
			for _, w := range m.Envs {
				e, err := wire.ParseEnvelope(w, tb.id)
				if err != nil {
					tb.t.Errorf("tab got a bad envelope: %v", err)
					break
				}
				txn, err := e.Open()
				if err == nil {
					_, err = tb.doc.Apply(txn)
				}
				if err != nil {
					tb.t.Errorf("tab: %v", err)
				}
			}
		case wire.MsgDone:
			tb.done = true
		case wire.MsgAck:
			tb.acks = append(tb.acks, m.Version)
		case wire.MsgFail:
			tb.fail = m.Reason
		}
		tb.mu.Unlock()
	}
}

func (tb *tab) text() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.doc.Text()
}

// type makes a local edit in the tab and sends it.
func (tb *tab) edit(pos, del int, text string) error {
	tb.mu.Lock()
	txn, err := tb.doc.Replace(pos, del, text)
	tb.mu.Unlock()
	if err != nil {
		tb.t.Fatal(err)
	}
	_, w, err := wire.Seal(tb.id, txn)
	if err != nil {
		tb.t.Fatal(err)
	}
	msg, _ := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{w}})
	return tb.s.Handle(context.Background(), msg)
}

func TestTabSessions(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	h.connect(a.net, b.net)
	info, _ := a.m.CreateDoc(ctx, "")
	edit(t, a, info.ID, api.Edit{Ins: "seed "})
	share(t, a, b, info.ID, "write")
	waitFor(t, "b to catch up", func() bool { return text(t, b, info.ID) == "seed " })

	// A fresh tab gets the whole document.
	t1 := openTab(t, a, info.ID, "tab1")
	t2 := openTab(t, a, info.ID, "tab2")
	if t1.text() != "seed " || t2.text() != "seed " {
		t.Fatalf("catch-up: %q %q", t1.text(), t2.text())
	}
	// The tab's edit is durable, acked, sent to the other tab and to b.
	if err := t1.edit(5, 0, "from tab1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an ack covering the tab's edit", func() bool {
		t1.mu.Lock()
		defer t1.mu.Unlock()
		return len(t1.acks) > 0 && t1.acks[len(t1.acks)-1][t1.agent] == 9
	})
	id, _ := store.ParseDocID(info.ID)
	stored := storedBy(t, a, id, t1.agent)
	if stored == 0 {
		t.Fatal("the acked edit is not in the store")
	}
	waitFor(t, "tab2 to see tab1's edit", func() bool { return t2.text() == "seed from tab1" })
	waitFor(t, "b to see tab1's edit", func() bool { return text(t, b, info.ID) == "seed from tab1" })
	// Edits from the API and from peers reach the tabs.
	edit(t, a, info.ID, api.Edit{Pos: 0, Ins: "[api]"})
	edit(t, b, info.ID, api.Edit{Pos: 0, Ins: "[peer]"})
	converged := func() bool {
		want := text(t, a, info.ID)
		return want == text(t, b, info.ID) && t1.text() == want && t2.text() == want && len(want) == len("[peer][api]seed from tab1")
	}
	defer func() {
		if !converged() {
			t.Logf("a %q b %q tab1 %q tab2 %q", text(t, a, info.ID), text(t, b, info.ID), t1.text(), t2.text())
		}
	}()
	waitFor(t, "the tabs to converge", converged)

	// Presence goes to the other tabs, here and on b.
	t3 := openTab(t, b, info.ID, "tab3")
	anchor, _ := t1.doc.AnchorAt(4)
	p := wire.Presence{Doc: t1.id[:], Agent: t1.agent, Name: "Ada", Color: "#aa3300", AnchorAgent: anchor.Agent, AnchorSeq: anchor.Seq, Seq: 1}
	record, _ := wire.MarshalPresence(p)
	pb, _ := wire.MarshalPresenceMsg(record)
	if err := t1.s.Handle(ctx, pb); err != nil {
		t.Fatal(err)
	}
	for _, other := range []*tab{t2, t3} {
		waitFor(t, "the cursor to reach the other tabs", func() bool {
			other.mu.Lock()
			defer other.mu.Unlock()
			return len(other.pres) > 0 && other.pres[len(other.pres)-1].Name == "Ada"
		})
	}
	t1.mu.Lock()
	own := len(t1.pres)
	t1.mu.Unlock()
	if own != 0 {
		t.Fatal("a tab got its own cursor back")
	}
}

func TestTabSessionRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nil, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	edit(t, a, info.ID, api.Edit{Ins: "safe"})
	tb := openTab(t, a, info.ID, "tab")
	for name, msg := range map[string][]byte{
		"garbage":       []byte("nonsense"),
		"second hello":  mustSync(t, wire.SyncMsg{Kind: wire.MsgHello}),
		"wrong doc":     mustSync(t, wire.SyncMsg{Kind: wire.MsgTxns, Doc: make([]byte, 16)}),
		"bad envelope":  mustSync(t, wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{{1, 2, 3}}}),
		"forged parent": forged(t, tb),
		"foreign agent": foreign(t, tb),
		"bare presence": bare(t, tb),
		"status":        mustStatus(t),
	} {
		if err := tb.s.Handle(ctx, msg); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if got := text(t, a, info.ID); got != "safe" {
		t.Fatalf("text changed to %q", got)
	}
	// Before its hello a tab may send nothing else.
	s, _ := a.m.OpenSession(ctx, info.ID)
	defer s.Close()
	if err := s.Handle(ctx, mustSync(t, wire.SyncMsg{Kind: wire.MsgTxns})); !errors.Is(err, vocab.ErrRejected) {
		t.Fatalf("txns before hello: %v", err)
	}
}

// bare is a presence record without its socket message around it.
func bare(t *testing.T, tb *tab) []byte {
	b, err := wire.MarshalPresence(wire.Presence{Doc: tb.id[:], Agent: tb.agent, Color: "#000000"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustStatus(t *testing.T) []byte {
	b, err := wire.MarshalStatus(wire.Status{Peers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSync(t *testing.T, m wire.SyncMsg) []byte {
	b, err := wire.MarshalSync(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forged makes a transaction whose parent the daemon cannot know and whose
// agent's history has a gap: refused, not stored.
func forged(t *testing.T, tb *tab) []byte {
	txn := &crdt.Txn{Agent: tb.agent, Seq: 7, Parents: []crdt.ID{{Agent: "a", Seq: 0}}, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "!"}}}
	_, w, err := wire.Seal(tb.id, txn)
	if err != nil {
		t.Fatal(err)
	}
	return mustSync(t, wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{w}})
}

// foreign makes a well-formed first transaction under an agent of another
// device: a tab writes only as its daemon's device.
func foreign(t *testing.T, tb *tab) []byte {
	d, _ := crdt.New("bm90LXRoaXMtZGV2aWNlcy1rZXktYnV0LTMyLWJ5dGVzIQ.tab")
	txn, err := d.Insert(0, "!")
	if err != nil {
		t.Fatal(err)
	}
	_, w, err := wire.Seal(tb.id, txn)
	if err != nil {
		t.Fatal(err)
	}
	return mustSync(t, wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{w}})
}

func TestSlowTabIsDropped(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nil, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "")
	s, err := a.m.OpenSession(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, _ := vocab.ParseDocID(info.ID)
	if err := s.Handle(ctx, mustSync(t, wire.SyncMsg{Kind: wire.MsgHello, Doc: id[:]})); err != nil {
		t.Fatal(err)
	}
	// The tab never reads; edits keep coming.
	for i := 0; i < sessionQueue+10; i++ {
		edit(t, a, info.ID, api.Edit{Pos: i, Ins: "x"})
	}
	n := 0
	for range s.Out() {
		n++
	}
	if n > sessionQueue {
		t.Fatalf("%d messages queued for a tab that does not read", n)
	}
}
