package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crypto/ed25519"

	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// SyncProtocol is the catch-up stream protocol. Two replicas exchange
// version vectors for one document, then each streams the other what it
// lacks, in causal order and bounded chunks, and says when it is done:
//
//	A → B  open {topic ID, MAC}                  (A knows the document's ID)
//	B → A  prove {MAC, chain, roster, …}  or  fail {unknown document}
//	A → B  prove {MAC, chain, roster, …}         (B resets if A proves nothing)
//	A → B  hello {doc, version of A, heads, sealed title}
//	B → A  hello {doc, version of B, heads, sealed title}
//	both   txns {signed envelopes}* done  (concurrently, each direction)
//
// Messages are wire.SyncMsg (CBOR) in length-prefixed frames; the
// handshake is docs/members-only.md's. Legacy documents have no
// catch-up. The exchange is idempotent: an interrupted one
// simply runs again from the versions both sides have reached.
const SyncProtocol = "/weft/sync/2.0.0"

func writeMsg(s Stream, m wire.SyncMsg) error {
	b, err := wire.MarshalSync(m)
	if err != nil {
		return err
	}
	return s.WriteMsg(b)
}

func readMsg(s Stream) (wire.SyncMsg, error) {
	b, err := s.ReadMsg()
	if err != nil {
		return wire.SyncMsg{}, err
	}
	m, err := wire.ParseSync(b)
	if err != nil {
		return m, err
	}
	if m.Kind > wire.MsgFail && m.Kind != wire.MsgOpen && m.Kind != wire.MsgProve && m.Kind != wire.MsgCheckpoint {
		return m, vocab.Reject(vocab.ReasonMalformed, "sync message of kind %d between replicas", m.Kind)
	}
	return m, nil
}

// deadline bounds a stream's reads and writes by ctx's deadline, so that a
// silent peer cannot hold it longer than the exchange may take; call stop
// once the exchange is over.
func deadline(ctx context.Context, s Stream) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	// A cancelled ctx (the manager closing) resets the stream: a read from
	// a peer gone silent behind a partition would otherwise hold Close for
	// up to SyncTimeout (the chaos harness saw a daemon take minutes to
	// stop).
	return context.AfterFunc(ctx, func() { _ = s.Reset() })
}

// idleStream resets its stream when no frame was read or written on it
// for idle: each step of an exchange (open, prove, hello, every txns
// frame) must progress within it, however long the whole exchange may
// take. A frame counts once whole: idle must exceed the time one frame
// (at most wire.ChunkBytes) takes on a slow link.
type idleStream struct {
	Stream
	idle    time.Duration
	stopCtx func() bool
	last    atomic.Int64 // unix nanoseconds of the last whole frame
	timer   *time.Timer
	ended   atomic.Bool
	stale   atomic.Bool // reset for idleness
}

// guardIdle guards s until stop; it also resets s when ctx ends (the
// exchange's timeout, shutdown), whatever step the exchange is at.
func guardIdle(ctx context.Context, s Stream, idle time.Duration) *idleStream {
	g := &idleStream{Stream: s, idle: idle}
	g.last.Store(time.Now().UnixNano())
	g.timer = time.AfterFunc(idle, g.check)
	g.stopCtx = context.AfterFunc(ctx, func() {
		if !g.ended.Load() {
			_ = g.Stream.Reset()
		}
	})
	return g
}

func (g *idleStream) check() {
	if g.ended.Load() {
		return
	}
	if quiet := time.Since(time.Unix(0, g.last.Load())); quiet < g.idle {
		g.timer.Reset(g.idle - quiet)
		return
	}
	g.stale.Store(true)
	_ = g.Stream.Reset()
}

func (g *idleStream) progress() { g.last.Store(time.Now().UnixNano()) }

func (g *idleStream) ReadMsg() ([]byte, error) {
	b, err := g.Stream.ReadMsg()
	if err == nil {
		g.progress()
	}
	return b, g.explain(err)
}

func (g *idleStream) WriteMsg(b []byte) error {
	err := g.Stream.WriteMsg(b)
	if err == nil {
		g.progress()
	}
	return g.explain(err)
}

func (g *idleStream) explain(err error) error {
	if err != nil && g.stale.Load() {
		return fmt.Errorf("%w (%v)", errIdle, err)
	}
	return err
}

// stop ends the guard (the stream is done with).
func (g *idleStream) stop() {
	g.ended.Store(true)
	g.timer.Stop()
	g.stopCtx()
}

