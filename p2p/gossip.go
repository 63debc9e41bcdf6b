package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"weft/vocab"
)

// gossipWireSlack is what GossipSub's wire limit allows beyond
// MaxMessageBytes: room for the RPC framing (topic, author, seqno, signature)
// and for data somewhat over the limit, so that such a message reaches the
// validator and is counted as "oversized" instead of resetting the stream.
const gossipWireSlack = 64 << 10

// maxReasons bounds the distinct rejection reasons counted; later new ones
// count as vocab.ReasonOther.
const maxReasons = 64

// messageID is GossipSub's message ID in weft: the raw 32-byte SHA-256 digest
// of the message data (as a Go string). Identical data is one message, no
// matter who sent it or when. Another implementation joining weft's topics
// must use the same function (in js-libp2p: msgIdFn returning sha256(data)).
func messageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

func newPubSub(ctx context.Context, h host.Host, n *Node) (*pubsub.PubSub, error) {
	o := &n.opts
	params, thresholds := scoreParams(n.refusals.score)
	return pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(messageID),
		// Our own messages go straight to every subscribed peer, not only
		// to the mesh: a document has few peers, and a message published
		// before the first heartbeat has built the mesh is not lost.
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(o.MaxMessageBytes+gossipWireSlack),
		// Subscriptions count as "control" bytes, which GossipSub bounds
		// at 512 KiB per RPC by default and answers by resetting the
		// stream: a relay's first RPC, listing every topic it is in (the
		// hello is never split), would cut it off above about 11,000
		// topics. The RPC's byte bound is the bound instead; the filter's
		// work is a constant per announced topic.
		pubsub.WithMaxControlMessageSize(o.MaxMessageBytes+gossipWireSlack),
		pubsub.WithPeerOutboundQueueSize(o.GossipQueue),
		pubsub.WithValidateQueueSize(o.GossipQueue),
		pubsub.WithSubscriptionFilter((*interestFilter)(n)),
		pubsub.WithAppSpecificRpcInspector((*interestFilter)(n).graftImpliesSubscription),
		pubsub.WithRawTracer((*signatureTracer)(n)),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.inspectScores), scoreInspectEvery),
		pubsub.WithLogger(o.Logger.With("component", "gossipsub")),
	)
}

// interest is what SetInterest was given.
type interest struct {
	want   func(topic string) bool
	wanted func(topic string)
}

// interestFilter makes GossipSub track peers' subscriptions only to the
// topics this node joined (Join marks a name before subscribing) or wants
// (SetInterest); until SetInterest is called, to every topic. An
// unsubscription always passes: for a topic nobody is tracked in it costs
// GossipSub one map lookup, and it must never leave a peer tracked in a
// topic we left. The work is a constant per announced topic (one lock, one
// map lookup, one want call), so an RPC costs in proportion to its size,
// which GossipSub's wire limit bounds; no count drops an RPC whole (a
// relay's first RPC lists every topic it is in).
type interestFilter Node

// CanSubscribe is asked by GossipSub when this node joins a topic; Join
// has checked the name.
func (f *interestFilter) CanSubscribe(topic string) bool {
	return topic != "" && len(topic) <= maxTopicLen
}

func (f *interestFilter) FilterIncomingSubscriptions(_ peer.ID, subs []*pb.RPC_SubOpts) ([]*pb.RPC_SubOpts, error) {
	n := (*Node)(f)
	in := n.interest.Load()
	out := subs[:0:0]
	for _, s := range subs {
		t := s.GetTopicid()
		if !s.GetSubscribe() {
			out = append(out, s)
			continue
		}
		if t == "" || len(t) > maxTopicLen {
			continue
		}
		if in == nil || n.isJoined(t) {
			// Before SetInterest every topic is tracked, as GossipSub
			// does: the caller opts into the bound.
			out = append(out, s)
			continue
		}
		if in.want == nil || !in.want(t) {
			continue
		}
		out = append(out, s)
		if in.wanted != nil {
			in.wanted(t)
		}
	}
	return out, nil
}

