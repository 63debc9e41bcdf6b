package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"weft/api"
	"weft/store"
	"weft/wire"
)

// Session is one editor tab attached to a document (see ui/PROTOCOL.md).
// The tab is a replica of its own: the session answers its hello with a
// catch-up, applies its transactions as durable local edits and acks them,
// and forwards it everything the document integrates afterwards, and other
// users' cursors.
type Session struct {
	d   *docState
	out chan []byte

	mu      sync.Mutex
	hello   bool
	closed  bool
	dropped bool
	peers   int
	relay   map[string]uint64 // the relay's acknowledged version last sent
}

// sessionQueue bounds the messages waiting for a tab; a tab that falls
// this far behind is disconnected and resyncs when it reconnects.
const sessionQueue = 1024

// OpenSession attaches a tab to a joined document.
func (m *Manager) OpenSession(ctx context.Context, sid string) (*Session, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return nil, err
	}
	s := &Session{d: d, out: make(chan []byte, sessionQueue), peers: -1}
	return s, nil
}

// Out is the stream of messages for the tab. It is closed when the session
// ends (the tab fell behind, or the document closed); the tab reconnects.
func (s *Session) Out() <-chan []byte { return s.out }

// Close detaches the tab.
func (s *Session) Close() {
	s.d.removeSession(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.out)
	}
}

// send queues a message for the tab without blocking; a tab that cannot
// keep up is dropped.
func (s *Session) send(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.out <- b:
	default:
		s.closed, s.dropped = true, true
		close(s.out)
	}
}

func (s *Session) sendMsg(m wire.SyncMsg) {
	b, err := wire.MarshalSync(m)
	if err != nil {
		return
	}
	s.send(b)
}

func (s *Session) fail(reason string) {
	s.sendMsg(wire.SyncMsg{Kind: wire.MsgFail, Reason: reason})
}

// Handle takes one message from the tab. An error means the message was
// refused; the caller closes the socket for errors wrapping ErrRejected.
func (s *Session) Handle(ctx context.Context, b []byte) error {
	d := s.d
	if p, err := wire.ParsePresence(b, wire.DocID(d.id)); err == nil {
		return s.presence(ctx, p, b)
	}
	msg, err := wire.ParseSync(b)
	if err != nil {
		d.m.stats.reject(wire.Reason(err))
		s.fail(err.Error())
		return err
	}
	if msg.Doc != nil && string(msg.Doc) != string(d.id[:]) {
		err := wire.Reject("wrong-document", "message for another document")
		s.fail(err.Error())
		return err
	}
	s.mu.Lock()
	helloDone := s.hello
	s.mu.Unlock()
	switch {
	case msg.Kind == wire.MsgHello && !helloDone:
		return s.onHello(ctx, msg.Version)
	case msg.Kind == wire.MsgTxns && helloDone:
		return s.onTxns(ctx, msg.Envs)
	default:
		err := wire.Reject("malformed", "unexpected message of kind %d", msg.Kind)
		s.fail(err.Error())
		return err
	}
}

// onHello answers with the daemon's version, what the tab lacks, and done;
// from then on the tab receives live updates. Both happen on the actor, so
// nothing falls between the catch-up and the first live update.
func (s *Session) onHello(ctx context.Context, theirs map[string]uint64) error {
	d := s.d
	return d.do(ctx, func(a *actor) error {
		wires, err := a.missing(theirs)
		if err != nil {
			return err
		}
		s.sendMsg(wire.SyncMsg{Kind: wire.MsgHello, Doc: d.id[:], Version: a.doc.Version()})
		for len(wires) > 0 {
			n, size := 0, 0
			for n < len(wires) && n < wire.ChunkEnvelopes && (n == 0 || size+len(wires[n]) <= wire.ChunkBytes) {
				size += len(wires[n])
				n++
			}
			s.sendMsg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: wires[:n]})
			wires = wires[n:]
		}
		s.sendMsg(wire.SyncMsg{Kind: wire.MsgDone})
		s.mu.Lock()
		s.hello = true
		s.mu.Unlock()
		d.addSession(s)
		s.sendStatus(len(d.topicPeers()))
		return nil
	})
}

// onTxns applies the tab's transactions as local edits: durable, then
// published, then sent to the other tabs; then acked.
func (s *Session) onTxns(ctx context.Context, raw [][]byte) error {
	d := s.d
	envs := make([]wire.Envelope, 0, len(raw))
	for _, w := range raw {
		e, err := wire.ParseEnvelope(w, wire.DocID(d.id))
		if err != nil {
			d.m.stats.reject(wire.Reason(err))
			s.fail(err.Error())
			return err
		}
		envs = append(envs, e)
	}
	return d.do(ctx, func(a *actor) error {
		if err := a.fromTab(ctx, envs, s); err != nil {
			s.fail(err.Error())
			return err
		}
		s.sendMsg(wire.SyncMsg{Kind: wire.MsgAck, Version: a.doc.Version()})
		return nil
	})
}

