package store

import (
	"sort"

	"weft/vocab"
)

// causalOrder orders transaction headers so that each comes after its
// agent's earlier seqs and after its parents; base is what is already
// present (a snapshot's covered version, or nil). It returns the indexes of
// hdrs in a causal order and the indexes it could not place (their causal
// past is incomplete: a gap, a missing parent, or something that depends on
// one). The order is deterministic. Memory and time are linear in
// len(hdrs) (plus the number of agents).
func causalOrder(hdrs []vocab.Header, base Version) (order, stuck []int) {
	byAgent := map[string][]int{}
	for i := range hdrs {
		byAgent[hdrs[i].Agent] = append(byAgent[hdrs[i].Agent], i)
	}
	agents := make([]string, 0, len(byAgent))
	for a, l := range byAgent {
		sort.Slice(l, func(x, y int) bool { return hdrs[l[x]].Seq < hdrs[l[y]].Seq })
		agents = append(agents, a)
	}
	sort.Strings(agents)
	have := Version{}
	for a, n := range base {
		have[a] = n
	}
	pos := map[string]int{}
	type waiter struct {
		seq   uint64 // wakes when have[agent] > seq
		agent string // the agent whose head transaction waits
	}
	waiting := map[string][]waiter{}
	queue := append([]string(nil), agents...)
	order = make([]int, 0, len(hdrs))
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		for {
			l := byAgent[a]
			if pos[a] >= len(l) {
				break
			}
			t := &hdrs[l[pos[a]]]
			if t.Seq > have[a] {
				break // a gap in a's own seqs: nothing after it can be placed
			}
			blocked := false
			for _, p := range t.Parents {
				if p.Seq >= have[p.Agent] {
					waiting[p.Agent] = append(waiting[p.Agent], waiter{seq: p.Seq, agent: a})
					blocked = true
					break
				}
			}
			if blocked {
				break
			}
			order = append(order, l[pos[a]])
			pos[a]++
			if e := t.Seq + t.Len; e > have[a] {
				have[a] = e
				ws := waiting[a]
				keep := ws[:0]
				for _, w := range ws {
					if w.seq < e {
						queue = append(queue, w.agent)
					} else {
						keep = append(keep, w)
					}
				}
				waiting[a] = keep
			}
		}
	}
	for _, a := range agents {
		stuck = append(stuck, byAgent[a][pos[a]:]...)
	}
	return order, stuck
}
