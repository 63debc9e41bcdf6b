package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"weft/api"
)

// The relay's benchmarks (issue 6). Figures go out with ReportMetric;
// ns/op is one whole round and means little. Run them with
//
//	go test -run '^$' -bench Relay -benchtime 1x -count 3 ./e2e/
//
// Figures and method are in BENCHMARKS.md.

// createDocs creates n documents on d through its API and returns their IDs.
func createDocs(b testing.TB, d *daemon, n int, title string) []string {
	b.Helper()
	ids := make([]string, 0, n)
	for range n {
		var info api.DocInfo
		ctx, cancel := ctxT()
		err := d.call(ctx, "POST", "/api/docs", map[string]string{"title": title}, &info)
		cancel()
		if err != nil {
			b.Fatalf("%s: creating a document: %v", d.name, err)
		}
		ids = append(ids, info.ID)
	}
	return ids
}

// waitAllAcked waits until, for every document, one of the daemons has
// heard the relay acknowledge want[doc] (documents are checked again only
// while they are short).
func waitAllAcked(b testing.TB, ds []*daemon, want map[string]map[string]uint64, timeout time.Duration) {
	b.Helper()
	pending := slices.Sorted(maps.Keys(want))
	waitFor(b, timeout, "the relay to acknowledge every document", func() (bool, string) {
		ctx, cancel := ctxT()
		defer cancel()
		var left []string
		for _, id := range pending {
			covered := false
			for _, d := range ds {
				st, err := d.docStatus(ctx, id)
				if err != nil {
					return false, err.Error()
				}
				if ok, _ := coversVersion(st.RelayAcked, want[id]); ok {
					covered = true
					break
				}
			}
			if !covered {
				left = append(left, id)
			}
		}
		pending = left
		return len(pending) == 0, fmt.Sprintf("%d documents not yet acknowledged", len(pending))
	})
}

// Relay ingestion: two daemons, each given only the relay, share 50
// documents and write to all of them at once (4 concurrent writers per
// daemon, one-code-point inserts); timed from the first request until the
// relay's acknowledgements (as the daemons hear them) cover every edit of
// every document. With batch=1 each request is one edit, one transaction,
// one gossip message and one stored record at the relay; with batch=10 a
// request's edits are still ten transactions but travel and are stored
// merged (replica stores and publishes consecutive local edits as one
// span). Reports edits per second acknowledged by the relay, the rate at
// which the writers' own API acknowledged them, the gossip messages the
// relay took per second, and the relay's CPU seconds per 1,000 edits.
func BenchmarkRelayIngest(b *testing.B) {
	for _, bc := range []struct {
		name          string
		batch, perDoc int // perDoc: edits per writer and document
	}{{"docs=50/batch=1", 1, 40}, {"docs=50/batch=10", 10, 300}} {
		b.Run(bc.name, func(b *testing.B) { relayIngest(b, 50, bc.perDoc, bc.batch, 4) })
	}
}

