// Package wire holds the formats weft replicas exchange: the transaction
// envelope (a routing header and an opaque payload) and the messages of
// the catch-up protocol, which the daemons use with each other and the
// editor tab uses with its daemon; presence (cursors), which daemons
// gossip and tabs send through their daemon; the durability
// acknowledgements relays publish; the status message a daemon sends its
// tabs; and Pack, the one way envelopes are grouped into txns messages (at
// most ChunkEnvelopes envelopes and ChunkBytes bytes each). Every message
// on the tab's socket starts [version, kind] (Kind). Document IDs,
// headers, titles and rejection reasons are package vocab's. It depends
// only on crdt and vocab, so it builds for GOOS=js GOARCH=wasm and runs in
// the tab.
package wire
