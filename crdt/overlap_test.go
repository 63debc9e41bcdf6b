package crdt

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// The comparison before issue 11, kept as the oracle of the run-wise one:
// both sides expanded seq by seq into atoms and compared.

type atom struct {
	del         bool
	r           rune
	left, right ID
	target      ID
	parents     string // "" when the parent is the predecessor
}

func flatten(t *Txn, limit uint64) []atom {
	var out []atom
	seq := t.Seq
	par := parentsKey(t.Agent, t.Seq, t.Parents)
	add := func(a atom) bool {
		if uint64(len(out)) >= limit {
			return false
		}
		if len(out) == 0 {
			a.parents = par
		}
		out = append(out, a)
		seq++
		return true
	}
	for i := range t.Ops {
		o := &t.Ops[i]
		if o.Kind == OpInsert {
			left, right := o.Left, o.Right
			for _, r := range o.Text {
				if !add(atom{r: r, left: left, right: right}) {
					return out
				}
				left, right = ID{Agent: t.Agent, Seq: seq - 1}, ID{}
			}
			continue
		}
		for k := 0; k < o.Len; k++ {
			if !add(atom{del: true, target: o.targetAt(uint64(k))}) {
				return out
			}
		}
	}
	return out
}

func parentsKey(agent string, seq uint64, ps []ID) string {
	if seq > 0 && len(ps) == 1 && ps[0] == (ID{Agent: agent, Seq: seq - 1}) {
		return ""
	}
	s := "|"
	for _, p := range ps {
		s += fmt.Sprintf("%q/%d|", p.Agent, p.Seq)
	}
	return s
}

func (d *Doc) compareKnownOld(t *Txn, skip uint64) error {
	a := d.h.agentByName[t.Agent]
	var have []*Txn
	for _, r := range d.h.agents[a].runs {
		lo, hi := uint64(r.seq), uint64(r.seq+r.n)
		if hi <= t.Seq || lo >= t.Seq+skip {
			continue
		}
		if lo < t.Seq {
			lo = t.Seq
		}
		if hi > t.Seq+skip {
			hi = t.Seq + skip
		}
		have = d.appendTxns(have, r.lv+uint32(lo)-r.seq, r.lv+uint32(hi)-r.seq)
	}
	var want []atom
	for _, h := range have {
		want = append(want, flatten(h, ^uint64(0))...)
	}
	got := flatten(t, skip)
	if !slices.Equal(got, want) {
		return ErrContradiction
	}
	return nil
}

// randomHistory edits three replicas at random, exchanging transactions
// now and then, and returns one that knows everything.
func randomHistory(rng *rand.Rand) *Doc {
	var ds []*Doc
	for _, a := range []string{"a", "b", "c"} {
		d, _ := New(a)
		ds = append(ds, d)
	}
	alpha := []string{"x", "y", "é", "z", "😀"}
	for step := 0; step < 60; step++ {
		d := ds[rng.Intn(3)]
		switch {
		case rng.Intn(5) == 0:
			o := ds[rng.Intn(3)]
			for _, t := range o.Missing(d.Version()) {
				if _, err := d.Apply(t); err != nil {
					panic(err)
				}
			}
		case d.Len() > 0 && rng.Intn(3) == 0:
			pos := rng.Intn(d.Len())
			n := 1 + rng.Intn(min(d.Len()-pos, 6))
			if rng.Intn(2) == 0 { // backspaces: a reversed run
				for i := 0; i < n && pos > 0; i++ {
					if _, err := d.Delete(pos-1, 1); err != nil {
						panic(err)
					}
					pos--
				}
			} else if _, err := d.Delete(pos, n); err != nil {
				panic(err)
			}
		default:
			var b strings.Builder
			for n := 1 + rng.Intn(4); n > 0; n-- {
				b.WriteString(alpha[rng.Intn(len(alpha))])
			}
			if _, err := d.Insert(rng.Intn(d.Len()+1), b.String()); err != nil {
				panic(err)
			}
		}
	}
	for _, o := range ds[1:] {
		for _, t := range o.Missing(ds[0].Version()) {
			if _, err := ds[0].Apply(t); err != nil {
				panic(err)
			}
		}
	}
	return ds[0]
}

func cloneTxn(t *Txn) *Txn {
	c := *t
	c.Parents = append([]ID(nil), t.Parents...)
	c.Ops = append([]Op(nil), t.Ops...)
	return &c
}

