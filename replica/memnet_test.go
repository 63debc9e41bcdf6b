package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"weft/api"
	"weft/vocab"
)

// An in-memory network for unit tests: gossip topics with validators and
// framed streams between named nodes. The multi-process tests under e2e/
// use real libp2p.

type hub struct {
	mu         sync.Mutex
	nodes      map[string]*memNode
	dropGossip atomic.Bool
}

func newHub() *hub { return &hub{nodes: map[string]*memNode{}} }

type memNode struct {
	h         *hub
	id        string
	mu        sync.Mutex
	handlers  map[string]func(string, Stream)
	topics    map[string][]*memTopic
	notify    []func(string, bool)
	peers     map[string]bool
	joins     int                // topics joined so far
	key       ed25519.PrivateKey // the node's device key (derived from its ID)
	want      func(string) bool  // Want's: topics tracked besides those joined
	wanted    func(string)
	penalized map[string][]string     // reasons given to Penalize, by peer
	streams   map[string][]*memStream // open to or from each peer: reset at disconnect, as a real connection's are
}

func (h *hub) node(id string) *memNode {
	seed := sha256.Sum256([]byte("memnet device " + id))
	n := &memNode{h: h, id: id, handlers: map[string]func(string, Stream){}, topics: map[string][]*memTopic{}, peers: map[string]bool{}, key: ed25519.NewKeyFromSeed(seed[:])}
	h.mu.Lock()
	h.nodes[id] = n
	h.mu.Unlock()
	return n
}

// connect links two nodes and fires their peer events.
func (h *hub) connect(a, b *memNode) {
	a.mu.Lock()
	a.peers[b.id] = true
	fa := append([]func(string, bool){}, a.notify...)
	a.mu.Unlock()
	b.mu.Lock()
	b.peers[a.id] = true
	fb := append([]func(string, bool){}, b.notify...)
	b.mu.Unlock()
	for _, f := range fa {
		f(b.id, true)
	}
	for _, f := range fb {
		f(a.id, true)
	}
	// Each learns the other's subscriptions, as GossipSub's hello does.
	for _, t := range a.joinedTopics() {
		b.subscribed(t)
	}
	for _, t := range b.joinedTopics() {
		a.subscribed(t)
	}
	a.peersChanged()
	b.peersChanged()
}

// joinedTopics lists the topics n is subscribed to.
func (n *memNode) joinedTopics() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for name, ts := range n.topics {
		if len(ts) > 0 {
			out = append(out, name)
		}
	}
	return out
}

// subscribed tells n that a peer subscribed to topic: wanted fires when n
// wants it and has not joined it (the transport's contract).
func (n *memNode) subscribed(topic string) {
	n.mu.Lock()
	joined := len(n.topics[topic]) > 0
	want, wanted := n.want, n.wanted
	n.mu.Unlock()
	if !joined && want != nil && want(topic) {
		wanted(topic)
	}
}

func (h *hub) disconnect(a, b *memNode) {
	a.mu.Lock()
	delete(a.peers, b.id)
	open := a.streams[b.id]
	delete(a.streams, b.id)
	a.mu.Unlock()
	b.mu.Lock()
	delete(b.peers, a.id)
	open = append(open, b.streams[a.id]...)
	delete(b.streams, a.id)
	b.mu.Unlock()
	for _, s := range open {
		s.Reset()
	}
	a.peersChanged()
	b.peersChanged()
}

func (n *memNode) ID() string { return n.id }

// PeerKey returns a node's device key (the hub knows every node's).
func (n *memNode) PeerKey(peer string) (ed25519.PublicKey, error) {
	n.h.mu.Lock()
	o := n.h.nodes[peer]
	n.h.mu.Unlock()
	if o == nil {
		return nil, errors.New("memnet: unknown peer")
	}
	return o.key.Public().(ed25519.PublicKey), nil
}

// Connect links to the node an address names ("/memory/<id>" with or
// without "/p2p/<id>").
func (n *memNode) Connect(_ context.Context, addr string) error {
	id := addr[strings.LastIndex(addr, "/")+1:]
	n.h.mu.Lock()
	o := n.h.nodes[id]
	n.h.mu.Unlock()
	if o == nil {
		return errors.New("memnet: no such node")
	}
	if !n.connected(id) {
		n.h.connect(n, o)
	}
	return nil
}

