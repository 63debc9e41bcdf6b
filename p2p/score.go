package p2p

import (
	"math"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer scoring. GossipSub's score of a peer here is its application score
// (P5: minus the refusals this node charged it beyond the first 20,
// decaying) plus GossipSub's
// behaviour penalty (P7: GRAFT during backoff, IWANT promises broken). No
// per-topic parameters: topics are per document, joined and left at run
// time, and a refusal is counted the same wherever it happens. The numbers
// are documented in doc.go ("Peer scoring").
const (
	// refusalCost is what one refusal adds to a peer's count: a gossip
	// message rejected (charged to the peer that delivered it and to its
	// author), or a Penalize call for a stream refusal.
	refusalCost = 1.0

	// refusalHalfLife is how fast a count decays: it halves every 5
	// minutes, so a peer graylisted at 101 is back above the graylist
	// threshold within seconds (and is then heard once per 4 s or so, as
	// its count decays), above the gossip threshold after about 8 minutes,
	// and forgotten after about 50 minutes.
	refusalHalfLife = 5 * time.Minute

	// refusalGrace is the part of a count that costs nothing: GossipSub
	// grafts into its meshes only peers with a score of at least 0, so a
	// single refusal would cut an honest peer off, such as a relay that
	// forwarded a message another member's view of the membership did not
	// yet admit. A peer's score is minus its count beyond 20.
	refusalGrace = 20.0

	// refusalForget drops a count that decayed below it.
	refusalForget = 0.1

	// maxScoredPeers bounds the peers with a count. When full, the
	// smallest count is dropped for a new one: the worst offenders stay.
	maxScoredPeers = 4096

	gossipThreshold    = -20.0 // below: no gossip (IHAVE/IWANT) to or from the peer
	publishThreshold   = -40.0 // below: our own messages are not flood-published to it
	graylistThreshold  = -80.0 // below: every RPC from the peer is dropped unread
	acceptPXThreshold  = 100.0 // unreachable (no positive score): peer exchange is never followed
	opportunisticGraft = 1.0   // median mesh score below which better peers are grafted
)

// scoreParams are the GossipSub peer score parameters; app is the
// application score.
func scoreParams(app func(peer.ID) float64) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	return &pubsub.PeerScoreParams{
			Topics:            map[string]*pubsub.TopicScoreParams{},
			AppSpecificScore:  app,
			AppSpecificWeight: 1,
			// IP colocation (P6) off: the resource manager already caps
			// connections at 8 per IPv4 address and per IPv6 /56, so at
			// most 8 peers share a public address, and a penalty on that
			// would only punish an office behind one NAT. On loopback
			// (tests, e2e: many daemons on 127.0.0.1) it would graylist
			// honest peers.
			IPColocationFactorWeight: 0,
			// P7: a GRAFT while backed off, or an IWANT not answered, adds
			// 1; beyond 10 the excess squared counts against the peer.
			// Decays by 1% a second (halves in about 70 s).
			BehaviourPenaltyWeight:    -1,
			BehaviourPenaltyThreshold: 10,
			BehaviourPenaltyDecay:     0.99,
			DecayInterval:             time.Second,
			DecayToZero:               0.01,
			RetainScore:               10 * time.Minute,
		}, &pubsub.PeerScoreThresholds{
			GossipThreshold:             gossipThreshold,
			PublishThreshold:            publishThreshold,
			GraylistThreshold:           graylistThreshold,
			AcceptPXThreshold:           acceptPXThreshold,
			OpportunisticGraftThreshold: opportunisticGraft,
		}
}

// refusals counts what each peer was refused, decaying with
// refusalHalfLife. Safe for concurrent use; score is called by GossipSub
// under its own lock, so it only reads a map.
type refusals struct {
	mu     sync.Mutex
	now    func() time.Time // time.Now; tests move it
	counts map[peer.ID]refusalCount
}

type refusalCount struct {
	v  float64   // as of at
	at time.Time // last update
}

func newRefusals() *refusals {
	return &refusals{now: time.Now, counts: map[peer.ID]refusalCount{}}
}

// decayed is c's value at now.
func (c refusalCount) decayed(now time.Time) float64 {
	dt := now.Sub(c.at)
	if dt <= 0 {
		return c.v
	}
	return c.v * math.Exp2(-float64(dt)/float64(refusalHalfLife))
}

