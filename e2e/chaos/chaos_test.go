//go:build linux

package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"weft/api"
	"weft/e2e/internal/editmodel"
	"weft/store"
)

var (
	runsFlag      = flag.Int("chaos.runs", 1, "clusters to build, one after the other, each with its own seed")
	schedulesFlag = flag.Int("chaos.schedules", 3, "fault schedules per cluster")
	seedFlag      = flag.Int64("chaos.seed", 0, "seed of the first run (0: from the clock); run i uses seed+i")
	faultsFlag    = flag.Duration("chaos.faults", 6*time.Second, "how long each schedule injects faults while clients edit")
	reportFlag    = flag.String("chaos.report", "", "directory for the reports (default: the test's temporary directory)")
	diskFullFlag  = flag.Bool("chaos.diskfull", true, "fill d5's disk in every third schedule")
	rtoMaxFlag    = flag.Duration("chaos.rtomax", 0, "cap TCP's retransmission timeout in the node namespaces (net.ipv4.tcp_rto_max_ms; 0: the kernel's 120 s) — an experiment, not the default")
	p99Flag       = flag.Duration("chaos.p99", 0, "fail when the p99 of heal-to-convergence times exceeds this (0: report only)")
	onlyFlag      = flag.Int("chaos.only", -1, "play schedule number N of the seed -chaos.schedules times over (to repeat one slow schedule; -1: schedules 0, 1, …)")
	slowFlag      = flag.Duration("chaos.slow", 2*time.Second, "a convergence after heal slower than this keeps the nodes' logs in the report directory (0: never)")
)

// interrupted is set by SIGINT or SIGTERM.
var interrupted atomic.Bool

const (
	nDaemons   = 5
	diskDaemon = nDaemons - 1 // d5: its data directory is on a size-limited tmpfs
	tmpfsSize  = "320m"       // above the store's free-space floor (192 MiB) plus what d5 writes
)

// TestChaos builds, per run, a switch namespace and six node namespaces
// (five daemons, one relay), shares a members-only document among the
// daemons by invites, has a member grant it to the relay, and then runs
// seeded fault schedules while clients edit; after each it heals the
// network, measures the time to convergence and checks every
// acknowledged edit (see doc.go).
func TestChaos(t *testing.T) {
	if why := netnsUsable(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("the chaos harness cannot run under CI: %s", why)
		}
		t.Skipf("skipping the chaos harness: %s", why)
	}
	bin := weftBinary(t)
	dir := *reportFlag
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := *seedFlag
	if base == 0 {
		base = time.Now().UnixNano() % 1_000_000_000
	}
	// SIGINT or SIGTERM ends the run after the current schedule, so that
	// the cleanups (processes, namespaces, the tmpfs) still run.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			interrupted.Store(true)
		}
	}()
	var runs []*runReport
	for i := range *runsFlag {
		if interrupted.Load() {
			t.Errorf("interrupted before run %d", i)
			break
		}
		seed := base + int64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rep := runCluster(t, bin, seed, *schedulesFlag, dir)
			runs = append(runs, rep)
			if t.Failed() {
				t.Logf("repeat with: go test ./e2e/chaos -run TestChaos -chaos.seed=%d -chaos.runs=1 -chaos.schedules=%d -chaos.faults=%s", seed, *schedulesFlag, *faultsFlag)
			}
		})
	}
	sum := summarize(runs)
	if err := writeReport(dir, "summary", sum); err != nil {
		t.Error(err)
	}
	t.Logf("chaos summary (%s): %d schedules, %d acknowledged code points, %d lost, %d divergent, convergence after heal p50 %s p99 %s max %s (state reached by p50 %s p99 %s max %s), daemon backups during faults %d restored %d failed, %d violations",
		filepath.Join(dir, "summary.md"), sum.Schedules, sum.Acked, sum.Lost, sum.Divergent, ms(sum.ConvP50), ms(sum.ConvP99), ms(sum.ConvMax), ms(sum.SeenP50), ms(sum.SeenP99), ms(sum.SeenMax), sum.BackupsRestored, sum.BackupsFailed, len(sum.Violations))
	if *p99Flag > 0 && sum.ConvP99 > float64(p99Flag.Milliseconds()) {
		t.Errorf("convergence after heal p99 %s exceeds %s", ms(sum.ConvP99), *p99Flag)
	}
}

