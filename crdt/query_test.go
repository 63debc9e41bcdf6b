package crdt_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"weft/crdt"
	"weft/internal/trace"
)

// The history queries (query.go) against simple references: the history
// replayed, operation by operation, into a fresh crdt.Doc (the text) and a
// refDoc (items, tombstones and who deleted them) cut at the version.

// histRef is the reference's view of one document's whole history: every
// transaction in the fast replica's integration order (so that the
// reference's order of atoms is the fast one's order of LVs).
type histRef struct {
	txns []*crdt.Txn
	full *refDoc
}

func newHistRef(t testing.TB, d *crdt.Doc) *histRef {
	r := &histRef{txns: d.Missing(crdt.Version{}), full: newRef("ref", ruleDesign)}
	for _, tx := range r.txns {
		if _, err := r.full.Apply(cloneTxn(tx)); err != nil {
			t.Fatalf("reference rejects %s: %v", canonTxn(tx), err)
		}
	}
	return r
}

// truncTxn is the first k seqs of t.
func truncTxn(t *crdt.Txn, k int) *crdt.Txn {
	c := cloneTxn(t)
	c.Ops = nil
	for _, o := range t.Ops {
		if k == 0 {
			break
		}
		n := o.Count()
		if n > k {
			if o.Kind == crdt.OpInsert {
				o.Text = string([]rune(o.Text)[:k])
			} else {
				o.Len = k
			}
			n = k
		}
		c.Ops = append(c.Ops, o)
		k -= n
	}
	return c
}

// at replays the history cut at version f into a fresh Doc and a refDoc.
func (r *histRef) at(t testing.TB, f crdt.Frontier) (*crdt.Doc, *refDoc) {
	vv := r.full.past(f)
	d, _ := crdt.New("replay")
	ref := newRef("replay", ruleDesign)
	for _, tx := range r.txns {
		k := int(min(max(int64(vv[tx.Agent])-int64(tx.Seq), 0), int64(tx.Count())))
		if k == 0 {
			continue
		}
		c := truncTxn(tx, k)
		if _, err := d.Apply(cloneTxn(c)); err != nil {
			t.Fatalf("replay to %s: %v", f, err)
		}
		if _, err := ref.Apply(c); err != nil {
			t.Fatalf("reference replay to %s: %v", f, err)
		}
	}
	return d, ref
}

// blame is the reference blame: per line, the latest (in integration
// order) insert of its code points or delete of an item among them.
func (r *histRef) blame(ref *refDoc) []crdt.BlameLine {
	pos := map[crdt.ID]int{}
	for i, id := range ref.order {
		pos[id] = i
	}
	deleter := map[crdt.ID]int{}
	for _, id := range ref.order {
		if a := ref.atoms[id]; !a.insert && !a.title {
			if p, ok := deleter[a.target]; !ok || p < pos[id] {
				deleter[a.target] = pos[id]
			}
		}
	}
	var lines []crdt.BlameLine
	var text []rune
	best, open := -1, false
	for _, it := range ref.items {
		p := pos[it.id]
		if it.deleted {
			p = deleter[it.id]
		}
		best = max(best, p)
		if it.deleted {
			continue
		}
		open = true
		if it.r != '\n' {
			text = append(text, it.r)
			continue
		}
		id := ref.order[best]
		lines = append(lines, crdt.BlameLine{Line: len(lines) + 1, Text: string(text), By: id, Time: ref.atoms[id].time})
		text, best, open = nil, -1, false
	}
	if open {
		id := ref.order[best]
		lines = append(lines, crdt.BlameLine{Line: len(lines) + 1, Text: string(text), By: id, Time: ref.atoms[id].time})
	}
	return lines
}

// inserted is the reference of Inserted.
func (r *histRef) inserted(to *refDoc, from crdt.Frontier) []crdt.Span {
	old := r.full.past(from)
	var out []crdt.Span
	p := 0
	for _, it := range to.items {
		if it.deleted {
			continue
		}
		if !old.Contains(it.id) {
			if n := len(out); n > 0 && out[n-1].Agent == it.id.Agent && out[n-1].Start+out[n-1].Len == p {
				out[n-1].Len++
			} else {
				out = append(out, crdt.Span{Start: p, Len: 1, Agent: it.id.Agent})
			}
		}
		p++
	}
	return out
}

// versionAt is the reference of VersionAt, atom by atom.
func (r *histRef) versionAt(ms int64) crdt.Frontier {
	in := map[crdt.ID]bool{}
	for _, id := range r.full.order {
		a := r.full.atoms[id]
		ok := a.time <= ms
		for _, p := range a.parents {
			ok = ok && in[p]
		}
		in[id] = ok
	}
	named := map[crdt.ID]bool{}
	for id, ok := range in {
		if ok {
			for _, p := range r.full.atoms[id].parents {
				named[p] = true
			}
		}
	}
	var f crdt.Frontier
	for id, ok := range in {
		if ok && !named[id] {
			f = append(f, id)
		}
	}
	sortIDs(f)
	return f
}

