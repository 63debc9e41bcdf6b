package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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

// How the daemon's health is checked.
const (
	// healthWatchEvery is how often the daemon runs its checks on its own
	// (failures are logged; the replication check measures lag between
	// runs).
	healthWatchEvery = 30 * time.Second
	// relayLagLimit is how long a configured relay may stay unreachable,
	// or leave a version of an open document unacknowledged, before the
	// replication check fails.
	relayLagLimit = 2 * time.Minute
)

// failStorageEnv names a file while whose existence the storage check
// fails: fault injection for the tests only. (Tests run as root in CI,
// where no permission change makes the open database unwritable.)
const failStorageEnv = "WEFT_TEST_FAIL_STORAGE"

// relayLagEnv overrides relayLagLimit (a Go duration), so that tests of an
// unreachable relay need not wait minutes.
const relayLagEnv = "WEFT_TEST_RELAY_LAG"

// startObs feeds the metrics from the node and the manager, builds the
// daemon's health checks (storage, consistency, replication) and runs them
// in the background until ctx ends.
func startObs(ctx context.Context, met *obs.Metrics, st *store.Store, mgr *replica.Manager, node *p2p.Node, relays []string, log *slog.Logger) (*obs.Health, error) {
	met.SetSources(obs.Sources{
		Peers: func() int { return len(node.Peers()) },
		RelayReservations: func() int {
			r, _ := node.RelayStats()
			return r
		},
		GossipReceived: func() uint64 { return mgr.Stats().GossipReceived },
		GossipRejected: node.Rejected,
	})
	ho := obs.DefaultHealthOptions()
	ho.Logger = log.With("part", "health")
	h := obs.NewHealth(ho)
	fault := os.Getenv(failStorageEnv)
	if fault != "" {
		log.Warn("storage fault injection is on", "file", fault)
	}
	lag := relayLagLimit
	if v := os.Getenv(relayLagEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, withCode(2, fmt.Errorf("%s=%q: want a positive duration", relayLagEnv, v))
		}
		lag = d
		log.Warn("relay lag limit changed for testing", "limit", d)
	}
	checks := []struct {
		name string
		f    obs.CheckFunc
		o    obs.CheckOptions
	}{
		{"storage", storageCheck(st, fault), obs.CheckOptions{Timeout: 5 * time.Second, Every: time.Second}},
		{"consistency", newSpotCheck(st, crdtCodec{}, time.Now().UnixNano()).run, obs.CheckOptions{Timeout: 10 * time.Second, Every: time.Minute}},
		{"replication", newReplicationCheck(mgr, relays, lag, time.Now).run, obs.CheckOptions{Timeout: 5 * time.Second}},
	}
	for _, c := range checks {
		if err := h.Add(c.name, c.f, c.o); err != nil {
			return nil, err
		}
	}
	go h.Watch(ctx, healthWatchEvery)
	return h, nil
}