func ms(v float64) string {
	return (time.Duration(v * float64(time.Millisecond))).Round(time.Millisecond).String()
}

// weftBinary is WEFT_CHAOS_WEFT (or WEFT_E2E_WEFT) if set, else weft built
// with the test hooks into a temporary directory.
func weftBinary(t *testing.T) string {
	for _, v := range []string{"WEFT_CHAOS_WEFT", "WEFT_E2E_WEFT"} {
		if p := os.Getenv(v); p != "" {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), "weft")
	cmd := exec.Command("go", "build", "-tags", "weft_testhooks", "-o", out, "weft/cmd/weft")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building weft: %v\n%s", err, b)
	}
	return out
}

// cluster is one run's network, nodes and document.
type cluster struct {
	t      *testing.T
	net    *network
	relay  *node
	ds     []*node
	all    []*node // relay first
	doc    string
	agents []string
	m      *editmodel.Model
	lag    *lagTrace // while convergedTrace waits after a heal
	seen   time.Time // when sameState's first pass of version reads ended
	root   string
	fs     string // the tmpfs mount point holding d5's data directory
	filler string
	backup string // the relay's backup directory
}

func runCluster(t *testing.T, bin string, seed int64, schedules int, reportDir string) *runReport {
	rep := &runReport{Seed: seed}
	t.Logf("chaos run seed %d: %d schedules of %s", seed, schedules, *faultsFlag)
	names := []string{"relay"}
	for i := range nDaemons {
		names = append(names, fmt.Sprintf("d%d", i+1))
	}
	nw, err := newNetwork(seed, names)
	if err != nil {
		t.Fatalf("building the network: %v", err)
	}
	if *rtoMaxFlag > 0 {
		for _, ns := range nw.nodes {
			if _, err := inNS(ns, "sysctl", "-qw", fmt.Sprintf("net.ipv4.tcp_rto_max_ms=%d", rtoMaxFlag.Milliseconds())); err != nil {
				nw.teardown()
				t.Fatalf("-chaos.rtomax: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		for _, err := range nw.teardown() {
			t.Errorf("tearing down the network: %v", err)
		}
	})
	c := &cluster{t: t, net: nw, m: editmodel.New(), root: t.TempDir()}
	slow := false // a schedule converged slower than -chaos.slow: keep the logs
	c.backup = filepath.Join(c.root, "backups")
	c.fs = filepath.Join(c.root, "d5-fs")
	if err := os.MkdirAll(c.fs, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := sh("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize+",mode=0700", "tmpfs", c.fs); err != nil {
		t.Fatalf("mounting the tmpfs for d5: %v", err)
	}
	t.Cleanup(func() {
		if _, err := sh("umount", "-l", c.fs); err != nil {
			t.Errorf("unmounting %s: %v", c.fs, err)
		}
	})
	c.filler = filepath.Join(c.fs, "filler")

	c.relay = newNode("relay", "relay", nw.nodes[0], nw.ips[nw.nodes[0]], filepath.Join(c.root, "relay", "data"), bin)
	c.relay.args = func() []string {
		a := []string{"relay", "--data", c.relay.dir, "--listen", c.relay.listen(), "--metrics", "127.0.0.1:0", "--no-mdns",
			"--backup-to", c.backup, "--backup-every", "1m", "--keep-last", "1000"}
		return append(a, logLevel()...)
	}
	c.all = append(c.all, c.relay)
	for i := range nDaemons {
		ns := nw.nodes[1+i]
		dir := filepath.Join(c.root, names[1+i], "data")
		if i == diskDaemon {
			dir = filepath.Join(c.fs, "data")
		}
		d := newNode("daemon", names[1+i], ns, nw.ips[ns], dir, bin)
		d.logPath = filepath.Join(c.root, d.name+".log")
		d.args = func() []string {
			a := []string{"daemon", "--data", d.dir, "--api", "127.0.0.1:0", "--listen", d.listen(),
				"--no-mdns", "--no-dht", "--sync-interval", "1s",
				"--relay", c.relay.multiaddr(), "--bootstrap", c.relay.multiaddr()}
			for _, o := range c.ds {
				if o != d && o.peerIDKnown() {
					a = append(a, "--bootstrap", o.multiaddr())
				}
			}
			return append(a, logLevel()...)
		}
		c.ds = append(c.ds, d)
		c.all = append(c.all, d)
	}
	for _, n := range c.all {
		if err := os.MkdirAll(filepath.Dir(n.logPath), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.all {
			n.kill()
		}
		if t.Failed() || slow {
			keep := filepath.Join(reportDir, fmt.Sprintf("run-%d-logs", seed))
			_ = os.MkdirAll(keep, 0o755)
			for _, n := range c.all {
				if b, err := os.ReadFile(n.logPath); err == nil {
					_ = os.WriteFile(filepath.Join(keep, n.name+".log"), b, 0o644)
				}
			}
			t.Logf("the nodes' logs are in %s", keep)
		}
	})
	for _, n := range c.all {
		if err := n.start(60 * time.Second); err != nil {
			t.Fatalf("starting %s: %v\n%s", n.name, err, n.logTail(16<<10))
		}
	}
	c.share()

	for s := range schedules {
		if interrupted.Load() {
			t.Errorf("interrupted before schedule %d", s)
			break
		}
		idx := s
		if *onlyFlag >= 0 {
			idx = *onlyFlag
		}
		sr := c.schedule(seed, idx)
		rep.Schedules = append(rep.Schedules, sr)
		if *slowFlag > 0 && sr.ConvergenceMS > float64(slowFlag.Milliseconds()) {
			slow = true
			t.Logf("schedule %d converged slowly; healed at %s, then:\n\t%s", s, sr.HealedAt, strings.Join(sr.Lag, "\n\t"))
		}
		for _, v := range sr.Violations {
			t.Errorf("seed %d schedule %d: %s", seed, s, v)
		}
		t.Logf("schedule %d: %d faults, %d acknowledged code points (%d found, %d lost), converged %s after heal (state reached by %s; heal took %s)%s",
			s, len(sr.Faults), sr.Acked, sr.Found, sr.Lost, ms(sr.ConvergenceMS), ms(sr.SeenMS), ms(sr.HealMS), map[bool]string{true: ", DIVERGENT", false: ""}[sr.Divergent])
		if sr.Divergent {
			break // the next schedule would start from a split state
		}
	}
	rep.Violations = append(rep.Violations, c.finish()...)
	for _, v := range rep.Violations {
		t.Errorf("seed %d: %s", seed, v)
	}
	rep.finish()
	if err := writeReport(reportDir, fmt.Sprintf("run-%d", seed), rep); err != nil {
		t.Error(err)
	}
	return rep
}

// logLevel is the nodes' log level flag: debug when WEFT_E2E_DEBUG is set
// (as in the other e2e tests), else the default.
func logLevel() []string {
	if os.Getenv("WEFT_E2E_DEBUG") != "" {
		return []string{"--log-level", "debug"}
	}
	return nil
}

func (n *node) peerIDKnown() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peerID != ""
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// share has d1 create the document, invite d2..d5 (write role) who join
// with the invites, and grant the relay the pull role; then each daemon
// makes one edit and all must converge before faults start.
func (c *cluster) share() {
	t := c.t
	ctx, cancel := ctxT()
	defer cancel()
	d1 := c.ds[0]
	var info api.DocInfo
	if err := d1.call(ctx, "POST", "/api/docs", map[string]string{"title": "chaos"}, &info); err != nil {
		t.Fatalf("creating the document: %v", err)
	}
	c.doc = info.ID
	for _, d := range c.ds[1:] {
		var inv api.InviteInfo
		if err := d1.call(ctx, "POST", "/api/docs/"+c.doc+"/invites", api.InviteRequest{Role: "write", Label: d.name}, &inv); err != nil {
			t.Fatalf("inviting %s: %v", d.name, err)
		}
		var joined api.DocInfo
		if err := d.call(ctx, "POST", "/api/join", map[string]string{"invite": inv.Invite}, &joined); err != nil || joined.ID != c.doc {
			t.Fatalf("%s joining with its invite: %v (%+v)", d.name, err, joined)
		}
	}
	if err := d1.call(ctx, "POST", "/api/docs/"+c.doc+"/host", api.HostRequest{Relay: c.relay.multiaddr()}, nil); err != nil {
		t.Fatalf("granting the relay: %v", err)
	}
	for _, d := range c.ds {
		st, err := d.docStatus(ctx, c.doc)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		c.agents = append(c.agents, st.Agent)
		w := &writer{d: d, doc: c.doc, agent: st.Agent, m: c.m, rng: rand.New(rand.NewPCG(0, 0))}
		w.insert(ctx, 0)
	}
	if _, _, err := c.converged(120 * time.Second); err != nil {
		t.Fatalf("the daemons did not converge before any fault: %v", err)
	}
}

// converged waits, at most bound, until every daemon reports the same
// version, covering every acknowledged one, and the same text; it returns
// them, or what differed last.
func (c *cluster) converged(bound time.Duration) (map[string]uint64, string, error) {
	return c.convergedTrace(bound, nil)
}

// convergedTrace is converged, noting in lag (if not nil) at each poll
// who lacks what.
func (c *cluster) convergedTrace(bound time.Duration, lag *lagTrace) (map[string]uint64, string, error) {
	deadline := time.Now().Add(bound)
	last := ""
	c.lag = lag
	defer func() { c.lag = nil }()
	for time.Now().Before(deadline) {
		began := time.Now()
		ok, v, text, why := c.sameState()
		if took := time.Since(began); lag != nil && took > slowCall {
			lag.note(fmt.Sprintf("the check took %s", took.Round(time.Millisecond)))
		}
		if ok {
			return v, text, nil
		}
		if lag != nil {
			// After a failed check, never before one: the trace must not
			// delay the moment convergence is seen.
			if why != last {
				lag.note("not yet: " + why)
			}
			lag.poll()
		}
		last = why
		time.Sleep(25 * time.Millisecond) // poll interval of a condition with a deadline
	}
	return nil, "", fmt.Errorf("not converged within %s: %s", bound, last)
}

func (c *cluster) sameState() (bool, map[string]uint64, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var first map[string]uint64
	for _, d := range c.ds {
		st, err := d.docStatus(ctx, c.doc)
		if err != nil {
			return false, nil, "", fmt.Sprintf("%s: %v", d.name, err)
		}
		if first == nil {
			first = st.Version
		} else if !maps.Equal(first, st.Version) {
			return false, nil, "", fmt.Sprintf("%s at %v, d1 at %v", d.name, st.Version, first)
		}
	}
	c.seen = time.Now() // every daemon held first then (versions only grow, and the re-read below finds first again)
	for a, v := range c.m.AckedVersions() {
		if first[a] < v {
			return false, nil, "", fmt.Sprintf("agent %s at %d, acknowledged %d", a, first[a], v)
		}
	}
	var text string
	for i, d := range c.ds {
		began := time.Now()
		tx, err := d.text(ctx, c.doc)
		if took := time.Since(began); took > slowCall && c.lag != nil {
			c.lag.note(fmt.Sprintf("%s's text took %s", d.name, took.Round(time.Millisecond)))
		}
		if err != nil {
			return false, nil, "", fmt.Sprintf("%s: %v", d.name, err)
		}
		if i == 0 {
			text = tx
		} else if tx != text {
			return false, nil, "", fmt.Sprintf("%s's text differs from d1's at the same version", d.name)
		}
	}
	// The version may have moved while the texts were read.
	for _, d := range c.ds {
		st, err := d.docStatus(ctx, c.doc)
		if err != nil || !maps.Equal(first, st.Version) {
			return false, nil, "", "the version moved while reading"
		}
	}
	return true, first, text, ""
}

// schedule runs schedule s of the run: writers on every daemon while the
// seeded faults play, then heal, convergence and the checks.
func (c *cluster) schedule(seed int64, s int) schedReport {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(s)))
	plan := c.plan(rng, s, *faultsFlag)
	sr := schedReport{Index: s}
	var desc []string
	for _, f := range plan {
		desc = append(desc, f.String())
	}
	c.t.Logf("schedule %d (seed %d): %s", s, seed, strings.Join(desc, "; "))

	wctx, stopWriters := context.WithCancel(context.Background())
	defer stopWriters()
	var wg sync.WaitGroup
	for i, d := range c.ds {
		w := &writer{d: d, doc: c.doc, agent: c.agents[i], m: c.m, pace: 40 * time.Millisecond,
			rng: rand.New(rand.NewPCG(uint64(seed), uint64(1000+s*16+i)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(wctx)
		}()
	}
	// Faults play for the phase; those lasting until the heal end when the
	// writers have stopped, all at once.
	start := time.Now()
	phase := *faultsFlag
	healC := make(chan struct{}) // process faults end
	netC := make(chan struct{})  // then network faults end
	var fwg, pwg sync.WaitGroup
	var mu sync.Mutex
	for i := range plan {
		f := &plan[i]
		g := &pwg
		if f.network() {
			g = &fwg
		}
		g.Add(1)
		go func() {
			defer g.Done()
			time.Sleep(f.at) // the schedule's clock: when the fault starts
			rec := faultRec{Kind: f.kind, Target: f.target(), Detail: f.detail, AtMS: time.Since(start).Milliseconds()}
			notes, err := c.apply(f)
			if err == nil {
				switch {
				case f.at+f.dur < phase:
					time.Sleep(f.dur) // how long the fault lasts
				case f.network():
					<-netC
				default:
					<-healC
				}
				var more []string
				more, err = c.revert(f)
				notes = append(notes, more...)
			}
			rec.ForMS = time.Since(start).Milliseconds() - rec.AtMS
			rec.Seen = f.seen
			if err != nil {
				rec.Err = err.Error()
			}
			mu.Lock()
			sr.Faults = append(sr.Faults, rec)
			sr.Violations = append(sr.Violations, notes...)
			mu.Unlock()
		}()
	}
	bkC := make(chan *backupRec, 1)
	go func() {
		bkC <- c.backupDuring(rand.New(rand.NewPCG(uint64(seed), uint64(5000+s))), s, start, phase)
	}()
	time.Sleep(phase) // the schedule's clock: the end of the fault phase
	stopWriters()
	wg.Wait()

	// Heal: first the process faults still on end (killed nodes restart,
	// paused ones resume, moved clocks come back) while the network faults
	// hold; then the network becomes whole at once. Convergence is timed
	// from that moment.
	healStart := time.Now()
	close(healC)
	pwg.Wait()
	_ = os.Remove(c.filler)
	for _, n := range c.all {
		if n.isPaused() {
			_ = n.signal(syscall.SIGCONT)
		}
		if !n.isRunning() {
			if err := n.start(60 * time.Second); err != nil {
				sr.Violations = append(sr.Violations, fmt.Sprintf("restarting %s at heal: %v", n.name, err))
			}
		}
	}
	close(netC)
	fwg.Wait()
	if err := c.net.heal(); err != nil {
		sr.Violations = append(sr.Violations, "heal: "+err.Error())
	}
	healed := time.Now()
	tcp := make(chan []string, 1)
	go func() { tcp <- c.tcpBackoff() }()
	for _, f := range sr.Faults {
		if f.Err != "" {
			sr.Violations = append(sr.Violations, fmt.Sprintf("fault %s on %s: %s", f.Kind, f.Target, f.Err))
		}
	}
	sr.HealMS = float64(healed.Sub(healStart).Microseconds()) / 1000
	sr.HealedAt = healed.UTC().Format(time.RFC3339Nano)
	lag := &lagTrace{c: c, since: healed}
	_, text, err := c.convergedTrace(60*time.Second, lag)
	sr.Lag = lag.lines
	sr.TCPAtHeal = <-tcp
	if err != nil {
		sr.Divergent = true
		sr.Violations = append(sr.Violations, "divergent replicas: "+err.Error())
		return sr
	}
	sr.ConvergenceMS = float64(time.Since(healed).Microseconds()) / 1000
	sr.SeenMS = float64(c.seen.Sub(healed).Microseconds()) / 1000
	problems, summary := c.m.Check(text, c.versionOf())
	sr.Summary = summary
	sr.Violations = append(sr.Violations, problems...)
	sr.Acked, sr.Found, sr.Lost = c.m.Tally(text)
	sr.Backup = <-bkC // a backup still running at the heal ends by now (bounded by sh)
	sr.Violations = append(sr.Violations, c.checkBackup(sr.Backup)...)
	return sr
}

// tcpBackoff lists, per node, its libp2p TCP connections that were
// retransmitting with exponential backoff at the heal: the kernel's next
// retry of a connection that outlived a partition can be seconds away, and
// nothing moves on it until then.
func (c *cluster) tcpBackoff() []string {
	var out []string
	for _, n := range c.all {
		o, err := inNS(n.ns, "ss", "-tin", "state", "established", "( sport = :4001 or dport = :4001 )")
		if err != nil {
			continue
		}
		conns, maxRTO, maxBackoff := 0, 0, 0
		for _, f := range strings.Fields(o) {
			var v int
			if _, err := fmt.Sscanf(f, "backoff:%d", &v); err == nil && v > 0 {
				conns++
				maxBackoff = max(maxBackoff, v)
			}
			if _, err := fmt.Sscanf(f, "rto:%d", &v); err == nil {
				maxRTO = max(maxRTO, v)
			}
		}
		if conns > 0 {
			out = append(out, fmt.Sprintf("%s: %d connections backing off (up to %d), rto up to %dms", n.name, conns, maxBackoff, maxRTO))
		}
	}
	return out
}

func (c *cluster) versionOf() map[string]uint64 {
	ctx, cancel := ctxT()
	defer cancel()
	st, err := c.ds[0].docStatus(ctx, c.doc)
	if err != nil {
		return nil
	}
	return st.Version
}

// finish stops every node with SIGTERM (status 0 wanted), runs `weft
// check` on every store, compares the relay's store with the daemons'
// version, restores the relay's backups and looks for crashes.
func (c *cluster) finish() []string {
	var bad []string
	final := c.versionOf()
	// The relay acknowledges what it made durable; the daemons converged
	// among themselves, so wait (bounded) until it has all of it too.
	if err := c.relayCaughtUp(final, 60*time.Second); err != nil {
		bad = append(bad, err.Error())
	}
	bad = append(bad, c.daemonBackups()...)
	for _, n := range c.all {
		if n.isRunning() {
			if err := n.stop(syscall.SIGTERM, 60*time.Second); err != nil {
				bad = append(bad, err.Error())
			}
		}
	}
	for _, n := range c.all {
		n.mu.Lock()
		bad = append(bad, n.crashes...)
		bad = append(bad, n.exitBad...)
		n.mu.Unlock()
		bad = append(bad, n.logProblems()...)
		if r := checkStore(n.bin, n.dir); r != "" {
			bad = append(bad, fmt.Sprintf("weft check on %s: %s", n.name, r))
		}
	}
	// A backup of the stopped relay (nothing changes any more) must restore
	// to exactly the final version.
	ctx, cancel := ctxT()
	out, err := exec.CommandContext(ctx, c.relay.bin, "backup", "create", "--data", c.relay.dir, "--to", c.backup).CombinedOutput()
	cancel()
	if err != nil {
		bad = append(bad, fmt.Sprintf("weft backup create of the stopped relay: %v: %s", err, out))
	}
	if final != nil {
		if v, err := storeVersion(c.relay.dir, c.doc); err != nil {
			bad = append(bad, "reading the relay's store: "+err.Error())
		} else if !maps.Equal(v, final) {
			bad = append(bad, fmt.Sprintf("the relay's store holds version %v, the daemons %v", v, final))
		}
	}
	bad = append(bad, c.restoreBackups(final)...)
	return bad
}

// relayCaughtUp waits until a daemon reports the relay's acknowledged
// version (DocStatus.RelayAcked) covering want.
func (c *cluster) relayCaughtUp(want map[string]uint64, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	last := ""
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, d := range c.ds {
			st, err := d.docStatus(ctx, c.doc)
			if err != nil {
				continue
			}
			ok := true
			for a, v := range want {
				ok = ok && st.RelayAcked[a] >= v
			}
			if ok {
				cancel()
				return nil
			}
			last = fmt.Sprintf("%s sees the relay at %v", d.name, st.RelayAcked)
		}
		cancel()
		time.Sleep(100 * time.Millisecond) // poll interval of a condition with a deadline
	}
	return fmt.Errorf("the relay did not acknowledge the final version %v within %s (%s)", want, bound, last)
}

// daemonBackups backs up a running daemon — `weft backup create`, which
// finds the daemon holding the store and goes through its API (run in the
// daemon's namespace: its API listens on that namespace's loopback) — after
// the run converged, and restores the backup into a fresh directory: it
// must pass `weft check` and hold exactly the version the daemons agree on.
func (c *cluster) daemonBackups() []string {
	final := c.versionOf()
	var d *node
	for _, n := range c.ds {
		if n.isRunning() {
			d = n
			break
		}
	}
	if d == nil || final == nil {
		return []string{"no running daemon to back up"}
	}
	to := filepath.Join(c.root, "daemon-backups")
	if out, err := inNS(d.ns, d.bin, "backup", "create", "--data", d.dir, "--to", to); err != nil {
		return []string{fmt.Sprintf("weft backup create of the running daemon %s: %v: %s", d.name, err, out)}
	}
	names, err := backups(d.bin, to)
	if err != nil || len(names) == 0 {
		return []string{fmt.Sprintf("the running daemon %s's backup is not listed: %v", d.name, err)}
	}
	dir := filepath.Join(c.root, "restored-daemon")
	ctx, cancel := ctxT()
	out, err := exec.CommandContext(ctx, d.bin, "backup", "restore", "--from", to, "--at", names[len(names)-1], "--data", dir).CombinedOutput()
	cancel()
	if err != nil {
		return []string{fmt.Sprintf("restoring %s's backup: %v: %s", d.name, err, out)}
	}
	var bad []string
	if r := checkStore(d.bin, dir); r != "" {
		bad = append(bad, fmt.Sprintf("weft check on %s's restored backup: %s", d.name, r))
	}
	if v, err := storeVersion(dir, c.doc); err != nil {
		bad = append(bad, fmt.Sprintf("%s's restored backup: %v", d.name, err))
	} else if !maps.Equal(v, final) {
		bad = append(bad, fmt.Sprintf("%s's backup, taken running after the run converged, restores version %v; the daemons hold %v", d.name, v, final))
	}
	return bad
}

// checkStore runs `weft check --data DIR`; "" when it exits 0.
func checkStore(bin, dir string) string {
	ctx, cancel := ctxT()
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "check", "--data", dir).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

var errNoDoc = errors.New("no such document")

// storeVersion reads document doc's version from the stopped store at dir.
func storeVersion(dir, doc string) (map[string]uint64, error) {
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx, cancel := ctxT()
	defer cancel()
	docs, err := s.Docs(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if d.String() == doc {
			return s.Version(ctx, d)
		}
	}
	return nil, fmt.Errorf("%w: %s in %s", errNoDoc, doc, dir)
}

// backups lists the backups in dir, oldest first (`weft backup list`).
func backups(bin, dir string) ([]string, error) {
	ctx, cancel := ctxT()
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "backup", "list", "--from", dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("weft backup list: %v: %s", err, out)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(l, " ") || f[0] == "TIMESTAMP" || strings.HasPrefix(l, "no backups") {
			continue // the table's header, or the line saying there are none
		}
		names = append(names, f[0])
	}
	return names, nil
}

