package crdt

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"weft/vocab"
)

// Doc is one replica of one document: its text, its items with tombstones,
// and its full history. A Doc is not safe for concurrent use.
type Doc struct {
	agent string
	self  uint32 // index of agent in h.agents
	t     tree
	h     history
	ix    lvIndex
	ixOK  bool     // ix is built and current
	front []uint32 // frontier, as LVs, sorted
	now   int64    // Time of the next local transactions (SetNow)

	pending pendingSet

	// cur caches the leaf of the last local edit and its visible start, so
	// that typing does not descend from the root each time. Only remote
	// changes (which may land before it) invalidate it: local edits change
	// positions only at or after the leaf they touch, and a split keeps the
	// leaf's first half in place.
	cur struct {
		l     *leaf
		start int
		ok    bool
	}
	// typing remembers where the last local insert ended, so that the next
	// keystroke right after it extends the same run directly. Valid while
	// no operation has happened since (next == h.end).
	typing struct {
		l    *leaf
		i    int
		pos  int
		next uint32
	}
	// slab hands out local transactions a few dozen per allocation.
	slab []localTxn
	// runes finds content offsets for comparing repeated inserts (overlap.go).
	runes *runeIndex
	// walk is the reusable heap of the causal-past walk (causal.go).
	walk lvHeap
	// regions keeps branches' concurrent regions between transactions (merge.go).
	regions regionCache
	// scratch is apply's reusable working space (integrate.go).
	scratch applyScratch
	// qix is what history queries share (query.go), for one state.
	qix *queryIndex
	// lz is what OpenSnapshot has not read yet (lazy.go); nil once read.
	lz *lazyDoc
}

const txnSlab = 32

// locate returns a cursor on the visible item at pos (0 <= pos < Len).
func (d *Doc) locate(pos int) cursor {
	if c := &d.cur; c.ok && pos >= c.start && pos < c.start+c.l.vis {
		return c.l.visibleIn(pos - c.start)
	}
	l, off := d.t.findVis(pos, false)
	d.cur.l, d.cur.start, d.cur.ok = l, pos-off, true
	return l.visibleIn(off)
}

// visibleIn returns a cursor on the visible item at offset p of the leaf.
func (l *leaf) visibleIn(p int) cursor {
	for i := 0; i < l.n; i++ {
		v := l.runs[i].vis()
		if p < v {
			return cursor{l, i, p}
		}
		p -= v
	}
	panic("crdt: visible position not in leaf") // unreachable: counts are kept exact
}

// New returns an empty document whose local edits are made by agent.
func New(agent string) (*Doc, error) {
	if err := checkAgent(agent); err != nil {
		return nil, err
	}
	d := &Doc{agent: agent, t: newTree(), ixOK: true}
	d.self = d.h.addAgent(agent)
	return d, nil
}

