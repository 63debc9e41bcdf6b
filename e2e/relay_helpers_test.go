package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"weft/api"
	"weft/obs"
	"weft/store"
)

// The relay's side of the harness (the relay process itself is
// supervised by proc, like the daemons): daemons that know only the relay,
// and what the relay tests read and compare.

// relayNet is a relay and daemons that are given only the relay: no
// bootstrap peers, no mDNS, no DHT (the harness's daemons run with
// --no-mdns --no-dht). The daemons get the relay through WEFT_RELAYS,
// the same setting as --relay (the daemon harness takes no extra flags).
type relayNet struct {
	t     testing.TB
	c     *cluster // the daemons, their clean-up and logs
	relay *relayProc
}

// newRelayNet prepares a relay "R" and n daemons A, B, … (nothing started).
func newRelayNet(t testing.TB, n int, syncInterval string) *relayNet {
	t.Helper()
	c := newCluster(t, n, syncInterval)
	root := filepath.Dir(c.ds[0].dir)
	return &relayNet{t: t, c: c, relay: newRelay(t, "R", filepath.Join(root, "R"))}
}

// add prepares one more daemon (not started), with an empty store.
func (n *relayNet) add(name, syncInterval string) *daemon { return n.c.add(name, syncInterval) }

// start (re)starts d with the relay as its only peer and waits until it is
// connected to the relay.
func (n *relayNet) start(d *daemon, env ...string) {
	n.t.Helper()
	d.start(n.t, nil, append([]string{"WEFT_RELAYS=" + n.relay.multiaddr()}, env...)...)
	waitPeer(n.t, d, n.relay.id())
}

// Reading the daemons.

// covers reports whether acked includes version v (agent → next seq), and
// if not, which agent falls short.
func coversVersion(acked, v map[string]uint64) (bool, string) {
	for _, agent := range slices.Sorted(maps.Keys(v)) {
		if acked[agent] < v[agent] {
			return false, fmt.Sprintf("%s: %d < %d", agent, acked[agent], v[agent])
		}
	}
	return true, ""
}

// mergeMax raises into to at least from, agent by agent.
func mergeMax(into, from map[string]uint64) {
	for a, n := range from {
		if n > into[a] {
			into[a] = n
		}
	}
}

// waitAcked waits until d's relay_acked for doc covers its own version
// and returns that version.
func waitAcked(t testing.TB, d *daemon, doc string) map[string]uint64 {
	t.Helper()
	return waitAckedWithin(t, d, doc, 30*time.Second)
}

// waitAckedWithin is waitAcked with a deadline of bound (stretched under
// the race detector); it logs how long the acknowledgement took.
func waitAckedWithin(t testing.TB, d *daemon, doc string, bound time.Duration) map[string]uint64 {
	t.Helper()
	start := time.Now()
	var v map[string]uint64
	waitFor(t, bound*slow, fmt.Sprintf("%s to hear the relay acknowledge %s", d.name, doc), func() (bool, string) {
		st := d.mustDocStatus(t, doc)
		v = st.Version
		ok, why := coversVersion(st.RelayAcked, st.Version)
		return ok, fmt.Sprintf("relay_acked %v, version %v (%s)", st.RelayAcked, st.Version, why)
	})
	t.Logf("%s acknowledged after %s", doc, time.Since(start).Round(time.Millisecond))
	return v
}

// waitVersion waits until d's version of doc is exactly want (it fails at
// once if d gets ahead of want: more than was expected arrived) and
// returns d's text.
func waitVersion(t testing.TB, d *daemon, doc string, want map[string]uint64) string {
	t.Helper()
	waitFor(t, 30*time.Second*slow, fmt.Sprintf("%s's version of %s to be %v", d.name, doc, want), func() (bool, string) {
		ctx, cancel := ctxT()
		defer cancel()
		st, err := d.docStatus(ctx, doc)
		if err != nil {
			return false, err.Error()
		}
		if ok, _ := coversVersion(want, st.Version); !ok {
			t.Fatalf("%s's version of %s is %v: beyond the expected %v", d.name, doc, st.Version, want)
		}
		return maps.Equal(st.Version, want), fmt.Sprintf("version %v", st.Version)
	})
	return d.mustText(t, doc)
}

// directPeers returns the peers `weft peers --json` lists for d.
func directPeers(t testing.TB, d *daemon) []string {
	t.Helper()
	var ps []api.PeerInfo
	out := d.mustCLI(t, []string{"peers"}, "--json")
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("weft peers --json on %s printed %q: %v", d.name, out, err)
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// healthReport fetches a /readyz or /healthz report. token may be "" (the
// relay's ops address has none).
func healthReport(url, token string) (int, obs.Report, error) {
	var rep obs.Report
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, rep, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second*slow)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, rep, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, rep, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return resp.StatusCode, rep, fmt.Errorf("%s answered %d with %q: %v", url, resp.StatusCode, b, err)
	}
	return resp.StatusCode, rep, nil
}

func (d *daemon) readyz() (int, obs.Report, error) {
	d.mu.Lock()
	base, token := d.base, d.token
	d.mu.Unlock()
	return healthReport(base+"/readyz", token)
}

func (d *daemon) healthz() (int, obs.Report, error) {
	d.mu.Lock()
	base, token := d.base, d.token
	d.mu.Unlock()
	return healthReport(base+"/healthz", token)
}

