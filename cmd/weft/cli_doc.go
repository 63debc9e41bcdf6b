package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"weft/api"
	"weft/internal/trace"
	"weft/p2p"
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

Documents are members-only: whoever creates one is its admin, and others
join with an invite (weft doc invite, then weft doc join), not with its ID.
A document made before members-only documents (role "legacy" in weft doc
list) stays readable and editable here; weft doc upgrade makes a
members-only copy of its text to share.

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
		docInviteCmd(&data), docMembersCmd(&data), docRemoveCmd(&data),
		docHostCmd(&data), docUpgradeCmd(&data),
		docLogCmd(&data), docDiffCmd(&data), docBlameCmd(&data), docRestoreCmd(&data), // cli_history.go
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
			fmt.Fprintln(tw, "ID\tTITLE\tROLE\tCHARS\tLAST OPENED")
			for _, d := range docs {
				chars := "-"
				if d.Chars >= 0 {
					chars = strconv.Itoa(d.Chars)
				}
				role := d.Role
				if role == "" {
					role = "legacy"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, displayTitle(d.Title), displayCell(role), chars, displayTime(d.LastOpened))
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

// displayCell keeps a value from the daemon (a label, a role) to one
// table cell: "-" when empty, quoted when it holds control characters.
func displayCell(v string) string {
	if v == "" {
		return "-"
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return strconv.Quote(v)
	}
	return v
}

func displayTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func docCatCmd(data *string) *cobra.Command {
	var at string
	c := &cobra.Command{
		Use:   "cat ID [--at VERSION|TIME]",
		Short: "Print a document's text exactly (no newline is added), now or at a version",
		Args:  nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			if at != "" {
				a.version("--at", at)
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			if at != "" {
				return catAt(c, cl, id, at) // cli_history.go
			}
			text, err := cl.text(c.Context(), id)
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.OutOrStdout(), text)
			return err
		},
	}
	c.Flags().StringVar(&at, "at", "", "print the text at this version (as weft doc log prints it) or RFC 3339 time")
	return c
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
		Short: "Print a document's state as JSON: version, peers, role, members, epoch, forks, …",
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

// Members-only documents.

func docInviteCmd(data *string) *cobra.Command {
	var role, label, expires string
	c := &cobra.Command{
		Use:   "invite ID --role read|write|admin|pull [--label NAME] [--expires DURATION]",
		Short: "Make an invite to a document and print it (one line)",
		Long: `Make an invite to a document and print it on stdout: one string, starting
"weft:invite/", that gives whoever holds it the role you choose. They join
with 'weft doc join INVITE', or by opening the editor link printed on
stderr. Send it privately: it carries the document's read secret (except
for pull). Only an admin may invite.

--role is required: read (read only), write (read and write), admin (write,
invite and remove), pull (store and serve ciphertext, never read: for a
relay; 'weft doc host' does it in one step).
--label names who it is for (at most 64 bytes; members and relays see it).
--expires bounds the membership it gives: a duration such as 90m, 12h or
7d (days); without it, it never expires.`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			a.check(role != "", "--role is required: read, write, admin or pull (choose what the invite lets its holder do)")
			if role != "" {
				err := ui.CheckRole(role)
				a.check(err == nil, "--role: %v", err)
			}
			err := ui.CheckLabel(label)
			a.check(err == nil, "--label: %v", err)
			var secs int64
			if c.Flags().Changed("expires") {
				secs, err = parseExpires(expires)
				a.check(err == nil, "--expires: %v", err)
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var inv api.InviteInfo
			req := api.InviteRequest{Role: role, Label: label, Expires: secs}
			if err := cl.call(c.Context(), "POST", "/api/docs/"+id+"/invites", req, &inv); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), inv.Invite)
			if inv.Role == api.RolePull {
				fmt.Fprintln(c.ErrOrStderr(), "hint: a pull invite is for a relay (weft relay --join INVITE): it stores and serves the document without reading it")
			} else if cl.base != "" {
				fmt.Fprintf(c.ErrOrStderr(), "hint: the editor joins with %s/#join=%s (on the joiner's machine, with their daemon's address)\n", cl.base, inv.Invite)
			}
			return nil
		},
	}
	c.Flags().StringVar(&role, "role", "", "what the invite allows: read, write, admin or pull (required)")
	c.Flags().StringVar(&label, "label", "", "who the invite is for (at most 64 bytes; members and relays see it)")
	c.Flags().StringVar(&expires, "expires", "", "how long the membership lasts: 90m, 12h, 7d, …  (default: never)")
	return c
}

