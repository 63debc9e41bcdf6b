package crdt

// lvIndex maps every LV to the leaf of the content tree holding its item
// (nil for LVs of deletes). It is a sorted, run-length encoded list of
// (first LV, leaf) entries, kept in chunks so that an update in the middle
// moves at most one chunk.
//
// Entries name leaves by a number (leaf.ixid, an index into leaves), not a
// pointer: an entry is 8 bytes with no pointer in it, so moving entries
// within a chunk is a plain memmove (with pointers, every move under a
// running GC paid write barriers: a third of the index's upkeep when an
// offline branch was merged) and the GC does not scan the chunks.
//
// The index is only needed to find items by ID (remote edits, history,
// cursors). A loaded snapshot does not build it until first needed.
type lvIndex struct {
	chunks [][]ixEntry // each sorted, non-empty; together a partition of [0, end)
	firsts []uint32    // chunks[c][0].lv, for the search
	end    uint32      // LVs covered: [0, end)
	leaves []*leaf     // by ixid-1
	// hit is the entry the last search found, [hitLo, hitHi) to leaf
	// hitLeaf (hitHi 0: none): a remote insert looks up its originRight
	// and then its originLeft, mostly neighbours. Any change but a push
	// forgets it.
	hitLo, hitHi, hitLeaf uint32
}

type ixEntry struct {
	lv   uint32
	leaf uint32 // ixid of the leaf; 0 for none
}

const ixChunk = 256

// id returns the number that names l in entries, giving it one if l has
// none here yet (0 for nil).
func (x *lvIndex) id(l *leaf) uint32 {
	if l == nil {
		return 0
	}
	if k := l.ixid; k == 0 || int(k) > len(x.leaves) || x.leaves[k-1] != l {
		x.leaves = append(x.leaves, l)
		l.ixid = uint32(len(x.leaves))
	}
	return l.ixid
}

// leafOf returns the leaf an entry names.
func (x *lvIndex) leafOf(id uint32) *leaf {
	if id == 0 {
		return nil
	}
	return x.leaves[id-1]
}

// find returns the chunk and entry index covering lv (< end).
func (x *lvIndex) find(lv uint32) (int, int) {
	// The last chunk whose first LV is <= lv (chunk 0 starts at 0).
	fs := x.firsts
	lo, hi := 0, len(fs)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if fs[m] <= lv {
			lo = m
		} else {
			hi = m
		}
	}
	ch := x.chunks[lo]
	a, b := 0, len(ch)
	for b-a > 1 {
		m := int(uint(a+b) >> 1)
		if ch[m].lv <= lv {
			a = m
		} else {
			b = m
		}
	}
	return lo, a
}

// lookup returns the leaf holding item lv.
func (x *lvIndex) lookup(lv uint32) *leaf {
	// Fast path: the newest entry (typing, backspacing).
	if n := len(x.chunks); n > 0 {
		last := x.chunks[n-1]
		if e := last[len(last)-1]; lv >= e.lv && lv < x.end {
			return x.leafOf(e.leaf)
		}
	}
	if lv >= x.hitLo && lv < x.hitHi {
		return x.leafOf(x.hitLeaf)
	}
	c, e := x.find(lv)
	x.hitLo, x.hitHi, x.hitLeaf = x.chunks[c][e].lv, x.entryEnd(c, e), x.chunks[c][e].leaf
	return x.leafOf(x.hitLeaf)
}

// push maps [lo, hi) to l; lo must be at least x.end. LVs skipped over are
// those of deletes: they map to whatever entry precedes them, and are never
// looked up (only items are).
func (x *lvIndex) push(lo, hi uint32, l *leaf) { x.pushID(lo, hi, x.id(l)) }

