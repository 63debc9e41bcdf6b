package crdt_test

// Non-interleaving: agents who type runs concurrently at the same position
// each keep their run contiguous in the merged text, whether they typed
// forwards, backwards (each keystroke before the previous one), in one
// edit, or forwards and then back at the run's start.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// typing is how an agent types its run.
type typing int

const (
	forwardKeys  typing = iota // one keystroke per transaction, cursor moving right
	backwardKeys               // one keystroke per transaction, each before the previous
	oneEdit                    // the whole run as one insert
	jumpBack                   // the second half forwards, then back to the run's start for the first half
	numTypings
)

func (ty typing) String() string {
	return [...]string{"forward", "backward", "one-edit", "jump-back"}[ty]
}

// typeRun returns the commands with which agent types run at pos.
func typeRun(agent string, pos int, run []rune, ty typing) []string {
	ins := func(p int, s string) string { return fmt.Sprintf("ins %s %d %s", agent, p, strconv.Quote(s)) }
	var cmds []string
	switch ty {
	case forwardKeys:
		for i, r := range run {
			cmds = append(cmds, ins(pos+i, string(r)))
		}
	case backwardKeys:
		for i := len(run) - 1; i >= 0; i-- {
			cmds = append(cmds, ins(pos, string(run[i])))
		}
	case oneEdit:
		cmds = append(cmds, ins(pos, string(run)))
	case jumpBack:
		h := len(run) / 2
		for i, r := range run[h:] {
			cmds = append(cmds, ins(pos+i, string(r)))
		}
		for i, r := range run[:h] {
			cmds = append(cmds, ins(pos+i, string(r)))
		}
	}
	return cmds
}

// interleaveCase builds a scenario: a shared base text with some
// tombstones, then each agent types a run at the same position without
// seeing the others, then everything is delivered in a random order.
func interleaveCase(r *rand.Rand, agents []string) (script []string, base string, pos int, runs []string) {
	script = append(script, "doc "+strings.Join(agents, " "))
	first := agents[0]
	if r.IntN(3) > 0 {
		script = append(script, fmt.Sprintf(`ins %s 0 "<=====>"`, first))
		view := []rune("<=====>")
		for k := r.IntN(3); k > 0; k-- { // tombstones around the spot
			p := 1 + r.IntN(len(view)-2)
			script = append(script, fmt.Sprintf("del %s %d 1", first, p))
			view = slices.Delete(view, p, p+1)
		}
		base = string(view)
		for _, a := range agents[1:] {
			script = append(script, fmt.Sprintf("sync %s<-%s", a, first))
		}
		pos = r.IntN(len(view) + 1)
	}
	alphabets := []string{"ABCDEFGH", "abcdefgh", "01234567", "😀🎉🚀🙂🌍🍕🎸🔥"}
	for i, a := range agents {
		run := []rune(alphabets[i])[:1+r.IntN(8)]
		runs = append(runs, string(run))
		script = append(script, typeRun(a, pos, run, typing(r.IntN(int(numTypings))))...)
	}
	// Deliver every agent's transactions to every other, in a random order
	// (out of causal order too: later keystrokes wait for earlier ones).
	var deliveries []string
	for _, to := range agents {
		for _, from := range agents {
			if to == from {
				continue
			}
			n := 0
			for _, c := range script {
				if strings.HasPrefix(c, "ins "+from+" ") || strings.HasPrefix(c, "del "+from+" ") {
					n++
				}
			}
			for k := 1; k <= n; k++ {
				deliveries = append(deliveries, fmt.Sprintf("deliver %s %s %d", to, from, k))
			}
		}
	}
	r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	script = append(append(script, deliveries...), "check")
	return script, base, pos, runs
}

// contiguousRuns reports whether text is base with the runs inserted at pos,
// each run whole, in some order.
func contiguousRuns(text, base string, pos int, runs []string) bool {
	b := []rune(base)
	prefix, suffix := string(b[:pos]), string(b[pos:])
	if !strings.HasPrefix(text, prefix) || !strings.HasSuffix(text, suffix) || len(text) < len(prefix)+len(suffix) {
		return false
	}
	middle := text[len(prefix) : len(text)-len(suffix)]
	var try func(rest string, used []bool) bool
	try = func(rest string, used []bool) bool {
		if rest == "" {
			return !slices.Contains(used, false)
		}
		for i, run := range runs {
			if !used[i] && strings.HasPrefix(rest, run) {
				used[i] = true
				if try(rest[len(run):], used) {
					return true
				}
				used[i] = false
			}
		}
		return false
	}
	return try(middle, make([]bool, len(runs)))
}

func TestNoInterleaving(t *testing.T) {
	n := iterations(500)
	for _, agents := range [][]string{{"a", "b"}, {"b", "a"}, {"a", "b", "c"}, {"B", "ab", "a"}} {
		for _, im := range []impl{implRef, implDoc} {
			name := im.name + "/" + strings.Join(agents, "-")
			t.Run(name, func(t *testing.T) {
				for seed := uint64(1); seed <= uint64(n); seed++ {
					if *flagSeed != 0 && seed != *flagSeed {
						continue
					}
					r := rand.New(rand.NewPCG(seed, 0x1eaf))
					script, base, pos, runs := interleaveCase(r, agents)
					w := newWorld(im)
					for _, cmd := range script {
						if out, err := w.exec(cmd); err != nil || out != "" {
							t.Fatalf("seed %d: %s: %s%v\nscript:\n%s", seed, cmd, out, err, strings.Join(script, "\n"))
						}
					}
					text := w.peers[agents[0]].r.Text()
					if !contiguousRuns(text, base, pos, runs) {
						t.Fatalf("seed %d (replay: -run '%s' -crdt.seed=%d): runs %q typed at %d of %q interleave: %q\nscript:\n%s",
							seed, t.Name(), seed, runs, pos, base, text, strings.Join(script, "\n"))
					}
				}
			})
		}
	}
}

// TestNoInterleavingCatchesBug: with a reference that never scans past an
// item whose originRight lies left of ours, backward runs interleave, and
// the test above must see it.
func TestNoInterleavingCatchesBug(t *testing.T) {
	im := impl{name: "bug-noscan", rule: ruleDesign, ref: true, bug: "noscan"}
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x1eaf))
		script, base, pos, runs := interleaveCase(r, []string{"a", "b"})
		w := newWorld(im)
		for _, cmd := range script[:len(script)-1] { // not "check": the oracle has no bug
			if _, err := w.exec(cmd); err != nil {
				t.Fatalf("seed %d: %s: %v", seed, cmd, err)
			}
		}
		for _, name := range w.names {
			if !contiguousRuns(w.peers[name].r.Text(), base, pos, runs) {
				t.Logf("seed %d: %s has %q", seed, name, w.peers[name].r.Text())
				return
			}
		}
	}
	t.Errorf("200 cases on a reference that does not scan never interleaved")
}

// TestContiguousRunsCheck makes sure the check above rejects interleaved
// and reordered text.
func TestContiguousRunsCheck(t *testing.T) {
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"<abcXY>", true}, {"<XYabc>", true}, {"<aXYbc>", false}, {"<abXcY>", false},
		{"<acbXY>", false}, {"<abcX>", false}, {"<abcXYX>", false}, {"abcXY>", false},
	} {
		if got := contiguousRuns(c.text, "<>", 1, []string{"abc", "XY"}); got != c.ok {
			t.Errorf("contiguousRuns(%q) = %v, want %v", c.text, got, c.ok)
		}
	}
}
