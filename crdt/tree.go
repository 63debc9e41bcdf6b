package crdt

import "unicode/utf8"

// The content tree holds every item (visible or tombstone) in document
// order, run-length encoded, in a B-tree whose internal nodes count the
// visible code points below each child. Leaves also hold the UTF-8 text of
// their visible items, so one descent finds both an item and its text.

const (
	leafCap     = 32   // item runs per leaf
	nodeCap     = 16   // children per internal node
	leafTextCap = 2048 // bytes of visible text per leaf (soft: a leaf splits above it)
	none        = ^uint32(0)
)

// itemRun is a run of items with consecutive LVs and one state. The first
// item has the origins left and right; every later item has the previous
// item as originLeft and the document end as originRight — exactly what the
// ordering rule gives a run typed left to right.
type itemRun struct {
	lv    uint32 // LV of the first item
	n     uint32 // length; the top bit marks a run of tombstones
	left  uint32 // originLeft of the first item (none: document start)
	right uint32 // originRight of the first item (none: document end)
}

const delBit = 1 << 31

func (r *itemRun) len() int      { return int(r.n &^ delBit) }
func (r *itemRun) deleted() bool { return r.n&delBit != 0 }
func (r *itemRun) vis() int {
	if r.n&delBit != 0 {
		return 0
	}
	return int(r.n)
}
func (r *itemRun) end() uint32 { return r.lv + uint32(r.len()) }

// leftOf returns the originLeft of the item at offset k of the run.
func (r *itemRun) leftOf(k int) uint32 {
	if k == 0 {
		return r.left
	}
	return r.lv + uint32(k) - 1
}

// rightOf returns the originRight of the item at offset k of the run.
func (r *itemRun) rightOf(k int) uint32 {
	if k == 0 {
		return r.right
	}
	return none
}

// split cuts r at offset k (0 < k < len): r keeps [0,k), the result is [k,len).
func (r *itemRun) split(k int) itemRun {
	rest := itemRun{lv: r.lv + uint32(k), n: (r.n & delBit) | uint32(r.len()-k), left: r.lv + uint32(k) - 1, right: none}
	r.n = (r.n & delBit) | uint32(k)
	return rest
}

// canAppend reports whether s continues r as one run.
func (r *itemRun) canAppend(s *itemRun) bool {
	return r.end() == s.lv && s.left == r.end()-1 && s.right == none && r.deleted() == s.deleted()
}

type leaf struct {
	parent     *node
	pidx       int // index in parent
	n          int // runs in use
	vis        int // visible code points
	runs       [leafCap]itemRun
	text       []byte // UTF-8 text of the visible runs, in order
	prev, next *leaf
	ixid       uint32 // its number in the LV index (index.go); 0 none yet
}

type node struct {
	parent   *node
	pidx     int
	n        int
	leafKids bool
	vis      [nodeCap]int
	leaves   [nodeCap]*leaf // when leafKids
	nodes    [nodeCap]*node // otherwise
}

type tree struct {
	root  *node
	first *leaf
	vis   int // visible code points in the document
	items int // items (visible and tombstones)
}

func newTree() tree {
	l := &leaf{}
	root := &node{leafKids: true, n: 1}
	root.leaves[0] = l
	l.parent = root
	return tree{root: root, first: l}
}

// ascii reports whether the leaf's text is all single-byte code points.
func (l *leaf) ascii() bool { return len(l.text) == l.vis }

// byteOff converts a visible code-point offset within the leaf to a byte
// offset in l.text.
func (l *leaf) byteOff(k int) int {
	if l.ascii() || k == 0 {
		return k
	}
	if k == l.vis {
		return len(l.text)
	}
	b := 0
	for i := 0; i < k; i++ {
		c := l.text[b]
		switch {
		case c < 0x80:
			b++
		case c < 0xE0:
			b += 2
		case c < 0xF0:
			b += 3
		default:
			b += 4
		}
	}
	return b
}

// visBefore returns the visible code points in runs [0, i) of the leaf.
func (l *leaf) visBefore(i int) int {
	v := 0
	for j := 0; j < i; j++ {
		v += l.runs[j].vis()
	}
	return v
}

// addVis adds d to the visible count of l and of its ancestors.
func (t *tree) addVis(l *leaf, d int) {
	l.vis += d
	t.vis += d
	c, p := l.pidx, l.parent
	for p != nil {
		p.vis[c] += d
		c, p = p.pidx, p.parent
	}
}

// start returns the visible position of the leaf's first item.
func (l *leaf) start() int {
	pos := 0
	c, p := l.pidx, l.parent
	for p != nil {
		for i := 0; i < c; i++ {
			pos += p.vis[i]
		}
		c, p = p.pidx, p.parent
	}
	return pos
}

