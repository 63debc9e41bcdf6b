//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"weft/api"
	"weft/e2e/internal/editmodel"
)

// writer edits one document on one daemon at random until stopped: inserts
// of 1–5 unique code points (emoji and CJK, half of them astral) and
// deletes of 1–3, each acknowledged one recorded in the model.
type writer struct {
	d     *node
	doc   string
	agent string
	m     *editmodel.Model
	rng   *rand.Rand
	n     int
	pace  time.Duration
}

func (w *writer) run(ctx context.Context) {
	for ctx.Err() == nil {
		if w.d.isReady() {
			w.step(ctx)
		}
		select { // pacing between edits, not a wait for convergence
		case <-ctx.Done():
		case <-time.After(w.pace):
		}
	}
}

func (w *writer) step(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := w.d.docStatus(rctx, w.doc)
	if err != nil {
		return
	}
	if st.Chars > 0 && w.rng.IntN(4) == 0 {
		if w.delete(rctx) {
			return
		}
	}
	w.insert(rctx, st.Chars)
}

func (w *writer) insert(ctx context.Context, chars int) {
	w.n++
	rs := w.m.Alloc(1+w.rng.IntN(5), w.rng)
	pos := w.rng.IntN(chars + 1)
	res, err := w.d.edit(ctx, w.doc, api.Edit{Pos: pos, Ins: string(rs)})
	o := classify(err)
	w.m.Inserted(rs, fmt.Sprintf("%s#%d insert at %d", w.d.name, w.n, pos), o)
	if o == editmodel.Acked {
		w.m.AckedVersion(w.agent, res.Version[w.agent])
	}
}

// delete removes 1–3 code points of a text read at a known version; it
// reports false (and sends nothing) when the version kept moving.
func (w *writer) delete(ctx context.Context) bool {
	var v map[string]uint64
	var text []rune
	for range 3 {
		s1, err := w.d.docStatus(ctx, w.doc)
		if err != nil {
			return false
		}
		t, err := w.d.text(ctx, w.doc)
		if err != nil {
			return false
		}
		s2, err := w.d.docStatus(ctx, w.doc)
		if err != nil {
			return false
		}
		if maps.Equal(s1.Version, s2.Version) {
			v, text = s1.Version, []rune(t)
			break
		}
	}
	if v == nil || len(text) == 0 {
		w.m.Count("delete skipped (the version kept moving)")
		return false
	}
	w.n++
	pos := w.rng.IntN(len(text))
	n := 1 + w.rng.IntN(min(3, len(text)-pos))
	target := text[pos : pos+n]
	want := maps.Clone(v)
	want[w.agent] += uint64(n)
	res, err := w.d.edit(ctx, w.doc, api.Edit{Pos: pos, Del: n})
	o := classify(err)
	if o == editmodel.Acked {
		w.m.AckedVersion(w.agent, res.Version[w.agent])
	}
	switch {
	case o == editmodel.Refused:
		w.m.Count("delete refused")
	case o == editmodel.Acked && maps.Equal(res.Version, want):
		w.m.DeletedCertain(target)
	case o == editmodel.Acked:
		w.m.DeletedUncertain(n, "another edit came first")
	default:
		w.m.DeletedUncertain(n, "no reply")
	}
	return true
}

// classify maps an API edit's error to its outcome: a 4xx reply or no
// daemon listening is a refusal (nothing applied), a reply of 2xx an
// acknowledgement, anything else (5xx, a timeout) unknown.
func classify(err error) editmodel.Outcome {
	var ae *apiError
	switch {
	case err == nil:
		return editmodel.Acked
	case errors.Is(err, errNotRunning):
		return editmodel.Refused
	case errors.As(err, &ae) && ae.Status/100 == 4:
		return editmodel.Refused
	}
	return editmodel.Unknown
}
