// Package wire holds the formats weft replicas exchange: the transaction
// envelope (a routing header and an opaque payload) and the messages of
// the catch-up protocol, which the daemons use with each other and the
// editor tab uses with its daemon; presence (cursors), which daemons
// gossip and tabs send through their daemon; the durability
// acknowledgements relays publish; and the status message a daemon sends
// its tabs. Every message on the tab's socket starts [version, kind]
// (Kind). It depends only on crdt, so it builds for GOOS=js GOARCH=wasm
// and runs in the tab.
package wire
