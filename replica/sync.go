package replica

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	s, err := m.opts.Transport.Open(ctx, peer, SyncProtocol)
	if err != nil {
		return err
	}
	defer s.Close()
	defer deadline(ctx, s)()
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
		m.countReject(err)
		_ = s.Reset()
		return err
	}
	switch {
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
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgHello, Doc: doc[:], Version: mine, Heads: heads, Covers: covers, SealedTitle: ms.sealTitle(m.title(ctx, doc))}); err != nil {
		_ = s.Reset()
		return err
	}
	hello, err := readMsg(s)
	if err != nil {
		m.countReject(err)
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
// must: the refusal is counted by its reason and the stream reset.
func (m *Manager) refuseSync(s Stream, err error) error {
	m.countReject(err)
	_ = s.Reset()
	return err
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
	if changed {
		d.confirmJoin(c)
	}
	if !ed25519.PublicKey(mem.Subject).Equal(key) {
		return 0, vocab.Reject(vocab.ReasonCapability, "peer %s proved another device's capability", peer)
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
func (m *Manager) serveSync(peer string, s Stream) {
	defer s.Close()
	ctx, cancel := context.WithTimeout(m.ctx, m.opts.SyncTimeout)
	defer cancel()
	defer deadline(ctx, s)()
	open, err := readMsg(s)
	if err != nil || open.Kind != wire.MsgOpen || len(open.Topic) != 16 {
		if err != nil {
			m.countReject(err)
		} else {
			m.stats.reject(vocab.ReasonMalformed)
		}
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
		m.countReject(err)
		unknown()
		return
	}
	if err := writeMsg(s, wire.SyncMsg{Kind: wire.MsgProve, MAC: member.OpenMAC(id, []byte(me), []byte(peer)), Chain: ms.chain(), Roster: ms.roster(), Revocations: ms.revocations(), Proofs: ms.proofs()}); err != nil {
		return
	}
	proof, err := readMsg(s)
	if err != nil {
		m.countReject(err)
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
	hello, err := readMsg(s)
	if err != nil || hello.Kind != wire.MsgHello || string(hello.Doc) != string(id[:]) {
		if err != nil {
			m.countReject(err)
		} else {
			m.stats.reject(vocab.ReasonMalformed)
		}
		_ = s.Reset()
		return
	}
	mine, heads, covers, err := d.versionHeads(ctx)
	if err != nil {
		_ = writeMsg(s, wire.SyncMsg{Kind: wire.MsgFail, Doc: id[:], Reason: "document unavailable"})
		return
	}
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
	defer m.mu.Unlock()
	if id, ok := m.topics[t]; ok {
		return m.docs[id]
	}
	return nil
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
	return nil
}

func (m *Manager) sendMissing(ctx context.Context, s Stream, d *docState, hello wire.SyncMsg, peer member.Role) (int, error) {
	theirs, heads := hello.Version, hello.Heads
	var wires [][]byte
	var durable map[string]uint64
	var cp []byte
	err := d.do(ctx, func(dr *driver) error {
		var err error
		if d.mem != nil {
			// Loaded here, in this request: the document may have been
			// unloaded (idle, or shutting down) since the hello.
			if err := dr.ensure(ctx); err != nil {
				return err
			}
			var since store.Version
			if cp, since, err = dr.checkpointFor(ctx, hello, peer); err != nil {
				return err
			}
			if since == nil {
				since = theirs
			}
			if wires, err = dr.signedMissing(ctx, since); err == nil {
				var forks [][]byte
				forks, err = dr.forkedHeads(ctx, theirs, heads)
				wires = append(forks, wires...)
			}
		} else {
			wires, err = dr.missing(ctx, theirs)
		}
		// A relay's done carries the version it has on disk: a peer
		// learns it even when no gossip acknowledgement reaches it.
		durable = dr.relay.version()
		return err
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
		case wire.MsgCheckpoint:
			err := d.do(ctx, func(dr *driver) error { return dr.takeCheckpoint(ctx, msg.Checkpoint) })
			if err != nil {
				m.countReject(err)
				return n, err
			}
			continue
		case wire.MsgTxns:
		default:
			err := vocab.Reject(vocab.ReasonMalformed, "unexpected sync message of kind %d", msg.Kind)
			m.countReject(err)
			return n, err
		}
		envs, err := m.parseEnvs(d, msg.Envs)
		if err != nil {
			m.stats.reject(vocab.Reason(err))
			return n, err
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
// joined by ID starts untitled). Later renames are not synchronised.
func (m *Manager) adoptTitle(ctx context.Context, doc store.DocID, title string) {
	if title == "" || m.title(ctx, doc) != "" { // ParseSync dropped a title that breaks vocab.CheckTitle
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
	got, err := member.Verify(c, docKey, m.opts.Now().Unix())
	if err != nil {
		return nil, err
	}
	if !ed25519.PublicKey(got.Subject).Equal(m.dev.Public()) {
		return nil, vocab.Reject(vocab.ReasonCapability, "a grant for another device")
	}
	if err := m.hostQuota(member.Issuer(c, docKey)); err != nil {
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

// hostQuota refuses a new document to keep when this replica keeps
// Options.HostMaxDocs already, or HostMaxDocsPerMember for the member who
// granted it.
func (m *Manager) hostQuota(granter ed25519.PublicKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	total, mine := 0, 0
	for _, d := range m.docs {
		if d.mem == nil {
			continue
		}
		total++
		d.mem.mu.Lock()
		if g := member.Issuer(d.mem.local.Chain, d.mem.book.DocKey); g.Equal(granter) {
			mine++
		}
		d.mem.mu.Unlock()
	}
	if max := m.opts.HostMaxDocs; max > 0 && total >= max {
		return vocab.Reject(vocab.ReasonQuota, "this replica keeps %d documents (at most %d)", total, max)
	}
	if max := m.opts.HostMaxDocsPerMember; max > 0 && mine >= max {
		return vocab.Reject(vocab.ReasonQuota, "the granting member has %d documents kept here (at most %d)", mine, max)
	}
	return nil
}