// graftImpliesSubscription completes what the filter cannot know: a peer
// that announced a topic before this node joined it (or wanted it) was not
// tracked there, and a peer announces a subscription only once. A GRAFT
// is sent only for a topic the sender is in, so a GRAFT for a joined topic
// is taken as that peer's subscription too (added to the RPC before
// GossipSub reads its subscriptions). A peer in the topic with a full mesh
// does not GRAFT a newcomer; the newcomer then learns of it only if it
// announces again (it reconnects, or leaves and rejoins).
func (f *interestFilter) graftImpliesSubscription(_ peer.ID, rpc *pubsub.RPC) error {
	ctl := rpc.GetControl()
	if ctl == nil {
		return nil
	}
	n := (*Node)(f)
	for _, g := range ctl.GetGraft() {
		if t := g.GetTopicID(); t != "" && n.isJoined(t) {
			yes := true
			rpc.Subscriptions = append(rpc.Subscriptions, &pb.RPC_SubOpts{Subscribe: &yes, Topicid: &t})
		}
	}
	return nil
}

// isJoined reports whether topic is joined (or being joined) here. It takes
// only joinMu, never held while calling GossipSub: the filter runs on
// GossipSub's event loop, which Join waits on.
func (n *Node) isJoined(topic string) bool {
	n.joinMu.RLock()
	defer n.joinMu.RUnlock()
	_, ok := n.joined[topic]
	return ok
}

func (n *Node) markJoined(topic string, on bool) {
	n.joinMu.Lock()
	defer n.joinMu.Unlock()
	if on {
		n.joined[topic] = struct{}{}
	} else {
		delete(n.joined, topic)
	}
}

// Message is a gossip message received from another peer.
type Message struct {
	From string // the author's peer ID (verified by the message signature)
	Data []byte
	// Value is what the topic's validator returned for Data, so that the
	// receiver need not decode Data a second time.
	Value any
}

// Topic is a joined GossipSub topic. Next must be called from one goroutine
// at a time; Publish, Peers and Close from any.
type Topic struct {
	n     *Node
	name  string
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	valid func(from string, data []byte) (any, error)

	mu       sync.Mutex
	watchers []*pubsub.TopicEventHandler // WatchPeers's, cancelled by Close

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed by Close
}

