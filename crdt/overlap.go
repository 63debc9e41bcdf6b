package crdt

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// Checking a transaction against the seqs of it that are already known.
//
// A transaction may repeat seqs a replica knows: the same message from two
// peers, catch-up overlapping gossip, a transaction whose first part came
// in a catch-up chunk. The known part must be exactly what the history
// holds (same parents, content, origins and targets), or the transaction
// contradicts it and is refused.
//
// The comparison walks the transaction's ops and the history side by side,
// a piece at a time: a piece is a stretch of seqs that is one run on both
// sides (one op of the transaction; one agent run, one op run and one
// parent run of the history; for deletes, one run of the target agent's
// LVs; for inserts, one item run of the content tree). Inside a piece,
// every seq is determined by the first one, so one comparison covers it
// (plus the text bytes of inserts). It stops at the first difference.
//
// Why pieces and not hashes: a hash per stored transaction only answers
// for an exact repeat of a transaction as first received; catch-up cuts
// history into different transactions, and a transaction that extends a
// known one must still be compared on its known part. Comparing run-wise
// answers every case from the structures the replica already keeps, with
// no cost on the paths that integrate new operations.
//
// Bound: a transaction's ops and text bytes are what it pays for in its
// encoding. Insert pieces are bounded by text bytes (every item has at
// least one). Delete pieces are not: a 10-byte delete of 1,000 seqs may
// match 1,000 fragments when the deleted items' LVs interleave with other
// agents' here. So the walk has a budget of pieces, a constant plus a few
// per op plus one per text byte (checkBudget). A transaction that exceeds
// it is not compared further: when every seq of it is known it is treated
// as the duplicate it claims to be (nothing is applied either way, and a
// contradiction is only refused, never integrated), and when it also
// carries new seqs it is refused with ErrUnchecked, since its new part
// cannot be placed on a prefix that was not checked; catch-up delivers the
// new part from the first unknown seq, which needs no comparison.
//
// The only work not bounded per transaction is amortized over the life of
// the Doc: the content tree's LV index (built once after a snapshot load,
// as for integrating any insert) and the rune offsets of the history's
// content (runeIndex, extended once as far as a check needs).

// checkBudget is the number of pieces (and content-tree runs) a check of t
// may walk.
func checkBudget(t *Txn) int {
	n := 64 + 4*len(t.Ops)
	for i := range t.Ops {
		n += len(t.Ops[i].Text)
	}
	return n
}

// errOverBudget is compareKnown's answer when t's known part is too
// fragmented here to compare within checkBudget(t).
var errOverBudget = fmt.Errorf("%w: known part too fragmented to compare", ErrUnchecked)

// compareKnown checks the first n seqs of t (all known) against the
// history: same parents, same content, same origins, same targets. It
// returns nil, an ErrContradiction, or errOverBudget.
func (d *Doc) compareKnown(t *Txn, n uint64) error {
	_, err := d.checkKnown(t, n)
	return err
}

