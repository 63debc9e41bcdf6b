package api

import (
	"errors"
	"time"

	"weft/vocab"
)

// Errors returned by the Manager, wrapped with details; test with errors.Is.
var (
	ErrUnknownDoc = errors.New("unknown document")
	ErrBadInput   = errors.New("bad input") // malformed ID, position out of range, bad UTF-8, …
	ErrClosed     = errors.New("closed")
)

// DocInfo describes a document this replica has.
type DocInfo struct {
	ID         string    `json:"id"` // vocab.DocID's text form: 32 lowercase hex digits
	Title      string    `json:"title"`
	Created    time.Time `json:"created"`
	LastOpened time.Time `json:"last_opened"`
	Chars      int       `json:"chars"` // code points, when the document is open (else -1)
}

// Edit is one local edit: delete Del code points at Pos, then insert Ins.
// Each Edit becomes its own transaction.
type Edit struct {
	Pos int    `json:"pos"`
	Del int    `json:"del"`
	Ins string `json:"ins"`
}

// EditResult is returned once the edits are durable locally.
type EditResult struct {
	Applied int           `json:"applied"` // edits applied (all, on success)
	Version vocab.Version `json:"version"` // the document's version afterwards
	Chars   int           `json:"chars"`
}

// DocStatus is the state of one document.
type DocStatus struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Chars       int           `json:"chars"`
	Version     vocab.Version `json:"version"`
	Frontier    []string      `json:"frontier"` // "agent@seq"
	Peers       []string      `json:"peers"`    // peer IDs connected for this document
	Buffered    int           `json:"buffered"` // transactions waiting for their parents
	RelayAcked  vocab.Version `json:"relay_acked,omitempty"`
	Agent       string        `json:"agent"`
	LastApplied time.Time     `json:"last_applied,omitzero"`
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// NodeStatus describes this replica's node.
type NodeStatus struct {
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"`
	API     string   `json:"api"`
	DataDir string   `json:"data_dir"`
	Docs    int      `json:"docs"`
	Open    int      `json:"open_docs"`
	Peers   int      `json:"peers"`
	Version string   `json:"version"`
	// Counters are what the daemon counted since it started (nil when the
	// backend keeps none).
	Counters *Counters `json:"counters,omitempty"`
}

// Counters count what a daemon did since it started: transactions applied
// and exchanged, and input from peers it rejected, by reason.
type Counters struct {
	Replica ReplicaCounters `json:"replica"`
	// GossipRejected counts gossip messages from other peers that the
	// network layer rejected (size, or the replica's validator), by reason.
	GossipRejected map[string]uint64 `json:"gossip_rejected"` // by vocab.Reason* label
}

// ReplicaCounters are the replica manager's counters (replica.Manager.Stats).
type ReplicaCounters struct {
	LocalTxns      uint64            `json:"local_txns"`      // local transactions persisted
	RemoteTxns     uint64            `json:"remote_txns"`     // transactions from peers integrated and persisted
	Published      uint64            `json:"published"`       // gossip messages published
	GossipReceived uint64            `json:"gossip_received"` // gossip messages received
	SyncReceived   uint64            `json:"sync_received"`   // envelopes received by catch-up
	SyncSent       uint64            `json:"sync_sent"`       // envelopes sent by catch-up
	SyncRuns       uint64            `json:"sync_runs"`       // catch-up exchanges completed
	SyncFailures   uint64            `json:"sync_failures"`   // catch-up exchanges that failed
	Rejected       map[string]uint64 `json:"rejected"`        // input rejected (gossip, catch-up), by vocab.Reason* label
}
