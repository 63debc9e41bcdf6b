package replica

import (
	"maps"
	"slices"
	"time"

	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// Durability acknowledgements. A relay (Options.AckDurable) publishes, on
// each hosted document's topic (message kind member.KindDurable), the
// version it has made durable: after the writes of a step are on disk, and after every
// catch-up exchange. Daemons take them only from the relays they were
// configured with (Options.Relays), keep the highest per relay, show them
// in DocStatus and push them to the editor ("saved on relay"). Each role's
// state exists only on replicas that have the role, and the document's
// driver owns it.

// relayAcks is a relay's side: what it has on disk and the writes it waits
// for, oldest first (the store completes them in order).
type relayAcks struct {
	durable map[string]uint64
	pending []pendingAck
}

type pendingAck struct {
	ack *store.Ack
	v   map[string]uint64
}

// onDisk records that version v is durable.
func (r *relayAcks) onDisk(v map[string]uint64) {
	if r.durable == nil {
		r.durable = map[string]uint64{}
	}
	vocab.Version(r.durable).Merge(v)
}

// wait remembers a batched write to acknowledge once it is durable.
func (r *relayAcks) wait(ack *store.Ack, v map[string]uint64) {
	if ack != nil {
		r.pending = append(r.pending, pendingAck{ack, v})
	}
}

// next is the channel the driver waits on for the oldest pending write
// (nil, never ready, when there is none or this is not a relay).
func (r *relayAcks) next() <-chan struct{} {
	if r == nil || len(r.pending) == 0 {
		return nil
	}
	return r.pending[0].ack.Done()
}

// completed takes every write that has completed and publishes one
// acknowledgement of the newest durable version.
func (r *relayAcks) completed(dr *driver) {
	durable := false
	for len(r.pending) > 0 && done(r.pending[0].ack) {
		p := r.pending[0]
		r.pending = r.pending[1:]
		if p.ack.Err() == nil {
			r.onDisk(p.v)
			durable = true
		}
	}
	if durable {
		dr.publishDurable()
	}
}

func done(ack *store.Ack) bool {
	select {
	case <-ack.Done():
		return true
	default:
		return false
	}
}

// version is what a relay tells a peer at the end of a catch-up (nil on a
// daemon).
func (r *relayAcks) version() map[string]uint64 {
	if r == nil {
		return nil
	}
	return maps.Clone(r.durable)
}

// publishDurable publishes the relay's durable version on the document's
// topic.
func (dr *driver) publishDurable() {
	d := dr.d
	v := dr.relay.version()
	if d.topic() == nil || len(v) == 0 {
		return
	}
	// Seq makes every acknowledgement a new message: gossip drops a
	// message whose bytes it has seen in the last two minutes, and a repeat
	// after a peer restarts is exactly what that peer needs.
	b, err := wire.MarshalDurable(wire.Durable{Doc: d.id[:], Version: v, Seq: d.m.ackSeq.Add(1)})
	if err != nil {
		return
	}
	d.publish("a durability acknowledgement", member.DurableMsg(b))
}

// daemonAcks is a daemon's side: the highest version each configured
// relay acknowledged.
type daemonAcks struct {
	byRelay map[string]map[string]uint64
}

// note records relay's acknowledgement of v; it reports whether the best
// acknowledged version changed.
func (a *daemonAcks) note(relay string, v map[string]uint64) bool {
	before := a.best()
	if a.byRelay == nil {
		a.byRelay = map[string]map[string]uint64{}
	}
	cur := a.byRelay[relay]
	if cur == nil {
		cur = map[string]uint64{}
		a.byRelay[relay] = cur
	}
	vocab.Version(cur).Merge(v)
	return !maps.Equal(before, a.best())
}

// best is the version the best-covering relay acknowledged (nil when none
// has, or on a replica without relays).
func (a *daemonAcks) best() map[string]uint64 {
	if a == nil {
		return nil
	}
	var best map[string]uint64
	bestN := uint64(0)
	for _, v := range a.byRelay {
		n := uint64(0)
		for _, s := range v {
			n += s
		}
		if best == nil || n > bestN {
			best, bestN = v, n
		}
	}
	return maps.Clone(best)
}

// relayAcked records an acknowledgement if it comes from a configured
// relay (only they vouch for durability), and tells the tabs when that
// changes what they show.
func (d *docState) relayAcked(from string, v map[string]uint64) {
	if !slices.Contains(d.m.opts.Relays, from) {
		return
	}
	if d.relayAhead(from, v, true) && d.ackCheck.CompareAndSwap(false, true) {
		// The relay stores what this replica lacks. Usually gossip is
		// bringing it (validation may deliver a cheap acknowledgement
		// before the transaction it covers); if it still lacks it a moment
		// later, gossip lost it (a message forwarded before the relay's
		// mesh took this replica in, say), and catch-up brings it now
		// rather than at the next anti-entropy round.
		// One such check at a time per document: acknowledgements come
		// with every write the relay stores.
		time.AfterFunc(ackCatchUpAfter, func() {
			d.ackCheck.Store(false)
			if d.m.ctx.Err() == nil && d.relayAhead(from, v, false) {
				d.m.goSync(from, d.id)
			}
		})
	}
}

// ackCatchUpAfter is how long a relay's acknowledgement of more than this
// replica holds may stay ahead before catch-up is asked of the relay.
const ackCatchUpAfter = time.Second

// relayAhead reports whether v, a relay's acknowledged version, holds
// more than this replica (loaded; an unloaded document catches up when
// next used); note records the acknowledgement first.
func (d *docState) relayAhead(from string, v map[string]uint64, note bool) bool {
	ahead := false
	_ = d.do(d.m.ctx, func(dr *driver) error {
		if note && dr.acked.note(from, v) {
			dr.pushStatus()
		}
		if dr.hl == nil {
			return nil
		}
		mine := dr.version()
		for a, n := range v {
			if n > mine[a] {
				ahead = true
				break
			}
		}
		return nil
	})
	return ahead
}