// presence relays the tab's cursor to the document's peers and other tabs.
func (s *Session) presence(ctx context.Context, p wire.Presence, b []byte) error {
	d := s.d
	d.fanPresence(s, b)
	if t := d.presenceTopic; t != nil {
		if err := t.Publish(ctx, b); err != nil {
			d.m.log.Debug("publishing presence", "doc", d.id, "err", err)
		}
	}
	return nil
}

// sendStatus tells the tab how many peers the document has, when it
// changed.
func (s *Session) sendStatus(peers int) {
	acked, _ := s.d.relayAcked()
	s.mu.Lock()
	same := s.peers == peers && maps.Equal(s.relay, acked)
	s.peers, s.relay = peers, acked
	s.mu.Unlock()
	if same {
		return
	}
	info, _ := json.Marshal(struct {
		Peers int `json:"peers"`
	}{peers})
	s.sendMsg(wire.SyncMsg{Kind: wire.MsgStatus, Reason: string(info), Version: acked})
}

// addSession, removeSession and the fan-outs manage a document's tabs.
func (d *docState) addSession(s *Session) {
	d.smu.Lock()
	if d.sessions == nil {
		d.sessions = map[*Session]bool{}
	}
	d.sessions[s] = true
	d.smu.Unlock()
}

func (d *docState) removeSession(s *Session) {
	d.smu.Lock()
	delete(d.sessions, s)
	d.smu.Unlock()
}

func (d *docState) eachSession(f func(*Session)) {
	d.smu.Lock()
	ss := make([]*Session, 0, len(d.sessions))
	for s := range d.sessions {
		ss = append(ss, s)
	}
	d.smu.Unlock()
	for _, s := range ss {
		f(s)
	}
}

// fanTxns sends newly integrated envelopes to every tab but except.
func (d *docState) fanTxns(wires [][]byte, except *Session) {
	if len(wires) == 0 {
		return
	}
	d.eachSession(func(s *Session) {
		if s == except {
			return
		}
		for rest := wires; len(rest) > 0; {
			n := min(len(rest), wire.ChunkEnvelopes)
			s.sendMsg(wire.SyncMsg{Kind: wire.MsgTxns, Envs: rest[:n]})
			rest = rest[n:]
		}
	})
}

func (d *docState) fanPresence(except *Session, b []byte) {
	d.eachSession(func(s *Session) {
		if s != except {
			s.send(b)
		}
	})
}

// readPresence relays peers' cursors to this daemon's tabs.
func (d *docState) readPresence() {
	defer d.m.wg.Done()
	for {
		msg, err := d.presenceTopic.Next(d.m.ctx)
		if err != nil {
			return
		}
		data := msg.Data
		d.fanPresence(nil, data)
	}
}

// statusLoop tells tabs when their document's peer count changes.
func (m *Manager) statusLoop() {
	defer m.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		docs := make([]*docState, 0, len(m.docs))
		for _, d := range m.docs {
			docs = append(docs, d)
		}
		m.mu.Unlock()
		for _, d := range docs {
			n := len(d.topicPeers())
			d.eachSession(func(s *Session) { s.sendStatus(n) })
		}
	}
}

// fromTab integrates a tab's transactions as local edits. They are
// published to peers and sent to the other tabs first, then made durable
// (immediate policy), and only then acked. Publishing first is safe here,
// unlike for the daemon's own edits: the seqs are the tab's, and the tab
// keeps every edit until it is acked and sends it again after any failure,
// so nothing a peer saw can be lost or reused; and it keeps the disk's
// fsync out of a keystroke's way to the other users.
func (a *actor) fromTab(ctx context.Context, envs []wire.Envelope, from *Session) error {
	m := a.d.m
	start := time.Now()
	before := a.doc.Version()
	var refused error
	for i := range envs {
		t, err := envs[i].Open()
		if err != nil {
			m.stats.reject(wire.Reason(err))
			refused = err
			break
		}
		if _, err := a.doc.Apply(t); err != nil {
			m.stats.reject("history")
			refused = fmt.Errorf("%w: %v", api.ErrBadInput, err)
			break
		}
	}
	// What was integrated before a refusal is kept like the rest.
	fresh := a.doc.Missing(before)
	if len(fresh) == 0 {
		return refused
	}
	recs, wires, err := a.seal(fresh)
	if err != nil {
		return err
	}
	a.publish(wires)
	a.d.fanTxns(wires, from)
	if _, err := a.appendAll(context.WithoutCancel(ctx), store.Immediate, recs); err != nil {
		a.broken = err
		return errors.New("replica: saving the tab's edits failed; reconnect to resync")
	}
	a.sinceSnapshot += len(recs)
	a.lastApplied = m.opts.Now()
	m.stats.add(&m.stats.localTxns, uint64(len(recs)))
	m.opts.Observer.Integrated("tab", len(recs), time.Since(start))
	return refused
}
