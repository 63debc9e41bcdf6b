package crdt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// decodeTxnReflect is the reference DecodeTxn is held to: fxamacker/cbor's
// reflection into the wire structs (a fresh one each time), the wire
// struct's checks (refTxn) and validateTxn, one after the other. It is
// how transactions were decoded before codec.go.
func decodeTxnReflect(data []byte) (*Txn, error) {
	if len(data) > MaxTxnBytes {
		return nil, fmt.Errorf("%w: transaction of %d bytes (at most %d)", ErrFormat, len(data), MaxTxnBytes)
	}
	var w wireTxn
	if err := decodeWireReflect(data, &w); err != nil {
		return nil, fmt.Errorf("%w: transaction: %v", ErrFormat, err)
	}
	t, err := refTxn(data, &w)
	if err != nil {
		return nil, err
	}
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeWireReflect decodes data into w by reflection: format 1's layout
// when data starts with a five-item array head, format 2's otherwise.
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
	// Well formed and not valid (validateTxn's rules), or valid only
	// just: many agents, an agent named "" as an origin, as a parent and
	// as a target, unsorted parents, a control character in a title.
	ins := func(a1, s1, a2, s2 uint64) wireOp { return wireOp{K: 1, Text: "xé", A1: a1, S1: s1, A2: a2, S2: s2} }
	for _, w := range []wireTxn{
		{Agents: []string{"a", "b", "c", "d", "e", "f"}, Seq: 9, Parents: []uint64{2, 1, 3, 1, 6, 4}, Ops: []wireOp{ins(5, 2, 6, 3), {K: 2, A1: 4, S1: 7, Len: 2, Rev: true}}},
		{Agents: []string{"a", ""}, Seq: 1, Ops: []wireOp{ins(2, 5, 0, 0)}},
		{Agents: []string{"a", ""}, Seq: 1, Parents: []uint64{2, 0}, Ops: []wireOp{ins(0, 0, 0, 0)}},
		{Agents: []string{"a", ""}, Seq: 1, Ops: []wireOp{{K: 2, A1: 2, S1: 0, Len: 1}}},
		{Agents: []string{"a", "b", "c"}, Seq: 4, Parents: []uint64{3, 1, 2, 1}, Ops: []wireOp{ins(1, 2, 0, 0)}},
		{Agents: []string{"a"}, Seq: 4, Ops: []wireOp{{K: 3, Text: "a\x01b"}}},
		{Agents: []string{"a"}, Seq: MaxSeq - 1, Ops: []wireOp{ins(0, 0, 0, 0)}},
	} {
		w.V = txnFormat
		b, err := encMode.Marshal(w)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
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
	got, gerr := DecodeTxn(data)
	want, werr := decodeTxnReflect(data)
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
	if err := validateTxn(got); err != nil {
		t.Fatalf("input %x: decoded, and then invalid: %v", data, err)
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

// TestCodecEqualityRandomWire: well-formed transactions of random fields
// (names empty, long or not UTF-8's shortest, indices in and out of
// range, kinds 0 to 4, seqs and lengths near the limits, parents in any
// order) decode the same both ways: the byte fuzzer rarely builds these.
func TestCodecEqualityRandomWire(t *testing.T) {
	const seed = 15
	r := rand.New(rand.NewPCG(seed, seed))
	names := []string{"a", "b", "alice", "a", "b", "alice", "", strings.Repeat("n", MaxAgentLen), strings.Repeat("m", MaxAgentLen+1), "é"}
	// odd is true now and then: that field is drawn from its odd values.
	odd := func() bool { return r.IntN(12) == 0 }
	pick := func(usual uint64, odds ...uint64) uint64 {
		if odd() {
			return odds[r.IntN(len(odds))]
		}
		return usual
	}
	outcomes := map[string]int{}
	for i := 0; i < 20000; i++ {
		w := wireTxn{V: pick(txnFormat, txnFormatV1, 2), Seq: pick(uint64(r.IntN(50)), MaxSeq-3, MaxSeq, 1<<63)}
		for k := 1 + r.IntN(3); k > 0; k-- {
			w.Agents = append(w.Agents, names[r.IntN(len(names))])
		}
		na := uint64(len(w.Agents))
		ref := func() uint64 { return pick(1+r.Uint64N(na), 0, na+1) }
		for k := r.IntN(4); k > 0; k-- {
			w.Parents = append(w.Parents, ref(), pick(uint64(r.IntN(9)), MaxSeq, MaxSeq+1))
		}
		for k := 1 + r.IntN(3); k > 0; k-- {
			o := wireOp{K: pick(1+r.Uint64N(3), 0, 4, 257)}
			switch o.K {
			case 1, 257:
				o.Text = []string{"x", "héllo", "\u200b", ""}[r.IntN(4)]
				o.A1, o.S1 = pick(0, 1+r.Uint64N(na)), pick(uint64(r.IntN(9)), MaxSeq+1)
				if o.A1 == 0 {
					o.S1 = pick(0, 3)
				}
				o.A2, o.S2 = pick(0, 1+r.Uint64N(na)), pick(0, uint64(r.IntN(9)), MaxSeq+1)
				o.Len, o.Rev = pick(0, 1), odd()
			case 2:
				o.Text = []string{"", "x"}[pick(0, 1)]
				o.A1, o.S1 = ref(), pick(uint64(r.IntN(9)), MaxSeq, MaxSeq-1)
				o.A2, o.S2 = pick(0, 1), pick(0, 1)
				o.Len, o.Rev = pick(1+r.Uint64N(3), 0, MaxSeq, MaxSeq+1), r.IntN(2) == 0
			case 3:
				o.Text = []string{"A title", "a\x01", ""}[pick(0, 1, 2)]
				o.A1, o.Len, o.Rev = pick(0, 1), pick(0, 2), odd()
			}
			w.Ops = append(w.Ops, o)
		}
		if odd() {
			w.Ops = nil
		}
		w.Time = pick(1733600000000, 0, MaxTime, MaxTime+1)
		var data []byte
		var err error
		if w.V == txnFormatV1 {
			data, err = encMode.Marshal(wireTxnV1{V: w.V, Agents: w.Agents, Seq: w.Seq, Parents: w.Parents, Ops: w.Ops})
		} else {
			data, err = encMode.Marshal(w)
		}
		if err != nil {
			t.Fatalf("seed %d, transaction %d: %v", seed, i, err)
		}
		checkCodecEqual(t, data)
		switch _, err := DecodeTxn(data); {
		case err == nil:
			outcomes["accepted"]++
		case errors.Is(err, ErrInvalid):
			outcomes["invalid"]++
		default:
			outcomes["malformed"]++
		}
	}
	t.Logf("seed %d: %v", seed, outcomes)
	// Each outcome is met often, or the test tests less than it says.
	for _, k := range []string{"accepted", "invalid", "malformed"} {
		if outcomes[k] < 500 {
			t.Errorf("seed %d: %d transactions %s of 20000 (%v)", seed, outcomes[k], k, outcomes)
		}
	}
}

// TestDecodeTxnConcurrent: decodes at once, of transactions whose agent
// names meet in agentNames's slots, give each its own names (run it with
// -race for the cache's races).
func TestDecodeTxnConcurrent(t *testing.T) {
	var wire [][]byte
	var want []*Txn
	for i := 0; i < 64; i++ {
		a, b := fmt.Sprintf("agent-%d", i), fmt.Sprintf("peer-%d", i%7)
		x := &Txn{Agent: a, Seq: uint64(i + 1), Parents: []ID{{Agent: b, Seq: 3}}, Ops: []Op{{Kind: OpInsert, Text: "q", Left: ID{Agent: b, Seq: 2}}}}
		data, err := EncodeTxn(x)
		if err != nil {
			t.Fatal(err)
		}
		y, err := decodeTxnReflect(data)
		if err != nil {
			t.Fatal(err)
		}
		wire, want = append(wire, data), append(want, y)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 200; round++ {
				k := (round*7 + g*13) % len(wire)
				got, err := DecodeTxn(wire[k])
				if err == nil && !reflect.DeepEqual(got, want[k]) {
					err = fmt.Errorf("transaction %d: got %+v, want %+v", k, got, want[k])
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkDecodeTxn decodes a keystroke-sized transaction (one insert
// with both origins, one parent): DecodeTxn (hand-laid) and the reference
// (reflection).
func BenchmarkDecodeTxn(b *testing.B) {
	data, err := EncodeTxn(&Txn{Agent: "alice", Seq: 1041, Time: 1733600000000, Parents: []ID{{Agent: "bob", Seq: 977}},
		Ops: []Op{{Kind: OpInsert, Text: "e", Left: ID{Agent: "alice", Seq: 1040}, Right: ID{Agent: "bob", Seq: 12}}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func([]byte) (*Txn, error)
	}{{"hand-laid", DecodeTxn}, {"reflection", decodeTxnReflect}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := c.decode(data); err != nil {
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

// refTxn builds the transaction w holds (parsed from data) and checks
// what the wire format requires of it; validateTxn does the rest. It is
// the code DecodeTxn ran before codec.go parsed straight into the Txn.
func refTxn(data []byte, w *wireTxn) (*Txn, error) {
	// The array's length tells the formats apart: 5 items (0x85) is
	// version 1, 6 (0x86) version 2.
	if len(data) > 0 && data[0] == 0x85 {
		if w.V != txnFormatV1 {
			return nil, fmt.Errorf("%w: transaction format version %d in a format-1 layout", ErrFormat, w.V)
		}
		w.Time = 0
	} else {
		if w.V != txnFormat {
			return nil, fmt.Errorf("%w: transaction format version %d (this build reads %d and %d)", ErrFormat, w.V, txnFormatV1, txnFormat)
		}
		if w.Time > MaxTime {
			return nil, fmt.Errorf("%w: transaction time %d (at most %d)", ErrFormat, w.Time, int64(MaxTime))
		}
	}
	if len(w.Agents) == 0 {
		return nil, fmt.Errorf("%w: transaction without agents", ErrFormat)
	}
	id := func(r wireRef, what string, zeroOK bool) (ID, error) {
		if r.A == 0 {
			if !zeroOK || r.S != 0 {
				return ID{}, fmt.Errorf("%w: %s names no agent", ErrFormat, what)
			}
			return ID{}, nil
		}
		if r.A > uint64(len(w.Agents)) {
			return ID{}, fmt.Errorf("%w: %s names agent %d of %d", ErrFormat, what, r.A, len(w.Agents))
		}
		return ID{Agent: w.Agents[r.A-1], Seq: r.S}, nil
	}
	if len(w.Parents)%2 != 0 {
		return nil, fmt.Errorf("%w: parents are not (agent, seq) pairs", ErrFormat)
	}
	// One allocation holds the transaction and, in the common case, its
	// parent and op.
	lt := &localTxn{}
	t := &lt.Txn
	t.Agent, t.Seq, t.Time = w.Agents[0], w.Seq, int64(w.Time)
	if n := len(w.Parents) / 2; n <= 1 {
		t.Parents = lt.parents[:n]
	} else {
		t.Parents = make([]ID, n)
	}
	if n := len(w.Ops); n <= 1 {
		t.Ops = lt.ops[:n]
	} else {
		t.Ops = make([]Op, n)
	}
	var err error
	for i := range t.Parents {
		if t.Parents[i], err = id(wireRef{w.Parents[2*i], w.Parents[2*i+1]}, "parent", false); err != nil {
			return nil, err
		}
	}
	for i := range w.Ops {
		wo, o := &w.Ops[i], &t.Ops[i]
		switch OpKind(wo.K) {
		case OpInsert:
			if wo.Len != 0 || wo.Rev {
				return nil, fmt.Errorf("%w: insert op %d has delete fields", ErrFormat, i)
			}
			o.Kind, o.Text = OpInsert, wo.Text
			if o.Left, err = id(wireRef{wo.A1, wo.S1}, "originLeft", true); err != nil {
				return nil, err
			}
			if o.Right, err = id(wireRef{wo.A2, wo.S2}, "originRight", true); err != nil {
				return nil, err
			}
		case OpDelete:
			if wo.Text != "" || wo.A2 != 0 || wo.S2 != 0 {
				return nil, fmt.Errorf("%w: delete op %d has insert fields", ErrFormat, i)
			}
			if wo.Len > MaxSeq {
				return nil, fmt.Errorf("%w: delete op %d of %d items", ErrFormat, i, wo.Len)
			}
			o.Kind, o.Len, o.Rev = OpDelete, int(wo.Len), wo.Rev
			if o.Target, err = id(wireRef{wo.A1, wo.S1}, "delete target", false); err != nil {
				return nil, err
			}
		case OpTitle:
			if w.V == txnFormatV1 {
				return nil, fmt.Errorf("%w: title op %d in a format-1 transaction", ErrFormat, i)
			}
			if wo.A1 != 0 || wo.S1 != 0 || wo.A2 != 0 || wo.S2 != 0 || wo.Len != 0 || wo.Rev {
				return nil, fmt.Errorf("%w: title op %d has insert or delete fields", ErrFormat, i)
			}
			o.Kind, o.Text = OpTitle, wo.Text
		default:
			return nil, fmt.Errorf("%w: op %d has unknown kind %d", ErrFormat, i, wo.K)
		}
	}
	return t, nil
}

// BenchmarkValidateTxn is validateTxn (Apply's check) of
// BenchmarkDecodeTxn's transaction.
func BenchmarkValidateTxn(b *testing.B) {
	t := &Txn{Agent: "alice", Seq: 1041, Time: 1733600000000, Parents: []ID{{Agent: "bob", Seq: 977}},
		Ops: []Op{{Kind: OpInsert, Text: "e", Left: ID{Agent: "alice", Seq: 1040}, Right: ID{Agent: "bob", Seq: 12}}}}
	for i := 0; i < b.N; i++ {
		if err := validateTxn(t); err != nil {
			b.Fatal(err)
		}
	}
}
