//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"weft/api"
	"weft/e2e/internal/editmodel"
)

// fault is one entry of a schedule: what, on which nodes, from when
// (after the schedule starts) and for how long.
type fault struct {
	kind   string
	nodes  []*node // the nodes it acts on (a partition: side a)
	others []*node // a partition's side b
	at     time.Duration
	dur    time.Duration
	detail string
	p      float64 // loss
	kbit   int     // bandwidth
	lat    time.Duration
	clock  string   // clock offset
	seen   []string // what the disk checks observed, for the report

	rules [][2]string // (namespace, rule) added, for revert
	saved [][]string
}

func names(ns []*node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.name)
	}
	return strings.Join(s, ",")
}

func (f *fault) target() string {
	switch {
	case f.kind == fOneWay:
		return names(f.nodes) + " → " + names(f.others)
	case f.others != nil:
		return names(f.nodes) + " ↔ " + names(f.others)
	}
	return names(f.nodes)
}

// network says whether f acts on the network (else on a process or disk).
func (f *fault) network() bool {
	switch f.kind {
	case fPartition, fPartial, fOneWay, fLoss, fBandwidth:
		return true
	}
	return false
}

func (f *fault) String() string {
	return fmt.Sprintf("%s %s %s at %s for %s", f.kind, f.target(), f.detail, f.at.Round(time.Millisecond), f.dur.Round(time.Millisecond))
}

// Fault kinds. Network faults act through iptables (partitions, loss) and
// tc tbf (bandwidth; its queue delays packets) in the nodes' namespaces;
// process faults through signals and restarts; the disk fills d5's tmpfs.
const (
	fPartition = "partition"         // both ways between two sides; the relay on one side
	fPartial   = "partial-partition" // two groups of daemons cut off, the relay and the rest reach all
	fOneWay    = "one-way"           // packets from side a to side b are dropped
	fLoss      = "loss"
	fBandwidth = "bandwidth"
	fKill      = "sigkill" // SIGKILL, restarted on the same data when the fault ends
	fStop      = "sigstop" // SIGSTOP, SIGCONT when it ends
	fRestart   = "restart" // SIGTERM and start again at once (exit status 0 wanted)
	fClock     = "clock"   // restarted with its clock moved by hours, back when it ends
	fDiskFull  = "disk-full"
)

// plan draws schedule s: 2–5 faults, each starting within the first 60% of
// the fault phase and lasting until the heal (half of them) or for 20–60%
// of the phase. Process faults and bandwidth
// limits take distinct nodes. Every third schedule starts with a full
// disk, the next with the relay killed, the next with a moved clock, so
// that even a short run meets each.
func (c *cluster) plan(rng *rand.Rand, s int, phase time.Duration) []fault {
	busy := map[*node]bool{}
	shaped := map[*node]bool{}
	var out []fault
	timing := func() (time.Duration, time.Duration) {
		at := time.Duration(rng.Float64() * 0.6 * float64(phase))
		if rng.IntN(2) == 0 {
			return at, phase - at // until the heal
		}
		dur := time.Duration((0.2 + rng.Float64()*0.4) * float64(phase))
		return at, min(dur, phase-at)
	}
	free := func(pool []*node) *node {
		var ok []*node
		for _, n := range pool {
			if !busy[n] {
				ok = append(ok, n)
			}
		}
		if len(ok) == 0 {
			return nil
		}
		n := ok[rng.IntN(len(ok))]
		busy[n] = true
		return n
	}
	split := func(pool []*node) ([]*node, []*node) {
		p := slices.Clone(pool)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		k := 1 + rng.IntN(len(p)-1)
		return p[:k], p[k:]
	}
	add := func(kind string) {
		at, dur := timing()
		f := fault{kind: kind, at: at, dur: dur}
		switch kind {
		case fPartition:
			f.nodes, f.others = split(c.all)
		case fPartial:
			p := slices.Clone(c.ds)
			rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
			k := 1 + rng.IntN(2)
			f.nodes, f.others = p[:k], p[k:k+1+rng.IntN(2)]
		case fOneWay:
			f.nodes, f.others = split(c.all)
		case fLoss:
			f.nodes = []*node{c.all[rng.IntN(len(c.all))]}
			f.p = 0.1 + 0.4*rng.Float64()
			f.detail = fmt.Sprintf("%.0f%%", f.p*100)
		case fBandwidth:
			n := c.all[rng.IntN(len(c.all))]
			if shaped[n] {
				return
			}
			shaped[n] = true
			f.nodes = []*node{n}
			f.kbit = []int{64, 128, 256, 1024}[rng.IntN(4)]
			f.lat = time.Duration(100+rng.IntN(400)) * time.Millisecond
			f.detail = fmt.Sprintf("%dkbit queue %s", f.kbit, f.lat)
		case fKill, fStop, fRestart:
			n := free(c.all)
			if n == nil {
				return
			}
			f.nodes = []*node{n}
		case fClock:
			n := free(c.ds)
			if n == nil {
				return
			}
			f.nodes = []*node{n}
			f.clock = fmt.Sprintf("%+dh", []int{-6, -3, -1, 1, 3, 6, 30}[rng.IntN(7)])
			f.detail = f.clock
		case fDiskFull:
			d := c.ds[diskDaemon]
			if busy[d] {
				return
			}
			busy[d] = true
			f.nodes = []*node{d}
			f.at, f.dur = phase/5, phase*3/5
		}
		out = append(out, f)
	}
	switch s % 3 {
	case 0:
		if *diskFullFlag {
			add(fDiskFull)
		} else {
			add(fKill)
		}
	case 1:
		busy[c.relay] = true
		at, dur := timing()
		out = append(out, fault{kind: fKill, nodes: []*node{c.relay}, at: at, dur: dur})
	case 2:
		add(fClock)
	}
	kinds := []string{fPartition, fPartial, fOneWay, fLoss, fBandwidth, fKill, fStop, fRestart, fClock}
	for range 1 + rng.IntN(4) {
		add(kinds[rng.IntN(len(kinds))])
	}
	return out
}

