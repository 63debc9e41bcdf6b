// Package child starts the child processes of weft's tests (daemons,
// relays, helper peers, S3 servers) so that none outlives the test binary.
//
// On Linux every child gets the kernel's parent-death signal (SIGKILL).
// That signal fires when the thread that started the child exits, not the
// process, and Go may end threads; so every child is started from one
// goroutine locked to its OS thread for good. Start also remembers each
// child until Forget, so that KillAll can kill what is still running when
// the test binary is stopped by a signal (which the parent-death signal
// does not cover on other systems).
package child
