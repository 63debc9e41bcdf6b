// Package obs owns weft's metrics and health: a Prometheus registry of its
// own (never the global default) with the metrics of the replica, the store
// and the network, and named health checks behind /healthz and /readyz.
//
// obs imports no other part of weft. Metrics has the method sets of the
// replica's Observer and of the store's Metrics interface, with plain types
// (a document is its 16-byte ID), so the daemon passes a *Metrics to the
// replica as is and to the store through a one-line adapter; the
// compile-time checks live in cmd/weft. Values that only exist elsewhere
// (connected peers, gossip rejections counted by the network) are read at
// scrape time from the functions in Sources.
//
// # Metrics
//
// Replica (from replica.Observer):
//
//	weft_replica_transactions_integrated_total{source}  counter; source: local, tab, gossip, sync, other
//	weft_replica_integration_latency_seconds{source}    histogram: arrival to integrated and handed to the store
//	weft_replica_transactions_published_total           counter
//	weft_replica_rejected_total{reason}                 counter (Sources.ReplicaRejected); at most Options.MaxReasons reasons, the rest "other"
//	weft_replica_sync_duration_seconds{result}          histogram of catch-up exchanges; result: ok, error
//	weft_replica_sync_envelopes_total{direction}        counter; direction: sent, received
//	weft_replica_gossip_received_total                  counter (Sources.GossipReceived)
//	weft_replica_doc_cache_total{event}                 counter; event: hit, load, unload, other
//	weft_replica_doc_load_duration_seconds              histogram: loading a document from the store
//	weft_replica_docs_resident                          gauge: documents loaded now (Sources.ResidentDocs)
//	weft_replica_forked_docs                            gauge: documents with a member caught equivocating (Sources.ForkedDocs)
//
// The daemon's cache of documents is the replica's loaded crdt states,
// unloaded after replica.Options.IdleUnload; these four say how it does.
//
// Store (from store.Metrics):
//
//	weft_store_batch_transactions         histogram: transactions per committed batch
//	weft_store_batch_bytes                histogram: value bytes per committed batch
//	weft_store_flush_duration_seconds     histogram: commit and sync of one batch
//	weft_store_flush_errors_total         counter
//	weft_store_doc_reads_total            counter
//	weft_store_transactions_written_total counter: transactions handed to the store
//	weft_store_hot_doc_accesses{doc}      gauge: reads plus transactions written of the
//	                                      Options.HotDocs most accessed documents since start
//
// Network (from Sources):
//
//	weft_p2p_peers_connected              gauge
//	weft_p2p_relay_reservations           gauge
//	weft_p2p_gossip_rejected_total{reason}  counter; bounded like the replica's reasons
//	weft_p2p_gossip_ignored_total{reason}   counter: dropped without blame (duplicates); bounded alike
//	weft_p2p_peer_score                     histogram of the connected peers' GossipSub scores (no peer label)
//
// A relay's hosting quotas (Metrics.SetQuotas), by limit: docs,
// docs-per-member, bytes-per-doc, bytes-per-member, txns-per-doc,
// txns-per-member (bounded like the reasons):
//
//	weft_relay_quota{limit}                  gauge: the bound (0: none; txns-* per second)
//	weft_relay_quota_near{limit}             gauge: documents (or members) at 90% of it or more
//	weft_relay_quota_full{limit}             gauge: documents (or members) at it
//	weft_relay_quota_usage_max_ratio{limit}  gauge: the largest share used (a rate: of its burst)
//	weft_relay_quota_refused_total{limit}    counter
//
// Besides these, the Go runtime's and the process's standard collectors
// (go_*, process_*) unless Options.NoRuntime.
//
// # Label bounds
//
// Every label has a bounded set of values, so a hostile peer cannot grow
// the registry: sources and results are fixed lists; reasons are admitted
// first come, up to MaxReasons per metric, then counted as "other"; the hot
// documents are a custom collector that emits only the current top
// HotDocs at each scrape, so documents that cool down disappear. Access
// counts are kept for at most HotTracked documents (the Space-Saving
// scheme: a newcomer replaces the least accessed and inherits its count,
// so counts are exact until more documents than that were seen, and
// overestimates after).
//
// # Health
//
// Health runs named checks, each a func(ctx) with its own timeout, all at
// once. /healthz answers 200 while the process serves; /readyz runs every
// check and answers 200 with status "ok" when all pass, else 503 with
// status "unhealthy", with each check's result, duration and details as
// JSON (see Report). A check that is still running from an earlier request
// is joined, not started again, so a hung check cannot pile up goroutines;
// a check may keep its result for a while (CheckOptions.Every) when it is
// expensive. The checks live with what they check — storage (store.Probe),
// consistency (store.SpotCheck with replica.StoreCodec), replication to
// relays (replica.ReplicationCheck) — and cmd/weft adds them by name.
//
// # Naming documents
//
// Only weft_store_hot_doc_accesses names documents in /metrics, and only
// health checks' errors and details name them in /readyz. Metrics.HideDocs
// and Health.HideDocs remove both (a relay's, unless told otherwise): the
// hot documents are no longer counted or exported, and every 32-hex-digit
// word (a document ID or a topic hash) in a report becomes "(document)".
//
// Handler serves /healthz, /readyz and /metrics for a listener of their
// own (the relay's --metrics address); the daemon mounts the same handlers
// on its local API, behind its token.
package obs
