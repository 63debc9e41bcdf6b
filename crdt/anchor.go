package crdt

// Cursors and selections are anchored to items, not offsets, so that they
// stay put while others edit: a position is named by the item just left
// of it (the zero ID for the document start).

// AnchorAt returns the anchor of position pos (0 <= pos <= Len): the ID of
// the visible item at pos-1, or the zero ID for pos 0.
func (d *Doc) AnchorAt(pos int) (ID, bool) {
	if d.need() != nil {
		return ID{}, false
	}
	if pos < 0 || pos > d.t.vis {
		return ID{}, false
	}
	if pos == 0 {
		return ID{}, true
	}
	c := d.locate(pos - 1)
	return d.h.id(c.l.runs[c.i].lv + uint32(c.off)), true
}

// PosOf returns the position an anchor stands for now: just after its item
// if that item is visible, or where it was if it has been deleted. ok is
// false for an ID this replica does not know as an item.
func (d *Doc) PosOf(anchor ID) (int, bool) {
	if d.need() != nil {
		return 0, false
	}
	if anchor.IsZero() {
		return 0, true
	}
	lv, ok := d.h.lvOfID(anchor)
	if !ok || d.h.ops[d.h.opAt(lv)].isDel() {
		return 0, false
	}
	l := d.index().lookup(lv)
	i := l.findRun(lv)
	r := &l.runs[i]
	pos := l.start() + l.visBefore(i)
	if !r.deleted() {
		pos += int(lv-r.lv) + 1
	}
	return pos, true
}
