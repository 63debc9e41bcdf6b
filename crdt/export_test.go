package crdt

import (
	"fmt"
	"slices"
)

// WireSnapshot is the snapshot header, for the external tests that craft
// hostile snapshots: they build the real header, not a copy of it.
type WireSnapshot = wireSnapshot

// HeadCorruption is a snapshot of a document whose head says something
// its history does not, and what the refusal must name.
type HeadCorruption struct {
	Name, Want string
	Snapshot   []byte
}

// HeadCorruptions re-encodes d's snapshot with heads that each disagree
// with its history in one field, each well formed on its own.
func HeadCorruptions(d *Doc) []HeadCorruption {
	var w wireSnapshot
	if err := snapDecMode.Unmarshal(d.EncodeSnapshot(), &w); err != nil {
		panic(err)
	}
	text := d.Text()
	nexts := make([]uint32, len(d.h.agents))
	for i := range d.h.agents {
		nexts[i] = d.h.agents[i].next
	}
	var front [][2]uint64
	for _, id := range d.Frontier() {
		front = append(front, [2]uint64{uint64(d.h.agentByName[id.Agent]), id.Seq})
	}
	swapped := text[1:2] + text[0:1] + text[2:]
	if text[0] == text[1] {
		swapped = "Z" + swapped[1:]
	}
	more := slices.Clone(nexts)
	more[0]++
	older := slices.Clone(front)
	older[0][1]--
	make1 := func(name, want string, head []byte) HeadCorruption {
		enc, _, _ := zstdCodecs()
		c := w
		c.HeadLen, c.Head = uint64(len(head)), enc.EncodeAll(head, nil)
		out, err := encMode.Marshal(c)
		if err != nil {
			panic(err)
		}
		return HeadCorruption{name, want, out}
	}
	vis := d.Len()
	return []HeadCorruption{
		make1("text", "text", appendHead(nil, swapped, vis, nexts, front, d.Title(), d.Titled())),
		make1("shorter text", "text", appendHead(nil, string([]rune(text)[:vis-1]), vis-1, nexts, front, d.Title(), d.Titled())),
		make1("version", "version", appendHead(nil, text, vis, more, front, d.Title(), d.Titled())),
		make1("frontier", "frontier", appendHead(nil, text, vis, nexts, older, d.Title(), d.Titled())),
		make1("title", "title", appendHead(nil, text, vis, nexts, front, d.Title()+"x", true)),
	}
}

// HistoryUnread reports whether d was opened lazily and has not read its
// history yet.
func HistoryUnread(d *Doc) bool { return d.lz != nil }

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