var errIdle = errors.New("replica: catch-up peer silent for too long")

// slots bounds concurrent catch-up exchanges: at most total at once, at
// most perPeer with one peer.
type slots struct {
	mu             sync.Mutex
	total, perPeer int
	n              int
	byPeer         map[string]int
	freed          chan struct{} // closed (and replaced) when a slot frees
}

func newSlots(total, perPeer int) *slots {
	return &slots{total: total, perPeer: perPeer, byPeer: map[string]int{}, freed: make(chan struct{})}
}

// try takes a slot for peer if one is free; peerFull says the peer's own
// bound was what refused it.
func (s *slots) try(peer string) (ok, peerFull bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byPeer[peer] >= s.perPeer {
		return false, true
	}
	if s.n >= s.total {
		return false, false
	}
	s.n++
	s.byPeer[peer]++
	return true, false
}

// acquire waits for a slot for peer, or for ctx's end.
func (s *slots) acquire(ctx context.Context, peer string) error {
	for {
		s.mu.Lock()
		freed := s.freed
		s.mu.Unlock()
		if ok, _ := s.try(peer); ok {
			return nil
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *slots) release(peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if s.byPeer[peer]--; s.byPeer[peer] <= 0 {
		delete(s.byPeer, peer)
	}
	close(s.freed)
	s.freed = make(chan struct{})
}

type syncKey struct {
	peer string
	doc  store.DocID
}

// goSync starts a catch-up exchange with peer for doc unless one is
// already running. It waits for one of the peer's outgoing slots first
// and then for one of all: a peer that holds its slots with streams it
// never answers delays only its own exchanges.
func (m *Manager) goSync(peer string, doc store.DocID) {
	if m.opts.Transport == nil || peer == m.opts.Transport.ID() {
		return
	}
	key := syncKey{peer, doc}
	if _, busy := m.inflight.LoadOrStore(key, struct{}{}); busy {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer m.inflight.Delete(key)
		if err := m.outbound.acquire(m.ctx, peer); err != nil {
			return
		}
		defer m.outbound.release(peer)
		err := m.SyncWith(m.ctx, peer, doc)
		switch {
		case err == nil || m.ctx.Err() != nil || errors.Is(err, errPeerLacksDoc):
		case errors.Is(err, errPeerBusy):
			m.log.Debug("catch-up", "peer", peer, "doc", doc, "err", err)
		default:
			m.stats.add(&m.stats.syncFailures, 1)
			m.log.Debug("catch-up", "peer", peer, "doc", doc, "err", err)
		}
	}()
}

var (
	errPeerLacksDoc = errors.New("replica: peer does not have the document")
	errPeerBusy     = errors.New("replica: peer runs as many catch-up exchanges as it takes")
)

// reasonBusy is a fail message's reason for a stream over a bound.
const reasonBusy = "busy"

// refusedToKeep starts the answer to a grant refused over a quota.
const refusedToKeep = "this relay refuses to keep the document: "

// SyncWith runs one catch-up exchange with peer for doc, in both
// directions, and returns when both sides are done. A legacy document is
// not shared: it has no catch-up.
func (m *Manager) SyncWith(ctx context.Context, peer string, doc store.DocID) error {
	d, err := m.doc(doc)
	if err != nil {
		return err
	}
	ms := d.mem
	if ms == nil {
		return errLegacy
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.SyncTimeout)
	defer cancel()
	openCtx, openCancel := context.WithTimeout(ctx, m.opts.SyncIdleTimeout)
	raw, err := m.opts.Transport.Open(openCtx, peer, SyncProtocol)
	openCancel()
	if err != nil {
		return err
	}
	defer raw.Close()
	defer deadline(ctx, raw)()
	g := guardIdle(ctx, raw, m.opts.SyncIdleTimeout)
	defer g.stop()
	var s Stream = g
	me := m.opts.Transport.ID()
	topic := member.TopicID(doc)
	open := wire.SyncMsg{Kind: wire.MsgOpen, Topic: topic[:], MAC: member.OpenMAC(doc, []byte(me), []byte(peer))}
	if g := m.grant(peer, doc); g != nil {
		open.Grant, open.DocKey = g.Marshal(), ms.docKey()
	}
	if err := writeMsg(s, open); err != nil {
		_ = s.Reset()
		return err
	}
	reply, err := readMsg(s)
	if err != nil {
		m.blame(peer, err)
		_ = s.Reset()
		return err
	}
	switch {
	case reply.Kind == wire.MsgFail && open.Grant != nil && strings.HasPrefix(reply.Reason, refusedToKeep):
		return fmt.Errorf("replica: %s", reply.Reason)
	case reply.Kind == wire.MsgFail && reply.Reason == reasonBusy:
		return errPeerBusy
	case reply.Kind == wire.MsgFail:
		return fmt.Errorf("%w: %s", errPeerLacksDoc, reply.Reason)
	case reply.Kind != wire.MsgProve:
		return m.refuseSync(s, vocab.Reject(vocab.ReasonMalformed, "expected a proof of membership for %s", doc))
	}
	if err := member.CheckOpenMAC(doc, []byte(peer), []byte(me), reply.MAC); err != nil {
		return m.refuseSync(s, err)
	}
	role, err := m.admit(d, peer, reply)
	if err != nil {
		return m.refuseSync(s, err)
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgProve, MAC: member.OpenMAC(doc, []byte(me), []byte(peer)), Chain: ms.chain(), Roster: ms.roster(), Revocations: ms.revocations(), Proofs: ms.proofs()}); err != nil {
		_ = s.Reset()
		return err
	}
	mine, heads, covers, err := d.versionHeads(ctx)
	if err != nil {
		_ = s.Reset()
		return err
	}
	mine = m.askAgain(ctx, doc, mine) // repair.go
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgHello, Doc: doc[:], Version: mine, Heads: heads, Covers: covers, SealedTitle: ms.sealTitle(m.title(ctx, doc))}); err != nil {
		_ = s.Reset()
		return err
	}
	hello, err := readMsg(s)
	if err != nil {
		m.blame(peer, err)
		_ = s.Reset()
		return err
	}
	if hello.Kind != wire.MsgHello || string(hello.Doc) != string(doc[:]) {
		return m.refuseSync(s, vocab.Reject(vocab.ReasonMalformed, "expected a hello for %s", doc))
	}
	m.adoptTitle(ctx, doc, ms.openTitle(hello.SealedTitle))
	if ms.keepTitle(hello.SealedTitle) {
		d.saveMembers()
	}
	return m.exchange(ctx, s, d, hello, role)
}

