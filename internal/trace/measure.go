package trace

import (
	"fmt"
	"path/filepath"
	"runtime"
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
	HeapBytes     uint64  `json:"heap_bytes"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Measure replays t once and measures it: replay time (every patch its own
// local transaction; concurrent traces with a replica per agent, typing and
// merging), the final document (for concurrent traces: every transaction
// merged into a fresh replica), its snapshot, the time to load that
// snapshot and read its text, and the live heap the loaded document holds
// (after a GC, relative to the heap before loading).
func Measure(path string, t *Trace) (Figures, error) {
	f := Figures{File: filepath.Base(path), Kind: t.Kind, Txns: len(t.Txns), Patches: t.Patches(), Agents: len(t.Agents)}
	if t.Kind == Sequential {
		f.Agents = 1
	}
	var final *crdt.Doc
	start := time.Now()
	if t.Kind == Sequential {
		d, err := ReplaySequential(t, "replay")
		if err != nil {
			return f, err
		}
		f.ReplayMS = ms(time.Since(start))
		final = d
	} else {
		c, err := ReplayConcurrent(t)
		if err != nil {
			return f, err
		}
		f.ReplayMS = ms(time.Since(start))
		if final, err = Merge(c.All()); err != nil {
			return f, err
		}
	}
	text := final.Text()
	f.FinalChars = utf8.RuneCountInString(text)
	f.MatchesEnd = text == t.End
	snap := final.EncodeSnapshot()
	f.SnapshotBytes = len(snap)
	final = nil

	heap := liveHeap()
	start = time.Now()
	loaded, err := crdt.LoadSnapshot("replay", snap)
	if err != nil {
		return f, fmt.Errorf("loading the snapshot: %w", err)
	}
	if loaded.Text() != text {
		return f, fmt.Errorf("the loaded snapshot's text differs from the document's")
	}
	f.LoadMS = ms(time.Since(start))
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
