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
	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// docState is one held document: its gossip subscription (for as long as
// the manager runs; on a relay, while peers use the document), and its
// driver, whose goroutine runs while the
// document has work, tabs or writes awaiting acknowledgement, and stops
// when it is idle. The topic's reader hands what it receives to the driver
// as messages; it shares no state with it.
type docState struct {
	m  *Manager
	id store.DocID
	// mem is a members-only document's membership; nil for a legacy
	// document, which stays on this device (no topics, no catch-up).
	mem *membership
	// joined is the document's topic while subscribed (nil: not); joinMu
	// serialises joining and leaving it.
	joined atomic.Pointer[joinedTopic]
	joinMu sync.Mutex

	// Hints the driver keeps for readers elsewhere (status, listings,
	// whether presence needs fanning out): written only by the driver.
	loaded atomic.Bool
	// ackSoon is set while a relay's acknowledgement for a peer that
	// arrived on the topic is due (peersChanged).
	ackSoon atomic.Bool
	// ackCheck is set while a relay's acknowledgement of more than this
	// replica holds waits to be checked again (relayAcked).
	ackCheck atomic.Bool
	// early rate-limits, per sending peer, gossip transactions that arrive
	// ahead of their predecessors (validate).
	early presenceGate // its per-sender rate limiters, not its seqs
	// peersMu guards lastPeers, the topic's peers when peersChanged last
	// looked: a peer new to the topic gets a catch-up.
	peersMu   sync.Mutex
	lastPeers map[string]bool
	chars     atomic.Int64 // text length when last known (-1: unknown)
	gone      atomic.Bool  // deleted (docs.go): no driver starts again
	titled    atomic.Bool  // the history holds a title op: peers' hello titles are not adopted (docs.go)
	tabs      atomic.Int32

	seen    committedHeads // what the driver committed, for the validator
	pres    presenceGate   // peers' presence: rate and order (the validator's)
	presOut presenceOut    // peers' presence on its way to the tabs

	mu  sync.Mutex // guards run, and hands drv from one run to the next
	run *run
	drv driver
}

// run is one run of the driver's goroutine.
type run struct {
	inbox chan request
	done  chan struct{}
}

