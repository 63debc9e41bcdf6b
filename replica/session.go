package replica

import (
	"context"
	"maps"
	"sync"

	"weft/member"
	"weft/vocab"
	"weft/wire"
)

// Session is one editor tab attached to a document (see ui/PROTOCOL.md).
// The tab is a replica of its own: the session answers its hello with a
// catch-up, applies its transactions as the tab's local edits and acks
// them, and forwards it everything the document integrates afterwards, and
// other users' cursors.
//
// The document's driver owns the session once it exists: it alone sends to
// the tab, attaches and detaches it. Handle and Close are called from the
// tab's socket reader, one at a time.
type Session struct {
	d         *docState
	out       chan []byte
	closeOnce sync.Once
	hello     bool // the socket reader's: the hello was answered

	// The driver's: whether out is closed, and what the tab was last
	// told of peers and the relay.
	closed bool
	peers  int
	relay  map[string]uint64
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
	return &Session{d: d, out: make(chan []byte, sessionQueue), peers: -1}, nil
}

// Out is the stream of messages for the tab. It is closed when the session
// ends (the tab fell behind, or the document closed); the tab reconnects.
func (s *Session) Out() <-chan []byte { return s.out }

// Close detaches the tab.
func (s *Session) Close() {
	err := s.d.do(context.Background(), func(dr *driver) error {
		dr.detach(s)
		return nil
	})
	if err != nil {
		// The driver has ended for good and detached every attached
		// tab; this one never was, and nothing else sends to it.
		s.closeOut()
	}
}

func (s *Session) closeOut() { s.closeOnce.Do(func() { close(s.out) }) }

// Handle takes one message from the tab. An error means the message was
// refused; the caller closes the socket for errors wrapping ErrRejected.
func (s *Session) Handle(ctx context.Context, b []byte) error {
	d := s.d
	kind, err := wire.Kind(b)
	var msg wire.SyncMsg
	switch {
	case err != nil:
	case kind == wire.MsgPresence:
		var record []byte
		if _, record, err = wire.ParsePresenceMsg(b, d.id); err == nil {
			return s.presence(ctx, b, record)
		}
	default:
		msg, err = wire.ParseSync(b) // refuses status, which only the daemon sends
	}
	if err == nil && msg.Doc != nil && string(msg.Doc) != string(d.id[:]) {
		err = vocab.Reject(vocab.ReasonWrongDocument, "message for another document")
	}
	if err == nil {
		switch {
		case msg.Kind == wire.MsgHello && !s.hello:
			return s.onHello(ctx, msg.Version)
		case msg.Kind == wire.MsgTxns && s.hello:
			return s.onTxns(ctx, msg.Envs)
		default:
			err = vocab.Reject(vocab.ReasonMalformed, "unexpected message of kind %d", msg.Kind)
		}
	}
	d.m.stats.reject(vocab.Reason(err))
	s.failVia(ctx, err)
	return err
}

// failVia tells the tab why its message was refused (through the driver,
// which alone sends to the tab).
func (s *Session) failVia(ctx context.Context, err error) {
	_ = s.d.do(ctx, func(dr *driver) error {
		dr.send(s, failMsg(err))
		return nil
	})
}

func failMsg(err error) []byte {
	return marshal(wire.SyncMsg{Kind: wire.MsgFail, Reason: err.Error()})
}

func marshal(m wire.SyncMsg) []byte {
	b, err := wire.MarshalSync(m)
	if err != nil {
		panic("replica: encoding a sync message: " + err.Error()) // only well-formed values are built here
	}
	return b
}

// onHello answers with the daemon's version, what the tab lacks (for a
// fresh tab, a snapshot in the hello: tabsnap.go), and done;
// from then on the tab receives live updates. All of it happens on the
// driver, so nothing falls between the catch-up and the first live update.
func (s *Session) onHello(ctx context.Context, theirs map[string]uint64) error {
	d := s.d
	return d.do(ctx, func(dr *driver) error {
		var wires [][]byte
		var snap []byte
		var err error
		if len(theirs) == 0 {
			snap, err = dr.snapshotForTab(ctx) // tabsnap.go
		}
		if err == nil && snap == nil {
			wires, err = dr.missing(ctx, theirs)
		}
		if err != nil {
			return err
		}
		dr.send(s, marshal(wire.SyncMsg{Kind: wire.MsgHello, Doc: d.id[:], Version: dr.doc.Version(), Checkpoint: snap}))
		for _, envs := range wire.Pack(wires) {
			dr.send(s, marshal(wire.SyncMsg{Kind: wire.MsgTxns, Envs: envs}))
		}
		dr.send(s, marshal(wire.SyncMsg{Kind: wire.MsgDone}))
		s.hello = true
		dr.attach(s)
		dr.sendStatus(s)
		return nil
	})
}

