package crdt

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeWireReflect is the reflection decoder decodeWire replaced
// (fxamacker/cbor into the wire structs), into a fresh struct each time:
// the oracle of FuzzCodecEquality.
func decodeWireReflect(data []byte, w *wireTxn) error {
	if len(data) > 0 && data[0] == 0x85 {
		var w1 wireTxnV1
		if err := decMode.Unmarshal(data, &w1); err != nil {
			return err
		}
		*w = wireTxn{V: w1.V, Agents: w1.Agents, Seq: w1.Seq, Parents: w1.Parents, Ops: w1.Ops}
		return nil
	}
	var fresh wireTxn
	if err := decMode.Unmarshal(data, &fresh); err != nil {
		return err
	}
	*w = fresh
	return nil
}

func codecSeeds() [][]byte {
	txns := []*Txn{
		{Agent: "alice", Seq: 0, Ops: []Op{{Kind: OpInsert, Text: "héllo 🙂"}}},
		{Agent: "bob", Seq: 7, Time: 1733600000000, Parents: []ID{{Agent: "alice", Seq: 3}, {Agent: "carol", Seq: 1 << 20}},
			Ops: []Op{
				{Kind: OpInsert, Text: "x", Left: ID{Agent: "alice", Seq: 2}, Right: ID{Agent: "carol", Seq: 9}},
				{Kind: OpDelete, Target: ID{Agent: "alice", Seq: 4}, Len: 3, Rev: true},
				{Kind: OpDelete, Target: ID{Agent: "bob", Seq: 1}, Len: 1 << 30},
				{Kind: OpTitle, Text: "A title"},
			}},
	}
	var out [][]byte
	for _, t := range txns {
		b, err := EncodeTxn(t)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
		// The same as format 1 (no time, no title op): [1, …] of five.
		if t.Time == 0 {
			v1 := append([]byte{0x85, 0x01}, b[2:len(b)-1]...)
			out = append(out, v1)
		}
	}
	out = append(out,
		[]byte{0xf6}, []byte{0x86, 0xf6, 0xf6, 0xf6, 0xf6, 0xf6, 0xf6},
		[]byte{0x98, 0x06, 0x12, 0x81, 0x61, 0x61, 0x00, 0x80, 0x81, 0x88, 0x01, 0x61, 0x62, 0, 0, 0, 0, 0, 0xf4, 0x00},
		[]byte{0x86, 0x12, 0x81, 0x61, 0x61, 0x18, 0x00, 0x80, 0x81, 0x88, 0x01, 0x61, 0x62, 0, 0, 0, 0, 0, 0xf7, 0x1b, 0, 0, 0, 0, 0, 0, 0, 1},
		[]byte{0x86, 0x12, 0x81, 0x41, 0x61, 0x00, 0x80, 0x81, 0x88, 0x01, 0x61, 0x62, 0, 0, 0, 0, 0, 0xf4, 0x00},
		[]byte{0x86, 0x12, 0x9f, 0x61, 0x61, 0xff, 0x00, 0x80, 0x81, 0x88, 0x01, 0x61, 0x62, 0, 0, 0, 0, 0, 0xf4, 0x00},
	)
	return out
}

// FuzzCodecEquality: the hand-laid decoder and the reflection decoder give
// the same transaction for every input, and fail on the same inputs.
func FuzzCodecEquality(f *testing.F) {
	for _, s := range codecSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCodecEqual(t, data)
	})
}

