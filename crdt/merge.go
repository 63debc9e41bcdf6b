package crdt

import "slices"

// The concurrent region of a branch, carried from one transaction to the
// next.
//
// resolve checks every reference of a remote transaction against the part
// of the history the transaction could not have seen: outside(parents), a
// walk back from this replica's frontier and the parents until every path
// is shared. Its cost is the concurrent region. A history of long-lived
// branches merged late (many authors offline, like a git history) makes
// that region large for every transaction of every branch: profiling the
// merge of the generated 204-author history (gen_test.go) into a fresh
// replica put 86% of the merge in that walk.
//
// But a branch's transactions mostly follow one another: the next one's
// parents are the last op of the previous one. If the previous one, made on
// parents P, was applied at LVs [s, e), then the past of e-1 is the past of
// P plus [s, e), so outside({e-1}) at the end e of the history is
// outside(P) as computed at s; and since nothing at or after e can be in
// the past of e-1, outside({e-1}) later, at end E, is that plus [e, E).
// So the walk's result is kept under the transaction's last LV and
// extended by one span when the branch continues, instead of walking the
// region again. A transaction with other parents (a merge) walks, and its
// result seeds the branch from there. This is Eg-walker's observation
// (Gentle and Kleppmann, EuroSys 2025) that the work of a merge should
// follow the concurrent structure and not be repeated per operation, in
// the form that fits this replica's checks.

// maxRegions bounds the kept regions: one per branch being merged at once.
// A region of fewer than minRegionSpans spans is not kept: its walk was
// short (live co-editing), and keeping it cost more than walking again
// (measured on the bundled concurrent traces).
const (
	maxRegions     = 256
	minRegionSpans = 8
)

type region struct {
	out []lvSpan // outside({head}) when the history ended at end
	end uint32
}

type regionCache struct {
	// tip is the region of the last transaction applied, kept whatever
	// its size (in one slot, so it costs nothing to keep): an offline
	// branch merged into a document that moved on is one short region
	// walked again for each of its transactions otherwise.
	tip     region
	tipHead uint32
	tipOK   bool

	m     map[uint32]region // by head LV
	order []uint32          // keys in the order they were kept (some gone since)
	// last is what the transaction being resolved used (a walk's or a
	// kept region's), to be kept under its last LV once it is applied.
	last   []lvSpan
	lastOK bool
}

// outsideOf is outside(p), from a kept region when p is one LV that ended
// a branch's previous transaction.
func (d *Doc) outsideOf(p []uint32) []lvSpan {
	rc := &d.regions
	var out []lvSpan
	switch {
	case slices.Equal(p, d.front):
		out = nil
	case len(p) == 1 && (rc.tipOK && rc.tipHead == p[0] || rc.m != nil):
		var r region
		if rc.tipOK && rc.tipHead == p[0] {
			r = rc.tip
			rc.tip, rc.tipOK = region{}, false
		} else if r0, ok := rc.m[p[0]]; ok {
			r = r0
			delete(rc.m, p[0])
		} else {
			out = d.outside(p)
			break
		}
		out = r.out
		if r.end < d.h.end {
			if n := len(out); n > 0 && out[n-1].hi == r.end {
				out[n-1].hi = d.h.end
			} else {
				out = append(out, lvSpan{r.end, d.h.end})
			}
		}
	default:
		out = d.outside(p)
	}
	rc.last, rc.lastOK = out, true
	return out
}

// keepRegion keeps the region the transaction just applied used, under
// its last LV (d.h.end-1).
func (d *Doc) keepRegion() {
	rc := &d.regions
	if !rc.lastOK {
		return
	}
	out := rc.last
	rc.last, rc.lastOK = nil, false
	if len(out) < minRegionSpans {
		// A short walk: kept only as the tip (a map entry cost more than
		// walking again).
		rc.tip, rc.tipHead, rc.tipOK = region{out: out, end: d.h.end}, d.h.end-1, true
		return
	}
	if rc.m == nil {
		rc.m = map[uint32]region{}
	}
	for len(rc.m) >= maxRegions {
		// Drop the region kept longest ago that is still there.
		k := rc.order[0]
		rc.order = rc.order[1:]
		delete(rc.m, k)
	}
	if len(rc.order) > 4*maxRegions {
		// Forget the keys of regions taken since.
		o := rc.order[:0]
		for _, k := range rc.order {
			if _, ok := rc.m[k]; ok {
				o = append(o, k)
			}
		}
		rc.order = o
	}
	rc.m[d.h.end-1] = region{out: out, end: d.h.end}
	rc.order = append(rc.order, d.h.end-1)
}

// forgetRegion drops what resolve used when the transaction was not
// applied.
func (d *Doc) forgetRegion() { d.regions.last, d.regions.lastOK = nil, false }
