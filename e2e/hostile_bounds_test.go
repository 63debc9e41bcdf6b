package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"weft/api"
	"weft/vocab"
	"weft/wire"
)

var (
	hostileDurFlag   = flag.Duration("hostile.duration", 0, "how long each attack of TestHostileBounds runs (default 3s; 30s with -e2e.long)")
	hostileTableFlag = flag.String("hostile.table", "", "also write TestHostileBounds's table (Markdown) to this file")
)

// The bounds of issue 11, per attack: what a hostile peer may make its
// target spend. The CPU and disk bounds have a floor each for what the
// target does anyway during an attack's window (GossipSub heartbeats,
// anti-entropy, badger's own writes: a constant; the honest typing, when
// the target is the typing daemon: so much per keystroke typed in the
// window): the baseline row measures it with no attack. (With a constant
// 1 s CPU floor alone, the baseline broke the bound over 30 s windows:
// 0.8–1.3 s for ~310 keystrokes.)
const (
	boundMemPerPeer   = 64 << 20               // resident memory growth per attacking peer
	boundCPUPerMiB    = time.Second            // CPU per MiB the attacker sends…
	boundCPUFloor     = time.Second            // …plus this, for background work…
	boundCPUPerKey    = 4 * time.Millisecond   // …and this per honest keystroke typed on the target (the baselines: 2.6–4.1 ms)
	boundDiskFloor    = 4 << 20                // disk writes with no accepted input: the honest typing's…
	boundDiskPerKey   = 64 << 10               // …per keystroke typed during the window
	boundDiskAccepted = 4                      // written bytes per accepted byte (WAL, value log, index)
	boundP99          = 50 * time.Millisecond  // honest keystroke to remote, 99th percentile
	boundStall        = 2 * time.Second        // longest any honest edit may take to reach the other daemon
	typingEvery       = 100 * time.Millisecond // honest typing: 10 keystrokes/s
	coolDown          = time.Second            // measured after the attack ends: the cost of what it queued
	diskProbeEvery    = 20 * time.Millisecond  // the side-by-side disk probe's pace (startDiskProbe)…
	diskStall         = boundP99 / 2           // …and a 100-byte write+fsync this slow is the disk stalling
)

func hostileDuration() time.Duration {
	switch {
	case *hostileDurFlag > 0:
		return *hostileDurFlag
	case *longFlag:
		return 30 * time.Second
	}
	return 3 * time.Second
}

// boundsRow is one attack's figures and what it was allowed.
type boundsRow struct {
	attack     string
	peers      int   // attacking peers (the memory bound scales with them)
	typist     bool  // the target is the daemon the honest keystrokes are typed on
	sent       int64 // bytes the attacker sent
	accepted   int64 // of them, bytes of input the target rightly keeps (its disk allowance)
	memGrowth  int64 // peak resident memory above the baseline
	cpu        time.Duration
	diskWrite  int64 // write_bytes of the target during the window
	dirGrowth  int64 // growth of its data directory
	keystrokes int
	judged     int           // keystrokes the p99 is taken over: those the disk itself did not stall (judgeLatency)
	p99, stall time.Duration // p99 of the judged keystrokes; the slowest of all
	typingErr  string
	notes      []string
	broken     []string // bounds that did not hold
}

func (r *boundsRow) memBound() int64 { return int64(max(r.peers, 1)) * boundMemPerPeer }
func (r *boundsRow) cpuBound() time.Duration {
	floor := boundCPUFloor
	if r.typist {
		floor += time.Duration(r.keystrokes) * boundCPUPerKey
	}
	return floor + time.Duration(float64(boundCPUPerMiB)*mib(r.sent))
}
func (r *boundsRow) diskBound() int64 {
	return boundDiskFloor + int64(r.keystrokes)*boundDiskPerKey + boundDiskAccepted*r.accepted
}