var errLegacy = errors.New("replica: a legacy document is not shared (upgrade it: weft doc upgrade)")

// refuseSync ends an exchange with a peer that did not prove what it
// must: the refusal is counted by its reason, the peer penalised and the
// stream reset.
func (m *Manager) refuseSync(s Stream, err error) error {
	m.blame(s.Peer(), err)
	_ = s.Reset()
	return err
}

// blame counts input a peer sent on a stream that was refused for a named
// reason, and lowers the peer's score for it; a broken connection or a
// silent peer is neither.
func (m *Manager) blame(peer string, err error) {
	if !vocab.IsRejected(err) {
		return
	}
	m.stats.reject(vocab.Reason(err))
	if m.opts.Transport != nil {
		m.opts.Transport.Penalize(peer, vocab.Reason(err))
	}
}

// admit checks a peer's proof of membership: a chain valid now whose leaf
// is the key the peer's connection was authenticated with (so no
// separate challenge needs signing), granting at least pull; then adds
// it and the peer's roster (judged as history, without a clock) to the
// book.
func (m *Manager) admit(d *docState, peer string, p wire.SyncMsg) (member.Role, error) {
	ms := d.mem
	key, err := m.opts.Transport.PeerKey(peer)
	if err != nil {
		return 0, vocab.Reject(vocab.ReasonCapability, "peer %s: %v", peer, err)
	}
	c, err := member.ParseChain(p.Chain)
	if err != nil {
		return 0, err
	}
	mem, changed, err := ms.add(c, m.opts.Now().Unix())
	if err != nil {
		return 0, err
	}
	if !ed25519.PublicKey(mem.Subject).Equal(key) {
		return 0, vocab.Reject(vocab.ReasonCapability, "peer %s proved another device's capability", peer)
	}
	if changed {
		d.confirmJoin(c)
		d.passOn(c)
	}
	for _, raw := range p.Revocations {
		r, err := member.ParseRevocation(raw)
		if err != nil || r.Doc != d.id {
			continue
		}
		if ch, err := ms.revoke(r); err == nil && ch {
			changed = true
		}
	}
	for _, raw := range p.Proofs {
		if pr, err := member.ParseProof(raw, d.id); err == nil {
			if ch, err := ms.addProof(pr); err == nil && ch {
				changed = true
			}
		}
	}
	for _, raw := range p.Roster {
		rc, err := member.ParseChain(raw)
		if err != nil {
			continue // one bad chain does not spoil the others
		}
		if _, ch, err := ms.add(rc, member.IgnoreExpiry); err == nil && ch {
			changed = true
		}
	}
	if changed {
		d.saveMembers()
	}
	ms.mu.Lock()
	revoked := ms.book.Revoked(key)
	ms.mu.Unlock()
	if revoked {
		return 0, vocab.Reject(vocab.ReasonRevoked, "peer %s is a removed member", peer)
	}
	return mem.Role, nil
}

