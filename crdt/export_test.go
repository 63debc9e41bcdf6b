package crdt

import "fmt"

// WireSnapshot is the snapshot header, for the external tests that craft
// hostile snapshots: they build the real header, not a copy of it.
type WireSnapshot = wireSnapshot

// CheckIndex returns the first way d's LV index disagrees with its content
// tree (nil when they agree, or when the index is not built yet): every
// item's LV must lead to its leaf, by the search and by lookup's fast path.
func CheckIndex(d *Doc) error {
	if !d.ixOK {
		return nil
	}
	x := &d.ix
	if len(x.firsts) != len(x.chunks) {
		return fmt.Errorf("index: %d chunks, %d first LVs", len(x.chunks), len(x.firsts))
	}
	prev := int64(-1)
	for c, ch := range x.chunks {
		if len(ch) == 0 {
			return fmt.Errorf("index: chunk %d is empty", c)
		}
		if x.firsts[c] != ch[0].lv {
			return fmt.Errorf("index: chunk %d starts at LV %d, firsts says %d", c, ch[0].lv, x.firsts[c])
		}
		for _, e := range ch {
			if int64(e.lv) <= prev {
				return fmt.Errorf("index: LV %d after %d", e.lv, prev)
			}
			prev = int64(e.lv)
		}
	}
	for l := d.t.first; l != nil; l = l.next {
		for i := 0; i < l.n; i++ {
			r := &l.runs[i]
			for lv := r.lv; lv < r.end(); lv++ {
				if lv >= x.end {
					return fmt.Errorf("index: item %d past the index's end %d", lv, x.end)
				}
				c, e := x.find(lv)
				if got := x.leafOf(x.chunks[c][e].leaf); got != l {
					return fmt.Errorf("index: item %d found in leaf %p, it is in %p", lv, got, l)
				}
				if got := x.lookup(lv); got != l {
					return fmt.Errorf("index: item %d looked up in leaf %p, it is in %p", lv, got, l)
				}
			}
		}
	}
	return nil
}
