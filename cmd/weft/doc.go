// Command weft is weft's one binary. Its subcommands parse flags and
// configuration and wire the packages together; the logic lives in the
// packages (crdt, store, p2p, replica, ui, obs).
//
// main.go builds the whole command tree. The daemon and the relay read
// their configuration through one layered loader (config.go: defaults <
// TOML file < environment < flags, unknown keys refused) and start the same
// parts (parts.go) with the health checks of their packages (observe.go)
// and the same backup schedule (backup.go: --backup-to, --backup-every,
// --keep-*). A daemon also takes a backup on request through its API,
// which is how `weft backup create` backs up a store a daemon holds.
// The adapters left (transport.go, backend.go, storeMetrics) exist because
// Go has no covariant results: *p2p.Topic is not a replica.Topic, nor
// *replica.Session a ui.Session, though each has the methods.
//
// Both bound the garbage collector's headroom in bytes (gcheadroom.go: 32
// MiB over the live heap unless GOGC is set), so that what peers send
// cannot make garbage resident in proportion to a large live heap.
//
// The shipped binary reads no test hook. Built with -tags weft_testhooks
// (as the multi-process tests in e2e build it), it reads WEFT_TEST_* fault
// injection and profiling variables (testhooks_on.go, hooks.go; heap
// profiles on SIGUSR1: heaphook.go).
package main
