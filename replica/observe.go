package replica

import "time"

// Observer receives events for metrics (the daemon publishes them to
// Prometheus). Methods are called from the replica's goroutines and must
// be quick and safe for concurrent use.
type Observer interface {
	// Integrated: txns transactions from source ("local" API edits, "tab",
	// "gossip", "sync") were integrated and handed to the store, latency
	// after they arrived.
	Integrated(source string, txns int, latency time.Duration)
	// Published: a transaction was published on a gossip topic.
	Published()
	// SyncDone: a catch-up exchange with a peer ended (err nil: complete)
	// after dur, sending and receiving that many envelopes.
	SyncDone(dur time.Duration, sent, received int, err error)
	// DocCache: the daemon's cache of documents is its loaded crdt states.
	// event is "hit" (a request found its document loaded), "load" (it
	// was loaded from the store, taking dur) or "unload" (idle, or after
	// a failed write).
	DocCache(event string, dur time.Duration)
}

type nopObserver struct{}

func (nopObserver) DocCache(string, time.Duration)          {}
func (nopObserver) Integrated(string, int, time.Duration)   {}
func (nopObserver) Published()                              {}
func (nopObserver) SyncDone(time.Duration, int, int, error) {}
