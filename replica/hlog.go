package replica

import (
	"slices"
	"time"

	"weft/member"
	"weft/vocab"
)

// Bounds of a signed document's waiting room: envelopes whose causal past
// has not arrived yet, each charged to the peer that brought it (gossip:
// the message's author; catch-up: the stream's peer).
//
//   - One peer holds at most maxWaitingPerPeer envelopes or
//     maxWaitingPeerBytes bytes of one document: over that, what it brings
//     next is refused (vocab.ReasonBufferFull) and it is penalised. Its
//     quota is a quarter of the document's, so no one peer fills the room.
//   - The document holds at most maxWaiting envelopes or maxWaitingBytes
//     bytes. When several peers fill it, a peer that holds less than the
//     largest holder takes room from that holder's newest envelopes: one
//     peer's flood never refuses another's transactions.
//   - An envelope waits at most maxWaitAge: catch-up brings it again with
//     its causal past.
//
// Bytes are counted as held: the envelope's encoding, its payload (a
// copy), its signature and decoded header, and the bookkeeping around it
// (waitOverhead).
const (
	maxWaiting          = 4096
	maxWaitingBytes     = 32 << 20
	maxWaitingPerPeer   = maxWaiting / 4
	maxWaitingPeerBytes = maxWaitingBytes / 4
	maxWaitAge          = 2 * time.Minute
	waitOverhead        = 512 // envelope and header structs, map entries, queues
)

// hlog is a members-only document's history as its headers say it: which
// seqs of which agents are held (contiguous from 0, as every agent's
// transactions chain by hash), the hash of each agent's last header, and
// envelopes waiting for their causal past. It orders what arrives before
// anything reads a payload, so a relay (which cannot read) and a daemon
// keep the same log, and a daemon's crdt sees transactions only in causal
// order. It detects an agent that signed two different transactions
// under one seq when they meet at its head.
type hlog struct {
	version vocab.Version
	heads   map[string][32]byte       // hash of each agent's last header
	last    map[string]*member.Header // each agent's last header (for proofs)
	bytes   int64                     // of the envelopes held

	waiting      map[vocab.ID]*waiter // by (agent, first seq)
	waitingBy    map[string]int       // waiting envelopes per agent
	waitingBytes int                  // waitCost of every waiting envelope
	byPeer       map[string]*peerWait // what each peer brought that waits
	queue        []*waiter            // in arrival order (with left ones: see live)
}

// waiter is one waiting envelope, who brought it and when.
type waiter struct {
	e    *member.Envelope
	id   vocab.ID
	peer string
	at   time.Time
	cost int
}

// peerWait is what one peer's envelopes hold of the waiting room; newest
// lists them in arrival order (with left ones: see live).
type peerWait struct {
	n, bytes int
	newest   []*waiter
}

func newHlog() *hlog {
	return &hlog{version: vocab.Version{}, heads: map[string][32]byte{}, last: map[string]*member.Header{}, waiting: map[vocab.ID]*waiter{}, waitingBy: map[string]int{}, byPeer: map[string]*peerWait{}}
}

// waitCost is what a waiting envelope holds in memory: its encoding, the
// payload copied out of it, its decoded header with its signature and
// parents, and the bookkeeping around it.
func waitCost(e *member.Envelope) int {
	n := waitOverhead + len(e.Raw) + len(e.Payload)
	if h := e.Header; h != nil {
		n += len(h.Sig) + len(h.Agent)
		for _, p := range h.Parents {
			n += 24 + len(p.Agent)
		}
	}
	return n
}

// verdict is what hlog.check says of one envelope.
type verdict uint8

const (
	vReady     verdict = iota // next in its agent's chain, its causal past held
	vDuplicate                // already held (judged by seq; see known)
	vWait                     // its causal past is missing
)

// check judges e without changing the log. A fork (a different header
// where the agent's chain already has one) is an equivocation
// rejection; whether a seq below the head is a true duplicate is the
// caller's to confirm (known), since the log keeps only the last hash.
func (l *hlog) check(e *member.Envelope) (verdict, error) {
	h := e.Header
	have := l.version[h.Agent]
	switch {
	case h.Span().End() <= have:
		if h.Span().End() == have && l.heads[h.Agent] != e.Hash {
			return 0, l.fork(e, "signed two different transactions ending at seq %d", h.Span().End()-1)
		}
		return vDuplicate, nil
	case h.Seq < have:
		// Overlapping what is held without ending where it does: an honest
		// agent's transactions never overlap, so this is another history.
		return 0, vocab.Reject(vocab.ReasonEquivocation, "agent %.16s… signed transactions that overlap at seq %d", h.Agent, h.Seq)
	case h.Seq > have:
		return vWait, nil
	}
	if h.Seq > 0 && h.Prev != l.heads[h.Agent] {
		return 0, l.fork(e, "signed a transaction at seq %d after another history", h.Seq)
	}
	for _, p := range h.Parents {
		if !l.version.Contains(p) {
			return vWait, nil
		}
	}
	return vReady, nil
}

// forkError is an equivocation met at an agent's head: the header held
// and the one that contradicts it, both signed, make a proof.
type forkError struct {
	error
	held, other *member.Header
}

func (l *hlog) fork(e *member.Envelope, format string, args ...any) error {
	err := vocab.Reject(vocab.ReasonEquivocation, "agent %.16s… "+format, append([]any{e.Header.Agent}, args...)...)
	if held := l.last[e.Header.Agent]; held != nil {
		return &forkError{error: err, held: held, other: e.Header}
	}
	return err
}

