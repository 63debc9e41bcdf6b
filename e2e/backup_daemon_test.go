package e2e

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"weft/api"
	"weft/internal/s3test"
)

// TestBackupRunningDaemon: a running daemon with a members-only document
// shared by invite with a second daemon is backed up by `weft backup
// create --to DIR` (a separate process, which goes through the daemon's
// API: the daemon holds the store) while both keep editing. Restored into
// a fresh data directory, the backup is a store `weft check` passes that
// holds every edit the daemon acknowledged before the backup started.
func TestBackupRunningDaemon(t *testing.T) {
	backupWhileEditing(t, nil, func(t *testing.T) string { return filepath.Join(t.TempDir(), "backups") }, nil)
}

// TestBackupRunningDaemonS3 is TestBackupRunningDaemon into an S3 bucket
// (versitygw on loopback). The daemon has the S3 settings in its
// environment; the `weft backup create` that asks it has none: the
// daemon's own are used.
func TestBackupRunningDaemonS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "weft-daemon")
	backupWhileEditing(t, srv.Env(), func(*testing.T) string { return "s3://weft-daemon/a" }, append(cleanEnv(), srv.Env()...))
}

// backupWhileEditing runs the test: daemonEnv is the environment of the
// daemons, to names where the backup goes, restoreEnv is the environment
// of the restore (nil: the test's clean one).
func backupWhileEditing(t *testing.T, daemonEnv []string, to func(*testing.T) string, restoreEnv []string) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 1))
	c := newCluster(t, 2, "1s")
	a, b := c.ds[0], c.ds[1]
	for _, d := range c.ds {
		c.start(d, daemonEnv...)
	}
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "backed up while edited"))
	share(t, a, b, id, api.RoleWrite)
	for range 5 {
		a.mustEdit(t, id, randEdit(rng, len([]rune(a.mustText(t, id)))))
	}
	c.waitConverged(id, 30*time.Second*slow)

	// Both keep editing; A's acknowledgements are recorded (each is A's
	// version once the edit is durable on A: it holds B's edits A had).
	var mu sync.Mutex
	ackedA := map[string]uint64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range []*daemon{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := ctxT()
				res, err := d.edit(ctx, id, api.Edit{Pos: 0, Ins: randText(r, 1+r.IntN(8))})
				cancel()
				if err != nil {
					t.Errorf("daemon %s: edit %d: %v", d.name, n, err)
					return
				}
				if d == a {
					mu.Lock()
					mergeMax(ackedA, res.Version)
					mu.Unlock()
				}
			}
		}()
	}
	// Let some edits happen, then back up while they go on.
	waitFor(t, 30*time.Second*slow, "edits to go on", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		total := uint64(0)
		for _, n := range ackedA {
			total += n
		}
		return total > 60, fmt.Sprint(ackedA)
	})
	mu.Lock()
	before := map[string]uint64{}
	mergeMax(before, ackedA)
	mu.Unlock()
	dest := to(t)
	ctx, cancel := ctxT()
	res, err := weftCmd(ctx, nil, "backup", "create", "--data", a.dir, "--to", dest)
	cancel()
	if err != nil || res.Code != 0 || !strings.HasPrefix(res.Stdout, "wrote weft-backup-") {
		t.Fatalf("backup create while the daemon runs: exit %d %v\n%s%s", res.Code, err, res.Stdout, res.Stderr)
	}
	mu.Lock()
	after := map[string]uint64{}
	mergeMax(after, ackedA)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if agentA := a.mustDocStatus(t, id).Agent; after[agentA] == before[agentA] {
		t.Logf("no edit of A was acknowledged during the backup (it took no time); the test still checks it")
	}

	dst := filepath.Join(t.TempDir(), "restored")
	ctx, cancel = ctxT()
	res, err = weftCmd(ctx, restoreEnv, "backup", "restore", "--from", dest, "--at", "latest", "--data", dst)
	cancel()
	if err != nil || res.Code != 0 {
		t.Fatalf("restore: exit %d %v\n%s%s", res.Code, err, res.Stdout, res.Stderr)
	}
	if r := runWeft(t, "check", "--data", dst); r.Code != 0 || !strings.Contains(r.Stdout, "checked 1 documents") || !strings.Contains(r.Stdout, "healthy") {
		t.Fatalf("check on the restored store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	got := storeVersions(t, dst)[id]
	if ok, why := coversVersion(got, before); !ok {
		t.Fatalf("the restored store (version %v) lacks edits A acknowledged before the backup started (%v): %s", got, before, why)
	}
	t.Logf("acknowledged by A before the backup %v, during it up to %v; the backup holds %v", before, after, got)

	// A restore into the running daemon's directory is refused in one line.
	ctx, cancel = ctxT()
	res, err = weftCmd(ctx, restoreEnv, "backup", "restore", "--from", dest, "--at", "latest", "--data", a.dir, "--force")
	cancel()
	if err != nil || res.Code != 1 || strings.Count(res.Stderr, "\n") != 1 || !strings.Contains(res.Stderr, "stop it first") {
		t.Fatalf("restore under the running daemon: exit %d %v\n%s", res.Code, err, res.Stderr)
	}
}