// serveSync answers a catch-up exchange a peer opened. Until the peer has
// proved a capability for the document, it learns nothing: a document
// this replica lacks and a proof that fails get the same answer.
//
// At most SyncMaxInbound exchanges run at once, SyncMaxInboundPerPeer
// with one peer: a stream over either bound is answered "busy" and
// closed before anything is read from it.
func (m *Manager) serveSync(peer string, raw Stream) {
	if !m.enter() {
		_ = raw.Reset()
		return
	}
	defer m.wg.Done()
	defer raw.Close()
	if ok, peerFull := m.inbound.try(peer); !ok {
		m.stats.add(&m.stats.syncBusy, 1)
		if peerFull {
			// An honest peer opens at most SyncMaxOutboundPerPeer.
			m.opts.Transport.Penalize(peer, vocab.ReasonQuota)
		}
		_ = raw.SetDeadline(time.Now().Add(time.Second))
		_ = writeMsg(raw, wire.SyncMsg{Kind: wire.MsgFail, Reason: reasonBusy})
		_ = raw.CloseWrite()
		return
	}
	defer m.inbound.release(peer)
	ctx, cancel := context.WithTimeout(m.ctx, m.opts.SyncTimeout)
	defer cancel()
	defer deadline(ctx, raw)()
	g := guardIdle(ctx, raw, m.opts.SyncIdleTimeout)
	defer g.stop()
	var s Stream = g
	open, err := readMsg(s)
	if err != nil || open.Kind != wire.MsgOpen || len(open.Topic) != 16 {
		if err == nil {
			err = vocab.Reject(vocab.ReasonMalformed, "expected an open")
		}
		m.blame(peer, err)
		_ = s.Reset()
		return
	}
	unknown := func() {
		_ = writeMsg(s, wire.SyncMsg{Kind: wire.MsgFail, Reason: "unknown document"})
		_ = s.CloseWrite()
	}
	me := m.opts.Transport.ID()
	d := m.byTopic([16]byte(open.Topic))
	if d == nil && len(open.Grant) > 0 {
		var err error
		m.hostMu.Lock() // one grant at a time: two for one document make it once
		if d = m.byTopic([16]byte(open.Topic)); d == nil {
			d, err = m.acceptGrant(ctx, peer, [16]byte(open.Topic), open)
		}
		m.hostMu.Unlock()
		if err != nil {
			m.countReject(err)
			m.log.Debug("refusing a document to keep", "peer", peer, "err", err)
			var oq overQuota
			if errors.As(err, &oq) {
				// The grant proved its giver a member: it hears why.
				_ = writeMsg(s, wire.SyncMsg{Kind: wire.MsgFail, Reason: refusedToKeep + oq.Detail})
				_ = s.CloseWrite()
				return
			}
		}
	}
	if d != nil && d.mem != nil && d.mem.role() == member.RoleNone && len(open.Grant) > 0 {
		// Held, but under an identity that lost its place (a restored
		// store): a member grants it again.
		if err := m.regrant(ctx, d, peer, open); err != nil {
			m.countReject(err)
			m.log.Debug("refusing a grant", "peer", peer, "err", err)
		}
	}
	if d == nil || d.mem == nil || d.mem.role() == member.RoleNone {
		unknown()
		return
	}
	id, ms := d.id, d.mem
	if err := member.CheckOpenMAC(id, []byte(peer), []byte(me), open.MAC); err != nil {
		m.blame(peer, err)
		unknown()
		return
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgProve, MAC: member.OpenMAC(id, []byte(me), []byte(peer)), Chain: ms.chain(), Roster: ms.roster(), Revocations: ms.revocations(), Proofs: ms.proofs()}); err != nil {
		return
	}
	proof, err := readMsg(s)
	if err != nil {
		m.blame(peer, err)
		_ = s.Reset()
		return
	}
	if proof.Kind != wire.MsgProve {
		_ = m.refuseSync(s, vocab.Reject(vocab.ReasonMalformed, "expected a proof of membership"))
		return
	}
	role, err := m.admit(d, peer, proof)
	if err != nil {
		_ = m.refuseSync(s, err)
		m.log.Debug("refusing catch-up", "peer", peer, "doc", id, "err", err)
		return
	}
	m.inUse(d)
	hello, err := readMsg(s)
	if err != nil || hello.Kind != wire.MsgHello || string(hello.Doc) != string(id[:]) {
		if err != nil {
			m.blame(peer, err)
		} else {
			m.blame(peer, vocab.Reject(vocab.ReasonMalformed, "expected a hello"))
		}
		_ = s.Reset()
		return
	}
	mine, heads, covers, err := d.versionHeads(ctx)
	if err != nil {
		_ = writeMsg(s, wire.SyncMsg{Kind: wire.MsgFail, Doc: id[:], Reason: "document unavailable"})
		return
	}
	mine = m.askAgain(ctx, id, mine) // repair.go
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgHello, Doc: id[:], Version: mine, Heads: heads, Covers: covers, SealedTitle: ms.sealTitle(m.title(ctx, id))}); err != nil {
		return
	}
	m.adoptTitle(ctx, id, ms.openTitle(hello.SealedTitle))
	if ms.keepTitle(hello.SealedTitle) {
		d.saveMembers()
	}
	if err := m.exchange(ctx, s, d, hello, role); err != nil && m.ctx.Err() == nil {
		m.stats.add(&m.stats.syncFailures, 1)
		m.log.Debug("serving catch-up", "peer", peer, "doc", id, "err", err)
	}
	if m.opts.AckDurable {
		// Other peers of the document hear the relay's version too (the
		// peer of the exchange has it from the done message).
		_ = d.do(ctx, func(dr *driver) error {
			dr.publishDurable()
			return nil
		})
	}
}