// apply starts fault f; it returns violations it saw (the disk checks)
// and an error when the harness could not inject it.
func (c *cluster) apply(f *fault) ([]string, error) {
	nw := c.net
	switch f.kind {
	case fPartition, fPartial:
		for _, a := range f.nodes {
			for _, b := range f.others {
				for _, ab := range [][2]*node{{a, b}, {b, a}} {
					rule, err := nw.block(ab[0].ns, ab[1].ns)
					if err != nil {
						return nil, err
					}
					f.rules = append(f.rules, [2]string{ab[1].ns, ""})
					f.saved = append(f.saved, rule)
				}
			}
		}
	case fOneWay:
		for _, a := range f.nodes {
			for _, b := range f.others {
				rule, err := nw.block(a.ns, b.ns)
				if err != nil {
					return nil, err
				}
				f.rules = append(f.rules, [2]string{b.ns, ""})
				f.saved = append(f.saved, rule)
			}
		}
	case fLoss:
		rule, err := nw.loss(f.nodes[0].ns, f.p)
		if err != nil {
			return nil, err
		}
		f.rules = append(f.rules, [2]string{f.nodes[0].ns, ""})
		f.saved = append(f.saved, rule)
	case fBandwidth:
		return nil, nw.shape(f.nodes[0].ns, f.kbit, f.lat)
	case fKill:
		return nil, f.nodes[0].stop(syscall.SIGKILL, 30*time.Second)
	case fStop:
		return nil, f.nodes[0].signal(syscall.SIGSTOP)
	case fRestart:
		n := f.nodes[0]
		if err := n.stop(syscall.SIGTERM, 60*time.Second); err != nil {
			return nil, err
		}
		return nil, n.start(60 * time.Second)
	case fClock:
		n := f.nodes[0]
		if err := n.stop(syscall.SIGTERM, 60*time.Second); err != nil {
			return nil, err
		}
		return nil, n.start(60*time.Second, "WEFT_TEST_CLOCK_OFFSET="+f.clock)
	case fDiskFull:
		return c.fillDisk(f, f.nodes[0])
	}
	return nil, nil
}

// revert ends fault f.
func (c *cluster) revert(f *fault) ([]string, error) {
	switch f.kind {
	case fPartition, fPartial, fOneWay, fLoss:
		var first error
		for i, r := range f.rules {
			if err := c.net.delRule(r[0], f.saved[i]...); err != nil && first == nil {
				first = err
			}
		}
		return nil, first
	case fBandwidth:
		return nil, c.net.unshape(f.nodes[0].ns)
	case fKill:
		return nil, f.nodes[0].start(60 * time.Second)
	case fStop:
		return nil, f.nodes[0].signal(syscall.SIGCONT)
	case fClock:
		n := f.nodes[0]
		if err := n.stop(syscall.SIGTERM, 60*time.Second); err != nil {
			return nil, err
		}
		return nil, n.start(60 * time.Second)
	case fDiskFull:
		return c.freeDisk(f, f.nodes[0])
	}
	return nil, nil
}

