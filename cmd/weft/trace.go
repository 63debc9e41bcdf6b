package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"weft/crdt"
	"weft/internal/trace"
)

// replayFigures are trace.Figures plus, for concurrent traces, merge_ms.
type replayFigures struct {
	trace.Figures
	MergeMS *float64 `json:"merge_ms,omitempty"`
}

// measureMerge is merge_ms: the median of runs timed merges (after one
// warm-up) of every transaction the authors' replicas made, from its wire
// bytes (EncodeTxn) in trace order, into a fresh replica, and the read of
// its text. A daemon's catch-up sends a joining peer exactly these: the
// stored transactions, one each, in the order its log holds them (a causal
// order). It also checks that the merged text is the trace's endContent.
func measureMerge(t *trace.Trace, runs int) (float64, bool, error) {
	c, err := trace.ReplayConcurrent(t)
	if err != nil {
		return 0, false, err
	}
	all := c.All()
	c = nil
	wire := make([][]byte, len(all))
	for i, tx := range all {
		if wire[i], err = crdt.EncodeTxn(tx); err != nil {
			return 0, false, err
		}
	}
	all = nil
	ok := true
	var times []time.Duration
	for run := 0; run <= runs; run++ {
		runtime.GC()
		start := time.Now()
		d, err := crdt.New("merge")
		if err != nil {
			return 0, false, err
		}
		for i, w := range wire {
			tx, err := crdt.DecodeTxn(w)
			if err != nil {
				return 0, false, fmt.Errorf("decoding transaction %d: %w", i, err)
			}
			if _, err := d.Apply(tx); err != nil {
				return 0, false, fmt.Errorf("merging transaction %d: %w", i, err)
			}
		}
		text := d.Text()
		times = append(times, time.Since(start))
		ok = ok && text == t.End && d.Pending() == 0
	}
	times = times[1:]
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return float64(times[len(times)/2].Microseconds()) / 1000, ok, nil
}

func newTraceCmd() *cobra.Command {
	c := &cobra.Command{Use: "trace", Short: "Work with editing traces"}
	var runs int
	replay := &cobra.Command{
		Use:   "replay FILE...",
		Short: "Replay editing traces (.json or .json.gz) and print their figures as JSON lines",
		Long: `Replay editing traces and print one JSON line per file:
{"file","kind","txns","patches","agents","replay_ms","final_chars","matches_end",
 "snapshot_bytes","load_ms","load_all_ms","heap_bytes","merge_ms" (concurrent traces)}

Sequential traces are typed by one agent, every patch its own local
transaction. Concurrent traces are typed with one replica per agent, each
transaction on the merge of its parents, then merged into a fresh replica. merge_ms (concurrent
traces) times that merge alone, from wire bytes as catch-up sends them: every
transaction the authors' replicas made, encoded, decoded and applied in trace
order into a fresh replica, and its text read.
load_ms opens the final document's snapshot the way a replica opens its own
(the text readable and the version known, the history read when first
needed) and reads its text; load_all_ms reads the history too.
replay_ms, merge_ms, load_ms and load_all_ms are medians of --runs timed runs after one warm-up.
Exit status: 0 if every trace reaches its endContent, 1 if one does not,
2 if a file cannot be read.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, files []string) error {
			if runs < 1 || runs > 1000 {
				return withCode(2, fmt.Errorf("trace replay: --runs %d: want 1 to 1000", runs))
			}
			enc := json.NewEncoder(c.OutOrStdout())
			mismatch := 0
			for _, file := range files {
				t, err := trace.Load(file)
				if err != nil {
					return withCode(2, err)
				}
				m, err := trace.Measure(file, t, runs)
				if err != nil {
					return withCode(2, fmt.Errorf("%s: %w", file, err))
				}
				f := replayFigures{Figures: m}
				if t.Kind == trace.Concurrent {
					ms, ok, err := measureMerge(t, runs)
					if err != nil {
						return withCode(2, fmt.Errorf("%s: merge: %w", file, err))
					}
					f.MergeMS, f.MatchesEnd = &ms, f.MatchesEnd && ok
				}
				if err := enc.Encode(f); err != nil {
					return err
				}
				if !f.MatchesEnd {
					mismatch++
				}
			}
			if mismatch > 0 {
				return withCode(1, errors.New(plural(mismatch, "trace did", "traces did")+" not reach its endContent"))
			}
			return nil
		},
	}
	replay.Flags().IntVar(&runs, "runs", 5, "timed runs per file (after one warm-up); the medians are printed")
	c.AddCommand(replay)
	return c
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
