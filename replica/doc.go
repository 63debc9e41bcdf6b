// Package replica runs weft's documents: one driver per joined document
// carries out, in a fixed order per source, what one deterministic step
// says about every input; it runs catch-up and anti-entropy with other
// replicas, serves editor tabs, relays presence, and tracks durability
// acknowledgements.
//
// # Step and driver
//
// step (step.go) is a pure function of the document's crdt state and one
// input — the daemon's own edits (API), a tab's transactions, or a peer's
// from gossip or catch-up — that returns what to persist and with which
// durability, what to publish, what to send to the tabs, and what to
// answer: no goroutines, no clock, no I/O. Its scripted tests are in
// testdata/step. The driver (driver.go, docstate.go) is the document's one
// goroutine: it owns the crdt state, the attached tabs and the durability
// acknowledgements, takes work as messages, and carries out a step's
// effects in the order the step lists them. A document has one gossip
// topic, read by one goroutine (transactions, membership news, presence
// and acknowledgements are message kinds on it); it and the sockets only
// decode and hand over; nothing else locks the document. The topic's
// validator drops, without blame, what this replica already committed
// (committedHeads, which the driver updates after each commit), presence
// over its sender's rate (presence.go) and news that changes nothing.
//
// # The order of effects, and why
//
// Declared once, in step.go's order table:
//
//	API edits    persist (immediate) → publish → tabs → reply
//	tab's txns   publish → tabs → persist (immediate) → reply (ack)
//	gossip       persist (batched) → tabs → reply
//	catch-up     persist (batched) → tabs → publish (relays only) → reply
//
// The daemon's own edits are durable before anyone hears of them: if a
// transaction reached a peer and was then lost locally, the restarted
// daemon would reuse its seqs for other content — a fork. So they pay one
// fsync before leaving.
//
// A tab's transactions go to peers and the other tabs first and are acked
// only once durable. The seqs are the tab's, and the tab keeps every edit
// until it is acked and sends it again after any failure, so nothing a peer
// saw can be lost or reused (the page keeps unacked edits across a reload,
// and a later tab resends them under their own agent); and the fsync stays
// out of a keystroke's way to the other users. A fresh tab is sent the
// document as one crdt snapshot in the hello, not its history (tabsnap.go).
//
// Peers' transactions are written batched: gossip and catch-up can always
// bring them again, so a crash before the batch commits loses nothing that
// was promised. GossipSub forwards them by itself. A relay publishes what
// catch-up brought it, so peers online need not wait for their next
// anti-entropy round, and acknowledges what it stored once the batch is
// durable.
//
// What arrived is stored and forwarded as the bytes it came in whenever
// the step integrated exactly that transaction; envelopes are decoded once
// per hop (a gossip validator's decoded value travels with the message).
//
// # Roles
//
// A relay (Options.AckDurable) keeps its durable version and publishes
// acknowledgements; a daemon with relays (Options.Relays) records theirs
// and pushes "saved on relay" to its tabs. Each role's state exists only
// where it is configured. A relay builds a document's state and joins its
// topic only while it is in use (topics.go): its subscriptions follow the
// documents peers are in, not the documents it hosts. Tabs are told the
// peer count when the topic's peers change, never by polling; peers'
// cursors reach them coalesced, the latest per agent at most every 50 ms.
//
// # A relay's quotas
//
// What a replica keeps for others (documents it cannot read) is bounded
// per document and per granting member (the member whose grant its
// capability descends from): documents, envelope bytes and transactions a
// second (quota.go, Options.HostMax*). A grant over a document quota is
// refused, and its giver told why. A peer's transaction over a bytes or
// rate quota is dropped before the step, never blamed on the sender
// (gossip already forwarded it; catch-up goes on) and never lost: it was
// not stored, so the next catch-up with a member who holds it brings it
// again, once it fits. The rates are token buckets holding
// Options.HostTxnBurst of their rate, so typing and a day's catch-up pass
// whole. Every refusal counts as reason "quota" and by limit; QuotaUsage
// reports how full each limit is, naming no document. IsMemberDevice
// (an index of every device named in a held book) says whom a relay
// serves circuit reservations.
//
// # Bounds on what peers make it hold
//
// Catch-up runs at most Options.SyncMaxInbound exchanges for peers
// (SyncMaxInboundPerPeer with one; over them a stream is answered "busy")
// and SyncMaxOutbound of its own (SyncMaxOutboundPerPeer with one); every
// step of an exchange must move within SyncIdleTimeout. The history is
// streamed from the store off the driver, two store chunks held at most.
// Envelopes waiting for their causal past (hlog.go) are charged to the
// peer that brought them, a quarter of the document's room each, and
// wait two minutes at most. Stream refusals call Transport.Penalize.
// docs/design-notes.md ("Bounded work") says why each bound is what it is.
//
// # Documents: titles, import, change feed, delete
//
// A rename, and a new document's title, is a title transaction (crdt
// OpTitle) made by the API step like an edit; once the history holds one,
// the stored title follows crdt's Title() after every step, "" included,
// and a peer's hello title is no longer adopted (docs.go). Import inserts a UTF-8 text in 1 MiB transactions and deletes
// the document again when it fails. The change feed (events.go) follows a
// copy of the crdt state that takes, after each step's effects, what the
// document integrated, and fans its patches to bounded channels (a reader
// 1,024 events behind is dropped with an end event). Delete leaves the
// topic, ends the driver (a deleted document's driver never starts again)
// and removes every key of it (store.DeleteDoc); an admin or the last
// member first sends the relays it reaches a signed member.Drop on
// DropProtocol, which a relay acts on only after its own checks
// (drop_send.go).
//
// # Repair
//
// What `weft check --repair` lists to fetch (store.Missing) comes by
// ordinary catch-up, which then trims the list (repair.go): the hello asks
// again for listed records under the version, and what comes back is
// checked against the stored chain of headers and stored beside the rest
// (store.Refill); until this device's own listed seqs are back, its own
// edits are refused (they would reuse them: a fork). ConsistencyCheck
// (health.go), a node's online check,
// repairs what is safe while documents are in use and names what is not.
//
// It depends only on small interfaces it declares (Transport, Store), which
// p2p and store satisfy; it never touches libp2p or badger types.
//
// # History
//
// API edits carry the input's arrival time (the daemon's clock) as their
// transactions' time. The history queries of the local API (history.go:
// sessions, the text, diff and blame at a version, restore) run on the
// document's driver against its crdt state; a restore is one API step of
// edits (go-udiff's edit script), so it persists, publishes and syncs as
// any edit.
package replica
