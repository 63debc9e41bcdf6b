package replica

import (
	"weft/store"
	"weft/wire"
)

// record returns an envelope as the store keeps it.
func record(e *wire.Envelope) store.TxnRecord {
	h := store.TxnHeader{Agent: e.Header.Agent, Seq: e.Header.Seq, Len: e.Header.Len, Parents: make([]store.ID, len(e.Header.Parents))}
	for i, p := range e.Header.Parents {
		h.Parents[i] = store.ID{Agent: p.Agent, Seq: p.Seq}
	}
	return store.TxnRecord{TxnHeader: h, Payload: e.Payload}
}

// Reason returns the counter label of a rejection ("invalid" otherwise).
func Reason(err error) string { return wire.Reason(err) }

// ErrRejected wraps every validation failure of input from peers.
var ErrRejected = wire.ErrRejected

// TopicName is the gossip topic of a document.
func TopicName(doc store.DocID) string { return wire.TopicName(wire.DocID(doc)) }
