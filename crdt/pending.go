package crdt

import "fmt"

// pendingSet holds remote transactions that arrived before operations they
// depend on. It is bounded in count and bytes.
type pendingSet struct {
	txns  []*Txn
	keys  map[pendingKey]bool
	bytes int
}

type pendingKey struct {
	agent string
	seq   uint64
	n     int
}

// maxPendingBytes bounds the text held by waiting transactions.
const maxPendingBytes = 64 << 20

func (ps *pendingSet) len() int { return len(ps.txns) }

func txnBytes(t *Txn) int {
	n := len(t.Agent) + 16*len(t.Parents)
	for i := range t.Ops {
		n += 32 + len(t.Ops[i].Text) + len(t.Ops[i].Left.Agent) + len(t.Ops[i].Right.Agent) + len(t.Ops[i].Target.Agent)
	}
	return n
}

func (ps *pendingSet) add(t *Txn) error {
	k := pendingKey{t.Agent, t.Seq, t.Count()}
	if ps.keys[k] {
		return nil
	}
	b := txnBytes(t)
	if len(ps.txns) >= MaxPending || ps.bytes+b > maxPendingBytes {
		return fmt.Errorf("%w: %d transactions (%d bytes) already wait for their parents", ErrBufferFull, len(ps.txns), ps.bytes)
	}
	if ps.keys == nil {
		ps.keys = map[pendingKey]bool{}
	}
	ps.keys[k] = true
	ps.txns = append(ps.txns, t)
	ps.bytes += b
	return nil
}

func (ps *pendingSet) remove(t *Txn) {
	for i, u := range ps.txns {
		if u == t {
			ps.txns = append(ps.txns[:i], ps.txns[i+1:]...)
			delete(ps.keys, pendingKey{t.Agent, t.Seq, t.Count()})
			ps.bytes -= txnBytes(t)
			return
		}
	}
}

// ready returns the waiting transactions whose dependencies are now known.
func (ps *pendingSet) ready(d *Doc) []*Txn {
	var out []*Txn
	for _, t := range ps.txns {
		if t.Seq > uint64(d.h.known(t.Agent)) {
			continue
		}
		ok := true
		for _, p := range t.Parents {
			if p.Seq >= uint64(d.h.known(p.Agent)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, t)
		}
	}
	return out
}