// findVis descends to the leaf holding visible position pos and returns it
// with pos relative to the leaf. With end set, a position equal to a leaf's
// visible length stays in that leaf (for "the item just before pos").
func (t *tree) findVis(pos int, stickEnd bool) (*leaf, int) {
	n := t.root
	for {
		i := 0
		for ; i < n.n-1; i++ {
			v := n.vis[i]
			if pos < v || (stickEnd && pos == v) {
				break
			}
			pos -= v
		}
		if n.leafKids {
			return n.leaves[i], pos
		}
		n = n.nodes[i]
	}
}

// cursor is a position between items: before item off of run i of leaf l.
// off may equal the run's length (just after the run).
type cursor struct {
	l   *leaf
	i   int
	off int
}

// nextItem returns the cursor's following item position normalised to a
// run start when it sits at a run end, moving across leaves. ok is false at
// the document end.
func (c cursor) normalize() (cursor, bool) {
	for c.off >= c.l.runs[c.i].len() {
		c.off = 0
		c.i++
		for c.i >= c.l.n {
			if c.l.next == nil {
				c.i = c.l.n - 1
				if c.i < 0 {
					c.i = 0
				}
				return c, false
			}
			c.l = c.l.next
			c.i = 0
		}
	}
	return c, true
}

// insertRunAt inserts run r (with its text, empty for tombstones) into leaf
// l at run index i, which must be a run boundary. It returns the leaf and
// run index where r ended up after any split.
func (t *tree) insertRunAt(l *leaf, i int, r itemRun, text string, ix *lvIndex) (*leaf, int) {
	// Text goes after the visible text of runs [0, i).
	if r.vis() > 0 {
		b := l.byteOff(l.visBefore(i))
		l.text = insertBytes(l.text, b, text)
	}
	copy(l.runs[i+1:l.n+1], l.runs[i:l.n])
	l.runs[i] = r
	l.n++
	t.items += r.len()
	t.addVis(l, r.vis())
	if l.n == leafCap || len(l.text) > leafTextCap {
		return t.splitLeaf(l, i, ix)
	}
	return l, i
}

// splitRunAt splits run i of leaf l at offset off (0 < off < len) so that a
// new run can be inserted at i+1. The caller guarantees room (l.n < leafCap).
func (l *leaf) splitRunAt(i, off int) {
	rest := l.runs[i].split(off)
	copy(l.runs[i+2:l.n+1], l.runs[i+1:l.n])
	l.runs[i+1] = rest
	l.n++
}

func insertBytes(b []byte, at int, s string) []byte {
	if at == len(b) {
		return append(b, s...)
	}
	n := len(b) + len(s)
	if n > cap(b) {
		nb := make([]byte, n, n+n/2+16)
		copy(nb, b[:at])
		copy(nb[at:], s)
		copy(nb[at+len(s):], b[at:])
		return nb
	}
	b = b[:n]
	copy(b[at+len(s):], b[at:n-len(s)])
	copy(b[at:], s)
	return b
}

// splitLeaf moves the upper part of l to a new leaf after it. It returns
// where run index i of l ended up.
func (t *tree) splitLeaf(l *leaf, i int, ix *lvIndex) (*leaf, int) {
	// Choose the split point: half the runs, unless the text is the
	// problem, in which case split by bytes (cutting a run if needed).
	at := l.n / 2
	if len(l.text) > leafTextCap {
		half := len(l.text) / 2
		b := 0
		for j := 0; j < l.n; j++ {
			vb := l.runBytes(j, b)
			if b+vb > half {
				if vb > 0 && b+vb-half > 0 && l.runs[j].len() > 1 {
					// Cut run j so the left part ends near the middle.
					k := runeCountPrefix(l.text[b:b+vb], half-b)
					if k == 0 {
						k = 1
					}
					if k < l.runs[j].len() {
						if l.n == leafCap {
							// No room to cut; split by runs instead.
							break
						}
						l.splitRunAt(j, k)
						if i > j {
							i++
						}
						at = j + 1
						goto cut
					}
				}
				at = j
				if at == 0 {
					at = 1
				}
				goto cut
			}
			b += vb
		}
		at = l.n / 2
	}
cut:
	if at <= 0 || at >= l.n {
		if l.n < 2 {
			return l, i
		}
		at = l.n / 2
	}
	nl := &leaf{}
	tb := l.byteOff(l.visBefore(at))
	moved := l.vis - l.visBefore(at)
	nl.n = l.n - at
	copy(nl.runs[:nl.n], l.runs[at:l.n])
	nl.text = append(make([]byte, 0, len(l.text)-tb+16), l.text[tb:]...)
	l.text = l.text[:tb]
	l.n = at
	// Visible counts: the parent's entry for l shrinks; nl's is inserted.
	l.vis -= moved
	nl.vis = moved
	nl.next = l.next
	if nl.next != nil {
		nl.next.prev = nl
	}
	nl.prev = l
	l.next = nl
	p := l.parent
	p.vis[l.pidx] -= moved
	t.insertChild(p, l.pidx+1, nil, nl, moved)
	if ix != nil {
		ix.assignRuns(nl)
	}
	var rl *leaf
	var ri int
	if i < at {
		rl, ri = l, i
	} else {
		rl, ri = nl, i-at
	}
	// Either half may still hold too much text (a huge paste).
	if len(nl.text) > leafTextCap && nl.n > 0 {
		a, b := t.splitLeaf(nl, ri, ix)
		if rl == nl {
			rl, ri = a, b
		}
	}
	if len(l.text) > leafTextCap && l.n > 0 {
		a, b := t.splitLeaf(l, ri, ix)
		if rl == l {
			rl, ri = a, b
		}
	}
	return rl, ri
}

