package crdt

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"weft/vocab"
)

// Limits on one transaction, checked before anything is applied.
const (
	MaxTxnOps     = 1 << 16          // ops in one transaction
	MaxTxnParents = vocab.MaxParents // parents of one transaction
	MaxPending    = 1 << 14          // transactions waiting for their parents
)

// Apply integrates a remote transaction and returns the patch a view must
// apply to follow it (and any waiting transactions it unblocked). A
// transaction whose parents are not all known is kept until they arrive;
// seqs already known are checked against the history and skipped, at a
// cost bounded by the transaction's size (overlap.go). A transaction that
// contradicts the history, or is malformed, is rejected with an error and
// changes nothing.
//
// The outcomes a caller can tell apart: a transaction whose seqs are all
// known already (a pure duplicate) returns a nil patch and a nil error, as
// does one buffered until its parents arrive (Pending counts those);
// ErrInvalid is a malformed transaction, ErrContradiction one that
// contradicts known history, ErrUnchecked one that adds new seqs to a
// known part it could not check within its budget, ErrBufferFull a full
// buffer. IsDuplicate tells a pure duplicate before applying it.
func (d *Doc) Apply(t *Txn) (Patch, error) {
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	if err := d.need(); err != nil {
		return nil, err
	}
	p := d.scratch.newPatch()
	if !d.typeOn(t, &p) {
		ok, err := d.apply(t, &p)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := d.pending.add(d, t); err != nil {
				return nil, err
			}
			return nil, nil
		}
	}
	d.drain(t.Agent, &p)
	if len(p) == 0 {
		return nil, nil // as before the slab: no change, no patch
	}
	return p, nil
}

// IsDuplicate reports whether every seq of t is known already: Apply would
// change nothing (it returns nil when t agrees with the history, and
// ErrContradiction when it does not). Its cost is t's size.
func (d *Doc) IsDuplicate(t *Txn) bool {
	if t == nil || t.Seq > MaxSeq || d.need() != nil {
		return false
	}
	return uint64(d.h.known(t.Agent)) >= t.Seq+uint64(t.Count())
}

// drain applies the waiting transactions that agent's progress unblocks,
// and in turn those that theirs unblocks. One that turns out to be invalid
// is dropped: it was accepted as well formed and only its relation to the
// history is wrong.
func (d *Doc) drain(agent string, p *Patch) {
	work := []string{agent}
	for len(work) > 0 {
		a := work[len(work)-1]
		work = work[:len(work)-1]
		for _, t := range d.pending.takeReady(d, a) {
			ok, err := d.apply(t, p)
			switch {
			case err != nil:
				// dropped
			case ok:
				work = append(work, t.Agent)
			default:
				_ = d.pending.add(d, t) // still lacks another dependency; room was just freed
			}
		}
	}
}