// check records which bounds the row breaks.
func (r *boundsRow) check() {
	if r.memGrowth > r.memBound() {
		r.broken = append(r.broken, fmt.Sprintf("memory +%.1f MiB > %.0f MiB", mib(r.memGrowth), mib(r.memBound())))
	}
	if r.cpu > r.cpuBound() {
		r.broken = append(r.broken, fmt.Sprintf("CPU %.2f s > %.2f s", r.cpu.Seconds(), r.cpuBound().Seconds()))
	}
	if r.diskWrite > r.diskBound() {
		r.broken = append(r.broken, fmt.Sprintf("disk %.1f MiB > %.1f MiB", mib(r.diskWrite), mib(r.diskBound())))
	}
	if r.typingErr != "" {
		r.broken = append(r.broken, "honest typing failed: "+r.typingErr)
	}
	if r.keystrokes == 0 {
		r.broken = append(r.broken, "no honest keystroke completed")
	}
	if r.keystrokes > 0 && r.judged*2 < r.keystrokes {
		r.broken = append(r.broken, fmt.Sprintf("the disk itself stalled through %d of %d keystrokes: their latency cannot be judged",
			r.keystrokes-r.judged, r.keystrokes))
	}
	if r.p99 >= boundP99 {
		r.broken = append(r.broken, fmt.Sprintf("keystroke p99 %.1f ms ≥ %.0f ms", ms(r.p99), ms(boundP99)))
	}
	if r.stall > boundStall {
		r.broken = append(r.broken, fmt.Sprintf("an edit stalled %.2f s > %.0f s", r.stall.Seconds(), boundStall.Seconds()))
	}
}

func (r *boundsRow) String() string {
	verdict := "ok"
	if len(r.broken) > 0 {
		verdict = "BROKEN: " + strings.Join(r.broken, "; ")
	}
	return fmt.Sprintf("| %s | %.2f | %.1f / %.0f | %.2f / %.2f | %.1f / %.1f (dir %+.1f) | %.1f / %.0f | %.0f / %.0f | %d | %s | %s |",
		r.attack, mib(r.sent), mib(r.memGrowth), mib(r.memBound()), r.cpu.Seconds(), r.cpuBound().Seconds(),
		mib(r.diskWrite), mib(r.diskBound()), mib(r.dirGrowth), ms(r.p99), ms(boundP99), ms(r.stall), ms(boundStall),
		r.keystrokes, strings.Join(r.notes, "; "), verdict)
}

const boundsHeader = "| attack | sent MiB | RSS growth MiB / bound | CPU s / bound | disk written MiB / bound | keystroke p99 ms / bound | longest stall ms / bound | keystrokes | notes | verdict |\n" +
	"|---|---|---|---|---|---|---|---|---|---|"

// measured is what an attack returns to measure: the bytes it sent, how
// many of them the target may keep, and notes for the table.
type measured struct {
	sent, accepted int64
	notes          []string
	broken         []string // the attack's own bounds that did not hold
}

