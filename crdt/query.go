package crdt

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// History queries: the text at any version, the version at a time,
// editing sessions, blame and what changed between two versions.
//
// They read the history and the content tree as they are, never by
// replaying: the order of items in the tree is the order they have at
// every version (an item present at a version has the same neighbours
// among the items present there), so the text at a version is the tree's
// items, in order, that the version inserted and did not delete. What a
// query builds is paid once per document state (queryIndex: the item
// runs in document order with their content offsets, rebuilt when the
// history grew) or once per call and linear in the history (the LVs in a
// version's causal past, and which of them delete what), with no work per
// transaction of history.
//
// Times are the authors' claims (Txn.Time): VersionAt and Sessions use
// them as given, and a wrong clock misplaces its own edits in both, never
// anyone else's text.

// sessionGap is the longest pause between two transactions of one author
// that keeps them in one session.
const sessionGap = 5 * 60 * 1000 // ms

// String prints the frontier in the one printable form of a version:
// its IDs as agent@seq, sorted, joined by ","; the agent percent-encoded
// (every byte but ASCII letters, digits and "-._~"). The empty frontier
// (the empty document, before any operation) prints as "0".
func (f Frontier) String() string {
	if len(f) == 0 {
		return "0"
	}
	ids := append(Frontier(nil), f...)
	sortIDs(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(id.Agent); j++ {
			c := id.Agent[j]
			if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		b.WriteByte('@')
		b.WriteString(strconv.FormatUint(id.Seq, 10))
	}
	return b.String()
}

// ParseFrontier reads a version printed by Frontier.String. It checks the
// form only (agent names, seqs in range, no ID twice); whether a document
// knows the IDs is the query's to say.
func ParseFrontier(s string) (Frontier, error) {
	if s == "0" {
		return Frontier{}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("%w: empty version (the empty document is \"0\")", ErrInvalid)
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxTxnParents {
		return nil, fmt.Errorf("%w: version of %d IDs (at most %d)", ErrInvalid, len(parts), MaxTxnParents)
	}
	f := make(Frontier, 0, len(parts))
	for _, p := range parts {
		at := strings.LastIndexByte(p, '@')
		if at <= 0 {
			return nil, fmt.Errorf("%w: version part %q is not agent@seq", ErrInvalid, p)
		}
		agent, err := unescapeAgent(p[:at])
		if err != nil {
			return nil, fmt.Errorf("%w: version part %q: %v", ErrInvalid, p, err)
		}
		if err := checkAgent(agent); err != nil {
			return nil, err
		}
		seq, err := strconv.ParseUint(p[at+1:], 10, 64)
		if err != nil || seq > MaxSeq {
			return nil, fmt.Errorf("%w: version part %q has no valid seq", ErrInvalid, p)
		}
		f = append(f, ID{Agent: agent, Seq: seq})
	}
	sortIDs(f)
	for i := 1; i < len(f); i++ {
		if f[i] == f[i-1] {
			return nil, fmt.Errorf("%w: version names %s@%d twice", ErrInvalid, f[i].Agent, f[i].Seq)
		}
	}
	return f, nil
}

func unescapeAgent(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated %% escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad %% escape %q", s[i:i+3])
		}
		b = append(b, byte(v))
		i += 2
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("agent is not UTF-8")
	}
	return string(b), nil
}

// queryIndex is what history queries share for one document state.
type queryIndex struct {
	end   uint32     // h.end it was built for
	order []orderRun // item runs in document order, each within one insert op run
}

// orderRun is a run of items with consecutive LVs, in document order, and
// the byte offset of the first one's content in history.content.
type orderRun struct{ lo, hi, b uint32 }

func (d *Doc) queries() *queryIndex {
	if d.qix != nil && d.qix.end == d.h.end {
		return d.qix
	}
	h := &d.h
	q := &queryIndex{end: h.end}
	if d.runes == nil {
		d.runes = &runeIndex{}
	}
	for l := d.t.first; l != nil; l = l.next {
		for i := 0; i < l.n; i++ {
			r := &l.runs[i]
			for lo, hi := r.lv, r.end(); lo < hi; {
				j := h.opAt(lo)
				o := &h.ops[j]
				e := min(hi, o.lv+uint32(o.len()))
				q.order = append(q.order, orderRun{lo, e, uint32(d.runes.offset(h, j, lo-o.lv))})
				lo = e
			}
		}
	}
	d.qix = q
	return q
}

// lvSet is a set of LVs as a bitset over [0, h.end).
type lvSet []uint64

