package crdt_test

// Property test: several replicas edit concurrently (many inserts at the
// same spot, multi-code-point runs, code points outside the BMP,
// overlapping deletes, replaces) while transactions are delivered late, out
// of causal order, twice, and merged into runs that overlap what the
// receiver has. Every step is checked against a reference replica fed the
// same edits and transactions (script_test.go's world); at the end
// everything is delivered and every replica must hold the same text as a
// reference that has every transaction.
//
// A history is a script in the language of testdata/script, so a failure
// prints a (shrunk) script that reproduces it, besides the seed.
//
//	go test ./crdt -run TestConverge -crdt.seed=N        replay one seed
//	go test ./crdt -run TestConverge -crdt.iters=20000   many more histories
//	go test ./crdt -run '^$' -fuzz FuzzConverge          histories from fuzz bytes

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

var (
	flagSeed  = flag.Uint64("crdt.seed", 0, "run only this seed of the random-history tests")
	flagIters = flag.Int("crdt.iters", 0, "number of random histories per test (default: a few hundred; env WEFT_CRDT_ITERS)")
)

// iterations returns how many random histories a test runs: def by default,
// -crdt.iters or $WEFT_CRDT_ITERS if set.
func iterations(def int) int {
	if *flagIters > 0 {
		return *flagIters
	}
	if n, err := strconv.Atoi(os.Getenv("WEFT_CRDT_ITERS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return def / 4
	}
	return def
}

// chooser makes the random choices of a history: from a seeded PRNG or
// from fuzz bytes.
type chooser interface {
	intn(n int) int // in [0, n); n > 0
	done() bool     // no more choices wanted (fuzz bytes used up)
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }
func (c randChooser) done() bool     { return false }

type byteChooser struct{ data []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.data) == 0 {
		return 0
	}
	v := int(c.data[0])
	c.data = c.data[1:]
	if n > 256 && len(c.data) > 0 {
		v = v<<8 | int(c.data[0])
		c.data = c.data[1:]
	}
	return v % n
}

func (c *byteChooser) done() bool { return len(c.data) == 0 }

// genConfig shapes the random histories.
type genConfig struct {
	agents []string
	steps  int
}

// pieces of inserted text: ASCII, Latin, CJK, and code points outside the
// BMP (one position each, two UTF-16 units).
var genRunes = []string{"a", "b", "c", "x", "y", "z", "0", "1", " ", "é", "中", "😀", "𝄞", "🎉"}

// generator writes a random history as script commands, looking at the
// world it runs in to choose valid positions.
type generator struct {
	c         chooser
	w         *world
	hot       int                        // a position many edits go to
	delivered map[string]map[string]bool // receiver → "sender k" delivered
}

func (g *generator) text() string {
	n := 1 + g.c.intn(4)
	if g.c.intn(5) == 0 {
		n += g.c.intn(8)
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(genRunes[g.c.intn(len(genRunes))])
	}
	return strconv.Quote(b.String())
}

func (g *generator) pos(length int) int {
	switch g.c.intn(10) {
	case 0, 1:
		return 0
	case 2, 3:
		return length
	case 4, 5, 6:
		return min(g.hot, length)
	}
	return g.c.intn(length + 1)
}

