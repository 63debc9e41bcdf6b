package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"weft/api"
)

// paperTrace is the automerge-paper editing trace (259,778 edits).
func paperTrace() string {
	return filepath.Join(repoRoot, "testdata", "traces", "sequential", "automerge-paper.json.gz")
}

// replaySummary is the JSON line `weft doc replay` ends with.
type replaySummary struct {
	Edits       int     `json:"edits"`
	Seconds     float64 `json:"seconds"`
	EditsPerSec float64 `json:"edits_per_sec"`
	Chars       int     `json:"chars"`
	MatchesEnd  bool    `json:"matches_end"`
}

// replayPaper types the automerge-paper trace into a new document on d and
// returns its ID.
func replayPaper(t testing.TB, d *daemon) (string, replaySummary) {
	t.Helper()
	id := strings.TrimSpace(d.mustCLI(t, []string{"doc", "new"}, "--title", "automerge-paper"))
	out := d.mustCLI(t, []string{"doc", "replay"}, id, paperTrace())
	var sum replaySummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || !sum.MatchesEnd {
		t.Fatalf("weft doc replay printed %q (%v); want a summary with matches_end", out, err)
	}
	return id, sum
}

// waitPeer waits until d is connected to peer.
func waitPeer(t testing.TB, d *daemon, peer string) {
	t.Helper()
	waitFor(t, 30*time.Second*slow, d.name+" to connect to "+peer, func() (bool, string) {
		ctx, cancel := ctxT()
		defer cancel()
		var ps []api.PeerInfo
		if err := d.call(ctx, "GET", "/api/peers", nil, &ps); err != nil {
			return false, err.Error()
		}
		return slices.ContainsFunc(ps, func(p api.PeerInfo) bool { return p.ID == peer }), fmt.Sprint(ps)
	})
}

// catchUp has d join document id with invite inv and returns how long it
// took, from the join request, until d's version was want.
func catchUp(t testing.TB, d *daemon, inv, id string, want map[string]uint64) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := ctxT()
	defer cancel()
	if info, err := d.joinInvite(ctx, inv); err != nil || info.ID != id {
		t.Fatalf("%s joining %s with an invite: %v (joined %q)", d.name, id, err, info.ID)
	}
	for {
		st, err := d.docStatus(ctx, id)
		if err != nil {
			t.Fatalf("%s: status of %s: %v", d.name, id, err)
		}
		if maps.Equal(st.Version, want) {
			return time.Since(start)
		}
		if ctx.Err() != nil || time.Since(start) > 60*time.Second*slow {
			t.Fatalf("%s did not catch up within 60s: version %v, want %v", d.name, st.Version, want)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

// A daemon with an empty store joins a document holding the whole
// automerge-paper history and reaches the identical text; it keeps it
// across a restart. (The catch-up time is measured by
// BenchmarkCatchUpPaper.)
func TestLateJoinerCatchesUpPaper(t *testing.T) {
	c := newCluster(t, 2, "") // the default 30s anti-entropy: joining must fetch at once
	a, b := c.ds[0], c.ds[1]
	c.start(a)
	start := time.Now()
	id, sum := replayPaper(t, a)
	t.Logf("replayed %d edits on A in %s (%.0f edits/s)", sum.Edits, time.Since(start).Round(time.Millisecond), sum.EditsPerSec)
	want := a.mustText(t, id)
	wantV := a.mustDocStatus(t, id).Version

	inv := mustInvite(t, a, id, "write", inviteOpts{label: "B"})
	c.start(b)
	waitPeer(t, b, a.id())
	took := catchUp(t, b, inv.Invite, id, wantV)
	as, bs := a.mustStatus(t).Counters, b.mustStatus(t).Counters
	t.Logf("B caught up in %s: A sent %d envelopes, B integrated %d transactions (gossip %d, catch-up %d)",
		took.Round(time.Millisecond), as.Replica.SyncSent, bs.Replica.RemoteTxns, bs.Replica.GossipReceived, bs.Replica.SyncReceived)
	if got := b.mustText(t, id); got != want {
		t.Fatalf("B reads %d bytes, A %d: the texts differ", len(got), len(want))
	}
	c.restart(b)
	if got := b.mustText(t, id); got != want {
		t.Fatalf("after a restart B reads %d bytes, want %d", len(got), len(want))
	}
}
