package replica

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"weft/api"
	"weft/crdt"
	"weft/store"
	"weft/wire"
)

// docState is one joined document: its gossip subscription, which lives as
// long as the manager, and its actor, which holds the crdt state while the
// document is in use and is unloaded when idle.
type docState struct {
	m     *Manager
	id    store.DocID
	topic Topic

	mu    sync.Mutex
	a     *actor
	chars int // text length when last unloaded (-1: unknown)

	presenceTopic Topic
	smu           sync.Mutex
	sessions      map[*Session]bool // attached editor tabs

	// Durability (relay.go): on a relay, what is on disk and whether an
	// acknowledgement is being published; on a daemon, what relays acked.
	durableTopic Topic
	amu          sync.Mutex
	durable      map[string]uint64
	publishing   bool
	republish    bool
	acked        map[string]map[string]uint64
	ackedAt      time.Time
}

func newDocState(m *Manager, id store.DocID) *docState {
	return &docState{m: m, id: id, chars: -1}
}

// subscribe joins the document's topic and starts reading it.
func (d *docState) subscribe() error {
	t := d.m.opts.Transport
	if t == nil {
		return nil
	}
	v := wire.Validator(wire.DocID(d.id))
	topic, err := t.Join(TopicName(d.id), func(from string, data []byte) (any, error) {
		err := v(from, data)
		if err != nil {
			d.m.stats.reject(Reason(err))
		}
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("replica: joining the topic of %s: %w", d.id, err)
	}
	d.topic = topic
	d.m.wg.Add(1)
	go d.readTopic()
	pt, err := t.Join(wire.PresenceTopic(wire.DocID(d.id)), func(_ string, data []byte) (any, error) {
		_, err := wire.ParsePresence(data, wire.DocID(d.id))
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("replica: joining the presence topic of %s: %w", d.id, err)
	}
	d.presenceTopic = pt
	d.m.wg.Add(1)
	go d.readPresence()
	return d.subscribeDurable()
}

func (d *docState) readTopic() {
	defer d.m.wg.Done()
	for {
		msg, err := d.topic.Next(d.m.ctx)
		if err != nil {
			return
		}
		from, data := msg.From, msg.Data
		e, err := wire.ParseEnvelope(data, wire.DocID(d.id))
		if err != nil {
			d.m.stats.reject(Reason(err))
			continue
		}
		d.m.stats.add(&d.m.stats.gossipReceived, 1)
		if p := d.m.opts.DropGossip; p > 0 && rand.Float64() < p {
			continue
		}
		start := time.Now()
		err = d.do(d.m.ctx, func(a *actor) error { return a.remote([]wire.Envelope{e}, "gossip", start) })
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, api.ErrClosed) {
			d.m.log.Warn("applying a gossiped transaction", "doc", d.id, "from", from, "err", err)
		}
	}
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

func (d *docState) isLoaded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.a != nil
}

func (d *docState) loadedChars() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.a != nil {
		return int(d.a.chars.Load())
	}
	return d.chars
}

// errUnloaded tells do that the actor went away before taking the request.
var errUnloaded = errors.New("replica: document unloaded")

// request is one piece of work for an actor.
type request struct {
	f     func(a *actor) error
	reply chan error // buffered: the actor never blocks on it
}

// do runs f on the document's actor (loading it if needed) and returns
// f's error. f runs exactly once, or not at all when an error says so.
func (d *docState) do(ctx context.Context, f func(a *actor) error) error {
	for {
		a, err := d.actor()
		if err != nil {
			return err
		}
		req := request{f: f, reply: make(chan error, 1)}
		select {
		case a.inbox <- req:
		case <-a.done:
			continue
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-req.reply:
			return err
		case <-a.done:
			select {
			case err := <-req.reply:
				return err
			default:
				continue // the actor exited without taking it: retry
			}
		}
	}
}

// actor returns the running actor, starting one if needed.
func (d *docState) actor() (*actor, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.a != nil {
		return d.a, nil
	}
	select {
	case <-d.m.ctx.Done():
		return nil, api.ErrClosed
	default:
	}
	a := &actor{d: d, inbox: make(chan request, 64), done: make(chan struct{})}
	d.a = a
	d.m.wg.Add(1)
	go a.run()
	return a, nil
}

// close stops the actor (unloading the document) and leaves the topic.
func (d *docState) close() error {
	var err error
	d.mu.Lock()
	a := d.a
	d.mu.Unlock()
	if a != nil {
		req := request{f: func(a *actor) error { a.stopping = true; return nil }, reply: make(chan error, 1)}
		select {
		case a.inbox <- req:
			<-a.done
			err = a.unloadErr
		case <-a.done:
		}
	}
	d.eachSession(func(s *Session) { s.Close() })
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

// load builds the document's crdt state from its latest snapshot and the
// stored transactions after it.
func (d *docState) load(ctx context.Context) (*crdt.Doc, int, error) {
	st := d.m.opts.Store
	agent := d.m.opts.Agent
	var doc *crdt.Doc
	var since store.Version
	snap, err := st.Snapshot(ctx, d.id)
	switch {
	case err == nil:
		if doc, err = crdt.LoadSnapshot(agent, snap.Payload); err != nil {
			return nil, 0, fmt.Errorf("replica: document %s: loading its snapshot: %w", d.id, err)
		}
		since = snap.Covers
	case errors.Is(err, store.ErrNotFound):
		if doc, err = crdt.New(agent); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, err
	}
	n := 0
	err = st.Stream(ctx, d.id, since, func(chunk []store.TxnRecord) error {
		for _, rec := range chunk {
			t, err := crdt.DecodeTxn(rec.Payload)
			if err != nil {
				return fmt.Errorf("stored transaction %s/%d: %w", rec.Agent, rec.Seq, err)
			}
			if _, err := doc.Apply(t); err != nil {
				return fmt.Errorf("stored transaction %s/%d: %w", rec.Agent, rec.Seq, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("replica: document %s: %w", d.id, err)
	}
	return doc, n, nil
}
