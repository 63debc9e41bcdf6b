package crdt

import (
	"sort"
	"unicode/utf8"
)

// history is the full operation log of a document, indexed by LV and run-
// length encoded: who made each operation (agent, seq), its parents, and
// what it did (insert content, delete targets).
type history struct {
	agents      []agentHist
	agentByName map[string]uint32
	// lastName are the two agents last found by name, at the indexes
	// lastAgent, the most recent first: most lookups in a row name the
	// same agent or the other one of two writing at once (a transaction's
	// agent and its parent's), and comparing a name (decoded names share
	// their strings, which compare at once) costs less than hashing it.
	lastName  [2]string
	lastAgent [2]uint32
	// opHit is the op run opAt found last: a delete's target is looked up
	// twice in a row (is it an insert, how far does its run go).
	opHit    int
	lvAgents []lvAgentRun // sorted by lv; run k covers [lv, lvAgents[k+1].lv)
	parents  []parentRun  // sorted by lv; the first LV of a run has pool[ps:pe], later ones lv-1
	pool     []uint32
	ops      []opRun // sorted by lv
	content  []byte  // UTF-8 of every inserted code point, in LV order
	end      uint32  // next LV
	// times holds each transaction's Time, run-length: run k covers LVs
	// [times[k].lv, times[k+1].lv). A new run starts only where the time
	// changes, so a history without times is one run (or none).
	times []timeRun
	// titles are the title ops, in LV order (each an op run of its own).
	titles []titleOp
	// titleTop are the LVs of the title ops that are in no other title
	// op's causal past, sorted; Title picks among them.
	titleTop []uint32
}

type timeRun struct {
	lv uint32
	ms int64
}

type titleOp struct {
	lv   uint32
	text string
}

type agentHist struct {
	name string
	runs []seqRun // sorted by seq, contiguous from 0
	next uint32   // seqs known: [0, next)
}

type seqRun struct{ seq, lv, n uint32 }

type lvAgentRun struct{ lv, agent, seq uint32 }

type parentRun struct{ lv, ps, pe uint32 }

// opRun is a run of operations of one kind with consecutive LVs.
// Inserts: x is the byte offset of the run's content in history.content.
// Deletes: x is the LV of the first target; later targets count up, or
// down when the rev bit is set.
type opRun struct{ lv, n, x uint32 }

// A title op is a run of length 1 with the delete bit and x == none: it
// is no item (so every check that refuses a delete as an item refuses it
// too) and deletes nothing; its text is in history.titles.
const (
	opDelBit = 1 << 31
	opRevBit = 1 << 30
	opLenMsk = opRevBit - 1
)

func (o *opRun) len() int      { return int(o.n & opLenMsk) }
func (o *opRun) isDel() bool   { return o.n&opDelBit != 0 }
func (o *opRun) rev() bool     { return o.n&opRevBit != 0 }
func (o *opRun) isTitle() bool { return o.n&opDelBit != 0 && o.x == none }

// target returns the LV deleted by the op at offset k of a delete run.
func (o *opRun) target(k int) uint32 {
	if o.rev() {
		return o.x - uint32(k)
	}
	return o.x + uint32(k)
}

// agentOf returns the index of the named agent, if known.
func (h *history) agentOf(name string) (uint32, bool) {
	if name == h.lastName[0] && name != "" {
		return h.lastAgent[0], true
	}
	a, ok := h.lastAgent[1], name == h.lastName[1] && name != ""
	if !ok {
		if a, ok = h.agentByName[name]; !ok {
			return 0, false
		}
	}
	h.lastName[0], h.lastName[1] = name, h.lastName[0]
	h.lastAgent[0], h.lastAgent[1] = a, h.lastAgent[0]
	return a, true
}

func (h *history) addAgent(name string) uint32 {
	if a, ok := h.agentOf(name); ok {
		return a
	}
	if h.agentByName == nil {
		h.agentByName = map[string]uint32{}
	}
	a := uint32(len(h.agents))
	h.agents = append(h.agents, agentHist{name: name})
	h.agentByName[name] = a
	return a
}

// known returns how many seqs of the named agent are known.
func (h *history) known(name string) uint32 {
	if a, ok := h.agentOf(name); ok {
		return h.agents[a].next
	}
	return 0
}

// lvOf returns the LV of (agent, seq), if known.
func (h *history) lvOf(a uint32, seq uint32) (uint32, bool) {
	ag := &h.agents[a]
	if seq >= ag.next {
		return 0, false
	}
	rs := ag.runs
	if r := rs[len(rs)-1]; seq >= r.seq {
		return r.lv + seq - r.seq, true
	}
	k := sort.Search(len(rs), func(i int) bool { return rs[i].seq > seq }) - 1
	return rs[k].lv + seq - rs[k].seq, true
}

// lvOfID returns the LV of id, if known.
func (h *history) lvOfID(id ID) (uint32, bool) {
	a, ok := h.agentOf(id.Agent)
	if !ok || id.Seq > MaxSeq {
		return 0, false
	}
	return h.lvOf(a, uint32(id.Seq))
}

// lvAgentAt returns the index of the lvAgents run holding lv.
func (h *history) lvAgentAt(lv uint32) int {
	rs := h.lvAgents
	if n := len(rs); rs[n-1].lv <= lv {
		return n - 1
	}
	return sort.Search(len(rs), func(i int) bool { return rs[i].lv > lv }) - 1
}

// idOf returns (agent index, seq) of lv.
func (h *history) idOf(lv uint32) (uint32, uint32) {
	r := h.lvAgents[h.lvAgentAt(lv)]
	return r.agent, r.seq + lv - r.lv
}

