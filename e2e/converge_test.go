package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"weft/api"
	"weft/e2e/internal/editmodel"
)

// Three daemons edit one document at once — inserts (with emoji) and
// deletes, through the API and the CLI — while one is stopped and
// restarted, while gossip is lossy (daemons restarted with
// WEFT_TEST_DROP_GOSSIP=0.5) and while one is cut off by being stopped.
// They must converge to one text that accounts for every acknowledged edit
// (see model), and hold exactly it after all three restart.
func TestConverge(t *testing.T) {
	s := seed(t)
	total := 1500
	if *longFlag {
		total = 15000
	}
	c := newCluster(t, 3, "1s")
	c.startAll()
	a, b, cc := c.ds[0], c.ds[1], c.ds[2]
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "converge"))
	shareCLI(t, a, b, id, "write")
	share(t, a, cc, id, "write")
	c.waitTopicMesh(id)

	m := editmodel.New()
	var progress atomic.Int64
	wctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	errs := make(chan error, len(c.ds))
	var wg sync.WaitGroup
	for i, d := range c.ds {
		w := &writer{d: d, doc: id, agent: d.mustDocStatus(t, id).Agent, m: m,
			rng: rand.New(rand.NewPCG(uint64(s), uint64(i))), progress: &progress}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.run(wctx); err != nil {
				errs <- fmt.Errorf("writer on %s: %w", d.name, err)
			}
		}()
	}
	at := func(frac float64) {
		t.Helper()
		target := int64(frac * float64(total))
		waitFor(t, 120*time.Second*slow, fmt.Sprintf("%d edits", target), func() (bool, string) {
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			n := progress.Load()
			return n >= target, fmt.Sprintf("%d edits done", n)
		})
	}
	const lossy = "WEFT_TEST_DROP_GOSSIP=0.5"
	phase := func(what string) { t.Logf("%6d edits: %s", progress.Load(), what) }

	at(0.15)
	phase("stop C")
	cc.stopClean(t)
	at(0.30)
	phase("start C")
	c.start(cc)
	at(0.45)
	phase("restart A and B with lossy gossip")
	c.restart(a, lossy)
	c.restart(b, lossy)
	at(0.60)
	phase("stop C")
	cc.stopClean(t)
	at(0.70)
	phase("start C with lossy gossip")
	c.start(cc, lossy)
	at(0.80)
	phase("stop B")
	b.stopClean(t)
	at(0.90)
	phase("start B with lossy gossip")
	c.start(b, lossy)
	at(1.0)
	stopWriters()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	phase("writers stopped; waiting for convergence")

	start := time.Now()
	version, text := c.waitConverged(id, 90*time.Second*slow)
	t.Logf("converged %s after the last edit (gossip still lossy): %d code points", time.Since(start).Round(time.Millisecond), len([]rune(text)))
	problems, summary := m.Check(text, version)
	t.Log(summary)
	for _, p := range problems {
		t.Error(p)
	}
	if t.Failed() {
		t.FailNow()
	}

	// All three restart (gossip no longer lossy) and read exactly that,
	// at once: the converged state was durable everywhere.
	for _, d := range c.ds {
		d.stopClean(t)
	}
	for _, d := range c.ds {
		c.start(d)
	}
	for _, d := range c.ds {
		st := d.mustDocStatus(t, id)
		if got := d.mustText(t, id); got != text || !maps.Equal(st.Version, version) {
			t.Errorf("after restarting, %s reads %d code points at %v; want the converged %d at %v", d.name, len([]rune(got)), st.Version, len([]rune(text)), version)
		}
	}
	if v, t2 := c.waitConverged(id, 30*time.Second*slow); t2 != text || !maps.Equal(v, version) {
		t.Errorf("after restarting, the daemons agree on a different state")
	}
}

// writer edits one document on one daemon at random until stopped.
type writer struct {
	d        *daemon
	doc      string
	agent    string
	m        *editmodel.Model
	rng      *rand.Rand
	progress *atomic.Int64
	n        int
}

func (w *writer) run(ctx context.Context) error {
	for ctx.Err() == nil {
		next := w.d.started()
		if !w.d.isReady() {
			select {
			case <-next:
			case <-ctx.Done():
			}
			continue
		}
		did, err := w.step(ctx)
		if err != nil {
			return err
		}
		if did {
			w.progress.Add(1)
		}
	}
	return nil
}

// step makes one edit; it reports whether it sent one.
func (w *writer) step(ctx context.Context) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second*slow)
	defer cancel()
	st, err := w.d.docStatus(rctx, w.doc)
	if err != nil {
		return false, nil // stopped or stopping: try again
	}
	viaCLI := w.rng.IntN(10) == 0
	if st.Chars > 0 && w.rng.IntN(3) == 0 {
		if ok, err := w.delete(rctx, viaCLI); ok || err != nil {
			return ok, err
		}
	}
	return w.insert(rctx, st.Chars, viaCLI)
}