// validateTxn checks the shape of a transaction, independent of history.
func validateTxn(t *Txn) error {
	if t == nil {
		return fmt.Errorf("%w: nil transaction", ErrInvalid)
	}
	if err := checkAgentFast(t.Agent); err != nil {
		return err
	}
	// Most IDs name the transaction's agent or the other one named just
	// before (and decoded IDs share their strings, which compare at
	// once): each other name is checked once in a row.
	checked := t.Agent
	check := func(a string) error {
		if a == t.Agent || a == checked {
			return nil
		}
		if err := checkAgentFast(a); err != nil {
			return err
		}
		checked = a
		return nil
	}
	if len(t.Ops) == 0 {
		return fmt.Errorf("%w: transaction %s/%d has no ops", ErrInvalid, t.Agent, t.Seq)
	}
	if len(t.Ops) > MaxTxnOps {
		return fmt.Errorf("%w: transaction has %d ops (at most %d)", ErrInvalid, len(t.Ops), MaxTxnOps)
	}
	if t.Time < 0 || t.Time > MaxTime {
		return fmt.Errorf("%w: transaction %s/%d has time %d (0 to %d)", ErrInvalid, t.Agent, t.Seq, t.Time, int64(MaxTime))
	}
	if len(t.Parents) > MaxTxnParents {
		return fmt.Errorf("%w: transaction has %d parents (at most %d)", ErrInvalid, len(t.Parents), MaxTxnParents)
	}
	for i, p := range t.Parents {
		if err := check(p.Agent); err != nil {
			return fmt.Errorf("parent %d: %w", i, err)
		}
		if p.Seq > MaxSeq {
			return fmt.Errorf("%w: parent seq %d too large", ErrInvalid, p.Seq)
		}
		if i > 0 && !t.Parents[i-1].Less(p) {
			return fmt.Errorf("%w: parents not sorted or repeated at %s/%d", ErrInvalid, p.Agent, p.Seq)
		}
		if p.Agent == t.Agent && p.Seq >= t.Seq {
			return fmt.Errorf("%w: transaction %s/%d names a later op of its own agent as parent", ErrInvalid, t.Agent, t.Seq)
		}
	}
	n := uint64(0)
	for i := range t.Ops {
		o := &t.Ops[i]
		switch o.Kind {
		case OpInsert:
			if o.Text == "" {
				return fmt.Errorf("%w: op %d inserts nothing", ErrInvalid, i)
			}
			c, ok := runeCountValid(o.Text)
			if !ok {
				return fmt.Errorf("%w: op %d inserts invalid UTF-8", ErrInvalid, i)
			}
			n += uint64(c)
			for _, id := range [2]ID{o.Left, o.Right} {
				if !id.IsZero() {
					if err := check(id.Agent); err != nil {
						return fmt.Errorf("op %d origin: %w", i, err)
					}
					if id.Seq > MaxSeq {
						return fmt.Errorf("%w: op %d origin seq %d too large", ErrInvalid, i, id.Seq)
					}
				}
			}
			if o.Target != (ID{}) || o.Len != 0 || o.Rev {
				return fmt.Errorf("%w: insert op %d has delete fields", ErrInvalid, i)
			}
		case OpDelete:
			if o.Len <= 0 || o.Len > MaxSeq {
				return fmt.Errorf("%w: op %d deletes %d items", ErrInvalid, i, o.Len)
			}
			if err := check(o.Target.Agent); err != nil {
				return fmt.Errorf("op %d target: %w", i, err)
			}
			if o.Rev && uint64(o.Len-1) > o.Target.Seq {
				return fmt.Errorf("%w: op %d deletes below seq 0", ErrInvalid, i)
			}
			if !o.Rev && o.Target.Seq+uint64(o.Len) > MaxSeq {
				return fmt.Errorf("%w: op %d target seq too large", ErrInvalid, i)
			}
			if o.Text != "" || o.Left != (ID{}) || o.Right != (ID{}) {
				return fmt.Errorf("%w: delete op %d has insert fields", ErrInvalid, i)
			}
		case OpTitle:
			if err := vocab.CheckTitle(o.Text); err != nil {
				return fmt.Errorf("%w: op %d: %v", ErrInvalid, i, err)
			}
			if o.Target != (ID{}) || o.Len != 0 || o.Rev || o.Left != (ID{}) || o.Right != (ID{}) {
				return fmt.Errorf("%w: title op %d has insert or delete fields", ErrInvalid, i)
			}
		default:
			return fmt.Errorf("%w: op %d has unknown kind %d", ErrInvalid, i, o.Kind)
		}
		if o.Kind != OpInsert {
			n += uint64(o.Count())
		}
	}
	if t.Seq+n > MaxSeq {
		return fmt.Errorf("%w: transaction %s/%d passes the largest seq", ErrInvalid, t.Agent, t.Seq)
	}
	return nil
}

// checkAgentFast is checkAgent, deciding a short ASCII name (most names)
// without the call.
func checkAgentFast(a string) error {
	if len(a) == 0 || len(a) > MaxAgentLen {
		return checkAgent(a)
	}
	for i := 0; i < len(a); i++ {
		if a[i] >= utf8.RuneSelf {
			return checkAgent(a)
		}
	}
	return nil
}

