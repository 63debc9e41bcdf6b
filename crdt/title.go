package crdt

import (
	"fmt"
	"sort"
)

// Titles.
//
// The title is part of the history: an OpTitle op sets it, and every
// replica derives the same title from the same set of operations, whatever
// order they arrived in. The rule: among the title ops that are in no other
// title op's causal past (the latest renames each writer had seen), the one
// with the greatest ID (agent name bytewise, then seq) holds. A rename made
// after seeing another therefore always replaces it; of concurrent renames
// one wins everywhere. A document with no title op has the title "".
// Time plays no part (it is the author's claim and unchecked).

// Title returns the document's title, as the rule above gives it.
func (d *Doc) Title() string {
	if d.lz != nil {
		return d.lz.title
	}
	h := &d.h
	best, bestID := -1, ID{}
	for _, lv := range h.titleTop {
		id := h.id(lv)
		if best < 0 || bestID.Less(id) {
			best, bestID = int(lv), id
		}
	}
	if best < 0 {
		return ""
	}
	return h.titles[h.titleAt(uint32(best))].text
}

// Titled reports whether the history holds a title op: a document whose
// title was set to "" is titled, one never titled is not.
func (d *Doc) Titled() bool {
	if d.lz != nil {
		return d.lz.titled
	}
	return len(d.h.titleTop) > 0
}

// SetTitle sets the title as a local transaction (one title op on the
// current frontier, at the time SetNow gave) and returns it to send.
func (d *Doc) SetTitle(title string) (*Txn, error) {
	if err := d.need(); err != nil {
		return nil, err
	}
	op := Op{Kind: OpTitle, Text: title}
	if err := validateTxn(&Txn{Agent: d.agent, Ops: []Op{op}}); err != nil {
		return nil, err
	}
	if err := d.checkSeqs(1); err != nil {
		return nil, err
	}
	lt := d.beginLocal()
	lv := d.record(1)
	d.h.appendTitle(lv, title)
	d.addTitle(lv)
	lt.Ops = append(lt.Ops, op)
	lt.Time = d.now
	return &lt.Txn, nil
}

// SetNow sets the time (milliseconds since the Unix epoch; 0 unknown) that
// the following local transactions carry, until the next call. The crdt
// has no clock: the daemon and the tab pass theirs. A value out of
// [0, MaxTime] is an error and changes nothing.
func (d *Doc) SetNow(ms int64) error {
	if ms < 0 || ms > MaxTime {
		return fmt.Errorf("%w: time %d (0 to %d)", ErrInvalid, ms, int64(MaxTime))
	}
	d.now = ms
	return nil
}

// addTitle updates titleTop for a new title op at lv. Every title op
// known before has a smaller LV, so lv is in none of their pasts: it
// joins the set, and the ones in its past leave it.
func (d *Doc) addTitle(lv uint32) {
	h := &d.h
	top := h.titleTop[:0]
	for _, t := range h.titleTop {
		if !d.reaches(lv, t) {
			top = append(top, t)
		}
	}
	h.titleTop = append(top, lv)
}

// reaches reports whether target is lv or in lv's causal past. It walks
// the parent runs between the two, never below target.
func (d *Doc) reaches(lv, target uint32) bool {
	if target > lv {
		return false
	}
	h := &d.h
	var q lvHeap
	q.push(lv, inA)
	for q.Len() > 0 {
		x, _ := q.pop()
		if x < target {
			continue
		}
		k := h.parentRunAt(x)
		start := h.parents[k].lv
		if start <= target {
			return true
		}
		for _, p := range h.pool[h.parents[k].ps:h.parents[k].pe] {
			if p >= target {
				q.push(p, inA)
			}
		}
	}
	return false
}

// rebuildTitles recomputes titleTop from h.titles (after a snapshot
// load).
func (d *Doc) rebuildTitles() {
	d.h.titleTop = d.h.titleTop[:0]
	for _, t := range d.h.titles {
		d.addTitle(t.lv)
	}
	sort.Slice(d.h.titleTop, func(i, j int) bool { return d.h.titleTop[i] < d.h.titleTop[j] })
}
