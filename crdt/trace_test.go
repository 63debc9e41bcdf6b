package crdt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"weft/crdt"
	"weft/internal/trace"
)

// Every bundled trace must replay to its endContent: sequential traces
// typed by one agent, concurrent traces with one replica per agent and then
// merged into a fresh replica. The replayed document must also survive a
// snapshot round trip and a catch-up (Missing) into an empty replica.
func TestTraceConformance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "traces", "*", "*.json.gz"))
	if err != nil || len(files) < 8 {
		t.Fatalf("expected the bundled traces, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		f := f
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			tr, err := trace.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			var final *crdt.Doc
			if tr.Kind == trace.Sequential {
				if final, err = trace.ReplaySequential(tr, "seph"); err != nil {
					t.Fatal(err)
				}
			} else {
				c, err := trace.ReplayConcurrent(tr)
				if err != nil {
					t.Fatal(err)
				}
				if final, err = trace.Merge(c.All()); err != nil {
					t.Fatal(err)
				}
				// Delivered out of order, through the buffer, the result
				// is the same.
				back, err := mergeBuffered(c.All())
				if err != nil {
					t.Fatal(err)
				}
				if back.Text() != tr.End {
					t.Fatalf("merging in reverse order gives a different text")
				}
			}
			if tr.Kind == trace.Sequential {
				// Through Edit the history is the same: same text, and the
				// same operations when sent.
				ed, err := trace.ReplaySequentialEdits(tr, "seph")
				if err != nil {
					t.Fatal(err)
				}
				if ed.Text() != tr.End || !equalVersions(ed.Version(), final.Version()) {
					t.Fatal("replaying through Edit gives another document")
				}
				fromEdit, _ := crdt.New("e")
				for _, tx := range ed.Missing(crdt.Version{}) {
					if _, err := fromEdit.Apply(tx); err != nil {
						t.Fatal(err)
					}
				}
				for _, tx := range final.Missing(crdt.Version{}) {
					if _, err := fromEdit.Apply(tx); err != nil {
						t.Fatalf("the two histories disagree: %v", err)
					}
				}
			}
			if got := final.Text(); got != tr.End {
				t.Fatalf("text differs from endContent: %d vs %d bytes, first difference at byte %d", len(got), len(tr.End), firstDiff(got, tr.End))
			}
			snap := final.EncodeSnapshot()
			loaded, err := crdt.LoadSnapshot("reader", snap)
			if err != nil {
				t.Fatalf("loading the snapshot: %v", err)
			}
			if loaded.Text() != tr.End {
				t.Fatal("the loaded snapshot's text differs")
			}
			// Catch-up from the loaded replica rebuilds the document.
			fresh, _ := crdt.New("fresh")
			for _, tx := range loaded.Missing(crdt.Version{}) {
				if _, err := fresh.Apply(tx); err != nil {
					t.Fatal(err)
				}
			}
			if fresh.Text() != tr.End {
				t.Fatal("catching up from the loaded snapshot gives a different text")
			}
			if !equalVersions(fresh.Version(), final.Version()) {
				t.Fatalf("versions differ after catch-up: %v vs %v", fresh.Version(), final.Version())
			}
		})
	}
}

// mergeBuffered applies txns in blocks of 4000, each block back to front:
// within a block every transaction but the last arrives before its parents
// and must wait in the buffer.
func mergeBuffered(txns []*crdt.Txn) (*crdt.Doc, error) {
	d, _ := crdt.New("buffered")
	const block = 4000
	for lo := 0; lo < len(txns); lo += block {
		hi := min(lo+block, len(txns))
		for i := hi - 1; i >= lo; i-- {
			if _, err := d.Apply(txns[i]); err != nil {
				return nil, err
			}
		}
		if n := d.Pending(); n != 0 {
			return nil, fmt.Errorf("%d transactions still wait after block %d", n, lo/block)
		}
	}
	return d, nil
}

func equalVersions(a, b crdt.Version) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) < len(b) {
		return len(a)
	}
	return len(b)
}
