package replica

import (
	"context"

	"weft/crdt"
	"weft/wire"
)

// A fresh tab (one whose hello names no version) is sent the document as
// a crdt snapshot inside the daemon's hello (wire.SyncMsg.Checkpoint;
// ui/PROTOCOL.md, weft.v4) instead of its whole history as transactions:
// loading a snapshot is a decode, replaying the history is a merge of
// every transaction. The snapshot holds the history too, compactly (the
// tab's replica merges concurrent edits like any other), so a tab can
// edit, merge and resync from it alone.

// tabSnapshot is the driver's last encoded snapshot for tabs and the
// number of operations it covers: encoding automerge-paper costs
// ~20–35 ms, so tabs that open the same version share one encoding.
type tabSnapshot struct {
	ops  uint64
	data []byte
}

// opsOf is the number of operations a version covers; it grows with every
// transaction integrated, so equal counts mean the same version.
func opsOf(v crdt.Version) uint64 {
	var n uint64
	for _, s := range v {
		n += s
	}
	return n
}

// maxTabSnapshot bounds the snapshot a tab is sent in one message (what
// the tab accepts: an envelope's bound plus framing); a larger document
// goes as transactions, packed as before.
const maxTabSnapshot = wire.MaxEnvelopeBytes

// snapshotForTab returns the snapshot of the document as it is now, or
// nil for an empty document (the tab needs nothing) or one whose snapshot
// is over maxTabSnapshot.
func (dr *driver) snapshotForTab(ctx context.Context) ([]byte, error) {
	doc, err := dr.loaded(ctx)
	if err != nil {
		return nil, err
	}
	ops := opsOf(doc.Version())
	if ops == 0 {
		return nil, nil
	}
	if dr.tabSnap.ops != ops || dr.tabSnap.data == nil {
		dr.tabSnap = tabSnapshot{ops: ops, data: doc.EncodeSnapshot()}
	}
	if len(dr.tabSnap.data) > maxTabSnapshot {
		return nil, nil
	}
	return dr.tabSnap.data, nil
}
