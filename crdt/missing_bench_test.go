package crdt_test

import (
	"strings"
	"testing"

	"weft/crdt"
)

// mixedText returns n bytes (about) of UTF-8 text mixing ASCII, Greek,
// CJK and emoji, with CR LF line ends: what an import reads.
func mixedText(n int) string {
	parts := []string{"the quick brown fox ", "λόγος ", "漢字かな ", "🙂🚀 ", "jumps\r\n"}
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		sb.WriteString(parts[i%len(parts)])
	}
	return sb.String()
}

// importedDoc builds a document the way `weft doc import` does: one
// transaction per chunk, each appended at the end. It returns the
// document and its version before each chunk.
func importedDoc(tb testing.TB, chunks, size int) (*crdt.Doc, []crdt.Version) {
	tb.Helper()
	d, _ := crdt.New("importer")
	chunk := mixedText(size)
	var before []crdt.Version
	for i := 0; i < chunks; i++ {
		before = append(before, d.Version())
		if err := d.SetNow(1_765_000_000_000 + int64(i)); err != nil {
			tb.Fatal(err)
		}
		if _, err := d.Insert(d.Len(), chunk); err != nil {
			tb.Fatal(err)
		}
	}
	return d, before
}

// BenchmarkMissing measures Missing, which catch-up and every local step
// use: all of a document imported as 16 × 1 MiB transactions, the last
// chunk of it (the step after an import's last chunk), and all of
// automerge-paper (259,778 operations).
func BenchmarkMissing(b *testing.B) {
	d, before := importedDoc(b, 16, 1<<20)
	b.Run("Import16x1MiB/all", func(b *testing.B) {
		start := cpuTime()
		for b.Loop() {
			if len(d.Missing(crdt.Version{})) == 0 {
				b.Fatal("nothing missing")
			}
		}
		reportCPU(b, start)
	})
	b.Run("Import16x1MiB/last", func(b *testing.B) {
		v := before[len(before)-1]
		start := cpuTime()
		for b.Loop() {
			if len(d.Missing(v)) == 0 {
				b.Fatal("nothing missing")
			}
		}
		reportCPU(b, start)
	})
	b.Run("Paper/all", func(b *testing.B) {
		p := paperWithTimes(b)
		b.ResetTimer()
		start := cpuTime()
		for b.Loop() {
			if len(p.Missing(crdt.Version{})) == 0 {
				b.Fatal("nothing missing")
			}
		}
		reportCPU(b, start)
	})
}

// TestMissingImported checks Missing of an imported document against the
// text: replaying what it returns rebuilds the document, and what is
// missing after each chunk is exactly that chunk.
func TestMissingImported(t *testing.T) {
	const chunks, size = 6, 100_000
	d, before := importedDoc(t, chunks, size)
	chunk := mixedText(size)
	for i, v := range before {
		var sb strings.Builder
		for _, tx := range d.Missing(v) {
			for _, op := range tx.Ops {
				if op.Kind != crdt.OpInsert {
					t.Fatalf("chunk %d: op kind %v, want inserts only", i, op.Kind)
				}
				sb.WriteString(op.Text)
			}
		}
		if want := strings.Repeat(chunk, chunks-i); sb.String() != want {
			t.Fatalf("chunk %d: Missing carries %d bytes of text, want %d (the chunks from %d on)", i, sb.Len(), len(want), i)
		}
	}
	r, _ := crdt.New("reader")
	for _, tx := range d.Missing(crdt.Version{}) {
		if _, err := r.Apply(tx); err != nil {
			t.Fatal(err)
		}
	}
	if r.Text() != d.Text() {
		t.Fatalf("replaying Missing gives %d bytes, want %d", len(r.Text()), len(d.Text()))
	}
}
