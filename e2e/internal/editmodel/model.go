// Package editmodel records every edit a test's writers sent to daemons
// and what became of it, so that a final text can be checked against them:
// TestConverge (e2e) and the fault harness (e2e/chaos) both use it.
package editmodel

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// Model records every edit the writers of a test sent and what
// became of it, so that the final text can be checked against them.
//
// Every inserted code point is unique in the whole run, so each one in the
// final text names the insert it came from. A delete is "certain" when the
// daemon's version right after it is the version the writer read the text
// at plus exactly the delete's own seqs: then nothing else happened in
// between and the deleted code points are exactly the ones the writer
// chose. Otherwise (another edit slipped in between, or the reply was
// lost) the delete removed n code points the writer cannot name, and n goes
// to a budget. The final text must then satisfy:
//
//   - every code point in it was sent by some insert that was not refused,
//     and appears once;
//   - no code point removed by an acknowledged certain delete is in it;
//   - the code points of acknowledged inserts that are missing, apart from
//     those removed by certain deletes, number at most the budget (the
//     lengths of the uncertain deletes). A lost acknowledged insert makes
//     this fail unless uncertain deletes happened to spend less of their
//     budget than it was long; the test logs the slack;
//   - each daemon's version covers every version an acknowledgement
//     reported for its agent.
type Model struct {
	mu       sync.Mutex
	next     [3]int         // next unused code point of each alphabet
	runes    map[rune]*sent // every code point sent by an insert
	deleted  map[rune]bool  // removed by acknowledged certain deletes
	budget   int            // code points uncertain deletes may have removed
	acked    map[string]uint64
	counters map[string]int
}

// Outcome is what became of an edit.
type Outcome int8

const (
	Unknown Outcome = iota // sent; no reply (it may or may not have been applied)
	Acked                  // acknowledged: durable on the daemon
	Refused                // refused with an error reply: not applied
)

// sent is one insert.
type sent struct {
	what    string // e.g. "B#17 via CLI at 42"
	outcome Outcome
}

// New returns an empty model.
func New() *Model {
	return &Model{runes: map[rune]*sent{}, deleted: map[rune]bool{}, acked: map[string]uint64{}, counters: map[string]int{}}
}

// Alphabets of unique code points: emoji (astral, 4 UTF-8 bytes, UTF-16
// surrogate pairs), CJK ideographs (BMP, 3 bytes) and CJK extension B
// (astral).
var (
	emojiRanges = [][2]rune{{0x1F300, 0x1F5FF}, {0x1F600, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F900, 0x1F9FF}}
	emojiPool   = expand(emojiRanges)
)

func expand(rs [][2]rune) []rune {
	var out []rune
	for _, r := range rs {
		for c := r[0]; c <= r[1]; c++ {
			out = append(out, c)
		}
	}
	return out
}

// Alloc returns k code points never used before in this run; the first is
// an emoji a third of the time (while they last), the others CJK, half of
// them astral.
func (m *Model) Alloc(k int, rng *rand.Rand) []rune {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]rune, 0, k)
	for i := range k {
		switch {
		case i == 0 && rng.IntN(3) == 0 && m.next[0] < len(emojiPool):
			out = append(out, emojiPool[m.next[0]])
			m.next[0]++
		case rng.IntN(2) == 0 && m.next[1] < 0x5200:
			out = append(out, 0x4E00+rune(m.next[1]))
			m.next[1]++
		default:
			if m.next[2] >= 0xA6E0 {
				panic("editmodel: out of unique code points")
			}
			out = append(out, 0x20000+rune(m.next[2]))
			m.next[2]++
		}
	}
	return out
}

func (m *Model) Count(what string) {
	m.mu.Lock()
	m.counters[what]++
	m.mu.Unlock()
}

// Inserted records an insert's outcome.
func (m *Model) Inserted(rs []rune, what string, o Outcome) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := &sent{what: what, outcome: o}
	for _, r := range rs {
		if m.runes[r] != nil {
			panic(fmt.Sprintf("code point %U allocated twice", r))
		}
		m.runes[r] = s
	}
	m.counters[fmt.Sprintf("insert %s", o)]++
}

// DeletedCertain records an acknowledged delete of exactly rs.
func (m *Model) DeletedCertain(rs []rune) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.deleted[r] = true
	}
	m.counters["delete certain"]++
}

// DeletedUncertain records a delete of n code points the writer cannot
// name (applied on another version than the one it read, or unknown).
func (m *Model) DeletedUncertain(n int, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.budget += n
	m.counters["delete uncertain ("+why+")"]++
}

// AckedVersion records that agent's version reached v (an acknowledgement).
func (m *Model) AckedVersion(agent string, v uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acked[agent] = max(m.acked[agent], v)
}

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Check verifies the final text and version against everything recorded;
// it returns the problems found and a summary.
func (m *Model) Check(text string, version map[string]uint64) ([]string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var problems []string
	bad := func(format string, args ...any) {
		if len(problems) < 30 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	seen := map[rune]bool{}
	for i, r := range []rune(text) {
		s := m.runes[r]
		switch {
		case seen[r]:
			bad("code point %U appears twice (again at %d)", r, i)
		case s == nil:
			bad("code point %U at %d was never sent", r, i)
		case s.outcome == Refused:
			bad("code point %U at %d is from an insert the daemon refused (%s)", r, i, s.what)
		case m.deleted[r]:
			bad("code point %U at %d (%s) was removed by an acknowledged delete", r, i, s.what)
		}
		seen[r] = true
	}
	var missing []rune
	for r, s := range m.runes {
		if s.outcome == Acked && !seen[r] && !m.deleted[r] {
			missing = append(missing, r)
		}
	}
	slices.Sort(missing)
	if len(missing) > m.budget {
		var ex []string
		for _, r := range missing[:min(len(missing), 20)] {
			ex = append(ex, fmt.Sprintf("%U (%s)", r, m.runes[r].what))
		}
		bad("%d code points of acknowledged inserts are missing, more than the %d uncertain deletes can account for: %s",
			len(missing), m.budget, strings.Join(ex, ", "))
	}
	for _, a := range slices.Sorted(maps.Keys(m.acked)) {
		if version[a] < m.acked[a] {
			bad("agent %s: the final version has %d seqs, but an acknowledgement reported %d", a, version[a], m.acked[a])
		}
	}
	var cs []string
	for _, k := range slices.Sorted(maps.Keys(m.counters)) {
		cs = append(cs, fmt.Sprintf("%s %d", k, m.counters[k]))
	}
	summary := fmt.Sprintf("%d code points sent, %d in the final text; certain deletes removed %d; %d acknowledged code points missing beyond those, budget %d (slack %d); %s",
		len(m.runes), len(seen), len(m.deleted), len(missing), m.budget, m.budget-len(missing), strings.Join(cs, ", "))
	return problems, summary
}

// Tally counts, against a final text, the code points of acknowledged
// inserts, those found in it, and those lost: missing beyond what certain
// deletes removed and uncertain deletes may have removed.
func (m *Model) Tally(text string) (ackedN, found, lost int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := map[rune]bool{}
	for _, r := range text {
		in[r] = true
	}
	missing := 0
	for r, s := range m.runes {
		if s.outcome != Acked {
			continue
		}
		ackedN++
		switch {
		case in[r]:
			found++
		case !m.deleted[r]:
			missing++
		}
	}
	return ackedN, found, max(0, missing-m.budget)
}

// AckedVersions returns, by agent, the highest version an acknowledgement
// reported (a copy).
func (m *Model) AckedVersions() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.acked)
}
