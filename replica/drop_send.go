package replica

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"

	"weft/api"
	"weft/member"
	"weft/store"
	"weft/vocab"
)

// DropProtocol is the stream protocol of drop requests: one message
// (member.Drop) from a member deleting a document, one answer ("dropped",
// or why not) from the relay.
const DropProtocol = "/weft/drop/1"

// dropTimeout bounds one drop request's exchange.
const dropTimeout = 10 * time.Second

// answerDropped is a relay's answer when it deleted the document.
const answerDropped = "dropped"

// sendDrops sends a signed drop request to every relay (a peer whose key
// holds the pull role in the book) this replica reaches now: the
// document's topic peers, the configured relays, and connected peers.
func (m *Manager) sendDrops(ctx context.Context, d *docState, why string) []api.RelayDrop {
	out := []api.RelayDrop{}
	t := m.opts.Transport
	if t == nil {
		return out
	}
	ms := d.mem
	chain := ms.localChain()
	drop, err := member.NewDrop(m.dev.Sign, chain, d.id, m.opts.Now().Unix())
	if err != nil {
		m.log.Warn("making a drop request", "doc", d.id, "err", err)
		return out
	}
	raw := drop.Marshal()
	peers := append(d.topicPeers(), m.opts.Relays...)
	for _, p := range t.Peers() {
		peers = append(peers, p.ID)
	}
	slices.Sort(peers)
	for _, peer := range slices.Compact(peers) {
		key, err := t.PeerKey(peer)
		if err != nil {
			continue
		}
		ms.mu.Lock()
		got := ms.book.Member(key)
		relay := got != nil && got.Role == member.RolePull && !ms.book.Revoked(key)
		ms.mu.Unlock()
		if !relay {
			continue
		}
		out = append(out, api.RelayDrop{Peer: peer, Result: m.askDrop(ctx, peer, raw)})
	}
	return out
}

// askDrop sends one relay the drop request and returns its answer.
func (m *Manager) askDrop(ctx context.Context, peer string, raw []byte) string {
	ctx, cancel := context.WithTimeout(ctx, dropTimeout)
	defer cancel()
	s, err := m.opts.Transport.Open(ctx, peer, DropProtocol)
	if err != nil {
		return "not reached: " + err.Error()
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(dropTimeout))
	if err := s.WriteMsg(raw); err != nil {
		return "not reached: " + err.Error()
	}
	_ = s.CloseWrite()
	ans, err := s.ReadMsg()
	if err != nil {
		return "no answer: " + err.Error()
	}
	if len(ans) > 512 {
		ans = ans[:512]
	}
	return string(ans)
}

// serveDrop answers a drop request. Only a relay of the document (this
// replica holds the pull role) acts on one, and only when the request
// verifies (member.VerifyDrop), comes from the device that signed it,
// whose membership is not revoked, and that device is the document's
// admin or, by this relay's book, its last member. Anything else is
// answered with the reason and changes nothing.
func (m *Manager) serveDrop(peer string, s Stream) {
	if !m.enter() {
		_ = s.Reset()
		return
	}
	defer m.wg.Done()
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(dropTimeout))
	answer := func(msg string) {
		_ = s.WriteMsg([]byte(msg))
		_ = s.CloseWrite()
	}
	raw, err := s.ReadMsg()
	if err != nil {
		return
	}
	res, err := m.takeDrop(peer, raw)
	if err != nil {
		m.blame(peer, err)
		answer("refused: " + err.Error())
		return
	}
	answer(res)
}

// takeDrop judges a drop request from peer and deletes the document when
// it holds.
func (m *Manager) takeDrop(peer string, raw []byte) (string, error) {
	drop, err := member.ParseDrop(raw)
	if err != nil {
		return "", err
	}
	d, err := m.doc(drop.Doc)
	if err != nil {
		return "not held here", nil
	}
	ms := d.mem
	if ms == nil || ms.role() != member.RolePull {
		return "ignored: this peer is not a relay of the document", nil
	}
	now := m.opts.Now()
	ms.mu.Lock()
	signer, err := member.VerifyDrop(drop, ms.book.DocKey, now.Unix())
	var revoked, last bool
	var others int
	if err == nil {
		revoked = ms.book.Revoked(signer.Subject)
		last, others = lastMember(ms.book, signer.Subject, now)
	}
	ms.mu.Unlock()
	if err != nil {
		return "", err
	}
	if key, kerr := m.opts.Transport.PeerKey(peer); kerr != nil || !ed25519.PublicKey(key).Equal(signer.Subject) {
		return "", vocab.Reject(vocab.ReasonCapability, "drop: signed by another device than the peer that sent it")
	}
	switch {
	case revoked:
		return "", vocab.Reject(vocab.ReasonRevoked, "drop: the signer's membership was revoked")
	case signer.Role != member.RoleAdmin && !last:
		return fmt.Sprintf("refused: the signer is not an admin and %d other members read the document", others), nil
	}
	if _, err := m.deleteLocal(m.ctx, drop.Doc.String()); err != nil {
		return "", fmt.Errorf("replica: dropping document %s: %w", drop.Doc, err)
	}
	m.quota.forget(drop.Doc)
	m.log.Info("dropped a document at a member's request", "doc", drop.Doc, "peer", peer, "role", signer.Role)
	return answerDropped, nil
}

// forget stops counting a document this replica no longer keeps.
func (q *quotas) forget(doc store.DocID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dq := q.docs[doc]
	if dq == nil {
		return
	}
	dq.member.docs--
	dq.member.bytes -= dq.bytes
	delete(q.docs, doc)
}
