package e2e

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// cluster is a set of daemons on loopback that bootstrap to each other.
type cluster struct {
	t  testing.TB
	ds []*daemon
}

// newCluster prepares n daemons named A, B, C, … (not started; newProc
// says how they are cleaned up).
func newCluster(t testing.TB, n int, syncInterval string) *cluster {
	t.Helper()
	root := t.TempDir()
	c := &cluster{t: t}
	for i := range n {
		name := string(rune('A' + i))
		c.ds = append(c.ds, newDaemon(t, name, filepath.Join(root, name), syncInterval))
	}
	return c
}

// peersOf returns the multiaddrs of every other daemon that has run.
func (c *cluster) peersOf(d *daemon) []string {
	var out []string
	for _, o := range c.ds {
		if o != d {
			if a := o.multiaddr(); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

// start (re)starts d with every other known daemon as a bootstrap peer.
func (c *cluster) start(d *daemon, env ...string) {
	c.t.Helper()
	d.start(c.t, c.peersOf(d), env...)
}

// restart stops d cleanly (SIGTERM, which must exit 0) and starts it again
// as start does.
func (c *cluster) restart(d *daemon, env ...string) {
	c.t.Helper()
	d.stopClean(c.t)
	c.start(d, env...)
}

// running returns the daemons that are running now.
func (c *cluster) running() []*daemon {
	var out []*daemon
	for _, d := range c.ds {
		if d.isRunning() {
			out = append(out, d)
		}
	}
	return out
}

// add prepares one more daemon (not started).
func (c *cluster) add(name, syncInterval string) *daemon {
	d := newDaemon(c.t, name, filepath.Join(filepath.Dir(c.ds[0].dir), name), syncInterval)
	c.ds = append(c.ds, d)
	return d
}

// startAll starts every daemon in order.
func (c *cluster) startAll() {
	c.t.Helper()
	for _, d := range c.ds {
		c.start(d)
	}
}

// waitConnected waits until every running daemon has every other running
// daemon among the peers of document id's topic.
func (c *cluster) waitTopicMesh(id string) {
	c.t.Helper()
	waitFor(c.t, 30*time.Second*slow, "every daemon to see the others on the document's topic", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, d := range c.running() {
			st, err := d.docStatus(ctx, id)
			if err != nil {
				return false, fmt.Sprintf("%s: %v", d.name, err)
			}
			for _, o := range c.ds {
				if o != d && o.isRunning() && !slices.Contains(st.Peers, o.id()) {
					return false, fmt.Sprintf("%s's topic peers %v lack %s (%s)", d.name, st.Peers, o.name, o.id())
				}
			}
		}
		return true, ""
	})
}

// converged reports whether every running daemon has the same version
// and text of document id; it returns them, or what differs.
func (c *cluster) converged(id string) (bool, string, map[string]uint64, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*slow)
	defer cancel()
	var first *daemon
	var v0 map[string]uint64
	var t0 string
	for _, d := range c.running() {
		st, err := d.docStatus(ctx, id)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", d.name, err), nil, ""
		}
		if st.Buffered != 0 {
			return false, fmt.Sprintf("%s has %d buffered transactions", d.name, st.Buffered), nil, ""
		}
		if first == nil {
			first, v0 = d, st.Version
			continue
		}
		if !maps.Equal(v0, st.Version) {
			return false, fmt.Sprintf("versions differ: %s %v, %s %v", first.name, v0, d.name, st.Version), nil, ""
		}
	}
	// Versions agree: the texts must too (read twice around to be sure
	// nothing moved in between).
	for _, d := range c.running() {
		s, err := d.text(ctx, id)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", d.name, err), nil, ""
		}
		if d == first {
			t0 = s
		} else if s != t0 {
			return false, fmt.Sprintf("same version %v but texts differ: %s has %d bytes, %s %d", v0, first.name, len(t0), d.name, len(s)), nil, ""
		}
	}
	st, err := first.docStatus(ctx, id)
	if err != nil || !maps.Equal(st.Version, v0) {
		return false, "the version moved while reading the texts", nil, ""
	}
	return true, "", v0, t0
}

// waitConverged waits until every running daemon has the same version and
// text of id and returns them.
func (c *cluster) waitConverged(id string, timeout time.Duration) (map[string]uint64, string) {
	c.t.Helper()
	var v map[string]uint64
	var text string
	waitFor(c.t, timeout, "the daemons to converge", func() (bool, string) {
		ok, why, v1, t1 := c.converged(id)
		v, text = v1, t1
		return ok, why
	})
	return v, text
}

// waitFor polls cond until it holds or the deadline passes (then the test
// fails with cond's last explanation).
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(pause) // polling interval of a condition with a deadline
		pause = min(pause*2, 100*time.Millisecond)
	}
}

// seed returns the test's random seed (-e2e.seed, else from the clock) and
// prints it if the test fails.
func seed(t testing.TB) int64 {
	s := *seedFlag
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("random seed %d (rerun with: go test ./e2e/ -run '^%s$' -e2e.seed=%d)", s, t.Name(), s)
		}
	})
	return s
}
