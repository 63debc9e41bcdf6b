package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"weft/api"
	"weft/internal/trace"
	"weft/ui"
	"weft/vocab"
)

func newDocCmd() *cobra.Command {
	var data string
	c := &cobra.Command{
		Use:   "doc",
		Short: "Create, edit and read documents through the running daemon",
		Long: `Create, edit and read documents through the running daemon, found
through api.json in the data directory (--data, default: the default data
directory). Positions and lengths count Unicode code points. An edit
returns once the daemon has made it durable locally.

Exit status: 0 done, 1 the daemon refused or is not running, 2 bad arguments.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return withCode(2, fmt.Errorf("unknown command %q for 'weft doc' (see 'weft doc --help')", args[0]))
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	c.PersistentFlags().StringVar(&data, "data", "", "data directory of the daemon to talk to (default: $XDG_DATA_HOME/weft)")
	c.AddCommand(
		docNewCmd(&data), docJoinCmd(&data), docListCmd(&data), docCatCmd(&data),
		docInsertCmd(&data), docDeleteCmd(&data), docRenameCmd(&data),
		docReplayCmd(&data), docStatusCmd(&data),
	)
	return c
}

// nArgs wants exactly the named arguments (e.g. "ID POS TEXT").
func nArgs(names string) cobra.PositionalArgs {
	n := len(strings.Fields(names))
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
		case n == 0:
			return usageErr(c, "takes no arguments, got %s", plural(len(args), "argument", "arguments"))
		default:
			return usageErr(c, "want %s, got %s", names, plural(len(args), "argument", "arguments"))
		}
		return nil
	}
}

// usageErr is a bad-arguments error (exit 2) prefixed with the command.
func usageErr(c *cobra.Command, format string, args ...any) error {
	name := strings.TrimPrefix(c.CommandPath(), "weft ")
	return withCode(2, fmt.Errorf("%s: %s (see '%s --help')", name, fmt.Sprintf(format, args...), c.CommandPath()))
}

// docArgs checks a `weft doc` command's arguments in order and keeps the
// first bad one's error (exit 2); once they have all passed, dial finds the
// daemon. So a command reports bad arguments before a missing daemon, and
// reads as the list of what it takes.
type docArgs struct {
	c   *cobra.Command
	err error
}

// check fails with the usage error format unless ok.
func (a *docArgs) check(ok bool, format string, args ...any) {
	if !ok && a.err == nil {
		a.err = usageErr(a.c, format, args...)
	}
}

func (a *docArgs) docID(s string) string {
	_, err := vocab.ParseDocID(s)
	a.check(err == nil, "%q is not a document ID (32 lowercase hex digits, not all zero)", s)
	return s
}

// count parses a non-negative (min 0) or positive (min 1) whole number.
func (a *docArgs) count(what, s string, min int) int {
	n, err := strconv.Atoi(s)
	kind := "a whole number ≥ 0"
	if min > 0 {
		kind = "a whole number ≥ 1"
	}
	a.check(err == nil && n >= min, "%s must be %s, not %q", what, kind, s)
	return n
}

func (a *docArgs) text(what, s string) string {
	a.check(utf8.ValidString(s), "%s is not valid UTF-8", what)
	return s
}

// dial finds the daemon of the --data directory if every argument passed.
func (a *docArgs) dial(data string) *apiClient {
	if a.err != nil {
		return nil
	}
	cl, err := dialDaemon(data)
	a.err = err
	return cl
}

func docNewCmd(data *string) *cobra.Command {
	var title string
	c := &cobra.Command{
		Use:   "new [--title T]",
		Short: "Create a document and print its ID",
		Args:  nArgs(""),
		RunE: func(c *cobra.Command, _ []string) error {
			a := &docArgs{c: c}
			a.text("--title", title)
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var info api.DocInfo
			if err := cl.call(c.Context(), "POST", "/api/docs", map[string]string{"title": title}, &info); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), info.ID)
			return nil
		},
	}
	c.Flags().StringVar(&title, "title", "", "the document's title")
	return c
}

func docJoinCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "join ID",
		Short: "Join a document shared by another peer and print its ID",
		Args:  nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var info api.DocInfo
			if err := cl.call(c.Context(), "POST", "/api/docs/"+id+"/join", nil, &info); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), info.ID)
			return nil
		},
	}
}

func docListCmd(data *string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the documents this daemon has",
		Args:  nArgs(""),
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := dialDaemon(*data)
			if err != nil {
				return err
			}
			var docs []api.DocInfo
			if err := cl.call(c.Context(), "GET", "/api/docs", nil, &docs); err != nil {
				return err
			}
			if asJSON {
				return printJSONIndent(c.OutOrStdout(), docs)
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTITLE\tCHARS\tLAST OPENED")
			for _, d := range docs {
				chars := "-"
				if d.Chars >= 0 {
					chars = strconv.Itoa(d.Chars)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.ID, displayTitle(d.Title), chars, displayTime(d.LastOpened))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return c
}

// displayTitle keeps a title to one table cell.
func displayTitle(t string) string {
	if t == "" {
		return "(untitled)"
	}
	if strings.ContainsFunc(t, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return strconv.Quote(t)
	}
	return t
}

func displayTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func docCatCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "cat ID",
		Short: "Print a document's text exactly (no newline is added)",
		Args:  nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			text, err := cl.text(c.Context(), id)
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.OutOrStdout(), text)
			return err
		},
	}
}

// postEdits sends edits and waits until they are durable.
func postEdits(ctx context.Context, cl *apiClient, id string, edits []api.Edit) (api.EditResult, error) {
	var res api.EditResult
	err := cl.call(ctx, "POST", "/api/docs/"+id+"/edits", map[string]any{"edits": edits}, &res)
	return res, err
}

func docInsertCmd(data *string) *cobra.Command {
	return docEditCmd(data, "insert ID POS TEXT", "Insert TEXT at code-point position POS (use -- before a TEXT starting with -)",
		func(a *docArgs, args []string) api.Edit {
			pos, text := a.count("POS", args[1], 0), a.text("TEXT", args[2])
			a.check(text != "", "TEXT is empty")
			return api.Edit{Pos: pos, Ins: text}
		})
}

func docDeleteCmd(data *string) *cobra.Command {
	return docEditCmd(data, "delete ID POS LEN", "Delete LEN code points at code-point position POS",
		func(a *docArgs, args []string) api.Edit {
			return api.Edit{Pos: a.count("POS", args[1], 0), Del: a.count("LEN", args[2], 1)}
		})
}

// docEditCmd makes a command that makes one edit to the document named by
// its first argument (use is "NAME ID ARG…"); edit reads the other
// arguments into the edit.
func docEditCmd(data *string, use, short string, edit func(a *docArgs, args []string) api.Edit) *cobra.Command {
	_, names, _ := strings.Cut(use, " ")
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  nArgs(names),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			e := edit(a, args)
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			_, err := postEdits(c.Context(), cl, id, []api.Edit{e})
			return err
		},
	}
}

func docRenameCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "rename ID TITLE",
		Short: "Change a document's title",
		Args:  nArgs("ID TITLE"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id, title := a.docID(args[0]), a.text("TITLE", args[1])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			return cl.call(c.Context(), "PATCH", "/api/docs/"+id, map[string]string{"title": title}, nil)
		},
	}
}

func docStatusCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Print a document's state as JSON: version, peers, buffered transactions, …",
		Args:  nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var st json.RawMessage // print what the daemon says, fields and all
			if err := cl.call(c.Context(), "GET", "/api/docs/"+id+"/status", nil, &st); err != nil {
				return err
			}
			return printJSONIndent(c.OutOrStdout(), st)
		},
	}
}

func printJSONIndent(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// replaySummary is the JSON line `weft doc replay` ends with.
type replaySummary struct {
	Doc         string  `json:"doc"`
	File        string  `json:"file"`
	Edits       int     `json:"edits"`   // edits sent (the start content counts as one)
	Skipped     int     `json:"skipped"` // patches that change nothing
	Batches     int     `json:"batches"`
	Seconds     float64 `json:"seconds"`
	EditsPerSec float64 `json:"edits_per_sec"`
	Chars       int     `json:"chars"`
	MatchesEnd  bool    `json:"matches_end"`
}

func docReplayCmd(data *string) *cobra.Command {
	var batch int
	var progress bool
	c := &cobra.Command{
		Use:   "replay ID TRACE.json.gz [--batch N]",
		Short: "Type a sequential editing trace into a document as local edits",
		Long: `Type a sequential editing trace (.json or .json.gz) into a document, every
patch its own local edit, sent in batches of --batch edits; each batch
returns once durable. The document must be empty (the trace's start content
is typed first) or hold exactly the trace's start content.

Prints progress on stderr (--progress, default when stderr is a terminal)
and a final JSON line: {"doc","file","edits","skipped","batches","seconds",
"edits_per_sec","chars","matches_end"}. Exits 1 if the daemon refuses an edit
or the text does not end as the trace's endContent.`,
		Args: nArgs("ID TRACE"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			a.check(batch >= 1 && batch <= ui.MaxEdits, "--batch must be between 1 and %d, not %d", ui.MaxEdits, batch)
			if a.err != nil {
				return a.err
			}
			file := args[1]
			t, err := trace.Load(file)
			if err != nil {
				return usageErr(c, "%s", oneLine(err.Error()))
			}
			if t.Kind != trace.Sequential {
				return usageErr(c, "%s is a %s trace; replay types sequential traces only", file, t.Kind)
			}
			if !c.Flags().Changed("progress") {
				progress = isTerminal(c.ErrOrStderr())
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			return replayInto(c, cl, id, file, t, batch, progress)
		},
	}
	c.Flags().IntVar(&batch, "batch", 1000, "edits per request")
	c.Flags().BoolVar(&progress, "progress", false, "print progress on stderr (default: when stderr is a terminal)")
	return c
}

func replayInto(c *cobra.Command, cl *apiClient, id, file string, t *trace.Trace, batch int, progress bool) error {
	ctx := c.Context()
	cur, err := cl.text(ctx, id)
	if err != nil {
		return err
	}
	var edits []api.Edit
	switch {
	case cur == t.Start:
	case cur == "":
		edits = append(edits, api.Edit{Ins: t.Start})
	default:
		return withCode(1, fmt.Errorf("doc replay: document %s holds text other than the trace's start; replay into a new document (`weft doc new`)", id))
	}
	sum := replaySummary{Doc: id, File: filepath.Base(file)}
	for i := range t.Txns {
		for p := range t.PatchesOf(i) {
			if p.Del == 0 && p.Ins == "" {
				sum.Skipped++
				continue
			}
			edits = append(edits, api.Edit{Pos: p.Pos, Del: p.Del, Ins: p.Ins})
		}
	}
	errw := c.ErrOrStderr()
	nextReport := len(edits) / 10
	start := time.Now()
	for done := 0; done < len(edits); {
		n := min(batch, len(edits)-done)
		if _, err := postEdits(ctx, cl, id, edits[done:done+n]); err != nil {
			var ae *apiReplyError
			if errors.As(err, &ae) && ae.Reply.Applied != nil {
				done += *ae.Reply.Applied
			}
			return withCode(1, fmt.Errorf("doc replay: edit %d of %d: %w", done+1, len(edits), err))
		}
		done += n
		sum.Batches++
		if progress && (done >= nextReport || done == len(edits)) {
			el := time.Since(start).Seconds()
			fmt.Fprintf(errw, "replay: %d/%d edits (%d%%), %.0f edits/s\n", done, len(edits), done*100/len(edits), float64(done)/el)
			nextReport = done + len(edits)/10
		}
	}
	sum.Seconds = time.Since(start).Seconds()
	sum.Edits = len(edits)
	if sum.Seconds > 0 {
		sum.EditsPerSec = float64(sum.Edits) / sum.Seconds
	}
	final, err := cl.text(ctx, id)
	if err != nil {
		return err
	}
	sum.Chars = utf8.RuneCountInString(final)
	sum.MatchesEnd = final == t.End
	b, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.OutOrStdout(), "%s\n", b)
	if !sum.MatchesEnd {
		return withCode(1, fmt.Errorf("doc replay: the document's text is not the trace's endContent (did someone else edit it?)"))
	}
	return nil
}

// isTerminal reports whether w is a terminal (progress is for people).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
