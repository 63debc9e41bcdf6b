package main

import (
	_ "embed"

	"weft/crdt"
)

// warm.snap is a small document's snapshot (two agents, inserts, deletes
// and a merge; warm_test.go writes it with -update and checks it).
//
//go:embed warm.snap
var warmSnapshot []byte

// warmText is warm.snap's text.
const warmText = "the quick brown fox jumps over the lazy dog; 🦊 and 🐶 are friends"

// warmUp loads warm.snap a few times when the module starts. A browser
// compiles WebAssembly lazily, function by function, with a baseline
// compiler first: the first snapshot the tab loads would otherwise pay
// for compiling the whole load path, on the way to the editor becoming
// editable (ui/PROTOCOL.md, "Opening from a snapshot").
func warmUp() {
	for range 8 {
		d, err := crdt.LoadSnapshot("warm", warmSnapshot)
		if err != nil || d.Text() != warmText {
			return
		}
	}
}
