package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"weft/api"
	"weft/store"
	"weft/wire"
)

// docState is one joined document: its gossip subscriptions, which live as
// long as the manager, and its driver, whose goroutine runs while the
// document has work, tabs or writes awaiting acknowledgement, and stops
// when it is idle. The topic readers hand what they receive to the driver
// as messages; they share no state with it.
type docState struct {
	m     *Manager
	id    store.DocID
	topic Topic

	presenceTopic Topic
	durableTopic  Topic

	// Hints the driver keeps for readers elsewhere (status, listings,
	// whether presence needs fanning out): written only by the driver.
	loaded atomic.Bool
	chars  atomic.Int64 // text length when last known (-1: unknown)
	tabs   atomic.Int32

	mu  sync.Mutex // guards run, and hands drv from one run to the next
	run *run
	drv driver
}

// run is one run of the driver's goroutine.
type run struct {
	inbox chan request
	done  chan struct{}
}

func newDocState(m *Manager, id store.DocID) *docState {
	d := &docState{m: m, id: id}
	d.drv.d = d
	if m.opts.AckDurable {
		d.drv.relay = &relayAcks{}
	}
	if len(m.opts.Relays) > 0 {
		d.drv.acked = &daemonAcks{}
	}
	d.chars.Store(-1)
	return d
}

// subscribe joins the document's topics and starts reading them.
func (d *docState) subscribe() error {
	t := d.m.opts.Transport
	if t == nil {
		return nil
	}
	doc := d.id
	topic, err := t.Join(TopicName(d.id), func(from string, data []byte) (any, error) {
		// Decoded here once: the reader takes the validator's value. A
		// refusal is counted by the transport (by its reason).
		e, err := wire.ParseEnvelope(data, doc)
		if err != nil {
			return nil, err
		}
		txn, err := e.Open()
		if err != nil {
			return nil, err
		}
		return received{env: e, raw: data, txn: txn}, nil
	})
	if err != nil {
		return fmt.Errorf("replica: joining the topic of %s: %w", d.id, err)
	}
	d.topic = topic
	if err := topic.WatchPeers(d.peersChanged); err != nil {
		// The tabs then learn the peer count only with other news.
		d.m.log.Warn("watching a document's peers", "doc", d.id, "err", err)
	}
	d.read(topic, d.fromGossip)
	pt, err := t.Join(wire.PresenceTopic(doc), func(_ string, data []byte) (any, error) {
		return wire.ParsePresence(data, doc)
	})
	if err != nil {
		return fmt.Errorf("replica: joining the presence topic of %s: %w", d.id, err)
	}
	d.presenceTopic = pt
	d.read(pt, d.fromPresence)
	return d.subscribeDurable()
}

// read hands every message of t to f, in order, until the manager closes.
func (d *docState) read(t Topic, f func(Message)) {
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		for {
			msg, err := t.Next(d.m.ctx)
			if err != nil {
				return
			}
			f(msg)
		}
	}()
}

// fromGossip hands a peer's transaction to the driver.
func (d *docState) fromGossip(msg Message) {
	e, ok := msg.Value.(received)
	if !ok { // a transport that does not pass validator values on
		return
	}
	d.m.stats.add(&d.m.stats.gossipReceived, 1)
	if p := d.m.opts.DropGossip; p > 0 && rand.Float64() < p {
		return
	}
	arrived := d.m.opts.Now()
	err := d.do(d.m.ctx, func(dr *driver) error {
		_, err := dr.apply(d.m.ctx, input{src: fromGossip, envs: []received{e}}, nil, arrived)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, api.ErrClosed) {
		d.m.log.Warn("applying a gossiped transaction", "doc", d.id, "from", msg.From, "err", err)
	}
}

// fromPresence relays a peer's cursor to this daemon's tabs: the topic's
// presence record (checked by the topic's validator) in a socket message.
func (d *docState) fromPresence(msg Message) {
	if d.tabs.Load() == 0 {
		return
	}
	b, err := wire.MarshalPresenceMsg(msg.Data)
	if err != nil {
		return
	}
	_ = d.do(d.m.ctx, func(dr *driver) error {
		dr.fanPresence(nil, b)
		return nil
	})
}

// peersChanged is called by the transport when the topic's peers change:
// the tabs are told the new count.
func (d *docState) peersChanged() {
	if d.tabs.Load() == 0 {
		return
	}
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		_ = d.do(d.m.ctx, func(dr *driver) error {
			dr.pushStatus()
			return nil
		})
	}()
}

