package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"weft/api"
	"weft/obs"
)

// The relay's multi-process tests (issue 6). Every daemon is given only
// the relay (WEFT_RELAYS, the --relay setting; no bootstrap peers, no mDNS,
// no DHT), so whatever reaches it came through the relay.

// Three processes: A edits and the relay acknowledges; A stops; B, with an
// empty store, joins and gets everything from the relay; B edits and
// stops; A returns and gets B's edits, from the relay alone.
func TestRelayCarriesEditsBetweenDaemonsNeverOnlineTogether(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 1))
	n := newRelayNet(t, 2, "")
	a, b := n.c.ds[0], n.c.ds[1]
	n.relay.start(t, nil)
	n.start(a)

	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "relay-notes"))
	host(t, a, n.relay, id)
	a.mustCLI(t, []string{"doc", "insert"}, id, "0", "Notes from A 🙂\n")
	randomEdits(t, rng, a, id, 40)
	vA := waitAcked(t, a, id) // "saved on relay"
	textA := a.mustText(t, id)
	inv := mustInvite(t, a, id, "write", inviteOpts{label: "B"})
	a.stopClean(t)

	n.start(b)
	mustJoin(t, b, inv)
	if got := waitVersion(t, b, id, vA); got != textA {
		t.Fatalf("B joined while A was gone and reads %q, A wrote %q", got, textA)
	}
	if slices.Contains(directPeers(t, b), a.id()) {
		t.Fatal("B is connected to A, which is stopped")
	}
	b.mustCLI(t, []string{"doc", "insert"}, id, "0", "B was here. ")
	randomEdits(t, rng, b, id, 30)
	vB := waitAcked(t, b, id)
	textB := b.mustText(t, id)
	if ok, _ := coversVersion(vB, vA); !ok || maps.Equal(vB, vA) {
		t.Fatalf("B's version %v does not extend A's %v", vB, vA)
	}
	b.stopClean(t)

	n.start(a)
	if got := waitVersion(t, a, id, vB); got != textB {
		t.Fatalf("A came back and reads %q, B wrote %q", got, textB)
	}
	if c := a.mustStatus(t).Counters; c == nil || c.Replica.SyncReceived == 0 {
		t.Fatalf("A's counters %+v: B's edits did not come by catch-up from the relay", c)
	}
}