// next returns the next command of the history.
func (g *generator) next() string {
	names := g.w.names
	p := g.w.peers[names[g.c.intn(len(names))]]
	q := g.w.peers[names[g.c.intn(len(names))]]
	length := len(p.view)
	switch g.c.intn(24) {
	case 0: // the author's clock moves (or is unknown)
		ms := []int64{0, 1_700_000_000_000, 1_700_000_060_000, 1_700_000_400_000}[g.c.intn(4)]
		return fmt.Sprintf("now %s %d", p.name, ms)
	case 1: // a rename, often concurrent with others
		return fmt.Sprintf("title %s %s", p.name, strconv.Quote([]string{"", "a", "b", "Notes 😀"}[g.c.intn(4)]))
	}
	switch k := g.c.intn(20); {
	case k < 7: // insert
		pos := g.pos(length)
		if g.c.intn(4) == 0 {
			g.hot = pos
		}
		return fmt.Sprintf("ins %s %d %s", p.name, pos, g.text())
	case k < 9 && length > 0: // delete, often overlapping what others delete
		pos := min(g.pos(length), length-1)
		return fmt.Sprintf("del %s %d %d", p.name, pos, 1+g.c.intn(min(length-pos, 4)))
	case k < 10 && length > 0: // replace
		pos := min(g.pos(length), length-1)
		return fmt.Sprintf("rep %s %d %d %s", p.name, pos, 1+g.c.intn(min(length-pos, 3)), g.text())
	case k < 17 && p != q && len(q.made) > 0: // deliver one txn, in any order, maybe again
		kk := 1 + g.c.intn(len(q.made))
		if g.c.intn(3) > 0 { // mostly something not yet delivered
			for i := 0; i < len(q.made); i++ {
				if !g.delivered[p.name][fmt.Sprint(q.name, " ", kk)] {
					break
				}
				kk = kk%len(q.made) + 1
			}
		}
		spec := strconv.Itoa(kk)
		if g.c.intn(4) == 0 && kk < len(q.made) { // a merged run, which may overlap what p has
			if _, err := g.w.made(q, fmt.Sprintf("%d-%d", kk, kk+1)); err == nil {
				spec = fmt.Sprintf("%d-%d", kk, kk+1)
			}
		}
		return fmt.Sprintf("deliver %s %s %s", p.name, q.name, spec)
	case k < 19 && p != q: // catch up through Missing
		return fmt.Sprintf("sync %s<-%s", p.name, q.name)
	}
	return fmt.Sprintf("ins %s %d %s", p.name, g.pos(length), g.text())
}

// noteDelivered records which single transactions a command delivered.
func (g *generator) noteDelivered(cmd string) {
	f := strings.Fields(cmd)
	if len(f) != 4 || f[0] != "deliver" {
		return
	}
	from, to, _ := strings.Cut(f[3], "-")
	a, _ := strconv.Atoi(from)
	b := a
	if to != "" {
		b, _ = strconv.Atoi(to)
	}
	for k := a; k <= b; k++ {
		g.delivered[f[1]][fmt.Sprint(f[2], " ", k)] = true
	}
}

// finish returns commands that deliver everything not yet delivered, in a
// random order (so buffering is exercised once more), then check.
func (g *generator) finish() []string {
	type msg struct {
		to, from string
		k        int
	}
	var msgs []msg
	for _, p := range g.w.names {
		for _, q := range g.w.names {
			if p == q {
				continue
			}
			for k := 1; k <= len(g.w.peers[q].made); k++ {
				if !g.delivered[p][fmt.Sprint(q, " ", k)] {
					msgs = append(msgs, msg{p, q, k})
				}
			}
		}
	}
	var cmds []string
	for len(msgs) > 0 {
		i := g.c.intn(len(msgs))
		cmds = append(cmds, fmt.Sprintf("deliver %s %s %d", msgs[i].to, msgs[i].from, msgs[i].k))
		msgs[i] = msgs[len(msgs)-1]
		msgs = msgs[:len(msgs)-1]
	}
	return append(cmds, "check")
}

// genHistory runs a random history in a world of im, returning the script
// it ran and the first broken invariant (nil if none).
func genHistory(im impl, c chooser, cfg genConfig) (script []string, err error) {
	w := newWorld(im)
	g := &generator{c: c, w: w, delivered: map[string]map[string]bool{}}
	run := func(cmd string) error {
		script = append(script, cmd)
		out, err := w.exec(cmd)
		if err != nil {
			return err
		}
		if out != "" {
			return fmt.Errorf("unexpected output %q", out)
		}
		g.noteDelivered(cmd)
		return nil
	}
	for _, a := range cfg.agents {
		g.delivered[a] = map[string]bool{}
	}
	if err := run("doc " + strings.Join(cfg.agents, " ")); err != nil {
		return script, err
	}
	for i := 0; i < cfg.steps && !c.done(); i++ {
		if err := run(g.next()); err != nil {
			return script, err
		}
	}
	for _, cmd := range g.finish() {
		if err := run(cmd); err != nil {
			return script, err
		}
	}
	return script, nil
}

