package replica

import (
	"weft/store"
	"weft/wire"
)

// The envelope and catch-up formats live in package wire (shared with the
// editor tab). These adapt them to the store's types.

// record returns an envelope as the store keeps it.
func record(e *wire.Envelope) store.TxnRecord {
	return store.TxnRecord{Header: e.Header, Payload: e.Payload}
}

// Reason returns the counter label of a rejection ("invalid" otherwise).
func Reason(err error) string { return wire.Reason(err) }

// ErrRejected wraps every validation failure of input from peers.
var ErrRejected = wire.ErrRejected

// TopicName is the gossip topic of a document.
func TopicName(doc store.DocID) string { return wire.TopicName(wire.DocID(doc)) }
