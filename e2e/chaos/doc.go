// Package chaos is weft's fault harness (issue 12): real daemons and a
// relay, each in its own Linux network namespace, edited by clients while a
// seeded schedule of faults plays, then healed and checked.
//
// Per run, TestChaos builds a switch namespace with a bridge and six node
// namespaces (five daemons, one relay), each joined by a veth pair, on a
// 10.231.X.0/24 subnet no interface of the machine uses. The root namespace
// gets no address there and the node namespaces have no route elsewhere,
// so nothing leaves them. Every node listens on its namespace's address
// only (TCP; mDNS and the DHT off on daemons); the daemons bootstrap
// through the relay and each other. A daemon's API stays on 127.0.0.1 of
// its namespace, as on a user's machine: the test reaches it by opening
// its sockets inside that namespace (setns on a locked thread), so client
// traffic never crosses the faulty network. d1 creates a members-only
// document, invites d2..d5 (they join with the invites) and grants it to
// the relay (host). d5's data directory is on a size-limited tmpfs.
//
// A schedule (its seed derived from the run's seed and its index; the run's
// seed is printed and in the report, and -chaos.seed repeats it) draws 2–5
// faults within the fault phase: full, partial and one-way partitions and
// packet loss (iptables in the nodes' namespaces), bandwidth limits (tc
// tbf: its queue also delays), SIGKILL (restart on the same data when the
// fault ends), SIGSTOP/SIGCONT, clean restarts, a daemon restarted with
// its clock moved by hours (WEFT_TEST_CLOCK_OFFSET, a test hook of the
// weft_testhooks build: Go ignores libfaketime) and d5's disk filled. The
// kernel this was written on has no sch_netem, so delay with jitter and
// reordering are not injected (see README.md).
//
// Clients on every daemon insert unique code points (emoji, CJK, astral)
// and delete, through the API; every acknowledged edit is recorded (the
// model, copied from package e2e). After the faults the network heals and
// every node is running; the checker then wants one text and version on
// all daemons covering every acknowledgement (measuring the heal-to-
// convergence time), no acknowledged edit lost, and a full disk handled:
// storage unready, edits refused with an error, reads served, recovery
// once freed. At the end of a run: SIGTERM exits 0, no crash but the
// harness's kills, `weft check` passes on every store, the relay's store
// holds the final version, and the relay's backups restore (the last to
// exactly the final state). A daemon is backed up through its API during
// each schedule's faults and the backup restored and checked after it
// converges (backup_test.go). Reports in Markdown and JSON go to
// -chaos.report. See README.md.
package chaos
