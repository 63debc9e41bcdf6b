package crdt_test

import (
	"path/filepath"
	"testing"

	"weft/crdt"
	"weft/internal/trace"
)

// paperWithTimes replays automerge-paper typed by one author whose clock
// moves 2 s per transaction, pausing 10 minutes every 2,000 transactions
// (so that the log has sessions to find).
func paperWithTimes(b *testing.B) *crdt.Doc {
	b.Helper()
	tr, err := trace.Load(filepath.Join("..", "testdata", "traces", "sequential", "automerge-paper.json.gz"))
	if err != nil {
		b.Fatal(err)
	}
	d, _ := crdt.New("seph")
	ms := int64(1_765_000_000_000)
	for i := range tr.Txns {
		ms += 2000
		if i%2000 == 1999 {
			ms += 10 * 60 * 1000
		}
		d.SetNow(ms)
		for p := range tr.PatchesOf(i) {
			if err := d.Edit(p.Pos, p.Del, p.Ins); err != nil {
				b.Fatal(err)
			}
		}
	}
	if d.Text() != tr.End {
		b.Fatal("replay does not reach the trace's end")
	}
	return d
}

// BenchmarkHistoryPaper measures the history queries on automerge-paper
// (259,778 operations): the text at versions spread over the history, the
// session log, and blame of the last version.
func BenchmarkHistoryPaper(b *testing.B) {
	d := paperWithTimes(b)
	n := d.Version()["seph"]
	var versions []crdt.Frontier
	for k := uint64(1); k <= 8; k++ {
		versions = append(versions, crdt.Frontier{{Agent: "seph", Seq: n*k/8 - 1}})
	}
	b.Run("TextAt", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := d.TextAt(versions[i%len(versions)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Sessions", func(b *testing.B) {
		for b.Loop() {
			if len(d.Sessions(0)) == 0 {
				b.Fatal("no sessions")
			}
		}
	})
	b.Run("Blame", func(b *testing.B) {
		f := d.Frontier()
		for b.Loop() {
			if _, err := d.Blame(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TextAtAfterEdit", func(b *testing.B) {
		// Each call follows an edit, so the query index is rebuilt.
		for i := 0; b.Loop(); i++ {
			d.Edit(0, 0, "x")
			d.Edit(0, 1, "")
			if _, err := d.TextAt(versions[i%len(versions)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("VersionAt", func(b *testing.B) {
		for b.Loop() {
			d.VersionAt(1_765_000_000_000 + 30_000_000)
		}
	})
}
