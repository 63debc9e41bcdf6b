package replica

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"weft/member"
	"weft/store"
)

// Lazy topics: a relay holds many documents and few are in use at once.
// Subscribing to every one would cost a GossipSub subscription per hosted
// document in every peer's view of it (and above 65,536 of them, peers
// drop the relay's subscription list whole). So a relay (Options.Host or
// AckDurable set) joins no topic at start: it asks its transport to track
// peers' subscriptions to the topics of the documents it holds
// (Transport.Want), joins a document's topic when a peer subscribes to it,
// and leaves it once the topic has had no peer for Options.TopicIdle
// (default 5 minutes). Its subscriptions follow the documents in use, not
// the documents hosted. Daemons join every document they hold.
//
// Nor does a relay build a document's state at start (its membership, read
// and verified from the store: some 150 µs and 3 KiB per document), only
// the map from topic to document, and, when Options.HostMaxDocsPerMember
// bounds them, who granted each (read, not verified: the store holds what
// was verified when it was granted). The state is built when the document
// is first needed: its topic wanted, a catch-up, an API call.

// lazyTopics reports whether this replica joins topics only while peers
// use them (a relay).
func (m *Manager) lazyTopics() bool {
	return m.opts.Transport != nil && (m.opts.AckDurable || m.opts.Host.All || len(m.opts.Host.Docs) > 0)
}

const topicPrefix = "weft/doc/"

// holdLater records a stored document as held without building its state
// (a relay at start). Its granter is read (not verified: it was when the
// grant was accepted) so that the quotas count it from the start.
func (m *Manager) holdLater(id store.DocID) error {
	rec, err := m.opts.Store.GetMembers(m.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		_, err := m.hold(id, false) // a legacy document: no topic, no grant
		return err
	}
	if err != nil {
		return err
	}
	local, err := member.ParseLocal(rec.Local)
	if err != nil {
		return fmt.Errorf("replica: document %s: stored keys: %w", id, err)
	}
	docKey, err := member.BookDocKey(rec.Book, id)
	if err != nil {
		return fmt.Errorf("replica: document %s: stored book: %w", id, err)
	}
	granter := member.Issuer(local.Chain, docKey)
	m.quota.track(id, granter)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.held[id] = struct{}{}
	m.topics[member.TopicID(id)] = id
	return nil
}

// docOfTopic returns the document a topic name is the topic of, if held
// here. Safe for concurrent calls; a map lookup.
func (m *Manager) docOfTopic(topic string) (store.DocID, bool) {
	var t [16]byte
	h, ok := strings.CutPrefix(topic, topicPrefix)
	if !ok || len(h) != 2*len(t) {
		return store.DocID{}, false
	}
	if _, err := hex.Decode(t[:], []byte(h)); err != nil {
		return store.DocID{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.topics[t]
	return id, ok
}

// wantTopic is the transport's want: the topic of a document held here.
func (m *Manager) wantTopic(topic string) bool {
	_, ok := m.docOfTopic(topic)
	return ok
}

// wantedTopic is the transport's wanted: a peer subscribed to the topic of
// a document held here and not joined. This never blocks.
func (m *Manager) wantedTopic(topic string) {
	if id, ok := m.docOfTopic(topic); ok {
		m.queueJoin(id)
	}
}

// inUse tells a relay that a member ran catch-up on d with it: it joins
// d's topic if it has not (so what it receives reaches the others online,
// and they hear its acknowledgements), should the member's subscription
// have gone unheard.
func (m *Manager) inUse(d *docState) {
	if m.lazyTopics() && d.joined.Load() == nil {
		m.queueJoin(d.id)
	}
}

// queueJoin queues id's topic (once) for joinTopics; it never blocks.
func (m *Manager) queueJoin(id store.DocID) {
	m.joinMu.Lock()
	m.toJoin[id] = struct{}{}
	m.joinMu.Unlock()
	select {
	case m.joinKick <- struct{}{}:
	default:
	}
}

// joinTopics joins the topics wanted, one at a time, until the manager
// closes; and every TopicIdle/4 leaves those that had no peer for
// TopicIdle.
func (m *Manager) joinTopics() {
	defer m.wg.Done()
	tick := time.NewTicker(max(m.opts.TopicIdle/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
			m.leaveIdle()
			continue
		case <-m.joinKick:
		}
		m.joinMu.Lock()
		ids := make([]store.DocID, 0, len(m.toJoin))
		for id := range m.toJoin {
			ids = append(ids, id)
		}
		clear(m.toJoin)
		m.joinMu.Unlock()
		for _, id := range ids {
			d, err := m.doc(id)
			if err != nil || d.joined.Load() != nil {
				continue
			}
			if err := d.subscribe(); err != nil {
				m.log.Warn("joining a document's topic", "doc", id, "err", err)
				continue
			}
		}
	}
}

// leaveIdle leaves the topics that have had no peer for TopicIdle.
func (m *Manager) leaveIdle() {
	now := m.opts.Now().UnixNano()
	m.mu.Lock()
	docs := make([]*docState, 0, len(m.docs))
	for _, d := range m.docs {
		if d.joined.Load() != nil {
			docs = append(docs, d)
		}
	}
	m.mu.Unlock()
	for _, d := range docs {
		j := d.joined.Load()
		if j == nil {
			continue
		}
		if len(j.Peers()) > 0 {
			j.quiet.Store(0)
			continue
		}
		since := j.quiet.Load()
		if since == 0 {
			j.quiet.Store(now)
			continue
		}
		if now-since < int64(m.opts.TopicIdle) {
			continue
		}
		if err := d.leave(); err != nil {
			m.log.Debug("leaving a document's topic", "doc", d.id, "err", err)
		}
	}
}