// measureAttack runs attack against the process pid (data directory dir)
// while the honest pair a → b types, and fills a row: a baseline just
// before, the peak resident memory (VmHWM after a reset, and VmRSS
// sampled every 20 ms), CPU and disk over the attack and a cool-down, and
// the keystroke latencies of the whole window.
func measureAttack(t *testing.T, name string, peers int, target *proc, a, b *daemon, id, agent string, attack func() measured) *boundsRow {
	t.Helper()
	pid, dir := target.pid(), target.dir
	heapDump(t, target, name, "before")
	busy := waitQuiet(t, pid)
	log0 := fileSize(target.logPath)
	load0 := loadAverage()
	base, err := readProcStats(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := resetPeak(pid); err != nil {
		t.Fatalf("resetting the peak of %d: %v", pid, err)
	}
	dir0 := dirBytes(dir)
	sampler := sampleRSS(pid)
	disk := startDiskProbe(filepath.Dir(a.dir))
	typing := startTyping(a, b, id, agent, typingEvery)
	// If the attack fails the test, the typing and the sampling stop
	// with it (they would go on through the next attacks otherwise).
	t.Cleanup(func() {
		_, _ = typing.stop()
		sampler.stop()
		_, _ = disk.stop()
	})
	m := attack()
	time.Sleep(coolDown) // part of the measured window: the queued work's cost
	keys, typingErr := typing.stop()
	peakSampled := sampler.stop()
	syncs, diskErr := disk.stop()
	if diskErr != nil {
		t.Fatalf("the disk probe: %v", diskErr)
	}
	after, err := readProcStats(pid)
	if err != nil {
		t.Fatal(err)
	}
	heapDump(t, target, name, "after")
	r := &boundsRow{attack: name, peers: peers, typist: target == a.proc, sent: m.sent, accepted: m.accepted, notes: m.notes,
		memGrowth: max(after.hwm, peakSampled) - base.rss, cpu: after.cpu - base.cpu,
		diskWrite: after.writeBytes - base.writeBytes, dirGrowth: dirBytes(dir) - dir0, keystrokes: len(keys), broken: m.broken}
	if typingErr != nil {
		r.typingErr = typingErr.Error()
	}
	r.judgeLatency(keys, syncs)
	// The target's log is written by it too (its stdout and stderr):
	// part of write_bytes, said apart.
	r.notes = append(r.notes, fmt.Sprintf("log +%.1f KiB", float64(fileSize(target.logPath)-log0)/1024),
		fmt.Sprintf("load average %s → %s", load0, loadAverage()))
	if busy != "" {
		r.notes = append(r.notes, busy)
	}
	r.check()
	return r
}

// judgeLatency fills the row's latency figures. A keystroke is durable on
// A's disk (an fsync) before it is sent, so a file system that stalls makes
// it slow whatever weft does: on this shared machine a 100-byte
// write+fsync that took at most 4.6 ms over a quiet minute took up to
// 104 ms while another process wrote 3 GiB, and two slow keystrokes in a
// short window's ~40 are its p99 (a CI run broke the bound with 103 and
// 219 ms in the window with no attack, the disk not measured then).
// So the p99 is taken over the keystrokes that overlap no stall of the
// side-by-side probe (a write+fsync of diskStall or more in the same file
// system); the stall bound still counts every keystroke, and a window
// where the disk stalled through over half of them breaks a bound of its
// own (check) rather than passing unjudged. An attack that made the disk
// stall would hide its latency here, but not its disk writes, which the
// disk bound judges.
func (r *boundsRow) judgeLatency(keys, syncs []timed) {
	var all, judged []time.Duration
	var slowest time.Duration
	stalls := 0
	for _, s := range syncs {
		slowest = max(slowest, s.took)
		if s.took >= diskStall {
			stalls++
		}
	}
	for _, k := range keys {
		all = append(all, k.took)
		stalled := slices.ContainsFunc(syncs, func(s timed) bool {
			return s.took >= diskStall && s.at.Before(k.at.Add(k.took)) && k.at.Before(s.at.Add(s.took))
		})
		if !stalled {
			judged = append(judged, k.took)
		}
	}
	slices.Sort(all)
	slices.Sort(judged)
	r.judged = len(judged)
	if len(all) > 0 {
		r.stall = all[len(all)-1]
	}
	r.p99 = percentile(judged, 0.99)
	note := fmt.Sprintf("disk probe: %d write+fsyncs, slowest %.1f ms", len(syncs), ms(slowest))
	if stalls > 0 {
		note += fmt.Sprintf(", %d ≥ %.0f ms; %d keystrokes overlapping them not in the p99 (with them: %.1f ms)",
			stalls, ms(diskStall), len(all)-len(judged), ms(percentile(all, 0.99)))
	}
	r.notes = append(r.notes, note)
}

// diskProbe times a 100-byte write+fsync to a file in the honest daemons'
// file system every diskProbeEvery while a window is measured: the disk's
// own latency, side by side with the typing (BenchmarkKeystrokeLatency's
// floor, over time).
type diskProbe struct {
	stopC chan struct{}
	once  sync.Once
	done  chan struct{}
	syncs []timed
	err   error
}

func startDiskProbe(dir string) *diskProbe {
	p := &diskProbe{stopC: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		f, err := os.CreateTemp(dir, "disk-probe-")
		if err != nil {
			p.err = err
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		tick := time.NewTicker(diskProbeEvery)
		defer tick.Stop()
		for {
			s, err := writeSync(f)
			if err != nil {
				p.err = err
				return
			}
			p.syncs = append(p.syncs, s)
			select {
			case <-p.stopC:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// writeSync appends 100 bytes to f and fsyncs it, timed: the floor under
// a keystroke, which is durable on its daemon's disk before it is sent.
func writeSync(f *os.File) (timed, error) {
	var buf [100]byte
	at := time.Now()
	if _, err := f.Write(buf[:]); err != nil {
		return timed{}, err
	}
	if err := f.Sync(); err != nil {
		return timed{}, err
	}
	return timed{at, time.Since(at)}, nil
}

func (p *diskProbe) stop() ([]timed, error) {
	p.once.Do(func() { close(p.stopC) })
	<-p.done
	return p.syncs, p.err
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// loadAverage is the machine's 1-minute load average (/proc/loadavg): the
// latency figures mean little when it is far above the 2 cores.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// waitQuiet waits (at most 30 s) until the process uses under a fifth of
// a core over 500 ms, so that the previous attack's work is not charged
// to the next; if it does not get quiet, it says so (for the row's notes).
func waitQuiet(t *testing.T, pid int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var used time.Duration
	for time.Now().Before(deadline) {
		s0, err := readProcStats(pid)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // a measuring window, not a convergence wait
		s1, err := readProcStats(pid)
		if err != nil {
			t.Fatal(err)
		}
		if used = s1.cpu - s0.cpu; used < 100*time.Millisecond {
			return ""
		}
	}
	t.Logf("process %d is still busy after 30 s; measuring anyway", pid)
	return fmt.Sprintf("the target was still busy at the start (%.0f%% of a core)", 100*used.Seconds()/0.5)
}

// typing is the honest pair's keystrokes: one-code-point inserts through
// A's API at a steady rate, each timed from the request until B's version
// covers it (BenchmarkKeystrokeLatency's method; B polled every 2 ms).
// A keystroke waits for the one before; ticks missed meanwhile are not
// typed late.
type typing struct {
	stopC chan struct{}
	once  sync.Once
	done  chan struct{}
	keys  []timed
	err   error
}

// timed is one timed operation: when it began and how long it took (a
// keystroke: until the other daemon had it; a probe's write+fsync).
type timed struct {
	at   time.Time
	took time.Duration
}

func startTyping(a, b *daemon, id, agent string, every time.Duration) *typing {
	ty := &typing{stopC: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ty.done)
		next := time.Now()
		for {
			select {
			case <-ty.stopC:
				return
			case <-time.After(time.Until(next)):
			}
			at := time.Now()
			lat, err := keystroke(a, b, id, agent)
			if err != nil {
				ty.err = err
				return
			}
			ty.keys = append(ty.keys, timed{at, lat})
			next = next.Add(every)
			if now := time.Now(); next.Before(now) {
				next = now
			}
		}
	}()
	return ty
}

func (ty *typing) stop() ([]timed, error) {
	ty.once.Do(func() { close(ty.stopC) })
	<-ty.done
	return ty.keys, ty.err
}

// keystroke types one code point at the start of id on a and returns how
// long until b has it (30 s at most).
func keystroke(a, b *daemon, id, agent string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	res, err := a.edit(ctx, id, api.Edit{Pos: 0, Ins: "k"})
	if err != nil {
		return 0, fmt.Errorf("editing on %s: %v", a.name, err)
	}
	want := res.Version[agent]
	for {
		st, err := b.docStatus(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("%s's status after %s: %v", b.name, time.Since(t0), err)
		}
		if st.Version[agent] >= want {
			return time.Since(t0), nil
		}
		time.Sleep(2 * time.Millisecond) // the poller's pace, not a convergence wait
	}
}

// tab is an editor tab attached to a daemon over its WebSocket
// (ui/PROTOCOL.md): it says hello and reads everything, counting presence
// messages, until the daemon closes it.
type tab struct {
	c        *websocket.Conn
	presence atomic.Int64
	msgs     atomic.Int64
	mu       sync.Mutex
	closed   error // why the socket ended (nil while it is open)
	done     chan struct{}
}

func attachTab(t *testing.T, d *daemon, id string) *tab {
	t.Helper()
	d.mu.Lock()
	base, token := d.base, d.token
	d.mu.Unlock()
	host := strings.TrimPrefix(base, "http://")
	ctx, cancel := ctxT()
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+host+"/ws/"+id, &websocket.DialOptions{
		Subprotocols: []string{"weft.v4", "bearer." + token},
		HTTPHeader:   http.Header{"Origin": {"http://" + host}},
	})
	if err != nil {
		t.Fatalf("attaching a tab to %s: %v", d.name, err)
	}
	c.SetReadLimit(8 << 20)
	doc, err := vocab.ParseDocID(id)
	if err != nil {
		t.Fatal(err)
	}
	hello, err := wire.MarshalSync(wire.SyncMsg{Kind: wire.MsgHello, Doc: doc[:], Version: map[string]uint64{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageBinary, hello); err != nil {
		t.Fatalf("the tab's hello: %v", err)
	}
	tb := &tab{c: c, done: make(chan struct{})}
	go func() {
		defer close(tb.done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				tb.mu.Lock()
				tb.closed = err
				tb.mu.Unlock()
				return
			}
			tb.msgs.Add(1)
			if k, err := wire.Kind(b); err == nil && k == wire.MsgPresence {
				tb.presence.Add(1)
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-tb.done
	})
	return tb
}

func (tb *tab) err() error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.closed
}

// detail reads one "key=value" from a helper's answer (0 when absent).
func detail(r hostileReply, key string) int {
	for _, f := range strings.Fields(r.Detail) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestHostileBounds drives each attack of issue 11 against real daemons
// (and, for the relay's, a real relay) while an honest pair types, and
// measures what each costs its target: peak resident memory above the
// baseline, CPU, disk writes, and the honest keystroke latency (A's API
// to B's version). The table is printed whatever happens; each subtest
// fails on the bounds its attack breaks. Short attacks by default (the
// suite runs in `make test`); -hostile.duration or -e2e.long for longer
// ones (`make hostile`).
func TestHostileBounds(t *testing.T) {
	if slow > 1 {
		t.Skip("the daemons are built with the race detector: what they cost measures the detector")
	}
	s := seed(t)
	dur := hostileDuration()
	durMS := strconv.FormatInt(dur.Milliseconds(), 10)
	c := newCluster(t, 2, "")
	id, _ := hostileDoc(t, c)
	a, b := c.ds[0], c.ds[1]
	agent := a.mustDocStatus(t, id).Agent
	h := startHostile(t, a, id, s, newHostileInvites(t, a, id))

	var rows []*boundsRow
	t.Cleanup(func() {
		var sb strings.Builder
		fmt.Fprintf(&sb, "TestHostileBounds: %s per attack, honest typing every %s, %s cool-down measured\n%s\n", dur, typingEvery, coolDown, boundsHeader)
		for _, r := range rows {
			fmt.Fprintln(&sb, r)
		}
		t.Log("\n" + sb.String())
		if *hostileTableFlag != "" {
			if err := os.WriteFile(*hostileTableFlag, []byte(sb.String()), 0o644); err != nil {
				t.Errorf("writing the table: %v", err)
			}
		}
	})
	// attack runs one attack on A as a subtest.
	attack := func(name string, run func(t *testing.T) measured) {
		t.Run(name, func(t *testing.T) {
			r := measureAttack(t, name, 1, a.proc, a, b, id, agent, func() measured { return run(t) })
			rows = append(rows, r)
			for _, br := range r.broken {
				t.Errorf("%s breaks a bound: %s", name, br)
			}
		})
	}
	sent := func(r hostileReply) int64 { return int64(r.Bytes) }

	// The control: the honest typing and the background alone.
	attack("baseline", func(t *testing.T) measured {
		time.Sleep(dur) // the window: nothing but the honest typing
		return measured{}
	})

	// 1. Transactions repeating a long known run with a contradicting
	// delete: a run of 2^20 code points first (accepted, outside the
	// window), then deletes of it of every length, each a new message.
	const run = 1 << 20
	seeded := h.do(t, "attack overlap-seed "+strconv.Itoa(run))
	ovlAgent := strings.TrimPrefix(seeded.Detail, "agent=")
	waitFor(t, 60*time.Second*slow, "both daemons to have the overlap run", func() (bool, string) {
		o, err1 := observe(a, id)
		p, err2 := observe(b, id)
		return err1 == nil && err2 == nil && o.version[ovlAgent] == run && p.version[ovlAgent] == run,
			fmt.Sprintf("A %d, B %d of %d (%v %v)", o.version[ovlAgent], p.version[ovlAgent], run, err1, err2)
	})
	attack("overlap", func(t *testing.T) measured {
		before, _ := observe(a, id)
		r := h.do(t, "attack overlap "+durMS+" "+strconv.Itoa(run))
		after, _ := observe(a, id)
		return measured{sent: sent(r), notes: []string{fmt.Sprintf("%d messages, run of %d", detail(r, "msgs"), run),
			fmt.Sprintf("rejected %v", diffCounts(before.replica, after.replica)), fmt.Sprintf("gossip rejected %v", diffCounts(before.gossip, after.gossip))}}
	})

	// 2. Invalid gossip as fast as the helper can send it; then is the
	// helper still heard (a graylisted peer's messages are dropped)?
	attack("invalid-flood", func(t *testing.T) measured {
		before, _ := observe(a, id)
		r := h.do(t, "attack invalid "+durMS)
		after, _ := observe(a, id)
		return measured{sent: sent(r), notes: []string{r.Detail, fmt.Sprintf("gossip rejected %v", diffCounts(before.gossip, after.gossip))}}
	})
	if i := slices.IndexFunc(rows, func(r *boundsRow) bool { return r.attack == "invalid-flood" }); i >= 0 {
		r := h.do(t, "attack probe probe1")
		probeAgent := strings.TrimPrefix(r.Detail, "agent=")
		heard := false
		deadline := time.Now().Add(5 * time.Second)
		for !heard && time.Now().Before(deadline) {
			o, err := observe(a, id)
			heard = err == nil && o.version[probeAgent] > 0
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
		note := "after it, a valid message of the attacker is still accepted (not graylisted)"
		if !heard {
			note = "after it, a valid message of the attacker is dropped (graylisted)"
		}
		rows[i].notes = append(rows[i].notes, note)
		t.Logf("invalid flood: %s", note)
	}

	// 2b. GossipSub messages whose author signature is forged, from a
	// fresh peer (refused by GossipSub itself, before weft's validator).
	attack("forged-signature-flood", func(t *testing.T) measured {
		r := h.do(t, "attack forged "+durMS)
		return measured{sent: sent(r), notes: []string{r.Detail}}
	})

	// 2c. The committed corpora of weft's decoder fuzzers, as gossip, as
	// a writer's transaction payloads and as catch-up frames.
	attack("fuzz-corpus", func(t *testing.T) measured {
		var dirs []string
		for _, d := range []string{"member/testdata/fuzz", "wire/testdata/fuzz", "crdt/testdata/fuzz/FuzzDecodeTxn"} {
			if dir := filepath.Join(repoRoot, d); dirBytes(dir) > 0 {
				if strings.ContainsAny(dir, " \t") {
					t.Fatalf("corpus directory %q has a space: the helper's commands are words", dir)
				}
				dirs = append(dirs, dir)
			}
		}
		before, _ := observe(a, id)
		r := h.do(t, "attack corpus "+durMS+" "+strings.Join(dirs, " "))
		after, _ := observe(a, id)
		return measured{sent: sent(r), notes: []string{r.Detail, fmt.Sprintf("rejected %v", diffCounts(before.replica, after.replica)),
			fmt.Sprintf("gossip rejected %v", diffCounts(before.gossip, after.gossip))}}
	})

	// 3. Catch-up streams: k of each kind held for the whole attack.
	attack("sync-flood", func(t *testing.T) measured {
		r := h.do(t, "attack sync "+durMS+" 64")
		return measured{sent: sent(r), notes: []string{r.Detail}}
	})

	// 5. Subscriptions to 50,000 random topics from a fresh peer.
	attack("subscription-flood", func(t *testing.T) measured {
		r := h.do(t, "attack subs "+durMS+" 50000")
		return measured{sent: sent(r), notes: []string{r.Detail}}
	})

	// 6. Presence as fast as possible while a tab is attached: the tab
	// must stay connected.
	attack("presence-flood", func(t *testing.T) measured {
		tb := attachTab(t, a, id)
		r := h.do(t, "attack presence "+durMS)
		time.Sleep(200 * time.Millisecond) // let the last presence reach the tab before judging it
		m := measured{sent: sent(r), notes: []string{fmt.Sprintf("%d sent, the tab got %d presence of %d messages", detail(r, "msgs"), tb.presence.Load(), tb.msgs.Load())}}
		if err := tb.err(); err != nil {
			m.broken = append(m.broken, "the tab was disconnected: "+err.Error())
		}
		return m
	})

	// 4. Orphans: transactions whose parents never arrive. Last of A's
	// attacks: they stay buffered, so that the honest typing alone is
	// measured again after it (what the orphans left behind).
	var pendingEnd time.Time
	attack("pending-flood", func(t *testing.T) measured {
		r := h.do(t, "attack pending "+durMS)
		pendingEnd = time.Now()
		st := a.mustDocStatus(t, id)
		return measured{sent: sent(r), notes: []string{fmt.Sprintf("%d messages", detail(r, "msgs")), fmt.Sprintf("%d buffered on A after", st.Buffered)}}
	})
	attack("after-pending", func(t *testing.T) measured {
		time.Sleep(dur) // no attack: the honest typing with the orphans still buffered
		return measured{notes: []string{fmt.Sprintf("no attack; %d buffered on A", a.mustDocStatus(t, id).Buffered)}}
	})

	// 7. The relay (run with a per-member quota of relayQuota documents):
	// a member granting it many documents, and strangers reserving
	// circuits.
	const relayQuota = 200
	t.Run("relay", func(t *testing.T) {
		r := newRelay(t, "R", filepath.Join(filepath.Dir(a.dir), "R"))
		r.start(t, []string{"--max-docs-per-member", strconv.Itoa(relayQuota)})
		m := c.add("M", "")
		m.start(t, nil)
		port, err := tcpPort(r.multiaddr())
		if err != nil {
			t.Fatal(err)
		}
		relayAttack := func(name string, run func(t *testing.T) measured) {
			t.Run(name, func(t *testing.T) {
				row := measureAttack(t, "relay-"+name, 1, r.proc, a, b, id, agent, func() measured {
					rx0, err := tcpBytesReceived(port)
					if err != nil {
						t.Fatal(err)
					}
					me := run(t)
					rx1, err := tcpBytesReceived(port)
					if err != nil {
						t.Fatal(err)
					}
					me.sent = rx1 - rx0
					if name == "grants" {
						me.accepted = me.sent // documents granted within the quota are the relay's to keep
					}
					me.notes = append(me.notes, "sent: bytes the relay's connections received (ss)")
					return me
				})
				rows = append(rows, row)
				for _, br := range row.broken {
					t.Errorf("relay %s breaks a bound: %s", name, br)
				}
			})
		}
		// A member makes documents and grants each to the relay, two at a
		// time, for the attack's duration.
		relayAttack("grants", func(t *testing.T) measured {
			docs0, _ := r.metric("weft_relay_documents")
			var granted, refused atomic.Int64
			var firstErr atomic.Value
			end := time.Now().Add(dur)
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						ctx, cancel := ctxT()
						var info api.DocInfo
						err := m.call(ctx, "POST", "/api/docs", map[string]string{"title": "grant"}, &info)
						if err == nil {
							err = m.call(ctx, "POST", "/api/docs/"+info.ID+"/host", api.HostRequest{Relay: r.multiaddr()}, nil)
						}
						cancel()
						if err != nil {
							refused.Add(1)
							firstErr.CompareAndSwap(nil, err.Error())
							continue
						}
						granted.Add(1)
					}
				}()
			}
			wg.Wait()
			docs1, _ := r.metric("weft_relay_documents")
			me := measured{notes: []string{fmt.Sprintf("%d granted, %d refused; the relay holds %.0f → %.0f documents (quota %d per member)", granted.Load(), refused.Load(), docs0, docs1, relayQuota)}}
			if e := firstErr.Load(); e != nil {
				me.notes = append(me.notes, "first refusal: "+e.(string))
			}
			if docs1-docs0 > relayQuota {
				me.broken = append(me.broken, fmt.Sprintf("the relay took %.0f documents from one member; its quota is %d", docs1-docs0, relayQuota))
			}
			return me
		})
		// Strangers (fresh keys, no chain) ask for circuit reservations:
		// only members' devices may have one.
		relayAttack("reservations", func(t *testing.T) measured {
			// The hosts stay connected until the relay's bytes are read.
			res := h.do(t, "attack reserve "+r.multiaddr()+" 64")
			t.Cleanup(func() { h.do(t, "attack release") })
			me := measured{notes: []string{res.Detail}}
			if g := detail(res, "granted"); g > 0 {
				me.broken = append(me.broken, fmt.Sprintf("the relay granted %d circuit reservations to strangers; want none", g))
			}
			return me
		})
	})

	// The orphans A still holds expire although nothing more arrives
	// from peers (B does not type): within their 2-minute wait and an
	// anti-entropy tick (30 s) of the flood's end. Long runs only: the
	// wait is longer than the short suite.
	if *longFlag && !pendingEnd.IsZero() {
		t.Run("orphans-expire", func(t *testing.T) {
			limit := time.Until(pendingEnd.Add(2*time.Minute + 30*time.Second + 15*time.Second))
			waitFor(t, max(limit, time.Second), "A's waiting orphans to expire", func() (bool, string) {
				st, err := a.docStatus(context.Background(), id)
				return err == nil && st.Buffered == 0, fmt.Sprintf("%d buffered %s after the flood (%v)", st.Buffered, time.Since(pendingEnd).Round(time.Second), err)
			})
			t.Logf("A's orphans expired by %s after the flood", time.Since(pendingEnd).Round(time.Second))
		})
	}
}

// diffCounts is after − before, non-zero entries only.
func diffCounts(before, after map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

var heapProfileFlag = flag.String("hostile.heapprofile", "", "directory where TestHostileBounds writes a heap profile of each attack's target (WEFT_TEST_HEAPPROFILE)")

// heapPrefix is the WEFT_TEST_HEAPPROFILE of the process's nth start.
func (p *proc) heapPrefix(n int) string {
	name := strings.NewReplacer("/", "_", "=", "", " ", "_").Replace(p.test)
	return filepath.Join(*heapProfileFlag, fmt.Sprintf("%s-%s-%d", name, p.name, n))
}

// heapDump asks the target for a heap profile (SIGUSR1) and keeps it as
// DIR/<attack>-<when>.pprof; the target logs its Go heap's figures and
// their peaks since the previous dump. Only with -hostile.heapprofile.
func heapDump(t *testing.T, target *proc, attack, when string) {
	t.Helper()
	if *heapProfileFlag == "" {
		return
	}
	target.mu.Lock()
	n, cmd := target.starts, target.cmd
	target.heapDumps++
	k := target.heapDumps
	target.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatalf("asking %s for a heap profile: %v", target.name, err)
	}
	src := fmt.Sprintf("%s-%d.pprof", target.heapPrefix(n), k)
	dst := filepath.Join(*heapProfileFlag, attack+"-"+when+".pprof")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := os.Rename(src, dst); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("heap profile %s: %v", src, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for the file, with a deadline
	}
}

// The p99 leaves out the keystrokes a disk stall overlapped, and only
// those; the slowest keystroke counts whatever stalled it; a window the
// disk stalled through breaks a bound of its own.
func TestJudgeLatencyLeavesOutDiskStalls(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(msec int) time.Time { return t0.Add(time.Duration(msec) * time.Millisecond) }
	d := func(msec int) time.Duration { return time.Duration(msec) * time.Millisecond }
	var keys []timed
	for i := range 40 {
		keys = append(keys, timed{at(100 * i), d(5)})
	}
	// Three slow keystrokes: two that no disk stall explains, and one
	// (2000 ms) that a probe's 200 ms fsync overlaps, as it does the next
	// (2100 ms); the other probes were quicker than diskStall.
	keys[10].took, keys[30].took, keys[20].took = d(150), d(140), d(120)
	syncs := []timed{{at(1990), d(200)}, {at(3000), d(10)}, {at(3500), diskStall - time.Millisecond}}

	r := &boundsRow{attack: "scripted", keystrokes: len(keys)}
	r.judgeLatency(keys, syncs)
	if r.judged != 38 {
		t.Errorf("judged %d keystrokes, want 38 (all but the two the 200 ms fsync overlapped)", r.judged)
	}
	if r.p99 != d(140) {
		t.Errorf("p99 %v, want 140ms: the slow keystrokes no disk stall explains stay in", r.p99)
	}
	if r.stall != d(150) {
		t.Errorf("slowest %v, want 150ms", r.stall)
	}
	r.check()
	if len(r.broken) != 1 || !strings.Contains(r.broken[0], "keystroke p99 140.0 ms") {
		t.Errorf("broken %q, want the p99 bound alone", r.broken)
	}

	// Without the unexplained ones, the window is within the bound.
	keys[10].took, keys[30].took = d(5), d(5)
	r = &boundsRow{attack: "scripted", keystrokes: len(keys)}
	r.judgeLatency(keys, syncs)
	if r.check(); len(r.broken) != 0 || r.stall != d(120) {
		t.Errorf("broken %q, slowest %v; want none, 120ms", r.broken, r.stall)
	}

	// A disk that stalls through the whole window leaves nothing to judge.
	r = &boundsRow{attack: "scripted", keystrokes: len(keys)}
	r.judgeLatency(keys, []timed{{at(0), d(5000)}})
	if r.check(); r.judged != 0 || len(r.broken) != 1 || !strings.Contains(r.broken[0], "disk itself stalled through 40 of 40") {
		t.Errorf("judged %d, broken %q; want 0 and the disk's own bound", r.judged, r.broken)
	}
}
