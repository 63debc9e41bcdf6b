// Package vocab is weft's shared vocabulary: the names and limits every
// other package uses for documents, agents, operations and rejected input,
// defined once so that they cannot drift apart.
//
// It owns:
//
//   - DocID: a document's 128-bit ID, its text form (32 lowercase hex
//     digits: String, ParseDocID) and its one validity rule, used by wire,
//     store, ui and the command line alike: an ID is 16 bytes and not all
//     zeros. The all-zero ID is the zero value of the type, so it is what
//     an ID that was never set looks like; refusing it everywhere means a
//     forgotten ID can never name a real document, and lets APIs use the
//     zero ID to mean "none" or "any" (wire.ParseEnvelope does). Random IDs
//     are all zeros with probability 2^-128, so nothing real is excluded.
//   - agents: a name of 1..MaxAgentLen (64) bytes of valid UTF-8
//     (CheckAgent). Agents number their operations 0, 1, 2, …; every seq
//     and seq+length is at most MaxSeq (2^31-1) so that a replica's local
//     versions fit in 32 bits; a transaction names at most MaxParents
//     (1024) parents.
//   - ID (agent, seq), Span (a run of one agent's seqs), Version (agent →
//     next seq, with Contains, ContainsSpan, Includes, Equal, Merge, Clone)
//     and Header (agent, seq, length and parents of a transaction: what
//     routing and storage know of it; the same value on the wire and on
//     disk). Span, Version and Header each have a Check that applies the
//     limits above; the store checks whole headers on write, the envelope
//     parser checks the span and leaves the parents to the transaction's
//     own rules.
//   - titles: one rule (CheckTitle): valid UTF-8, at most MaxTitle (256)
//     code points, no control characters. New titles are checked against
//     it; titles already on disk are read as they are, and a peer's title
//     that breaks it is ignored.
//   - rejections: input from peers, tabs or disk that is refused is an error
//     made by Reject (or Rejection): it matches ErrRejected and names one
//     of the Reason* constants, the label it is counted under. Reason reads
//     it back.
//
// The package imports nothing from weft and only the standard library; it
// is pure (no I/O, randomness, clocks or goroutines) and builds for
// GOOS=js GOARCH=wasm, so the crdt package and the editor tab use it too.
// Errors from its checks say what is wrong without a sentinel; callers wrap
// them with their own (crdt.ErrInvalid, store.ErrInvalid) or turn them into
// rejections.
package vocab
