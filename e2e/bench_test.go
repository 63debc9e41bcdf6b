package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"weft/api"
)

// The multi-process benchmarks report their figures with ReportMetric; the
// ns/op column is the time of one whole round and means little. Run with
// -benchtime 1x (one round each) and -count N for N rounds:
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 ./e2e/

// pair starts two daemons sharing a new document and returns it with A's
// agent, once both see each other on its topic.
func pair(b *testing.B, syncInterval string) (*cluster, string, string) {
	b.Helper()
	c := newCluster(b, 2, syncInterval)
	c.startAll()
	a, d := c.ds[0], c.ds[1]
	id := strings.TrimSpace(a.mustCLI(b, []string{"doc", "new"}, "--title", "bench"))
	share(b, a, d, id, "write")
	c.waitTopicMesh(id)
	return c, id, a.mustDocStatus(b, id).Agent
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Keystroke to remote: one-code-point inserts through A's API, one at a
// time; each is timed from the request until B's version includes it (B's
// document status polled through its API). Also reports A's
// acknowledgement time (the edit durable on A's disk), the rest (ack to
// B), and, side by side, raw write+fsync times on the same file system.
// Target: p99 < 5 ms. Two pollers: "spin" asks B again at once, taking a
// core of the two the daemons share; "pause" waits 200 µs between asks
// (finer than the figures, and closer to an editor that is told).
func BenchmarkKeystrokeLatency(b *testing.B) {
	for _, pc := range []struct {
		name  string
		pause time.Duration
	}{{"poll=spin", 0}, {"poll=pause", 200 * time.Microsecond}} {
		b.Run(pc.name, func(b *testing.B) { keystrokeLatency(b, pc.pause) })
	}
}

func keystrokeLatency(b *testing.B, pause time.Duration) {
	const edits = 2000
	c, id, agent := pair(b, "")
	a, d := c.ds[0], c.ds[1]
	ctx := context.Background()
	measure := func(n int) (remote, ack, after []time.Duration) {
		chars := 0
		for range n {
			t0 := time.Now()
			res, err := a.edit(ctx, id, api.Edit{Pos: chars, Ins: "x"})
			if err != nil {
				b.Fatal(err)
			}
			ack = append(ack, time.Since(t0))
			chars = res.Chars
			want := res.Version[agent]
			for {
				st, err := d.docStatus(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if st.Version[agent] >= want {
					break
				}
				if time.Since(t0) > 30*time.Second {
					b.Fatalf("edit %d never reached B", want)
				}
				if pause > 0 {
					time.Sleep(pause) // the poller's pace, not a convergence wait
				}
			}
			remote = append(remote, time.Since(t0))
			after = append(after, remote[len(remote)-1]-ack[len(ack)-1])
		}
		return remote, ack, after
	}
	measure(100) // warm up: connections, document loaded, mesh
	b.ResetTimer()
	var remote, ack, after []time.Duration
	for range b.N {
		r, k, f := measure(edits)
		remote, ack, after = append(remote, r...), append(ack, k...), append(after, f...)
	}
	b.StopTimer()
	slices.Sort(remote)
	slices.Sort(ack)
	slices.Sort(after)
	b.ReportMetric(ms(percentile(remote, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(remote, 0.99)), "p99-ms")
	b.ReportMetric(ms(remote[len(remote)-1]), "max-ms")
	b.ReportMetric(ms(percentile(ack, 0.5)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(ack, 0.99)), "ack-p99-ms")
	b.ReportMetric(ms(percentile(after, 0.5)), "after-ack-p50-ms")
	b.ReportMetric(ms(percentile(after, 0.99)), "after-ack-p99-ms")
	// The floor under the acknowledgement, side by side: a 100-byte write
	// and fsync on the same file system, as many times.
	fs := fsyncTimes(b, filepath.Dir(a.dir), edits)
	b.ReportMetric(ms(percentile(fs, 0.5)), "fsync-p50-ms")
	b.ReportMetric(ms(percentile(fs, 0.99)), "fsync-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// fsyncTimes times n writes of 100 bytes, each followed by fsync, to a
// file in dir; sorted.
func fsyncTimes(b *testing.B, dir string, n int) []time.Duration {
	f, err := os.CreateTemp(dir, "fsync-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	out := make([]time.Duration, 0, n)
	for range n {
		s, err := writeSync(f)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, s.took)
	}
	slices.Sort(out)
	return out
}

// Catch-up of late joiners: A holds the automerge-paper history (typed
// with `weft doc replay`, not timed); five fresh daemons with empty stores
// join it one after the other, each timed from the join request until its
// version is A's. Reports the median, min and max. Target: < 500 ms.
func BenchmarkCatchUpPaper(b *testing.B) {
	const joiners = 5
	c := newCluster(b, 1, "")
	a := c.ds[0]
	c.start(a)
	id, _ := replayPaper(b, a)
	want := a.mustText(b, id)
	wantV := a.mustDocStatus(b, id).Version
	benchJoiners(b, joiners, id, want, wantV, func(name string) (*daemon, string) {
		d := c.add(name, "")
		c.start(d)
		waitPeer(b, d, a.id())
		return d, mustInvite(b, a, id, "read", inviteOpts{label: name}).Invite
	})
}

// benchJoiners has joiners fresh daemons a round, each made and started by
// join (which also returns an invite for it), catch up with document id
// one after the other: each is timed from its join request until its
// version is wantV, and its text must be want. It reports the median, min
// and max (ns/op means nothing here).
func benchJoiners(b *testing.B, joiners int, id, want string, wantV map[string]uint64, join func(name string) (*daemon, string)) {
	b.ResetTimer()
	var took []time.Duration
	for i := range b.N {
		for j := range joiners {
			b.StopTimer()
			d, inv := join(fmt.Sprintf("J%d-%d", i, j))
			b.StartTimer()
			took = append(took, catchUp(b, d, inv, id, wantV))
			b.StopTimer()
			if got := d.mustText(b, id); got != want {
				b.Fatalf("joiner %s reads %d bytes, want %d", d.name, len(got), len(want))
			}
			d.stop(b, syscall.SIGTERM)
			b.StartTimer()
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(ms(percentile(took, 0.5)), "median-ms")
	b.ReportMetric(ms(took[0]), "min-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(0, "ns/op")
}

// Sustained edit throughput between two daemons: writers send N
// one-code-point inserts as fast as the API acknowledges them, in requests
// of `batch` edits (each edit its own transaction); timed until the other
// daemon has them all. "one-way" writes on A only; "both-ways" on A and B
// at once (N/2 each), timed until both have everything.
func BenchmarkThroughput(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
		n     int
		both  bool
	}{
		{"one-way/batch=1", 1, 2000, false},
		{"one-way/batch=100", 100, 20000, false},
		{"both-ways/batch=1", 1, 2000, true},
		{"both-ways/batch=100", 100, 20000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, id, _ := pair(b, "1s")
			writers := c.ds[:1]
			if bc.both {
				writers = c.ds
			}
			var acked, delivered time.Duration
			for range b.N {
				ackT, doneT := throughputRound(b, c, id, writers, bc.n, bc.batch)
				acked += ackT
				delivered += doneT
			}
			total := float64(bc.n * b.N)
			b.ReportMetric(total/acked.Seconds(), "acked-edits/s")
			b.ReportMetric(total/delivered.Seconds(), "delivered-edits/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// throughputRound has the writers send n edits between them and returns
// how long until the last acknowledgement and until every daemon had
// every edit.
func throughputRound(b *testing.B, c *cluster, id string, writers []*daemon, n, batch int) (time.Duration, time.Duration) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(writers))
	for _, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			edits := make([]api.Edit, batch)
			for sent := 0; sent < n/len(writers); sent += batch {
				for i := range edits {
					edits[i] = api.Edit{Pos: 0, Ins: "y"}
				}
				if _, err := w.edit(ctx, id, edits...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	ackT := time.Since(start)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	c.waitConverged(id, 120*time.Second*slow)
	return ackT, time.Since(start)
}