func newLVSet(end uint32) lvSet { return make(lvSet, (end+63)/64) }

func (s lvSet) has(lv uint32) bool { return s[lv>>6]&(1<<(lv&63)) != 0 }
func (s lvSet) add(lv uint32)      { s[lv>>6] |= 1 << (lv & 63) }
func (s lvSet) addRange(lo, hi uint32) {
	for ; lo < hi && lo&63 != 0; lo++ {
		s.add(lo)
	}
	for ; lo+64 <= hi; lo += 64 {
		s[lo>>6] = ^uint64(0)
	}
	for ; lo < hi; lo++ {
		s.add(lo)
	}
}

// resolveFrontier turns a frontier into LVs; every ID must be known.
func (d *Doc) resolveFrontier(f Frontier) ([]uint32, error) {
	lvs := make([]uint32, 0, len(f))
	for _, id := range f {
		lv, ok := d.h.lvOfID(id)
		if !ok {
			return nil, fmt.Errorf("%w: version names %s@%d, which this document does not have", ErrInvalid, id.Agent, id.Seq)
		}
		lvs = append(lvs, lv)
	}
	return lvs, nil
}

// past returns the causal past of the LVs (themselves included): walking
// back parent run by parent run, each visited once.
func (d *Doc) past(lvs []uint32) lvSet {
	h := &d.h
	in := newLVSet(h.end)
	var q lvHeap
	for _, lv := range lvs {
		q.push(lv, inA)
	}
	for q.Len() > 0 {
		lv, _ := q.pop()
		if in.has(lv) {
			continue
		}
		k := h.parentRunAt(lv)
		start := h.parents[k].lv
		// LVs start..lv are one chain; stop where an earlier walk came.
		lo := start
		for x := lv; x > start; x-- {
			if in.has(x - 1) {
				lo = x
				break
			}
		}
		in.addRange(lo, lv+1)
		if lo == start {
			for _, p := range h.pool[h.parents[k].ps:h.parents[k].pe] {
				if !in.has(p) {
					q.push(p, inA)
				}
			}
		}
	}
	return in
}

// deleters returns, for every item a delete in the set deletes, the
// largest LV in the set that deletes it (none: not deleted there).
func (d *Doc) deleters(in lvSet) []uint32 {
	h := &d.h
	by := make([]uint32, h.end)
	for i := range by {
		by[i] = none
	}
	for k := range h.ops {
		o := &h.ops[k]
		if !o.isDel() || o.isTitle() {
			continue
		}
		for i := 0; i < o.len(); i++ {
			lv := o.lv + uint32(i)
			if !in.has(lv) {
				continue
			}
			t := o.target(i)
			if by[t] == none || by[t] < lv {
				by[t] = lv
			}
		}
	}
	return by
}

// at resolves f and returns its causal past and who deletes what in it.
func (d *Doc) at(f Frontier) (lvSet, []uint32, error) {
	lvs, err := d.resolveFrontier(f)
	if err != nil {
		return nil, nil, err
	}
	in := d.past(lvs)
	return in, d.deleters(in), nil
}

// visit calls fn for every item in document order that the set inserted,
// with its content and whether it is visible there (not deleted in it).
func (d *Doc) visit(in lvSet, del []uint32, fn func(lv uint32, r rune, visible bool)) {
	q := d.queries()
	c := d.h.content
	for _, o := range q.order {
		b := int(o.b)
		for lv := o.lo; lv < o.hi; lv++ {
			r, sz := rune(c[b]), 1
			if r >= utf8.RuneSelf {
				r, sz = utf8.DecodeRune(c[b:])
			}
			b += sz
			if in.has(lv) {
				fn(lv, r, del[lv] == none)
			}
		}
	}
}

// TextAt returns the text at version f (a frontier of this document's
// history: the text made by the operations in its causal past).
func (d *Doc) TextAt(f Frontier) (string, error) {
	if err := d.need(); err != nil {
		return "", err
	}
	in, del, err := d.at(f)
	if err != nil {
		return "", err
	}
	q := d.queries()
	c := d.h.content
	var b strings.Builder
	for _, o := range q.order {
		// Whole runs of visible ASCII-or-not content are copied at once.
		p := int(o.b)
		start, run := p, false
		for lv := o.lo; lv < o.hi; lv++ {
			sz := 1
			if c[p] >= utf8.RuneSelf {
				_, sz = utf8.DecodeRune(c[p:])
			}
			vis := in.has(lv) && del[lv] == none
			if vis && !run {
				start, run = p, true
			} else if !vis && run {
				b.Write(c[start:p])
				run = false
			}
			p += sz
		}
		if run {
			b.Write(c[start:p])
		}
	}
	return b.String(), nil
}

