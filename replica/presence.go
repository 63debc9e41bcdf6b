package replica

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"weft/member"
	"weft/vocab"
	"weft/wire"
)

// Presence from peers. Cursors are the one kind of message a peer may send
// many of for no lasting effect, so they are bounded twice:
//
//   - at the validator, each agent may publish presencePerSecond messages
//     a second with a burst of presenceBurst (a tab, which has an agent of
//     its own, sends at most one per 40 ms while its cursor moves, and one
//     every 3 s at rest), and each publishing peer (a daemon, for all its
//     tabs) peerPresencePerSecond with a burst of peerPresenceBurst; the
//     excess, and a record no newer than the last one seen of its agent,
//     are dropped as Ignore (not forwarded, sender not penalised). A
//     replica that cannot open presence (a relay) limits by peer only;
//   - on the way to tabs, records are coalesced to the latest per agent
//     and flushed at most every presenceFlush, so a tab's queue receives at
//     most one message per agent per flush, whatever peers send.
const (
	presencePerSecond     = 30
	presenceBurst         = 10
	peerPresencePerSecond = 4 * presencePerSecond
	peerPresenceBurst     = 4 * presenceBurst
	presenceFlush         = 50 * time.Millisecond
	// presenceSenders bounds the senders whose limiters one document
	// keeps; beyond it, senders whose buckets are full again are
	// forgotten (a forgotten sender starts with a full burst).
	presenceSenders = 1024
)

// presenceRecord is a peer's presence record, opened and checked, with
// the agent it is for.
type presenceRecord struct {
	agent string
	b     []byte
}

// presenceGate is a document's presence limiters and the newest seq seen
// of each agent; the topic's validator uses it (concurrency-safe).
type presenceGate struct {
	mu      sync.Mutex
	senders map[string]*rate.Limiter
	seqs    map[string]uint64
}

// allow reports whether sender may publish one more presence message now
// (at rate a second, with burst).
func (g *presenceGate) allow(sender string, limit rate.Limit, burst int, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.senders == nil {
		g.senders = map[string]*rate.Limiter{}
	}
	l := g.senders[sender]
	if l == nil {
		if len(g.senders) >= presenceSenders {
			for k, o := range g.senders {
				if o.TokensAt(now) >= float64(o.Burst()) {
					delete(g.senders, k)
				}
			}
			if len(g.senders) >= presenceSenders {
				return false
			}
		}
		l = rate.NewLimiter(limit, burst)
		g.senders[sender] = l
	}
	return l.AllowN(now, 1)
}

// newer records seq as agent's newest and reports whether it is newer than
// the last one seen. The map is bounded by the document's members (only
// records this replica opened, of members' agents, reach it).
func (g *presenceGate) newer(agent string, seq uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seqs == nil {
		g.seqs = map[string]uint64{}
	}
	last, seen := g.seqs[agent]
	if seen && seq <= last {
		return false
	}
	if !seen && len(g.seqs) >= presenceSenders {
		clear(g.seqs)
	}
	g.seqs[agent] = seq
	return true
}

// validatePresence checks a gossiped cursor: framed, within its sender's
// rate, and (where this device can read) sealed for this document's topic
// and newer than its agent's last.
func (d *docState) validatePresence(from string, pt []byte) (any, error) {
	sealed, err := member.ParsePresenceMsg(pt)
	if err != nil {
		return nil, err
	}
	ms, now := d.mem, d.m.opts.Now()
	if !d.pres.allow("peer "+from, peerPresencePerSecond, peerPresenceBurst, now) {
		return nil, vocab.Ignore(vocab.ReasonQuota, "presence from %s over %d/s", from, peerPresencePerSecond)
	}
	if !ms.canRead() {
		return nil, nil // passed on, not read: this device holds no read secret
	}
	b, err := ms.openPresence(d.topicName(), sealed)
	if err != nil {
		return nil, err
	}
	p, err := wire.ParsePresence(b, d.id)
	if err != nil {
		return nil, err
	}
	if !d.pres.allow("agent "+p.Agent, presencePerSecond, presenceBurst, now) {
		return nil, vocab.Ignore(vocab.ReasonQuota, "presence of %s over %d/s", p.Agent, presencePerSecond)
	}
	if !d.pres.newer(p.Agent, p.Seq) {
		return nil, vocab.Ignore(vocab.ReasonDuplicate, "presence of %s no newer than seq %d", p.Agent, p.Seq)
	}
	return presenceRecord{agent: p.Agent, b: b}, nil
}

// presenceOut coalesces peers' presence on its way to the tabs: the latest
// record per agent, flushed to the driver at most every presenceFlush.
type presenceOut struct {
	mu      sync.Mutex
	latest  map[string][]byte
	order   []string // agents in the order they first arrived since the last flush
	pending bool     // a flush is scheduled
}

// fromPresence queues a peer's cursor for this daemon's tabs.
func (d *docState) fromPresence(rec presenceRecord) {
	if d.tabs.Load() == 0 {
		return
	}
	q := &d.presOut
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.latest == nil {
		q.latest = map[string][]byte{}
	}
	if _, ok := q.latest[rec.agent]; !ok {
		q.order = append(q.order, rec.agent)
	}
	q.latest[rec.agent] = rec.b
	if q.pending {
		return
	}
	q.pending = true
	d.m.wg.Add(1)
	time.AfterFunc(presenceFlush, func() {
		defer d.m.wg.Done()
		d.flushPresence()
	})
}

// flushPresence hands the queued records to the driver, which sends each
// tab one socket message per agent.
func (d *docState) flushPresence() {
	q := &d.presOut
	q.mu.Lock()
	latest, order := q.latest, q.order
	q.latest, q.order, q.pending = nil, nil, false
	q.mu.Unlock()
	if d.m.ctx.Err() != nil {
		return
	}
	msgs := make([][]byte, 0, len(order))
	for _, a := range order {
		if b, err := wire.MarshalPresenceMsg(latest[a]); err == nil {
			msgs = append(msgs, b)
		}
	}
	_ = d.do(d.m.ctx, func(dr *driver) error {
		for _, b := range msgs {
			dr.fanPresence(nil, b)
		}
		return nil
	})
}
