package crdt

import "fmt"

// pendingSet holds remote transactions that arrived before operations they
// depend on, each filed under one dependency it still lacks: (agent, the
// number of that agent's seqs it needs known). It is bounded in count and
// bytes.
type pendingSet struct {
	waiting map[string][]*pending // by the agent whose seqs are awaited
	keys    map[pendingKey]bool
	n       int
	bytes   int
}

type pending struct {
	t    *Txn
	need uint64 // seqs of the awaited agent that must be known
}

type pendingKey struct {
	agent string
	seq   uint64
	n     int
}

// maxPendingBytes bounds the text held by waiting transactions.
const maxPendingBytes = 64 << 20

func (ps *pendingSet) len() int { return ps.n }

func txnBytes(t *Txn) int {
	n := len(t.Agent) + 16*len(t.Parents)
	for i := range t.Ops {
		n += 32 + len(t.Ops[i].Text) + len(t.Ops[i].Left.Agent) + len(t.Ops[i].Right.Agent) + len(t.Ops[i].Target.Agent)
	}
	return n
}

// missingDep returns a dependency of t that d lacks: an agent and how many
// of its seqs must be known.
func missingDep(d *Doc, t *Txn) (string, uint64, bool) {
	if k := uint64(d.h.known(t.Agent)); t.Seq > k {
		return t.Agent, t.Seq, true
	}
	for _, p := range t.Parents {
		if p.Seq >= uint64(d.h.known(p.Agent)) {
			return p.Agent, p.Seq + 1, true
		}
	}
	return "", 0, false
}

// add files t under a dependency it lacks.
func (ps *pendingSet) add(d *Doc, t *Txn) error {
	k := pendingKey{t.Agent, t.Seq, t.Count()}
	if ps.keys[k] {
		return nil
	}
	b := txnBytes(t)
	if ps.n >= MaxPending || ps.bytes+b > maxPendingBytes {
		return fmt.Errorf("%w: %d transactions (%d bytes) already wait for their parents", ErrBufferFull, ps.n, ps.bytes)
	}
	agent, need, ok := missingDep(d, t)
	if !ok {
		return fmt.Errorf("crdt: internal: buffering a transaction that is ready")
	}
	if ps.keys == nil {
		ps.keys = map[pendingKey]bool{}
		ps.waiting = map[string][]*pending{}
	}
	ps.keys[k] = true
	ps.waiting[agent] = append(ps.waiting[agent], &pending{t, need})
	ps.n++
	ps.bytes += b
	return nil
}

// takeReady removes and returns the waiting transactions whose awaited
// dependency on agent is now met. They may still lack another dependency:
// the caller re-adds those.
func (ps *pendingSet) takeReady(d *Doc, agent string) []*Txn {
	ws := ps.waiting[agent]
	if len(ws) == 0 {
		return nil
	}
	known := uint64(d.h.known(agent))
	var out []*Txn
	keep := ws[:0]
	for _, w := range ws {
		if w.need <= known {
			out = append(out, w.t)
			delete(ps.keys, pendingKey{w.t.Agent, w.t.Seq, w.t.Count()})
			ps.n--
			ps.bytes -= txnBytes(w.t)
		} else {
			keep = append(keep, w)
		}
	}
	for i := len(keep); i < len(ws); i++ {
		ws[i] = nil
	}
	if len(keep) == 0 {
		delete(ps.waiting, agent)
	} else {
		ps.waiting[agent] = keep
	}
	return out
}