// runWeft runs `weft ARGS...` (a command that needs no daemon) with a
// deadline.
func runWeft(t testing.TB, args ...string) cliResult {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	r, err := weftCmd(ctx, nil, args...)
	if err != nil {
		t.Fatalf("weft %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustWeft is runWeft that fails the test unless weft exits 0.
func mustWeft(t testing.TB, args ...string) string {
	t.Helper()
	r := runWeft(t, args...)
	if r.Code != 0 {
		t.Fatalf("weft %s: exit %d\nstderr: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Stdout
}

// describe is a report in one line: status and each failing check's error.
func describe(code int, rep obs.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d %s", code, rep.Status)
	for _, name := range slices.Sorted(maps.Keys(rep.Checks)) {
		if c := rep.Checks[name]; !c.OK {
			fmt.Fprintf(&b, "; %s: %s", name, c.Error)
		}
	}
	return b.String()
}

// waitHealth polls get until its report is healthy (200, "ok") or, when
// want is false, unhealthy (503) with exactly the checks failing listed
// (none listed: any), and returns the report.
func waitHealth(t testing.TB, what string, get func() (int, obs.Report, error), want bool, failing ...string) obs.Report {
	t.Helper()
	var rep obs.Report
	timeout := 30 * time.Second * slow
	waitFor(t, timeout, what, func() (bool, string) {
		code, r, err := get()
		if err != nil {
			return false, err.Error()
		}
		rep = r
		if want {
			return code == http.StatusOK && r.Healthy(), describe(code, r)
		}
		if code != http.StatusServiceUnavailable || r.Healthy() {
			return false, describe(code, r)
		}
		if len(failing) > 0 && !slices.Equal(r.Failing(), failing) {
			return false, describe(code, r)
		}
		return true, ""
	})
	return rep
}

// vmRSS returns a process's resident set size in bytes (/proc/PID/status).
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// relayMetric reads one unlabelled sample from the relay's /metrics.
func (r *relayProc) metric(name string) (float64, error) {
	resp, err := http.Get(r.opsURL("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("relay /metrics has no %s", name)
}

// Edits.

// editAlphabet mixes ASCII, accented letters, CJK and emoji (positions
// count code points, so multi-byte ones are worth having).
var editAlphabet = []rune("abcdefghijklmnopqrstuvwxyz     éüçñ漢字かな🙂🚀👍🏽")

func randText(rng *rand.Rand, n int) string {
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = editAlphabet[rng.IntN(len(editAlphabet))]
	}
	return string(rs)
}

// randEdit is a random insert (2 in 3) or delete within a text of chars
// code points.
func randEdit(rng *rand.Rand, chars int) api.Edit {
	if chars > 0 && rng.IntN(3) == 0 {
		pos := rng.IntN(chars)
		return api.Edit{Pos: pos, Del: 1 + rng.IntN(min(8, chars-pos))}
	}
	return api.Edit{Pos: rng.IntN(chars + 1), Ins: randText(rng, 1+rng.IntN(8))}
}

// randomEdits applies n random edits to doc on d, one request each, and
// returns the number of code points after them.
func randomEdits(t testing.TB, rng *rand.Rand, d *daemon, doc string, n int) int {
	t.Helper()
	chars := d.mustDocStatus(t, doc).Chars
	for range n {
		chars = d.mustEdit(t, doc, randEdit(rng, chars)).Chars
	}
	return chars
}

// Reading a stopped store directly.

// withStore opens the stopped store at dir, calls fn with it and its
// documents, and closes it.
func withStore(t testing.TB, dir string, fn func(s *store.Store, docs []store.DocID)) {
	t.Helper()
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatalf("opening the store in %s: %v", dir, err)
	}
	defer s.Close()
	docs, err := s.Docs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fn(s, docs)
}

// storeState describes everything the store at dir holds, to compare two
// stores exactly: install ID, and per document its title, version (heads),
// snapshot (covered version and payload digest) and each transaction
// after it with a digest of its payload.
func storeState(t testing.TB, dir string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	withStore(t, dir, func(s *store.Store, docs []store.DocID) {
		fmt.Fprintf(&b, "install %x\n", s.InstallID())
		for _, d := range docs {
			m, err := s.Meta(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			v, err := s.Version(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "doc %s %q version %v\n", d, m.Title, v)
			snap, err := s.Snapshot(ctx, d)
			switch {
			case err == nil:
				fmt.Fprintf(&b, "  snapshot covers %v sha256 %x\n", snap.Covers, sha256.Sum256(snap.Payload))
			case !errors.Is(err, store.ErrNotFound):
				t.Fatal(err)
			}
			if err := s.Stream(ctx, d, nil, func(c []store.TxnRecord) error {
				for _, r := range c {
					fmt.Fprintf(&b, "  %s/%d+%d %v sha256 %x\n", r.Agent, r.Seq, r.Len, r.Parents, sha256.Sum256(r.Payload))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	})
	return b.String()
}

// storeVersions returns the version (heads) of every document in the
// stopped store at dir.
func storeVersions(t testing.TB, dir string) map[string]map[string]uint64 {
	t.Helper()
	out := map[string]map[string]uint64{}
	withStore(t, dir, func(s *store.Store, docs []store.DocID) {
		for _, d := range docs {
			v, err := s.Version(context.Background(), d)
			if err != nil {
				t.Fatal(err)
			}
			out[d.String()] = v
		}
	})
	return out
}

// lostAcked lists, per document, the acknowledged transactions a store's
// versions do not hold ("doc agent seqs a..b"); empty when none is lost.
func lostAcked(acked, have map[string]map[string]uint64) []string {
	var lost []string
	for _, doc := range slices.Sorted(maps.Keys(acked)) {
		for _, agent := range slices.Sorted(maps.Keys(acked[doc])) {
			if h, a := have[doc][agent], acked[doc][agent]; h < a {
				lost = append(lost, fmt.Sprintf("document %s agent %s seqs %d..%d", doc, agent, h, a-1))
			}
		}
	}
	return lost
}
