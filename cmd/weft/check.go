package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"weft/replica"
	"weft/store"
)

func newCheckCmd() *cobra.Command {
	var data string
	var repair bool
	c := &cobra.Command{
		Use:   "check [--data DIR] [--repair]",
		Short: "Verify the local store; with --repair, fix what can be fixed locally",
		Long: `Verify every document in the data directory: values decode and pass their
checksums, no agent's seqs have gaps, every parent is present, the arrival log
and heads agree with the transactions, and the snapshot agrees with the log.

With --repair, damaged values are quarantined, the log and heads are rebuilt,
and spans that must come from peers are recorded for the next catch-up.

Exit status: 0 healthy (or fully repaired locally), 1 problems found or not
fully repaired, 2 usage error or the store cannot be opened.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			dir, err := dataDirFlag(data)
			if err != nil {
				return withCode(2, err)
			}
			if _, err := os.Stat(filepath.Join(dir, store.DBDirName)); err != nil {
				return withCode(2, fmt.Errorf("check: no store in %s", dir))
			}
			s, err := store.Open(dir, store.DefaultOptions())
			if err != nil {
				return withCode(2, fmt.Errorf("check: %w", err))
			}
			out := c.OutOrStdout()
			res, err := s.Check(contextOf(c), store.CheckOptions{
				Codec:  replica.StoreCodec{},
				Repair: repair,
				Report: func(p store.Problem) { fmt.Fprintln(out, "problem:", p) },
			})
			cerr := s.Close()
			if err != nil {
				return withCode(1, fmt.Errorf("check: %w", err))
			}
			if cerr != nil {
				return withCode(1, fmt.Errorf("check: %w", cerr))
			}
			fmt.Fprintf(out, "checked %d documents, %d transactions: ", res.Docs, res.Txns)
			switch {
			case res.Problems == 0:
				fmt.Fprintln(out, "healthy")
			case repair:
				fmt.Fprintf(out, "%d problems, %d not repaired\n", res.Problems, res.Unrepaired)
			default:
				fmt.Fprintf(out, "%d problems (run with --repair to fix what can be fixed locally)\n", res.Problems)
			}
			for doc, spans := range res.Fetch {
				parts := make([]string, len(spans))
				for i, sp := range spans {
					parts[i] = sp.String()
				}
				fmt.Fprintf(out, "document %s: to fetch from peers: %s\n", doc, strings.Join(parts, ", "))
			}
			if res.Quarantined > 0 {
				fmt.Fprintf(out, "%d values in quarantine\n", res.Quarantined)
			}
			if !res.Healthy() {
				return withCode(1, nil)
			}
			return nil
		},
	}
	c.Flags().StringVar(&data, "data", "", "data directory (default $XDG_DATA_HOME/weft or ~/.local/share/weft)")
	c.Flags().BoolVar(&repair, "repair", false, "repair what can be rebuilt locally and record what must be fetched from peers")
	return c
}

// contextOf returns c's context or a background one.
func contextOf(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