// parseExpires parses --expires into whole seconds: a Go duration (90m,
// 12h30m) or whole days with "d" (7d), optionally followed by a Go
// duration (1d12h). It must be at least a second and at most
// ui.MaxExpires.
func parseExpires(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a duration (want one like 90m, 12h or 7d)", s)
	if s == "" {
		return 0, bad
	}
	var days int64
	rest := s
	if d, r, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 || d[0] == '+' || d[0] == '-' {
			return 0, bad
		}
		if n > ui.MaxExpires/86400 {
			return 0, fmt.Errorf("%q is more than 100 years; leave --expires out for an invite that never expires", s)
		}
		days, rest = n, r
	}
	var dur time.Duration
	if rest != "" {
		var err error
		if dur, err = time.ParseDuration(rest); err != nil || dur < 0 {
			return 0, bad
		}
	}
	secs := days*86400 + int64(dur/time.Second)
	switch {
	case secs < 1:
		return 0, fmt.Errorf("%q is less than a second; leave --expires out for an invite that never expires", s)
	case secs > ui.MaxExpires:
		return 0, fmt.Errorf("%q is more than 100 years; leave --expires out for an invite that never expires", s)
	}
	return secs, nil
}

func docJoinCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "join INVITE",
		Short: "Join a document with an invite (or its editor link) and print the document's ID",
		Long: `Join a document with an invite that a member made with 'weft doc invite'
("weft:invite/…", or the editor link "http://…/#join=weft:invite/…"), and
print the document's ID. Documents are no longer joined by their ID: ask a
member for an invite.`,
		Args: nArgs("INVITE"),
		RunE: func(c *cobra.Command, args []string) error {
			invite := strings.TrimSpace(args[0])
			if _, frag, ok := strings.Cut(invite, "#join="); ok {
				if u, err := url.PathUnescape(frag); err == nil {
					frag = u
				}
				invite = frag
			}
			if isHexID(invite) {
				return usageErr(c, "%s is a document ID; documents are joined with an invite: ask a member for one (`weft doc invite %s --role write`)", invite, strings.ToLower(invite))
			}
			a := &docArgs{c: c}
			err := ui.CheckInvite(invite)
			a.check(err == nil, "%v", err)
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var info api.DocInfo
			if err := cl.call(c.Context(), "POST", "/api/join", map[string]string{"invite": invite}, &info); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), info.ID)
			return nil
		},
	}
}

// isHexID reports whether s looks like a document ID: 32 hex digits (any
// case, so that a mistyped one gets the invite advice too).
func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// getMembers lists a document's members.
func getMembers(c *cobra.Command, cl *apiClient, id string) ([]api.MemberInfo, error) {
	var ms []api.MemberInfo
	err := cl.call(c.Context(), "GET", "/api/docs/"+id+"/members", nil, &ms)
	return ms, err
}