func relayIngest(b *testing.B, docs, perDoc, batch, workers int) {
	n := newRelayNet(b, 2, "")
	r, ws := n.relay, n.c.ds
	r.start(b, nil)
	for _, w := range ws {
		n.start(w)
	}
	ids := createDocs(b, ws[0], docs, "ingest")
	host(b, ws[0], r, ids...)
	for _, id := range ids {
		share(b, ws[0], ws[1], id, "write")
	}
	// Warm up: one edit per document from each side, acknowledged.
	want := map[string]map[string]uint64{}
	for _, id := range ids {
		want[id] = map[string]uint64{}
		for _, w := range ws {
			mergeMax(want[id], w.mustEdit(b, id, api.Edit{Pos: 0, Ins: "w"}).Version)
		}
	}
	waitAllAcked(b, ws, want, 60*time.Second*slow)

	relayCounters := func() (cpu, msgs float64) {
		cpu, err := r.metric("process_cpu_seconds_total")
		if err == nil {
			msgs, err = r.metric("weft_replica_gossip_received_total")
		}
		if err != nil {
			b.Fatal(err)
		}
		return cpu, msgs
	}
	var acked, done time.Duration
	var cpu, msgs float64
	b.ResetTimer()
	for range b.N {
		cpu0, msgs0 := relayCounters()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, len(ws)*workers)
		var mu sync.Mutex
		for _, w := range ws {
			for k := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					edits := make([]api.Edit, batch)
					for i := range edits {
						edits[i] = api.Edit{Pos: 0, Ins: "z"}
					}
					for j := k; j < docs; j += workers {
						id := ids[j]
						var last api.EditResult
						for sent := 0; sent < perDoc; sent += batch {
							res, err := w.edit(ctx, id, edits...)
							if err != nil {
								errs <- fmt.Errorf("%s: %v", w.name, err)
								return
							}
							last = res
						}
						mu.Lock()
						mergeMax(want[id], last.Version)
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		acked += time.Since(start)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		waitAllAcked(b, ws, want, 120*time.Second*slow)
		done += time.Since(start)
		cpu1, msgs1 := relayCounters()
		cpu += cpu1 - cpu0
		msgs += msgs1 - msgs0
	}
	b.StopTimer()
	total := float64(b.N * docs * perDoc * len(ws))
	b.ReportMetric(total/done.Seconds(), "relay-acked-edits/s")
	b.ReportMetric(total/acked.Seconds(), "writer-acked-edits/s")
	b.ReportMetric(msgs/done.Seconds(), "relay-gossip-msgs/s")
	b.ReportMetric(cpu/total*1000, "relay-cpu-s/1k-edits")
	b.ReportMetric(0, "ns/op")
}

// Catch-up of the automerge-paper document from the relay: A types it
// with `weft doc replay` (not timed), the relay acknowledges all of it,
// and A stops. Then five fresh daemons, each given only the relay, join
// one after the other; each is timed from the join request until its
// version is A's, and its text must be A's. Reports median, min, max,
// and the relay's data directory on disk once it has stopped (and an
// empty relay's, the store's floor).
func BenchmarkRelayCatchUpPaper(b *testing.B) {
	const joiners = 5
	n := newRelayNet(b, 1, "1s")
	a, r := n.c.ds[0], n.relay
	r.start(b, nil)
	n.start(a)
	id, sum := replayPaper(b, a)
	host(b, a, r, id)
	want := a.mustText(b, id)
	wantV := waitAckedWithin(b, a, id, 300*time.Second)
	b.Logf("A typed %d edits (%.0f edits/s) and the relay acknowledged them", sum.Edits, sum.EditsPerSec)
	// A writes its checkpoint once the document is quiet and hands it to
	// the relay at the next catch-up; the relay keeps it in place of the
	// envelopes it covers (members-only documents; the code before had
	// none of this: WEFT_E2E_LEGACY skips the wait).
	if !legacy {
		waitFor(b, 60*time.Second*slow, "the relay to keep A's checkpoint", func() (bool, string) {
			return len(scanLog(b, r.proc, []string{"kept a writer's checkpoint"})) > 0, "no checkpoint kept yet"
		})
		for _, line := range strings.Split(r.logTail(1<<16), "\n") {
			if strings.Contains(line, "kept a writer's checkpoint") {
				b.Log(line)
			}
		}
	}
	// One invite per joiner (an invite is redeemed once), made while A
	// runs: the joiners have only the relay.
	var invs []string
	for range joiners * b.N {
		invs = append(invs, mustInvite(b, a, id, "read", inviteOpts{}).Invite)
	}
	a.stop(b, syscall.SIGTERM)

	benchJoiners(b, joiners, id, want, wantV, func(name string) (*daemon, string) {
		d := n.add(name, "")
		n.start(d)
		inv := invs[0]
		invs = invs[1:]
		return d, inv
	})
	// What the relay keeps on disk for the document, once it has closed
	// its store (SIGTERM: everything flushed): its data directory's
	// allocated blocks, as du counts them (file sizes mislead: badger's
	// DISCARD file is 1 MiB, sparse).
	r.stop(b, syscall.SIGTERM)
	b.ReportMetric(float64(diskUsage(b, r.dir))/1000, "relay-disk-kB")
	// The floor under it: an empty relay's data directory, started and
	// stopped the same way.
	r0 := newRelay(b, "R0", filepath.Join(filepath.Dir(r.dir), "R0"))
	r0.start(b, nil)
	r0.stop(b, syscall.SIGTERM)
	b.ReportMetric(float64(diskUsage(b, r0.dir))/1000, "empty-relay-disk-kB")
}

// diskUsage walks dir and returns the bytes its regular files take on
// disk (allocated blocks, as du counts them); each file goes to the log.
func diskUsage(b testing.TB, dir string) (alloc int64) {
	b.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		a := fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			a = st.Blocks * 512
		}
		b.Logf("%s: %d bytes, %d on disk", strings.TrimPrefix(p, dir), fi.Size(), a)
		alloc += a
		return nil
	})
	if err != nil {
		b.Fatalf("disk use of %s: %v", dir, err)
	}
	return alloc
}

