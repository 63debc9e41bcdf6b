package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"weft/internal/trace"
)

func newTraceCmd() *cobra.Command {
	c := &cobra.Command{Use: "trace", Short: "Work with editing traces"}
	var runs int
	replay := &cobra.Command{
		Use:   "replay FILE...",
		Short: "Replay editing traces (.json or .json.gz) and print their figures as JSON lines",
		Long: `Replay editing traces and print one JSON line per file:
{"file","kind","txns","patches","agents","replay_ms","final_chars","matches_end",
 "snapshot_bytes","load_ms","heap_bytes"}

Sequential traces are typed by one agent, every patch its own local
transaction. Concurrent traces are typed with one replica per agent, each
transaction on the merge of its parents, then merged into a fresh replica.
replay_ms and load_ms are medians of --runs timed runs after one warm-up.
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
				f, err := trace.Measure(file, t, runs)
				if err != nil {
					return withCode(2, fmt.Errorf("%s: %w", file, err))
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