func checkCodecEqual(t *testing.T, data []byte) {
	t.Helper()
	got, gerr := decodeTxn(data, decodeWire)
	want, werr := decodeTxn(data, decodeWireReflect)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("input %x: hand-laid: %v; reflection: %v", data, gerr, werr)
	}
	if werr != nil {
		if errors.Is(werr, ErrFormat) != errors.Is(gerr, ErrFormat) || errors.Is(werr, ErrInvalid) != errors.Is(gerr, ErrInvalid) {
			t.Fatalf("input %x: hand-laid: %v; reflection: %v (different kinds)", data, gerr, werr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("input %x:\nhand-laid  %+v\nreflection %+v", data, got, want)
	}
}

// TestCodecEqualityMutations: every seed with each byte changed, cut short
// or extended decodes the same both ways.
func TestCodecEqualityMutations(t *testing.T) {
	for _, s := range codecSeeds() {
		checkCodecEqual(t, s)
		for i := range s {
			checkCodecEqual(t, s[:i])
			for _, x := range []byte{0x00, 0x01, 0x17, 0x18, 0x1f, 0x20, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xc0, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xff, s[i] ^ 0x20, s[i] + 1} {
				m := append([]byte(nil), s...)
				m[i] = x
				checkCodecEqual(t, m)
			}
		}
		checkCodecEqual(t, append(append([]byte(nil), s...), 0x00))
	}
}

// BenchmarkDecodeTxn decodes a keystroke-sized transaction (one insert
// with both origins, one parent) with each parser.
func BenchmarkDecodeTxn(b *testing.B) {
	data, err := EncodeTxn(&Txn{Agent: "alice", Seq: 1041, Time: 1733600000000, Parents: []ID{{Agent: "bob", Seq: 977}},
		Ops: []Op{{Kind: OpInsert, Text: "e", Left: ID{Agent: "alice", Seq: 1040}, Right: ID{Agent: "bob", Seq: 12}}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		parse func([]byte, *wireTxn) error
	}{{"hand-laid", decodeWire}, {"reflection", decodeWireReflectPooled}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := decodeTxn(data, c.parse); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// decodeWireReflectPooled is what DecodeTxn did before: reflection into
// the pooled struct.
func decodeWireReflectPooled(data []byte, w *wireTxn) error {
	if len(data) > 0 && data[0] == 0x85 {
		return decodeWireReflect(data, w)
	}
	return decMode.Unmarshal(data, w)
}

// BenchmarkParseTxn is BenchmarkDecodeTxn's CBOR parsing alone.
func BenchmarkParseTxn(b *testing.B) {
	data, _ := EncodeTxn(&Txn{Agent: "alice", Seq: 1041, Time: 1733600000000, Parents: []ID{{Agent: "bob", Seq: 977}},
		Ops: []Op{{Kind: OpInsert, Text: "e", Left: ID{Agent: "alice", Seq: 1040}, Right: ID{Agent: "bob", Seq: 12}}}})
	for _, c := range []struct {
		name  string
		parse func([]byte, *wireTxn) error
	}{{"hand-laid", decodeWire}, {"reflection", decodeWireReflectPooled}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var w wireTxn
			for i := 0; i < b.N; i++ {
				w.Agents, w.Parents, w.Ops = w.Agents[:0], w.Parents[:0], w.Ops[:0]
				if err := c.parse(data, &w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRuneCountValid: the one-pass count and check agrees with package
// utf8 on random strings, valid and not; checkAgentFast with checkAgent.
func TestRuneCountValid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	alphabet := []string{"a", "Z", " ", "é", "🙂", "\xff", "\xe2\x82", "\x80", "中"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for k := r.IntN(12); k > 0; k-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s := b.String()
		n, ok := runeCountValid(s)
		if ok != utf8.ValidString(s) || ok && n != utf8.RuneCountInString(s) {
			t.Fatalf("%q: %d %v", s, n, ok)
		}
		if (checkAgentFast(s) == nil) != (checkAgent(s) == nil) {
			t.Fatalf("agent %q: fast %v, full %v", s, checkAgentFast(s), checkAgent(s))
		}
	}
	long := strings.Repeat("a", MaxAgentLen+1)
	if (checkAgentFast(long) == nil) != (checkAgent(long) == nil) {
		t.Fatal("a name past MaxAgentLen")
	}
}
