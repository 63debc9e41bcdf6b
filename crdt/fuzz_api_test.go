package crdt_test

// Fuzz targets for the decoders and for Apply, each with an invariant
// beyond "does not panic":
//
//	FuzzDecodeTxn     a decoded transaction re-encodes, deterministically, to
//	                  bytes that decode to the same transaction
//	FuzzLoadSnapshot  a loaded snapshot is a consistent document (its history
//	                  replays to its text); loading allocates in proportion
//	                  to the input
//	FuzzApply         a document receiving arbitrary transactions either
//	                  applies them (and its patches, history and snapshot stay
//	                  consistent) or returns an error and changes nothing;
//	                  and it accepts exactly what the reference accepts
//
// The seed corpora in testdata/fuzz/<Target>/ hold valid encodings made by
// crdt.Doc; regenerate them with
//
//	go test ./crdt -run TestWriteFuzzCorpus -crdt.write-corpus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
)

var writeCorpus = flag.Bool("crdt.write-corpus", false, "write the seed corpora of the fuzz targets to testdata/fuzz")

// seedHistory builds, on fresh replicas, a small concurrent history that
// uses every kind of op: runs, non-BMP text, deletes (forwards, backwards,
// across agents), replaces, merges. It returns the replicas and every
// transaction made, in a causal order.
func seedHistory(t testing.TB) (docs map[string]*crdt.Doc, txns []*crdt.Txn) {
	docs = map[string]*crdt.Doc{}
	for _, a := range []string{"alice", "bob", "Carol"} {
		d, err := crdt.New(a)
		if err != nil {
			t.Fatal(err)
		}
		docs[a] = d
	}
	edit := func(agent string, f func(d *crdt.Doc) (*crdt.Txn, error)) {
		tx, err := f(docs[agent])
		if err != nil {
			t.Fatalf("seed history: %s: %v", agent, err)
		}
		txns = append(txns, tx)
	}
	sync := func(to, from string) {
		for _, tx := range docs[from].Missing(docs[to].Version()) {
			if _, err := docs[to].Apply(tx); err != nil {
				t.Fatalf("seed history: sync %s<-%s: %v", to, from, err)
			}
		}
	}
	edit("alice", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Insert(0, "hello world") })
	sync("bob", "alice")
	sync("Carol", "alice")
	edit("bob", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Insert(5, ", 😀 there") })
	edit("Carol", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Replace(6, 5, "𝄞 WORLD") })
	for i := 0; i < 3; i++ { // backward typing
		edit("alice", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Insert(0, string(rune('c'-i))) })
	}
	sync("alice", "bob")
	sync("alice", "Carol")
	edit("alice", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Delete(1, 9) }) // across agents
	for i := 0; i < 3; i++ {                                                      // backspaces
		edit("bob", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Delete(d.Len()-1, 1) })
	}
	edit("Carol", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Delete(0, 2) })
	sync("bob", "alice")
	sync("bob", "Carol")
	edit("bob", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Insert(d.Len(), "!") })
	// Format 2: times, and titles (concurrent renames).
	docs["alice"].SetNow(1_765_000_000_000)
	docs["Carol"].SetNow(1_765_000_000_500)
	edit("alice", func(d *crdt.Doc) (*crdt.Txn, error) { return d.SetTitle("Notes 😀") })
	edit("Carol", func(d *crdt.Doc) (*crdt.Txn, error) { return d.SetTitle("") })
	edit("alice", func(d *crdt.Doc) (*crdt.Txn, error) { return d.Insert(0, "t") })
	return docs, txns
}

func encodeTxn(t testing.TB, tx *crdt.Txn) []byte {
	b, err := crdt.EncodeTxn(tx)
	if err != nil {
		t.Fatalf("EncodeTxn(%s): %v", canonTxn(tx), err)
	}
	return b
}

// normTxn makes nil and empty slices compare equal.
func normTxn(tx *crdt.Txn) *crdt.Txn {
	c := cloneTxn(tx)
	if len(c.Parents) == 0 {
		c.Parents = nil
	}
	if len(c.Ops) == 0 {
		c.Ops = nil
	}
	return c
}

