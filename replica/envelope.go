package replica

import (
	"weft/store"
	"weft/wire"
)

// record returns an envelope as the store keeps it.
func record(e *wire.Envelope) store.TxnRecord {
	return store.TxnRecord{Header: e.Header, Payload: e.Payload}
}

// TopicName is the gossip topic of a document.
func TopicName(doc store.DocID) string { return wire.TopicName(doc) }
