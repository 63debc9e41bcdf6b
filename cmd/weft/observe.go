package main

import (
	"context"
	"time"

	"weft/obs"
	"weft/p2p"
	"weft/replica"
	"weft/store"
)

// The replica takes *obs.Metrics as it is; the store names documents by its
// own DocID type, so it takes them through storeMetrics.
var (
	_ replica.Observer = (*obs.Metrics)(nil)
	_ store.Metrics    = storeMetrics{}
)

// storeMetrics hands the store's events to obs.
type storeMetrics struct{ m *obs.Metrics }

func (s storeMetrics) DocRead(doc store.DocID)            { s.m.DocRead(doc) }
func (s storeMetrics) DocWrite(doc store.DocID, txns int) { s.m.DocWrite(doc, txns) }
func (s storeMetrics) Flush(txns, bytes int, latency time.Duration, err error) {
	s.m.Flush(txns, bytes, latency, err)
}

// healthWatchEvery is how often a node runs its health checks on its own
// (failures are logged; the replication check measures lag between runs).
const healthWatchEvery = 30 * time.Second

// startObs feeds the metrics from the node and the manager, builds the
// health checks (storage, consistency, replication to relays, failing past
// lag) and runs them in the background until ctx ends.
func (p *parts) startObs(ctx context.Context, relays []string, lag time.Duration) (*obs.Health, error) {
	node, mgr := p.node, p.mgr
	p.met.SetSources(obs.Sources{
		Peers: func() int { return len(node.Peers()) },
		RelayReservations: func() int {
			r, _ := node.RelayStats()
			return r
		},
		GossipReceived:   func() uint64 { return mgr.Stats().GossipReceived },
		GossipRejected:   node.Rejected,
		GossipIgnored:    node.Ignored,
		PeerScores:       node.PeerScores,
		PeerScoreBuckets: p2p.PeerScoreBuckets,
		ReplicaRejected:  func() map[string]uint64 { return mgr.Stats().Rejected },
		ResidentDocs:     mgr.Resident,
		ForkedDocs:       mgr.Forked,
	})
	ho := obs.DefaultHealthOptions()
	ho.Logger = p.log.With("part", "health")
	h := obs.NewHealth(ho)
	checks := []struct {
		name string
		f    obs.CheckFunc
		o    obs.CheckOptions
	}{
		{"storage", p.hooks.storageCheck(obs.Simple(p.st.Probe)), obs.CheckOptions{Timeout: 5 * time.Second, Every: time.Second}},
		{"consistency", replica.NewConsistencyCheck(mgr, p.st, uint64(time.Now().UnixNano())).Run, obs.CheckOptions{Timeout: 10 * time.Second, Every: time.Minute}},
		{"replication", replica.NewReplicationCheck(mgr, relays, lag, time.Now).Run, obs.CheckOptions{Timeout: 5 * time.Second}},
	}
	for _, c := range checks {
		if err := h.Add(c.name, c.f, c.o); err != nil {
			return nil, err
		}
	}
	go h.Watch(ctx, healthWatchEvery)
	return h, nil
}