// onTxns applies the tab's transactions (the step's order for a tab), then
// acks them.
func (s *Session) onTxns(ctx context.Context, raw [][]byte) error {
	d := s.d
	envs := make([]received, 0, len(raw))
	for _, w := range raw {
		e, err := wire.ParseEnvelope(w, d.id)
		if err != nil {
			d.m.stats.reject(vocab.Reason(err))
			s.failVia(ctx, err)
			return err
		}
		envs = append(envs, received{env: e, raw: w})
	}
	arrived := d.m.opts.Now()
	return d.do(ctx, func(dr *driver) error {
		if _, err := dr.apply(ctx, input{src: fromTab, envs: envs}, s, arrived); err != nil {
			dr.send(s, failMsg(err))
			return err
		}
		dr.send(s, marshal(wire.SyncMsg{Kind: wire.MsgAck, Version: dr.doc.Version()}))
		return nil
	})
}

// presence relays the tab's cursor to the document's other tabs (the
// message as the tab sent it) and peers (the presence record inside it).
func (s *Session) presence(ctx context.Context, msg, record []byte) error {
	d := s.d
	if t := d.topic(); t != nil && d.mem != nil {
		sealed, err := d.mem.sealPresence(d.topicName(), record)
		if err == nil {
			err = t.Publish(ctx, member.PresenceMsg(sealed))
		}
		if err != nil {
			d.m.log.Debug("publishing presence", "doc", d.id, "err", err)
		}
	}
	return d.do(ctx, func(dr *driver) error {
		dr.fanPresence(s, msg)
		return nil
	})
}

// The driver's side of its tabs.

func (dr *driver) attach(s *Session) {
	if dr.sessions == nil {
		dr.sessions = map[*Session]struct{}{}
	}
	dr.sessions[s] = struct{}{}
	dr.d.tabs.Store(int32(len(dr.sessions)))
}

func (dr *driver) detach(s *Session) {
	delete(dr.sessions, s)
	dr.d.tabs.Store(int32(len(dr.sessions)))
	s.closed = true
	s.closeOut()
}

// send queues a message for the tab without blocking; a tab that cannot
// keep up is detached (it reconnects and resyncs).
func (dr *driver) send(s *Session, b []byte) {
	if s.closed {
		return
	}
	select {
	case s.out <- b:
	default:
		dr.detach(s)
	}
}

// fanTxns sends newly integrated envelopes to every tab but except.
func (dr *driver) fanTxns(wires [][]byte, except *Session) {
	if len(wires) == 0 || len(dr.sessions) == 0 {
		return
	}
	msgs := make([][]byte, 0, 1)
	for _, envs := range wire.Pack(wires) {
		msgs = append(msgs, marshal(wire.SyncMsg{Kind: wire.MsgTxns, Envs: envs}))
	}
	for s := range dr.sessions {
		if s == except {
			continue
		}
		for _, b := range msgs {
			dr.send(s, b)
		}
	}
}

func (dr *driver) fanPresence(except *Session, b []byte) {
	for s := range dr.sessions {
		if s != except {
			dr.send(s, b)
		}
	}
}

// pushStatus tells every tab the document's peer count and the relay's
// acknowledged version, where they changed (called when either changes).
func (dr *driver) pushStatus() {
	for s := range dr.sessions {
		dr.sendStatus(s)
	}
}

func (dr *driver) sendStatus(s *Session) {
	peers := len(dr.d.topicPeers())
	acked := dr.acked.best()
	if s.peers == peers && maps.Equal(s.relay, acked) {
		return
	}
	s.peers, s.relay = peers, acked
	b, err := wire.MarshalStatus(wire.Status{Peers: uint64(peers), Relay: acked})
	if err != nil {
		panic("replica: encoding a status message: " + err.Error()) // only well-formed values are built here
	}
	dr.send(s, b)
}
