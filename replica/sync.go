package replica

import (
	"context"
	"errors"
	"fmt"
	"io"

	"weft/api"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// SyncProtocol is the catch-up stream protocol. Two replicas exchange
// version vectors for one document, then each streams the other what it
// lacks, in causal order and bounded chunks, and says when it is done:
//
//	A → B  hello {doc, version of A}
//	B → A  hello {doc, version of B}   or  fail {reason}   (B lacks the document)
//	both   txns {envelopes}* done      (concurrently, each direction)
//
// Messages are CBOR [1, kind, doc, version, envelopes, reason] in
// length-prefixed frames. The exchange is idempotent: an interrupted one
// simply runs again from the versions both sides have reached.
const SyncProtocol = "/weft/sync/1.0.0"

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
	if m.Kind > wire.MsgFail {
		return m, vocab.Reject(vocab.ReasonMalformed, "sync message of kind %d between replicas", m.Kind)
	}
	return m, nil
}

// deadline bounds a stream's reads and writes by ctx's deadline, so that a
// silent peer cannot hold it longer than the exchange may take.
func deadline(ctx context.Context, s Stream) {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
}

type syncKey struct {
	peer string
	doc  store.DocID
}

// goSync starts a catch-up exchange with peer for doc unless one is
// already running.
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
		select {
		case m.syncSem <- struct{}{}:
		case <-m.ctx.Done():
			return
		}
		defer func() { <-m.syncSem }()
		if err := m.SyncWith(m.ctx, peer, doc); err != nil && !errors.Is(err, errPeerLacksDoc) && m.ctx.Err() == nil {
			m.stats.add(&m.stats.syncFailures, 1)
			m.log.Debug("catch-up", "peer", peer, "doc", doc, "err", err)
		}
	}()
}

var errPeerLacksDoc = errors.New("replica: peer does not have the document")

// SyncWith runs one catch-up exchange with peer for doc, in both
// directions, and returns when both sides are done.
func (m *Manager) SyncWith(ctx context.Context, peer string, doc store.DocID) error {
	d, err := m.doc(doc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.SyncTimeout)
	defer cancel()
	s, err := m.opts.Transport.Open(ctx, peer, SyncProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	deadline(ctx, s)
	mine, err := d.version(ctx)
	if err != nil {
		_ = s.Reset()
		return err
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgHello, Doc: doc[:], Version: mine, Title: m.title(ctx, doc)}); err != nil {
		_ = s.Reset()
		return err
	}
	reply, err := readMsg(s)
	if err != nil {
		m.countReject(err)
		_ = s.Reset()
		return err
	}
	switch {
	case reply.Kind == wire.MsgFail:
		return fmt.Errorf("%w: %s", errPeerLacksDoc, reply.Reason)
	case reply.Kind != wire.MsgHello || string(reply.Doc) != string(doc[:]):
		_ = s.Reset()
		return vocab.Reject(vocab.ReasonMalformed, "expected a hello for %s", doc)
	}
	m.adoptTitle(ctx, doc, reply.Title)
	return m.exchange(ctx, s, d, reply.Version)
}

