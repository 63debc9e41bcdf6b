//go:build linux

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// A backup of a running daemon taken while the faults play (issue 12: "the
// chaos run takes backups during faults and restores one at the end, which
// must equal the state at its timestamp"). At a seeded moment of the fault
// phase, `weft backup create` runs against one daemon that is up (through
// its API: the daemon holds the store; one badger read transaction). The
// daemon's version just before and just after bracket the snapshot: what is
// restored must pass `weft check`, hold every edit of the daemon's own
// agent acknowledged before the backup began (acknowledged means stored),
// and nothing the daemon did not hold once it ended. A backup that fails
// because its daemon was killed or paused meanwhile is reported, not a
// violation: it must fail with an error, never report success.

type backupRec struct {
	Daemon string `json:"daemon"`
	AtMS   int64  `json:"at_ms"`
	TookMS int64  `json:"took_ms"`
	// Err is why `weft backup create` failed (a fault on its daemon).
	Err string `json:"error,omitempty"`
	// Restored is the restored document's version, by daemon name.
	Restored string `json:"restored,omitempty"`

	dir         string
	agent       string
	ackedBefore uint64            // the daemon's own agent, acknowledged before
	after       map[string]uint64 // the daemon's version once it ended (nil: unknown)
}

// backupDuring waits for a seeded moment in the phase and backs up a
// daemon that is up then.
func (c *cluster) backupDuring(rng *rand.Rand, s int, start time.Time, phase time.Duration) *backupRec {
	at := time.Duration((0.3 + 0.5*rng.Float64()) * float64(phase))
	first := rng.IntN(len(c.ds))
	time.Sleep(time.Until(start.Add(at))) // the schedule's clock: when the backup starts
	var d *node
	var i int
	for k := range c.ds {
		i = (first + k) % len(c.ds)
		if c.ds[i].isReady() {
			d = c.ds[i]
			break
		}
	}
	if d == nil {
		return &backupRec{Daemon: "none", AtMS: time.Since(start).Milliseconds(), Err: "no daemon was up"}
	}
	b := &backupRec{Daemon: d.name, agent: c.agents[i], AtMS: time.Since(start).Milliseconds(),
		dir: filepath.Join(c.root, "fault-backups", fmt.Sprintf("s%d-%d", s, time.Now().UnixNano()))}
	b.ackedBefore = c.m.AckedVersions()[b.agent]
	t0 := time.Now()
	out, err := inNS(d.ns, d.bin, "backup", "create", "--data", d.dir, "--to", b.dir)
	b.TookMS = time.Since(t0).Milliseconds()
	if err != nil {
		b.Err = strings.TrimSpace(out)
		if b.Err == "" {
			b.Err = err.Error()
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := d.docStatus(ctx, c.doc); err == nil {
		b.after = st.Version
	}
	return b
}

// checkBackup restores b and checks it (see backupRec); it returns the
// violations.
func (c *cluster) checkBackup(b *backupRec) []string {
	if b == nil || b.Err != "" {
		return nil
	}
	names, err := backups(c.relay.bin, b.dir)
	if err != nil || len(names) != 1 {
		return []string{fmt.Sprintf("the backup of %s taken during the faults: %d listed, %v", b.Daemon, len(names), err)}
	}
	dir := b.dir + "-restored"
	defer os.RemoveAll(dir)
	defer os.RemoveAll(b.dir)
	ctx, cancel := ctxT()
	out, err := exec.CommandContext(ctx, c.relay.bin, "backup", "restore", "--from", b.dir, "--at", names[0], "--data", dir).CombinedOutput()
	cancel()
	if err != nil {
		return []string{fmt.Sprintf("restoring %s's backup taken during the faults: %v: %s", b.Daemon, err, out)}
	}
	var bad []string
	if r := checkStore(c.relay.bin, dir); r != "" {
		bad = append(bad, fmt.Sprintf("weft check on %s's backup taken during the faults: %s", b.Daemon, r))
	}
	v, err := storeVersion(dir, c.doc)
	if err != nil {
		return append(bad, fmt.Sprintf("%s's backup taken during the faults: %v", b.Daemon, err))
	}
	b.Restored = c.named(v)
	if v[b.agent] < b.ackedBefore {
		bad = append(bad, fmt.Sprintf("%s's backup taken during the faults holds its own edits to seq %d; %d were acknowledged before it began", b.Daemon, v[b.agent], b.ackedBefore))
	}
	if b.after != nil {
		for a, n := range v {
			if n > b.after[a] {
				bad = append(bad, fmt.Sprintf("%s's backup taken during the faults holds %s at %d, more than the daemon held after it (%d)", b.Daemon, c.named(map[string]uint64{a: n}), n, b.after[a]))
			}
		}
	}
	return bad
}

// named renders a version with agents named by their daemons.
func (c *cluster) named(v map[string]uint64) string {
	var parts []string
	for i, d := range c.ds {
		if n, ok := v[c.agents[i]]; ok {
			parts = append(parts, fmt.Sprintf("%s:%d", d.name, n))
		}
	}
	return strings.Join(parts, " ")
}
