package crdt_test

// A generator of asynchronous editing histories, like a git repository's:
// many authors each work on a branch of their own that starts from a
// (possibly stale) version of the main line, commit tens to hundreds of
// edits over a long time while other branches are open, sometimes pull the
// main line into their branch, and merge into the main line late. Edits
// type words near a cursor, jump, backspace, delete runs, and now and then
// delete a long run across text older than the branch point, so that
// branches delete what others edit.
//
// A history is deterministic from its seed and configuration. It is
// written in the format of the concurrent traces (testdata/traces/README.md)
// so that the same history can be replayed by internal/trace (benchmarks,
// `weft trace replay`) and by the peer harness (bench/peers):
//
//	WEFT_GEN_OUT=dir go test -run TestExportAsync ./crdt/
//
// writes the benchmark histories there as .json.gz files.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"weft/crdt"
	"weft/internal/trace"
)

// asyncConfig shapes a generated history.
type asyncConfig struct {
	Agents   int     // authors; each has at most one open branch
	Branches int     // branches, each merged into the main line when done
	Open     int     // branches open at once
	Edits    [2]int  // edits per branch, min and max
	Commit   [2]int  // edits per commit (a trace transaction), min and max
	Stale    int     // a branch starts from one of the last Stale main-line versions
	Pull     float64 // chance that a commit first merges the main line into its branch
	Cut      float64 // chance that an edit deletes a long run (50–400 code points)
	Start    int     // code points the first author types before anyone branches
	Wide     bool    // type some characters outside the BMP (and 2-byte UTF-8)
}

// asyncBench is the benchmark history: 204 authors, about 950 commits of
// about 55 edits each (the size of the history in issue 14's table).
var asyncBench = asyncConfig{
	Agents: 204, Branches: 330, Open: 40, Edits: [2]int{30, 300}, Commit: [2]int{20, 90},
	Stale: 12, Pull: 0.1, Cut: 0.01, Start: 2000,
}

// asyncSmall is a history small enough for the reference implementation.
var asyncSmall = asyncConfig{
	Agents: 10, Branches: 16, Open: 6, Edits: [2]int{5, 60}, Commit: [2]int{1, 12},
	Stale: 4, Pull: 0.15, Cut: 0.03, Start: 120, Wide: true,
}

type genTxn struct {
	Parents []int   `json:"parents"`
	Agent   int     `json:"agent"`
	Patches [][]any `json:"patches"`
}

// asyncHistory is a generated history in the concurrent-trace format.
type asyncHistory struct {
	Kind       string   `json:"kind"`
	EndContent string   `json:"endContent"`
	NumAgents  int      `json:"numAgents"`
	AgentNames []string `json:"agentNames"`
	Txns       []genTxn `json:"txns"`

	// The crdt transactions the authors' replicas made, in history order
	// (what replaying the history with a replica per author gives).
	crdt []*crdt.Txn
}

type genBranch struct {
	author   int
	doc      *crdt.Doc
	head     int // its last trace txn
	seen     int // the last main-line version merged into it
	left     int // edits still to make
	cursor   int
	stranger bool
}

