package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"weft/api"
)

// daemonCmd makes a command without arguments that asks the running
// daemon of --data something and prints the answer as a table, or as JSON
// with --json; run gets the client.
func daemonCmd(use, short string, run func(c *cobra.Command, cl *apiClient, asJSON bool) error) *cobra.Command {
	var data string
	var asJSON bool
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  nArgs(""),
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := dialDaemon(data)
			if err != nil {
				return err
			}
			return run(c, cl, asJSON)
		},
	}
	c.Flags().StringVar(&data, "data", "", "data directory of the daemon to talk to (default: $XDG_DATA_HOME/weft)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

func newPeersCmd() *cobra.Command {
	return daemonCmd("peers [--json]", "List the peers the running daemon is connected to",
		func(c *cobra.Command, cl *apiClient, asJSON bool) error {
			var peers []api.PeerInfo
			if err := cl.call(c.Context(), "GET", "/api/peers", nil, &peers); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndent(c.OutOrStdout(), peers)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER ID\tADDRESSES")
			for _, p := range peers {
				fmt.Fprintf(tw, "%s\t%s\n", p.ID, strings.Join(p.Addrs, " "))
			}
			return tw.Flush()
		})
}

func newStatusCmd() *cobra.Command {
	return daemonCmd("status [--json]", "Show the running daemon's peer ID, addresses, documents, peers and health (exit status 1 when unhealthy)",
		func(c *cobra.Command, cl *apiClient, asJSON bool) error {
			var st api.NodeStatus
			if err := cl.call(c.Context(), "GET", "/api/status", nil, &st); err != nil {
				return err
			}
			health, err := cl.health(c.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSONIndent(c.OutOrStdout(), statusJSON{st, health}); err != nil {
					return err
				}
				return unhealthy(health)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "peer ID\t%s\n", st.PeerID)
			fmt.Fprintf(tw, "API\t%s\n", st.API)
			fmt.Fprintf(tw, "data\t%s\n", st.DataDir)
			fmt.Fprintf(tw, "documents\t%d (%d open)\n", st.Docs, st.Open)
			fmt.Fprintf(tw, "peers\t%d\n", st.Peers)
			fmt.Fprintf(tw, "version\t%s\n", st.Version)
			for i, a := range st.Addrs {
				label := ""
				if i == 0 {
					label = "addresses"
				}
				fmt.Fprintf(tw, "%s\t%s\n", label, a)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if err := printHealth(c.OutOrStdout(), health); err != nil {
				return err
			}
			return unhealthy(health)
		})
}
