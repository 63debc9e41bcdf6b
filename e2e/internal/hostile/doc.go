// Command hostile is a test helper for the e2e tests: a peer that sends a
// weft daemon crafted input. It joins a document's gossip topic with weft's
// own p2p package (so messages are properly signed and routed) and
// publishes bytes chosen to be garbage, truncated, oversized, for another
// document, of an unknown format version, or with forged parents; and it
// opens /weft/sync/1.0.0 streams from a second, raw libp2p host to send
// crafted frames, including frames cut short and frames longer than
// allowed. It also answers the daemon's own catch-up requests with crafted
// replies.
//
// It encodes envelopes and sync messages itself, from the formats
// documented in wire/envelope.go and wire/sync.go, so that it can
// write what weft's encoders refuse to; transactions come from weft's crdt
// encoder and are edited afterwards where a case needs them wrong.
//
// Usage: hostile -peer MULTIADDR -doc ID [-seed N]. It prints one JSON line
// when ready, then reads commands on stdin, one per line, and answers each
// with one JSON line on stdout:
//
//	topic CASE [AGENT]   publish the crafted message CASE on the topic
//	sync CASE [AGENT]    run the crafted catch-up exchange CASE
//	serve CASE [AGENT]   answer the daemon's next catch-up request with CASE
//	                     (the answer line comes once it has been served)
//	quit
//
// AGENT is the daemon's agent, for the cases that forge its history.
package main
