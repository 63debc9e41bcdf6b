//go:build linux

package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"weft/api"
)

// lagTrace notes, from the heal until convergence, which daemon lacks
// which agent's transactions (against the most any daemon holds), how
// many it holds waiting for their parents, and which peers it has for
// the document: one line each time that picture changes. It is what a
// slow convergence is read from, beside the nodes' logs.
// slowCall is an API call (or a whole check) slow enough to note.
const slowCall = 300 * time.Millisecond

type lagTrace struct {
	c     *cluster
	since time.Time
	last  string
	lines []string
}

func (l *lagTrace) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	at := time.Since(l.since)
	sts := make([]api.DocStatus, len(l.c.ds))
	top := map[string]uint64{}
	for i, d := range l.c.ds {
		began := time.Now()
		st, err := d.docStatus(ctx, l.c.doc)
		if took := time.Since(began); took > slowCall {
			l.note(fmt.Sprintf("%s's status took %s", d.name, took.Round(time.Millisecond)))
		}
		if err != nil {
			sts[i].ID = "error: " + err.Error()
			continue
		}
		sts[i] = st
		for a, v := range st.Version {
			top[a] = max(top[a], v)
		}
	}
	for a, v := range l.c.m.AckedVersions() {
		top[a] = max(top[a], v)
	}
	var parts []string
	for i, d := range l.c.ds {
		st := sts[i]
		if strings.HasPrefix(st.ID, "error: ") {
			parts = append(parts, fmt.Sprintf("%s %s", d.name, st.ID))
			continue
		}
		var lacks []string
		for _, a := range slices.Sorted(maps.Keys(top)) {
			if st.Version[a] < top[a] {
				lacks = append(lacks, fmt.Sprintf("%s %d..%d", l.agentName(a), st.Version[a], top[a]))
			}
		}
		if len(lacks) == 0 && st.Buffered == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s lacks [%s] buffered %d peers [%s]", d.name, strings.Join(lacks, ", "), st.Buffered, l.peerNames(st.Peers)))
	}
	pic := strings.Join(parts, "; ")
	if pic == "" {
		pic = "every daemon at the top version"
	}
	if pic != l.last {
		l.last = pic
		l.lines = append(l.lines, fmt.Sprintf("+%s %s", at.Round(time.Millisecond), pic))
	}
}

// note adds a line that is not a picture (why the check said no).
func (l *lagTrace) note(s string) {
	for i, a := range l.c.agents {
		s = strings.ReplaceAll(s, a, l.c.ds[i].name)
	}
	l.lines = append(l.lines, fmt.Sprintf("+%s %s", time.Since(l.since).Round(time.Millisecond), s))
}

func (l *lagTrace) agentName(a string) string {
	for i, x := range l.c.agents {
		if x == a {
			return l.c.ds[i].name
		}
	}
	if len(a) > 8 {
		return a[:8]
	}
	return a
}

func (l *lagTrace) peerNames(ids []string) string {
	var out []string
	for _, id := range ids {
		name := id
		if len(name) > 8 {
			name = name[len(name)-8:]
		}
		for _, n := range l.c.all {
			n.mu.Lock()
			if n.peerID == id {
				name = n.name
			}
			n.mu.Unlock()
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