// byTopic returns the members-only document with topic ID t.
func (m *Manager) byTopic(t [16]byte) *docState {
	m.mu.Lock()
	id, ok := m.topics[t]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	d, _ := m.doc(id) // built here on a relay, the first time
	return d
}

// exchange sends what the peer lacks and receives what we lack, at once.
func (m *Manager) exchange(ctx context.Context, s Stream, d *docState, hello wire.SyncMsg, peer member.Role) error {
	// A peer that stops reading must not hold us past the deadline or
	// shutdown: resetting the stream unblocks both directions.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-finished: // done already: the caller's cancel, not a stall
			default:
				_ = s.Reset()
			}
		case <-finished:
		}
	}()
	start := m.opts.Now()
	type result struct {
		n   int
		err error
	}
	sent := make(chan result, 1)
	go func() {
		n, err := m.sendMissing(ctx, s, d, hello, peer)
		sent <- result{n, err}
	}()
	received, recvErr := m.receive(ctx, s, d)
	sr := <-sent
	err := errors.Join(recvErr, sr.err)
	m.opts.Observer.SyncDone(m.opts.Now().Sub(start), sr.n, received, err)
	if err != nil {
		_ = s.Reset()
		return err
	}
	m.stats.add(&m.stats.syncRuns, 1)
	m.resolveMissing(ctx, d.id) // repair.go
	return nil
}