func FuzzDecodeTxn(f *testing.F) {
	_, txns := seedHistory(f)
	for _, tx := range txns {
		f.Add(encodeTxn(f, tx))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := crdt.DecodeTxn(data)
		if err != nil {
			if !errors.Is(err, crdt.ErrFormat) && !errors.Is(err, crdt.ErrInvalid) {
				t.Fatalf("DecodeTxn error %v wraps neither ErrFormat nor ErrInvalid", err)
			}
			return
		}
		enc, err := crdt.EncodeTxn(tx)
		if err != nil {
			t.Fatalf("EncodeTxn of a decoded txn %s: %v", canonTxn(tx), err)
		}
		tx2, err := crdt.DecodeTxn(enc)
		if err != nil {
			t.Fatalf("DecodeTxn(EncodeTxn(%s)): %v", canonTxn(tx), err)
		}
		if !reflect.DeepEqual(normTxn(tx), normTxn(tx2)) {
			t.Fatalf("round trip changed the txn:\n%#v\n%#v", tx, tx2)
		}
		if enc2 := encodeTxn(t, tx2); !bytes.Equal(enc, enc2) {
			t.Fatalf("EncodeTxn is not deterministic: %x then %x", enc, enc2)
		}
	})
}

// allocLimit is how much loading len bytes may allocate: generous for any
// real snapshot, far below what a length field or a compression bomb can
// ask for.
func allocLimit(n int) uint64 { return 64<<20 + 1024*uint64(n) }

// allocated returns the bytes f allocates (on all goroutines: run it alone).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkLoaded checks that a document from a snapshot is consistent: its
// text is valid, its history replays to its text, it re-encodes to a
// snapshot that loads the same, and it takes local edits.
func checkLoaded(t *testing.T, d *crdt.Doc) {
	text := d.Text()
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) != d.Len() {
		t.Fatalf("loaded text %q invalid or Len() %d wrong", text, d.Len())
	}
	fresh, err := crdt.New("fresh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range d.Missing(crdt.Version{}) {
		if _, err := fresh.Apply(tx); err != nil {
			t.Fatalf("replaying the loaded history: %s: %v", canonTxn(tx), err)
		}
	}
	if fresh.Text() != text || !versionsEqual(fresh.Version(), d.Version()) || fresh.Pending() != 0 {
		t.Fatalf("loaded text %q at %s, but its history replays to %q at %s",
			text, fmtVersion(d.Version()), fresh.Text(), fmtVersion(fresh.Version()))
	}
	again, err := crdt.LoadSnapshot("again", d.EncodeSnapshot())
	if err != nil {
		t.Fatalf("re-encoded snapshot does not load: %v", err)
	}
	if again.Text() != text || !versionsEqual(again.Version(), d.Version()) || !slices.Equal(again.Frontier(), d.Frontier()) {
		t.Fatalf("re-encoded snapshot loads as %q at %s, want %q at %s", again.Text(), fmtVersion(again.Version()), text, fmtVersion(d.Version()))
	}
	if _, err := d.Insert(0, "x"); err != nil || d.Text() != "x"+text {
		t.Fatalf("local insert into the loaded document: %v, text %q", err, d.Text())
	}
}

func FuzzLoadSnapshot(f *testing.F) {
	docs, _ := seedHistory(f)
	for _, d := range docs {
		f.Add(d.EncodeSnapshot())
	}
	empty, _ := crdt.New("e")
	f.Add(empty.EncodeSnapshot())
	f.Fuzz(func(t *testing.T, data []byte) {
		var d *crdt.Doc
		var err error
		if n := allocated(func() { d, err = crdt.LoadSnapshot("fuzz", data) }); n > allocLimit(len(data)) {
			t.Fatalf("LoadSnapshot of %d bytes allocated %d bytes (limit %d); err=%v", len(data), n, allocLimit(len(data)), err)
		}
		// OpenSnapshot reads the head alone: it agrees with LoadSnapshot
		// once the history is read, whatever the bytes.
		var lazy *crdt.Doc
		var lerr error
		if n := allocated(func() { lazy, lerr = crdt.OpenSnapshot("fuzz", data) }); n > allocLimit(len(data)) {
			t.Fatalf("OpenSnapshot of %d bytes allocated %d bytes (limit %d); err=%v", len(data), n, allocLimit(len(data)), lerr)
		}
		if lerr != nil && !errors.Is(lerr, crdt.ErrFormat) {
			t.Fatalf("OpenSnapshot error %v does not wrap ErrFormat", lerr)
		}
		if lerr == nil {
			_ = lazy.Text() + fmtVersion(lazy.Version()) + lazy.Frontier().String() + lazy.Title()
			if merr := lazy.Materialize(); (merr == nil) != (err == nil) || merr != nil && !errors.Is(merr, crdt.ErrFormat) {
				t.Fatalf("OpenSnapshot then Materialize: %v; LoadSnapshot: %v", merr, err)
			}
		} else if err == nil {
			t.Fatalf("OpenSnapshot refused what LoadSnapshot read: %v", lerr)
		}
		if err != nil {
			if !errors.Is(err, crdt.ErrFormat) {
				t.Fatalf("LoadSnapshot error %v does not wrap ErrFormat", err)
			}
			return
		}
		sameHead(t, "fuzz", lazy, d)
		checkLoaded(t, d)
	})
}

