package trace

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"time"
	"unicode/utf8"

	"weft/crdt"
)

// Figures are what `weft trace replay` prints for one trace file.
type Figures struct {
	File          string  `json:"file"`
	Kind          string  `json:"kind"`
	Txns          int     `json:"txns"`
	Patches       int     `json:"patches"`
	Agents        int     `json:"agents"`
	ReplayMS      float64 `json:"replay_ms"`
	FinalChars    int     `json:"final_chars"`
	MatchesEnd    bool    `json:"matches_end"`
	SnapshotBytes int     `json:"snapshot_bytes"`
	LoadMS        float64 `json:"load_ms"`
	LoadAllMS     float64 `json:"load_all_ms"`
	HeapBytes     uint64  `json:"heap_bytes"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Measure replays t and measures it: replay time (every patch its own
// local transaction; concurrent traces with a replica per agent, typing and
// merging), the final document (for concurrent traces: every transaction
// merged into a fresh replica), its snapshot, the time to open that
// snapshot and read its text (history unread; and read), and the live heap the loaded document holds
// (after a GC, relative to the heap before loading). Times are the median
// of runs timed runs after one untimed warm-up, as the peer benchmarks
// measure theirs.
func Measure(path string, t *Trace, runs int) (Figures, error) {
	if runs < 1 {
		runs = 1
	}
	f := Figures{File: filepath.Base(path), Kind: t.Kind, Txns: len(t.Txns), Patches: t.Patches(), Agents: len(t.Agents)}
	if t.Kind == Sequential {
		f.Agents = 1
	}
	var final *crdt.Doc
	var times []time.Duration
	for run := 0; run <= runs; run++ {
		runtime.GC()
		start := time.Now()
		if t.Kind == Sequential {
			d, err := ReplaySequential(t, "replay")
			if err != nil {
				return f, err
			}
			times = append(times, time.Since(start))
			final = d
		} else {
			c, err := ReplayConcurrent(t)
			if err != nil {
				return f, err
			}
			times = append(times, time.Since(start))
			if final, err = Merge(c.All()); err != nil {
				return f, err
			}
		}
	}
	f.ReplayMS = ms(median(times[1:]))
	text := final.Text()
	f.FinalChars = utf8.RuneCountInString(text)
	f.MatchesEnd = text == t.End
	snap := final.EncodeSnapshot()
	f.SnapshotBytes = len(snap)
	final = nil

	// load_ms: the open a replica makes of its stored snapshot (the text
	// readable, the history read when first needed); load_all_ms: the
	// history read too.
	for _, load := range []struct {
		open func(string, []byte) (*crdt.Doc, error)
		out  *float64
	}{{crdt.OpenSnapshot, &f.LoadMS}, {crdt.LoadSnapshot, &f.LoadAllMS}} {
		times = times[:0]
		for run := 0; run <= runs; run++ {
			start := time.Now()
			l, err := load.open("replay", snap)
			if err != nil {
				return f, fmt.Errorf("loading the snapshot: %w", err)
			}
			if l.Text() != text {
				return f, fmt.Errorf("the loaded snapshot's text differs from the document's")
			}
			times = append(times, time.Since(start))
		}
		*load.out = ms(median(times[1:]))
	}
	heap := liveHeap()
	loaded, err := crdt.LoadSnapshot("replay", snap)
	if err != nil {
		return f, err
	}
	snap = nil
	after := liveHeap()
	if after > heap {
		f.HeapBytes = after - heap
	}
	runtime.KeepAlive(loaded)
	return f, nil
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