// VersionAt returns the version of the document at time ms: the largest
// causally closed set of operations whose transactions' times are all at
// most ms (an operation whose own time is later, or that depends on one,
// is left out), as its frontier. Times are the authors' claims, unchecked:
// an author whose clock was wrong has its edits (and those made on top of
// them) placed by that clock.
func (d *Doc) VersionAt(ms int64) Frontier {
	if d.need() != nil {
		return nil
	}
	h := &d.h
	in := newLVSet(h.end)
	// LV order is a causal order: one pass decides each LV from its
	// parents. Inside a parent run each LV's parent is the previous LV,
	// so the run's included part is a prefix.
	var ends []uint32 // last included LV of each parent run's prefix
	for k := range h.parents {
		pr := h.parents[k]
		hi := h.end
		if k+1 < len(h.parents) {
			hi = h.parents[k+1].lv
		}
		ok := true
		for _, p := range h.pool[pr.ps:pr.pe] {
			ok = ok && in.has(p)
		}
		if !ok {
			continue
		}
		lv := pr.lv
		for lv < hi {
			t, te := h.timeAt(lv)
			if t > ms {
				break
			}
			lv = min(hi, te)
		}
		if lv > pr.lv {
			in.addRange(pr.lv, lv)
			ends = append(ends, lv-1)
		}
	}
	// The frontier: those prefix ends that no included run names as a
	// parent, nor continues.
	named := map[uint32]bool{}
	for k := range h.parents {
		pr := h.parents[k]
		if in.has(pr.lv) {
			for _, p := range h.pool[pr.ps:pr.pe] {
				named[p] = true
			}
		}
	}
	var f Frontier
	for _, e := range ends {
		if !named[e] {
			f = append(f, h.id(e))
		}
	}
	sortIDs(f)
	return f
}

// Session is an author's run of transactions with no pause of
// sessionGap (5 minutes) or more between consecutive ones.
type Session struct {
	Agent    string
	Start    int64 // the earliest and latest time of its transactions (ms; 0 unknown)
	End      int64
	Txns     int      // transactions (as the history keeps them: runs of one time on the author's own previous op)
	Inserted int      // code points inserted
	Deleted  int      // code points deleted
	Titles   int      // renames
	Version  Frontier // the version right after its last operation (its causal past)
	last     uint32
}

// Sessions returns the editing sessions that end at or after sinceMs (0:
// all), newest first (by end time, then by when this replica learnt of
// them).
func (d *Doc) Sessions(sinceMs int64) []Session {
	if d.need() != nil {
		return nil
	}
	h := &d.h
	// Pieces: runs of LVs of one agent and one time, each on its agent's
	// previous op or not (a new transaction).
	cur := make([]int, len(h.agents)) // agent → index+1 of its open session
	prevT := make([]int64, len(h.agents))
	var out []Session
	// One pass in LV order, with a cursor on each run-length array.
	ka, kt, kp, ko := 0, -1, 0, 0
	next := func(k int, n int, at func(int) uint32) uint32 {
		if k+1 < n {
			return at(k + 1)
		}
		return h.end
	}
	for lv := uint32(0); lv < h.end; {
		for ka+1 < len(h.lvAgents) && h.lvAgents[ka+1].lv <= lv {
			ka++
		}
		for kt+1 < len(h.times) && h.times[kt+1].lv <= lv {
			kt++
		}
		for kp+1 < len(h.parents) && h.parents[kp+1].lv <= lv {
			kp++
		}
		ar := h.lvAgents[ka]
		var t int64
		if kt >= 0 {
			t = h.times[kt].ms
		}
		end := next(ka, len(h.lvAgents), func(i int) uint32 { return h.lvAgents[i].lv })
		end = min(end, next(kt, len(h.times), func(i int) uint32 { return h.times[i].lv }))
		end = min(end, next(kp, len(h.parents), func(i int) uint32 { return h.parents[i].lv }))
		seq := ar.seq + lv - ar.lv
		// A new transaction unless this continues the agent's previous op
		// at the same time.
		var cont bool
		if pr := h.parents[kp]; pr.lv == lv {
			ps := h.pool[pr.ps:pr.pe]
			if seq > 0 && len(ps) == 1 {
				pa, psq := h.idOf(ps[0])
				cont = pa == ar.agent && psq == seq-1
			}
		} else {
			cont = lv > ar.lv // the previous LV, of the same agent run
		}
		a := ar.agent
		s := cur[a] - 1
		newTxn := !cont || prevT[a] != t || s < 0
		gap := t - prevT[a]
		if s < 0 || gap >= sessionGap || -gap >= sessionGap {
			out = append(out, Session{Agent: h.agents[a].name, Start: t, End: t})
			s = len(out) - 1
			cur[a] = s + 1
			newTxn = true
		}
		ss := &out[s]
		if newTxn {
			ss.Txns++
		}
		ss.Start, ss.End = min(ss.Start, t), max(ss.End, t)
		prevT[a] = t
		for x := lv; x < end; {
			for ko+1 < len(h.ops) && h.ops[ko+1].lv <= x {
				ko++
			}
			o := &h.ops[ko]
			e := min(end, o.lv+uint32(o.len()))
			switch {
			case o.isTitle():
				ss.Titles += int(e - x)
			case o.isDel():
				ss.Deleted += int(e - x)
			default:
				ss.Inserted += int(e - x)
			}
			x = e
		}
		ss.last = end - 1
		lv = end
	}
	res := out[:0]
	for _, s := range out {
		if s.End >= sinceMs {
			s.Version = Frontier{h.id(s.last)}
			res = append(res, s)
		}
	}
	sort.SliceStable(res, func(i, j int) bool {
		if res[i].End != res[j].End {
			return res[i].End > res[j].End
		}
		return res[i].last > res[j].last
	})
	for i := range res {
		res[i].last = 0
	}
	return res
}

