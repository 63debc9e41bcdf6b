// Command weft is weft's one binary. Its subcommands parse flags and
// configuration and wire the packages together; the logic lives in the
// packages (crdt, store, p2p, replica, ui).
package main