// runeCountValid returns the number of code points in s and whether s is
// valid UTF-8, in one pass over ASCII (most inserted text).
func runeCountValid(s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			if !utf8.ValidString(s[i:]) {
				return 0, false
			}
			return i + utf8.RuneCountInString(s[i:]), true
		}
	}
	return len(s), true
}

// step is one resolved operation of a transaction, ready to apply.
type step struct {
	del    bool
	title  bool   // a title op (text is the title)
	n      uint32 // seqs
	left   uint32 // insert origins (LVs; none = start/end)
	right  uint32
	text   string
	target []lvSpan // delete targets, in op order
	rev    bool
}

type lvSpan struct{ lo, hi uint32 } // [lo, hi)

// newRange is a run of a transaction's own new inserts: seqs [seq, seq+n)
// at LVs [lv, lv+n), the first with originLeft left.
type newRange struct{ seq, lv, n, left uint32 }

// applyScratch is the space apply and resolve reuse from one transaction
// to the next (a remote keystroke allocated each of these before).
type applyScratch struct {
	parents []uint32
	steps   []step
	newIns  []newRange
	targets []lvSpan
	one     [1]uint32
	// changes hands out the first change of each remote transaction's
	// patch, patchSlab at a time (most patches have one change).
	changes []Change
}

const patchSlab = 32

// newPatch returns an empty patch with room for one change: appending a
// second one moves it to its own array, so patches from one slab never
// share a change.
func (s *applyScratch) newPatch() Patch {
	if len(s.changes) == 0 {
		s.changes = make([]Change, patchSlab)
	}
	p := Patch(s.changes[0:0:1])
	s.changes = s.changes[1:]
	return p
}