// zstdRLEBomb returns a zstd frame that decompresses to n zero bytes (n a
// multiple of 128 KiB) in 4 bytes per 128 KiB: RLE blocks.
func zstdRLEBomb(n int) []byte {
	const block = 128 << 10
	b := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3} // magic; no FCS, no checksum; 128 KiB window
	for i := 0; i < n/block; i++ {
		h := uint32(block)<<3 | 1<<1 // RLE block
		if i == n/block-1 {
			h |= 1 // last
		}
		b = append(b, byte(h), byte(h>>8), byte(h>>16), 0x00)
	}
	return b
}

// TestLoadSnapshotDecompressionBomb: a snapshot of a few KiB whose body
// (or head) decompresses to 128 MiB. Loading must fail without allocating anything
// like that.
func TestLoadSnapshotDecompressionBomb(t *testing.T) {
	const raw = 128 << 20
	for _, w := range []crdt.WireSnapshot{
		{V: 3, Agents: []string{"a"}, End: 1, RawLen: raw, Body: zstdRLEBomb(raw), HeadLen: 4, Head: zstdRLEBomb(128 << 10)},
		{V: 3, Agents: []string{"a"}, End: 1, RawLen: 4, Body: zstdRLEBomb(128 << 10), HeadLen: raw, Head: zstdRLEBomb(raw)},
	} {
		data, err := cbor.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		for name, load := range map[string]func(string, []byte) (*crdt.Doc, error){"LoadSnapshot": crdt.LoadSnapshot, "OpenSnapshot": crdt.OpenSnapshot} {
			var d *crdt.Doc
			n := allocated(func() { d, err = load("x", data) })
			if err == nil {
				t.Errorf("%s accepted a section of zeros: %q", name, d.Text())
			}
			if n > allocLimit(len(data)) {
				t.Errorf("%s of a %d-byte snapshot allocated %d MiB (limit %d MiB): a section's decompressed size must be bounded by something the input pays for", name, len(data), n>>20, allocLimit(len(data))>>20)
			}
		}
	}
}

// applyChunks splits fuzz bytes into length-prefixed chunks (2-byte big
// endian lengths).
func applyChunks(data []byte) [][]byte {
	var chunks [][]byte
	for len(data) >= 2 {
		n := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		chunks = append(chunks, data[:n])
		data = data[n:]
	}
	return chunks
}

func joinChunks(chunks ...[]byte) []byte {
	var b []byte
	for _, c := range chunks {
		b = binary.BigEndian.AppendUint16(b, uint16(len(c)))
		b = append(b, c...)
	}
	return b
}

// applyBase is the document FuzzApply starts from: bob's replica after the
// seed history's first half (so other agents' later txns are concurrent,
// known, or waiting), and a reference replica with the same history.
func applyBase(t testing.TB) (*crdt.Doc, *refDoc) {
	d, err := crdt.New("bob")
	if err != nil {
		t.Fatal(err)
	}
	ref := newRef("bob", ruleDesign)
	_, txns := seedHistory(t)
	for _, tx := range txns[:len(txns)/2] {
		if _, err := d.Apply(tx); err != nil {
			t.Fatalf("base: %v", err)
		}
		if _, err := ref.Apply(tx); err != nil {
			t.Fatalf("base (reference): %v", err)
		}
	}
	return d, ref
}

