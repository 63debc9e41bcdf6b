package crdt

// WireSnapshot is the snapshot header, for the external tests that craft
// hostile snapshots: they build the real header, not a copy of it.
type WireSnapshot = wireSnapshot
