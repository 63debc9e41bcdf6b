// Package trace reads editing traces (the sequential and concurrent formats
// of testdata/traces/README.md) and replays them through the crdt package:
// sequential traces as one agent's local edits, concurrent traces with one
// replica per agent, each transaction typed on the merge of its parents.
// It is shared by `weft trace replay`, the conformance tests and the
// benchmarks.
package trace
