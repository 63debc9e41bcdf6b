package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"

	"weft/api"
	"weft/store"
)

// corruptTxn flips one byte in the middle of the stored transaction
// (agent, seq) of document doc in the stopped store at dir, the way a bad
// sector would.
func corruptTxn(t testing.TB, dir, doc, agent string, seq uint64) {
	t.Helper()
	d, err := badger4.NewDatastore(filepath.Join(dir, store.DBDirName), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	key := ds.RawKey(fmt.Sprintf("/docs/%s/txn/%s/%020d", doc, agent, seq))
	v, err := d.Get(ctx, key)
	if err != nil {
		t.Fatalf("the transaction to damage, %s: %v", key, err)
	}
	v[len(v)/2] ^= 0x20
	if err := d.Put(ctx, key, v); err != nil {
		t.Fatal(err)
	}
}

// TestRepairFinishes: a store damaged on disk is repaired by `weft check
// --repair`, which quarantines what it cannot trust and records the spans
// to fetch from peers; the daemon, started beside a healthy peer that has
// the document, fetches them at its catch-up and clears the list; then
// `weft check` passes and the texts agree. Without a peer, its online
// consistency check says what is left to fetch and why it cannot.
func TestRepairFinishes(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 0))
	c := newCluster(t, 2, "1s")
	a, b := c.ds[0], c.ds[1]
	c.startAll()
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "to repair"))
	share(t, a, b, id, api.RoleWrite)
	for i := range 8 {
		d := a
		if i%2 == 1 {
			d = b
		}
		d.mustEdit(t, id, randEdit(rng, len([]rune(d.mustText(t, id)))))
		c.waitConverged(id, 30*time.Second*slow)
	}
	want, text := c.waitConverged(id, 30*time.Second*slow)
	agentB := b.mustDocStatus(t, id).Agent
	a.stopClean(t)

	// A bad sector inside B's second transaction, in A's store.
	var seqs []uint64
	withStore(t, a.dir, func(s *store.Store, _ []store.DocID) {
		doc, err := store.ParseDocID(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Stream(context.Background(), doc, nil, func(c []store.TxnRecord) error {
			for _, r := range c {
				if r.Agent == agentB {
					seqs = append(seqs, r.Seq)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	if len(seqs) < 3 {
		t.Fatalf("A's store holds B's transactions at %v; want 3 or more", seqs)
	}
	corruptTxn(t, a.dir, id, agentB, seqs[1])
	if r := runWeft(t, "check", "--data", a.dir); r.Code != 1 || !strings.Contains(r.Stdout, "problem: document "+id) {
		t.Fatalf("check on the damaged store: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	r := runWeft(t, "check", "--data", a.dir, "--repair")
	if r.Code != 1 || !strings.Contains(r.Stdout, "document "+id+": to fetch from peers: ") || !strings.Contains(r.Stdout, agentB) {
		t.Fatalf("repair: exit %d (want 1: spans left to fetch)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// Alone, the repaired daemon's consistency check says what it cannot
	// do and why.
	b.stopClean(t)
	c.start(a)
	rep := waitHealth(t, "A's consistency check to name what it cannot fetch", a.readyz, false)
	if ch := rep.Checks["consistency"]; ch.OK || !strings.Contains(ch.Error, "document "+id+": ") || !strings.Contains(ch.Error, agentB) || !strings.Contains(ch.Error, "none of its peers is connected") {
		t.Fatalf("A's consistency check alone: %+v", rep.Checks)
	}

	// Beside the healthy peer, the repaired daemon fetches the spans.
	c.start(b)
	started := time.Now()
	// Its log says how (a record under the checkpoint is stored back; one
	// above the version comes by ordinary catch-up).
	waitFor(t, 60*time.Second*slow, "A to fetch what the repair recorded", func() (bool, string) {
		st := a.mustDocStatus(t, id)
		b, err := os.ReadFile(a.logPath)
		said := err == nil && (strings.Contains(string(b), "fetched from peers every span a repair recorded") || strings.Contains(string(b), "stored transactions a repair asked for"))
		return len(st.Fetch) == 0 && coversAll(st.Version, want) && said, fmt.Sprintf("to fetch %v, version %v, want %v, logged: %v", st.Fetch, st.Version, want, said)
	})
	t.Logf("the list was empty %s after the peer started", time.Since(started).Round(time.Millisecond))
	if got := a.mustText(t, id); got != text {
		t.Fatalf("A's text after the fetch: %q, want %q", got, text)
	}
	a.stopClean(t)
	if r := runWeft(t, "check", "--data", a.dir); r.Code != 0 || !strings.Contains(r.Stdout, "healthy") {
		t.Fatalf("check after the fetch: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := runWeft(t, "check", "--data", a.dir, "--repair"); r.Code != 0 || strings.Contains(r.Stdout, "to fetch") {
		t.Fatalf("check --repair after the fetch (nothing left to fetch): exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// coversAll reports whether version v holds every seq of want.
func coversAll(v, want map[string]uint64) bool {
	for a, n := range want {
		if v[a] < n {
			return false
		}
	}
	return true
}

// agentSeqs lists the first seqs of agent's transactions of document id
// in the stopped store at dir.
func agentSeqs(t *testing.T, dir, id, agent string) []uint64 {
	t.Helper()
	var seqs []uint64
	withStore(t, dir, func(s *store.Store, _ []store.DocID) {
		doc, err := store.ParseDocID(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Stream(context.Background(), doc, nil, func(c []store.TxnRecord) error {
			for _, r := range c {
				if r.Agent == agent {
					seqs = append(seqs, r.Seq)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	return seqs
}

// TestRepairOwnTransactions: the daemon loses one of its own transactions
// (killed, so no checkpoint covers them; then a bad sector). After the
// repair its version of its own agent is lower than what its peers hold,
// so it refuses new edits — they would reuse those seqs with other
// content, a fork — until catch-up has brought its transactions back;
// then it edits again and no peer sees a fork.
func TestRepairOwnTransactions(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 2))
	c := newCluster(t, 2, "1s")
	a, b := c.ds[0], c.ds[1]
	c.startAll()
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "own"))
	share(t, a, b, id, api.RoleWrite)
	for range 6 {
		a.mustEdit(t, id, randEdit(rng, len([]rune(a.mustText(t, id)))))
	}
	want, text := c.waitConverged(id, 30*time.Second*slow)
	agentA := a.mustDocStatus(t, id).Agent
	a.stop(t, syscall.SIGKILL)
	b.stopClean(t)

	seqs := agentSeqs(t, a.dir, id, agentA)
	if len(seqs) < 3 {
		t.Fatalf("A's store holds its transactions at %v; want 3 or more", seqs)
	}
	corruptTxn(t, a.dir, id, agentA, seqs[1])
	if r := runWeft(t, "check", "--data", a.dir, "--repair"); r.Code != 1 || !strings.Contains(r.Stdout, "to fetch from peers: ") || !strings.Contains(r.Stdout, agentA) {
		t.Fatalf("repair: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	c.start(a)
	ctx, cancel := ctxT()
	_, err := a.edit(ctx, id, api.Edit{Pos: 0, Ins: "too soon"})
	cancel()
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.Contains(ae.Msg, "own transactions") {
		t.Fatalf("an edit while A waits for its own transactions: %v; want 503 naming them", err)
	}
	c.start(b)
	waitFor(t, 60*time.Second*slow, "A to fetch its own transactions back", func() (bool, string) {
		st := a.mustDocStatus(t, id)
		return len(st.Fetch) == 0 && coversAll(st.Version, want), fmt.Sprintf("to fetch %v, version %v, want %v", st.Fetch, st.Version, want)
	})
	if got := a.mustText(t, id); got != text {
		t.Fatalf("A's text after the fetch: %q, want %q", got, text)
	}
	a.mustEdit(t, id, api.Edit{Pos: 0, Ins: "after"})
	c.waitConverged(id, 30*time.Second*slow)
	for _, d := range c.ds {
		if f := d.mustDocStatus(t, id).Forks; len(f) != 0 {
			t.Fatalf("daemon %s sees forks %v", d.name, f)
		}
	}
}
