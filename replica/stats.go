package replica

import (
	"sync"
	"sync/atomic"
)

// Stats counts what a replica did; the daemon publishes them as metrics.
type Stats struct {
	localTxns      atomic.Uint64
	remoteTxns     atomic.Uint64
	published      atomic.Uint64
	gossipReceived atomic.Uint64
	syncReceived   atomic.Uint64
	syncSent       atomic.Uint64
	syncRuns       atomic.Uint64
	syncFailures   atomic.Uint64

	mu       sync.Mutex
	rejected map[string]uint64
	obs      Observer
}

// StatsSnapshot is a copy of the counters.
type StatsSnapshot struct {
	LocalTxns      uint64            `json:"local_txns"`      // local transactions persisted
	RemoteTxns     uint64            `json:"remote_txns"`     // transactions from peers integrated and persisted
	Published      uint64            `json:"published"`       // gossip messages published
	GossipReceived uint64            `json:"gossip_received"` // gossip messages received
	SyncReceived   uint64            `json:"sync_received"`   // envelopes received by catch-up
	SyncSent       uint64            `json:"sync_sent"`       // envelopes sent by catch-up
	SyncRuns       uint64            `json:"sync_runs"`       // catch-up exchanges completed
	SyncFailures   uint64            `json:"sync_failures"`   // catch-up exchanges that failed
	Rejected       map[string]uint64 `json:"rejected"`        // input rejected, by reason
}

func (s *Stats) init() { s.rejected = map[string]uint64{} }

func (s *Stats) add(c *atomic.Uint64, n uint64) { c.Add(n) }

func (s *Stats) reject(reason string) {
	s.mu.Lock()
	s.rejected[reason]++
	obs := s.obs
	s.mu.Unlock()
	if obs != nil {
		obs.Rejected(reason)
	}
}

func (s *Stats) snapshot() StatsSnapshot {
	out := StatsSnapshot{
		LocalTxns: s.localTxns.Load(), RemoteTxns: s.remoteTxns.Load(), Published: s.published.Load(),
		GossipReceived: s.gossipReceived.Load(), SyncReceived: s.syncReceived.Load(), SyncSent: s.syncSent.Load(),
		SyncRuns: s.syncRuns.Load(), SyncFailures: s.syncFailures.Load(), Rejected: map[string]uint64{},
	}
	s.mu.Lock()
	for k, v := range s.rejected {
		out.Rejected[k] = v
	}
	s.mu.Unlock()
	return out
}