func newDocState(m *Manager, id store.DocID, ms *membership) *docState {
	d := &docState{m: m, id: id, mem: ms}
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

// subscribe joins the document's topic and starts reading it. A legacy
// document joins none: it is not shared until upgraded.
func (d *docState) subscribe() error {
	t := d.m.opts.Transport
	if t == nil || d.mem == nil {
		return nil
	}
	d.joinMu.Lock()
	defer d.joinMu.Unlock()
	if d.joined.Load() != nil {
		return nil // joined already (a relay's join queued twice)
	}
	name, key := d.topicName(), d.mem.route
	raw, err := t.Join(name, func(from string, data []byte) (any, error) {
		// Opened and decoded here once: the reader takes the validator's
		// value. A refusal is counted by the transport (by its reason).
		pt, err := key.Open(name, data)
		if err != nil {
			return nil, err
		}
		return d.validate(from, pt)
	})
	if err != nil {
		return fmt.Errorf("replica: joining the topic of %s: %w", d.id, err)
	}
	topic := sealedTopic{Topic: raw, name: name, key: key}
	ctx, cancel := context.WithCancel(d.m.ctx)
	j := &joinedTopic{sealedTopic: topic, cancel: cancel}
	if err := topic.WatchPeers(d.peersChanged); err != nil {
		// The tabs then learn the peer count only with other news.
		d.m.log.Warn("watching a document's peers", "doc", d.id, "err", err)
	}
	d.joined.Store(j)
	d.read(ctx, j)
	d.announce()
	return nil
}

// joinedTopic is the document's topic while this replica is subscribed.
type joinedTopic struct {
	sealedTopic
	cancel context.CancelFunc // ends its reader
	// quiet is when the topic was first seen without peers since it last
	// had some (unix nanoseconds; 0: it has peers): a relay leaves a
	// topic quiet for Options.TopicIdle.
	quiet atomic.Int64
}

// topic returns the document's topic, or nil while this replica is not
// subscribed to it (a legacy document; a relay's document nobody uses).
func (d *docState) topic() Topic {
	if j := d.joined.Load(); j != nil {
		return j
	}
	return nil
}

// publish sends b on the document's topic, if joined; what names it in
// the log.
func (d *docState) publish(what string, b []byte) {
	t := d.topic()
	if t == nil {
		return
	}
	if err := t.Publish(d.m.ctx, b); err != nil {
		d.m.log.Debug("publishing "+what, "doc", d.id, "err", err)
	}
}

// leave unsubscribes from the document's topic (its reader stops); the
// document stays held.
func (d *docState) leave() error {
	d.joinMu.Lock()
	defer d.joinMu.Unlock()
	j := d.joined.Swap(nil)
	if j == nil {
		return nil
	}
	j.cancel()
	return j.Close()
}

// topicName names a members-only document's one topic, "weft/doc/<t>": a
// hash of the ID, not the ID. Transactions, announcements, revocations,
// proofs, presence and durability acknowledgements all travel on it, told
// apart by their kind (member.Kind).
func (d *docState) topicName() string { return "weft/doc/" + member.TopicHex(d.id) }

// sealedTopic seals what is published with the document's route key.
type sealedTopic struct {
	Topic
	name string
	key  *member.RouteKey
}

func (t sealedTopic) Publish(ctx context.Context, data []byte) error {
	b, err := t.key.Seal(t.name, data)
	if err != nil {
		return err
	}
	return t.Topic.Publish(ctx, b)
}

// announced is the value of a member announcement (nothing to deliver).
type announced struct{}

// validate checks a gossip message of the document's topic: a member's
// announcement (its chain, added to the book), a revocation or proof, a
// transaction signed by a member who may write (opened when this device
// can read), a cursor, or a relay's durability acknowledgement.
func (d *docState) validate(from string, pt []byte) (any, error) {
	ms := d.mem
	kind, err := member.Kind(pt)
	if err != nil {
		return nil, err
	}
	switch kind {
	case member.KindPresence:
		return d.validatePresence(from, pt)
	case member.KindDurable:
		b, err := member.ParseDurableMsg(pt)
		if err != nil {
			return nil, err
		}
		return wire.ParseDurable(b, d.id)
	}
	// Membership records (proofs, revocations, announcements) that verify
	// are passed on even when this replica holds them already: it may have
	// learnt one by a way its topic peers had no part in (a relay learns a
	// joiner's chain in their catch-up handshake, before the joiner's
	// announcement arrives), and they have not. GossipSub's seen cache
	// stops the loops; a record is a few hundred bytes, and only a
	// member's valid one passes.
	if kind == member.KindProof {
		p, err := member.ParseProofMsg(pt, d.id)
		if err != nil {
			return nil, err
		}
		if changed, err := ms.addProof(p); err != nil {
			return nil, err
		} else if changed {
			d.saveMembers()
		}
		return announced{}, nil
	}
	if kind == member.KindRevoke {
		r, err := member.ParseRevocationMsg(pt)
		if err != nil {
			return nil, err
		}
		if r.Doc != d.id {
			return nil, vocab.Reject(vocab.ReasonWrongDocument, "a revocation for another document")
		}
		if changed, err := ms.revoke(r); err != nil {
			return nil, err
		} else if changed {
			d.saveMembers()
		}
		return announced{}, nil
	}
	if kind == member.KindAnnounce {
		c, err := member.ParseAnnounce(pt)
		if err != nil {
			return nil, err
		}
		if _, changed, err := ms.add(c, d.m.opts.Now().Unix()); err != nil {
			return nil, err
		} else if changed {
			d.confirmJoin(c)
			d.saveMembers()
		}
		return announced{}, nil
	}
	e, err := member.ParseEnvelope(pt, d.id)
	if err != nil {
		return nil, err
	}
	if d.seen.has(e) {
		// Held already: neither forwarded nor blamed (the mesh brought it
		// twice, or a peer republished it).
		return nil, vocab.Ignore(vocab.ReasonDuplicate, "transaction %s already held", e.Header.Span())
	}
	if d.seen.ahead(e) && !d.early.allow(from, earlyPerSecond, earlyBurst, d.m.opts.Now()) {
		// Transactions that would only wait for their predecessors, past
		// what a peer may send at a rate: dropped here, before the
		// signature check and the driver (a flood of orphans held up the
		// honest pair's edits behind them), without blame — a burst that
		// outran its own commits looks the same; catch-up brings them.
		return nil, vocab.Ignore(vocab.ReasonQuota, "%s sends transactions ahead of their predecessors over %d/s", from, earlyPerSecond)
	}
	if err := ms.author(e.Header.Span()); err != nil {
		if vocab.Reason(err) == vocab.ReasonCapability {
			// Perhaps a member this replica has not heard of yet: a
			// catch-up with the author brings its roster.
			d.m.goSync(from, d.id)
		}
		return nil, err
	}
	if err := e.Header.Verify(); err != nil {
		return nil, err
	}
	rv := received{sig: e}
	if ms.canRead() {
		if rv.txn, err = openTxn(ms, e); err != nil {
			return nil, err
		}
	}
	return rv, nil
}

// forked keeps a proof of equivocation the driver met, saves it and
// passes it on: every replica that hears it stops counting the agent's
// transactions from the fork on.
func (d *docState) forked(p *member.Proof) {
	changed, err := d.mem.addProof(p)
	if err != nil || !changed {
		return
	}
	d.m.log.Warn("a member signed two histories", "doc", d.id, "agent", p.Agent(), "from_seq", p.ForkSeq())
	d.saveMembers()
	d.publish("a proof", member.AnnounceProof(p))
}

// announce publishes this device's chain on the document's topic, so
// members that never met it can check its transactions.
func (d *docState) announce() {
	d.publish("membership", member.Announce(d.mem.localChain()))
}

// confirmJoin gives a member who joined with an expiring invite this
// device made a lasting place, and announces it (off the caller's
// goroutine: it may be a topic validator's).
func (d *docState) confirmJoin(c member.Chain) {
	lasting := d.mem.confirm(c, d.m.opts.Now().Unix())
	if lasting == nil || d.topic() == nil {
		return
	}
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		d.publish("a confirmed member", member.Announce(lasting))
	}()
}

