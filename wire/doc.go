// Package wire holds the formats weft replicas exchange: the transaction
// envelope (a routing header and an opaque payload) and the messages of
// the catch-up protocol, which the daemons use with each other and the
// editor tab uses with its daemon. It depends only on crdt, so it builds
// for GOOS=js GOARCH=wasm and runs in the tab.
package wire
