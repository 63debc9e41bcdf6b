package crdt

import (
	"fmt"
	"slices"
	"unicode/utf8"
)

// Lazy open.
//
// A snapshot of format 3 also carries its document's head: the visible
// text, its length, the version, the frontier and the title, in a small
// zstd frame of its own. OpenSnapshot reads only the header and the head,
// so that a document's text is readable (and its version known for sync)
// after a cost in proportion to the text, not to the history; the history
// and the item structure are read the first time something needs them
// (materialize): an edit, a remote transaction, catch-up, a history query.
// Eg-walker's "cached load" is the model (Gentle & Kleppmann, EuroSys 2025):
// most opens only show the text, and most documents are not edited in the
// minutes after they are opened.
//
// The head is checked against the history when the history is read: the
// text, length, version, frontier and title that the items and operations
// give must equal the head's, or the snapshot is refused as corrupt. So a
// head cannot say something the history does not. Until then the head is
// checked only on its own (valid UTF-8 of the length it states, agents
// named in the header, seqs in range). LoadSnapshot reads both at once;
// a snapshot from another replica (a members-only checkpoint) goes through
// it. OpenSnapshot is for a replica's own store.
//
// A failure to read the history is sticky: methods that return an error
// return it; those that cannot (Missing, IsDuplicate, HasVersion, AnchorAt,
// PosOf, VersionAt, Sessions) answer as for a document with no history
// (Missing of a version that has everything answers nothing without reading),
// and Materialize reports it, so a caller that must know asks there.

// lazyDoc is what a Doc opened by OpenSnapshot has read and not yet read.
type lazyDoc struct {
	w      wireSnapshot // the snapshot's header; w.Body still compressed
	text   string
	vis    int
	nexts  []uint32 // agent index (in w.Agents) → next seq
	front  Frontier
	title  string
	titled bool
	err    error // the history did not read (sticky)
}

// head is the part of a format-3 snapshot that OpenSnapshot reads. Its
// body, once decompressed (unsigned varints unless said otherwise):
//
//	text    len, bytes          the visible text, UTF-8
//	vis     code points of text
//	nexts   len(agents) × seq   each agent's next seq, in header order
//	front   n, n × (agent, seq) the frontier's IDs, sorted
//	title   len, bytes
//	titled  0 or 1
func (d *Doc) encodeHead() []byte {
	nexts := make([]uint32, len(d.h.agents))
	for i := range d.h.agents {
		nexts[i] = d.h.agents[i].next
	}
	f := d.Frontier()
	front := make([][2]uint64, len(f))
	for i, id := range f {
		front[i] = [2]uint64{uint64(d.h.agentByName[id.Agent]), id.Seq}
	}
	return appendHead(nil, d.Text(), d.t.vis, nexts, front, d.Title(), d.Titled())
}

// appendHead appends a head's fields in their order; front holds (agent
// index, seq) pairs.
func appendHead(b []byte, text string, vis int, nexts []uint32, front [][2]uint64, title string, titled bool) []byte {
	b = putU(b, uint64(len(text)))
	b = append(b, text...)
	b = putU(b, uint64(vis))
	for _, s := range nexts {
		b = putU(b, uint64(s))
	}
	b = putU(b, uint64(len(front)))
	for _, id := range front {
		b = putU(b, id[0])
		b = putU(b, id[1])
	}
	b = putU(b, uint64(len(title)))
	b = append(b, title...)
	if titled {
		return append(b, 1)
	}
	return append(b, 0)
}

// readHead fills lz from a decompressed head, checking it on its own.
func (lz *lazyDoc) readHead(head []byte) error {
	r := &reader{b: head}
	n := r.count(1)
	if r.err != nil {
		return fmt.Errorf("head text: %v", r.err)
	}
	text := r.b[:n]
	r.b = r.b[n:]
	vis := r.u()
	if r.err != nil {
		return fmt.Errorf("head: %v", r.err)
	}
	if !utf8.Valid(text) {
		return fmt.Errorf("head text is not UTF-8")
	}
	if got := utf8.RuneCount(text); uint64(got) != vis {
		return fmt.Errorf("head text has %d code points, the head says %d", got, vis)
	}
	lz.text, lz.vis = string(text), int(vis)
	lz.nexts = make([]uint32, len(lz.w.Agents))
	for i := range lz.nexts {
		s := r.u()
		if s > MaxSeq {
			return fmt.Errorf("head: agent %d's seq %d out of range", i, s)
		}
		lz.nexts[i] = uint32(s)
	}
	nf := r.count(2)
	if r.err != nil {
		return fmt.Errorf("head: %v", r.err)
	}
	if nf > len(lz.w.Agents) {
		return fmt.Errorf("head: a frontier of %d for %d agents", nf, len(lz.w.Agents))
	}
	lz.front = make(Frontier, nf)
	for k := range lz.front {
		a, s := r.u(), r.u()
		if r.err != nil {
			return fmt.Errorf("head: %v", r.err)
		}
		if a >= uint64(len(lz.w.Agents)) || s >= uint64(lz.nexts[a]) {
			return fmt.Errorf("head: frontier ID %d names agent %d seq %d, not known", k, a, s)
		}
		lz.front[k] = ID{Agent: lz.w.Agents[a], Seq: s}
		if k > 0 && !lz.front[k-1].Less(lz.front[k]) {
			return fmt.Errorf("head: frontier not sorted")
		}
	}
	tn := r.count(1)
	if r.err != nil {
		return fmt.Errorf("head: %v", r.err)
	}
	lz.title = string(r.b[:tn])
	r.b = r.b[tn:]
	titled := r.byte()
	if r.err != nil {
		return fmt.Errorf("head: %v", r.err)
	}
	if titled > 1 || titled == 0 && lz.title != "" {
		return fmt.Errorf("head: title flag %d for title %q", titled, lz.title)
	}
	lz.titled = titled == 1
	if len(r.b) != 0 {
		return fmt.Errorf("head: %d bytes after its end", len(r.b))
	}
	return nil
}

