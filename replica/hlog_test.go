package replica

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"maps"
	"testing"
	"time"

	"weft/member"
	"weft/vocab"
)

// Envelopes of one agent that arrive last first wait, and are taken in
// their chain's order once the first arrives; one whose parent is another
// agent's waits for that agent's.
func TestHlogReleasesInCausalOrder(t *testing.T) {
	doc := vocab.DocID{1}
	chain := func(seed string, n int, parents []vocab.ID) []*member.Envelope {
		s := sha256.Sum256([]byte(seed))
		agent := member.AgentOf(ed25519.NewKeyFromSeed(s[:]).Public().(ed25519.PublicKey))
		var out []*member.Envelope
		var prev [32]byte
		for i := 0; i < n; i++ {
			h := &member.Header{Doc: doc, Header: vocab.Header{Agent: agent, Seq: uint64(i), Len: 1}, Prev: prev}
			if i == 0 {
				h.Parents = parents
			}
			out = append(out, &member.Envelope{Header: h, Hash: h.Hash()})
			prev = h.Hash()
		}
		return out
	}
	a := chain("a", 4, nil)
	b := chain("b", 1, []vocab.ID{{Agent: a[3].Header.Agent, Seq: 3}})
	l := newHlog()
	var order []*member.Envelope
	judge := func(e *member.Envelope) bool { l.commit(e); order = append(order, e); return true }
	// a[1] arrives twice: once waiting, once again after a[0] (as
	// gossip and catch-up both bring it); the waiting copy must not stay.
	for _, e := range []*member.Envelope{b[0], a[3], a[2], a[1]} {
		if v, err := l.check(e); err != nil || v != vWait || !l.wait(e, "p", time.Unix(0, 0)).kept {
			t.Fatalf("%s: %v %v", e.Header.Span(), v, err)
		}
	}
	l.released(judge)
	if len(order) != 0 {
		t.Fatalf("released %d before the first", len(order))
	}
	if v, err := l.check(a[0]); err != nil || v != vReady {
		t.Fatalf("the first: %v %v", v, err)
	}
	judge(a[0])
	if v, err := l.check(a[1]); err != nil || v != vReady {
		t.Fatalf("a[1] again: %v %v", v, err)
	}
	judge(a[1])
	l.released(judge)
	want := []*member.Envelope{a[0], a[1], a[2], a[3], b[0]}
	if len(order) != len(want) {
		t.Fatalf("took %d, want %d", len(order), len(want))
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("step %d took %s, want %s", i, order[i].Header.Span(), want[i].Header.Span())
		}
	}
	if len(l.waiting) != 0 || len(l.waitingBy) != 0 || l.waitingBytes != 0 || len(l.byPeer) != 0 {
		t.Fatalf("left waiting: %d, %v, %d bytes, %d peers", len(l.waiting), l.waitingBy, l.waitingBytes, len(l.byPeer))
	}
}

// orphans returns n envelopes of distinct agents, each waiting for a
// parent that never comes, with payloads of size bytes.
func orphans(seed string, n, size int) []*member.Envelope {
	doc := vocab.DocID{1}
	out := make([]*member.Envelope, n)
	for i := range out {
		h := &member.Header{Doc: doc, Header: vocab.Header{Agent: fmt.Sprintf("%s-%d", seed, i), Seq: 1, Len: 1}, Sig: make([]byte, 64)}
		out[i] = &member.Envelope{Header: h, Hash: h.Hash(), Payload: make([]byte, size), Raw: make([]byte, size+100)}
	}
	return out
}