// passOn announces on the topic a member's chain this replica learnt in a
// catch-up handshake. The member announced it when it joined, but perhaps
// to no one: a peer learns who is in a topic from their subscriptions, and
// one made before this device held the document was not tracked (a relay
// a joiner reaches first passes its chain to the members already online,
// who would refuse the joiner's edits until they heard it). The bytes are
// the member's own announcement, so a copy already seen is dropped by
// GossipSub's seen cache.
func (d *docState) passOn(c member.Chain) {
	if d.topic() == nil {
		return
	}
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		d.publish("a member's chain", member.Announce(c))
	}()
}

// saveMembers writes the membership after the book changed, off the
// caller's goroutine (a topic validator's).
func (d *docState) saveMembers() {
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		if err := d.mem.save(d.m.ctx, d.m.opts.Store); err != nil && d.m.ctx.Err() == nil {
			d.m.log.Warn("saving a document's membership", "doc", d.id, "err", err)
		}
	}()
}

// read hands every message of the document's topic to what it is for,
// in order, until ctx ends (the manager closes, or the topic is left):
// one goroutine per joined document.
func (d *docState) read(ctx context.Context, t Topic) {
	d.m.wg.Add(1)
	go func() {
		defer d.m.wg.Done()
		for {
			msg, err := t.Next(ctx)
			if err != nil {
				return
			}
			switch v := msg.Value.(type) {
			case received:
				d.fromGossip(msg.From, v)
			case presenceRecord:
				d.fromPresence(v)
			case wire.Durable:
				d.relayAcked(msg.From, v.Version)
			}
		}
	}()
}