// pushID is push of the leaf numbered id.
func (x *lvIndex) pushID(lo, hi, id uint32) {
	if n := len(x.chunks); n > 0 {
		last := x.chunks[n-1]
		if last[len(last)-1].leaf == id {
			x.end = hi
			return
		}
		if len(last) < ixChunk {
			x.chunks[n-1] = append(last, ixEntry{lo, id})
			x.end = hi
			return
		}
	}
	ch := make([]ixEntry, 1, ixChunk)
	ch[0] = ixEntry{lo, id}
	x.chunks = append(x.chunks, ch)
	x.firsts = append(x.firsts, lo)
	x.end = hi
}

// assign maps [lo, hi) (already covered) to l.
func (x *lvIndex) assign(lo, hi uint32, l *leaf) {
	if lo >= hi {
		return
	}
	x.hitHi = 0
	id := x.id(l)
	c, e := x.find(lo)
	ch := x.chunks[c]
	// Common case: the whole range is inside one entry.
	entEnd := x.entryEnd(c, e)
	if ch[e].leaf == id && hi <= entEnd {
		return
	}
	if ch[e].lv == lo && hi == entEnd {
		ch[e].leaf = id
		x.coalesce(c, e)
		return
	}
	if hi <= entEnd {
		// Inside one entry (what a split's runs mostly are): cut it, with
		// no further search. The new entry can only join a neighbour on
		// a side where it meets the entry's edge.
		old := ch[e]
		switch {
		case old.lv < lo && hi < entEnd:
			x.replace(c, e, []ixEntry{old, {lo, id}, {hi, old.leaf}})
		case old.lv == lo: // hi < entEnd
			if e > 0 && ch[e-1].leaf == id {
				ch[e].lv = hi // the previous entry grows over [lo, hi)
			} else {
				x.replace(c, e, []ixEntry{{lo, id}, {hi, old.leaf}})
			}
		default: // old.lv < lo, hi == entEnd
			if e+1 < len(ch) && ch[e+1].leaf == id {
				ch[e+1].lv = lo // the next entry grows over [lo, hi)
			} else {
				x.replace(c, e, []ixEntry{old, {lo, id}})
			}
		}
		return
	}
	// General case: rebuild the entries of [lo, hi) in this chunk.
	for lo < hi {
		c, e = x.find(lo)
		ch = x.chunks[c]
		entEnd = x.entryEnd(c, e)
		old := ch[e]
		end := entEnd
		if hi < end {
			end = hi
		}
		// Replace old's part [lo, end) by l: up to three entries.
		var repl [3]ixEntry
		k := 0
		if old.lv < lo {
			repl[k] = old
			k++
		}
		repl[k] = ixEntry{lo, id}
		k++
		if end < entEnd {
			repl[k] = ixEntry{end, old.leaf}
			k++
		}
		x.replace(c, e, repl[:k])
		lo = end
	}
	c, e = x.find(hi - 1)
	x.coalesce(c, e)
}

// assignRuns maps the LVs of every run of l to l (after a split moved
// them there). Runs whose LVs follow one another (pieces of one run that
// inserts cut apart, a branch's consecutive edits) are assigned as one
// range: a split moves about half a leaf, and one range costs one search.
func (x *lvIndex) assignRuns(l *leaf) {
	var sp [leafCap]lvSpan
	n := 0
	for j := 0; j < l.n; j++ {
		r := &l.runs[j]
		s := lvSpan{r.lv, r.end()}
		// Insertion sort by lo: a leaf has at most leafCap runs.
		k := n
		for ; k > 0 && sp[k-1].lo > s.lo; k-- {
			sp[k] = sp[k-1]
		}
		sp[k] = s
		n++
	}
	for k := 0; k < n; {
		lo, hi := sp[k].lo, sp[k].hi
		for k++; k < n && sp[k].lo == hi; k++ {
			hi = sp[k].hi
		}
		x.assign(lo, hi, l)
	}
}

// entryEnd is the first LV after entry e of chunk c.
func (x *lvIndex) entryEnd(c, e int) uint32 {
	if e+1 < len(x.chunks[c]) {
		return x.chunks[c][e+1].lv
	}
	if c+1 < len(x.chunks) {
		return x.firsts[c+1]
	}
	return x.end
}