// sessions is the reference of Sessions, atom by atom.
func (r *histRef) sessions(since int64) []crdt.Session {
	type sess struct {
		s    crdt.Session
		last int
	}
	var out []*sess
	cur := map[string]*sess{}
	prev := map[string]int64{}
	for i, id := range r.full.order {
		a := r.full.atoms[id]
		s := cur[id.Agent]
		newTxn := !a.implicitParents() || prev[id.Agent] != a.time
		if gap := a.time - prev[id.Agent]; s == nil || gap >= 5*60*1000 || -gap >= 5*60*1000 {
			s = &sess{s: crdt.Session{Agent: id.Agent, Start: a.time, End: a.time}}
			out = append(out, s)
			cur[id.Agent] = s
			newTxn = true
		}
		prev[id.Agent] = a.time
		if newTxn {
			s.s.Txns++
		}
		s.s.Start, s.s.End = min(s.s.Start, a.time), max(s.s.End, a.time)
		switch {
		case a.title:
			s.s.Titles++
		case a.insert:
			s.s.Inserted++
		default:
			s.s.Deleted++
		}
		s.last = i
		s.s.Version = crdt.Frontier{id}
	}
	var res []*sess
	for _, s := range out {
		if s.s.End >= since {
			res = append(res, s)
		}
	}
	sort.SliceStable(res, func(i, j int) bool {
		if res[i].s.End != res[j].s.End {
			return res[i].s.End > res[j].s.End
		}
		return res[i].last > res[j].last
	})
	var ss []crdt.Session
	for _, s := range res {
		ss = append(ss, s.s)
	}
	return ss
}

// randomFrontier picks a version of d: for a few agents, one of their
// known ops (the frontier of the union of those ops' pasts need not be
// minimal: queries take any set of known IDs).
func randomFrontier(rng *rand.Rand, d *crdt.Doc) crdt.Frontier {
	v := d.Version()
	if rng.IntN(8) == 0 {
		return crdt.Frontier{}
	}
	var f crdt.Frontier
	agents := slices.Sorted(func(yield func(string) bool) {
		for a := range v {
			if !yield(a) {
				return
			}
		}
	})
	for _, a := range agents {
		if rng.IntN(2) == 0 {
			f = append(f, crdt.ID{Agent: a, Seq: uint64(rng.IntN(int(v[a])))})
		}
	}
	return f
}

