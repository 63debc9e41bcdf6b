package replica

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

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
		if v, err := l.check(e); err != nil || v != vWait || !l.wait(e) {
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
	if len(l.waiting) != 0 || len(l.waitingBy) != 0 || l.waitingBytes != 0 {
		t.Fatalf("left waiting: %d, %v, %d bytes", len(l.waiting), l.waitingBy, l.waitingBytes)
	}
}
