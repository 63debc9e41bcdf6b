package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"weft/obs"
	"weft/replica"
)

// testHooks are fault injection and profiling for the multi-process tests.
// The shipped binary never sets them: loadTestHooks returns them empty
// unless weft is built with -tags weft_testhooks (testhooks_on.go reads
// them from WEFT_TEST_* variables; e2e builds weft so). This package's
// tests set them directly.
type testHooks struct {
	// failStorage names a file while whose existence the storage check
	// fails. (Tests run as root in CI, where no permission change makes the
	// open database unwritable.)
	failStorage string
	// dropGossip is the fraction of received gossip dropped before it
	// reaches the documents (replica.Options.DropGossip).
	dropGossip float64
	// cpuProfile is a file to write a CPU profile of the whole run to.
	cpuProfile string
	// heapProfile is a prefix: heap profiles and the Go heap's figures
	// at each SIGUSR1 and at exit (heaphook.go).
	heapProfile string
	// clockOffset moves the replica's clock (replica.Options.Now: member
	// checks, invite expiry, timings) by this much; Go binaries ignore
	// libfaketime, so the chaos tests move a daemon's wall clock with it.
	clockOffset time.Duration
}

// start applies the hooks that act on the process and the replica options,
// logging each that is on; stop ends what start began.
func (h testHooks) start(log *slog.Logger, ro *replica.Options) (stop func(), err error) {
	stop = func() {}
	if h.failStorage != "" {
		log.Warn("storage fault injection is on", "file", h.failStorage)
	}
	if h.dropGossip > 0 {
		log.Warn("dropping received gossip for testing", "fraction", h.dropGossip)
		ro.DropGossip = h.dropGossip
	}
	if h.clockOffset != 0 {
		off := h.clockOffset
		log.Warn("the replica's clock is moved for testing", "offset", off)
		ro.Now = func() time.Time { return time.Now().Add(off) }
	}
	if h.cpuProfile != "" {
		f, err := os.OpenFile(h.cpuProfile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		stop = func() {
			pprof.StopCPUProfile()
			f.Close()
		}
	}
	if h.heapProfile != "" {
		log.Warn("heap profiles on SIGUSR1 for testing", "prefix", h.heapProfile)
		hh := startHeapHook(h.heapProfile, log)
		prev := stop
		stop = func() {
			hh.stop()
			prev()
		}
	}
	return stop, nil
}

// storageCheck is check, failing without running it while the
// failStorage file exists.
func (h testHooks) storageCheck(check obs.CheckFunc) obs.CheckFunc {
	if h.failStorage == "" {
		return check
	}
	return func(ctx context.Context) (any, error) {
		if _, err := os.Stat(h.failStorage); err == nil {
			return nil, fmt.Errorf("storage fault injected for testing (%s exists)", h.failStorage)
		}
		return check(ctx)
	}
}
