package replica

import (
	"weft/store"
	"weft/wire"
)

// record returns an envelope as the store keeps it.
func record(e *wire.Envelope) store.TxnRecord {
	return store.TxnRecord{Header: e.Header, Payload: e.Payload}
}