// randomHistory makes a document with concurrent edits, renames and
// clocks that jump and go back.
func randomHistory(t testing.TB, rng *rand.Rand, steps int) *crdt.Doc {
	names := []string{"ann", "bo", "cy"}
	docs := make([]*crdt.Doc, len(names))
	clock := make([]int64, len(names))
	for i, n := range names {
		docs[i], _ = crdt.New(n)
		clock[i] = 1_765_000_000_000 + int64(rng.IntN(1000))
	}
	for range steps {
		i := rng.IntN(len(docs))
		d := docs[i]
		switch k := rng.IntN(20); {
		case k < 3: // the clock moves: a little, past a session gap, or back
			clock[i] += []int64{1000, 400_000, -700_000, 60_000}[rng.IntN(4)]
			d.SetNow(max(clock[i], 0))
		case k < 4:
			d.SetTitle([]string{"A", "B", ""}[rng.IntN(3)])
		case k < 7 && d.Len() > 0:
			p := rng.IntN(d.Len())
			d.Delete(p, 1+rng.IntN(min(d.Len()-p, 5)))
		case k < 15:
			var b strings.Builder
			for range 1 + rng.IntN(6) {
				b.WriteString([]string{"a", "b", "\n", "é", "😀", " "}[rng.IntN(6)])
			}
			d.Insert(rng.IntN(d.Len()+1), b.String())
		default:
			o := docs[rng.IntN(len(docs))]
			for _, tx := range o.Missing(d.Version()) {
				if _, err := d.Apply(tx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	all := docs[0]
	for _, o := range docs[1:] {
		for _, tx := range o.Missing(all.Version()) {
			if _, err := all.Apply(tx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return all
}

// checkQueries compares every query on d with its reference at a few
// versions.
func checkQueries(t *testing.T, seed uint64, rng *rand.Rand, d *crdt.Doc, versions int, blame bool) {
	t.Helper()
	r := newHistRef(t, d)
	for range versions {
		f := randomFrontier(rng, d)
		want, ref := r.at(t, f)
		got, err := d.TextAt(f)
		if err != nil || got != want.Text() {
			t.Fatalf("seed %d: TextAt(%s) = %q, %v; replay gives %q", seed, f, got, err, want.Text())
		}
		g, err := crdt.ParseFrontier(f.String())
		if err != nil || !slices.Equal(g, f) && !(len(g) == 0 && len(f) == 0) {
			t.Fatalf("seed %d: ParseFrontier(%q) = %v, %v", seed, f.String(), g, err)
		}
		from := randomFrontier(rng, d)
		spans, err := d.Inserted(from, f)
		if wantS := r.inserted(ref, from); err != nil || !reflect.DeepEqual(spans, wantS) {
			t.Fatalf("seed %d: Inserted(%s, %s) = %v, %v; reference %v", seed, from, f, spans, err, wantS)
		}
		if blame {
			bl, err := d.Blame(f)
			if wantB := r.blame(ref); err != nil || !reflect.DeepEqual(bl, wantB) {
				t.Fatalf("seed %d: Blame(%s) =\n%v (%v)\nreference\n%v", seed, f, bl, err, wantB)
			}
		}
	}
	for _, ms := range []int64{0, 1_765_000_000_000, 1_765_000_300_000, 1_765_001_000_000, 1 << 52} {
		got, want := d.VersionAt(ms), r.versionAt(ms)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("seed %d: VersionAt(%d) = %s, reference %s", seed, ms, got, want)
		}
	}
	for _, since := range []int64{0, 1_765_000_500_000} {
		got, want := d.Sessions(since), r.sessions(since)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: Sessions(%d) =\n%+v\nreference\n%+v", seed, since, got, want)
		}
	}
}

func TestQueriesAgainstReference(t *testing.T) {
	for seed := uint64(1); seed <= uint64(iterations(60)); seed++ {
		rng := rand.New(rand.NewPCG(seed, 13))
		d := randomHistory(t, rng, 20+rng.IntN(200))
		checkQueries(t, seed, rng, d, 8, true)
		// The same from a snapshot (times and titles kept).
		s, err := crdt.LoadSnapshot("snap", d.EncodeSnapshot())
		if err != nil {
			t.Fatal(err)
		}
		checkQueries(t, seed, rng, s, 3, true)
	}
}

// The bundled concurrent traces: the text at sampled versions is the
// replay's.
func TestQueriesOnTraces(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "traces", "concurrent", "*.json.gz"))
	if len(files) == 0 {
		t.Fatal("no concurrent traces bundled")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			tr, err := trace.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := trace.ReplayConcurrent(tr)
			if err != nil {
				t.Fatal(err)
			}
			d, err := trace.Merge(c.All())
			if err != nil {
				t.Fatal(err)
			}
			// The reference (refDoc) is too slow for traces: the text is
			// checked against a replay into a fresh Doc.
			txns := d.Missing(crdt.Version{})
			rng := rand.New(rand.NewPCG(7, 13))
			for range 6 {
				f := randomFrontier(rng, d)
				got, err := d.TextAt(f)
				if err != nil {
					t.Fatal(err)
				}
				r, err := replayTo(txns, f)
				if err != nil {
					t.Fatal(err)
				}
				if got != r {
					t.Fatalf("TextAt(%s) differs from the replay", f)
				}
			}
			if got, _ := d.TextAt(d.Frontier()); got != tr.End {
				t.Fatal("TextAt(current frontier) is not the trace's end")
			}
		})
	}
}

// replayTo replays the transactions (in integration order) cut at the
// causal past of f into a fresh Doc and returns its text. The past is
// found walking the transactions backwards: one is needed when a later
// needed one (or f) names its seqs.
func replayTo(txns []*crdt.Txn, f crdt.Frontier) (string, error) {
	need := crdt.Version{}
	for _, id := range f {
		need[id.Agent] = max(need[id.Agent], id.Seq+1)
	}
	for i := len(txns) - 1; i >= 0; i-- {
		tx := txns[i]
		if need[tx.Agent] > tx.Seq {
			for _, p := range tx.Parents {
				need[p.Agent] = max(need[p.Agent], p.Seq+1)
			}
		}
	}
	d, _ := crdt.New("replay")
	for _, tx := range txns {
		k := int(min(max(int64(need[tx.Agent])-int64(tx.Seq), 0), int64(tx.Count())))
		if k == 0 {
			continue
		}
		if _, err := d.Apply(truncTxn(tx, k)); err != nil {
			return "", err
		}
	}
	return d.Text(), nil
}

// A scripted history with known versions, texts, diffs of spans, blame
// and sessions.
func TestQueriesScripted(t *testing.T) {
	a, _ := crdt.New("ann")
	b, _ := crdt.New("bo")
	const t0 = 1_765_000_000_000
	a.SetNow(t0)
	a.Insert(0, "one\ntwo\n") // ann@0..7
	v1 := a.Frontier()        // ann@7
	a.SetNow(t0 + 60_000)     // a minute later: same session
	a.Insert(4, "TWO ")       // ann@8..11: line 2 is "TWO two"
	for _, tx := range a.Missing(b.Version()) {
		b.Apply(tx)
	}
	b.SetNow(t0 + 3_600_000) // an hour later, bo
	b.Delete(0, 3)           // bo@0..2: line 1 "one" → ""
	b.Insert(0, "uno")       // bo@3..5
	a.SetNow(t0 + 3_600_000 + 10_000)
	a.Insert(a.Len(), "three") // ann@12..16, concurrent with bo
	for _, tx := range b.Missing(a.Version()) {
		a.Apply(tx)
	}
	if v := v1.String(); v != "ann@7" {
		t.Fatalf("v1 prints %q", v)
	}
	if got, _ := a.TextAt(v1); got != "one\ntwo\n" {
		t.Fatalf("TextAt(v1) = %q", got)
	}
	if got, _ := a.TextAt(crdt.Frontier{}); got != "" {
		t.Fatalf("TextAt(0) = %q", got)
	}
	if got, _ := a.TextAt(crdt.Frontier{{Agent: "bo", Seq: 2}}); got != "\nTWO two\n" {
		t.Fatalf("TextAt(bo@2) = %q", got)
	}
	if got := a.Text(); got != "uno\nTWO two\nthree" {
		t.Fatalf("text %q", got)
	}
	bl, _ := a.Blame(a.Frontier())
	want := []crdt.BlameLine{
		{Line: 1, Text: "uno", By: crdt.ID{Agent: "bo", Seq: 5}, Time: t0 + 3_600_000},
		{Line: 2, Text: "TWO two", By: crdt.ID{Agent: "ann", Seq: 11}, Time: t0 + 60_000},
		{Line: 3, Text: "three", By: crdt.ID{Agent: "ann", Seq: 16}, Time: t0 + 3_610_000},
	}
	if !reflect.DeepEqual(bl, want) {
		t.Fatalf("blame %+v", bl)
	}
	sp, _ := a.Inserted(v1, a.Frontier())
	if want := []crdt.Span{{0, 3, "bo"}, {4, 4, "ann"}, {12, 5, "ann"}}; !reflect.DeepEqual(sp, want) {
		t.Fatalf("inserted %+v", sp)
	}
	if v := a.VersionAt(t0 + 59_000); !slices.Equal(v, v1) {
		t.Fatalf("VersionAt(t0+59s) = %s", v)
	}
	if v := a.VersionAt(t0 + 3_600_000); v.String() != "bo@5" { // ann@11 is in its past
		t.Fatalf("VersionAt(t0+1h) = %s", v)
	}
	ss := a.Sessions(0)
	if len(ss) != 3 || ss[0].Agent != "ann" || ss[0].Inserted != 5 || ss[1].Agent != "bo" || ss[1].Deleted != 3 || ss[1].Inserted != 3 ||
		ss[2].Agent != "ann" || ss[2].Txns != 2 || ss[2].Inserted != 12 || ss[2].Start != t0 || ss[2].End != t0+60_000 || ss[2].Version.String() != "ann@11" {
		t.Fatalf("sessions %+v", ss)
	}
	if ss := a.Sessions(t0 + 3_600_000); len(ss) != 2 {
		t.Fatalf("sessions since t0+1h: %+v", ss)
	}
	// Unknown IDs and bad strings are errors.
	if _, err := a.TextAt(crdt.Frontier{{Agent: "zed", Seq: 0}}); !errors.Is(err, crdt.ErrInvalid) {
		t.Fatalf("unknown version: %v", err)
	}
	for _, s := range []string{"", "ann", "ann@x", "@3", "ann@1,ann@1", "a%2@1", "ann@-1"} {
		if _, err := crdt.ParseFrontier(s); err == nil {
			t.Errorf("ParseFrontier(%q) accepted", s)
		}
	}
	odd := crdt.Frontier{{Agent: "a b@c,d%é", Seq: 3}, {Agent: "x", Seq: 0}}
	if g, err := crdt.ParseFrontier(odd.String()); err != nil || !slices.Equal(g, odd) {
		t.Fatalf("round trip of %q: %v %v", odd.String(), g, err)
	}
	if !utf8.ValidString(odd.String()) || strings.ContainsAny(odd.String(), " é") {
		t.Fatalf("printable form %q", odd.String())
	}
}