// SnapshotFormat is the snapshot format EncodeSnapshot writes.
const SnapshotFormat = snapFormat

// SnapshotVersion returns the format version a snapshot says it was
// written in (its first element), without reading the rest: 0 for bytes
// that do not start like a snapshot. A replica rewrites a stored snapshot
// of an older format, so that its next open is lazy.
func SnapshotVersion(data []byte) int {
	if len(data) < 2 || data[0] != 0x80|5 && data[0] != 0x80|7 || data[1] > 23 {
		return 0
	}
	return int(data[1])
}

// need reads the history of a lazily opened document, if not yet read.
// It is the first line of every method that uses the history.
func (d *Doc) need() error {
	if d.lz == nil {
		return nil
	}
	return d.materialize()
}

// Materialize reads the history and item structure that OpenSnapshot
// deferred, and checks the head against them; nothing for a document
// already read. Methods that need the history call it themselves; a
// caller calls it to learn whether the history reads (the error wraps
// ErrFormat, and stays: the document keeps showing its head's text and
// version and refuses every change).
func (d *Doc) Materialize() error { return d.need() }

func (d *Doc) materialize() error {
	lz := d.lz
	if lz.err != nil {
		return lz.err
	}
	nd, err := loadBody(d.agent, &lz.w)
	if err == nil {
		err = lz.check(nd)
	}
	if err != nil {
		lz.err = fmt.Errorf("%w: snapshot: %v", ErrFormat, err)
		return lz.err
	}
	nd.now = d.now
	*d = *nd
	return nil
}

// check compares a document read from the history with the head.
func (lz *lazyDoc) check(d *Doc) error {
	if d.t.vis != lz.vis || !textEquals(d, lz.text) {
		return fmt.Errorf("the head's text is not the history's")
	}
	for i := range d.h.agents {
		var want uint32
		if i < len(lz.nexts) {
			want = lz.nexts[i]
		}
		if d.h.agents[i].next != want {
			return fmt.Errorf("the head's version is not the history's (agent %q)", d.h.agents[i].name)
		}
	}
	if !slices.Equal(d.Frontier(), lz.front) {
		return fmt.Errorf("the head's frontier is not the history's")
	}
	if d.Title() != lz.title || d.Titled() != lz.titled {
		return fmt.Errorf("the head's title is not the history's")
	}
	return nil
}

// textEquals compares d's text with s leaf by leaf, without building it.
func textEquals(d *Doc, s string) bool {
	for l := d.t.first; l != nil; l = l.next {
		if len(l.text) > len(s) || string(l.text) != s[:len(l.text)] {
			return false
		}
		s = s[len(l.text):]
	}
	return s == ""
}

// version is Version for a document whose history is not read.
func (lz *lazyDoc) version() Version {
	v := make(Version, len(lz.w.Agents))
	for i, n := range lz.nexts {
		if n > 0 {
			v[lz.w.Agents[i]] = uint64(n)
		}
	}
	return v
}

// coveredBy reports whether v has every operation the head's version
// names: a replica at v lacks nothing of this document.
func (lz *lazyDoc) coveredBy(v Version) bool {
	for i, n := range lz.nexts {
		if n > 0 && v[lz.w.Agents[i]] < uint64(n) {
			return false
		}
	}
	return true
}

// snapshotBytes re-encodes the snapshot a lazily opened document was read
// from (its sections still compressed): it is what EncodeSnapshot would
// write.
func (lz *lazyDoc) snapshotBytes() []byte {
	out, err := encMode.Marshal(lz.w)
	if err != nil {
		panic(err) // plain values always encode
	}
	return out
}
