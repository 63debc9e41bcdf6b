package crdt_test

// Scripted tests: testdata/script/*.txt are stories in a small language,
// each command followed by the output it must print (see the table in
// world.exec). A command that prints nothing has no output block; one that
// prints something is followed by a line "----", its output, and a blank
// line. Every file runs against the reference (refDoc) and against
// crdt.Doc. With -rewrite the expected outputs are regenerated, always from
// the reference implementation, never from the fast one.
//
// The same world also runs the random histories of property_test.go, which
// writes each history as a script, so a failure there prints a script that
// reproduces it.

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"weft/crdt"
	"weft/internal/script"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs in testdata/script/*.txt, computed by the reference implementation")

// replica is what the tests use of a replica; *crdt.Doc and *refDoc have it.
type replica interface {
	Agent() string
	Text() string
	Len() int
	Insert(pos int, text string) (*crdt.Txn, error)
	Delete(pos, n int) (*crdt.Txn, error)
	Replace(pos, n int, text string) (*crdt.Txn, error)
	Apply(t *crdt.Txn) (crdt.Patch, error)
	Version() crdt.Version
	Frontier() crdt.Frontier
	Missing(v crdt.Version) []*crdt.Txn
	Pending() int
	SetNow(ms int64) error
	SetTitle(title string) (*crdt.Txn, error)
	Title() string
}

var (
	_ replica = (*crdt.Doc)(nil)
	_ replica = (*refDoc)(nil)
)

// impl makes the replicas of one implementation.
type impl struct {
	name string
	rule refRule // the rule of the mirrors and the oracle
	ref  bool    // replicas are *refDoc themselves: no mirrors
	bug  string  // replicas are *refDoc with this deliberate bug, with mirrors
}

var (
	implDoc = impl{name: "doc", rule: ruleDesign}
	implRef = impl{name: "ref", rule: ruleDesign, ref: true}
	implStd = impl{name: "std", rule: ruleStandard, ref: true}
	implRun = impl{name: "run", rule: ruleDesignRun, ref: true}
)

func (im impl) newReplica(agent string) (replica, error) {
	if im.bug != "" {
		d := newRef(agent, im.rule)
		d.bug = im.bug
		return d, nil
	}
	if im.ref {
		return newRef(agent, im.rule), nil
	}
	d, err := crdt.New(agent)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// peer is one replica in a world, with what the tests keep beside it.
type peer struct {
	name   string
	r      replica
	mirror *refDoc     // a reference replica fed the same edits and txns; nil if r is a reference
	view   []rune      // a plain view that follows r's edits and returned patches
	made   []*crdt.Txn // the transactions r made locally; scripts number them from 1
	group  *group      // the document this is a replica of
}

// group is one document: the replicas one `doc` command created.
type group struct {
	names  []string // in creation order
	oracle *refDoc  // receives every transaction made, in the order made
}

// world is a set of documents, each with replicas exchanging transactions,
// checked after every command.
type world struct {
	impl    impl
	mirrors bool // give every crdt.Doc replica a reference mirror
	peers   map[string]*peer
	groups  []*group
	names   []string // of the last group
}

func newWorld(im impl) *world {
	return &world{impl: im, mirrors: true, peers: map[string]*peer{}}
}

// errSkip: the command does not make sense in this world (used when
// shrinking a generated script).
var errSkip = errors.New("command does not apply")

func isSkip(err error) bool { return errors.Is(err, errSkip) }

func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errSkip}, args...)...)
}

// errCategory names an expected error the way scripts print it.
func errCategory(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{crdt.ErrContradiction, "contradiction"},
		{crdt.ErrInvalid, "invalid"},
		{crdt.ErrPosition, "position"},
		{crdt.ErrBufferFull, "buffer full"},
		{crdt.ErrFormat, "format"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "unexpected error: " + err.Error()
}

// tokenize splits a command line on spaces, keeping "quoted strings" (Go
// syntax) and [bracketed lists] whole.
func tokenize(line string) ([]string, error) {
	var toks []string
	for i := 0; i < len(line); {
		if line[i] == ' ' || line[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			switch line[j] {
			case '"':
				j++
				for j < len(line) && line[j] != '"' {
					if line[j] == '\\' {
						j++
					}
					j++
				}
				if j >= len(line) {
					return nil, fmt.Errorf("unterminated string in %q", line)
				}
			case '[':
				k := strings.IndexByte(line[j:], ']')
				if k < 0 {
					return nil, fmt.Errorf("unterminated [ in %q", line)
				}
				j += k
			}
			j++
		}
		toks = append(toks, line[i:j])
		i = j
	}
	return toks, nil
}

func parseString(tok string) (string, error) {
	s, err := strconv.Unquote(tok)
	if err != nil {
		return "", fmt.Errorf("bad string %s: %v", tok, err)
	}
	return s, nil
}

// parseID reads "a@3"; "start" and "end" are the zero ID.
func parseID(s string) (crdt.ID, error) {
	if s == "start" || s == "end" {
		return crdt.ID{}, nil
	}
	i := strings.LastIndexByte(s, '@')
	if i <= 0 {
		return crdt.ID{}, fmt.Errorf("bad ID %q (want agent@seq)", s)
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return crdt.ID{}, fmt.Errorf("bad ID %q: %v", s, err)
	}
	return crdt.ID{Agent: s[:i], Seq: seq}, nil
}

// parseIDList reads "[a@1 b@0]" (or "a@1,b@0").
func parseIDList(s string) ([]crdt.ID, error) {
	s = strings.Trim(s, "[]")
	var ids []crdt.ID
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		id, err := parseID(f)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// parseTxn reads a transaction in canonTxn's form, e.g.
// `b@0 parents=[a@1] ins "xy" left=a@0 right=end del a@0..a@1`.
func parseTxn(toks []string) (*crdt.Txn, error) {
	if len(toks) < 2 {
		return nil, fmt.Errorf("txn: want agent@seq parents=[...] ops...")
	}
	first, err := parseID(toks[0])
	if err != nil {
		return nil, err
	}
	t := &crdt.Txn{Agent: first.Agent, Seq: first.Seq}
	if !strings.HasPrefix(toks[1], "parents=") {
		return nil, fmt.Errorf("txn: want parents=[...], got %q", toks[1])
	}
	if t.Parents, err = parseIDList(strings.TrimPrefix(toks[1], "parents=")); err != nil {
		return nil, err
	}
	for rest := toks[2:]; len(rest) > 0; {
		switch rest[0] {
		case "ins":
			if len(rest) < 4 || !strings.HasPrefix(rest[2], "left=") || !strings.HasPrefix(rest[3], "right=") {
				return nil, fmt.Errorf(`txn: want ins "text" left=ID right=ID`)
			}
			op := crdt.Op{Kind: crdt.OpInsert}
			if op.Text, err = parseString(rest[1]); err != nil {
				return nil, err
			}
			if op.Left, err = parseID(strings.TrimPrefix(rest[2], "left=")); err != nil {
				return nil, err
			}
			if op.Right, err = parseID(strings.TrimPrefix(rest[3], "right=")); err != nil {
				return nil, err
			}
			t.Ops = append(t.Ops, op)
			rest = rest[4:]
		case "del":
			if len(rest) < 2 {
				return nil, fmt.Errorf("txn: want del ID or del ID..ID")
			}
			from, to, _ := strings.Cut(rest[1], "..")
			if to == "" {
				to = from
			}
			a, err := parseID(from)
			if err != nil {
				return nil, err
			}
			b, err := parseID(to)
			if err != nil {
				return nil, err
			}
			if a.Agent != b.Agent {
				return nil, fmt.Errorf("txn: del range across agents")
			}
			op := crdt.Op{Kind: crdt.OpDelete, Target: a, Len: int(b.Seq-a.Seq) + 1}
			if b.Seq < a.Seq {
				op.Len, op.Rev = int(a.Seq-b.Seq)+1, true
			}
			t.Ops = append(t.Ops, op)
			rest = rest[2:]
		case "title":
			if len(rest) < 2 {
				return nil, fmt.Errorf(`txn: want title "text"`)
			}
			op := crdt.Op{Kind: crdt.OpTitle}
			if op.Text, err = parseString(rest[1]); err != nil {
				return nil, err
			}
			t.Ops = append(t.Ops, op)
			rest = rest[2:]
		default:
			if ms, ok := strings.CutPrefix(rest[0], "time="); ok {
				if t.Time, err = strconv.ParseInt(ms, 10, 64); err != nil {
					return nil, fmt.Errorf("txn: bad %q", rest[0])
				}
				rest = rest[1:]
				continue
			}
			return nil, fmt.Errorf("txn: unknown op %q", rest[0])
		}
	}
	return t, nil
}

// sameTxns reports whether two lists of transactions print the same.
func sameTxns(a, b []*crdt.Txn) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if canonTxn(a[i]) != canonTxn(b[i]) {
			return false
		}
	}
	return true
}

func cloneTxn(t *crdt.Txn) *crdt.Txn {
	c := *t
	c.Parents = slices.Clone(t.Parents)
	c.Ops = slices.Clone(t.Ops)
	return &c
}

func versionsEqual(a, b crdt.Version) bool {
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	for k, n := range b {
		if a[k] != n {
			return false
		}
	}
	return true
}

// versionLE reports whether everything in a is in b.
func versionLE(a, b crdt.Version) bool {
	for k, n := range a {
		if b[k] < n {
			return false
		}
	}
	return true
}

func fmtVersion(v crdt.Version) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if v[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v[k]))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func fmtFrontier(f []crdt.ID) string {
	var parts []string
	for _, id := range f {
		parts = append(parts, fmtID(id))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// applyPatch applies a patch to a view, checking that every change is in
// range.
func applyPatch(view []rune, p crdt.Patch) ([]rune, error) {
	for _, c := range p {
		if c.Pos < 0 || c.Delete < 0 || c.Pos+c.Delete > len(view) || !utf8.ValidString(c.Insert) {
			return view, fmt.Errorf("patch change %+v out of range of a view of %d", c, len(view))
		}
		view = slices.Concat(view[:c.Pos:c.Pos], []rune(c.Insert), view[c.Pos+c.Delete:])
	}
	return view, nil
}

// check verifies everything the tests know about p: its view, its length,
// its mirror.
func (w *world) check(p *peer) error {
	text := p.r.Text()
	if !utf8.ValidString(text) {
		return fmt.Errorf("%s: Text() is not valid UTF-8", p.name)
	}
	if string(p.view) != text {
		return fmt.Errorf("%s: view %q (from returned patches) != Text() %q", p.name, string(p.view), text)
	}
	if n := utf8.RuneCountInString(text); p.r.Len() != n {
		return fmt.Errorf("%s: Len() = %d, Text() has %d code points", p.name, p.r.Len(), n)
	}
	if d, ok := p.r.(*crdt.Doc); ok {
		if err := crdt.CheckIndex(d); err != nil {
			return fmt.Errorf("%s: %v", p.name, err)
		}
	}
	if p.mirror == nil {
		return nil
	}
	if m := p.mirror.Text(); m != text {
		return fmt.Errorf("%s: Text() = %q, reference says %q\nreference items:\n%s", p.name, text, m, p.mirror.itemsString())
	}
	if v, m := p.r.Version(), p.mirror.Version(); !versionsEqual(v, m) {
		return fmt.Errorf("%s: Version() = %s, reference says %s", p.name, fmtVersion(v), fmtVersion(m))
	}
	if f, m := p.r.Frontier(), p.mirror.Frontier(); !slices.Equal(f, m) {
		return fmt.Errorf("%s: Frontier() = %s, reference says %s", p.name, fmtFrontier(f), fmtFrontier(m))
	}
	return nil
}

func (w *world) peer(name string) (*peer, error) {
	p := w.peers[name]
	if p == nil {
		return nil, skipf("no replica %q", name)
	}
	return p, nil
}

// made returns q's k-th transaction, or its k-th to k2-th merged into one
// transaction (spec "k" or "k-k2").
func (w *world) made(q *peer, spec string) (*crdt.Txn, error) {
	from, to, _ := strings.Cut(spec, "-")
	k, err := strconv.Atoi(from)
	if err != nil {
		return nil, fmt.Errorf("bad txn number %q", spec)
	}
	k2 := k
	if to != "" {
		if k2, err = strconv.Atoi(to); err != nil {
			return nil, fmt.Errorf("bad txn number %q", spec)
		}
	}
	if k < 1 || k2 < k || k2 > len(q.made) {
		return nil, skipf("%s made %d txns, not %s", q.name, len(q.made), spec)
	}
	t := cloneTxn(q.made[k-1])
	for _, next := range q.made[k:k2] {
		end := crdt.ID{Agent: t.Agent, Seq: t.Seq + uint64(t.Count()) - 1}
		if next.Seq != end.Seq+1 || !slices.Equal(next.Parents, []crdt.ID{end}) || next.Time != t.Time {
			return nil, skipf("%s's txns %s are not one run", q.name, spec)
		}
		t.Ops = append(t.Ops, next.Ops...)
	}
	return t, nil
}

// madeBy is made on the replica named name.
func (w *world) madeBy(name, spec string) (*crdt.Txn, error) {
	q, err := w.peer(name)
	if err != nil {
		return nil, err
	}
	return w.made(q, spec)
}

// delivery reads the arguments "A B K …" of deliver and forge: replica A,
// and B's transaction K (see made).
func (w *world) delivery(args []string) (*peer, *crdt.Txn, error) {
	p, err := w.peer(args[0])
	if err != nil {
		return nil, nil, err
	}
	t, err := w.madeBy(args[1], args[2])
	return p, t, err
}

// apply delivers t to p and checks the outcome. It returns the script
// output (an error category) or a broken invariant.
func (w *world) apply(p *peer, t *crdt.Txn) (string, error) {
	before, beforeV := p.r.Text(), p.r.Version()
	patch, err := p.r.Apply(cloneTxn(t))
	if p.mirror != nil {
		_, merr := p.mirror.Apply(cloneTxn(t))
		if (err == nil) != (merr == nil) || err != nil && errCategory(err) != errCategory(merr) {
			return "", fmt.Errorf("%s: Apply(%s) returned error %v, reference returns %v", p.name, canonTxn(t), err, merr)
		}
	}
	if err != nil {
		if p.r.Text() != before || !versionsEqual(p.r.Version(), beforeV) {
			return "", fmt.Errorf("%s: Apply(%s) failed (%v) but changed the document", p.name, canonTxn(t), err)
		}
		return "error: " + errCategory(err), w.check(p)
	}
	if p.view, err = applyPatch(p.view, patch); err != nil {
		return "", fmt.Errorf("%s: Apply(%s): %v", p.name, canonTxn(t), err)
	}
	return "", w.check(p)
}

// local makes a local edit on p (with the same edit on its mirror) and
// checks the transaction and the text.
func (w *world) local(p *peer, pos, n int, text string) (string, error) {
	before, beforeV := p.r.Text(), p.r.Version()
	edit := func(r replica) (*crdt.Txn, error) {
		switch {
		case n == 0:
			return r.Insert(pos, text)
		case text == "":
			return r.Delete(pos, n)
		default:
			return r.Replace(pos, n, text)
		}
	}
	t, err := edit(p.r)
	if p.mirror != nil {
		mt, merr := edit(p.mirror)
		if (err == nil) != (merr == nil) || err != nil && errCategory(err) != errCategory(merr) {
			return "", fmt.Errorf("%s: edit returned error %v, reference returns %v", p.name, err, merr)
		}
		if err == nil && canonTxn(t) != canonTxn(mt) {
			return "", fmt.Errorf("%s: local edit made txn\n  %s\nreference makes\n  %s", p.name, canonTxn(t), canonTxn(mt))
		}
	}
	if err != nil {
		if p.r.Text() != before || !versionsEqual(p.r.Version(), beforeV) {
			return "", fmt.Errorf("%s: edit failed (%v) but changed the document", p.name, err)
		}
		return "error: " + errCategory(err), w.check(p)
	}
	if t == nil {
		return "", fmt.Errorf("%s: edit returned no txn and no error", p.name)
	}
	if pos < 0 || pos+n > len(p.view) {
		return "", fmt.Errorf("%s: edit at %d+%d of %d succeeded", p.name, pos, n, len(p.view))
	}
	p.view = slices.Concat(p.view[:pos:pos], []rune(text), p.view[pos+n:])
	if t.Agent != p.name || t.Seq != beforeV[p.name] || t.Count() != n+utf8.RuneCountInString(text) {
		return "", fmt.Errorf("%s: local txn %s: want agent %s, seq %d, %d seqs", p.name, canonTxn(t), p.name, beforeV[p.name], n+utf8.RuneCountInString(text))
	}
	p.made = append(p.made, cloneTxn(t))
	if _, err := p.group.oracle.Apply(cloneTxn(t)); err != nil {
		return "", fmt.Errorf("%s: reference rejects local txn %s: %v", p.name, canonTxn(t), err)
	}
	return "", w.check(p)
}

// localTitle makes a local title op on p (and its mirror).
func (w *world) localTitle(p *peer, text string) (string, error) {
	beforeV := p.r.Version()
	t, err := p.r.SetTitle(text)
	if p.mirror != nil {
		mt, merr := p.mirror.SetTitle(text)
		if (err == nil) != (merr == nil) || err == nil && canonTxn(t) != canonTxn(mt) {
			return "", fmt.Errorf("%s: SetTitle made %v (%v), reference %v (%v)", p.name, t, err, mt, merr)
		}
	}
	if err != nil {
		if !versionsEqual(p.r.Version(), beforeV) {
			return "", fmt.Errorf("%s: SetTitle failed (%v) but changed the document", p.name, err)
		}
		return "error: " + errCategory(err), w.check(p)
	}
	if p.r.Title() != text {
		return "", fmt.Errorf("%s: title %q right after SetTitle(%q)", p.name, p.r.Title(), text)
	}
	p.made = append(p.made, cloneTxn(t))
	if _, err := p.group.oracle.Apply(cloneTxn(t)); err != nil {
		return "", fmt.Errorf("%s: reference rejects local txn %s: %v", p.name, canonTxn(t), err)
	}
	return "", w.check(p)
}

// sync delivers q.Missing(p.Version()) to p.
func (w *world) sync(p, q *peer) error {
	pv, qv := p.r.Version(), q.r.Version()
	for _, t := range q.r.Missing(pv) {
		if out, err := w.apply(p, t); err != nil || out != "" {
			return fmt.Errorf("sync %s<-%s: applying %s: %s%v", p.name, q.name, canonTxn(t), out, err)
		}
	}
	if !versionLE(qv, p.r.Version()) {
		return fmt.Errorf("sync %s<-%s: %s is at %s after receiving Missing(%s) from %s at %s",
			p.name, q.name, p.name, fmtVersion(p.r.Version()), fmtVersion(pv), q.name, fmtVersion(qv))
	}
	if versionsEqual(p.r.Version(), qv) && p.r.Text() != q.r.Text() {
		return fmt.Errorf("sync %s<-%s: both at %s, but %s has %q and %s has %q",
			p.name, q.name, fmtVersion(qv), p.name, p.r.Text(), q.name, q.r.Text())
	}
	return nil
}

// converged checks that in every document every replica has everything:
// same text (the oracle's), version and frontier, nothing waiting; and that
// a fresh replica fed Missing(empty version) reaches the same text.
func (w *world) converged() error {
	for _, g := range w.groups {
		if err := w.groupConverged(g); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) groupConverged(g *group) error {
	first := w.peers[g.names[0]]
	want := g.oracle.Text()
	for _, name := range g.names {
		p := w.peers[name]
		if got := p.r.Text(); got != want {
			return fmt.Errorf("%s: text %q, reference with every txn has %q", name, got, want)
		}
		if !versionsEqual(p.r.Version(), g.oracle.Version()) {
			return fmt.Errorf("%s: version %s, want %s", name, fmtVersion(p.r.Version()), fmtVersion(g.oracle.Version()))
		}
		if !slices.Equal(p.r.Frontier(), g.oracle.Frontier()) {
			return fmt.Errorf("%s: frontier %s, want %s", name, fmtFrontier(p.r.Frontier()), fmtFrontier(g.oracle.Frontier()))
		}
		if n := p.r.Pending(); n != 0 {
			return fmt.Errorf("%s: %d txns still pending with every txn delivered", name, n)
		}
		if got, want := p.r.Title(), g.oracle.Title(); got != want {
			return fmt.Errorf("%s: title %q, reference with every txn has %q", name, got, want)
		}
	}
	late, err := w.impl.newReplica("late")
	if err != nil {
		return err
	}
	for _, t := range first.r.Missing(crdt.Version{}) {
		if _, err := late.Apply(t); err != nil {
			return fmt.Errorf("fresh replica: applying %s from %s.Missing({}): %v", canonTxn(t), first.name, err)
		}
	}
	if late.Text() != want || !versionsEqual(late.Version(), g.oracle.Version()) || late.Title() != g.oracle.Title() {
		return fmt.Errorf("fresh replica fed %s.Missing({}) has %q at %s, want %q at %s",
			first.name, late.Text(), fmtVersion(late.Version()), want, fmtVersion(g.oracle.Version()))
	}
	if d, ok := first.r.(*crdt.Doc); ok {
		loaded, err := crdt.LoadSnapshot("snap", d.EncodeSnapshot())
		if err != nil {
			return fmt.Errorf("LoadSnapshot(%s.EncodeSnapshot()): %v", first.name, err)
		}
		if loaded.Title() != d.Title() || !sameTxns(loaded.Missing(crdt.Version{}), d.Missing(crdt.Version{})) {
			return fmt.Errorf("snapshot of %s loads with title %q (want %q) or another history", first.name, loaded.Title(), d.Title())
		}
		if loaded.Text() != want || !versionsEqual(loaded.Version(), d.Version()) || !slices.Equal(loaded.Frontier(), d.Frontier()) {
			return fmt.Errorf("snapshot of %s loads as %q at %s %s, want %q at %s %s", first.name,
				loaded.Text(), fmtVersion(loaded.Version()), fmtFrontier(loaded.Frontier()),
				want, fmtVersion(d.Version()), fmtFrontier(d.Frontier()))
		}
	}
	return nil
}

// exec runs one command and returns what it prints. A returned error is a
// broken invariant (or, wrapping errSkip, a command that does not apply).
//
//	doc A B …                 a new document, with replicas whose agents are A, B, …
//	ins A POS "TEXT"          local insert
//	del A POS N               local delete
//	rep A POS N "TEXT"        local replace (deletes first)
//	deliver A B K             deliver B's K-th own transaction to A
//	deliver A B K-K2          … B's K-th to K2-th, merged into one transaction
//	sync A<-B                 deliver B.Missing(A.Version()) to A
//	sync                      sync every pair of the last document's replicas until all have everything
//	apply A TXN               deliver a transaction written as `txn` prints it
//	forge A B K FIELD VALUE   deliver B's K-th transaction with one field changed:
//	                          text "…" | left ID | right ID | parents [IDs] | target ID | seq N
//	now A MS                  A's following local transactions carry time MS
//	title A "TEXT"            local title op
//	text A …                  print the texts
//	titles A …                print the titles
//	pending A …               print how many transactions wait for parents
//	version A …               print version vectors and frontiers
//	txn B K                   print B's K-th transaction
//	check                     in every document, every replica has converged (to the reference's text)
//
// Errors of edits and deliveries print as "error: contradiction|invalid|position|…".
func (w *world) exec(line string) (string, error) {
	toks, err := tokenize(line)
	if err != nil || len(toks) == 0 {
		return "", fmt.Errorf("bad command %q: %v", line, err)
	}
	cmd, args := toks[0], toks[1:]
	nargs := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s: want %d arguments, got %d", cmd, n, len(args))
		}
		return nil
	}
	peers := func(names ...string) ([]*peer, error) {
		var ps []*peer
		for _, a := range names {
			p, err := w.peer(a)
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
		return ps, nil
	}
	switch cmd {
	case "doc":
		g := &group{oracle: newRef("oracle", w.impl.rule)}
		w.groups = append(w.groups, g)
		w.names = nil
		for _, name := range args {
			if w.peers[name] != nil {
				return "", fmt.Errorf("doc %s: exists", name)
			}
			r, err := w.impl.newReplica(name)
			if err != nil {
				return "", fmt.Errorf("New(%q): %v", name, err)
			}
			p := &peer{name: name, r: r, group: g}
			if !w.impl.ref && w.mirrors {
				p.mirror = newRef(name, w.impl.rule)
			}
			w.peers[name] = p
			g.names = append(g.names, name)
			w.names = append(w.names, name)
		}
		return "", nil
	case "ins", "del", "rep":
		want := map[string]int{"ins": 3, "del": 3, "rep": 4}[cmd]
		if err := nargs(want); err != nil {
			return "", err
		}
		p, err := w.peer(args[0])
		if err != nil {
			return "", err
		}
		pos, err := strconv.Atoi(args[1])
		if err != nil {
			return "", fmt.Errorf("bad position %q", args[1])
		}
		n, text := 0, ""
		if cmd != "ins" {
			if n, err = strconv.Atoi(args[2]); err != nil {
				return "", fmt.Errorf("bad length %q", args[2])
			}
		}
		if cmd != "del" {
			if text, err = parseString(args[len(args)-1]); err != nil {
				return "", err
			}
		}
		return w.local(p, pos, n, text)
	case "deliver", "forge":
		if err := nargs(map[string]int{"deliver": 3, "forge": 5}[cmd]); err != nil {
			return "", err
		}
		p, t, err := w.delivery(args)
		if err != nil {
			return "", err
		}
		if cmd == "forge" {
			if err := forge(t, args[3], args[4]); err != nil {
				return "", err
			}
		}
		return w.apply(p, t)
	case "sync":
		if len(args) == 0 {
			for round := 0; ; round++ {
				for _, a := range w.names {
					for _, b := range w.names {
						if a != b {
							if err := w.sync(w.peers[a], w.peers[b]); err != nil {
								return "", err
							}
						}
					}
				}
				same := true
				for _, a := range w.names {
					same = same && versionsEqual(w.peers[a].r.Version(), w.peers[w.names[0]].r.Version())
				}
				if same {
					return "", nil
				}
				if round > 2 {
					return "", fmt.Errorf("sync: versions still differ after %d rounds", round+1)
				}
			}
		}
		a, b, ok := strings.Cut(args[0], "<-")
		if err := nargs(1); err != nil || !ok {
			return "", fmt.Errorf("sync: want A<-B")
		}
		ps, err := peers(a, b)
		if err != nil {
			return "", err
		}
		return "", w.sync(ps[0], ps[1])
	case "apply":
		if len(args) < 2 {
			return "", fmt.Errorf("apply: want A TXN")
		}
		p, err := w.peer(args[0])
		if err != nil {
			return "", err
		}
		t, err := parseTxn(args[1:])
		if err != nil {
			return "", err
		}
		out, err := w.apply(p, t)
		if err == nil && out == "" {
			p.group.oracle.Apply(cloneTxn(t)) // so that `check` expects it too
		}
		return out, err
	case "now":
		if err := nargs(2); err != nil {
			return "", err
		}
		p, err := w.peer(args[0])
		if err != nil {
			return "", err
		}
		ms, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return "", fmt.Errorf("now: bad time %q", args[1])
		}
		err = p.r.SetNow(ms)
		if p.mirror != nil {
			if merr := p.mirror.SetNow(ms); (err == nil) != (merr == nil) {
				return "", fmt.Errorf("%s: SetNow(%d) returned %v, reference %v", p.name, ms, err, merr)
			}
		}
		if err != nil {
			return "error: " + errCategory(err), nil
		}
		return "", nil
	case "title":
		if err := nargs(2); err != nil {
			return "", err
		}
		p, err := w.peer(args[0])
		if err != nil {
			return "", err
		}
		text, err := parseString(args[1])
		if err != nil {
			return "", err
		}
		return w.localTitle(p, text)
	case "text", "pending", "version", "titles":
		ps, err := peers(args...)
		if err != nil {
			return "", err
		}
		var out []string
		for _, p := range ps {
			switch cmd {
			case "text":
				out = append(out, fmt.Sprintf("%s: %s", p.name, strconv.Quote(p.r.Text())))
			case "titles":
				out = append(out, fmt.Sprintf("%s: %s", p.name, strconv.Quote(p.r.Title())))
			case "pending":
				out = append(out, fmt.Sprintf("%s: %d", p.name, p.r.Pending()))
			case "version":
				out = append(out, fmt.Sprintf("%s: %s frontier=%s", p.name, fmtVersion(p.r.Version()), fmtFrontier(p.r.Frontier())))
			}
		}
		return strings.Join(out, "\n"), nil
	case "txn":
		if err := nargs(2); err != nil {
			return "", err
		}
		t, err := w.madeBy(args[0], args[1])
		if err != nil {
			return "", err
		}
		return canonTxn(t), nil
	case "check":
		return "", w.converged()
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// forge changes one field of t.
func forge(t *crdt.Txn, field, value string) error {
	firstOp := func(kind crdt.OpKind) (*crdt.Op, error) {
		for i := range t.Ops {
			if t.Ops[i].Kind == kind {
				return &t.Ops[i], nil
			}
		}
		return nil, fmt.Errorf("forge %s: txn has no such op", field)
	}
	var err error
	switch field {
	case "text", "left", "right":
		op, err := firstOp(crdt.OpInsert)
		if err != nil {
			return err
		}
		switch field {
		case "text":
			op.Text, err = parseString(value)
		case "left":
			op.Left, err = parseID(value)
		case "right":
			op.Right, err = parseID(value)
		}
		return err
	case "target":
		op, err := firstOp(crdt.OpDelete)
		if err != nil {
			return err
		}
		op.Target, err = parseID(value)
		return err
	case "parents":
		t.Parents, err = parseIDList(value)
		return err
	case "seq":
		t.Seq, err = strconv.ParseUint(value, 10, 64)
		return err
	}
	return fmt.Errorf("forge: unknown field %q", field)
}

func TestScript(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/script: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			impls := []impl{implRef, implDoc}
			if *rewrite {
				impls = []impl{implRef}
			}
			for _, im := range impls {
				t.Run(im.name, func(t *testing.T) { runScript(t, file, im) })
			}
		})
	}
}

func runScript(t *testing.T, file string, im impl) {
	w := newWorld(im)
	w.mirrors = false // scripts are judged by their expected outputs
	script.Run(t, file, *rewrite, w.exec)
}