// checkKnown is compareKnown, also returning the pieces it walked.
func (d *Doc) checkKnown(t *Txn, n uint64) (int, error) {
	h := &d.h
	a := h.agentByName[t.Agent]
	budget := checkBudget(t)
	steps := 0
	seq, end := t.Seq, t.Seq+n
	i := 0          // op of t
	var k uint64    // seqs of op i already compared
	var b int       // bytes of op i's text already compared
	var cnt uint64  // seqs of op i
	cntOp := -1     // op cnt is for
	for seq < end { // every seq in [seq, end) is known
		if steps++; steps > budget {
			return steps, errOverBudget
		}
		o := &t.Ops[i]
		if cntOp != i {
			cnt, cntOp = uint64(o.Count()), i
		}
		// The piece: as far as op i, the agent run, the op run and the
		// parent run reach.
		lv, room := h.lvRun(a, uint32(seq))
		m := cnt - k
		if r := end - seq; r < m {
			m = r
		}
		if uint64(room) < m {
			m = uint64(room)
		}
		if !d.sameParents(t, seq, lv) {
			return steps, fmt.Errorf("%w: %s/%d has other parents than the known operation", ErrContradiction, t.Agent, seq)
		}
		if e := h.nextParentRun(lv); uint64(e-lv) < m {
			m = uint64(e - lv)
		}
		j := h.opAt(lv)
		so := &h.ops[j]
		off := lv - so.lv
		if r := uint64(so.len()) - uint64(off); r < m {
			m = r
		}
		// The time is the transaction's, one value per time run here.
		ms, te := h.timeAt(lv)
		if ms != t.Time {
			return steps, fmt.Errorf("%w: %s/%d has another time than the known operation", ErrContradiction, t.Agent, seq)
		}
		if uint64(te-lv) < m {
			m = uint64(te - lv)
		}
		if so.isTitle() != (o.Kind == OpTitle) || so.isDel() != (o.Kind == OpDelete || o.Kind == OpTitle) {
			return steps, fmt.Errorf("%w: %s/%d is not the same kind of operation in both", ErrContradiction, t.Agent, seq)
		}
		var ok bool
		if o.Kind == OpTitle {
			m, ok = 1, h.titles[h.titleAt(lv)].text == o.Text
			steps += len(o.Text) / 64 // the comparison is paid for by the text
		} else if o.Kind == OpDelete {
			m, ok = d.sameTargets(so, off, o, k, m)
		} else {
			var w, runs int
			w, runs, ok = d.sameInserts(t, seq, lv, j, off, o, k, b, m)
			b += w
			steps += runs // at most one per item: paid for by the text
		}
		if !ok {
			return steps, fmt.Errorf("%w: %s/%d differs from the known operation", ErrContradiction, t.Agent, seq)
		}
		seq += m
		if k += m; k == cnt {
			i, k, b = i+1, 0, 0
		}
	}
	return steps, nil
}

// lvRun returns the LV of agent a's seq (known) and how many seqs from it
// have consecutive LVs.
func (h *history) lvRun(a, seq uint32) (uint32, uint32) {
	rs := h.agents[a].runs
	k := len(rs) - 1
	if seq < rs[k].seq {
		k = sort.Search(len(rs), func(i int) bool { return rs[i].seq > seq }) - 1
	}
	r := rs[k]
	return r.lv + seq - r.seq, r.seq + r.n - seq
}

