package replica

import (
	"weft/member"
	"weft/vocab"
)

// Bounds of a signed document's waiting room: envelopes whose causal past
// has not arrived yet.
const (
	maxWaiting      = 4096
	maxWaitingBytes = 32 << 20
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

	waiting      map[vocab.ID]*member.Envelope // by (agent, first seq)
	waitingBy    map[string]int                // waiting envelopes per agent
	waitingBytes int
}

func newHlog() *hlog {
	return &hlog{version: vocab.Version{}, heads: map[string][32]byte{}, last: map[string]*member.Header{}, waiting: map[vocab.ID]*member.Envelope{}, waitingBy: map[string]int{}}
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
		l.unwait(id, w)
	}
	l.version[e.Header.Agent] = e.Header.Span().End()
	l.bytes += int64(len(e.Raw))
	l.heads[e.Header.Agent] = e.Hash
	l.last[e.Header.Agent] = e.Header
}

// wait keeps e until its causal past arrives; false when the room is
// full (the envelope comes again with the next catch-up).
func (l *hlog) wait(e *member.Envelope) bool {
	id := vocab.ID{Agent: e.Header.Agent, Seq: e.Header.Seq}
	if _, ok := l.waiting[id]; ok {
		return true
	}
	if len(l.waiting) >= maxWaiting || l.waitingBytes+len(e.Raw) > maxWaitingBytes {
		return false
	}
	l.waiting[id] = e
	l.waitingBy[id.Agent]++
	l.waitingBytes += len(e.Raw)
	return true
}

func (l *hlog) unwait(id vocab.ID, e *member.Envelope) {
	delete(l.waiting, id)
	l.waitingBytes -= len(e.Raw)
	if l.waitingBy[id.Agent]--; l.waitingBy[id.Agent] <= 0 {
		delete(l.waitingBy, id.Agent)
	}
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
			e, ok := l.waiting[id]
			if !ok {
				continue
			}
			v, err := l.check(e)
			if v == vWait && err == nil {
				continue // its parents are still missing
			}
			l.unwait(id, e)
			if err == nil && v == vReady && judge(e) {
				progress = true
			}
		}
	}
}
