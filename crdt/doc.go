// Package crdt is weft's sequence CRDT: the text of one document, its full
// editing history, versions, and the binary encoding of transactions and
// snapshots.
//
// The package is pure: no I/O, goroutines, clocks or logging. It builds for
// GOOS=js GOARCH=wasm and is the replica that runs in the daemon, the relay
// and the editor tab. Its only weft import is package vocab, the shared
// vocabulary: ID, Version and the limits MaxAgentLen, MaxSeq and
// MaxTxnParents are vocab's, named here as aliases, so that wire, store and
// the rest speak of the same values.
//
// # Glossary
//
//   - agent: a writer, named by a short string. Each agent numbers its
//     operations 0, 1, 2, … with no gaps.
//   - seq: an agent's operation number. Every inserted code point and every
//     deleted code point consumes one seq.
//   - ID: (agent, seq), the wire and disk name of one operation (and of the
//     item an insert creates).
//   - LV (local version): the dense integer a replica gives each operation in
//     the order it integrated them. Internal only; never sent or stored.
//   - span: a run of consecutive seqs of one agent (or consecutive LVs).
//     Everything is stored and sent as spans, never one by one.
//   - transaction (Txn): a run of operations one agent made on one version.
//     It names its parents.
//   - version: a version vector, agent → next seq, used for sync.
//   - frontier: the IDs no other known operation depends on; a transaction's
//     parents are the frontier it was made on. A frontier also names a past
//     version (its causal past) for history queries (query.go), printed as
//     agent@seq,… (Frontier.String, ParseFrontier).
//   - origin: an insert's originLeft and originRight, the items it was typed
//     between (see DESIGN.md, "Ordering rule", and docs/design-notes.md,
//     "The ordering rule, precisely").
//   - tombstone: a deleted item. It stays in the sequence so that concurrent
//     inserts can be ordered; its content stays in the history.
//   - patch: positional changes (in code points) a view applies to follow a
//     remote transaction.
//   - time: a transaction's Txn.Time, its author's wall clock in ms since
//     the Unix epoch (0 unknown). Shown in history, never used to order
//     anything; the crdt has no clock, the caller gives it (SetNow).
//   - title: the document's title, set by title ops (OpTitle, one seq, no
//     item); Title resolves concurrent renames (title.go).
//   - snapshot: the text plus the run-length-encoded metadata and full
//     history, so that loading does not replay history.
//
// # Cost of a remote transaction
//
// Apply's work is bounded by the transaction's encoded size and the runs
// of history it really changes, never by the number of seqs a few bytes
// can name: a delete of 2^20 items is one run, not 2^20 steps. Seqs a
// transaction repeats are compared with the history run by run, within a
// budget of pieces its ops and text pay for (overlap.go says why runs and
// not hashes, and what happens over budget). Apply returns nil for a pure
// duplicate, ErrInvalid for a malformed transaction, ErrContradiction for
// one that contradicts known history and ErrUnchecked for a partial
// overlap too fragmented to check; IsDuplicate tells a pure duplicate
// before applying it, so that gossip can ignore it.
//
// # Ordering
//
// Concurrent inserts are ordered by the Fugue rule of current Diamond Types
// (FugueSpan) and the Eg-walker reference, exactly as DESIGN.md specifies
// (not YjsMod, whose originRight differs: crdt/reference_test.go runs both,
// TestRuleDesignVsStandard); sibling ties go to the smaller ID (agent name
// bytewise, then seq). Two agents typing at the same position keep their
// runs contiguous.
package crdt
