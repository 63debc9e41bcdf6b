// Package e2e holds weft's multi-process tests and benchmarks: real `weft
// daemon` processes on 127.0.0.1, each with its own temporary data
// directory, driven through the CLI and the local HTTP API.
//
// TestMain builds the weft binary (and the hostile-peer helper in
// internal/hostile) once, with the Go build cache. One supervisor, proc
// (proc_test.go), runs every daemon and relay: start and wait until ready,
// API client (client_test.go), stop, kill and restart on the same data
// directory, port and peer ID. Every child process (internal/child) is
// killed when its test ends and when the test binary exits (even on a
// crash: the children get SIGKILL from the kernel). On failure a test
// prints each process's log and its random seed.
//
// What the tests cover (issue 4):
//
//   - TestConverge: three daemons, concurrent random edits (inserts with
//     emoji, deletes) through the API and the CLI on all three while one is
//     stopped and restarted and while gossip is lossy
//     (WEFT_TEST_DROP_GOSSIP); every inserted code point is unique, so the
//     final text can be checked against every acknowledged edit.
//   - TestLateJoinerCatchesUpPaper: the automerge-paper history typed on A
//     with `weft doc replay`; B starts empty, joins and catches up.
//   - TestHostileTopic, TestHostileSync: a hostile member (the helper in
//     internal/hostile, joined with a write and a read invite) sends
//     crafted input on a members-only document's route-sealed gossip topic
//     and on catch-up streams (the membership handshake, frames, messages,
//     envelopes), and answers the daemon's own catch-up with crafted
//     replies: each is refused and counted by its reason (not sealed for
//     the topic, malformed, a payload that does not match or open, a bad
//     signature, a forged agent, a stranger's or a reader's transaction,
//     a forged or expired chain, a wrong open MAC, ...), nothing is stored,
//     a replayed envelope is taken once, and well-formed transactions of
//     the same member are applied and passed on.
//   - TestHostileBounds (hostile_bounds_test.go, issue 11): each attack —
//     contradicting repeats of a long known run (overlap), invalid gossip,
//     GossipSub messages with forged signatures, the committed corpora of
//     the decoder fuzzers (as gossip, as a writer's transaction payloads
//     and as catch-up frames), catch-up streams held
//     open, silent or trickling a 4 MiB frame, 50,000 subscriptions,
//     presence at full speed with a tab attached, orphan transactions
//     (last, then the typing alone again: the orphans stay), a member
//     granting a relay many documents (beyond a per-member quota) and
//     strangers reserving circuits — is run by the helper's floods
//     (internal/hostile/attacks.go) against A (or the relay) while A
//     types 10 keystrokes/s to B; a baseline row has no attack. Each subtest
//     measures its target's peak resident memory above the baseline
//     (VmHWM reset through clear_refs, and VmRSS sampled every 20 ms),
//     CPU (utime + stime), bytes written to disk (/proc/<pid>/io, as
//     root) and the honest keystroke p99 and longest stall
//     (procstats_test.go), prints one table row and fails on the bounds
//     it breaks: memory ≤ 64 MiB per attacking peer, CPU ≤ 1 s per MiB
//     sent plus a floor (1 s, and 4 ms per honest keystroke typed on the
//     target), disk only for accepted input, p99 < 50 ms, no stall over
//     2 s. 3 s per attack; -hostile.duration=D (or -e2e.long: 30 s)
//     for longer ones, -hostile.table=FILE to keep the table (`make
//     hostile`).
//   - TestCleanShutdown: SIGINT and SIGTERM exit 0, remove api.json, and a
//     restart shows the same documents and text.
//   - TestBigEditRequest: one request with as many edits as the API accepts
//     is applied or refused cleanly, and the daemon keeps working.
//   - TestInterop (interop_test.go, with the js-libp2p peer in interop/):
//     an independent libp2p implementation, given only an invite, joins a
//     members-only document and exchanges signed, sealed transactions with
//     a daemon; a peer knowing only the topic sees ciphertext.
//     TestInteropMemberFormats does the same against package member's own
//     code over go-libp2p, without a daemon.
//   - The accounting of TestConverge and of the fault harness (e2e/chaos)
//     is one model, internal/editmodel, whose own test shows that it fails
//     on a lost, resurrected, duplicated or invented edit.
//
// Members-only documents (issue 10): every test shares a document by
// invite (share, members_helpers_test.go) and has a member grant a relay
// the pull role (host) before the relay stores it. members_test.go:
// a stranger daemon and a raw libp2p peer get nothing, and joining by bare
// ID is refused (TestStrangerGetsNothing); a reader reads and cannot write
// (TestReadOnlyMember); an expired invite is refused
// (TestExpiredInviteRefused); a removed member cannot read what is written
// after and is accepted by nobody (TestRemovedMemberIsCutOff); a relay's
// data directory, log and backups (directory and S3) hold no plaintext,
// and a backup with a tampered envelope but valid checksums is refused
// with nothing written (TestRelayHoldsCiphertextOnly). Markers (random
// strings typed into titles and texts) are looked for in every byte.
//
// Benchmarks (figures in BENCHMARKS.md): BenchmarkKeystrokeLatency,
// BenchmarkCatchUpPaper, BenchmarkThroughput. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 ./e2e/
//
// Side by side with a binary from before members-only documents (issue
// 10's figures): WEFT_E2E_WEFT=old-binary WEFT_E2E_LEGACY=1, which makes
// the helpers join by bare ID instead of by invite and skip granting
// relays (members_helpers_test.go); for benchmark runs only.
//
// Knobs: WEFT_E2E_DEBUG=1 makes every daemon and relay log at debug level
// (GossipSub's RPCs included); -e2e.seed=N fixes the random seed;
// -e2e.long (or WEFT_E2E_LONG=1) runs the longer variants;
// -hostile.duration and -hostile.table (TestHostileBounds, above);
// WEFT_E2E_WEFT=path tests a prebuilt weft binary
// instead of building one (built with -tags weft_testhooks, which makes it
// read the WEFT_TEST_* fault-injection and profiling variables the tests
// set; the shipped binary reads none); under `go test -race` (or WEFT_E2E_RACE=1) the
// daemons are built with the race detector too, and deadlines stretch.
package e2e