func checkAgent(agent string) error {
	if err := vocab.CheckAgent(agent); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Agent returns the name local edits are made under.
func (d *Doc) Agent() string { return d.agent }

// Len returns the length of the text in code points.
func (d *Doc) Len() int {
	if d.lz != nil {
		return d.lz.vis
	}
	return d.t.vis
}

// Text returns the document's text.
func (d *Doc) Text() string {
	if d.lz != nil {
		return d.lz.text
	}
	var b strings.Builder
	n := 0
	for l := d.t.first; l != nil; l = l.next {
		n += len(l.text)
	}
	b.Grow(n)
	for l := d.t.first; l != nil; l = l.next {
		b.Write(l.text)
	}
	return b.String()
}

// index returns the LV index, building it if a snapshot load deferred it.
func (d *Doc) index() *lvIndex {
	if !d.ixOK {
		d.ix = buildIndex(runsByLV(&d.t), d.h.end)
		d.ixOK = true
	}
	return &d.ix
}

// ixOrNil returns the index if it is being maintained, for tree updates.
func (d *Doc) ixOrNil() *lvIndex {
	if d.ixOK {
		return &d.ix
	}
	return nil
}

// Version returns the version vector: agent → number of its seqs known.
func (d *Doc) Version() Version {
	if d.lz != nil {
		return d.lz.version()
	}
	v := make(Version, len(d.h.agents))
	for i := range d.h.agents {
		if n := d.h.agents[i].next; n > 0 {
			v[d.h.agents[i].name] = uint64(n)
		}
	}
	return v
}

// Frontier returns the IDs of the operations no known operation depends on.
func (d *Doc) Frontier() Frontier {
	if d.lz != nil {
		return append(Frontier(nil), d.lz.front...)
	}
	f := make(Frontier, len(d.front))
	for i, lv := range d.front {
		f[i] = d.h.id(lv)
	}
	sortIDs(f)
	return f
}

// Pending returns the number of remote transactions waiting for parents.
func (d *Doc) Pending() int { return d.pending.len() }

// localTxn holds a transaction and the storage for its common small case,
// so that a keystroke costs one allocation.
type localTxn struct {
	Txn
	parents [1]ID
	ops     [1]Op
}

// beginLocal starts a local transaction on the current frontier.
func (d *Doc) beginLocal() *localTxn {
	if len(d.slab) == 0 {
		d.slab = make([]localTxn, txnSlab)
	}
	lt := &d.slab[0]
	d.slab = d.slab[1:]
	lt.Agent = d.agent
	lt.Seq = uint64(d.h.agents[d.self].next)
	if len(d.front) <= 1 {
		lt.Parents = lt.parents[:len(d.front)]
	} else {
		lt.Parents = make([]ID, len(d.front))
	}
	for i, lv := range d.front {
		lt.Parents[i] = d.h.id(lv)
	}
	if len(lt.Parents) > 1 {
		sortIDs(lt.Parents)
	}
	lt.Ops = lt.ops[:0]
	lt.Time = d.now
	return lt
}

// record appends n local operations at the next LVs to the history, with
// the frontier as the first one's parents, and moves the frontier.
func (d *Doc) record(n uint32) uint32 {
	lv := d.h.end
	d.h.setTime(lv, d.now)
	d.h.appendSpan(d.self, d.h.agents[d.self].next, n, d.front)
	d.front = append(d.front[:0], lv+n-1)
	return lv
}

func (d *Doc) checkSeqs(n int) error {
	// The agent's seqs are some of the document's operations: bounding
	// these bounds those.
	if uint64(d.h.end)+uint64(n) > MaxSeq {
		return fmt.Errorf("%w: agent %q would pass the largest seq, or the document %d operations", ErrInvalid, d.agent, MaxSeq)
	}
	return nil
}

// Insert inserts text at code-point position pos and returns the
// transaction to send to other replicas (nil when text is empty).
func (d *Doc) Insert(pos int, text string) (*Txn, error) {
	return d.Replace(pos, 0, text)
}

// Delete deletes n code points at pos and returns the transaction (nil when
// n is 0).
func (d *Doc) Delete(pos, n int) (*Txn, error) {
	return d.Replace(pos, n, "")
}

// Replace deletes del code points at pos, then inserts text there, as one
// transaction.
func (d *Doc) Replace(pos, del int, text string) (*Txn, error) {
	return d.edit(pos, del, text, true)
}

// Edit is Replace without building the wire transaction: the edit is a
// local transaction like any other (the agent's next seqs, the current
// frontier as parents) and is sent later, merged with its neighbours, by
// Missing. An editor that ships its edits in batches uses it.
func (d *Doc) Edit(pos, del int, text string) error {
	_, err := d.edit(pos, del, text, false)
	return err
}

func (d *Doc) edit(pos, del int, text string, wire bool) (*Txn, error) {
	if err := d.need(); err != nil {
		return nil, err
	}
	if pos < 0 || del < 0 || pos > d.t.vis || del > d.t.vis-pos {
		return nil, fmt.Errorf("%w: edit at %d (deleting %d) in a text of %d code points", ErrPosition, pos, del, d.t.vis)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%w: inserted text is not valid UTF-8", ErrInvalid)
	}
	n := utf8.RuneCountInString(text)
	if n == 0 && del == 0 {
		return nil, nil
	}
	if err := d.checkSeqs(n + del); err != nil {
		return nil, err
	}
	var lt *localTxn
	if wire {
		lt = d.beginLocal()
	}
	if del > 0 {
		d.localDelete(lt, pos, del)
	}
	if n > 0 {
		d.localInsert(lt, pos, text, n)
	}
	if lt == nil {
		return nil, nil
	}
	return &lt.Txn, nil
}

// localInsert inserts text (n code points) at pos, typed on the current
// version: originLeft is the visible item at pos-1, R the next item in the
// sequence (tombstones included), originRight R if R shares our
// originLeft, else the end. Nothing lies between originLeft and R here, so
// the new run goes right after originLeft.
func (d *Doc) localInsert(lt *localTxn, pos int, text string, n int) {
	lv := d.h.end
	if ty := &d.typing; ty.next == lv && ty.pos == pos && ty.l != nil && ty.i < ty.l.n && ty.l.runs[ty.i].end() == lv && !ty.l.runs[ty.i].deleted() {
		// Typing on: the run of our last insert ends right here and
		// nothing happened since, so originLeft is its last item and R
		// (the item after it, older than it) does not share that origin.
		left := lv - 1
		d.typeAfterLast(lv, uint32(n), text)
		d.record(uint32(n))
		d.h.appendInsert(lv, uint32(n), text)
		ty.pos, ty.next = pos+n, d.h.end
		if lt != nil {
			lt.Ops = append(lt.Ops, Op{Kind: OpInsert, Text: text, Left: d.h.id(left)})
		}
		return
	}
	var (
		l      *leaf
		i, off int // place: after item off-1 of run i (off = 0: before run i)
		left   = none
	)
	if pos == 0 {
		l, i, off = d.t.first, 0, 0
		d.cur.l, d.cur.start, d.cur.ok = l, 0, true
	} else {
		c := d.locate(pos - 1)
		l, i, off = c.l, c.i, c.off+1
		left = l.runs[i].lv + uint32(c.off)
	}
	right := none
	if c, ok := (cursor{l, i, off}).normalizeFrom(); ok {
		r := &c.l.runs[c.i]
		if r.leftOf(c.off) == left {
			right = r.lv + uint32(c.off)
		}
	}
	run := itemRun{lv: lv, n: uint32(n), left: left, right: right}
	pl, pi := d.place(l, i, off, run, text)
	d.record(uint32(n))
	d.h.appendInsert(lv, uint32(n), text)
	d.typing.l, d.typing.i, d.typing.pos, d.typing.next = pl, pi, pos+n, d.h.end
	if lt == nil {
		return
	}
	op := Op{Kind: OpInsert, Text: text}
	if left != none {
		op.Left = d.h.id(left)
	}
	if right != none {
		op.Right = d.h.id(right)
	}
	lt.Ops = append(lt.Ops, op)
}

// typeAfterLast places the run of n new items at LVs [lv, lv+n) right
// after item lv-1, the end of the run d.typing holds (the typing paths,
// local and remote: lv-1 is the newest item and nothing happened since),
// extending that run.
func (d *Doc) typeAfterLast(lv, n uint32, text string) {
	ty := &d.typing
	if d.ixOK {
		d.ix.push(lv, lv+n, ty.l)
	}
	ty.l, ty.i = d.extend(ty.l, ty.i, itemRun{lv: lv, n: n, left: lv - 1, right: none}, text)
}

// normalizeFrom moves a place to the item it stands before; ok is false at
// the document end. Unlike normalize it tolerates an empty first leaf.
func (c cursor) normalizeFrom() (cursor, bool) {
	if c.l.n == 0 {
		return c, false
	}
	return c.normalize()
}

// place inserts the new run r (with text) after item off-1 of run i of
// leaf l (before run i when off is 0), extending a run r continues, and
// registers r's LVs in the index. It returns the leaf and run that hold r.
func (d *Doc) place(l *leaf, i, off int, r itemRun, text string) (*leaf, int) {
	if l.n > 0 && off > 0 && off < l.runs[i].len() && l.n+2 > leafCap-1 {
		l, i = d.t.splitLeaf(l, i, d.ixOrNil())
	}
	if d.ixOK {
		d.ix.push(r.lv, r.end(), l)
	}
	ix := d.ixOrNil()
	switch {
	case l.n == 0:
		return d.t.insertRunAt(l, 0, r, text, ix)
	case off == 0:
		if i > 0 && l.runs[i-1].canAppend(&r) {
			return d.extend(l, i-1, r, text)
		}
		return d.t.insertRunAt(l, i, r, text, ix)
	case off == l.runs[i].len():
		if l.runs[i].canAppend(&r) {
			return d.extend(l, i, r, text)
		}
		return d.t.insertRunAt(l, i+1, r, text, ix)
	default:
		l.splitRunAt(i, off)
		return d.t.insertRunAt(l, i+1, r, text, ix)
	}
}

// extend appends r to run i of l, which it continues.
func (d *Doc) extend(l *leaf, i int, r itemRun, text string) (*leaf, int) {
	if r.vis() > 0 {
		b := l.byteOff(l.visBefore(i + 1))
		l.text = insertBytes(l.text, b, text)
	}
	l.runs[i].n += uint32(r.len())
	d.t.items += r.len()
	d.t.addVis(l, r.vis())
	if len(l.text) > leafTextCap {
		return d.t.splitLeaf(l, i, d.ixOrNil())
	}
	return l, i
}

// localDelete deletes n visible items from pos, recording the delete ops.
func (d *Doc) localDelete(lt *localTxn, pos, n int) {
	c := d.locate(pos)
	l, i, off := c.l, c.i, c.off
	for n > 0 {
		for i >= l.n {
			l, i = l.next, 0
		}
		r := &l.runs[i]
		if off >= r.len() || r.deleted() {
			off = 0
			i++
			continue
		}
		m := r.len() - off
		if m > n {
			m = n
		}
		target := r.lv + uint32(off)
		l, i = d.t.markDeleted(l, i, off, m, d.ixOrNil(), nil)
		off = 0
		n -= m
		lv := d.record(uint32(m))
		d.h.appendDelete(lv, uint32(m), target, false)
		if lt != nil {
			lt.Ops = d.h.appendDeleteOps(lt.Ops, target, uint32(m), false)
		}
	}
}

// markDeleted turns items [off, off+m) of run i of leaf l (visible, m
// within the run) into tombstones and returns where the run following
// them now is. When patch is not nil the change is appended to it.
func (t *tree) markDeleted(l *leaf, i, off, m int, ix *lvIndex, patch *Patch) (*leaf, int) {
	if l.n+2 > leafCap-1 {
		l, i = t.splitLeaf(l, i, ix)
	}
	vb := l.visBefore(i) + off
	if patch != nil {
		*patch = patch.add(Change{Pos: l.start() + vb, Delete: m})
	}
	b0 := l.byteOff(vb)
	b1 := b0 + skipRunes(l.text[b0:], m)
	l.text = append(l.text[:b0], l.text[b1:]...)
	if off > 0 {
		l.splitRunAt(i, off)
		i++
	}
	if m < l.runs[i].len() {
		l.splitRunAt(i, m)
	}
	l.runs[i].n |= delBit
	t.addVis(l, -m)
	// Merge with tombstone neighbours that continue the run.
	if i+1 < l.n && l.runs[i].canAppend(&l.runs[i+1]) {
		l.runs[i].n += uint32(l.runs[i+1].len())
		l.removeRun(i + 1)
	}
	if i > 0 && l.runs[i-1].canAppend(&l.runs[i]) {
		l.runs[i-1].n += uint32(l.runs[i].len())
		l.removeRun(i)
		i--
	}
	return l, i + 1
}

func (l *leaf) removeRun(i int) {
	copy(l.runs[i:l.n-1], l.runs[i+1:l.n])
	l.n--
}

// add appends c to the patch, merging it with the previous change when
// they touch.
func (p Patch) add(c Change) Patch {
	if n := len(p); n > 0 {
		q := &p[n-1]
		if c.Insert == "" && q.Insert == "" && c.Pos == q.Pos {
			q.Delete += c.Delete
			return p
		}
		if c.Delete == 0 && q.Pos+utf8.RuneCountInString(q.Insert) == c.Pos && q.Insert != "" {
			q.Insert += c.Insert
			return p
		}
	}
	return append(p, c)
}