// BlameLine is one line of the text at a version and the operation that
// last changed it.
type BlameLine struct {
	Line int    // 1-based
	Text string // without its newline
	By   ID     // the operation: the latest insert of one of its code points (its newline included) or delete between them
	Time int64  // that operation's transaction's time (ms; 0 unknown)
}

// Blame returns each line of the text at version f with the operation
// that last changed it: of the inserts of its code points (the newline
// that ends it included) and the deletes, in f's past, of items that lay
// among them, the latest. "Latest" is in this replica's integration order,
// which respects causality: an operation made after seeing another is
// always later. Of concurrent ones, replicas that integrated them in
// different orders may name different ones.
func (d *Doc) Blame(f Frontier) ([]BlameLine, error) {
	if err := d.need(); err != nil {
		return nil, err
	}
	in, del, err := d.at(f)
	if err != nil {
		return nil, err
	}
	var lines []BlameLine
	var text []byte
	best := none
	open := false // the line has a code point
	flush := func() {
		lines = append(lines, BlameLine{Line: len(lines) + 1, Text: string(text), By: d.h.id(best), Time: d.timeOf(best)})
		text, best, open = text[:0], none, false
	}
	later := func(lv uint32) {
		if best == none || lv > best {
			best = lv
		}
	}
	d.visit(in, del, func(lv uint32, r rune, visible bool) {
		if !visible {
			later(del[lv])
			return
		}
		later(lv)
		open = true
		if r == '\n' {
			flush()
			return
		}
		text = utf8.AppendRune(text, r)
	})
	if open {
		flush()
	}
	return lines, nil
}

func (d *Doc) timeOf(lv uint32) int64 {
	t, _ := d.h.timeAt(lv)
	return t
}

// Span is a run of code points of a text and the agent that inserted them.
type Span struct {
	Start, Len int // in code points
	Agent      string
}

// Inserted returns the code points of the text at version to that were
// inserted by operations not in the past of version from, as spans (in
// order, adjacent ones of one agent merged).
func (d *Doc) Inserted(from, to Frontier) ([]Span, error) {
	if err := d.need(); err != nil {
		return nil, err
	}
	fl, err := d.resolveFrontier(from)
	if err != nil {
		return nil, err
	}
	in, del, err := d.at(to)
	if err != nil {
		return nil, err
	}
	old := d.past(fl)
	var out []Span
	pos := 0
	d.visit(in, del, func(lv uint32, _ rune, visible bool) {
		if !visible {
			return
		}
		if !old.has(lv) {
			a, _ := d.h.idOf(lv)
			name := d.h.agents[a].name
			if n := len(out); n > 0 && out[n-1].Agent == name && out[n-1].Start+out[n-1].Len == pos {
				out[n-1].Len++
			} else {
				out = append(out, Span{Start: pos, Len: 1, Agent: name})
			}
		}
		pos++
	})
	return out, nil
}

// HasVersion reports whether every ID of f is an operation of this
// document.
func (d *Doc) HasVersion(f Frontier) bool {
	if d.need() != nil {
		return false
	}
	_, err := d.resolveFrontier(f)
	return err == nil
}
