// Package store is weft's durable local state: documents' transactions,
// snapshots and metadata on badger (v4, through go-datastore), with write
// batching, causal-order streaming, compaction, schema migrations,
// consistency check and repair, and backup/restore.
//
// The store keeps encoded bytes. It never imports the crdt package: what it
// knows of a transaction is its vocab.Header (the same header its envelope
// carries), passed beside the opaque payload in a TxnRecord, and Check looks
// inside payloads only through the Codec interface declared here. Document
// IDs, agents, spans, versions, and the bounds on seqs (vocab.MaxSeq),
// parents (vocab.MaxParents) and new titles (vocab.CheckTitle) are package
// vocab's; a stored title is read back as it is, even one written before
// the title rule.
// It keeps no decoded document state either: a document is opened by
// reading its Snapshot and then Stream of what the snapshot does not
// cover, and the daemon's cache of hot documents is its loaded replicas
// (package replica), each unloaded after it has been idle for
// replica.Options.IdleUnload. Below the store, badger's block cache
// (Options.BlockCacheBytes) holds recently read blocks.
//
// # Data directory
//
//	<dir>/weft.lock   flock held while open; names the holder's PID
//	<dir>/db/         the badger database
//	<dir>/backups/    automatic backups taken before a migration
//
// # Keys (schema version 3)
//
// Document IDs are 128 random bits written as 32 lowercase hex digits.
// Agent names (1..64 bytes of UTF-8) are escaped into one key segment: bytes
// outside [A-Za-z0-9_-] become %XX (uppercase hex). Seqs, log counters and
// epochs are 20-digit zero-padded decimals, so key order is numeric order.
//
//	/weft/schema                      schema version + install ID
//	/docindex/<id>                    one per document: Docs reads these keys only
//	/docs/<id>/meta                   title, created, last opened
//	/docs/<id>/txn/<agent>/<seq>      one transaction: header + payload
//	/docs/<id>/log/<epoch>/<n>        arrival log: n-th stored transaction → (agent, seq, len)
//	/docs/<id>/logend                 log state: current epoch, next counter, dirty
//	/docs/<id>/head/<agent>           next seq of agent (its transactions end there)
//	/docs/<id>/snapshot               latest snapshot + the version it covers
//	/docs/<id>/fetch                  spans Check could not rebuild; fetch from peers
//	/quarantine/<time>/<original key> a damaged value moved aside, with the reason
//	/deleting/<id>                    a deletion begun (DeleteDoc); Open finishes it
//
// A replica stores a transaction only after integrating it, so the order of
// arrival is a causal order; Append enforces it (no gaps in an agent's
// seqs, parents stored first). Streams walk the arrival log's
// current epoch, named by logend; CreateDoc writes the metadata and the
// index entry together.
//
// # Compaction and log epochs
//
// Compact writes a snapshot and drops the transactions it covers. Deleted
// keys stay in badger as tombstones until its own compaction removes them,
// and an iterator steps over every one of them: a log whose first 260,000
// entries had just been deleted took 50 ms to read even when nothing
// followed the snapshot. So compaction never deletes inside the epoch
// readers read. It copies the entries the snapshot does not cover, with
// their counters, into the next epoch; switches the log to it in one atomic
// write, holding appends to the document only for that moment; and then
// deletes the old epoch with the covered transactions, each entry in the
// same group as its transaction. The deleted keys of old epochs sort before
// the current epoch's prefix, which readers seek to directly. Streams
// wait from the snapshot's write until the switch is committed (and
// a compaction waits for those already reading); the deletes run while
// they read.
//
// logend's dirty flag is set from the start of a compaction until its old
// epoch is gone. After a crash, entries may be left in another epoch: a
// partial copy (crash before the switch, the old epoch still current) or
// part of the old epoch (crash after). Readers never see them; the next
// compaction of a dirty log, or Check with Repair, removes them, dropping
// with an old entry the transaction it names when the snapshot covers it
// and the current epoch does not list it. Check counts them as leftovers,
// not problems.
//
// # Values
//
// Every value is CBOR (Core Deterministic Encoding): an envelope
// [format version, kind, body, CRC-32C] whose body is the record. A value
// whose checksum or encoding is wrong is reported with its key (ErrCorrupt);
// Check --repair moves it to /quarantine and rebuilds what it can, and
// lists what only peers can give back (Missing): spans past what is
// stored, and records lost under the snapshot of a document that keeps its
// records there (a members-only one). ResolveMissing trims the list to
// what no stored record holds yet; Refill stores a listed record under the
// snapshot (Append cannot: the heads cover it).
//
// # Health
//
// Probe checks that a write can still be made durable. SpotCheck is the
// cheap part of Check for a running node's health checks: each run rebuilds
// one random document from its snapshot and at most SpotMaxTxns (20,000)
// transactions after it, through the Codec, and compares the result with
// the heads; it never writes, and retries (up to 3 times) when a compaction
// replaces the snapshot under it. RepairCovered is the part of the repair
// that is safe while a replica runs the document: damaged records under
// the snapshot of a document that keeps them (read only to serve catch-up)
// go to /quarantine and onto the fetch list; at most SpotMaxTxns per call.
//
// # Durability
//
// Badger runs with SyncWrites off; the store syncs explicitly. Immediate:
// Append returns after the transactions' database transaction committed and
// the write-ahead log and value log were fsynced. Batched: Append returns
// after validation; the writer commits everything queued (at most MaxDelay
// later, sooner when MaxBatchTxns or MaxBatchBytes is reached or an
// Immediate write arrives) in atomic database transactions of at most
// MaxBatchBytes and then syncs once; only then is the Ack done. One
// transaction's record, log entry and head are always in the same database
// transaction, so a crash leaves each transaction wholly present or absent.
// A failed commit or sync fails every queued write and makes the store
// refuse writes (ErrFailed) until reopened. While the file system has less
// free space than Options.MinFreeBytes (default 192 MiB) writes are
// refused with ErrDiskFull and Probe fails, until space returns: badger
// writes through memory-mapped files, and a full disk under a mapped page
// kills the process (SIGBUS) rather than failing the write. Close flushes
// and syncs.
//
// # Migrations
//
// The schema version lives at /weft/schema. Open refuses a newer store
// (ErrSchemaTooNew, naming both versions) and migrates an older one one
// version at a time (1→2→3), after backing it up to <dir>/backups. Each
// migration can run again after a crash part-way; the schema record is
// written after it. Version 1 had no arrival log or heads; the 1→2
// migration builds them by ordering each document's transactions causally
// from their parents. Version 2's log was /docs/<id>/log/<n> and logend
// held only the next counter; the 2→3 migration moves every entry to epoch
// 0 (one atomic put-and-delete each, values and counters unchanged), then
// rewrites logend, and writes /docindex/<id> for every document with
// metadata. Fixtures written by the version-1 and version-2 code are under
// testdata and migrated by the tests.
//
// # Backups
//
// Backup streams a consistent copy (one read transaction) to a Sink: a
// directory (DirSink) or an S3-compatible bucket (S3Sink). The format is
// described in BACKUP.md. Restore verifies the whole backup before touching
// the target. Retention (keep the last N, and the newest of each of the
// last M days) prunes a sink after a backup; a Scheduler takes backups
// every interval and on demand, one at a time, and reports its health.
package store