// restoreBackups restores the relay's latest backup (taken of the stopped
// relay: it must hold exactly the final version) and, when the relay took
// scheduled ones (every minute) during the faults, the one in the middle
// (it must pass weft check and hold no more than the final version, which
// contains everything any replica ever had).
func (c *cluster) restoreBackups(final map[string]uint64) []string {
	names, err := backups(c.relay.bin, c.backup)
	if err != nil {
		return []string{err.Error()}
	}
	if len(names) == 0 {
		return []string{"no relay backup to restore"}
	}
	pick := []string{names[len(names)-1]}
	if len(names) > 1 {
		pick = append(pick, names[(len(names)-1)/2])
	}
	var bad []string
	for i, at := range pick {
		dir := filepath.Join(c.root, fmt.Sprintf("restored-%d", i))
		ctx, cancel := ctxT()
		out, err := exec.CommandContext(ctx, c.relay.bin, "backup", "restore", "--from", c.backup, "--at", at, "--data", dir).CombinedOutput()
		cancel()
		if err != nil {
			bad = append(bad, fmt.Sprintf("restoring backup %s: %v: %s", at, err, out))
			continue
		}
		if r := checkStore(c.relay.bin, dir); r != "" {
			bad = append(bad, fmt.Sprintf("weft check on the restored backup %s: %s", at, r))
		}
		v, err := storeVersion(dir, c.doc)
		if errors.Is(err, errNoDoc) && i > 0 {
			continue // taken before the document was granted to the relay
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("the restored backup %s: %v", at, err))
			continue
		}
		if i == 0 && !maps.Equal(v, final) {
			bad = append(bad, fmt.Sprintf("the last backup %s restores version %v; the run ended at %v", at, v, final))
		}
		for a, s := range v {
			if s > final[a] {
				bad = append(bad, fmt.Sprintf("the backup %s holds agent %s up to %d, beyond the final %d", at, a, s, final[a]))
			}
		}
	}
	return bad
}

// keysOf is for messages.
func keysOf(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
