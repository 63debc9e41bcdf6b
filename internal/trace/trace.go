package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrFormat reports a trace file that cannot be read as a trace.
var ErrFormat = errors.New("trace: bad trace file")

// Kinds of trace.
const (
	Sequential = "sequential"
	Concurrent = "concurrent"
)

// maxTraceBytes bounds a trace file after decompression.
const maxTraceBytes = 1 << 30

// Patch is one splice: delete Del code points at Pos, then insert Ins.
type Patch struct {
	Pos, Del int
	Ins      string
}

// Txn is one transaction of a trace: its agent and parents (concurrent
// traces; indexes of earlier transactions) and its patches.
type Txn struct {
	Agent   int
	Parents []int
	first   int // index of its first patch in Trace.patches
	n       int
}

// Trace is a parsed editing trace. Its patches are kept in pointer-free
// arrays over one string of inserted text, so that holding a trace of a
// few hundred thousand patches costs the garbage collector nothing while
// it is replayed.
type Trace struct {
	Kind       string
	Start, End string
	Txns       []Txn
	Agents     []string // concurrent: the agent names (default "0", "1", …)

	patches []patch
	text    string
}

type patch struct{ pos, del, off, n uint32 }

// Patches returns the number of patches in the trace.
func (t *Trace) Patches() int { return len(t.patches) }

// PatchesOf yields the patches of transaction i in order.
func (t *Trace) PatchesOf(i int) func(yield func(Patch) bool) {
	tx := &t.Txns[i]
	return func(yield func(Patch) bool) {
		for _, p := range t.patches[tx.first : tx.first+tx.n] {
			if !yield(Patch{Pos: int(p.pos), Del: int(p.del), Ins: t.text[p.off : p.off+p.n]}) {
				return
			}
		}
	}
}

// NumPatches returns the number of patches of transaction i.
func (t *Trace) NumPatches(i int) int { return t.Txns[i].n }

// Load reads a trace from a .json or .json.gz file.
func Load(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
		}
		defer zr.Close()
		r = zr
	}
	t, err := Parse(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

type rawTrace struct {
	Kind         string   `json:"kind"`
	StartContent *string  `json:"startContent"`
	EndContent   *string  `json:"endContent"`
	NumAgents    *int     `json:"numAgents"`
	AgentNames   []string `json:"agentNames"`
	Txns         []rawTxn `json:"txns"`
}

type rawTxn struct {
	Parents []int      `json:"parents"`
	Agent   int        `json:"agent"`
	Patches []rawPatch `json:"patches"`
}

type rawPatch Patch

// UnmarshalJSON reads [pos, numDeleted, insertedText].
func (p *rawPatch) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 3 {
		return fmt.Errorf("patch has %d elements, want [pos, numDeleted, insertedText]", len(a))
	}
	if err := json.Unmarshal(a[0], &p.Pos); err != nil {
		return fmt.Errorf("patch position: %v", err)
	}
	if err := json.Unmarshal(a[1], &p.Del); err != nil {
		return fmt.Errorf("patch delete count: %v", err)
	}
	if err := json.Unmarshal(a[2], &p.Ins); err != nil {
		return fmt.Errorf("patch text: %v", err)
	}
	return nil
}

// Parse reads a trace from JSON and checks its structure.
func Parse(r io.Reader) (*Trace, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTraceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(data) > maxTraceBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, maxTraceBytes)
	}
	// JSON is UTF-8; the decoder would quietly turn bad bytes into U+FFFD.
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrFormat)
	}
	var raw rawTrace
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if raw.EndContent == nil {
		return nil, fmt.Errorf("%w: no endContent", ErrFormat)
	}
	t := &Trace{End: *raw.EndContent, Txns: make([]Txn, len(raw.Txns))}
	if raw.StartContent != nil {
		t.Start = *raw.StartContent
	}
	switch raw.Kind {
	case "", Sequential:
		t.Kind = Sequential
	case Concurrent:
		t.Kind = Concurrent
		if t.Start != "" {
			return nil, fmt.Errorf("%w: a concurrent trace must start empty", ErrFormat)
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrFormat, raw.Kind)
	}
	for _, s := range []string{t.Start, t.End} {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("%w: content is not valid UTF-8", ErrFormat)
		}
	}
	numAgents := 1
	if t.Kind == Concurrent {
		if raw.NumAgents == nil || *raw.NumAgents < 1 || *raw.NumAgents > 1<<16 {
			return nil, fmt.Errorf("%w: concurrent trace needs numAgents between 1 and 65536", ErrFormat)
		}
		numAgents = *raw.NumAgents
		if raw.AgentNames != nil && len(raw.AgentNames) != numAgents {
			return nil, fmt.Errorf("%w: %d agentNames for %d agents", ErrFormat, len(raw.AgentNames), numAgents)
		}
		seen := map[string]bool{}
		for i := 0; i < numAgents; i++ {
			name := strconv.Itoa(i)
			if raw.AgentNames != nil {
				name = raw.AgentNames[i]
			}
			if name == "" || seen[name] {
				return nil, fmt.Errorf("%w: agent name %q empty or repeated", ErrFormat, name)
			}
			seen[name] = true
			t.Agents = append(t.Agents, name)
		}
	}
	var text strings.Builder
	var parents []int
	for i, rt := range raw.Txns {
		tx := &t.Txns[i]
		tx.Agent = rt.Agent
		if t.Kind == Concurrent {
			if rt.Agent < 0 || rt.Agent >= numAgents {
				return nil, fmt.Errorf("%w: txn %d: agent %d of %d", ErrFormat, i, rt.Agent, numAgents)
			}
			for _, p := range rt.Parents {
				if p < 0 || p >= i {
					return nil, fmt.Errorf("%w: txn %d: parent %d is not an earlier txn", ErrFormat, i, p)
				}
			}
		}
		parents = append(parents, rt.Parents...)
		tx.first, tx.n = len(t.patches), len(rt.Patches)
		for j, p := range rt.Patches {
			if p.Pos < 0 || p.Del < 0 || p.Pos > math.MaxUint32 || p.Del > math.MaxUint32 {
				return nil, fmt.Errorf("%w: txn %d patch %d: position or length out of range", ErrFormat, i, j)
			}
			if !utf8.ValidString(p.Ins) {
				return nil, fmt.Errorf("%w: txn %d patch %d: text is not valid UTF-8", ErrFormat, i, j)
			}
			t.patches = append(t.patches, patch{uint32(p.Pos), uint32(p.Del), uint32(text.Len()), uint32(len(p.Ins))})
			text.WriteString(p.Ins)
		}
		if text.Len() > math.MaxUint32 {
			return nil, fmt.Errorf("%w: more than 4 GiB of inserted text", ErrFormat)
		}
	}
	t.text = text.String()
	// Every transaction's parents are a slice of one array.
	k := 0
	for i := range t.Txns {
		n := len(raw.Txns[i].Parents)
		if n > 0 {
			t.Txns[i].Parents = parents[k : k+n : k+n]
		}
		k += n
	}
	return t, nil
}