// add charges cost to p.
func (r *refusals) add(p peer.ID, cost float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	c, ok := r.counts[p]
	if !ok && len(r.counts) >= maxScoredPeers {
		r.evict(now)
	}
	if ok {
		c.v = c.decayed(now)
	}
	r.counts[p] = refusalCount{v: c.v + cost, at: now}
}

// evict drops the counts that decayed away, or else the smallest one. It
// runs only when the map is full, once per new peer.
func (r *refusals) evict(now time.Time) {
	var low peer.ID
	lowV := math.Inf(1)
	dropped := false
	for p, c := range r.counts {
		v := c.decayed(now)
		if v < refusalForget {
			delete(r.counts, p)
			dropped = true
			continue
		}
		if v < lowV {
			low, lowV = p, v
		}
	}
	if !dropped {
		delete(r.counts, low)
	}
}

// count is p's decayed count (0 when unknown); a count that decayed away
// is forgotten.
func (r *refusals) count(p peer.ID) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.counts[p]
	if !ok {
		return 0
	}
	v := c.decayed(r.now())
	if v < refusalForget {
		delete(r.counts, p)
		return 0
	}
	return v
}

// score is the application score GossipSub adds to a peer's score: minus
// its count beyond refusalGrace.
func (r *refusals) score(p peer.ID) float64 { return -max(0, r.count(p)-refusalGrace) }

// setClock replaces the clock (tests).
func (r *refusals) setClock(now func() time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = now
}

// scoreInspectEvery is how often GossipSub hands over its peer scores for
// the weft_p2p_peer_score metric (a variable for tests).
var scoreInspectEvery = 10 * time.Second

// inspectScores keeps the latest scores of the connected peers, without
// their IDs.
func (n *Node) inspectScores(scores map[peer.ID]float64) {
	out := make([]float64, 0, len(scores))
	for _, s := range scores {
		out = append(out, s)
	}
	slices.Sort(out)
	n.scoreMu.Lock()
	n.scores = out
	n.scoreMu.Unlock()
}

// PeerScores returns the GossipSub scores of the connected peers (sorted,
// without the peers' IDs), as of GossipSub's last report (every 10 s).
// weft_p2p_peer_score is their histogram.
func (n *Node) PeerScores() []float64 {
	n.scoreMu.Lock()
	defer n.scoreMu.Unlock()
	return slices.Clone(n.scores)
}

// PeerScoreBuckets are the upper bounds of the weft_p2p_peer_score
// histogram: the graylist, publish and gossip thresholds, then around 0.
var PeerScoreBuckets = []float64{graylistThreshold, publishThreshold, gossipThreshold, -10, -1, 0, 1, 10}

// Penalize lowers peer's application score for input refused on a stream
// (reason is logged). A peer ID that does not parse is ignored.
func (n *Node) Penalize(peerID, reason string) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return
	}
	n.refusals.add(id, refusalCost)
	n.log.Debug("peer penalized", "peer", id, "reason", reason)
}

// SetInterest says which topics, besides those joined, this node tracks
// peers' subscriptions to; wanted(topic) is called when a peer announces a
// wanted topic this node has not joined. Both run on GossipSub's event
// loop, once per announced topic: they must be fast and must not block
// (nor call back into this node). Until SetInterest is called, every
// topic is tracked (names of 1..256 bytes), as GossipSub does by itself;
// a nil want means joined topics only. Interest applies to announcements
// from then on: one dropped before is learnt again only from the peer's
// GRAFT (see doc.go, Subscriptions).
func (n *Node) SetInterest(want func(topic string) bool, wanted func(topic string)) {
	n.interest.Store(&interest{want: want, wanted: wanted})
}

// SetRelayFilter restricts the circuit relay service to the peers allow
// accepts: a reservation needs allow(peer), a relayed connection needs
// allow of both ends. allow runs on the relay's stream handlers; it must be
// fast and safe for concurrent calls. Until it is called, a relay refuses
// every reservation and connection.
func (n *Node) SetRelayFilter(allow func(peer string) bool) {
	n.acl.allow.Store(&allow)
}