// apply resolves and applies t. It returns false when t must wait for
// operations not known yet.
func (d *Doc) apply(t *Txn, p *Patch) (bool, error) {
	known := d.h.known(t.Agent)
	if t.Seq > uint64(known) {
		// The agent's previous op must be in the parents' past. If every
		// parent is known, so is that past, and the op is not in it.
		for _, par := range t.Parents {
			if uint64(d.h.known(par.Agent)) <= par.Seq {
				return false, nil // wait for the parents
			}
		}
		return false, fmt.Errorf("%w: %s/%d does not follow %s/%d: it is not in the past of its parents", ErrInvalid, t.Agent, t.Seq, t.Agent, t.Seq-1)
	}
	for _, par := range t.Parents {
		if uint64(d.h.known(par.Agent)) <= par.Seq {
			if t.Seq == uint64(known) {
				return false, nil
			}
			return false, fmt.Errorf("%w: %s/%d names parent %s/%d, unknown here but its seqs are known", ErrContradiction, t.Agent, t.Seq, par.Agent, par.Seq)
		}
	}
	skip := uint64(known) - t.Seq // seqs already known
	count := uint64(t.Count())
	if skip < count && uint64(d.h.end)+count-skip > MaxSeq {
		// Local versions number every operation of every agent in 32
		// bits (with flag bits to spare); MaxSeq bounds each agent's seqs
		// and also the whole history, as snapshots do.
		return false, fmt.Errorf("%w: %s/%d would take the document past %d operations", ErrInvalid, t.Agent, t.Seq, MaxSeq)
	}
	if skip >= count {
		// A duplicate: it must agree with what we know. One too costly to
		// compare is taken for what it claims to be: it changes nothing.
		if err := d.compareKnown(t, count); err != nil && err != errOverBudget {
			return true, err
		}
		return true, nil
	}
	if skip > 0 {
		if err := d.compareKnown(t, skip); err != nil {
			return false, err
		}
	}
	// The frontier the new part was made on: the transaction's parents, or
	// its own last known op when a prefix is already known.
	// (The slices below are scratch space reused from one transaction to
	// the next: nothing keeps them past this call.)
	one := &d.scratch.one
	var parents []uint32
	if skip == 0 {
		parents = d.scratch.parents[:0]
		for _, par := range t.Parents {
			lv, _ := d.h.lvOfID(par)
			parents = append(parents, lv)
		}
		sortU32(parents)
		d.scratch.parents = parents
	} else {
		one[0], _ = d.h.lvOfID(ID{Agent: t.Agent, Seq: t.Seq + skip - 1})
		parents = one[:]
	}
	d.forgetRegion()
	steps, err := d.resolve(t, skip, parents)
	if err != nil {
		d.forgetRegion()
		return false, err
	}

	// Everything is checked: apply.
	d.cur.ok = false // remote changes may shift any leaf
	a := d.h.addAgent(t.Agent)
	if d.h.agents[a].next != uint32(t.Seq+skip) {
		panic("crdt: agent seq moved during apply") // unreachable
	}
	d.moveFrontier(parents)
	seq := uint32(t.Seq + skip)
	d.h.setTime(d.h.end, t.Time)
	for _, s := range steps {
		lv := d.h.end
		if s.title {
			d.h.appendSpan(a, seq, 1, parents)
			d.h.appendTitle(lv, s.text)
			d.addTitle(lv)
		} else if !s.del {
			r := itemRun{lv: lv, n: s.n, left: s.left, right: s.right}
			d.typing.l, d.typing.i, d.typing.pos = d.integrate(r, s.text, t.Agent, seq, p)
			d.h.appendSpan(a, seq, s.n, parents)
			d.h.appendInsert(lv, s.n, s.text)
		} else {
			for _, sp := range s.target {
				n := sp.hi - sp.lo
				d.deleteTargets(sp, s.rev, p)
				x := sp.lo
				if s.rev {
					x = sp.hi - 1
				}
				lv = d.h.end
				d.h.appendSpan(a, seq, n, parents)
				d.h.appendDelete(lv, n, x, s.rev)
				seq += n
				one[0] = d.h.end - 1
				parents = one[:]
			}
			continue
		}
		seq += s.n
		one[0] = d.h.end - 1
		parents = one[:]
	}
	// The next keystroke of the same author continues the run placed last
	// (typeOn), if that was the transaction's last op.
	d.typing.next = none
	if last := steps[len(steps)-1]; !last.del && !last.title {
		d.typing.next = d.h.end
	}
	if count > 256 {
		clear(steps) // drop the texts the scratch space would keep
	}
	d.front = append(d.front, d.h.end-1)
	sortU32(d.front)
	d.keepRegion()
	return true, nil
}

// typeOn applies t at once when it continues the insert applied last,
// with nothing since: t is one insert by the same agent, made on that
// insert's last item alone, with that item as its originLeft and the end
// as its originRight — the next keystroke of a remote author, which is
// most transactions of a live co-editing history (78% of clownschool's
// and friendsforever's in trace order) and of a catch-up. Such a
// transaction needs none of resolve's checks: its parent, its agent's
// previous op and its originLeft are one item, the newest of the
// history, an insert in its own past. And the ordering rule places it
// right after that item: no other item can have the newest one as
// originLeft, so nothing is scanned (localInsert's typing path, for a
// remote author). It reports false, having changed nothing, for every
// other transaction; apply then takes it.
func (d *Doc) typeOn(t *Txn, p *Patch) bool {
	lv := d.h.end
	ty := &d.typing
	if ty.next != lv || lv == 0 || ty.l == nil || ty.i >= ty.l.n || len(t.Ops) != 1 || len(t.Parents) != 1 || t.Seq == 0 {
		return false
	}
	o := &t.Ops[0]
	if o.Kind != OpInsert || !o.Right.IsZero() || o.Left != t.Parents[0] || o.Left.Agent != t.Agent || o.Left.Seq+1 != t.Seq {
		return false
	}
	if r := &ty.l.runs[ty.i]; r.end() != lv || r.deleted() {
		return false
	}
	a, ok := d.h.agentOf(t.Agent)
	if !ok || uint64(d.h.agents[a].next) != t.Seq {
		return false
	}
	if prev, ok := d.h.lvOf(a, uint32(t.Seq-1)); !ok || prev != lv-1 {
		return false
	}
	n := uint32(utf8.RuneCountInString(o.Text)) // validateTxn: 1 or more
	if uint64(lv)+uint64(n) > MaxSeq {
		return false // apply refuses it, saying why
	}
	d.forgetRegion()
	rc := &d.regions
	switch {
	case rc.tipOK && rc.tipHead == lv-1:
		// outside({last}) at the new end is outside({lv-1}) at lv: the
		// new items are in the past of the new head.
		rc.tipHead, rc.tip.end = lv+n-1, lv+n
	case rc.m != nil:
		if r, ok := rc.m[lv-1]; ok {
			delete(rc.m, lv-1)
			r.end = lv + n
			rc.m[lv+n-1] = r
			rc.order = append(rc.order, lv+n-1)
		}
	}
	d.cur.ok = false
	one := &d.scratch.one
	one[0] = lv - 1
	d.moveFrontier(one[:])
	d.h.setTime(lv, t.Time)
	d.typeAfterLast(lv, n, o.Text)
	*p = p.add(Change{Pos: ty.pos, Insert: o.Text})
	ty.pos += int(n)
	d.h.appendSpan(a, uint32(t.Seq), n, one[:])
	d.h.appendInsert(lv, n, o.Text)
	ty.next = d.h.end
	d.front = append(d.front, d.h.end-1)
	sortU32(d.front)
	return true
}