// fillDisk fills d's tmpfs and checks, while it is full, that d reports
// itself unready, refuses an edit with an error reply and serves reads.
func (c *cluster) fillDisk(f *fault, d *node) ([]string, error) {
	fh, err := os.OpenFile(c.filler, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	for range 4096 { // bounded: 4 GiB, far above the tmpfs size
		if _, err := fh.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				fh.Close()
				return nil, err
			}
			break
		}
	}
	// Fill the last partial megabyte too.
	for range 1 << 10 {
		if _, err := fh.Write(buf[:1024]); err != nil {
			break
		}
	}
	fh.Close()
	filled := time.Now()
	var bad []string
	// Unready within 30 s (the storage check runs every second).
	var last string
	unready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code, rep, err := d.readyz(ctx)
		cancel()
		if err != nil {
			last = err.Error()
			continue
		}
		last = fmt.Sprintf("HTTP %d %s failing %v", code, rep.Status, rep.Failing())
		if code == 503 && slices.Contains(rep.Failing(), "storage") {
			unready = true
			break
		}
	}
	if !unready {
		bad = append(bad, fmt.Sprintf("disk full: %s did not report its storage unready within 30s (last: %s)", d.name, last))
	} else {
		f.seen = append(f.seen, fmt.Sprintf("unready after %s (%s)", time.Since(filled).Round(time.Millisecond), last))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	probe := c.m.Alloc(2, rand.New(rand.NewPCG(1, 1)))
	_, err = d.edit(ctx, c.doc, api.Edit{Pos: 0, Ins: string(probe)})
	// An error reply means not stored: the model then fails the run if
	// the text ever shows up anywhere.
	o := classify(err)
	var ae0 *apiError
	if errors.As(err, &ae0) {
		o = editmodel.Refused
	}
	c.m.Inserted(probe, d.name+" edit while its disk is full", o)
	f.seen = append(f.seen, fmt.Sprintf("edit refused: %v", err))
	var ae *apiError
	switch {
	case err == nil:
		bad = append(bad, fmt.Sprintf("disk full: %s acknowledged an edit while its storage reported unready", d.name))
	case !errors.As(err, &ae):
		bad = append(bad, fmt.Sprintf("disk full: %s gave no error reply to an edit: %v", d.name, err))
	case !strings.Contains(strings.ToLower(ae.Msg), "space") && !strings.Contains(strings.ToLower(ae.Msg), "disk") && !strings.Contains(strings.ToLower(ae.Msg), "storage"):
		bad = append(bad, fmt.Sprintf("disk full: %s refused an edit without saying why clearly: %v", d.name, err))
	}
	switch text, err := d.text(ctx, c.doc); {
	case err != nil:
		bad = append(bad, fmt.Sprintf("disk full: %s does not serve reads: %v", d.name, err))
	case o == editmodel.Refused && strings.Contains(text, string(probe)):
		bad = append(bad, fmt.Sprintf("disk full: %s refused an edit and shows its text", d.name))
	default:
		f.seen = append(f.seen, "reads served")
	}
	return bad, nil
}

// freeDisk frees d's tmpfs and checks that d becomes ready again and
// accepts an edit, within 30 s each.
func (c *cluster) freeDisk(f *fault, d *node) ([]string, error) {
	if err := os.Remove(c.filler); err != nil {
		return nil, err
	}
	freed := time.Now()
	var bad []string
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && d.isRunning(); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		code, rep, err := d.readyz(ctx)
		cancel()
		// Other checks (the relay partitioned away, say) may fail for other
		// faults; storage must pass.
		if err == nil && code/100 <= 5 && !slices.Contains(rep.Failing(), "storage") {
			ready = true
			break
		}
	}
	if !ready {
		return append(bad, fmt.Sprintf("disk freed: %s's storage did not recover within 30s", d.name)), nil
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for deadline := time.Now().Add(30 * time.Second); ; {
		probe := c.m.Alloc(1, rng)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := d.edit(ctx, c.doc, api.Edit{Pos: 0, Ins: string(probe)})
		cancel()
		c.m.Inserted(probe, d.name+" edit after its disk was freed", classify(err))
		if err == nil {
			c.m.AckedVersion(c.agents[diskDaemon], res.Version[c.agents[diskDaemon]])
			f.seen = append(f.seen, fmt.Sprintf("storage ready and an edit acknowledged %s after freeing", time.Since(freed).Round(time.Millisecond)))
			return bad, nil
		}
		if time.Now().After(deadline) {
			return append(bad, fmt.Sprintf("disk freed: %s still refuses edits after 30s: %v", d.name, err)), nil
		}
		time.Sleep(200 * time.Millisecond) // retry interval of a bounded wait
	}
}