// genAsync generates a history. It types with crdt.Doc replicas (one per
// open branch, and the main line's), which only decides where edits may
// go: replaying the history is what is tested.
func genAsync(seed uint64, cfg asyncConfig) (*asyncHistory, error) {
	r := rand.New(rand.NewPCG(seed, 0x6567))
	h := &asyncHistory{Kind: "concurrent", NumAgents: cfg.Agents}
	for i := 0; i < cfg.Agents; i++ {
		h.AgentNames = append(h.AgentNames, fmt.Sprintf("a%03d", i))
	}
	main, err := crdt.New("main")
	if err != nil {
		return nil, err
	}
	// The main line: its versions (trace txn of each, snapshot of each).
	var heads []int
	var snaps [][]byte
	lastMerge := make([]int, cfg.Agents) // main-line version an author last merged
	busy := make([]bool, cfg.Agents)

	if cfg.Start > 0 {
		p := []any{0, 0, words(r, cfg.Start, cfg.Wide)}
		// Typed by author 0 (on a replica of its own, merged into main).
		a0, err := crdt.New(h.AgentNames[0])
		if err != nil {
			return nil, err
		}
		ct, err := a0.Replace(0, 0, p[2].(string))
		if err != nil {
			return nil, err
		}
		if _, err := main.Apply(ct); err != nil {
			return nil, err
		}
		h.crdt = append(h.crdt, ct)
		h.Txns = append(h.Txns, genTxn{Parents: []int{}, Agent: 0, Patches: [][]any{p}})
		heads = append(heads, 0)
		snaps = append(snaps, main.EncodeSnapshot())
	}
	var open []*genBranch
	started, merged := 0, 0
	for merged < cfg.Branches {
		for len(open) < cfg.Open && started < cfg.Branches {
			var free []int
			for a := range busy {
				if !busy[a] {
					free = append(free, a)
				}
			}
			if len(free) == 0 {
				break
			}
			a := free[r.IntN(len(free))]
			b := &genBranch{author: a, head: -1, seen: -1, left: span(r, cfg.Edits)}
			if len(heads) > 0 {
				lo := max(len(heads)-cfg.Stale, lastMerge[a], 0)
				b.seen = lo + r.IntN(len(heads)-lo)
				b.head = heads[b.seen]
				if b.doc, err = crdt.LoadSnapshot(h.AgentNames[a], snaps[b.seen]); err != nil {
					return nil, err
				}
			} else if b.doc, err = crdt.New(h.AgentNames[a]); err != nil {
				return nil, err
			}
			b.cursor = r.IntN(b.doc.Len() + 1)
			busy[a] = true
			open = append(open, b)
			started++
		}
		k := r.IntN(len(open))
		b := open[k]
		tx := genTxn{Agent: b.author}
		if b.head >= 0 {
			tx.Parents = []int{b.head}
		} else {
			tx.Parents = []int{}
		}
		if len(heads) > 0 && b.seen < len(heads)-1 && r.Float64() < cfg.Pull {
			// Pull the main line into the branch, then commit on the merge.
			for _, t := range main.Missing(b.doc.Version()) {
				if _, err := b.doc.Apply(t); err != nil {
					return nil, err
				}
			}
			b.seen = len(heads) - 1
			tx.Parents = append(tx.Parents, heads[b.seen])
		}
		n := min(span(r, cfg.Commit), b.left)
		for i := 0; i < n; i++ {
			pos, del, ins := edit(r, b, cfg)
			ct, err := b.doc.Replace(pos, del, ins)
			if err != nil {
				return nil, fmt.Errorf("generating: %w", err)
			}
			if ct != nil {
				h.crdt = append(h.crdt, ct)
			}
			tx.Patches = append(tx.Patches, []any{pos, del, ins})
		}
		b.left -= n
		h.Txns = append(h.Txns, tx)
		b.head = len(h.Txns) - 1
		if b.left > 0 {
			continue
		}
		// Merge the branch into the main line: a commit of the author's
		// with no edits, on the branch and the main line's newest version.
		for _, t := range b.doc.Missing(main.Version()) {
			if _, err := main.Apply(t); err != nil {
				return nil, err
			}
		}
		mt := genTxn{Agent: b.author, Parents: []int{b.head}, Patches: [][]any{}}
		if len(heads) > 0 && b.seen < len(heads)-1 {
			mt.Parents = append(mt.Parents, heads[len(heads)-1])
		}
		h.Txns = append(h.Txns, mt)
		heads = append(heads, len(h.Txns)-1)
		snaps = append(snaps, main.EncodeSnapshot())
		lastMerge[b.author] = len(heads) - 1
		busy[b.author] = false
		open = append(open[:k], open[k+1:]...)
		merged++
	}
	h.EndContent = main.Text()
	return h, nil
}

