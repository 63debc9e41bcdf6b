package replica

import (
	"sync"
	"sync/atomic"

	"weft/api"
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
	syncBusy       atomic.Uint64 // catch-up streams refused over a bound (sync.go)
	// The waiting room (hlog.go): other peers' envelopes dropped to make
	// room, and envelopes dropped after waiting too long.
	waitEvicted atomic.Uint64
	waitExpired atomic.Uint64

	mu       sync.Mutex
	rejected map[string]uint64
}

func (s *Stats) init() { s.rejected = map[string]uint64{} }

func (s *Stats) add(c *atomic.Uint64, n uint64) { c.Add(n) }

// reject counts a refusal the replica made itself (catch-up, tabs, the
// history); gossip the topic validator refuses is the network's to count.
func (s *Stats) reject(reason string) {
	s.mu.Lock()
	s.rejected[reason]++
	s.mu.Unlock()
}

func (s *Stats) snapshot() api.ReplicaCounters {
	out := api.ReplicaCounters{
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
