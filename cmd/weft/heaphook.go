package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

// heapHook writes heap profiles for the hostile-peer suite (the
// WEFT_TEST_HEAPPROFILE hook): at each SIGUSR1 and at exit, a heap profile
// to PREFIX-N.pprof (written under a temporary name, then renamed, so a
// reader never sees half of one) and a log line with the Go heap's figures,
// including the peaks sampled every 10 ms since the previous dump: the live
// heap after the last collection, the heap's objects (live and not yet
// collected), and everything the runtime holds from the OS but has not
// returned. Their difference tells memory a peer made the process retain
// from the garbage-collection headroom over it.
type heapHook struct {
	prefix string
	log    *slog.Logger
	sig    chan os.Signal
	done   chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	n     int
	peaks heapFigures
}

// heapFigures are bytes, from runtime/metrics.
type heapFigures struct {
	live    uint64 // /gc/heap/live:bytes: marked live by the last collection
	objects uint64 // /memory/classes/heap/objects:bytes: live and dead, not yet swept
	goal    uint64 // /gc/heap/goal:bytes
	mapped  uint64 // /memory/classes/total:bytes minus /memory/classes/heap/released:bytes
}

var heapSamples = []string{"/gc/heap/live:bytes", "/memory/classes/heap/objects:bytes", "/gc/heap/goal:bytes",
	"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes"}

func readHeapFigures(s []metrics.Sample) heapFigures {
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() == metrics.KindUint64 {
			return s[i].Value.Uint64()
		}
		return 0
	}
	return heapFigures{live: v(0), objects: v(1), goal: v(2), mapped: v(3) - v(4)}
}

func startHeapHook(prefix string, log *slog.Logger) *heapHook {
	h := &heapHook{prefix: prefix, log: log, sig: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(h.sig, syscall.SIGUSR1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s := make([]metrics.Sample, len(heapSamples))
		for i, name := range heapSamples {
			s[i].Name = name
		}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-h.sig:
				h.dump(readHeapFigures(s))
			case <-tick.C:
				f := readHeapFigures(s)
				h.mu.Lock()
				h.peaks.live, h.peaks.objects = max(h.peaks.live, f.live), max(h.peaks.objects, f.objects)
				h.peaks.goal, h.peaks.mapped = max(h.peaks.goal, f.goal), max(h.peaks.mapped, f.mapped)
				h.mu.Unlock()
			}
		}
	}()
	return h
}

// dump writes the next profile and logs now's figures and the peaks since
// the last dump (then resets them).
func (h *heapHook) dump(now heapFigures) {
	h.mu.Lock()
	h.n++
	n, peaks := h.n, h.peaks
	h.peaks = heapFigures{}
	h.mu.Unlock()
	path := fmt.Sprintf("%s-%d.pprof", h.prefix, n)
	err := writeHeapProfile(path)
	mib := func(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
	h.log.Warn("heap profile (test hook)", "file", path, "err", err,
		"live_mib", mib(now.live), "objects_mib", mib(now.objects), "goal_mib", mib(now.goal), "mapped_mib", mib(now.mapped),
		"peak_live_mib", mib(peaks.live), "peak_objects_mib", mib(peaks.objects), "peak_goal_mib", mib(peaks.goal), "peak_mapped_mib", mib(peaks.mapped))
}

func writeHeapProfile(path string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// stop writes a last profile (PREFIX-exit.pprof) and ends the sampler.
func (h *heapHook) stop() {
	signal.Stop(h.sig)
	close(h.done)
	h.wg.Wait()
	if err := writeHeapProfile(h.prefix + "-exit.pprof"); err != nil {
		h.log.Warn("heap profile at exit (test hook)", "err", err)
	}
}