func (n *memNode) connected(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[id]
}
func (n *memNode) Addrs() []string { return []string{"/memory/" + n.id} }

func (n *memNode) Peers() []api.PeerInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []api.PeerInfo
	for p := range n.peers {
		out = append(out, api.PeerInfo{ID: p})
	}
	return out
}

func (n *memNode) Notify(f func(string, bool)) {
	n.mu.Lock()
	n.notify = append(n.notify, f)
	n.mu.Unlock()
}

func (n *memNode) Announce(context.Context, string) error { return nil }

// Want records which topics n tracks besides those it joined: a peer
// subscribing to one of them calls wanted. Penalize keeps the penalties,
// by peer, for tests to read (penalties).
func (n *memNode) Want(want func(string) bool, wanted func(string)) {
	n.mu.Lock()
	n.want, n.wanted = want, wanted
	n.mu.Unlock()
}

func (n *memNode) Penalize(peer, reason string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.penalized == nil {
		n.penalized = map[string][]string{}
	}
	n.penalized[peer] = append(n.penalized[peer], reason)
}

func (n *memNode) penalties(peer string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.penalized[peer]...)
}

func (n *memNode) FindPeers(_ context.Context, topic string, max int) ([]string, error) {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	var out []string
	for id, o := range n.h.nodes {
		o.mu.Lock()
		has := len(o.topics[topic]) > 0
		o.mu.Unlock()
		if id != n.id && has && len(out) < max {
			out = append(out, id)
		}
	}
	return out, nil
}

func (n *memNode) Handle(proto string, h func(string, Stream)) {
	n.mu.Lock()
	n.handlers[proto] = h
	n.mu.Unlock()
}

func (n *memNode) Open(ctx context.Context, peer, proto string) (Stream, error) {
	n.mu.Lock()
	connected := n.peers[peer]
	n.mu.Unlock()
	n.h.mu.Lock()
	o := n.h.nodes[peer]
	n.h.mu.Unlock()
	if !connected || o == nil {
		return nil, errors.New("memnet: not connected")
	}
	o.mu.Lock()
	h := o.handlers[proto]
	o.mu.Unlock()
	if h == nil {
		return nil, errors.New("memnet: protocol not supported")
	}
	ab, ba := newPipe(), newPipe()
	mine := &memStream{in: ba, out: ab, peer: peer}
	theirs := &memStream{in: ab, out: ba, peer: n.id}
	n.mu.Lock()
	if n.streams == nil {
		n.streams = map[string][]*memStream{}
	}
	n.streams[peer] = append(n.streams[peer], mine)
	n.mu.Unlock()
	o.mu.Lock()
	if o.streams == nil {
		o.streams = map[string][]*memStream{}
	}
	o.streams[n.id] = append(o.streams[n.id], theirs)
	o.mu.Unlock()
	go h(n.id, theirs)
	return mine, nil
}

func (n *memNode) Join(topic string, validate func(string, []byte) (any, error)) (Topic, error) {
	t := &memTopic{n: n, name: topic, validate: validate, msgs: make(chan Message, 10000)}
	n.mu.Lock()
	n.topics[topic] = append(n.topics[topic], t)
	n.joins++
	peers := make([]string, 0, len(n.peers))
	for p := range n.peers {
		peers = append(peers, p)
	}
	n.mu.Unlock()
	for _, p := range peers {
		if o := n.h.get(p); o != nil {
			o.subscribed(topic)
			o.peersChanged()
		}
	}
	return t, nil
}

func (h *hub) get(id string) *memNode {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nodes[id]
}

// subscriptions counts the topics n is in, and how many times it joined
// one.
func (n *memNode) subscriptions() (now, joins int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ts := range n.topics {
		now += len(ts)
	}
	return now, n.joins
}

type memTopic struct {
	n        *memNode
	name     string
	validate func(string, []byte) (any, error)
	msgs     chan Message
	closed   atomic.Bool
	mu       sync.Mutex
	watchers []func()
	rejected map[string]int // by reason, as a transport counts them
	ignored  map[string]int // dropped without blame (vocab.Ignore), by reason
}

func (t *memTopic) rejectedByReason() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.rejected)
}

func (t *memTopic) ignoredByReason() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.ignored)
}