// Join subscribes to a topic (replica uses "weft/doc/<docid>"). Every message
// from another peer passes, in order: GossipSub's signature check
// (StrictSign), a size check (over MaxMessageBytes: rejected, reason
// "oversized"), then validate(from, data) with the author's peer ID. A
// non-nil error drops the message — it is neither delivered nor forwarded —
// and is counted by its reason, vocab.Reason(err): err.Reason() when the
// error (or one it wraps) implements interface{ Reason() string }, as every
// vocab rejection does, else "invalid". An error for which vocab.Ignored
// holds (a duplicate) is counted in Ignored and blames nobody; any other
// is counted in Rejected and lowers the score of the peer that delivered
// the message and of its author (see doc.go, Peer scoring). The value validate
// returns with a nil error travels with the message (GossipSub's
// ValidatorData) and comes out of Next as Message.Value: the bytes are
// decoded once per hop.
//
// Messages this node authored are never passed to validate: not when
// Publish sends them (GossipSub validates a local publication with this
// host as the source), nor if a peer sends one back. The caller made
// them; Next does not deliver them either.
//
// validate runs inline on GossipSub's validation workers, so it must be fast
// and must not block. It must be safe for concurrent calls.
func (n *Node) Join(topic string, validate func(from string, data []byte) (any, error)) (*Topic, error) {
	if topic == "" || len(topic) > maxTopicLen {
		return nil, fmt.Errorf("%w: %d bytes (need 1..%d)", ErrBadTopic, len(topic), maxTopicLen)
	}
	if validate == nil {
		return nil, fmt.Errorf("%w: nil validator for %q", ErrInvalidOptions, topic)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, ok := n.topics[topic]; ok {
		return nil, fmt.Errorf("%w: %q", ErrAlreadyJoined, topic)
	}
	t := &Topic{n: n, name: topic, valid: validate, done: make(chan struct{})}
	if err := n.ps.RegisterTopicValidator(topic, t.validator, pubsub.WithValidatorInline(true)); err != nil {
		return nil, fmt.Errorf("p2p: register validator for %q: %w", topic, err)
	}
	// Peers' subscriptions to the topic are tracked from now on, before
	// ours is announced and they answer with theirs.
	n.markJoined(topic, true)
	pt, err := n.ps.Join(topic)
	if err != nil {
		n.markJoined(topic, false)
		_ = n.ps.UnregisterTopicValidator(topic)
		return nil, fmt.Errorf("p2p: join %q: %w", topic, err)
	}
	queue := n.opts.GossipQueue
	if n.opts.TopicQueue > 0 {
		queue = n.opts.TopicQueue
	}
	sub, err := pt.Subscribe(pubsub.WithBufferSize(queue))
	if err != nil {
		n.markJoined(topic, false)
		_ = pt.Close()
		_ = n.ps.UnregisterTopicValidator(topic)
		return nil, fmt.Errorf("p2p: subscribe %q: %w", topic, err)
	}
	t.topic, t.sub = pt, sub
	n.topics[topic] = t
	n.log.Debug("joined topic", "topic", topic)
	return t, nil
}

// validator is the GossipSub topic validator.
func (t *Topic) validator(_ context.Context, from peer.ID, m *pubsub.Message) (res pubsub.ValidationResult) {
	if m.GetFrom() == t.n.host.ID() {
		// Our own message (its signature, checked before validators run,
		// proves the author): a local publication, or one a peer sent
		// back. The caller made it; it is not validated again.
		return pubsub.ValidationAccept
	}
	if len(m.Data) > t.n.opts.MaxMessageBytes {
		t.n.reject(vocab.ReasonOversized)
		t.n.charge(from, m.GetFrom())
		t.n.log.Debug("gossip message rejected", "topic", t.name, "from", m.GetFrom(), "via", from, "reason", vocab.ReasonOversized, "bytes", len(m.Data))
		return pubsub.ValidationReject
	}
	defer func() {
		// A validator that panics on hostile input must not take the
		// daemon down; the message is rejected and the bug logged loudly.
		if r := recover(); r != nil {
			t.n.reject(vocab.ReasonInvalid)
			t.n.charge(from, m.GetFrom())
			t.n.log.Error("gossip validator panicked", "topic", t.name, "from", m.GetFrom(), "panic", r)
			res = pubsub.ValidationReject
		}
	}()
	v, err := t.valid(m.GetFrom().String(), m.Data)
	if err != nil {
		reason := vocab.Reason(err)
		if vocab.Ignored(err) {
			// Known already, or not ours to judge: dropped without blame.
			t.n.ignore(reason)
			return pubsub.ValidationIgnore
		}
		t.n.reject(reason)
		t.n.charge(from, m.GetFrom())
		t.n.log.Debug("gossip message rejected", "topic", t.name, "from", m.GetFrom(), "via", from, "reason", reason, "err", err)
		return pubsub.ValidationReject
	}
	m.ValidatorData = v
	return pubsub.ValidationAccept
}

// charge counts a rejected message against the peer that delivered it and
// against its author, when another peer.
func (n *Node) charge(via, author peer.ID) {
	n.refusals.add(via, refusalCost)
	if author != via && author != "" {
		n.refusals.add(author, refusalCost)
	}
}

func (n *Node) reject(reason string) { countReason(&n.rejMu, n.rejected, reason) }
func (n *Node) ignore(reason string) { countReason(&n.rejMu, n.ignored, reason) }

// countReason adds one to counts[reason]; at most maxReasons distinct
// reasons are kept, later new ones count as vocab.ReasonOther.
func countReason(mu *sync.Mutex, counts map[string]uint64, reason string) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := counts[reason]; !ok && len(counts) >= maxReasons {
		reason = vocab.ReasonOther
	}
	counts[reason]++
}

// Ignored returns how many gossip messages from other peers were ignored
// (dropped without blame: a duplicate, see vocab.Ignore), by reason, over
// all topics since the node started. Bounded like Rejected.
func (n *Node) Ignored() map[string]uint64 {
	n.rejMu.Lock()
	defer n.rejMu.Unlock()
	return maps.Clone(n.ignored)
}

// Rejected returns how many gossip messages from other peers were rejected,
// by reason, over all topics since the node started. At most 64 distinct
// reasons are kept; later new ones count under "other".
func (n *Node) Rejected() map[string]uint64 {
	n.rejMu.Lock()
	defer n.rejMu.Unlock()
	return maps.Clone(n.rejected)
}

