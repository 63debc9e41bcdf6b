package replica

import (
	"encoding/hex"
	"strings"
	"time"

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

// lazyTopics reports whether this replica joins topics only while peers
// use them (a relay).
func (m *Manager) lazyTopics() bool {
	return m.opts.Transport != nil && (m.opts.AckDurable || m.opts.Host.All || len(m.opts.Host.Docs) > 0)
}

const topicPrefix = "weft/doc/"

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
// a document held here and not joined. The join is queued (once) for
// joinTopics; this never blocks.
func (m *Manager) wantedTopic(topic string) {
	id, ok := m.docOfTopic(topic)
	if !ok {
		return
	}
	m.joinMu.Lock()
	if _, queued := m.toJoin[id]; !queued {
		m.toJoin[id] = struct{}{}
	}
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