// sendMissing sends the peer what it lacks: the document's driver only
// decides what (the checkpoint, the version to stream from, this
// replica's heads where the peer's differ), and the history is then
// streamed from the store, off the driver, as the peer reads it
// (streamHistory).
func (m *Manager) sendMissing(ctx context.Context, s Stream, d *docState, hello wire.SyncMsg, peer member.Role) (int, error) {
	if d.mem == nil {
		return 0, errLegacy
	}
	// The hello offered what this replica holds, and a remote transaction
	// is applied before its batched write reaches the store: what is
	// queued is written first, or what is read from the store below (the
	// heads that prove a fork, the history streamed) would leave out the
	// newest transactions the peer was offered, until the next
	// anti-entropy round. Nothing queued costs nothing.
	if err := flushStore(ctx, m.opts.Store); err != nil {
		return 0, err
	}
	theirs, heads := hello.Version, hello.Heads
	var forks [][]byte
	var durable map[string]uint64
	var cp []byte
	var since store.Version
	err := d.do(ctx, func(dr *driver) error {
		// Loaded here, in this request: the document may have been
		// unloaded (idle, or shutting down) since the hello.
		if err := dr.ensure(ctx); err != nil {
			return err
		}
		var err error
		if cp, since, err = dr.checkpointFor(ctx, hello, peer); err != nil {
			return err
		}
		if since == nil {
			since = theirs
		}
		if forks, err = dr.forkedHeads(ctx, theirs, heads); err != nil {
			return err
		}
		// A relay's done carries the version it has on disk: a peer
		// learns it even when no gossip acknowledgement reaches it.
		durable = dr.relay.version()
		return nil
	})
	if err != nil {
		return 0, err
	}
	if cp != nil {
		if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgCheckpoint, Checkpoint: cp}); err != nil {
			return 0, err
		}
	}
	sent := 0
	send := func(envs [][]byte) error {
		for _, frame := range wire.Pack(envs) {
			if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgTxns, Envs: frame}); err != nil {
				return err
			}
			sent += len(frame)
			m.stats.add(&m.stats.syncSent, uint64(len(frame)))
		}
		return nil
	}
	if err := send(forks); err != nil {
		return sent, err
	}
	if err := m.streamHistory(ctx, d.id, since, send); err != nil {
		return sent, err
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgDone, Version: durable}); err != nil {
		return sent, err
	}
	return sent, s.CloseWrite()
}

// storeHold bounds how long streamHistory keeps the store's view of a
// document open while the peer has not taken the chunk read last: a
// compaction of the document (a relay taking a checkpoint, on the
// document's driver) waits for open views, so a slow reader must not hold
// one.
const storeHold = 250 * time.Millisecond

// errPause leaves the store's view while the peer is slow.
var errPause = errors.New("replica: paused for a slow reader")