func span(r *rand.Rand, mm [2]int) int { return mm[0] + r.IntN(mm[1]-mm[0]+1) }

var genWords = strings.Fields("the of a and to in is that for on with as it by was at from this be are " +
	"merge branch history text author edit version replica order offline peer document")

// words returns about n code points of words, each followed by a space.
func words(r *rand.Rand, n int, wide bool) string {
	var s strings.Builder
	for k := 0; k < n; {
		w := genWords[r.IntN(len(genWords))]
		if wide && r.IntN(8) == 0 {
			w = []string{"é", "ünd", "𝄞", "🙂x", "ç"}[r.IntN(5)]
		}
		s.WriteString(w)
		s.WriteByte(' ')
		k += len([]rune(w)) + 1
	}
	return s.String()
}

// edit chooses one edit of branch b: (pos, del, ins) on its document.
func edit(r *rand.Rand, b *genBranch, cfg asyncConfig) (int, int, string) {
	n := b.doc.Len()
	b.cursor = min(b.cursor, n)
	x := r.Float64()
	switch {
	case x < cfg.Cut && n > 0:
		pos := r.IntN(n)
		del := min(50+r.IntN(351), n-pos)
		b.cursor = pos
		return pos, del, ""
	case x < 0.55:
		ins := words(r, 1+r.IntN(8), cfg.Wide)
		pos := b.cursor
		b.cursor += len([]rune(ins))
		return pos, 0, ins
	case x < 0.70 && b.cursor > 0:
		del := min(1+r.IntN(3), b.cursor)
		b.cursor -= del
		return b.cursor, del, ""
	case x < 0.82:
		b.cursor = r.IntN(n + 1)
		ins := words(r, 1+r.IntN(6), cfg.Wide)
		pos := b.cursor
		b.cursor += len([]rune(ins))
		return pos, 0, ins
	case n > 0:
		pos := r.IntN(n)
		del := min(1+r.IntN(30), n-pos)
		ins := ""
		if r.IntN(2) == 0 {
			ins = words(r, 1+r.IntN(5), cfg.Wide)
		}
		b.cursor = pos + len([]rune(ins))
		return pos, del, ins
	}
	ins := words(r, 3, cfg.Wide)
	b.cursor = len([]rune(ins))
	return 0, 0, ins
}

func (h *asyncHistory) json() []byte {
	b, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	return b
}

// asyncTrace generates a history and parses it as a trace.
func asyncTrace(tb testing.TB, seed uint64, cfg asyncConfig) (*asyncHistory, *trace.Trace) {
	tb.Helper()
	h, err := genAsync(seed, cfg)
	if err != nil {
		tb.Fatalf("seed %d: %v", seed, err)
	}
	t, err := trace.Parse(bytes.NewReader(h.json()))
	if err != nil {
		tb.Fatalf("seed %d: %v", seed, err)
	}
	return h, t
}

// asyncBenchSeeds name the benchmark histories (file gen-async-<seed>).
var asyncBenchSeeds = []uint64{1, 2}

// TestExportAsync writes the benchmark histories as gzipped traces into
// $WEFT_GEN_OUT, for `weft trace replay` and the peer harness.
func TestExportAsync(t *testing.T) {
	dir := os.Getenv("WEFT_GEN_OUT")
	if dir == "" {
		t.Skip("WEFT_GEN_OUT is not set")
	}
	for _, seed := range asyncBenchSeeds {
		h, tr := asyncTrace(t, seed, asyncBench)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(h.json())
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("gen-async-%d.json.gz", seed))
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d txns, %d patches, %d agents, %d final code points", path, len(tr.Txns), tr.Patches(), len(tr.Agents), len([]rune(tr.End)))
	}
}

