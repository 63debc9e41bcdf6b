package trace

import (
	"fmt"
	"sort"

	"weft/crdt"
)

// ReplaySequential types every patch of a sequential trace as its own local
// transaction of one agent, building each one's wire transaction (Replace),
// and returns the document.
func ReplaySequential(t *Trace, agent string) (*crdt.Doc, error) {
	return replaySequential(t, agent, func(d *crdt.Doc, p Patch) error {
		_, err := d.Replace(p.Pos, p.Del, p.Ins)
		return err
	})
}

// ReplaySequentialEdits is ReplaySequential through Edit: each patch is its
// own local transaction, but its wire form is left to be built when sent.
func ReplaySequentialEdits(t *Trace, agent string) (*crdt.Doc, error) {
	return replaySequential(t, agent, func(d *crdt.Doc, p Patch) error {
		return d.Edit(p.Pos, p.Del, p.Ins)
	})
}

func replaySequential(t *Trace, agent string, apply func(*crdt.Doc, Patch) error) (*crdt.Doc, error) {
	d, err := crdt.New(agent)
	if err != nil {
		return nil, err
	}
	if t.Start != "" {
		if err := apply(d, Patch{Ins: t.Start}); err != nil {
			return nil, err
		}
	}
	for i := range t.Txns {
		j := 0
		for p := range t.PatchesOf(i) {
			if err := apply(d, p); err != nil {
				return nil, fmt.Errorf("txn %d patch %d: %w", i, j, err)
			}
			j++
		}
	}
	return d, nil
}

// Replayed is the outcome of replaying a concurrent trace.
type Replayed struct {
	Replicas []*crdt.Doc   // one per agent, as each last typed
	Txns     [][]*crdt.Txn // the crdt transactions of each trace txn
}

// All returns every crdt transaction in trace order (a causal order).
func (c *Replayed) All() []*crdt.Txn {
	var out []*crdt.Txn
	for _, ts := range c.Txns {
		out = append(out, ts...)
	}
	return out
}

// ReplayConcurrent replays a concurrent trace with one replica per agent:
// before typing a trace transaction, its agent's replica merges whatever
// of the transaction's causal past it lacks, so it types on exactly the
// merge of the parents.
func ReplayConcurrent(t *Trace) (*Replayed, error) {
	if t.Kind != Concurrent {
		return nil, fmt.Errorf("%w: not a concurrent trace", ErrFormat)
	}
	c := &Replayed{Txns: make([][]*crdt.Txn, len(t.Txns))}
	applied := make([][]bool, len(t.Agents))
	for i, name := range t.Agents {
		d, err := crdt.New(name)
		if err != nil {
			return nil, fmt.Errorf("agent %d: %w", i, err)
		}
		c.Replicas = append(c.Replicas, d)
		applied[i] = make([]bool, len(t.Txns))
	}
	var stack, need []int
	for i := range t.Txns {
		tx := &t.Txns[i]
		d, seen := c.Replicas[tx.Agent], applied[tx.Agent]
		// The trace txns in the parents' causal past this replica lacks.
		need, stack = need[:0], append(stack[:0], tx.Parents...)
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[j] {
				continue
			}
			seen[j] = true
			need = append(need, j)
			stack = append(stack, t.Txns[j].Parents...)
		}
		sort.Ints(need)
		for _, j := range need {
			for _, ct := range c.Txns[j] {
				if _, err := d.Apply(ct); err != nil {
					return nil, fmt.Errorf("txn %d: merging txn %d into agent %s: %w", i, j, t.Agents[tx.Agent], err)
				}
			}
		}
		k := 0
		for p := range t.PatchesOf(i) {
			ct, err := d.Replace(p.Pos, p.Del, p.Ins)
			if err != nil {
				return nil, fmt.Errorf("txn %d patch %d: %w", i, k, err)
			}
			if ct != nil {
				c.Txns[i] = append(c.Txns[i], ct)
			}
			k++
		}
		seen[i] = true
	}
	return c, nil
}

// Merge applies txns, in order, to a fresh replica.
func Merge(txns []*crdt.Txn) (*crdt.Doc, error) {
	d, err := crdt.New("merge")
	if err != nil {
		return nil, err
	}
	for i, t := range txns {
		if _, err := d.Apply(t); err != nil {
			return nil, fmt.Errorf("merging transaction %d (%s/%d): %w", i, t.Agent, t.Seq, err)
		}
	}
	if n := d.Pending(); n > 0 {
		return nil, fmt.Errorf("merge: %d transactions still wait for their parents", n)
	}
	return d, nil
}