// id returns the wire ID of lv.
func (h *history) id(lv uint32) ID {
	a, s := h.idOf(lv)
	return ID{Agent: h.agents[a].name, Seq: uint64(s)}
}

// parentsOf returns the parents of lv (valid until the next append).
func (h *history) parentsOf(lv uint32, buf *[1]uint32) []uint32 {
	ps := h.parents
	k := len(ps) - 1
	if ps[k].lv > lv {
		k = sort.Search(len(ps), func(i int) bool { return ps[i].lv > lv }) - 1
	}
	if ps[k].lv == lv {
		return h.pool[ps[k].ps:ps[k].pe]
	}
	buf[0] = lv - 1
	return buf[:]
}

// opAt returns the index of the op run holding lv.
func (h *history) opAt(lv uint32) int {
	os := h.ops
	if n := len(os); os[n-1].lv <= lv {
		return n - 1
	}
	if k := h.opHit; k+1 < len(os) && os[k].lv <= lv && lv < os[k+1].lv {
		return k
	}
	// The last run starting at or before lv (a plain loop: sort.Search's
	// closure call cost more than the comparisons).
	lo, hi := 0, len(os)-1
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if os[m].lv <= lv {
			lo = m
		} else {
			hi = m
		}
	}
	h.opHit = lo
	return lo
}

// appendSpan records that LVs [end, end+n) are agent a's seqs [seq, seq+n),
// the first with the given parents and each later one with its predecessor.
func (h *history) appendSpan(a, seq, n uint32, parents []uint32) {
	lv := h.end
	ag := &h.agents[a]
	if k := len(ag.runs) - 1; k >= 0 && ag.runs[k].seq+ag.runs[k].n == seq && ag.runs[k].lv+ag.runs[k].n == lv {
		ag.runs[k].n += n
	} else {
		ag.runs = append(ag.runs, seqRun{seq, lv, n})
	}
	ag.next = seq + n
	if k := len(h.lvAgents) - 1; k < 0 || h.lvAgents[k].agent != a || h.lvAgents[k].seq+(lv-h.lvAgents[k].lv) != seq {
		h.lvAgents = append(h.lvAgents, lvAgentRun{lv, a, seq})
	}
	if !(len(parents) == 1 && parents[0] == lv-1 && len(h.parents) > 0) {
		ps := uint32(len(h.pool))
		h.pool = append(h.pool, parents...)
		h.parents = append(h.parents, parentRun{lv, ps, uint32(len(h.pool))})
	}
	h.end += n
}

// appendInsert records an insert of text (n code points) at LVs [lv, lv+n).
func (h *history) appendInsert(lv, n uint32, text string) {
	if k := len(h.ops) - 1; k >= 0 && !h.ops[k].isDel() && h.ops[k].lv+h.ops[k].n == lv {
		h.ops[k].n += n
	} else {
		h.ops = append(h.ops, opRun{lv, n, uint32(len(h.content))})
	}
	h.content = append(h.content, text...)
}

// appendDelete records deletes at LVs [lv, lv+n) of the targets x, x+1, …
// (or x, x-1, … when rev).
func (h *history) appendDelete(lv, n, x uint32, rev bool) {
	if n == 1 {
		rev = false
	}
	if k := len(h.ops) - 1; k >= 0 && h.ops[k].isDel() && !h.ops[k].isTitle() && h.ops[k].lv+uint32(h.ops[k].len()) == lv {
		o := &h.ops[k]
		last := o.target(o.len() - 1)
		switch {
		case !o.rev() && !rev && last+1 == x:
			o.n += n // forward run continues
			return
		case (o.rev() || o.len() == 1) && (rev || n == 1) && last == x+1:
			o.n = (o.n + n) | opRevBit // backspaces continue downward
			return
		}
	}
	f := n | opDelBit
	if rev {
		f |= opRevBit
	}
	h.ops = append(h.ops, opRun{lv, f, x})
}

// appendTitle records a title op at LV lv.
func (h *history) appendTitle(lv uint32, text string) {
	h.ops = append(h.ops, opRun{lv, 1 | opDelBit, none})
	h.titles = append(h.titles, titleOp{lv, text})
}

// titleAt returns the index in h.titles of the title op at lv.
func (h *history) titleAt(lv uint32) int {
	return sort.Search(len(h.titles), func(i int) bool { return h.titles[i].lv >= lv })
}

// setTime records that LVs from lv on (until the next call) were made at
// ms.
func (h *history) setTime(lv uint32, ms int64) {
	if k := len(h.times) - 1; k >= 0 && h.times[k].ms == ms {
		return
	}
	if len(h.times) == 0 && ms == 0 {
		return // no run: time 0 throughout
	}
	if k := len(h.times) - 1; k >= 0 && h.times[k].lv == lv {
		h.times[k].ms = ms
		if k > 0 && h.times[k-1].ms == ms {
			h.times = h.times[:k]
		}
		return
	}
	h.times = append(h.times, timeRun{lv, ms})
}

// timeAt returns the Time of the transaction that made lv, and the LV
// where its time run ends (the next run's start, or none).
func (h *history) timeAt(lv uint32) (int64, uint32) {
	ts := h.times
	k := sort.Search(len(ts), func(i int) bool { return ts[i].lv > lv })
	end := uint32(none)
	if k < len(ts) {
		end = ts[k].lv
	}
	if k == 0 {
		return 0, end
	}
	return ts[k-1].ms, end
}

// skipRunes returns the byte length of the first n code points of s.
func skipRunes(s []byte, n int) int {
	b := 0
	for i := 0; i < n; i++ {
		if s[b] < utf8.RuneSelf {
			b++
			continue
		}
		_, sz := utf8.DecodeRune(s[b:])
		b += sz
	}
	return b
}