// streamHistory hands send the stored envelopes of doc that since does
// not contain, in the store's order (causal, each agent's chain in
// order), one store chunk at a time (store.Options.StreamChunk*): send
// writes each as frames while the next is read. What is held is at most
// two chunks, whatever the history's size. When the peer does not take a
// chunk within storeHold, the view is left and, once it does, read again
// from where it stopped: since then contains everything handed out (an
// agent's envelopes are stored in seq order, so what was handed out of
// each agent is a prefix). A slow reader thus costs a new walk of the
// log's keys per pause, never memory, and never the driver's time.
func (m *Manager) streamHistory(ctx context.Context, doc store.DocID, since store.Version, send func([][]byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []store.TxnRecord)
	sent := make(chan error, 1)
	go func() {
		var err error
		for c := range chunks {
			if err != nil {
				continue // drained: the reader stops at its next hand-off
			}
			envs := make([][]byte, len(c))
			for i := range c {
				envs[i] = c[i].Payload
			}
			if err = send(envs); err != nil {
				cancel()
			}
		}
		sent <- err
	}()
	next := since.Clone() // since and what was handed out
	if next == nil {
		next = store.Version{}
	}
	advance := func(c []store.TxnRecord) {
		for i := range c {
			if end := c[i].Seq + c[i].Len; end > next[c[i].Agent] {
				next[c[i].Agent] = end
			}
		}
	}
	var err error
	for {
		var held []store.TxnRecord
		since = next.Clone()
		err = m.opts.Store.Stream(ctx, doc, since, func(c []store.TxnRecord) error {
			advance(c)
			t := time.NewTimer(storeHold)
			defer t.Stop()
			select {
			case chunks <- c:
				return nil
			case <-t.C:
				held = c
				return errPause
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if !errors.Is(err, errPause) {
			break
		}
		select {
		case chunks <- held:
			err = nil
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	close(chunks)
	if serr := <-sent; serr != nil {
		return serr
	}
	return err
}

func (m *Manager) receive(ctx context.Context, s Stream, d *docState) (int, error) {
	n := 0
	for {
		msg, err := readMsg(s)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, errors.New("replica: catch-up stream ended without done")
			}
			m.blame(s.Peer(), err)
			return n, err
		}
		switch msg.Kind {
		case wire.MsgDone:
			if len(msg.Version) > 0 {
				d.relayAcked(s.Peer(), msg.Version)
			}
			return n, nil
		case wire.MsgCheckpoint:
			err := d.do(ctx, func(dr *driver) error { return dr.takeCheckpoint(ctx, msg.Checkpoint) })
			if err != nil {
				m.blame(s.Peer(), err)
				return n, err
			}
			continue
		case wire.MsgTxns:
		default:
			err := vocab.Reject(vocab.ReasonMalformed, "unexpected sync message of kind %d", msg.Kind)
			m.blame(s.Peer(), err)
			return n, err
		}
		m.refill(ctx, d, msg.Envs) // repair.go
		envs, err := m.parseEnvs(d, msg.Envs)
		if err != nil {
			m.blame(s.Peer(), err)
			return n, err
		}
		m.stats.add(&m.stats.syncReceived, uint64(len(envs)))
		n += len(envs)
		arrived := m.opts.Now()
		err = d.do(ctx, func(dr *driver) error {
			_, err := dr.apply(ctx, input{src: fromSync, envs: envs, peer: s.Peer()}, nil, arrived)
			return err
		})
		if err != nil {
			return n, err
		}
	}
}

// versionHeads returns a members-only document's version and the hash of
// each agent's last header.
func (d *docState) versionHeads(ctx context.Context) (map[string]uint64, map[string][]byte, vocab.Version, error) {
	var v map[string]uint64
	var heads map[string][]byte
	var covers vocab.Version
	err := d.do(ctx, func(dr *driver) error {
		if err := dr.ensure(ctx); err != nil {
			return err
		}
		v = dr.version()
		covers = dr.cpCovers.Clone()
		heads = make(map[string][]byte, len(dr.hl.heads))
		for a, h := range dr.hl.heads {
			heads[a] = append([]byte(nil), h[:]...)
		}
		return nil
	})
	return v, heads, covers, err
}

// version returns the document's version vector.
func (d *docState) version(ctx context.Context) (map[string]uint64, error) {
	var v map[string]uint64
	err := d.do(ctx, func(dr *driver) error {
		if d.mem != nil {
			if err := dr.ensure(ctx); err != nil {
				return err
			}
			v = dr.version()
			return nil
		}
		doc, err := dr.loaded(ctx)
		if err == nil {
			v = doc.Version()
		}
		return err
	})
	return v, err
}

// countReject counts input refused for a named reason (a malformed or
// oversized message or frame); a broken connection is not a rejection.
func (m *Manager) countReject(err error) {
	if vocab.IsRejected(err) {
		m.stats.reject(vocab.Reason(err))
	}
}

// title is this replica's title of doc ("" if none or unreadable).
func (m *Manager) title(ctx context.Context, doc store.DocID) string {
	meta, err := m.opts.Store.Meta(ctx, doc)
	if err != nil {
		return ""
	}
	return meta.Title
}

// adoptTitle gives doc a peer's title when it has none here (a document
// joined by ID starts untitled). Renames travel as title transactions: once
// the history holds one, it alone sets the title (docs.go), so a title
// cleared by one is not taken back from a peer's hello.
func (m *Manager) adoptTitle(ctx context.Context, doc store.DocID, title string) {
	if title == "" || m.title(ctx, doc) != "" { // ParseSync dropped a title that breaks vocab.CheckTitle
		return
	}
	if d, err := m.doc(doc); err == nil && d.titled.Load() {
		return
	}
	if err := m.opts.Store.SetTitle(ctx, doc, title); err != nil {
		m.log.Debug("taking a peer's title", "doc", doc, "err", err)
	}
}

// parseEnvs decodes a txns message's envelopes for d: each signed by a
// member who may write. Signatures are checked per agent run: where an
// agent's envelopes in the message chain by hash (each names the one
// before as prev, seqs contiguous), only the newest one's signature is
// verified, since it vouches for the others through the hashes; an
// envelope that starts a chain in the message is linked to what this
// replica holds by the header log, or waits.
func (m *Manager) parseEnvs(d *docState, raws [][]byte) ([]received, error) {
	ms := d.mem
	if ms == nil {
		return nil, errLegacy
	}
	envs := make([]received, 0, len(raws))
	newest := make(map[string]int)
	covered := make([]bool, len(raws))
	for _, raw := range raws {
		e, err := member.ParseEnvelope(raw, d.id)
		if err != nil {
			return nil, err // not an envelope: the peer is broken or hostile
		}
		if err := ms.author(e.Header.Span()); err != nil {
			// Perhaps a member this replica has not heard of yet (the
			// roster came before it): skipped, the next catch-up brings
			// it with a roster that names its author.
			m.stats.reject(vocab.Reason(err))
			continue
		}
		i := len(envs)
		envs = append(envs, received{sig: e})
		if j, ok := newest[e.Header.Agent]; ok {
			if p := envs[j].sig; p.Header.Span().End() == e.Header.Seq && e.Header.Prev == p.Hash {
				covered[j] = true
			}
		}
		newest[e.Header.Agent] = i
	}
	for i := range envs {
		if !covered[i] {
			if err := envs[i].sig.Header.Verify(); err != nil {
				return nil, err
			}
		}
	}
	return envs, nil
}

// grantKey names a pull capability waiting to be handed to a peer.
type grantKey struct {
	peer string
	doc  store.DocID
}

// grant returns the pull capability to hand peer for doc, if any.
func (m *Manager) grant(peer string, doc store.DocID) member.Chain {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.grants[grantKey{peer, doc}]
}

// acceptGrant makes this replica keep a document a member granted it the
// pull role for (weft doc host), within its hosting policy and quotas.
func (m *Manager) acceptGrant(ctx context.Context, peer string, topic [16]byte, open wire.SyncMsg) (*docState, error) {
	if !m.opts.Host.All && len(m.opts.Host.Docs) == 0 {
		return nil, vocab.Reject(vocab.ReasonCapability, "this replica keeps no documents for others")
	}
	if len(open.DocKey) != ed25519.PublicKeySize {
		return nil, vocab.Reject(vocab.ReasonMalformed, "a grant without a document key")
	}
	docKey := ed25519.PublicKey(open.DocKey)
	doc, err := member.DocIDOf(docKey)
	if err != nil {
		return nil, err
	}
	if member.TopicID(doc) != topic {
		return nil, vocab.Reject(vocab.ReasonWrongDocument, "a grant for another document than the one opened")
	}
	if !m.hosts(doc) {
		return nil, vocab.Reject(vocab.ReasonCapability, "document %s is not one this replica keeps", doc)
	}
	if err := member.CheckOpenMAC(doc, []byte(peer), []byte(m.opts.Transport.ID()), open.MAC); err != nil {
		return nil, err
	}
	c, err := member.ParseChain(open.Grant)
	if err != nil {
		return nil, err
	}
	// The quotas first, for the granter the chain names (unverified): a
	// member granting past its quota made the relay check each refused
	// grant's signatures, a fifth of its CPU under the hostile suite's
	// grant flood. Checked again once the chain verifies.
	if err := m.quota.admitDoc(member.Issuer(c, docKey)); err != nil {
		return nil, err
	}
	got, err := member.Verify(c, docKey, m.opts.Now().Unix())
	if err != nil {
		return nil, err
	}
	if !ed25519.PublicKey(got.Subject).Equal(m.dev.Public()) {
		return nil, vocab.Reject(vocab.ReasonCapability, "a grant for another device")
	}
	if err := m.quota.admitDoc(member.Issuer(c, docKey)); err != nil {
		return nil, err
	}
	book, err := member.NewBook(docKey)
	if err != nil {
		return nil, err
	}
	ms, err := newMembership(doc, m.dev, book, &member.Local{Chain: c})
	if err != nil {
		return nil, err
	}
	ms.mu.Lock()
	rec := ms.record()
	ms.mu.Unlock()
	if err := m.opts.Store.CreateDocWith(ctx, doc, "", &rec); err != nil {
		return nil, err
	}
	return m.join(doc)
}

// regrant takes a grant for a document this replica holds but is no
// member of.
func (m *Manager) regrant(ctx context.Context, d *docState, peer string, open wire.SyncMsg) error {
	if err := member.CheckOpenMAC(d.id, []byte(peer), []byte(m.opts.Transport.ID()), open.MAC); err != nil {
		return err
	}
	if !m.hosts(d.id) {
		return vocab.Reject(vocab.ReasonCapability, "document %s is not one this replica keeps", d.id)
	}
	c, err := member.ParseChain(open.Grant)
	if err != nil {
		return err
	}
	got, _, err := d.mem.add(c, m.opts.Now().Unix())
	if err != nil {
		return err
	}
	if !ed25519.PublicKey(got.Subject).Equal(m.dev.Public()) {
		return vocab.Reject(vocab.ReasonCapability, "a grant for another device")
	}
	return d.mem.save(ctx, m.opts.Store)
}