// checkRoom checks the waiting room's counts against what it holds.
func checkRoom(t *testing.T, l *hlog) {
	t.Helper()
	bytes, agents, peers := 0, map[string]int{}, map[string]peerWait{}
	for id, w := range l.waiting {
		if w.id != id || w.cost != waitCost(w.e) {
			t.Fatalf("%v: held as %v, cost %d (want %d)", id, w.id, w.cost, waitCost(w.e))
		}
		bytes += w.cost
		agents[id.Agent]++
		p := peers[w.peer]
		p.n++
		p.bytes += w.cost
		peers[w.peer] = p
	}
	if bytes != l.waitingBytes || !maps.Equal(agents, l.waitingBy) || len(peers) != len(l.byPeer) {
		t.Fatalf("counted %d bytes, %d agents, %d peers; holds %d bytes, %d agents, %d peers", l.waitingBytes, len(l.waitingBy), len(l.byPeer), bytes, len(agents), len(peers))
	}
	for peer, p := range peers {
		if q := l.byPeer[peer]; q.n != p.n || q.bytes != p.bytes {
			t.Fatalf("peer %s counted %d envelopes, %d bytes; holds %d, %d", peer, q.n, q.bytes, p.n, p.bytes)
		}
	}
	if len(l.queue) > 2*len(l.waiting)+17 {
		t.Fatalf("the arrival queue keeps %d for %d waiting", len(l.queue), len(l.waiting))
	}
}

// A peer that floods a document with orphans (envelopes whose past never
// comes) fills its own quota only: its newest are refused, and other
// peers' out-of-order envelopes still wait. When several flood together
// and fill the room, a peer holding less takes room from the largest.
func TestWaitingRoomQuotaPerPeer(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newHlog()
	flood := orphans("x", 2*maxWaitingPerPeer, 100)
	refused := 0
	for _, e := range flood {
		if !l.wait(e, "X", now).kept {
			refused++
		}
	}
	if refused != len(flood)-maxWaitingPerPeer || l.byPeer["X"].n != maxWaitingPerPeer {
		t.Fatalf("X kept %d and was refused %d (quota %d)", l.byPeer["X"].n, refused, maxWaitingPerPeer)
	}
	for _, e := range orphans("y", 10, 100) {
		if r := l.wait(e, "Y", now); !r.kept || r.evicted != 0 {
			t.Fatalf("Y's envelope behind X's flood: %+v", r)
		}
	}
	checkRoom(t, l)

	// Three more flooders fill the room; Y's next ones take room from
	// the largest holders, never from Y.
	for _, peer := range []string{"X2", "X3", "X4"} {
		for _, e := range orphans(peer, maxWaitingPerPeer, 100) {
			l.wait(e, peer, now)
		}
	}
	if len(l.waiting) != maxWaiting {
		t.Fatalf("the room holds %d, want it full (%d)", len(l.waiting), maxWaiting)
	}
	evicted := 0
	for _, e := range orphans("y2", 20, 100) {
		r := l.wait(e, "Y", now)
		if !r.kept {
			t.Fatalf("Y refused in a room the flooders filled")
		}
		evicted += r.evicted
	}
	if evicted != 20 || l.byPeer["Y"].n != 30 {
		t.Fatalf("evicted %d for Y's 20; Y holds %d", evicted, l.byPeer["Y"].n)
	}
	// A flooder gains nothing from the others' room.
	if r := l.wait(orphans("x5", 1, 100)[0], "X", now); r.kept || r.evicted != 0 {
		t.Fatalf("a flooder at its quota was kept: %+v", r)
	}
	checkRoom(t, l)
}

// Envelopes that waited maxWaitAge are dropped (and counted); the rest
// stay, and the counts follow.
func TestWaitingRoomExpires(t *testing.T) {
	start := time.Unix(1000, 0)
	l := newHlog()
	old, young := orphans("old", 50, 10), orphans("young", 30, 10)
	for _, e := range old {
		l.wait(e, "A", start)
	}
	for _, e := range young {
		l.wait(e, "B", start.Add(time.Minute))
	}
	if n := l.expire(start.Add(maxWaitAge - time.Second)); n != 0 {
		t.Fatalf("expired %d too early", n)
	}
	if n := l.expire(start.Add(maxWaitAge)); n != len(old) {
		t.Fatalf("expired %d, want %d", n, len(old))
	}
	checkRoom(t, l)
	if len(l.waiting) != len(young) || l.byPeer["A"] != nil {
		t.Fatalf("left %d waiting (want %d), A holds %+v", len(l.waiting), len(young), l.byPeer["A"])
	}
	if n := l.expire(start.Add(time.Minute + maxWaitAge)); n != len(young) || l.waitingBytes != 0 || len(l.queue) != 0 {
		t.Fatalf("expired %d, left %d bytes, queue %d", n, l.waitingBytes, len(l.queue))
	}
}