// variants returns transactions that repeat known seqs of d, matching or
// not: its own history cut in other places, merged, split and altered.
func variants(rng *rand.Rand, d *Doc) []*Txn {
	base := d.Missing(Version{})
	var out []*Txn
	for i, t := range base {
		out = append(out, t)
		// Merged with the next transaction of its agent when it follows.
		for _, u := range base[i+1:] {
			if u.Agent == t.Agent && u.Seq == t.Seq+uint64(t.Count()) {
				m := cloneTxn(t)
				m.Ops = append(m.Ops, u.Ops...)
				out = append(out, m)
				break
			}
		}
		// Ops split in two.
		s := cloneTxn(t)
		for j := len(s.Ops) - 1; j >= 0; j-- {
			o := s.Ops[j]
			if o.Count() < 2 {
				continue
			}
			seq := t.Seq
			for _, p := range s.Ops[:j] {
				seq += uint64(p.Count())
			}
			a, b := o, o
			if o.Kind == OpInsert {
				k := skipRunes([]byte(o.Text), 1)
				a.Text, b.Text = o.Text[:k], o.Text[k:]
				b.Left, b.Right = ID{Agent: t.Agent, Seq: seq}, ID{}
			} else {
				a.Len, b.Len = 1, o.Len-1
				a.Rev = false
				b.Target = o.targetAt(1)
				b.Rev = o.Rev && b.Len > 1
			}
			s.Ops = append(s.Ops[:j:j], append([]Op{a, b}, s.Ops[j+1:]...)...)
		}
		out = append(out, s)
		// Starting one seq later.
		if o := t.Ops[0]; o.Count() > 1 {
			l := cloneTxn(t)
			l.Seq++
			l.Parents = []ID{{Agent: t.Agent, Seq: t.Seq}}
			if o.Kind == OpInsert {
				l.Ops[0].Text = o.Text[skipRunes([]byte(o.Text), 1):]
				l.Ops[0].Left, l.Ops[0].Right = ID{Agent: t.Agent, Seq: t.Seq}, ID{}
			} else {
				l.Ops[0].Len--
				l.Ops[0].Target = o.targetAt(1)
				l.Ops[0].Rev = o.Rev && l.Ops[0].Len > 1
			}
			out = append(out, l)
			if rng.Intn(2) == 0 {
				w := cloneTxn(l)
				w.Parents = t.Parents // wrong: not the predecessor
				out = append(out, w)
			}
		}
		// Altered: one field of one op, or the parents.
		for k := 0; k < 3; k++ {
			x := cloneTxn(t)
			o := &x.Ops[rng.Intn(len(x.Ops))]
			switch rng.Intn(6) {
			case 0:
				if len(x.Parents) > 0 {
					x.Parents = x.Parents[:len(x.Parents)-1]
				} else {
					x.Parents = []ID{{Agent: "b", Seq: 0}}
				}
			case 1:
				if o.Kind == OpInsert {
					o.Text = "q" + o.Text[skipRunes([]byte(o.Text), 1):]
				} else {
					o.Target.Seq++
				}
			case 2:
				if o.Kind == OpInsert {
					o.Left = ID{Agent: "a", Seq: uint64(rng.Intn(3))}
				} else if o.Len > 1 {
					o.Rev = !o.Rev
					if o.Rev {
						o.Target.Seq += uint64(o.Len - 1)
					} else {
						o.Target.Seq -= uint64(o.Len - 1)
					}
				}
			case 3:
				if o.Kind == OpInsert {
					o.Right = ID{Agent: "c", Seq: uint64(rng.Intn(3))}
				} else {
					o.Target.Agent = "a"
				}
			case 4:
				if o.Kind == OpInsert {
					o.Text += "z"
				} else {
					o.Len++
				}
			case 5:
				if o.Kind == OpDelete {
					*o = Op{Kind: OpInsert, Text: strings.Repeat("x", o.Len)}
				} else {
					*o = Op{Kind: OpDelete, Target: ID{Agent: "a", Seq: 0}, Len: o.Count()}
				}
			}
			out = append(out, x)
		}
	}
	return out
}

// compareBoth compares the known part of every variant of a random
// history both ways, failing on any disagreement; it returns how many
// matched and how many contradicted.
func compareBoth(t *testing.T, seed int64) (agree, differ int) {
	rng := rand.New(rand.NewSource(seed))
	d := randomHistory(rng)
	for _, x := range variants(rng, d) {
		if validateTxn(x) != nil {
			continue
		}
		known := uint64(d.h.known(x.Agent))
		if x.Seq >= known {
			continue
		}
		n := min(uint64(x.Count()), known-x.Seq)
		want := d.compareKnownOld(x, n)
		steps, got := d.checkKnown(x, n)
		if errors.Is(got, ErrUnchecked) {
			t.Fatalf("seed %d: %+v over budget (%d steps) in a small history", seed, x, steps)
		}
		if (got == nil) != (want == nil) {
			t.Fatalf("seed %d: %+v (first %d seqs): run-wise %v, seq-by-seq %v", seed, x, n, got, want)
		}
		if got != nil && !errors.Is(got, ErrContradiction) {
			t.Fatalf("seed %d: %v is not a contradiction", seed, got)
		}
		if got == nil {
			agree++
		} else {
			differ++
		}
	}
	return agree, differ
}

// TestCompareKnownMatchesExpansion checks the run-wise comparison against
// the seq-by-seq one on the known part of many transactions, matching or
// not.
func TestCompareKnownMatchesExpansion(t *testing.T) {
	agree, differ := 0, 0
	for seed := int64(0); seed < 60; seed++ {
		a, d := compareBoth(t, seed)
		agree, differ = agree+a, differ+d
	}
	if agree < 100 || differ < 100 {
		t.Fatalf("too few cases: %d matching, %d contradicting", agree, differ)
	}
	t.Logf("%d matching, %d contradicting", agree, differ)
}

// FuzzCompareKnown is TestCompareKnownMatchesExpansion on more histories.
func FuzzCompareKnown(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(61))
	f.Fuzz(func(t *testing.T, seed int64) {
		compareBoth(t, seed)
	})
}
