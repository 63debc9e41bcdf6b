package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Garbage-collection headroom (docs/design-notes.md, "Bounded work"). Go
// lets the heap grow to live × (1 + GOGC/100) before it collects: at the
// default GOGC of 100, as much garbage as there is live heap. A daemon's
// live heap is large before any peer sends anything (badger's memtable
// arena alone is ~83 MiB, allocated whole, mostly untouched) and grows with
// the documents it holds (a 2^20-code-point document: ~60 MiB more), so
// any stream of messages, even ones refused at once, could make it resident
// in garbage as much again: 50–150 MiB measured under the hostile suite's
// floods, none of it retained. So weft bounds the headroom in bytes, not as
// a ratio: after each collection it sets the GC percent to what lets the
// heap grow by gcHeadroom over the live heap, never above maxPercent (the
// default GOGC's 100 for a daemon, 50 for a relay) nor below minGCPercent
// (a huge live heap would otherwise collect almost continuously). A set
// GOGC turns this off (the process keeps Go's own behaviour).
const (
	gcHeadroom      = 32 << 20
	minGCPercent    = 10
	daemonGCPercent = 100
)

// gcPercentFor is the GC percent that gives a live heap of live bytes
// headroom bytes of garbage, clamped to [minGCPercent, maxPercent].
func gcPercentFor(live, headroom uint64, maxPercent int) int {
	if live == 0 {
		return maxPercent
	}
	p := int(min(headroom*100/live, uint64(maxPercent)))
	return max(p, min(minGCPercent, maxPercent))
}

// boundGCHeadroom keeps the GC percent at gcPercentFor(live heap) until ctx
// ends or stop is called, checking for a new collection every 100 ms; stop
// waits for it to end. With GOGC set it does nothing.
func boundGCHeadroom(ctx context.Context, log *slog.Logger, maxPercent int) (stop func()) {
	if os.Getenv("GOGC") != "" {
		log.Info("GOGC is set: the GC headroom is Go's own", "GOGC", os.Getenv("GOGC"))
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var cycles uint64
		set := -1
		for {
			metrics.Read(s)
			if c := s[0].Value.Uint64(); c != cycles || set < 0 {
				cycles = c
				if p := gcPercentFor(s[1].Value.Uint64(), gcHeadroom, maxPercent); p != set {
					debug.SetGCPercent(p)
					set = p
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