// serveSync answers a catch-up exchange a peer opened.
func (m *Manager) serveSync(peer string, s Stream) {
	defer s.Close()
	ctx, cancel := context.WithTimeout(m.ctx, m.opts.SyncTimeout)
	defer cancel()
	deadline(ctx, s)
	hello, err := readMsg(s)
	if err != nil || hello.Kind != wire.MsgHello || len(hello.Doc) != len(store.DocID{}) {
		if err != nil {
			m.countReject(err)
		} else {
			m.stats.reject(vocab.ReasonMalformed)
		}
		_ = s.Reset()
		return
	}
	var id store.DocID
	copy(id[:], hello.Doc)
	d, err := m.doc(id)
	if err != nil && errors.Is(err, api.ErrUnknownDoc) && m.hosts(id) {
		d, err = m.host(m.ctx, id)
	}
	if err != nil {
		_ = writeMsg(s, wire.SyncMsg{Kind: wire.MsgFail, Doc: id[:], Reason: "unknown document"})
		_ = s.CloseWrite()
		return
	}
	mine, err := d.version(ctx)
	if err != nil {
		_ = writeMsg(s, wire.SyncMsg{Kind: wire.MsgFail, Doc: id[:], Reason: "document unavailable"})
		return
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgHello, Doc: id[:], Version: mine, Title: m.title(ctx, id)}); err != nil {
		return
	}
	m.adoptTitle(ctx, id, hello.Title)
	if err := m.exchange(ctx, s, d, hello.Version); err != nil && m.ctx.Err() == nil {
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

// exchange sends what the peer lacks and receives what we lack, at once.
func (m *Manager) exchange(ctx context.Context, s Stream, d *docState, theirs map[string]uint64) error {
	// A peer that stops reading must not hold us past the deadline or
	// shutdown: resetting the stream unblocks both directions.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Reset()
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
		n, err := m.sendMissing(ctx, s, d, theirs)
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
	return nil
}

func (m *Manager) sendMissing(ctx context.Context, s Stream, d *docState, theirs map[string]uint64) (int, error) {
	var wires [][]byte
	var durable map[string]uint64
	err := d.do(ctx, func(dr *driver) error {
		var err error
		wires, err = dr.missing(ctx, theirs)
		// A relay's done carries the version it has on disk: a peer
		// learns it even when no gossip acknowledgement reaches it.
		durable = dr.relay.version()
		return err
	})
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, envs := range wire.Pack(wires) {
		if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgTxns, Envs: envs}); err != nil {
			return sent, err
		}
		sent += len(envs)
		m.stats.add(&m.stats.syncSent, uint64(len(envs)))
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgDone, Version: durable}); err != nil {
		return sent, err
	}
	return sent, s.CloseWrite()
}

func (m *Manager) receive(ctx context.Context, s Stream, d *docState) (int, error) {
	n := 0
	for {
		msg, err := readMsg(s)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, errors.New("replica: catch-up stream ended without done")
			}
			m.countReject(err)
			return n, err
		}
		switch msg.Kind {
		case wire.MsgDone:
			if len(msg.Version) > 0 {
				d.relayAcked(s.Peer(), msg.Version)
			}
			return n, nil
		case wire.MsgTxns:
		default:
			return n, vocab.Reject(vocab.ReasonMalformed, "unexpected sync message of kind %d", msg.Kind)
		}
		envs := make([]received, 0, len(msg.Envs))
		for _, w := range msg.Envs {
			e, err := wire.ParseEnvelope(w, d.id)
			if err != nil {
				m.stats.reject(vocab.Reason(err))
				return n, err
			}
			envs = append(envs, received{env: e, raw: w})
		}
		m.stats.add(&m.stats.syncReceived, uint64(len(envs)))
		n += len(envs)
		arrived := m.opts.Now()
		err = d.do(ctx, func(dr *driver) error {
			_, err := dr.apply(ctx, input{src: fromSync, envs: envs}, nil, arrived)
			return err
		})
		if err != nil {
			return n, err
		}
	}
}

// version returns the document's version vector.
func (d *docState) version(ctx context.Context) (map[string]uint64, error) {
	var v map[string]uint64
	err := d.do(ctx, func(dr *driver) error {
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
// joined by ID starts untitled). Later renames are not synchronised.
func (m *Manager) adoptTitle(ctx context.Context, doc store.DocID, title string) {
	if title == "" || m.title(ctx, doc) != "" { // ParseSync dropped a title that breaks vocab.CheckTitle
		return
	}
	if err := m.opts.Store.SetTitle(ctx, doc, title); err != nil {
		m.log.Debug("taking a peer's title", "doc", doc, "err", err)
	}
}
