package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"weft/api"
	"weft/crdt"
	"weft/replica"
	"weft/ui"
)

// History commands (issue 13): log, cat --at, diff, blame and restore,
// through the running daemon's history routes (ui/history.go). A VERSION
// is the printable form of a frontier (agent@seq,…; "0" is the empty
// document) as log, blame and status print it; wherever one is taken an
// RFC 3339 time is taken too (the version at that time, by the authors'
// clocks).

// version checks that s is a VERSION or TIME.
func (a *docArgs) version(what, s string) string {
	_, ferr := crdt.ParseFrontier(s)
	_, terr := time.Parse(time.RFC3339Nano, s)
	a.check(ferr == nil || terr == nil, "%s %q is neither a version (agent@seq,…; 0 for the empty document) nor an RFC 3339 time", what, s)
	return s
}

// since reads --since: an RFC 3339 time, or a duration back from now
// ("2h", "30m").
func (a *docArgs) since(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t
	}
	d, err := time.ParseDuration(s)
	a.check(err == nil && d >= 0, "--since %q is neither an RFC 3339 time nor a duration such as 2h", s)
	return time.Now().Add(-d)
}

func docLogCmd(data *string) *cobra.Command {
	var since string
	var asJSON bool
	c := &cobra.Command{
		Use:   "log ID [--since TIME] [--json]",
		Short: "Print a document's history as editing sessions, newest first",
		Long: `Print a document's history as editing sessions, newest first: an
author's edits with no pause of 5 minutes or more, with the time span,
code points inserted and deleted, and the version right after the session
(for weft doc cat --at, diff and restore). Times are the authors' clocks;
one more than 5 minutes ahead of this machine's is marked "(future)".
--since takes an RFC 3339 time or a duration back from now (2h).`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			from := a.since(since)
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			path := "/api/docs/" + id + "/history"
			if !from.IsZero() {
				path += "?since=" + url.QueryEscape(from.UTC().Format(time.RFC3339Nano))
			}
			var h api.History
			if err := cl.call(c.Context(), "GET", path, nil, &h); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndent(c.OutOrStdout(), h)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tWHO\tCHANGES\tVERSION")
			for _, s := range h.Sessions {
				who := s.Agent
				if len(who) > 12 {
					who = who[:12] + "…"
				}
				if s.Device != "" {
					who = displayCell(s.Device) + " (" + who + ")"
				}
				changes := fmt.Sprintf("+%d −%d", s.Inserted, s.Deleted)
				if s.Titles > 0 {
					changes += fmt.Sprintf(", %d renames", s.Titles)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", displaySpan(s.Start, s.End, s.Future), who, changes, s.Version)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&since, "since", "", "only sessions that end at or after this time (RFC 3339, or a duration back from now such as 2h)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the daemon's JSON reply")
	return c
}

func displayMillis(m api.Millis) string {
	if m == 0 {
		return "unknown"
	}
	return time.UnixMilli(int64(m)).Local().Format("2006-01-02 15:04:05")
}

func displaySpan(start, end api.Millis, future bool) string {
	s := displayMillis(start)
	if end != start {
		e := displayMillis(end)
		if len(s) == len(e) && s[:10] == e[:10] {
			e = e[11:] // the same day
		}
		s += " – " + e
	}
	if future {
		s += " (future)"
	}
	return s
}

// catAt prints the text at a version (weft doc cat --at).
func catAt(c *cobra.Command, cl *apiClient, id, at string) error {
	var t api.TextAt
	if err := cl.call(c.Context(), "GET", "/api/docs/"+id+"/text?at="+url.QueryEscape(at), nil, &t); err != nil {
		return err
	}
	_, err := io.WriteString(c.OutOrStdout(), t.Text)
	return err
}

func docDiffCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "diff ID FROM [TO]",
		Short: "Print the unified diff of a document's text from one version to another (default: the current one)",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return usageErr(c, "want ID FROM [TO], got %s", plural(len(args), "argument", "arguments"))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			q := url.Values{"from": {a.version("FROM", args[1])}}
			if len(args) == 3 {
				q.Set("to", a.version("TO", args[2]))
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var d api.Diff
			if err := cl.call(c.Context(), "GET", "/api/docs/"+id+"/diff?"+q.Encode(), nil, &d); err != nil {
				return err
			}
			_, err := io.WriteString(c.OutOrStdout(), d.Diff)
			return err
		},
	}
}

func docBlameCmd(data *string) *cobra.Command {
	var at string
	var asJSON bool
	c := &cobra.Command{
		Use:   "blame ID [--at VERSION|TIME] [--json]",
		Short: "Print each line of a document with who last changed it and when",
		Args:  nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			path := "/api/docs/" + id + "/blame"
			if at != "" {
				path += "?at=" + url.QueryEscape(a.version("--at", at))
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var b api.Blame
			if err := cl.call(c.Context(), "GET", path, nil, &b); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndent(c.OutOrStdout(), b)
			}
			w := c.OutOrStdout()
			for _, l := range b.Lines {
				who := l.Agent
				if len(who) > 12 {
					who = who[:12] + "…"
				}
				if l.Device != "" {
					who = displayCell(l.Device)
				}
				when := displayMillis(l.Time)
				if l.Future {
					when += " (future)"
				}
				fmt.Fprintf(w, "%-16s %-19s %5d│ %s\n", who, when, l.Line, strings.ReplaceAll(l.Text, "\r", `\r`))
			}
			return nil
		},
	}
	c.Flags().StringVar(&at, "at", "", "the version (or RFC 3339 time) to blame (default: the current one)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the daemon's JSON reply")
	return c
}

func docRestoreCmd(data *string) *cobra.Command {
	var to string
	c := &cobra.Command{
		Use:   "restore ID --to VERSION|TIME",
		Short: "Make a document's text what it was at a version, as new edits by this device",
		Long: `Make a document's current text what it was at a version (or time), as
new edits by this device: the fewest code points deleted and inserted, in
one transaction, so that it reaches every member like any edit and can
itself be restored away (weft doc log shows the version before it).`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			a.check(to != "", "--to is required: a version or an RFC 3339 time")
			if to != "" {
				a.version("--to", to)
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var res api.Restored
			if err := cl.call(c.Context(), "POST", "/api/docs/"+id+"/restore", api.RestoreRequest{To: to}, &res); err != nil {
				return err
			}
			if res.Edits == 0 {
				fmt.Fprintf(c.OutOrStdout(), "the text already is that version's; nothing to change (version %s)\n", res.Version)
				return nil
			}
			fmt.Fprintf(c.OutOrStdout(), "restored with %s; now at version %s\n", plural(res.Edits, "edit", "edits"), res.Version)
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "the version (or RFC 3339 time) whose text to restore")
	return c
}

// The daemon serves the history routes from its replica.
var _ ui.HistoryBackend = (*replica.Manager)(nil)