// Resident memory per hosted document: the relay's VmRSS with one daemon
// connected and no documents, then after it hosts 250 and 1,000 small
// documents (each one insert of 100 code points, made on the daemon,
// acknowledged by the relay, still loaded: idle unloading takes 10
// minutes). Reports (RSS(K) − RSS(0)) / K for both K, the marginal cost
// between them, the Go heap in use per document (go_memstats) and the
// relay's goroutines per document.
func BenchmarkRelayMemoryPerDoc(b *testing.B) {
	steps := []int{250, 1000}
	for range b.N {
		n := newRelayNet(b, 1, "")
		a, r := n.c.ds[0], n.relay
		r.start(b, nil)
		n.start(a)
		type sample struct{ rss, heap, goroutines float64 }
		measure := func() sample {
			rss, err := vmRSS(r.pid())
			if err != nil {
				b.Fatal(err)
			}
			heap, err := r.metric("go_memstats_heap_inuse_bytes")
			if err != nil {
				b.Fatal(err)
			}
			g, err := r.metric("go_goroutines")
			if err != nil {
				b.Fatal(err)
			}
			return sample{float64(rss), heap, g}
		}
		base := measure()
		hosted := 0
		var prev sample
		for _, k := range steps {
			ids := createDocs(b, a, k-hosted, "memory")
			host(b, a, r, ids...)
			want := map[string]map[string]uint64{}
			for _, id := range ids {
				want[id] = a.mustEdit(b, id, api.Edit{Pos: 0, Ins: strings.Repeat("m", 100)}).Version
			}
			waitAllAcked(b, []*daemon{a}, want, 120*time.Second*slow)
			hosted = k
			s := measure()
			b.ReportMetric((s.rss-base.rss)/float64(k)/1024, fmt.Sprintf("rss-KiB/doc@%d", k))
			b.ReportMetric((s.heap-base.heap)/float64(k)/1024, fmt.Sprintf("heap-KiB/doc@%d", k))
			b.ReportMetric((s.goroutines-base.goroutines)/float64(k), fmt.Sprintf("goroutines/doc@%d", k))
			if prev.rss != 0 {
				b.ReportMetric((s.rss-prev.rss)/float64(k-steps[0])/1024, "rss-KiB/doc-marginal")
			}
			b.Logf("K=%d: RSS %.1f MiB (base %.1f), heap in use %.1f MiB (base %.1f), %v goroutines (base %v)",
				k, s.rss/(1<<20), base.rss/(1<<20), s.heap/(1<<20), base.heap/(1<<20), s.goroutines, base.goroutines)
			prev = s
		}
		b.StopTimer()
		a.kill()
		r.kill()
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
}
