package store

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

var retentionSeed = flag.Uint64("retention-seed", 0, "seed of the random retention test (0: from the clock)")

// day returns midnight UTC of 2026-01-01 plus n days.
func day(n int) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }

func TestRetentionPolicy(t *testing.T) {
	// Four backups a day (00, 06, 12, 18h) for 60 days.
	var names []string
	for d := 0; d < 60; d++ {
		for h := 0; h < 24; h += 6 {
			names = append(names, backupName(day(d).Add(time.Duration(h)*time.Hour), ""))
		}
	}
	at := func(d, h int) string { return backupName(day(d).Add(time.Duration(h)*time.Hour), "") }
	now := day(59).Add(18*time.Hour + time.Minute)
	keepSet := func(r Retention, keep string) []string {
		del := r.pruneSet(names, now, keep)
		var kept []string
		for _, n := range names {
			if !slices.Contains(del, n) {
				kept = append(kept, n)
			}
		}
		return kept
	}
	same := func(t *testing.T, got, want []string) {
		t.Helper()
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("kept\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	t.Run("last 5 and daily for 7 days", func(t *testing.T) {
		want := []string{at(59, 0), at(59, 6), at(59, 12), at(59, 18), at(58, 18)} // the 5 newest
		for d := 53; d <= 57; d++ {
			want = append(want, at(d, 18)) // the newest of each of the 7 days (58 and 59 are in already)
		}
		same(t, keepSet(Retention{KeepLast: 5, KeepDaily: 7}, at(59, 18)), want)
	})
	t.Run("daily only", func(t *testing.T) {
		var want []string
		for d := 57; d <= 59; d++ {
			want = append(want, at(d, 18))
		}
		same(t, keepSet(Retention{KeepDaily: 3}, ""), want)
	})
	t.Run("the backup just written is never deleted", func(t *testing.T) {
		same(t, keepSet(Retention{KeepLast: 1}, at(10, 6)), []string{at(10, 6), at(59, 18)})
	})
	t.Run("zero keeps everything", func(t *testing.T) {
		if del := (Retention{}).pruneSet(names, now, ""); len(del) != 0 {
			t.Fatalf("zero Retention deletes %d", len(del))
		}
	})
	t.Run("labelled, foreign and future backups stay", func(t *testing.T) {
		extra := []string{
			backupName(day(1), "pre-migration-v2"),
			"weft-backup-notatime.wbk",
			"weft-backup-20260101T000000Z.wbk", // not the canonical form
			backupName(now.Add(time.Hour), ""), // from a clock ahead of ours
		}
		del := (Retention{KeepLast: 1}).pruneSet(append(slices.Clone(names), extra...), now, "")
		for _, e := range extra {
			if slices.Contains(del, e) {
				t.Errorf("deleted %s", e)
			}
		}
		if len(del) != len(names) { // the future one takes the single slot
			t.Errorf("deleted %d of %d", len(del), len(names))
		}
	})
}

// TestRetentionRandom checks the policy's promises on random histories:
// the backup just written stays, the KeepLast newest stay, each of the last
// KeepDaily days that has backups keeps its newest, and nothing else stays.
func TestRetentionRandom(t *testing.T) {
	seed := *retentionSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	defer func() {
		if t.Failed() {
			t.Logf("seed %d (rerun with -retention-seed=%d)", seed, seed)
		}
	}()
	for round := 0; round < 300; round++ {
		n := rng.IntN(80)
		seen := map[string]bool{}
		var names []string
		var times []time.Time
		for len(names) < n {
			at := day(0).Add(time.Duration(rng.Int64N(int64(40 * 24 * time.Hour))))
			if nm := backupName(at, ""); !seen[nm] {
				seen[nm] = true
				names, times = append(names, nm), append(times, at)
			}
		}
		now := day(rng.IntN(45)).Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		r := Retention{KeepLast: rng.IntN(6), KeepDaily: rng.IntN(10)}
		keep := ""
		if n > 0 && rng.IntN(2) == 0 {
			keep = names[rng.IntN(n)]
		}
		del := r.pruneSet(names, now, keep)
		if !r.Enabled() {
			if len(del) != 0 {
				t.Fatalf("round %d: disabled policy deleted %v", round, del)
			}
			continue
		}
		// The reference: what must stay, computed the slow way.
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool { return times[order[a]].After(times[order[b]]) })
		must := map[string]bool{}
		for rank, i := range order {
			if rank < r.KeepLast || names[i] == keep || times[i].After(now) {
				must[names[i]] = true
			}
		}
		for k := 0; k < r.KeepDaily; k++ {
			d0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -k)
			for _, i := range order { // newest first: the first in the day is its newest
				if !times[i].Before(d0) && times[i].Before(d0.AddDate(0, 0, 1)) {
					must[names[i]] = true
					break
				}
			}
		}
		for _, nm := range names {
			if must[nm] == slices.Contains(del, nm) {
				t.Fatalf("round %d (%+v, now %s, keep %q): %s: must keep %v, deleted %v", round, r, now, keep, nm, must[nm], slices.Contains(del, nm))
			}
		}
	}
}

func TestBackupAndPruneDirectory(t *testing.T) {
	ctx := context.Background()
	c := newFakeClock(day(0).Add(9 * time.Hour))
	s := clockedStore(t, c)
	sink := &DirSink{Dir: t.TempDir()}
	// Keep a labelled backup and a stray file beside: retention leaves them.
	if _, err := s.backup(ctx, sink, "pre-migration-v2", nil); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(sink.Dir, "notes.txt")
	os.WriteFile(stray, []byte("mine"), 0o600)
	r := Retention{KeepLast: 2, KeepDaily: 3}
	// Three backups a day for five days.
	for d := 0; d < 5; d++ {
		for _, h := range []int{10, 14, 18} {
			c.Advance(day(d).Add(time.Duration(h) * time.Hour).Sub(c.Now()))
			info, deleted, err := s.BackupAndPrune(ctx, sink, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(deleted, info.Name) {
				t.Fatal("pruned the backup just written")
			}
		}
	}
	want := []string{
		backupName(day(0).Add(9*time.Hour), "pre-migration-v2"),
		backupName(day(2).Add(18*time.Hour), ""), // daily, 3 days back
		backupName(day(3).Add(18*time.Hour), ""), // daily
		backupName(day(4).Add(14*time.Hour), ""), // last 2
		backupName(day(4).Add(18*time.Hour), ""), // last 2 and daily
	}
	sort.Strings(want)
	if got := backupNames(t, sink); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("kept\n%v\nwant\n%v", got, want)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Fatal("retention removed a file that is not a backup")
	}
	// What stays restores.
	if _, err := Restore(ctx, sink, want[1], t.TempDir(), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	// A sink that cannot delete: the backup is written, pruning fails.
	ro := readOnlySink{sink}
	c.Advance(time.Hour)
	info, _, err := s.BackupAndPrune(ctx, ro, r, nil)
	if !errors.Is(err, ErrPrune) || info.Name == "" {
		t.Fatalf("prune on a read-only sink: %+v %v", info, err)
	}
	if _, _, err := s.BackupAndPrune(ctx, sink, Retention{KeepLast: -1}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative retention: %v", err)
	}
}
