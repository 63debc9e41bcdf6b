package main

import (
	"maps"

	"weft/crdt"
	"weft/wire"
)

// takeSnapshot loads the snapshot a daemon's hello carries (weft.v4: a
// fresh tab is sent the document as a crdt snapshot, not its history as
// transactions). Only a tab that has nothing takes one, and only one whose
// version is the hello's; otherwise nothing changes.
func (t *Tab) takeSnapshot(m wire.SyncMsg) error {
	if len(t.doc.Version()) != 0 {
		return tabErr("a snapshot for a replica that already has a version")
	}
	if len(m.Checkpoint) > maxMessage {
		return tabErr("snapshot of %d bytes (at most %d)", len(m.Checkpoint), maxMessage)
	}
	// Opened lazily: the text and version at once, the history when the
	// page asks (materialize, once the editor shows the text) or an edit
	// or remote transaction needs it.
	d, err := crdt.OpenSnapshot(t.agent, m.Checkpoint)
	if err != nil {
		return tabErr("the daemon's snapshot: %v", err)
	}
	if !maps.Equal(d.Version(), crdt.Version(m.Version)) {
		return tabErr("the daemon's snapshot is of another version than its hello")
	}
	if t.now != 0 {
		_ = d.SetNow(t.now) // the time this replica's edits carry (SetNow)
	}
	t.doc = d
	return nil
}