func (d *docState) topicPeers() []string {
	if d.topic == nil {
		return nil
	}
	return d.topic.Peers()
}

// discover announces the document and runs catch-up with every peer that
// may have it: connected peers and those the DHT knows of.
func (d *docState) discover() {
	t := d.m.opts.Transport
	if t == nil {
		return
	}
	for _, p := range t.Peers() {
		d.m.goSync(p.ID, d.id)
	}
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		ctx, cancel := context.WithTimeout(d.m.ctx, time.Minute)
		defer cancel()
		topic := TopicName(d.id)
		if err := t.Announce(ctx, topic); err != nil {
			d.m.log.Debug("announcing a document", "doc", d.id, "err", err)
		}
		peers, err := t.FindPeers(ctx, topic, 16)
		if err != nil {
			d.m.log.Debug("finding a document's peers", "doc", d.id, "err", err)
		}
		for _, p := range peers {
			d.m.goSync(p, d.id)
		}
	}()
}

// request is one piece of work for the driver.
type request struct {
	f     func(dr *driver) error
	reply chan error // buffered: the driver never blocks on it
}

// do runs f on the document's driver (starting its goroutine if needed)
// and returns f's error. f runs exactly once, or not at all when an error
// says so.
func (d *docState) do(ctx context.Context, f func(dr *driver) error) error {
	for {
		r, err := d.start()
		if err != nil {
			return err
		}
		req := request{f: f, reply: make(chan error, 1)}
		select {
		case r.inbox <- req:
		case <-r.done:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-req.reply:
			return err
		case <-r.done:
			select {
			case err := <-req.reply:
				return err
			default:
				continue // the run ended without taking it: retry
			}
		}
	}
}

// start returns the driver's running goroutine, starting one if needed.
func (d *docState) start() (*run, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != nil {
		return d.run, nil
	}
	select {
	case <-d.m.ctx.Done():
		return nil, api.ErrClosed
	default:
	}
	r := &run{inbox: make(chan request, 64), done: make(chan struct{})}
	d.run = r
	d.m.wg.Add(1)
	go d.loop(r)
	return r, nil
}

// errStopping tells the loop to end its run for good (the manager closes).
var errStopping = errors.New("replica: document closing")

// loop is the driver's goroutine: requests in arrival order, completed
// writes, and unloading when idle.
func (d *docState) loop(r *run) {
	m := d.m
	defer m.wg.Done()
	defer close(r.done)
	dr := &d.drv
	ctx := context.WithoutCancel(m.ctx)
	idle := time.NewTimer(m.opts.IdleUnload)
	defer idle.Stop()
	for {
		select {
		case req := <-r.inbox:
			err := req.f(dr)
			if errors.Is(err, errStopping) {
				req.reply <- nil
				d.end(r, true)
				return
			}
			req.reply <- err
			idle.Reset(m.opts.IdleUnload)
		case <-dr.relay.next():
			dr.relay.completed(dr)
		case <-idle.C:
			dr.unload(ctx)
			if !dr.busy() && d.end(r, false) {
				return
			}
			idle.Reset(m.opts.IdleUnload)
		case <-m.ctx.Done():
			dr.shutdown(ctx)
			d.end(r, true)
			return
		}
	}
}

// end finishes a run unless a request is waiting (final: regardless).
func (d *docState) end(r *run, final bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !final && len(r.inbox) > 0 {
		return false
	}
	d.run = nil
	return true
}

// close ends the driver (unloading the document and detaching its tabs)
// and leaves the topics.
func (d *docState) close() error {
	var err error
	_ = d.do(context.Background(), func(dr *driver) error {
		dr.shutdown(context.WithoutCancel(d.m.ctx))
		err = dr.unloadErr
		return errStopping
	})
	for _, t := range []Topic{d.topic, d.presenceTopic, d.durableTopic} {
		if t == nil {
			continue
		}
		if cerr := t.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}