func FuzzApply(f *testing.F) {
	_, txns := seedHistory(f)
	var all [][]byte
	for _, tx := range txns {
		all = append(all, encodeTxn(f, tx))
	}
	f.Add(joinChunks(all...))
	slices.Reverse(all)
	f.Add(joinChunks(all...)) // every txn before its parents
	f.Add(joinChunks(all[0], all[len(all)-1], all[0]))
	f.Add(joinChunks([]byte("\x01\x00\x00\x01\x02\x01\x03"), []byte("\x03\x01\x02\x00\x05\x01\x00\x01")))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, ref := applyBase(t)
		view := []rune(d.Text())
		var err error
		for _, chunk := range applyChunks(data) {
			var tx *crdt.Txn
			if len(chunk) > 0 && chunk[0]&1 == 1 {
				tx = buildTxn(d, &byteChooser{data: chunk[1:]})
			} else if tx, err = crdt.DecodeTxn(chunk); err != nil {
				continue
			}
			text, v, fr, pend := d.Text(), d.Version(), d.Frontier(), d.Pending()
			patch, err := d.Apply(cloneTxn(tx))
			_, refErr := ref.Apply(cloneTxn(tx))
			if (err == nil) != (refErr == nil) {
				t.Fatalf("Apply(%s) returned %v; the reference returns %v", canonTxn(tx), err, refErr)
			}
			if d.Text() != ref.Text() || !versionsEqual(d.Version(), ref.Version()) {
				t.Fatalf("after Apply(%s): %q at %s; the reference has %q at %s", canonTxn(tx),
					d.Text(), fmtVersion(d.Version()), ref.Text(), fmtVersion(ref.Version()))
			}
			if err != nil {
				if d.Text() != text || !versionsEqual(d.Version(), v) || !slices.Equal(d.Frontier(), fr) || d.Pending() != pend {
					t.Fatalf("Apply(%s) failed (%v) but changed the document", canonTxn(tx), err)
				}
				continue
			}
			if view, err = applyPatch(view, patch); err != nil || string(view) != d.Text() {
				t.Fatalf("Apply(%s): patch %v gives %q, Text() is %q (%v)", canonTxn(tx), patch, string(view), d.Text(), err)
			}
		}
		checkLoaded(t, d)
	})
}

// buildTxn makes a transaction from fuzz choices that is often nearly valid
// for d: a known agent (or a new one), a seq near the agent's next one,
// parents, origins and targets among IDs near what d knows.
func buildTxn(d *crdt.Doc, c chooser) *crdt.Txn {
	agents := []string{"alice", "bob", "Carol", "dave"}
	v := d.Version()
	near := func(a string) uint64 { // a seq near a's next one
		s := int(v[a]) + c.intn(5) - 3
		return uint64(max(s, 0))
	}
	id := func() crdt.ID {
		if c.intn(5) == 0 {
			return crdt.ID{}
		}
		a := agents[c.intn(len(agents))]
		return crdt.ID{Agent: a, Seq: near(a)}
	}
	agent := agents[c.intn(len(agents))]
	tx := &crdt.Txn{Agent: agent, Seq: near(agent)}
	if c.intn(3) == 0 {
		tx.Parents = d.Frontier()
	} else {
		for n := c.intn(3); n > 0; n-- {
			if p := id(); !p.IsZero() {
				tx.Parents = append(tx.Parents, p)
			}
		}
		sortIDs(tx.Parents)
		tx.Parents = slices.Compact(tx.Parents)
	}
	for n := 1 + c.intn(3); n > 0; n-- {
		if c.intn(2) == 0 {
			text := []string{"x", "yz", "😀", "é中", "\x00"}[c.intn(5)]
			tx.Ops = append(tx.Ops, crdt.Op{Kind: crdt.OpInsert, Text: text, Left: id(), Right: id()})
		} else {
			tx.Ops = append(tx.Ops, crdt.Op{Kind: crdt.OpDelete, Target: id(), Len: 1 + c.intn(3), Rev: c.intn(2) == 0})
		}
	}
	return tx
}

// TestWriteFuzzCorpus writes the seed corpora (run with -crdt.write-corpus).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -crdt.write-corpus to rewrite testdata/fuzz")
	}
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs, txns := seedHistory(t)
	var all [][]byte
	for i, tx := range txns {
		b := encodeTxn(t, tx)
		all = append(all, b)
		write("FuzzDecodeTxn", fmt.Sprintf("seed-txn-%02d", i), b)
	}
	for _, a := range []string{"alice", "bob", "Carol"} {
		write("FuzzLoadSnapshot", "seed-"+a, docs[a].EncodeSnapshot())
	}
	write("FuzzApply", "seed-in-order", joinChunks(all...))
	rev := slices.Clone(all)
	slices.Reverse(rev)
	write("FuzzApply", "seed-reversed", joinChunks(rev...))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 4; i++ {
		b := make([]byte, 300+r.IntN(700))
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		write("FuzzConverge", fmt.Sprintf("seed-random-%d", i), b)
	}
}