// runBytes returns the bytes of visible text of run j of l, whose text
// starts at byte b.
func (l *leaf) runBytes(j, b int) int {
	v := l.runs[j].vis()
	if v == 0 {
		return 0
	}
	if l.ascii() {
		return v
	}
	e := b
	for k := 0; k < v; k++ {
		_, sz := utf8.DecodeRune(l.text[e:])
		e += sz
	}
	return e - b
}

// runeCountPrefix returns how many whole code points of s start before byte n.
func runeCountPrefix(s []byte, n int) int {
	k := 0
	for b := 0; b < n && b < len(s); {
		_, sz := utf8.DecodeRune(s[b:])
		b += sz
		k++
	}
	return k
}

// insertChild inserts a child (node cn or leaf cl) with visible count v at
// index i of p, splitting p (and upwards) when full.
func (t *tree) insertChild(p *node, i int, cn *node, cl *leaf, v int) {
	if p.leafKids {
		copy(p.leaves[i+1:p.n+1], p.leaves[i:p.n])
		p.leaves[i] = cl
		cl.parent = p
	} else {
		copy(p.nodes[i+1:p.n+1], p.nodes[i:p.n])
		p.nodes[i] = cn
		cn.parent = p
	}
	copy(p.vis[i+1:p.n+1], p.vis[i:p.n])
	p.vis[i] = v
	p.n++
	p.renumber(i)
	if p.n < nodeCap {
		return
	}
	// Split p: the upper half moves to a new sibling.
	q := &node{leafKids: p.leafKids}
	at := p.n / 2
	q.n = p.n - at
	copy(q.vis[:q.n], p.vis[at:p.n])
	qv := 0
	for j := 0; j < q.n; j++ {
		qv += q.vis[j]
	}
	if p.leafKids {
		copy(q.leaves[:q.n], p.leaves[at:p.n])
		for j := at; j < p.n; j++ {
			p.leaves[j] = nil
		}
	} else {
		copy(q.nodes[:q.n], p.nodes[at:p.n])
		for j := at; j < p.n; j++ {
			p.nodes[j] = nil
		}
	}
	p.n = at
	q.renumber(0)
	if p.parent == nil {
		root := &node{n: 1}
		root.nodes[0] = p
		root.vis[0] = t.vis // p's share is fixed just below
		p.parent, p.pidx = root, 0
		t.root = root
	}
	pp := p.parent
	pp.vis[p.pidx] -= qv
	t.insertChild(pp, p.pidx+1, q, nil, qv)
}

// renumber fixes the parent links and indexes of children from i on.
func (p *node) renumber(i int) {
	if p.leafKids {
		for ; i < p.n; i++ {
			p.leaves[i].parent, p.leaves[i].pidx = p, i
		}
		return
	}
	for ; i < p.n; i++ {
		p.nodes[i].parent, p.nodes[i].pidx = p, i
	}
}

// before reports whether leaf a comes before leaf b in document order.
func leafBefore(a, b *leaf) bool {
	if a == b {
		return false
	}
	// Paths from the root, compared level by level. Both leaves sit at the
	// same depth.
	var pa, pb [16]int
	da, db := 0, 0
	for c, p := a.pidx, a.parent; p != nil; c, p = p.pidx, p.parent {
		pa[da] = c
		da++
	}
	for c, p := b.pidx, b.parent; p != nil; c, p = p.pidx, p.parent {
		pb[db] = c
		db++
	}
	for k := da - 1; k >= 0; k-- {
		if pa[k] != pb[k] {
			return pa[k] < pb[k]
		}
	}
	return false
}