// moveFrontier removes parents from the frontier (the new op depends on them).
func (d *Doc) moveFrontier(parents []uint32) {
	f := d.front[:0]
	for _, lv := range d.front {
		keep := true
		for _, p := range parents {
			if p == lv {
				keep = false
				break
			}
		}
		if keep {
			f = append(f, lv)
		}
	}
	d.front = f
}

func sortU32(s []uint32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// resolve turns the unknown part of t (after skip seqs), made on the
// frontier parents, into steps, checking every reference: each must be an
// insert in the transaction's causal past (or made earlier in the
// transaction), the agent's previous op must be in that past too, and an
// originRight must have the shape the ordering rule gives it (the end, or
// an item whose originLeft is the new item's originLeft). Replicas that
// accepted anything else could order it differently.
func (d *Doc) resolve(t *Txn, skip uint64, parents []uint32) ([]step, error) {
	known := uint32(t.Seq + skip)
	next := d.h.end // LV the next new op will get
	// The part of our history the transaction cannot have seen, computed
	// once and only if a reference needs it.
	var out []lvSpan
	outDone := false
	inPast := func(lv uint32) bool {
		if !outDone {
			out, outDone = d.outsideOf(parents), true
		}
		return !in(out, lv)
	}
	if skip == 0 && t.Seq > 0 {
		prev, _ := d.h.lvOfID(ID{Agent: t.Agent, Seq: t.Seq - 1})
		if !inPast(prev) {
			return nil, fmt.Errorf("%w: %s/%d does not follow %s/%d: it is not in the past of its parents", ErrInvalid, t.Agent, t.Seq, t.Agent, t.Seq-1)
		}
	}
	// newIns are the seq ranges of t's own new inserts so far, for
	// references inside the transaction.
	newIns := d.scratch.newIns[:0]
	defer func() { d.scratch.newIns = newIns[:0] }()
	refNew := func(seq uint64) (lv, left uint32, ok bool) {
		for _, r := range newIns {
			if seq >= uint64(r.seq) && seq < uint64(r.seq+r.n) {
				lv = r.lv + uint32(seq) - r.seq
				left = lv - 1
				if lv == r.lv {
					left = r.left
				}
				return lv, left, true
			}
		}
		return 0, 0, false
	}
	// ref resolves an item ID to the LV of an insert and, when needLeft,
	// that item's originLeft (a lookup in the content tree).
	ref := func(id ID, what string, needLeft bool) (uint32, uint32, error) {
		if id.Agent == t.Agent && id.Seq >= uint64(known) {
			if lv, left, ok := refNew(id.Seq); ok {
				return lv, left, nil
			}
			return 0, 0, fmt.Errorf("%w: %s/%d: %s %s/%d is not an earlier insert of this transaction", ErrInvalid, t.Agent, t.Seq, what, id.Agent, id.Seq)
		}
		lv, ok := d.h.lvOfID(id)
		if !ok {
			return 0, 0, fmt.Errorf("%w: %s/%d: %s %s/%d is unknown", ErrInvalid, t.Agent, t.Seq, what, id.Agent, id.Seq)
		}
		// Only inserts make items. When the item's originLeft is wanted,
		// the tree that holds it (if and only if it is an insert) tells;
		// otherwise the history's op runs (a search in one array, where
		// the tree costs a search and a leaf).
		var l *leaf
		var i int
		if needLeft {
			l, i, ok = d.itemAt(lv)
		} else {
			ok = !d.h.ops[d.h.opAt(lv)].isDel()
		}
		if !ok {
			return 0, 0, fmt.Errorf("%w: %s/%d: %s %s/%d is a delete, not an item", ErrInvalid, t.Agent, t.Seq, what, id.Agent, id.Seq)
		}
		if !inPast(lv) {
			return 0, 0, fmt.Errorf("%w: %s/%d: %s %s/%d is not in its causal past", ErrInvalid, t.Agent, t.Seq, what, id.Agent, id.Seq)
		}
		if !needLeft {
			return lv, none, nil
		}
		r := &l.runs[i]
		return lv, r.leftOf(int(lv - r.lv)), nil
	}

	steps := d.scratch.steps[:0]
	targets := d.scratch.targets[:0]
	defer func() { d.scratch.steps, d.scratch.targets = steps[:0], targets[:0] }()
	seq := t.Seq
	for i := range t.Ops {
		o := &t.Ops[i]
		c := uint64(o.Count())
		if seq+c <= uint64(known) {
			seq += c
			continue
		}
		k := uint64(0) // leading seqs of this op already known
		if seq < uint64(known) {
			k = uint64(known) - seq
		}
		switch o.Kind {
		case OpInsert:
			s := step{n: uint32(c - k), left: none, right: none}
			text := o.Text
			if k > 0 {
				// The rest of a run already partly known: it continues
				// from its last known item, with the end as originRight.
				text = text[skipRunes([]byte(text), int(k)):]
				s.left, _ = d.h.lvOfID(ID{Agent: t.Agent, Seq: seq + k - 1})
			} else {
				if !o.Left.IsZero() {
					lv, _, err := ref(o.Left, "originLeft", false)
					if err != nil {
						return nil, err
					}
					s.left = lv
				}
				if !o.Right.IsZero() {
					lv, rl, err := ref(o.Right, "originRight", true)
					if err != nil {
						return nil, err
					}
					if rl != s.left {
						return nil, fmt.Errorf("%w: %s/%d: originRight %s/%d does not share the insert's originLeft", ErrInvalid, t.Agent, seq, o.Right.Agent, o.Right.Seq)
					}
					s.right = lv
				}
			}
			s.text = text
			newIns = append(newIns, newRange{uint32(seq + k), next, s.n, s.left})
			next += s.n
			steps = append(steps, s)
		case OpTitle:
			steps = append(steps, step{title: true, n: 1, text: o.Text})
			next++
		case OpDelete:
			s := step{del: true, n: uint32(c - k), rev: o.Rev}
			t0 := len(targets)
			// Resolve target by target run: consecutive seqs of one agent
			// map to a few LV ranges.
			for j := uint64(0); j < c-k; {
				tg := o.targetAt(k + j)
				ts := tg.Seq
				lv, _, err := ref(tg, "delete target", false)
				if err != nil {
					return nil, err
				}
				m := uint64(1)
				if o.Target.Agent != t.Agent || ts < uint64(known) {
					// A known target (ref computed out): extend run-wise,
					// as far as the LVs follow, are inserts and are in
					// the past; the next round reports what stops it.
					m = d.targetRun(lv, ts, o.Target.Agent, c-k-j, o.Rev, out)
				}
				// The transaction's own new inserts: extend while the next
				// target's LV follows (they are paid for by its text).
				for j+m < c-k && o.Target.Agent == t.Agent && ts >= uint64(known) {
					nlv, _, err := ref(o.targetAt(k+j+m), "delete target", false)
					if err != nil {
						return nil, err
					}
					want := lv + uint32(m)
					if o.Rev {
						want = lv - uint32(m)
					}
					if nlv != want {
						break
					}
					m++
				}
				if o.Rev {
					targets = append(targets, lvSpan{lv - uint32(m) + 1, lv + 1})
				} else {
					targets = append(targets, lvSpan{lv, lv + uint32(m)})
				}
				j += m
			}
			// Earlier steps keep their targets even if targets moves on
			// append: the old backing array stays as it was.
			s.target = targets[t0:len(targets):len(targets)]
			next += s.n
			steps = append(steps, s)
		}
		seq += c
	}
	return steps, nil
}

// targetRun returns how many delete targets from lv (known; seq ts of
// agent x, an insert in the transaction's past), at most want of them,
// counting down when rev, are consecutive seqs at consecutive LVs, inserts
// and outside out (the part of the history the transaction has not seen).
// Its cost is the number of runs the stretch crosses, never its length.
func (d *Doc) targetRun(lv uint32, ts uint64, x string, want uint64, rev bool, out []lvSpan) uint64 {
	if want == 1 {
		return 1 // lv itself is an insert in the past: ref checked it
	}
	h := &d.h
	a, _ := h.agentOf(x)
	rs := h.agents[a].runs
	k := sort.Search(len(rs), func(i int) bool { return rs[i].seq > uint32(ts) }) - 1
	m := uint64(rs[k].seq + rs[k].n - uint32(ts)) // consecutive LVs up
	if rev {
		m = uint64(uint32(ts)-rs[k].seq) + 1 // and down
	}
	if want < m {
		m = want
	}
	// Inserts only: stop before the first delete.
	j := h.opAt(lv)
	if !rev {
		for ; j < len(h.ops) && uint64(h.ops[j].lv) < uint64(lv)+m; j++ {
			if h.ops[j].isDel() {
				m = uint64(h.ops[j].lv - lv)
				break
			}
		}
	} else {
		lo := uint64(lv) + 1 - m
		for ; j >= 0 && uint64(h.ops[j].lv)+uint64(h.ops[j].len()) > lo; j-- {
			if h.ops[j].isDel() {
				m = uint64(lv - (h.ops[j].lv + uint32(h.ops[j].len()) - 1))
				break
			}
		}
	}
	// In the past only: stop before the first LV of out.
	if !rev {
		i := sort.Search(len(out), func(i int) bool { return out[i].hi > lv })
		if i < len(out) && uint64(out[i].lo) < uint64(lv)+m {
			m = uint64(out[i].lo - lv)
		}
	} else {
		i := sort.Search(len(out), func(i int) bool { return out[i].lo > lv }) - 1
		if i >= 0 && uint64(out[i].hi) > uint64(lv)+1-m {
			m = uint64(lv - (out[i].hi - 1))
		}
	}
	return m
}

// itemAt returns the leaf and run holding item lv; ok is false when lv is
// no item (a delete or title op, which the tree does not hold).
func (d *Doc) itemAt(lv uint32) (l *leaf, i int, ok bool) {
	ix := d.index()
	if len(ix.chunks) == 0 {
		return nil, 0, false
	}
	if l = ix.lookup(lv); l == nil {
		return nil, 0, false
	}
	for i = 0; i < l.n; i++ {
		if r := &l.runs[i]; lv >= r.lv && lv < r.end() {
			return l, i, true
		}
	}
	return nil, 0, false
}

// integrate places a new run of items after its originLeft, among
// concurrent items, by the ordering rule of DESIGN.md.
//
// It returns the leaf and run that hold the new items and the visible
// position after them.
func (d *Doc) integrate(r itemRun, text, agent string, seq uint32, p *Patch) (*leaf, int, int) {
	ix := d.index()
	L, R := r.left, r.right
	var c cursor
	if L == none {
		c = cursor{d.t.first, 0, 0}
	} else {
		l := ix.lookup(L)
		i := l.findRun(L)
		c = cursor{l, i, int(L-l.runs[i].lv) + 1}
	}
	dest := c
	scanning := false
	first := true
scan:
	for {
		cc, ok := c.normalizeFrom()
		if !ok {
			break
		}
		c = cc
		run := &c.l.runs[c.i]
		o := run.lv + uint32(c.off)
		if o == R {
			break
		}
		oLeft := run.leftOf(c.off)
		if oLeft == L {
			oRight := run.rightOf(c.off)
			switch {
			case oRight == R:
				if d.idLess(agent, seq, o) {
					break scan // ours is smaller: it goes here, left of o
				}
				scanning = false
			case d.rightBefore(oRight, R):
				scanning = true
			default:
				scanning = false
			}
		} else if L != none && (first || oLeft == none || !d.itemBefore(L, oLeft)) {
			break // o's originLeft lies left of ours
		}
		first = false
		// The rest of o's run has originLefts inside the run, right of
		// ours: scanning is unchanged. Stop at R if it is in this run.
		end := run.len()
		if R != none && R > o && R < run.end() {
			end = int(R - run.lv)
		}
		c.off = end
		if !scanning {
			dest = c
		}
	}
	pos := dest.l.start() + dest.l.visBefore(dest.i)
	if dest.l.n > 0 && !dest.l.runs[dest.i].deleted() {
		pos += dest.off
	}
	l, i := d.place(dest.l, dest.i, dest.off, r, text)
	*p = p.add(Change{Pos: pos, Insert: text})
	return l, i, pos + r.len()
}

// deleteTargets turns the visible items of LVs [sp.lo, sp.hi) into
// tombstones, adding the changes to p (in op order: backwards when rev).
func (d *Doc) deleteTargets(sp lvSpan, rev bool, p *Patch) {
	ix := d.index()
	lo, hi := sp.lo, sp.hi
	for lo < hi {
		var lv uint32
		if rev {
			lv = hi - 1
		} else {
			lv = lo
		}
		l := ix.lookup(lv)
		i := l.findRun(lv)
		r := &l.runs[i]
		// The part of [lo, hi) inside this run.
		a, b := lo, hi
		if a < r.lv {
			a = r.lv
		}
		if b > r.end() {
			b = r.end()
		}
		if !r.deleted() {
			d.t.markDeleted(l, i, int(a-r.lv), int(b-a), ix, p)
		}
		if rev {
			hi = a
		} else {
			lo = b
		}
	}
}

// findRun returns the index of the run of l holding item lv.
func (l *leaf) findRun(lv uint32) int {
	for i := 0; i < l.n; i++ {
		if r := &l.runs[i]; lv >= r.lv && lv < r.end() {
			return i
		}
	}
	panic("crdt: index points at a leaf without the item") // unreachable
}

// itemBefore reports whether item a comes before item b in the sequence.
func (d *Doc) itemBefore(a, b uint32) bool {
	ix := d.index()
	la, lb := ix.lookup(a), ix.lookup(b)
	if la != lb {
		return leafBefore(la, lb)
	}
	ia, ib := la.findRun(a), la.findRun(b)
	if ia != ib {
		return ia < ib
	}
	return a < b
}

// rightBefore reports whether originRight x lies left of originRight y
// (none is the document end).
func (d *Doc) rightBefore(x, y uint32) bool {
	if x == none {
		return false
	}
	if y == none {
		return true
	}
	return d.itemBefore(x, y)
}

// idLess reports whether (agent, seq) is smaller than the ID of item lv.
func (d *Doc) idLess(agent string, seq uint32, lv uint32) bool {
	a, s := d.h.idOf(lv)
	name := d.h.agents[a].name
	if agent != name {
		return agent < name
	}
	return seq < s
}
