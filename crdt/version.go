package crdt

import "sort"

// Bounds on the transactions Missing produces, so that catch-up moves in
// bounded chunks.
const (
	chunkSeqs = 1 << 14 // seqs per transaction
	chunkOps  = 1 << 10 // ops per transaction
)

// Missing returns what a replica at version v lacks: the missing operations
// as transactions (spans), in causal order.
func (d *Doc) Missing(v Version) []*Txn {
	if d.lz != nil && d.lz.coveredBy(v) {
		return nil // nothing to send: no need to read the history
	}
	if d.need() != nil {
		return nil
	}
	var spans []lvSpan
	for i := range d.h.agents {
		ag := &d.h.agents[i]
		have := v[ag.name]
		if have >= uint64(ag.next) {
			continue
		}
		for _, r := range ag.runs {
			lo, hi := uint64(r.seq), uint64(r.seq+r.n)
			if hi <= have {
				continue
			}
			if lo < have {
				lo = have
			}
			spans = append(spans, lvSpan{r.lv + uint32(lo) - r.seq, r.lv + uint32(hi) - r.seq})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	var out []*Txn
	for _, sp := range spans {
		out = d.appendTxns(out, sp.lo, sp.hi)
	}
	return out
}

// appendTxns appends transactions covering LVs [lo, hi) in LV order.
func (d *Doc) appendTxns(out []*Txn, lo, hi uint32) []*Txn {
	h := &d.h
	for lv := lo; lv < hi; {
		k := h.lvAgentAt(lv)
		ar := h.lvAgents[k]
		end := hi
		if k+1 < len(h.lvAgents) && h.lvAgents[k+1].lv < end {
			end = h.lvAgents[k+1].lv
		}
		if e := h.nextParentRun(lv); e < end {
			end = e
		}
		// A transaction carries one time: cut where it changes, so that
		// each transaction re-made from history carries the time it came
		// with (signatures cover it).
		ms, te := h.timeAt(lv)
		if te < end {
			end = te
		}
		if end-lv > chunkSeqs {
			end = lv + chunkSeqs
		}
		var buf [1]uint32
		ps := h.parentsOf(lv, &buf)
		t := &Txn{Agent: h.agents[ar.agent].name, Seq: uint64(ar.seq + lv - ar.lv), Parents: make([]ID, len(ps)), Time: ms}
		for i, p := range ps {
			t.Parents[i] = h.id(p)
		}
		sortIDs(t.Parents)
		end = d.appendOps(t, lv, end)
		out = append(out, t)
		lv = end
	}
	return out
}

// nextParentRun returns the first LV after lv that starts a parent run
// (has parents other than its predecessor), or none.
func (h *history) nextParentRun(lv uint32) uint32 {
	ps := h.parents
	k := sort.Search(len(ps), func(i int) bool { return ps[i].lv > lv })
	if k < len(ps) {
		return ps[k].lv
	}
	return none
}

// appendOps adds the ops of LVs [lo, hi) to t, stopping early when t
// reaches chunkOps ops; it returns the LV it stopped at.
func (d *Doc) appendOps(t *Txn, lo, hi uint32) uint32 {
	h := &d.h
	var cc contentCursor
	lastIns := none // LV of the last item of t's last op, when an insert
	for lv := lo; lv < hi; {
		if len(t.Ops) >= chunkOps {
			return lv
		}
		j := h.opAt(lv)
		o := &h.ops[j]
		e := o.lv + uint32(o.len())
		if e > hi {
			e = hi
		}
		if o.isTitle() {
			t.Ops = append(t.Ops, Op{Kind: OpTitle, Text: h.titles[h.titleAt(lv)].text})
			lastIns = none
			lv = e
			continue
		}
		if o.isDel() {
			k := int(lv - o.lv)
			t.Ops = h.appendDeleteOps(t.Ops, o.target(k), e-lv, o.rev())
			lastIns = none
			lv = e
			continue
		}
		// Inserts: one op per chain of items (each one's originLeft the
		// previous, one originRight), found through the content tree.
		ix := d.index()
		for lv < e {
			l := ix.lookup(lv)
			r := &l.runs[l.findRun(lv)]
			m := r.end()
			if m > e {
				m = e
			}
			left, right := r.leftOf(int(lv-r.lv)), r.rightOf(int(lv-r.lv))
			text := cc.text(d, j, lv, m-lv)
			if lastIns != none && left == lastIns && right == none {
				t.Ops[len(t.Ops)-1].Text += text // the op's run continues
			} else {
				op := Op{Kind: OpInsert, Text: text}
				if left != none {
					op.Left = h.id(left)
				}
				if right != none {
					op.Right = h.id(right)
				}
				t.Ops = append(t.Ops, op)
			}
			lastIns = m - 1
			lv = m
		}
	}
	return hi
}

// contentCursor walks the content of insert op runs. It continues from
// where it stopped while reads move forward in one run; anywhere else it
// starts from the document's rune index (a mark every runeMark code
// points), so a read costs what it reads, never the run's content before
// it: one op run can hold a whole import.
type contentCursor struct {
	run  int
	lv   uint32 // LV at byte offset b of the run's content
	b    int
	init bool
}

func (cc *contentCursor) text(d *Doc, j int, lv, n uint32) string {
	h := &d.h
	o := &h.ops[j]
	if !cc.init || cc.run != j || cc.lv > lv || lv-cc.lv > runeMark {
		if d.runes == nil {
			d.runes = &runeIndex{}
		}
		cc.run, cc.lv, cc.b, cc.init = j, lv, d.runes.offset(h, j, lv-o.lv)-int(o.x), true
	}
	c := h.content[o.x:]
	cc.b += skipRunes(c[cc.b:], int(lv-cc.lv))
	e := cc.b + skipRunes(c[cc.b:], int(n))
	s := string(c[cc.b:e])
	cc.b, cc.lv = e, lv+n
	return s
}

// textRef is contentCursor.text without the cursor: it decodes the run
// from its start, the simple reference the tests compare it with.
func (h *history) textRef(j int, lv, n uint32) string {
	o := &h.ops[j]
	c := h.content[o.x:]
	b := skipRunes(c, int(lv-o.lv))
	return string(c[b : b+skipRunes(c[b:], int(n))])
}

// appendDeleteOps appends wire delete ops for the targets t, t±1, … (m of
// them), one per run of consecutive seqs of one agent, merging with the
// last op when it continues.
func (h *history) appendDeleteOps(ops []Op, t, m uint32, rev bool) []Op {
	for m > 0 {
		k := h.lvAgentAt(t)
		ar := h.lvAgents[k]
		var room uint32
		switch {
		case rev:
			room = t - ar.lv + 1
		case k+1 < len(h.lvAgents):
			room = h.lvAgents[k+1].lv - t
		default:
			room = h.end - t
		}
		if room > m {
			room = m
		}
		op := Op{Kind: OpDelete, Target: ID{Agent: h.agents[ar.agent].name, Seq: uint64(ar.seq + t - ar.lv)}, Len: int(room), Rev: rev && room > 1}
		ops = appendDeleteOp(ops, op)
		m -= room
		if rev {
			t -= room
		} else {
			t += room
		}
	}
	return ops
}

// appendDeleteOp appends op, merging it into the last op when the targets
// continue in the same direction.
func appendDeleteOp(ops []Op, op Op) []Op {
	if j := len(ops) - 1; j >= 0 && ops[j].Kind == OpDelete && ops[j].Target.Agent == op.Target.Agent {
		p := &ops[j]
		switch {
		case !p.Rev && (!op.Rev || op.Len == 1) && p.Target.Seq+uint64(p.Len) == op.Target.Seq:
			p.Len += op.Len
			return ops
		case (p.Rev || p.Len == 1) && (op.Rev || op.Len == 1) && p.Target.Seq >= uint64(p.Len) && p.Target.Seq-uint64(p.Len) == op.Target.Seq:
			p.Len += op.Len
			p.Rev = true
			return ops
		}
	}
	return append(ops, op)
}
