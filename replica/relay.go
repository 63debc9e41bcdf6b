package replica

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"weft/store"
	"weft/wire"
)

// HostPolicy says which documents a relay keeps: all it hears of, or a
// list. A daemon hosts nothing it was not asked to join.
type HostPolicy struct {
	All  bool
	Docs []store.DocID
}

// hosts reports whether a peer's catch-up for an unknown document should
// make this replica keep it.
func (m *Manager) hosts(id store.DocID) bool {
	if m.opts.Host.All {
		return true
	}
	for _, d := range m.opts.Host.Docs {
		if d == id {
			return true
		}
	}
	return false
}

// host creates (if needed) and joins a document a relay keeps.
func (m *Manager) host(ctx context.Context, id store.DocID) (*docState, error) {
	if err := m.opts.Store.CreateDoc(ctx, id, ""); err != nil && !errorsIsExists(err) {
		return nil, err
	}
	return m.join(id)
}

// Durability acknowledgements. A relay (AckDurable) publishes, on each
// hosted document's durability topic, the version it has made durable:
// after every batch of transactions it persisted, and after every catch-up
// exchange. Daemons take them only from the relays they were configured
// with, keep the highest per relay, and show them in DocStatus and to the
// editor ("saved on relay").

// subscribeDurable joins the document's durability topic.
func (d *docState) subscribeDurable() error {
	t := d.m.opts.Transport
	if t == nil || (!d.m.opts.AckDurable && len(d.m.opts.Relays) == 0) {
		return nil
	}
	id := wire.DocID(d.id)
	topic, err := t.Join(wire.DurableTopic(id), func(_ string, data []byte) (any, error) {
		_, err := wire.ParseDurable(data, id)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("replica: joining the durability topic of %s: %w", d.id, err)
	}
	d.durableTopic = topic
	if len(d.m.opts.Relays) > 0 {
		d.m.wg.Add(1)
		go d.readDurable()
	}
	return nil
}

func (d *docState) readDurable() {
	defer d.m.wg.Done()
	for {
		msg, err := d.durableTopic.Next(d.m.ctx)
		if err != nil {
			return
		}
		from, data := msg.From, msg.Data
		ack, err := wire.ParseDurable(data, wire.DocID(d.id))
		if err != nil {
			continue
		}
		d.readDurableFrom(from, ack.Version)
	}
}

func (m *Manager) isRelay(peer string) bool {
	for _, r := range m.opts.Relays {
		if r == peer {
			return true
		}
	}
	return false
}

// noteAck records a relay's acknowledged version (they only grow).
func (d *docState) noteAck(relay string, v map[string]uint64) {
	d.amu.Lock()
	defer d.amu.Unlock()
	if d.acked == nil {
		d.acked = map[string]map[string]uint64{}
	}
	cur := d.acked[relay]
	if cur == nil {
		cur = map[string]uint64{}
		d.acked[relay] = cur
	}
	for a, n := range v {
		if n > cur[a] {
			cur[a] = n
		}
	}
	d.ackedAt = time.Now()
}

// relayAcked returns the version the best-covering relay acknowledged
// (nil when none has).
func (d *docState) relayAcked() (map[string]uint64, time.Time) {
	d.amu.Lock()
	defer d.amu.Unlock()
	var best map[string]uint64
	bestN := uint64(0)
	for _, v := range d.acked {
		n := uint64(0)
		for _, s := range v {
			n += s
		}
		if best == nil || n > bestN {
			best, bestN = v, n
		}
	}
	return maps.Clone(best), d.ackedAt
}

// markDurable is called on a relay once a batch holding version v is on
// disk: it publishes the acknowledgement, at most one at a time per
// document (a newer version supersedes a queued one).
func (d *docState) markDurable(v map[string]uint64) {
	d.amu.Lock()
	for a, n := range v {
		if d.durable == nil {
			d.durable = map[string]uint64{}
		}
		if n > d.durable[a] {
			d.durable[a] = n
		}
	}
	if d.publishing {
		d.republish = true // the running publisher sends the newer version
		d.amu.Unlock()
		return
	}
	d.publishing = true
	d.amu.Unlock()
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		for {
			d.amu.Lock()
			v := maps.Clone(d.durable)
			d.republish = false
			d.amu.Unlock()
			d.publishDurable(v)
			d.amu.Lock()
			if !d.republish {
				d.publishing = false
				d.amu.Unlock()
				return
			}
			d.amu.Unlock()
		}
	}()
}

func (d *docState) publishDurable(v map[string]uint64) {
	if d.durableTopic == nil || len(v) == 0 {
		return
	}
	// Seq makes every acknowledgement a new message: gossip drops a
	// message whose bytes it has seen in the last two minutes, and a repeat
	// after a peer restarts is exactly what that peer needs.
	b, err := wire.MarshalDurable(wire.Durable{Doc: d.id[:], Version: v, Seq: d.m.ackSeq.Add(1)})
	if err != nil {
		return
	}
	if err := d.durableTopic.Publish(d.m.ctx, b); err != nil {
		d.m.log.Debug("publishing a durability acknowledgement", "doc", d.id, "err", err)
	}
}

// ackWhenDurable waits (off the actor) for a batch to be durable, then
// acknowledges v.
func (d *docState) ackWhenDurable(ack *store.Ack, v map[string]uint64) {
	if !d.m.opts.AckDurable || ack == nil {
		return
	}
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		select {
		case <-ack.Done():
		case <-d.m.ctx.Done():
			return
		}
		if ack.Err() == nil {
			d.markDurable(v)
		}
	}()
}

// loadedDurable records, on a relay, that what it loaded from disk is
// durable (after a restart its acknowledged version starts from there).
func (d *docState) loadedDurable(v map[string]uint64) {
	if !d.m.opts.AckDurable {
		return
	}
	d.amu.Lock()
	defer d.amu.Unlock()
	if d.durable == nil {
		d.durable = map[string]uint64{}
	}
	for a, n := range v {
		if n > d.durable[a] {
			d.durable[a] = n
		}
	}
}

// durableVersion is what a relay tells a peer at the end of a catch-up.
func (d *docState) durableVersion() map[string]uint64 {
	if !d.m.opts.AckDurable {
		return nil
	}
	d.amu.Lock()
	defer d.amu.Unlock()
	return maps.Clone(d.durable)
}

// reackDurable publishes the current durable version again (after a
// catch-up exchange, so that other peers of the document hear it too; the
// peer of the exchange already has it from the done message).
func (d *docState) reackDurable() {
	if v := d.durableVersion(); len(v) > 0 {
		d.markDurable(v)
	}
}

func errorsIsExists(err error) bool { return errors.Is(err, store.ErrExists) }

// readDurableFrom records an acknowledgement if it comes from a
// configured relay: only they vouch for durability.
func (d *docState) readDurableFrom(from string, v map[string]uint64) {
	if d.m.isRelay(from) {
		d.noteAck(from, v)
	}
}
