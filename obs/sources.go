package obs

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// Sources are values obs reads at scrape time from the parts that keep
// them. A nil function leaves its metric out. Each must be quick and safe
// for concurrent use.
type Sources struct {
	// Peers is the number of connected peers (weft_p2p_peers_connected).
	Peers func() int
	// RelayReservations is the number of circuit-relay reservations held
	// (weft_p2p_relay_reservations).
	RelayReservations func() int
	// ResidentDocs is the number of documents whose crdt state is loaded
	// now (weft_replica_docs_resident).
	ResidentDocs func() int
	// ForkedDocs is the number of documents in which a member was caught
	// signing two histories (weft_replica_forked_docs): each is degraded.
	ForkedDocs func() int
	// GossipReceived counts gossip messages received since start
	// (weft_replica_gossip_received_total).
	GossipReceived func() uint64
	// GossipRejected counts gossip messages the network layer rejected
	// since start, by reason (weft_p2p_gossip_rejected_total): every
	// gossip message refused, whether by size or by the replica's topic
	// validator.
	GossipRejected func() map[string]uint64
	// GossipIgnored counts gossip messages dropped without blame (a
	// duplicate), by reason (weft_p2p_gossip_ignored_total).
	GossipIgnored func() map[string]uint64
	// PeerScores are the connected peers' GossipSub scores, without their
	// IDs (weft_p2p_peer_score, a histogram with the upper bounds
	// PeerScoreBuckets: one series whatever the number of peers).
	PeerScores       func() []float64
	PeerScoreBuckets []float64
	// ReplicaRejected counts what the replica refused itself since start
	// (catch-up, tabs, transactions that do not fit the history), by reason
	// (weft_replica_rejected_total). A refusal is counted in one of the
	// two, never both.
	ReplicaRejected func() map[string]uint64
}

// sourceCollector emits the metrics of Sources.
type sourceCollector struct {
	m                             *Metrics
	peers, reservations, received *prometheus.Desc
	resident, forked              *prometheus.Desc
	gossipRejected, gossipIgnored reasonCounts
	peerScore                     *prometheus.Desc
	replicaRejected               reasonCounts
}

// reasonCounts emits a count by reason, with at most a bounded number of
// reason labels (the rest are "other").
type reasonCounts struct {
	desc    *prometheus.Desc
	reasons *labelSet
}

func newSourceCollector(m *Metrics, maxReasons int) *sourceCollector {
	return &sourceCollector{
		m:               m,
		peers:           prometheus.NewDesc("weft_p2p_peers_connected", "Peers connected now.", nil, nil),
		reservations:    prometheus.NewDesc("weft_p2p_relay_reservations", "Circuit-relay reservations held now.", nil, nil),
		received:        prometheus.NewDesc("weft_replica_gossip_received_total", "Gossip messages received from peers.", nil, nil),
		resident:        prometheus.NewDesc("weft_replica_docs_resident", "Documents whose crdt state is loaded now (the document cache).", nil, nil),
		forked:          prometheus.NewDesc("weft_replica_forked_docs", "Documents in which a member was caught signing two histories (each is degraded; weft doc status lists the forks).", nil, nil),
		gossipRejected:  reasonCounts{prometheus.NewDesc("weft_p2p_gossip_rejected_total", "Gossip messages from peers that were rejected, by reason.", []string{"reason"}, nil), newLabelSet(maxReasons)},
		gossipIgnored:   reasonCounts{prometheus.NewDesc("weft_p2p_gossip_ignored_total", "Gossip messages from peers dropped without blame (duplicates), by reason.", []string{"reason"}, nil), newLabelSet(maxReasons)},
		peerScore:       prometheus.NewDesc("weft_p2p_peer_score", "GossipSub scores of the connected peers (below -20 no gossip, -40 no publishing, -80 graylisted).", nil, nil),
		replicaRejected: reasonCounts{prometheus.NewDesc("weft_replica_rejected_total", "Input from catch-up and editor tabs that the replica refused, and transactions that did not fit the history, by reason.", []string{"reason"}, nil), newLabelSet(maxReasons)},
	}
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.peers
	ch <- c.reservations
	ch <- c.received
	ch <- c.resident
	ch <- c.forked
	ch <- c.gossipRejected.desc
	ch <- c.gossipIgnored.desc
	ch <- c.peerScore
	ch <- c.replicaRejected.desc
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.sources.Load()
	if s == nil {
		return
	}
	if s.Peers != nil {
		ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(s.Peers()))
	}
	if s.RelayReservations != nil {
		ch <- prometheus.MustNewConstMetric(c.reservations, prometheus.GaugeValue, float64(s.RelayReservations()))
	}
	if s.GossipReceived != nil {
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.GossipReceived()))
	}
	if s.ResidentDocs != nil {
		ch <- prometheus.MustNewConstMetric(c.resident, prometheus.GaugeValue, float64(s.ResidentDocs()))
	}
	if s.ForkedDocs != nil {
		ch <- prometheus.MustNewConstMetric(c.forked, prometheus.GaugeValue, float64(s.ForkedDocs()))
	}
	if s.GossipRejected != nil {
		c.gossipRejected.collect(ch, s.GossipRejected())
	}
	if s.ReplicaRejected != nil {
		c.replicaRejected.collect(ch, s.ReplicaRejected())
	}
	if s.GossipIgnored != nil {
		c.gossipIgnored.collect(ch, s.GossipIgnored())
	}
	if s.PeerScores != nil {
		ch <- scoreHistogram(c.peerScore, s.PeerScores(), s.PeerScoreBuckets)
	}
}

// scoreHistogram makes a histogram of scores with the given upper bounds.
func scoreHistogram(desc *prometheus.Desc, scores, bounds []float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var sum float64
	for _, b := range bounds {
		buckets[b] = 0
	}
	for _, s := range scores {
		sum += s
		for _, b := range bounds {
			if s <= b {
				buckets[b]++
			}
		}
	}
	return prometheus.MustNewConstHistogram(desc, uint64(len(scores)), sum, buckets)
}

func (r reasonCounts) collect(ch chan<- prometheus.Metric, counts map[string]uint64) {
	// Admit reasons in a fixed order so that which ones fold into "other"
	// does not depend on map iteration; the admitted set only grows, so
	// every emitted series stays monotonic.
	reasons := make([]string, 0, len(counts))
	for reason := range counts {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	sums := map[string]uint64{}
	for _, reason := range reasons {
		sums[r.reasons.label(reason)] += counts[reason]
	}
	for l, n := range sums {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(n), l)
	}
}
