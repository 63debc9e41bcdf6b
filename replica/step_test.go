package replica

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"weft/api"
	"weft/crdt"
	"weft/internal/script"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs in testdata/step/*.txt")

// The step's scripted tests (testdata/step/*.txt): the replica under test
// is the daemon's document, agent "d"; other agents (tabs, peers) are crdt
// replicas of their own that make transactions, which are then given to
// the step from a source. Each step prints the effects the driver would
// carry out, in its order.
//
//	api POS DEL "TEXT" [POS DEL "TEXT" …]   local edits through the API
//	make AGENT POS DEL "TEXT"                 AGENT edits its replica; its envelope is kept as #N
//	pull AGENT                                AGENT takes everything the daemon has
//	resend AGENT                              AGENT's own transactions again, merged, as new #Ns
//	corrupt N                                 #N's header no longer matches its payload
//	from tab|gossip|sync N [N …]              the step, given those envelopes in that order
//	relay on|off                              whether the replica is a relay
//	text                                      the daemon's text
func TestStepScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/step/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/step: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			w := newStepWorld(t)
			script.Run(t, file, *rewrite, w.exec)
		})
	}
}

type stepWorld struct {
	doc     *crdt.Doc
	cfg     stepConfig
	authors map[string]*crdt.Doc
	sent    [][]byte // envelopes made by authors, #1 first
}

func newStepWorld(t *testing.T) *stepWorld {
	doc, err := crdt.New("d")
	if err != nil {
		t.Fatal(err)
	}
	return &stepWorld{doc: doc, cfg: stepConfig{doc: vocab.DocID{1}}, authors: map[string]*crdt.Doc{}}
}

func (w *stepWorld) exec(line string) (string, error) {
	args, err := splitArgs(line)
	if err != nil {
		return "", err
	}
	switch args[0] {
	case "api":
		var edits []api.Edit
		rest := args[1:]
		for ; len(rest) >= 3; rest = rest[3:] {
			e, err := editArgs(rest[:3])
			if err != nil {
				return "", err
			}
			edits = append(edits, e)
		}
		if len(rest) != 0 || len(edits) == 0 {
			return "", fmt.Errorf("api: want POS DEL \"TEXT\" triples")
		}
		return w.step(input{src: fromAPI, edits: edits})
	case "make":
		a, err := w.authorArg(args, 5, "make AGENT POS DEL \"TEXT\"")
		if err != nil {
			return "", err
		}
		e, err := editArgs(args[2:])
		if err != nil {
			return "", err
		}
		txn, err := a.Replace(e.Pos, e.Del, e.Ins)
		if err != nil {
			return "", err
		}
		_, b, err := wire.Seal(w.cfg.doc, txn)
		if err != nil {
			return "", err
		}
		w.sent = append(w.sent, b)
		return fmt.Sprintf("#%d %s", len(w.sent), span(txn.Agent, txn.Seq, uint64(txn.Count()))), nil
	case "pull":
		a, err := w.authorArg(args, 2, "pull AGENT")
		if err != nil {
			return "", err
		}
		for _, t := range w.doc.Missing(a.Version()) {
			if _, err := a.Apply(t); err != nil {
				return "", err
			}
		}
		return "", nil
	case "resend":
		a, err := w.authorArg(args, 2, "resend AGENT")
		if err != nil {
			return "", err
		}
		var out []string
		for _, t := range a.Missing(nil) {
			if t.Agent != args[1] {
				continue
			}
			_, b, err := wire.Seal(w.cfg.doc, t)
			if err != nil {
				return "", err
			}
			w.sent = append(w.sent, b)
			out = append(out, fmt.Sprintf("#%d %s", len(w.sent), span(t.Agent, t.Seq, uint64(t.Count()))))
		}
		return strings.Join(out, "\n"), nil
	case "corrupt":
		n, err := w.envelope(args[1:])
		if err != nil {
			return "", err
		}
		e, err := wire.ParseEnvelope(w.sent[n], w.cfg.doc)
		if err != nil {
			return "", err
		}
		e.Header.Len++
		if w.sent[n], err = e.Marshal(); err != nil {
			return "", err
		}
		return "", nil
	case "from":
		if len(args) < 3 {
			return "", fmt.Errorf("from SOURCE N [N …]")
		}
		src, ok := map[string]source{"tab": fromTab, "gossip": fromGossip, "sync": fromSync}[args[1]]
		if !ok {
			return "", fmt.Errorf("from: unknown source %q", args[1])
		}
		in := input{src: src}
		for _, a := range args[2:] {
			n, err := w.envelope([]string{a})
			if err != nil {
				return "", err
			}
			e, err := wire.ParseEnvelope(w.sent[n], w.cfg.doc)
			if err != nil {
				return "", err
			}
			in.envs = append(in.envs, received{env: e, raw: w.sent[n]})
		}
		return w.step(in)
	case "relay":
		w.cfg.relay = len(args) == 2 && args[1] == "on"
		return "", nil
	case "text":
		return strconv.Quote(w.doc.Text()), nil
	}
	return "", fmt.Errorf("unknown command %q", args[0])
}

// editArgs reads POS DEL "TEXT".
func editArgs(args []string) (api.Edit, error) {
	pos, err1 := strconv.Atoi(args[0])
	del, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil {
		return api.Edit{}, fmt.Errorf("want POS DEL \"TEXT\", got %q", args)
	}
	return api.Edit{Pos: pos, Del: del, Ins: args[2]}, nil
}

// authorArg checks a command's word count and returns the author it names.
func (w *stepWorld) authorArg(args []string, n int, usage string) (*crdt.Doc, error) {
	if len(args) != n {
		return nil, fmt.Errorf("usage: %s", usage)
	}
	return w.author(args[1])
}

func (w *stepWorld) author(name string) (*crdt.Doc, error) {
	if a, ok := w.authors[name]; ok {
		return a, nil
	}
	a, err := crdt.New(name)
	if err != nil {
		return nil, err
	}
	w.authors[name] = a
	return a, nil
}

func (w *stepWorld) envelope(args []string) (int, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("want one envelope number")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > len(w.sent) {
		return 0, fmt.Errorf("no envelope #%s", args[0])
	}
	return n - 1, nil
}

// step runs the step and prints its effects in the driver's order.
func (w *stepWorld) step(in input) (string, error) {
	r, err := step(w.doc, w.cfg, in)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if len(r.records) == 0 {
		b.WriteString("nothing new\n")
	} else {
		for _, e := range r.effects {
			switch e {
			case effPersist:
				fmt.Fprintf(&b, "persist %s %s\n", policyName(r.policy), w.records(r.records))
			case effPublish:
				if r.publish {
					fmt.Fprintf(&b, "publish %s\n", w.wires(in, r.wires))
				} else {
					b.WriteString("publish -\n")
				}
			case effTabs:
				fmt.Fprintf(&b, "tabs %s\n", w.wires(in, r.wires))
			case effReply:
				fmt.Fprintf(&b, "reply applied=%d version=%s\n", r.applied, formatVersion(w.doc.Version()))
			}
		}
	}
	for _, reason := range r.rejected {
		fmt.Fprintf(&b, "rejected %s\n", reason)
	}
	if r.refused != nil {
		fmt.Fprintf(&b, "refused: %v\n", r.refused)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func (w *stepWorld) records(recs []store.TxnRecord) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, span(r.Agent, r.Seq, r.Len))
	}
	return strings.Join(parts, " ")
}

// wires names each envelope and says whether it is the bytes as received.
func (w *stepWorld) wires(in input, wires [][]byte) string {
	var parts []string
	for _, b := range wires {
		e, err := wire.ParseEnvelope(b, w.cfg.doc)
		if err != nil {
			parts = append(parts, "!"+err.Error())
			continue
		}
		how := "sealed"
		for _, r := range in.envs {
			if bytes.Equal(r.raw, b) {
				how = "as-received"
			}
		}
		parts = append(parts, span(e.Header.Agent, e.Header.Seq, e.Header.Len)+"("+how+")")
	}
	return strings.Join(parts, " ")
}

func span(agent string, seq, n uint64) string { return fmt.Sprintf("%s/%d+%d", agent, seq, n) }

func policyName(p store.Policy) string {
	if p == store.Immediate {
		return "immediate"
	}
	return "batched"
}

func formatVersion(v map[string]uint64) string {
	keys := slices.Sorted(maps.Keys(v))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, v[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// splitArgs splits a command line into words and quoted strings.
func splitArgs(line string) ([]string, error) {
	var out []string
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		if rest[0] == '"' {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("bad quoted string in %q", line)
			}
			s, _ := strconv.Unquote(q)
			out = append(out, s)
			rest = rest[len(q):]
			continue
		}
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			i = len(rest)
		}
		out = append(out, rest[:i])
		rest = rest[i:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return out, nil
}