// runScriptLines runs a script in a fresh world of im; commands that do not
// apply (errSkip) are ignored. It returns the first broken invariant.
func runScriptLines(im impl, script []string) error {
	w := newWorld(im)
	for _, cmd := range script {
		out, err := w.exec(cmd)
		if isSkip(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if strings.HasPrefix(out, "error: position") {
			continue // an edit that no longer fits after shrinking
		}
		if out != "" && !strings.HasPrefix(cmd, "text") {
			return fmt.Errorf("%s: unexpected output %q", cmd, out)
		}
	}
	return nil
}

// shrink removes commands from a failing script while fails still reports
// a failure, and returns the smallest script found.
func shrink(script []string, fails func([]string) bool) []string {
	for chunk := len(script) / 2; chunk >= 1; chunk /= 2 {
		for i := 1; i < len(script); { // keep the doc command
			end := min(i+chunk, len(script))
			cand := append(append([]string{}, script[:i]...), script[end:]...)
			if fails(cand) {
				script = cand
				continue
			}
			i = end
		}
	}
	return script
}

// reportFailure shrinks a failing history and fails the test with the seed,
// the replay command and the script.
func reportFailure(t *testing.T, im impl, seed uint64, script []string, err error) {
	t.Helper()
	small := shrink(script, func(s []string) bool { return runScriptLines(im, append(s, "sync", "check")) != nil })
	small = append(small, "sync", "check")
	t.Fatalf("seed %d (replay: go test ./crdt -run '%s' -crdt.seed=%d): %v\n\nshrunk script (%d of %d commands), fails with: %v\n\n%s",
		seed, t.Name(), seed, err, len(small), len(script), runScriptLines(im, small), strings.Join(small, "\n"))
}

var agentSets = [][]string{
	{"a", "b", "c"},
	{"a", "b", "c", "d"},
	{"B", "a", "ab", "b"}, // bytewise: "B" < "a" < "ab" < "b"
	{"x", "y", "z", "zz", "Z"},
}

func convergeSeeds(t *testing.T, im impl, n int) {
	seeds := make([]uint64, 0, n)
	if *flagSeed != 0 {
		seeds = append(seeds, *flagSeed)
	} else {
		for i := 1; i <= n; i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		cfg := genConfig{agents: agentSets[r.IntN(len(agentSets))], steps: 20 + r.IntN(60)}
		script, err := genHistory(im, randChooser{r}, cfg)
		if err != nil {
			reportFailure(t, im, seed, script, err)
		}
	}
}

// TestConverge runs random histories on crdt.Doc replicas.
func TestConverge(t *testing.T) {
	convergeSeeds(t, implDoc, iterations(1000))
}

// TestConvergeReference runs the same histories on reference replicas: it
// tests the harness (and the reference's own convergence).
func TestConvergeReference(t *testing.T) {
	convergeSeeds(t, implRef, iterations(100))
}

// TestHarnessCatchesBugs runs the random histories on reference replicas
// with one deliberate bug each (checked against correct mirrors): the
// harness must report every one of them, or its passing means little.
func TestHarnessCatchesBugs(t *testing.T) {
	for _, bug := range []string{"tiebreak", "patch", "overlap", "buffer", "missing", "originright", "frontier"} {
		t.Run(bug, func(t *testing.T) {
			im := impl{name: "bug-" + bug, rule: ruleDesign, bug: bug}
			for seed := uint64(1); seed <= 300; seed++ {
				r := rand.New(rand.NewPCG(seed, 0x5eed))
				cfg := genConfig{agents: agentSets[r.IntN(len(agentSets))], steps: 20 + r.IntN(60)}
				if _, err := genHistory(im, randChooser{r}, cfg); err != nil {
					t.Logf("caught at seed %d: %v", seed, err)
					return
				}
			}
			t.Errorf("300 random histories did not catch the bug %q", bug)
		})
	}
}

// FuzzConverge drives the same property from fuzz bytes.
func FuzzConverge(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("\x00\x00\x00\x00\x00\x05\x05\x05\x05\x05\x0c\x0c\x0c\x0c\x11\x11\x11"))
	f.Add([]byte(strings.Repeat("\x03\x07\x0b\x0d\x11\x13", 20)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2000 {
			return
		}
		c := &byteChooser{data: data}
		cfg := genConfig{agents: agentSets[c.intn(len(agentSets))], steps: 200}
		if script, err := genHistory(implDoc, c, cfg); err != nil {
			small := shrink(script, func(s []string) bool { return runScriptLines(implDoc, append(s, "sync", "check")) != nil })
			t.Fatalf("%v\n\nshrunk script:\n%s\nsync\ncheck", err, strings.Join(small, "\n"))
		}
	})
}