func (w *writer) insert(ctx context.Context, chars int, viaCLI bool) (bool, error) {
	w.n++
	rs := w.m.Alloc(1+w.rng.IntN(5), w.rng)
	pos := w.rng.IntN(chars + 1)
	what := fmt.Sprintf("%s#%d insert at %d", w.d.name, w.n, pos)
	if viaCLI {
		what += " via CLI"
		o, err := w.cli(ctx, "insert", strconv.Itoa(pos), string(rs))
		if err != nil {
			return false, err
		}
		w.m.Inserted(rs, what, o)
		if o == editmodel.Acked {
			w.ackLowerBound(ctx)
		}
		return true, nil
	}
	res, err := w.d.edit(ctx, w.doc, api.Edit{Pos: pos, Ins: string(rs)})
	o := classify(err)
	w.m.Inserted(rs, what, o)
	if o == editmodel.Acked {
		w.m.AckedVersion(w.agent, res.Version[w.agent])
	}
	return true, nil
}

// delete removes 1–3 code points of a text read at a known version; it
// reports false (and sends nothing) when the version kept moving.
func (w *writer) delete(ctx context.Context, viaCLI bool) (bool, error) {
	var v map[string]uint64
	var text []rune
	for range 3 {
		s1, err := w.d.docStatus(ctx, w.doc)
		if err != nil {
			return false, nil
		}
		t, err := w.d.text(ctx, w.doc)
		if err != nil {
			return false, nil
		}
		s2, err := w.d.docStatus(ctx, w.doc)
		if err != nil {
			return false, nil
		}
		if maps.Equal(s1.Version, s2.Version) {
			v, text = s1.Version, []rune(t)
			break
		}
	}
	if v == nil || len(text) == 0 {
		w.m.Count("delete skipped (the version kept moving)")
		return false, nil
	}
	w.n++
	pos := w.rng.IntN(len(text))
	n := 1 + w.rng.IntN(min(3, len(text)-pos))
	target := text[pos : pos+n]
	want := maps.Clone(v)
	want[w.agent] += uint64(n)

	var o editmodel.Outcome
	var after map[string]uint64
	if viaCLI {
		var err error
		if o, err = w.cli(ctx, "delete", strconv.Itoa(pos), strconv.Itoa(n)); err != nil {
			return false, err
		}
		if o == editmodel.Acked {
			after = w.ackLowerBound(ctx)
		}
	} else {
		res, err := w.d.edit(ctx, w.doc, api.Edit{Pos: pos, Del: n})
		o, after = classify(err), res.Version
		if o == editmodel.Acked {
			w.m.AckedVersion(w.agent, res.Version[w.agent])
		}
	}
	switch {
	case o == editmodel.Refused:
		w.m.Count("delete refused")
	case o == editmodel.Acked && maps.Equal(after, want):
		w.m.DeletedCertain(target)
	case o == editmodel.Acked:
		w.m.DeletedUncertain(n, "another edit came first")
	default:
		w.m.DeletedUncertain(n, "no reply")
	}
	return true, nil
}

// ackLowerBound records the daemon's version after an acknowledged CLI
// edit (which prints none) and returns it (nil if it cannot be read).
func (w *writer) ackLowerBound(ctx context.Context) map[string]uint64 {
	st, err := w.d.docStatus(ctx, w.doc)
	if err != nil {
		return nil
	}
	w.m.AckedVersion(w.agent, st.Version[w.agent])
	return st.Version
}

// cli runs `weft doc VERB ID ARGS...`; exit 0 is an acknowledgement, a
// refusal naming the position or no daemon is "refused", anything else
// unknown. Bad arguments (exit 2) are a bug of the test.
func (w *writer) cli(ctx context.Context, verb string, args ...string) (editmodel.Outcome, error) {
	w.m.Count("CLI " + verb)
	r, err := w.d.cli(ctx, []string{"doc", verb}, append([]string{w.doc}, args...)...)
	switch {
	case err != nil:
		return editmodel.Unknown, nil
	case r.Code == 0:
		return editmodel.Acked, nil
	case r.Code == 2:
		return editmodel.Unknown, fmt.Errorf("weft doc %s %s: bad arguments: %s", verb, strings.Join(args, " "), r.Stderr)
	case strings.Contains(r.Stderr, "no daemon is running"), strings.Contains(r.Stderr, "out of range"):
		return editmodel.Refused, nil
	}
	return editmodel.Unknown, nil
}

// classify maps an API edit's error to its outcome.
func classify(err error) editmodel.Outcome {
	var ae *apiError
	switch {
	case err == nil:
		return editmodel.Acked
	case errors.Is(err, errNotRunning):
		return editmodel.Refused
	case errors.As(err, &ae) && ae.Status == 400:
		return editmodel.Refused
	}
	return editmodel.Unknown
}