func (f *forkError) Unwrap() error { return f.error }

// commit records a ready envelope as held. A copy of it still waiting
// (the same transaction came again, by gossip and by catch-up) is
// dropped: released looks only at each agent's next seq, so it would
// never be looked at again.
func (l *hlog) commit(e *member.Envelope) {
	id := vocab.ID{Agent: e.Header.Agent, Seq: e.Header.Seq}
	if w, ok := l.waiting[id]; ok {
		l.unwait(w)
	}
	l.version[e.Header.Agent] = e.Header.Span().End()
	l.bytes += int64(len(e.Raw))
	l.heads[e.Header.Agent] = e.Hash
	l.last[e.Header.Agent] = e.Header
}

// waitResult is what wait did with an envelope.
type waitResult struct {
	kept    bool // waiting (or a copy was already)
	evicted int  // other peers' newest envelopes dropped to make room
}

// wait keeps e, which peer brought at now, until its causal past arrives.
// It is refused (kept false: the envelope comes again with the next
// catch-up) when peer is over its quota, or when the room is full and no
// peer holds more of it than peer does.
func (l *hlog) wait(e *member.Envelope, peer string, now time.Time) waitResult {
	id := vocab.ID{Agent: e.Header.Agent, Seq: e.Header.Seq}
	if _, ok := l.waiting[id]; ok {
		return waitResult{kept: true}
	}
	cost := waitCost(e)
	p := l.byPeer[peer]
	if p == nil {
		p = &peerWait{}
	}
	if p.n >= maxWaitingPerPeer || p.bytes+cost > maxWaitingPeerBytes {
		return waitResult{}
	}
	var r waitResult
	for len(l.waiting) >= maxWaiting || l.waitingBytes+cost > maxWaitingBytes {
		victim := l.largest(peer)
		if victim == nil || (victim.n <= p.n+1 && victim.bytes <= p.bytes+cost) {
			return r // no one holds more than peer would: peer is the flood
		}
		l.unwait(victim.pop(l))
		r.evicted++
	}
	w := &waiter{e: e, id: id, peer: peer, at: now, cost: cost}
	l.waiting[id] = w
	l.waitingBy[id.Agent]++
	l.waitingBytes += cost
	p.n++
	p.bytes += cost
	p.newest = append(p.newest, w)
	l.byPeer[peer] = p
	if len(l.queue) > 2*len(l.waiting)+16 {
		l.queue = slices.DeleteFunc(l.queue, func(w *waiter) bool { return !l.live(w) })
	}
	l.queue = append(l.queue, w)
	r.kept = true
	return r
}

// largest returns the peer other than but that holds the most bytes of
// the waiting room (nil: none).
func (l *hlog) largest(but string) *peerWait {
	var max *peerWait
	for peer, p := range l.byPeer {
		if peer != but && p.n > 0 && (max == nil || p.bytes > max.bytes) {
			max = p
		}
	}
	return max
}

// live reports whether w still waits (the queues keep left ones until
// they reach a queue's end).
func (l *hlog) live(w *waiter) bool { return l.waiting[w.id] == w }

// pop returns p's newest waiting envelope; p holds at least one.
func (p *peerWait) pop(l *hlog) *waiter {
	for {
		w := p.newest[len(p.newest)-1]
		p.newest[len(p.newest)-1] = nil
		p.newest = p.newest[:len(p.newest)-1]
		if l.live(w) {
			return w
		}
	}
}

func (l *hlog) unwait(w *waiter) {
	delete(l.waiting, w.id)
	l.waitingBytes -= w.cost
	if l.waitingBy[w.id.Agent]--; l.waitingBy[w.id.Agent] <= 0 {
		delete(l.waitingBy, w.id.Agent)
	}
	p := l.byPeer[w.peer]
	p.n--
	p.bytes -= w.cost
	switch {
	case p.n == 0:
		delete(l.byPeer, w.peer)
	case len(p.newest) > 2*p.n+16:
		p.newest = slices.DeleteFunc(p.newest, func(w *waiter) bool { return !l.live(w) })
	}
}

// expire drops the envelopes that have waited maxWaitAge or longer at
// now, and returns how many.
func (l *hlog) expire(now time.Time) int {
	n, i := 0, 0
	for ; i < len(l.queue); i++ {
		w := l.queue[i]
		if !l.live(w) {
			continue
		}
		if now.Sub(w.at) < maxWaitAge {
			break
		}
		l.unwait(w)
		n++
	}
	l.queue = slices.Delete(l.queue, 0, i)
	return n
}

// released takes the waiting envelopes that became ready, in a causal
// order; judge is called on each (it may refuse one, which is then
// dropped, or accept it and commit it before returning true). Only the
// envelope that starts where its agent's chain ends can be next, so each
// pass looks up one per agent with waiting envelopes, not all of them.
func (l *hlog) released(judge func(*member.Envelope) bool) {
	for progress := true; progress && len(l.waiting) > 0; {
		progress = false
		for agent := range l.waitingBy {
			id := vocab.ID{Agent: agent, Seq: l.version[agent]}
			w, ok := l.waiting[id]
			if !ok {
				continue
			}
			e := w.e
			v, err := l.check(e)
			if v == vWait && err == nil {
				continue // its parents are still missing
			}
			l.unwait(w)
			if err == nil && v == vReady && judge(e) {
				progress = true
			}
		}
	}
}
