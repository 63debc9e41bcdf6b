// Package replica runs weft's documents: one goroutine per open document
// drives the crdt in a fixed order — persist, then broadcast, then notify —
// for local edits and for transactions from peers; it runs catch-up and
// anti-entropy with other replicas, and tracks presence and durability
// acknowledgements.
//
// It depends only on small interfaces it declares (Transport, Store), which
// p2p and store satisfy; it never touches libp2p or badger types.
package replica