// fromGossip hands a peer's transaction to the driver.
func (d *docState) fromGossip(from string, e received) {
	d.m.stats.add(&d.m.stats.gossipReceived, 1)
	if p := d.m.opts.DropGossip; p > 0 && rand.Float64() < p {
		return
	}
	arrived := d.m.opts.Now()
	err := d.do(d.m.ctx, func(dr *driver) error {
		_, err := dr.apply(d.m.ctx, input{src: fromGossip, envs: []received{e}, peer: from}, nil, arrived)
		return err
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, api.ErrClosed) {
		d.m.log.Warn("applying a gossiped transaction", "doc", d.id, "from", from, "err", err)
	}
}

// peersChanged is called by the transport when the topic's peers change:
// the tabs are told the new count.
func (d *docState) peersChanged() {
	d.syncNewPeers()
	if d.m.opts.AckDurable && d.ackSoon.CompareAndSwap(false, true) {
		// A relay acknowledges again when peers arrive: one that joined
		// the topic after the last acknowledgement (or whose subscription
		// this relay learnt only from its GRAFT) has not heard it. At most
		// one per ackAgainAfter, however often peers come and go.
		time.AfterFunc(ackAgainAfter, func() {
			d.ackSoon.Store(false)
			if !d.loaded.Load() || !d.m.enter() {
				return
			}
			go func() {
				defer d.m.wg.Done()
				_ = d.do(d.m.ctx, func(dr *driver) error {
					dr.publishDurable()
					return nil
				})
			}()
		})
	}
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

// syncNewPeers runs catch-up with every peer that arrived on the topic
// since the last look. This is what starts catch-up with a peer: it
// subscribed to the document's topic, so it holds the document (a peer
// that merely connects does not make a replica open a stream per
// document it holds — a stranger could otherwise make a relay open one
// for each of its documents, per connection).
func (d *docState) syncNewPeers() {
	now := d.topicPeers()
	d.peersMu.Lock()
	var arrived []string
	next := make(map[string]bool, len(now))
	for _, p := range now {
		next[p] = true
		if !d.lastPeers[p] {
			arrived = append(arrived, p)
		}
	}
	d.lastPeers = next
	d.peersMu.Unlock()
	for _, p := range arrived {
		d.m.goSync(p, d.id)
	}
}

// A peer may send earlyPerSecond gossip transactions a second (with a
// burst of earlyBurst) that arrive ahead of their predecessors: a pasted
// run or a catch-up's republication outruns its own commits for a moment,
// a flood of orphans is cut off.
const (
	earlyPerSecond = 50
	earlyBurst     = 200
)

// ackAgainAfter is how soon after peers arrive on a document's topic a
// relay acknowledges again (and how often at most).
const ackAgainAfter = 250 * time.Millisecond

func (d *docState) topicPeers() []string {
	t := d.topic()
	if t == nil {
		return nil
	}
	return t.Peers()
}

// discover announces the document and runs catch-up with every peer that
// may have it: connected peers and those the DHT knows of.
func (d *docState) discover() {
	t := d.m.opts.Transport
	if t == nil || d.mem == nil {
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
		topic := d.topicName()
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
	if d.gone.Load() {
		return nil, fmt.Errorf("%w %s (deleted)", api.ErrUnknownDoc, d.id)
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
// checkpointQuiet is how long after a checkpoint becomes due it is
// written.
const checkpointQuiet = 2 * time.Second

func (d *docState) loop(r *run) {
	m := d.m
	defer m.wg.Done()
	defer close(r.done)
	dr := &d.drv
	ctx := context.WithoutCancel(m.ctx)
	idle := time.NewTimer(m.opts.IdleUnload)
	defer idle.Stop()
	// A checkpoint that is due is written a moment after it became due,
	// once: not after every transaction of a catch-up that brings many.
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	defer quiet.Stop()
	armed := false
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
			if !armed && dr.checkpointDue() {
				quiet.Reset(checkpointQuiet)
				armed = true
			}
		case <-quiet.C:
			armed = false
			if dr.checkpointDue() {
				_ = dr.checkpoint(ctx) // a failure is logged; every envelope is stored anyway
			}
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
// and leaves the topic.
func (d *docState) close() error {
	var err error
	_ = d.do(context.Background(), func(dr *driver) error {
		dr.shutdown(context.WithoutCancel(d.m.ctx))
		err = dr.unloadErr
		return errStopping
	})
	if cerr := d.leave(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
