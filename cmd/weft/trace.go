package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newTraceCmd() *cobra.Command {
	c := &cobra.Command{Use: "trace", Short: "Work with editing traces"}
	c.AddCommand(&cobra.Command{
		Use:   "replay FILE...",
		Short: "Replay editing traces and print their figures as JSON lines",
		Args:  cobra.MinimumNArgs(1),
		RunE:  func(*cobra.Command, []string) error { return withCode(2, errors.New("trace replay: not implemented yet")) },
	})
	return c
}