// replace puts repl in place of entry e of chunk c, splitting the chunk
// if it grows too large.
func (x *lvIndex) replace(c, e int, repl []ixEntry) {
	ch := x.chunks[c]
	grow := len(repl) - 1
	if grow > 0 {
		ch = append(ch, repl[:grow]...)
		copy(ch[e+len(repl):], ch[e+1:len(ch)-grow])
	}
	copy(ch[e:], repl)
	if len(ch) > 2*ixChunk {
		right := append(make([]ixEntry, 0, ixChunk*2), ch[len(ch)/2:]...)
		ch = ch[: len(ch)/2 : len(ch)/2]
		x.chunks = append(x.chunks, nil)
		copy(x.chunks[c+2:], x.chunks[c+1:])
		x.chunks[c+1] = right
		x.firsts = append(x.firsts, 0)
		copy(x.firsts[c+2:], x.firsts[c+1:])
		x.firsts[c+1] = right[0].lv
	}
	x.chunks[c] = ch
}

// coalesce merges entry e of chunk c with equal-leaf neighbours in its
// chunk. (It never removes a chunk's first entry, so firsts stays true.)
func (x *lvIndex) coalesce(c, e int) {
	ch := x.chunks[c]
	if e+1 < len(ch) && ch[e+1].leaf == ch[e].leaf {
		ch = append(ch[:e+1], ch[e+2:]...)
	}
	if e > 0 && ch[e-1].leaf == ch[e].leaf {
		ch = append(ch[:e], ch[e+1:]...)
	}
	x.chunks[c] = ch
}

// runRef is an item run found in the tree, for building the index: its
// LVs [lv, lv+n) and its leaf's number.
type runRef struct{ lv, n, leaf uint32 }

// treeRuns are the tree's item runs sorted by LV, and its leaves by number.
type treeRuns struct {
	runs   []runRef
	leaves []*leaf
}

// runsByLV lists the tree's item runs sorted by LV (radix sort, 11 bits a
// pass: this runs when a loaded snapshot's first remote edit needs the
// index), numbering the leaves on the way.
func runsByLV(t *tree) treeRuns {
	n, nl := 0, 0
	for l := t.first; l != nil; l = l.next {
		n += l.n
		nl++
	}
	tr := treeRuns{runs: make([]runRef, 0, n), leaves: make([]*leaf, 0, nl)}
	top := uint32(0)
	for l := t.first; l != nil; l = l.next {
		tr.leaves = append(tr.leaves, l)
		l.ixid = uint32(len(tr.leaves))
		for i := 0; i < l.n; i++ {
			r := &l.runs[i]
			tr.runs = append(tr.runs, runRef{r.lv, uint32(r.len()), l.ixid})
			top |= r.lv
		}
	}
	es, tmp := tr.runs, make([]runRef, len(tr.runs))
	const bits = 11
	for shift := uint(0); shift < 32 && top>>shift != 0; shift += bits {
		var count [1<<bits + 1]int
		for _, e := range es {
			count[(e.lv>>shift)&(1<<bits-1)+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for _, e := range es {
			b := (e.lv >> shift) & (1<<bits - 1)
			tmp[count[b]] = e
			count[b]++
		}
		es, tmp = tmp, es
	}
	tr.runs = es
	return tr
}

// buildIndex creates the index from the tree's runs sorted by LV: every
// item maps to its leaf; the LVs of deletes after an item map to its leaf
// too, as push leaves them (they are never looked up).
func buildIndex(tr treeRuns, end uint32) lvIndex {
	x := lvIndex{leaves: tr.leaves}
	for _, e := range tr.runs {
		if len(x.chunks) == 0 && e.lv > 0 {
			x.pushID(0, e.lv, 0)
		}
		x.pushID(e.lv, e.lv+e.n, e.leaf)
	}
	if x.end < end {
		if len(x.chunks) == 0 {
			x.pushID(0, end, 0)
		}
		x.end = end
	}
	return x
}