// Publish sends data to the topic's peers. It does not run the topic's
// validator: the caller made data, and only peers validate it. It returns
// ErrTooLarge without sending anything when data is over MaxMessageBytes.
// GossipSub is lossy: a nil error means sent, not received.
func (t *Topic) Publish(ctx context.Context, data []byte) error {
	select {
	case <-t.done:
		return fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
	default:
	}
	if len(data) > t.n.opts.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), t.n.opts.MaxMessageBytes)
	}
	if err := t.topic.Publish(ctx, data); err != nil {
		if errors.Is(err, pubsub.ErrTopicClosed) {
			return fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
		}
		return fmt.Errorf("p2p: publish on %q: %w", t.name, err)
	}
	return nil
}

// Next returns the next message from another peer, with the value its
// validator returned, waiting until one arrives, ctx ends, or the topic is
// closed (ErrTopicClosed). Messages this node authored are skipped. The
// returned Data is the caller's to keep.
func (t *Topic) Next(ctx context.Context) (Message, error) {
	for {
		m, err := t.sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Message{}, ctx.Err()
			}
			return Message{}, fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
		}
		if m == nil {
			return Message{}, fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
		}
		if m.ReceivedFrom == t.n.host.ID() || m.GetFrom() == t.n.host.ID() {
			continue
		}
		return Message{From: m.GetFrom().String(), Data: m.Data, Value: m.ValidatorData}, nil
	}
}

// Peers returns the connected peers known to be subscribed to the topic.
func (t *Topic) Peers() []string {
	ids := t.topic.ListPeers()
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// WatchPeers calls f (which must not block) whenever a peer joins or leaves
// the topic (as GossipSub learns of its subscriptions), until the topic is
// closed. Bursts may be reported as one call.
func (t *Topic) WatchPeers(f func()) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.done:
		return fmt.Errorf("%w: %q", ErrTopicClosed, t.name)
	default:
	}
	h, err := t.topic.EventHandler()
	if err != nil {
		return fmt.Errorf("p2p: watching the peers of %q: %w", t.name, err)
	}
	t.watchers = append(t.watchers, h)
	ctx, cancel := context.WithCancel(context.Background())
	t.n.wg.Add(2)
	go func() {
		defer t.n.wg.Done()
		select {
		case <-t.done:
		case <-t.n.ctx.Done():
		}
		cancel()
	}()
	go func() {
		defer t.n.wg.Done()
		for {
			if _, err := h.NextPeerEvent(ctx); err != nil {
				return
			}
			f()
		}
	}()
	return nil
}

// closeDrainTimeout bounds how long Close waits for GossipSub to confirm the
// subscription is cancelled.
const closeDrainTimeout = 5 * time.Second

// Close leaves the topic: cancels the subscription (a blocked Next returns
// ErrTopicClosed), unregisters the validator and tells peers we left.
// Calling it again returns the first result.
func (t *Topic) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		close(t.done)
		for _, h := range t.watchers {
			h.Cancel() // the topic closes only once no handler is left
		}
		t.mu.Unlock()
		t.sub.Cancel()
		// GossipSub processes the cancellation asynchronously; the topic
		// can only be closed once it has, which shows as the subscription
		// channel closing. Drain it until then.
		ctx, cancel := context.WithTimeout(context.Background(), closeDrainTimeout)
		for {
			if m, err := t.sub.Next(ctx); err != nil || m == nil {
				break
			}
		}
		cancel()
		var errs []error
		if err := t.n.ps.UnregisterTopicValidator(t.name); err != nil {
			errs = append(errs, err)
		}
		if err := t.topic.Close(); err != nil {
			errs = append(errs, err)
		}
		t.n.mu.Lock()
		if t.n.topics[t.name] == t {
			delete(t.n.topics, t.name)
			t.n.markJoined(t.name, false)
		}
		t.n.mu.Unlock()
		if len(errs) > 0 {
			t.closeErr = fmt.Errorf("p2p: leave %q: %w", t.name, errors.Join(errs...))
		}
		t.n.log.Debug("left topic", "topic", t.name)
	})
	return t.closeErr
}