// A daemon that can reach only the relay exchanges live edits with other
// daemons: three daemons, each given only the relay, are never connected
// to each other, yet every edit reaches the others by gossip that the
// relay routes (their own anti-entropy is an hour away, and their
// catch-up counters do not move while edits flow). A daemon that was
// stopped catches up from the relay when it returns.
func TestRelayRoutesLiveEditsBetweenUnconnectedDaemons(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 2))
	n := newRelayNet(t, 3, "1h")
	ds := n.c.ds
	a, b, c := ds[0], ds[1], ds[2]
	n.relay.start(t, nil)
	for _, d := range ds {
		n.start(d)
	}
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "routed"))
	host(t, a, n.relay, id)
	a.mustEdit(t, id, api.Edit{Pos: 0, Ins: "start "})
	v0 := waitAcked(t, a, id)
	for _, d := range []*daemon{b, c} {
		share(t, a, d, id, "write")
		waitVersion(t, d, id, v0)
	}
	// Everyone on the topic, by way of the relay only.
	waitFor(t, 30*time.Second*slow, "each daemon to have the relay, and only the relay, as the document's topic peer", func() (bool, string) {
		for _, d := range ds {
			st := d.mustDocStatus(t, id)
			if !slices.Equal(st.Peers, []string{n.relay.id()}) {
				return false, fmt.Sprintf("%s's topic peers: %v", d.name, st.Peers)
			}
		}
		return true, ""
	})
	notConnected := func() {
		t.Helper()
		for _, d := range ds {
			if ps := directPeers(t, d); !slices.Equal(ps, []string{n.relay.id()}) {
				t.Fatalf("weft peers on %s lists %v; want only the relay %s", d.name, ps, n.relay.id())
			}
		}
	}
	notConnected()

	counters := func() map[*daemon]api.ReplicaCounters {
		out := map[*daemon]api.ReplicaCounters{}
		for _, d := range ds {
			out[d] = d.mustStatus(t).Counters.Replica
		}
		return out
	}
	before := counters()

	// Live, one at a time: each edit must reach the two others.
	const live = 30
	for i := range live {
		w := ds[rng.IntN(len(ds))]
		chars := w.mustDocStatus(t, id).Chars
		res := w.mustEdit(t, id, randEdit(rng, chars))
		for _, o := range ds {
			if o != w {
				waitFor(t, 10*time.Second*slow, fmt.Sprintf("edit %d of %s to reach %s", i, w.name, o.name), func() (bool, string) {
					st := o.mustDocStatus(t, id)
					ok, why := coversVersion(st.Version, res.Version)
					return ok, why
				})
			}
		}
	}
	// Live, all at once: inserts only (a concurrent delete could make
	// another writer's position run past the end).
	var wg sync.WaitGroup
	var failed atomic.Value
	for _, w := range ds {
		r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := ctxT()
			defer cancel()
			chars := 0
			for range 40 {
				res, err := w.edit(ctx, id, api.Edit{Pos: r.IntN(chars + 1), Ins: randText(r, 1+r.IntN(4))})
				if err != nil {
					failed.Store(fmt.Sprintf("%s: %v", w.name, err))
					return
				}
				chars = res.Chars
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	n.c.waitConverged(id, 30*time.Second*slow)
	after := counters()
	for _, d := range ds {
		got, was := after[d], before[d]
		if got.SyncReceived != was.SyncReceived {
			t.Errorf("%s received %d transactions by catch-up during the live phase: they were to come by gossip", d.name, got.SyncReceived-was.SyncReceived)
		}
		others := uint64(0)
		for _, o := range ds {
			if o != d {
				others += after[o].LocalTxns - before[o].LocalTxns
			}
		}
		if gossip := got.GossipReceived - was.GossipReceived; gossip < others {
			t.Errorf("%s received %d gossip messages; the others made %d transactions", d.name, gossip, others)
		}
	}
	notConnected()

	// Catch-up through the relay: C stops, A and B edit, C returns.
	c.stop(t, syscall.SIGTERM)
	randomEdits(t, rng, a, id, 10)
	waitFor(t, 10*time.Second*slow, "B to have A's edits", func() (bool, string) {
		ok, why := coversVersion(b.mustDocStatus(t, id).Version, a.mustDocStatus(t, id).Version)
		return ok, why
	})
	randomEdits(t, rng, b, id, 10)
	want := waitAcked(t, b, id)
	n.start(c)
	text := waitVersion(t, c, id, want)
	if bt := b.mustText(t, id); text != bt {
		t.Fatalf("C caught up to B's version %v but reads %q, B %q", want, text, bt)
	}
	notConnected()
}

// Backup → wipe → restore --at an earlier backup gives exactly that
// earlier state; a corrupted or truncated backup is refused and leaves
// the target as it was. The backups are taken on demand with `weft backup
// create` on the stopped relay's data directory between two phases of
// edits (scheduled ones are at least a minute apart: the relay runs with
// a schedule into another directory, and only its wiring is checked).
func TestRelayBackupRestoreAtEarlierState(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 3))
	n := newRelayNet(t, 2, "")
	a, c := n.c.ds[0], n.c.ds[1]
	r := n.relay
	root := filepath.Dir(r.dir)
	backups := filepath.Join(root, "backups")
	scheduled := []string{"--backup-to", filepath.Join(root, "scheduled"), "--backup-every", "1m", "--keep-last", "3"}
	if res := runWeft(t, append([]string{"relay", "--data", r.dir, "--backup-every", "30s"}, scheduled[:2]...)...); res.Code != 2 || strings.Count(res.Stderr, "\n") != 1 || !strings.Contains(res.Stderr, "at least a minute") {
		t.Fatalf("weft relay --backup-every 30s: exit %d, stderr %q; want 2 and one line", res.Code, res.Stderr)
	}
	r.start(t, scheduled)
	rep := waitHealth(t, "the relay with scheduled backups to be ready", func() (int, obs.Report, error) { return healthReport(r.opsURL("/readyz"), "") }, true)
	if _, ok := rep.Checks["backups"]; !ok {
		t.Fatalf("the relay's /readyz has no backups check: %+v", rep.Checks)
	}
	n.start(a)
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "backed-up"))
	other := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "second"))
	host(t, a, r, id, other)
	// C joins once the relay has been wiped and restored under a new
	// identity; as an admin it can grant that relay the pull role (the
	// grant to the old identity is all the restored store has).
	invC := mustInvite(t, a, id, "admin", inviteOpts{label: "C"})
	randomEdits(t, rng, a, id, 30)
	randomEdits(t, rng, a, other, 5)
	v1 := waitAcked(t, a, id)
	waitAcked(t, a, other)
	text1 := a.mustText(t, id)

	backup := func() {
		t.Helper()
		r.stopClean(t)
		if out := mustWeft(t, "backup", "create", "--data", r.dir, "--to", backups); !strings.HasPrefix(out, "wrote weft-backup-") {
			t.Fatalf("weft backup create printed %q", out)
		}
	}
	backup()
	state1 := storeState(t, r.dir)

	r.start(t, nil)
	randomEdits(t, rng, a, id, 30)
	a.mustEdit(t, id, api.Edit{Pos: 0, Del: 5})
	v2 := waitAcked(t, a, id)
	text2 := a.mustText(t, id)
	if text2 == text1 {
		t.Fatal("the second phase changed nothing")
	}
	backup()
	state2 := storeState(t, r.dir)
	if state1 == state2 {
		t.Fatal("the relay's store is the same after the second phase")
	}

	out := mustWeft(t, "backup", "list", "--from", backups)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIMESTAMP") {
		t.Fatalf("weft backup list printed %q; want a header and two backups", out)
	}
	first := strings.Fields(lines[1])[0]
	f := strings.Fields(lines[2])
	latestName := f[len(f)-1]

	// Wipe the relay's data directory (identity included) and restore the
	// first backup into it.
	a.stop(t, syscall.SIGTERM)
	if err := os.RemoveAll(r.dir); err != nil {
		t.Fatal(err)
	}
	if out := mustWeft(t, "backup", "restore", "--from", backups, "--at", first, "--data", r.dir); !strings.HasPrefix(out, "restored ") {
		t.Fatalf("weft backup restore printed %q", out)
	}
	if got := storeState(t, r.dir); got != state1 {
		t.Fatalf("restored --at %s:\n%s\nwant the state at the first backup:\n%s", first, got, state1)
	}
	// Served by a relay on it, the document is exactly the first phase's.
	r.peerID = "" // a new identity: the wiped key is gone
	r.start(t, nil)
	n.start(c)
	mustJoin(t, c, invC)
	host(t, c, r, id)
	if got := waitVersion(t, c, id, v1); got != text1 {
		t.Fatalf("after restoring the first backup the relay serves %q, want %q", got, text1)
	}
	if maps.Equal(v1, v2) {
		t.Fatal("the two phases have the same version")
	}
	c.stop(t, syscall.SIGTERM)
	r.stop(t, syscall.SIGTERM)

	// Damaged copies of the latest backup are refused before anything is
	// touched: into the restored directory (with --force) and into an
	// empty one.
	good, err := os.ReadFile(filepath.Join(backups, latestName))
	if err != nil {
		t.Fatal(err)
	}
	damaged := map[string][]byte{
		"a flipped byte in the middle": flip(good, len(good)/2),
		"a flipped byte in the header": flip(good, 12),
		"a flipped last byte":          flip(good, len(good)-1),
		"cut in half":                  good[:len(good)/2],
		"its last byte missing":        good[:len(good)-1],
		"a byte appended":              append(slices.Clone(good), 0),
	}
	before := storeState(t, r.dir)
	listing := dirListing(t, r.dir)
	for _, what := range slices.Sorted(maps.Keys(damaged)) {
		dir := filepath.Join(root, "damaged", strings.ReplaceAll(what, " ", "-"))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, latestName), damaged[what], 0o600); err != nil {
			t.Fatal(err)
		}
		for _, target := range []struct {
			dir   string
			force bool
		}{{r.dir, true}, {filepath.Join(root, "empty-"+filepath.Base(dir)), false}} {
			args := []string{"backup", "restore", "--from", dir, "--at", "latest", "--data", target.dir}
			if target.force {
				args = append(args, "--force")
			}
			res := runWeft(t, args...)
			if res.Code != 1 || strings.Count(res.Stderr, "\n") != 1 || !strings.HasPrefix(res.Stderr, "weft: backup restore: ") || !strings.Contains(res.Stderr, "bad backup") {
				t.Fatalf("restoring a backup with %s into %s: exit %d, stderr %q; want 1 and one line that names the problem", what, target.dir, res.Code, res.Stderr)
			}
			if target.force {
				t.Logf("%s: %s", what, strings.TrimSpace(res.Stderr))
				if got := dirListing(t, r.dir); !slices.Equal(got, listing) {
					t.Fatalf("a refused restore (%s) changed the directory: %v, was %v", what, got, listing)
				}
				if got := storeState(t, r.dir); got != before {
					t.Fatalf("a refused restore (%s) changed the store:\n%s\nwas\n%s", what, got, before)
				}
			} else if _, err := os.Stat(filepath.Join(target.dir, "db")); !os.IsNotExist(err) {
				t.Fatalf("a refused restore (%s) left a database in an empty directory (%v)", what, err)
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	out := slices.Clone(b)
	out[i] ^= 0x40
	return out
}

// dirListing lists a data directory's entries (not inside the database,
// whose files badger renames whenever it is opened), sorted.
func dirListing(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// SIGKILL of the relay under load loses no acknowledged transaction. Two
// daemons write to three documents as fast as they can; a poller records
// every version the relay acknowledges (relay_acked of the writers). The
// relay is killed mid-load. Everything it acknowledged must be in its
// store (read directly, before anything else can fill it in), must pass
// `weft check`, and must be served by the relay after its restart to a
// fresh daemon while the writers are stopped.
func TestRelaySIGKILLLosesNoAcknowledgedTransaction(t *testing.T) {
	s := seed(t)
	// Anti-entropy every second: at the end, the writers' edits that the
	// relay lost (unacknowledged ones) travel writer → relay → other
	// writer by catch-up, and the relay does not gossip what it gets that
	// way.
	n := newRelayNet(t, 3, "1s")
	a, b, c := n.c.ds[0], n.c.ds[1], n.c.ds[2]
	writers := []*daemon{a, b}
	r := n.relay
	r.start(t, nil)
	n.start(a)
	n.start(b)
	var docs []string
	var invC []api.InviteInfo // for C, which joins when A is stopped
	for i := range 3 {
		id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", fmt.Sprint("load ", i)))
		host(t, a, r, id)
		share(t, a, b, id, "write")
		invC = append(invC, mustInvite(t, a, id, "write", inviteOpts{label: "C"}))
		docs = append(docs, id)
	}

	// The load: each writer inserts at random places in random documents
	// (inserts only, so its positions stay inside the text).
	ctx, stopLoad := context.WithCancel(context.Background())
	defer stopLoad()
	var wg sync.WaitGroup
	var loadErr atomic.Value
	var requests atomic.Int64
	for i, w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(s), uint64(10+i)))
			chars := map[string]int{}
			for ctx.Err() == nil {
				id := docs[rng.IntN(len(docs))]
				edits := make([]api.Edit, 1+rng.IntN(3))
				for j := range edits {
					edits[j] = api.Edit{Pos: rng.IntN(chars[id] + 1), Ins: randText(rng, 1+rng.IntN(3))}
				}
				res, err := w.edit(context.WithoutCancel(ctx), id, edits...)
				if err != nil {
					loadErr.Store(fmt.Sprintf("%s: %v", w.name, err))
					return
				}
				chars[id] = res.Chars
				requests.Add(1)
			}
		}()
	}

	// The poller: the highest version the relay acknowledged, per
	// document, as the writers heard it.
	acked := map[string]map[string]uint64{}
	for _, id := range docs {
		acked[id] = map[string]uint64{}
	}
	poll := func() (int, error) {
		total := 0
		for _, id := range docs {
			for _, w := range writers {
				qctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*slow)
				st, err := w.docStatus(qctx, id)
				cancel()
				if err != nil {
					return 0, err
				}
				mergeMax(acked[id], st.RelayAcked)
			}
			for _, n := range acked[id] {
				total += int(n)
			}
		}
		return total, nil
	}
	var ackedBeforeKill int
	waitFor(t, 60*time.Second*slow, "the relay to acknowledge 300 transactions under load", func() (bool, string) {
		if f := loadErr.Load(); f != nil {
			t.Fatal(f)
		}
		total, err := poll()
		if err != nil {
			return false, err.Error()
		}
		ackedBeforeKill = total
		return total >= 300, fmt.Sprintf("%d acknowledged", total)
	})
	r.stop(t, syscall.SIGKILL)
	// The writers keep going for a while (the relay is gone); then the
	// load stops, and one more poll takes the acknowledgements that were
	// in flight when the relay died.
	k := requests.Load()
	waitFor(t, 30*time.Second*slow, "the writers to carry on without the relay", func() (bool, string) {
		if f := loadErr.Load(); f != nil {
			t.Fatal(f)
		}
		return requests.Load() >= k+40, fmt.Sprint(requests.Load()-k, " requests since the kill")
	})
	stopLoad()
	wg.Wait()
	if f := loadErr.Load(); f != nil {
		t.Fatal(f)
	}
	final, err := poll()
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]map[string]uint64{}
	for _, id := range docs {
		written[id] = a.mustDocStatus(t, id).Version
		mergeMax(written[id], b.mustDocStatus(t, id).Version)
	}
	t.Logf("%d requests; the relay acknowledged %d transactions (%d when it was killed); the writers hold %v", requests.Load(), final, ackedBeforeKill, written)
	for _, w := range writers {
		w.stop(t, syscall.SIGTERM)
	}

	// The relay's store, read directly after the crash.
	if lost := lostAcked(acked, storeVersions(t, r.dir)); len(lost) > 0 {
		t.Fatalf("the relay's store lacks acknowledged transactions after SIGKILL:\n%s", strings.Join(lost, "\n"))
	}
	if res := runWeft(t, "check", "--data", r.dir); res.Code != 0 || !strings.Contains(res.Stdout, "healthy") {
		t.Fatalf("weft check on the killed relay's store: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}

	// Restarted, the relay serves all of it to a fresh daemon (the
	// writers are stopped: the relay is the only source).
	r.start(t, nil)
	n.start(c)
	for _, inv := range invC {
		mustJoin(t, c, inv)
	}
	waitFor(t, 30*time.Second*slow, "a fresh daemon to get every acknowledged transaction from the restarted relay", func() (bool, string) {
		have := map[string]map[string]uint64{}
		for _, id := range docs {
			have[id] = c.mustDocStatus(t, id).Version
		}
		lost := lostAcked(acked, have)
		return len(lost) == 0, strings.Join(lost, "; ")
	})
	// And when the writers return, all three converge on everything.
	n.start(a)
	n.start(b)
	for _, id := range docs {
		v, _ := n.c.waitConverged(id, 30*time.Second*slow)
		if ok, why := coversVersion(v, written[id]); !ok {
			t.Fatalf("document %s converged at %v, short of what the writers wrote %v (%s)", id, v, written[id], why)
		}
	}
}

// /readyz turns unhealthy when storage is made unwritable (the fault
// file of WEFT_TEST_FAIL_STORAGE) and when the relay is unreachable
// (WEFT_REPLICATION_LAG=2s instead of two minutes), and recovers when the
// fault is removed and when the relay returns. The relay's own /readyz
// (on its --metrics address, no token) does the same for its storage.
func TestRelayReadyzFaultsAndRecovery(t *testing.T) {
	n := newRelayNet(t, 1, "")
	a, r := n.c.ds[0], n.relay
	root := filepath.Dir(r.dir)
	faultA, faultR := filepath.Join(root, "fault-A"), filepath.Join(root, "fault-R")
	r.start(t, nil, "WEFT_TEST_FAIL_STORAGE="+faultR)
	n.start(a, "WEFT_TEST_FAIL_STORAGE="+faultA, "WEFT_REPLICATION_LAG=2s")
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "health"))
	host(t, a, r, id)
	a.mustEdit(t, id, api.Edit{Pos: 0, Ins: "healthy"})
	waitAcked(t, a, id)
	relayReady := func() (int, obs.Report, error) { return healthReport(r.opsURL("/readyz"), "") }

	waitHealth(t, "A to be ready", a.readyz, true)
	waitHealth(t, "the relay to be ready", relayReady, true)

	// Storage fault on the daemon.
	touch(t, faultA)
	rep := waitHealth(t, "A's storage check to fail", a.readyz, false, "storage")
	if e := rep.Checks["storage"].Error; !strings.Contains(e, "storage fault injected for testing ("+faultA+" exists)") {
		t.Fatalf("A's storage check says %q", e)
	}
	statusExit(t, a, 1)
	rm(t, faultA)
	waitHealth(t, "A to recover from the storage fault", a.readyz, true)
	statusExit(t, a, 0)

	// Storage fault on the relay.
	touch(t, faultR)
	waitHealth(t, "the relay's storage check to fail", relayReady, false, "storage")
	rm(t, faultR)
	waitHealth(t, "the relay to recover from the storage fault", relayReady, true)

	// The relay goes away; A keeps editing, unacknowledged.
	r.stop(t, syscall.SIGTERM)
	res := a.mustEdit(t, id, api.Edit{Pos: 0, Ins: "offline "})
	rep = waitHealth(t, "A's replication check to fail with the relay gone", a.readyz, false, "replication")
	if e := rep.Checks["replication"].Error; !strings.Contains(e, "relay "+r.id()+" unreachable") {
		t.Fatalf("A's replication check says %q", e)
	}
	if code, h, err := a.healthz(); err != nil || code != 200 {
		t.Fatalf("A's /healthz while unready: %d %+v %v", code, h, err)
	}
	statusExit(t, a, 1)

	// It returns: A reconnects, the relay takes and acknowledges the
	// offline edit, and A is ready again.
	r.start(t, nil, "WEFT_TEST_FAIL_STORAGE="+faultR)
	waitHealth(t, "A to be ready once the relay is back", a.readyz, true)
	st := a.mustDocStatus(t, id)
	if ok, why := coversVersion(st.RelayAcked, res.Version); !ok {
		t.Fatalf("ready, but the relay has not acknowledged the offline edit: %s", why)
	}
	statusExit(t, a, 0)
}

func touch(t testing.TB, p string) {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func rm(t testing.TB, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// statusExit checks the exit status of `weft status` (1 when unhealthy).
func statusExit(t testing.TB, d *daemon, want int) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	res, err := d.cli(ctx, []string{"status"})
	if err != nil || res.Code != want {
		t.Fatalf("weft status on %s: exit %d (want %d), %v\n%s%s", d.name, res.Code, want, err, res.Stdout, res.Stderr)
	}
}