func docMembersCmd(data *string) *cobra.Command {
	var asJSON, long bool
	c := &cobra.Command{
		Use:   "members ID [--long] [--json]",
		Short: "List a document's members: devices, labels, roles, who invited whom",
		Long: `List a document's members as this daemon knows them: each device (or
invite not redeemed yet), its label and role, the device that invited it
("(document key)" for the creator), when its membership expires, and flags:
self (this device), invite (not redeemed yet), removed. Device IDs are
shortened to 12 characters unless --long; 'weft doc remove' takes any
unique start of one.`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			ms, err := getMembers(c, cl, id)
			if err != nil {
				return err
			}
			if asJSON {
				if ms == nil {
					ms = []api.MemberInfo{}
				}
				return printJSONIndent(c.OutOrStdout(), ms)
			}
			short := func(dev string) string {
				if long || utf8.RuneCountInString(dev) <= 12 {
					return displayCell(dev)
				}
				return displayCell(dev[:12]) + "…"
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tLABEL\tROLE\tINVITED BY\tEXPIRES\tFLAGS")
			for _, m := range ms {
				by := "(document key)"
				if m.InvitedBy != "" {
					by = short(m.InvitedBy)
				}
				var flags []string
				for _, f := range []struct {
					on   bool
					name string
				}{{m.Self, "self"}, {m.Invite, "invite"}, {m.Removed, "removed"}} {
					if f.on {
						flags = append(flags, f.name)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", short(m.Device), displayCell(m.Label), displayCell(m.Role), by,
					displayTime(m.Expires), displayCell(strings.Join(flags, ",")))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	c.Flags().BoolVar(&long, "long", false, "print whole device IDs")
	return c
}

func docRemoveCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID DEVICE",
		Short: "Remove a member from a document (revokes it, rotates the keys) and print its device ID",
		Long: `Remove a member from a document: its membership is revoked and the
document's read secret rotated, so it cannot read what is written after,
and nothing it writes after counts. DEVICE is a device ID as 'weft doc
members' prints it, or any unique start of one; an invite not redeemed yet
is removed the same way. Prints the whole device ID removed. Only an admin
may remove.`,
		Args: nArgs("ID DEVICE"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			prefix := strings.TrimSuffix(args[1], "…") // as `doc members` shortens it
			a.check(prefix != "" && !strings.ContainsFunc(prefix, func(r rune) bool { return !isBase64URLRune(r) }),
				"DEVICE %q is not a device ID or the start of one (base64url, as `weft doc members` prints it)", args[1])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			ms, err := getMembers(c, cl, id)
			if err != nil {
				return err
			}
			device, err := matchDevice(ms, prefix)
			if err != nil {
				return withCode(1, fmt.Errorf("doc remove: document %s: %v", id, err))
			}
			if err := cl.call(c.Context(), "DELETE", "/api/docs/"+id+"/members/"+device, nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), device)
			return nil
		},
	}
}

// matchDevice finds the one member whose device ID is prefix or starts
// with it.
func matchDevice(ms []api.MemberInfo, prefix string) (string, error) {
	var found []string
	for _, m := range ms {
		if m.Device == prefix {
			return m.Device, nil
		}
		if strings.HasPrefix(m.Device, prefix) {
			found = append(found, m.Device)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no member's device starts with %q (see `weft doc members`)", prefix)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%q starts %d members' devices (%s); give more of it", prefix, len(found), strings.Join(found, ", "))
}

func isBase64URLRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_'
}

func docHostCmd(data *string) *cobra.Command {
	var relay string
	c := &cobra.Command{
		Use:   "host ID --relay MULTIADDR",
		Short: "Let a relay host a document: grants it the pull role (ciphertext only)",
		Long: `Let a relay keep, serve and back up a document: grants the relay the pull
role, with which it stores and serves the document's ciphertext and can
never read it. MULTIADDR is the relay's address as it prints it, ending in
/p2p/<peer ID>. Only an admin may do it.`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			a.check(relay != "", "--relay is required: the relay's multiaddr, ending in /p2p/<peer ID>")
			if relay != "" {
				_, err := p2p.PeerIDOf(relay)
				a.check(err == nil, "--relay %v", err)
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			return cl.call(c.Context(), "POST", "/api/docs/"+id+"/host", api.HostRequest{Relay: relay}, nil)
		},
	}
	c.Flags().StringVar(&relay, "relay", "", "the relay's multiaddr, ending in /p2p/<peer ID> (required)")
	return c
}

func docUpgradeCmd(data *string) *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade ID",
		Short: "Make a members-only copy of a legacy document and print the copy's ID",
		Long: `Make a members-only copy of a document made before members-only documents
(role "legacy" in 'weft doc list'), with this device as its admin, and
print the copy's ID; share the copy with 'weft doc invite'. The copy holds
the text, not the history (the old edits' agents are not signed). The
legacy document stays as it is.`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			var info api.DocInfo
			if err := cl.call(c.Context(), "POST", "/api/docs/"+id+"/upgrade", nil, &info); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), info.ID)
			return nil
		},
	}
}