// sameParents reports whether the known op at lv, seq of t's agent, has
// the parents t gives it: t's parents for its first seq, the agent's
// previous op for later ones.
func (d *Doc) sameParents(t *Txn, seq uint64, lv uint32) bool {
	var buf [1]uint32
	ps := d.h.parentsOf(lv, &buf)
	var prev [1]ID
	want := t.Parents
	if seq > t.Seq {
		prev[0] = ID{Agent: t.Agent, Seq: seq - 1}
		want = prev[:]
	}
	if len(ps) != len(want) {
		return false
	}
	// Both are sets; want is sorted by ID. The known parents are few (at
	// most MaxTxnParents for remote ones), so a quadratic match is fine.
	for _, p := range ps {
		id := d.h.id(p)
		found := false
		for _, w := range want {
			if w == id {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sameTargets compares the known delete op run so from offset off with
// the delete op o from offset k, for up to m seqs. It returns how many
// seqs it compared (at least one, when ok) and whether they agree.
func (d *Doc) sameTargets(so *opRun, off uint32, o *Op, k, m uint64) (uint64, bool) {
	h := &d.h
	tl := so.target(int(off))
	want := o.targetAt(k)
	ka := h.lvAgentAt(tl)
	ar := h.lvAgents[ka]
	if h.agents[ar.agent].name != want.Agent || uint64(ar.seq+tl-ar.lv) != want.Seq {
		return 0, false
	}
	if m == 1 {
		return 1, true
	}
	// Both runs go on; from here the targets agree as long as they run in
	// the same direction through consecutive seqs of one agent.
	if so.rev() != o.Rev || so.len() < 2 {
		return 1, true // compare the next seq as a piece of its own
	}
	var room uint32
	switch {
	case o.Rev:
		room = tl - ar.lv + 1
	case ka+1 < len(h.lvAgents):
		room = h.lvAgents[ka+1].lv - tl
	default:
		room = h.end - tl
	}
	if uint64(room) < m {
		m = uint64(room)
	}
	return m, true
}

// sameInserts compares the m known inserts from lv (seq of t's agent; at
// offset off of insert op run j) with op o from its seq k (text byte b).
// It returns the bytes of o's text compared, the content-tree runs it
// looked at, and whether they agree.
func (d *Doc) sameInserts(t *Txn, seq uint64, lv uint32, j int, off uint32, o *Op, k uint64, b int, m uint64) (int, int, bool) {
	h := &d.h
	w := skipRunesString(o.Text[b:], int(m)) // o.Text is valid UTF-8 of at least k+m runes
	if d.runes == nil {
		d.runes = &runeIndex{}
	}
	sb := d.runes.offset(h, j, off)
	if sb+w > len(h.content) || string(h.content[sb:sb+w]) != o.Text[b:b+w] {
		return 0, 0, false
	}
	// Origins: the piece's first item has o's origins (at the op's start)
	// or (previous seq, end); every later item its predecessor and the
	// end. Inside a run of the content tree that holds for all but the
	// run's first item, so only runs' first items are looked at.
	wantL, wantR := ID{Agent: t.Agent, Seq: seq - 1}, ID{}
	if k == 0 {
		wantL, wantR = o.Left, o.Right
	}
	ix := d.index()
	runs := 0
	for p, e := lv, lv+uint32(m); p < e; runs++ {
		l := ix.lookup(p)
		r := &l.runs[l.findRun(p)]
		left, right := r.leftOf(int(p-r.lv)), r.rightOf(int(p-r.lv))
		if p == lv {
			if h.idOrZero(left) != wantL || h.idOrZero(right) != wantR {
				return 0, runs, false
			}
		} else if left != p-1 || right != none {
			return 0, runs, false
		}
		p = r.end()
	}
	return w, runs, true
}

// idOrZero is id, with the zero ID for none (the start or the end).
func (h *history) idOrZero(lv uint32) ID {
	if lv == none {
		return ID{}
	}
	return h.id(lv)
}

// runeIndex finds the byte offset in history.content of any insert LV in
// a bounded number of steps. ord[j] is the number of code points inserted
// by the op runs before run j; marks[i] is the byte offset of code point
// i*runeMark. Both are extended only as far as a lookup needs: the
// content is append-only, and only the last op run ever grows, which
// changes no entry.
type runeIndex struct {
	ord   []uint32
	marks []uint32
}

const runeMark = 64

// offset returns the byte offset of the code point at offset off of
// insert op run j.
func (x *runeIndex) offset(h *history, j int, off uint32) int {
	for len(x.ord) <= j {
		n := len(x.ord)
		var c uint32
		if n > 0 {
			c = x.ord[n-1]
			if p := &h.ops[n-1]; !p.isDel() {
				c += uint32(p.len())
			}
		}
		x.ord = append(x.ord, c)
	}
	r := x.ord[j] + off
	for uint32(len(x.marks))*runeMark <= r {
		n := len(x.marks)
		b := 0
		if n > 0 {
			last := int(x.marks[n-1])
			b = last + skipRunes(h.content[last:], runeMark)
		}
		x.marks = append(x.marks, uint32(b))
	}
	m := int(x.marks[r/runeMark])
	return m + skipRunes(h.content[m:], int(r%runeMark))
}

// skipRunesString is skipRunes for a string, without copying it.
func skipRunesString(s string, n int) int {
	b := 0
	for i := 0; i < n; i++ {
		if s[b] < utf8.RuneSelf {
			b++
			continue
		}
		_, sz := utf8.DecodeRuneInString(s[b:])
		b += sz
	}
	return b
}