func (t *memTopic) WatchPeers(f func()) error {
	t.mu.Lock()
	t.watchers = append(t.watchers, f)
	t.mu.Unlock()
	return nil
}

// peersChanged calls the watchers of every topic n is in.
func (n *memNode) peersChanged() {
	n.mu.Lock()
	var fs []func()
	for _, ts := range n.topics {
		for _, t := range ts {
			t.mu.Lock()
			fs = append(fs, t.watchers...)
			t.mu.Unlock()
		}
	}
	n.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

func (t *memTopic) Publish(_ context.Context, data []byte) error {
	if t.n.h.dropGossip.Load() {
		return nil
	}
	t.n.mu.Lock()
	peers := make([]string, 0, len(t.n.peers))
	for p := range t.n.peers {
		peers = append(peers, p)
	}
	t.n.mu.Unlock()
	for _, p := range peers {
		t.n.h.mu.Lock()
		o := t.n.h.nodes[p]
		t.n.h.mu.Unlock()
		if o == nil {
			continue
		}
		o.mu.Lock()
		subs := append([]*memTopic{}, o.topics[t.name]...)
		o.mu.Unlock()
		for _, s := range subs {
			s.deliver(t.n.id, data)
		}
	}
	return nil
}

// deliver runs the validator, then queues the message.
func (t *memTopic) deliver(from string, data []byte) {
	if t.closed.Load() {
		return
	}
	data = append([]byte(nil), data...)
	v, err := t.validate(from, data)
	if err != nil {
		t.mu.Lock()
		count := &t.rejected
		if vocab.Ignored(err) {
			count = &t.ignored
		}
		if *count == nil {
			*count = map[string]int{}
		}
		(*count)[vocab.Reason(err)]++
		t.mu.Unlock()
		return
	}
	t.msgs <- Message{From: from, Data: data, Value: v}
}

func (t *memTopic) Next(ctx context.Context) (Message, error) {
	select {
	case m := <-t.msgs:
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Peers lists the connected peers subscribed to the topic.
func (t *memTopic) Peers() []string {
	var out []string
	for _, p := range t.n.Peers() {
		if o := t.n.h.get(p.ID); o != nil && slices.Contains(o.joinedTopics(), t.name) {
			out = append(out, p.ID)
		}
	}
	return out
}

// Close leaves the topic: the node's peers see it go.
func (t *memTopic) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	n := t.n
	n.mu.Lock()
	n.topics[t.name] = slices.DeleteFunc(n.topics[t.name], func(o *memTopic) bool { return o == t })
	if len(n.topics[t.name]) == 0 {
		delete(n.topics, t.name)
	}
	peers := make([]string, 0, len(n.peers))
	for p := range n.peers {
		peers = append(peers, p)
	}
	n.mu.Unlock()
	for _, p := range peers {
		if o := n.h.get(p); o != nil {
			o.peersChanged()
		}
	}
	return nil
}

// pipe is one direction of a stream: messages until closed.
type pipe struct {
	ch    chan []byte
	once  sync.Once
	reset chan struct{}
	ronce sync.Once
}

func newPipe() *pipe { return &pipe{ch: make(chan []byte, 64), reset: make(chan struct{})} }

type memStream struct {
	in, out *pipe
	peer    string
}

var errReset = errors.New("memnet: stream reset")

func (s *memStream) ReadMsg() ([]byte, error) {
	select {
	case b, ok := <-s.in.ch:
		if !ok {
			return nil, io.EOF
		}
		return b, nil
	case <-s.in.reset:
		return nil, errReset
	}
}

func (s *memStream) WriteMsg(b []byte) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("memnet: write after close")
		}
	}()
	select {
	case s.out.ch <- append([]byte(nil), b...):
		return nil
	case <-s.out.reset:
		return errReset
	}
}

func (s *memStream) CloseWrite() error {
	s.out.once.Do(func() { close(s.out.ch) })
	return nil
}

func (s *memStream) Close() error { return s.CloseWrite() }

func (s *memStream) Reset() error {
	s.in.ronce.Do(func() { close(s.in.reset) })
	s.out.ronce.Do(func() { close(s.out.reset) })
	return nil
}

func (s *memStream) SetDeadline(time.Time) error { return nil }
func (s *memStream) Peer() string                { return s.peer }