// mergeInOrder applies txns to a fresh replica in the order given by idx,
// each from its wire bytes, and returns its text.
func mergeInOrder(t *testing.T, txns []*crdt.Txn, idx []int) string {
	t.Helper()
	d, _ := crdt.New("merge")
	for _, i := range idx {
		w, err := crdt.EncodeTxn(txns[i])
		if err != nil {
			t.Fatal(err)
		}
		tx, err := crdt.DecodeTxn(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Apply(tx); err != nil {
			t.Fatalf("applying %s/%d: %v", tx.Agent, tx.Seq, err)
		}
	}
	if d.Pending() != 0 {
		t.Fatalf("%d transactions still wait", d.Pending())
	}
	if err := crdt.CheckIndex(d); err != nil {
		t.Fatal(err)
	}
	return d.Text()
}

// TestAsyncConverge: generated asynchronous histories merge to the
// reference implementation's text whatever the delivery order — the
// history's order, reversed, shuffled, branch by branch, and as catch-up
// sends it — and to the text the generator's main line reached.
func TestAsyncConverge(t *testing.T) {
	n := iterations(10)
	for seed := uint64(1); seed <= uint64(n); seed++ {
		h, tr := asyncTrace(t, seed, asyncSmall)
		c, err := trace.ReplayConcurrent(tr)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		txns := c.All()
		if len(txns) != len(h.crdt) {
			t.Fatalf("seed %d: replaying the history made %d transactions, the generator %d", seed, len(txns), len(h.crdt))
		}
		for i := range txns {
			if canonTxn(txns[i]) != canonTxn(h.crdt[i]) {
				t.Fatalf("seed %d: transaction %d: replay made %s, the generator %s", seed, i, canonTxn(txns[i]), canonTxn(h.crdt[i]))
			}
		}
		ref := newRef("ref", ruleDesign)
		for _, tx := range txns {
			if _, err := ref.Apply(tx); err != nil {
				t.Fatalf("seed %d: reference: %v", seed, err)
			}
		}
		want := ref.Text()
		if want != h.EndContent {
			t.Fatalf("seed %d: the reference's text differs from the generator's main line:\n%q\n%q", seed, want, h.EndContent)
		}
		r := rand.New(rand.NewPCG(seed, 1))
		orders := map[string][]int{}
		for i := range txns {
			orders["history"] = append(orders["history"], i)
			orders["reversed"] = append(orders["reversed"], len(txns)-1-i)
		}
		orders["shuffled"] = r.Perm(len(txns))
		for _, a := range r.Perm(len(tr.Agents)) {
			for i, tx := range txns {
				if tx.Agent == tr.Agents[a] {
					orders["by branch"] = append(orders["by branch"], i)
				}
			}
		}
		for name, idx := range orders {
			if got := mergeInOrder(t, txns, idx); got != want {
				t.Fatalf("seed %d, %s order: text differs from the reference's", seed, name)
			}
		}
		// Catch-up: a replica holding everything sends what a fresh one lacks.
		src, err := trace.Merge(txns)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		up := src.Missing(crdt.Version{})
		var idx []int
		for i := range up {
			idx = append(idx, i)
		}
		if got := mergeInOrder(t, up, idx); got != want {
			t.Fatalf("seed %d, catch-up: text differs from the reference's", seed)
		}
		// And a snapshot of the merge loads to the same text.
		l, err := crdt.LoadSnapshot("load", src.EncodeSnapshot())
		if err != nil || l.Text() != want {
			t.Fatalf("seed %d: snapshot load: %v", seed, err)
		}
	}
}

// TestAsyncDeterministic: a seed gives one history.
func TestAsyncDeterministic(t *testing.T) {
	a, _ := genAsync(7, asyncSmall)
	b, _ := genAsync(7, asyncSmall)
	if !bytes.Equal(a.json(), b.json()) {
		t.Fatal("seed 7 generated two different histories")
	}
}
