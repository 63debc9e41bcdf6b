package crdt

import (
	"cmp"
	"slices"
	"sort"
)

// outside returns the LVs this replica knows that are not in the causal
// past of the frontier p (every LV of p known): the part of the history a
// transaction made on p could not have seen. It walks the history backwards
// from our frontier and p at once, run by run, and stops as soon as every
// path left is shared, so its cost is the size of the concurrent region,
// not of the history. The spans come back sorted.
func (d *Doc) outside(p []uint32) []lvSpan {
	if slices.Equal(p, d.front) {
		return nil
	}
	h := &d.h
	q := &d.walk
	q.items, q.unshared = q.items[:0], 0
	for _, lv := range d.front {
		q.push(lv, inA)
	}
	for _, lv := range p {
		q.push(lv, inB)
	}
	var out []lvSpan
	for q.Len() > 0 && q.unshared > 0 {
		lv, flag := q.pop()
		k := h.parentRunAt(lv)
		start := h.parents[k].lv
		cur := lv
		// Entries below lv on this run's chain join the walk.
		for q.Len() > 0 && q.top() >= start {
			lv2, f2 := q.pop()
			if flag == inA && lv2 < cur {
				out = append(out, lvSpan{lv2 + 1, cur + 1})
			}
			flag |= f2
			cur = lv2
		}
		if flag == inA {
			out = append(out, lvSpan{start, cur + 1})
		}
		for _, par := range h.pool[h.parents[k].ps:h.parents[k].pe] {
			q.push(par, flag)
		}
	}
	slices.SortFunc(out, func(a, b lvSpan) int { return cmp.Compare(a.lo, b.lo) })
	return out
}

// parentRunAt returns the index of the parent run holding lv.
func (h *history) parentRunAt(lv uint32) int {
	ps := h.parents
	if k := len(ps) - 1; ps[k].lv <= lv {
		return k
	}
	return sort.Search(len(ps), func(i int) bool { return ps[i].lv > lv }) - 1
}

// in reports whether lv lies in one of the sorted spans.
func in(spans []lvSpan, lv uint32) bool {
	i := sort.Search(len(spans), func(i int) bool { return spans[i].hi > lv })
	return i < len(spans) && spans[i].lo <= lv
}

const (
	inA = 1 // reachable from our frontier
	inB = 2 // reachable from the transaction's parents
)

// lvHeap is a max-heap of LVs with flags; equal LVs are merged when popped.
type lvHeap struct {
	items    []lvItem
	unshared int // items whose flag is not inA|inB
}

type lvItem struct {
	lv   uint32
	flag uint8
}

func (q *lvHeap) Len() int { return len(q.items) }

func (q *lvHeap) push(lv uint32, flag uint8) {
	if flag != inA|inB {
		q.unshared++
	}
	q.items = append(q.items, lvItem{lv, flag})
	// Sift up.
	h := q.items
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].lv >= h[i].lv {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func (q *lvHeap) top() uint32 { return q.items[0].lv }

func (q *lvHeap) popOne() lvItem {
	h := q.items
	it := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	// Sift down.
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].lv > h[m].lv {
			m = l
		}
		if r < n && h[r].lv > h[m].lv {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	q.items = h
	if it.flag != inA|inB {
		q.unshared--
	}
	return it
}

// pop removes the largest LV, merging the flags of all its copies.
func (q *lvHeap) pop() (uint32, uint8) {
	it := q.popOne()
	for len(q.items) > 0 && q.items[0].lv == it.lv {
		it.flag |= q.popOne().flag
	}
	return it.lv, it.flag
}
