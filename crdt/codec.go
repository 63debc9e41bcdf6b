package crdt

import (
	"errors"
	"fmt"
	"sync/atomic"

	"weft/vocab"
)

// A hand-laid decoder of the transaction format (encode.go), in place of
// fxamacker/cbor's reflection: decoding one small transaction by
// reflection cost about as much as integrating it (BENCHMARKS.md, "Merge
// and load (issue 14)"). It parses straight into the Txn, resolving agent
// indices as it goes, and checks what validateTxn would on the way.
//
// It accepts exactly what the reflection decoder with decMode's options
// accepted into wireTxn, followed by wireTxn's checks and validateTxn
// (FuzzCodecEquality checks the two paths against each other on valid and
// invalid input): definite lengths only, no tags, integers in any of
// CBOR's widths (not only the shortest), text strings of valid UTF-8 (not
// byte strings), arrays of exactly the struct's length, at most decMode's
// array length, and nothing after the transaction. CBOR null and undefined
// stand for a field's zero value, as they do for a freshly allocated
// struct there, and a simple value other than false, true, null and
// undefined reads as its number where an integer is wanted.
//
// Malformed bytes are ErrFormat and a well-formed transaction that breaks
// validateTxn's rules ErrInvalid, as on the reference path: a rule broken
// is noted while parsing and reported only once the rest of the bytes
// parsed (a later malformed byte makes it ErrFormat).

var errCodec = errors.New("malformed CBOR")

type cborReader struct {
	b []byte
	i int
	// rest is string(b[restAt:]), made at the first op text of a
	// transaction of several ops (share): every op text is a substring of
	// it, one allocation for all of them. (A one-byte string costs no
	// allocation at all: it stays a string of its own.)
	rest   string
	restAt int
	share  bool
}

const (
	cborUint   = 0
	cborText   = 3
	cborArray  = 4
	cborSimple = 7

	maxTxnArray = 2*MaxTxnParents + MaxTxnOps + 16 // decMode's MaxArrayElements
)

// head reads an item's head: its major type and argument. null and
// undefined come back as isNull.
func (r *cborReader) head() (major byte, arg uint64, isNull bool, err error) {
	if r.i >= len(r.b) {
		return 0, 0, false, fmt.Errorf("%w: unexpected end of data", errCodec)
	}
	c := r.b[r.i]
	r.i++
	major, ai := c>>5, c&0x1f
	switch {
	case ai < 24:
		arg = uint64(ai)
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(r.b)-r.i < n {
			return 0, 0, false, fmt.Errorf("%w: unexpected end of data", errCodec)
		}
		for _, x := range r.b[r.i : r.i+n] {
			arg = arg<<8 | uint64(x)
		}
		r.i += n
	case ai == 31:
		return 0, 0, false, fmt.Errorf("%w: indefinite length", errCodec)
	default:
		return 0, 0, false, fmt.Errorf("%w: reserved additional information %d", errCodec, ai)
	}
	if major == cborSimple {
		switch {
		case ai == 22 || ai == 23:
			return major, 0, true, nil
		case ai == 24 && arg < 32:
			return 0, 0, false, fmt.Errorf("%w: simple value %d in two bytes", errCodec, arg)
		}
	}
	return major, arg, false, nil
}

// uint reads an unsigned integer; an integer below 24 (one byte, most
// fields) is read inline.
func (r *cborReader) uint() (uint64, error) {
	if r.i < len(r.b) && r.b[r.i] < 24 {
		x := r.b[r.i]
		r.i++
		return uint64(x), nil
	}
	return r.uintSlow()
}

func (r *cborReader) uintSlow() (uint64, error) {
	if r.i < len(r.b) {
		// An integer of 1, 2, 4 or 8 bytes (seqs, times).
		if c := r.b[r.i]; c >= 0x18 && c <= 0x1b {
			n := 1 << (c - 0x18)
			if len(r.b)-r.i-1 >= n {
				var x uint64
				for _, y := range r.b[r.i+1 : r.i+1+n] {
					x = x<<8 | uint64(y)
				}
				r.i += 1 + n
				return x, nil
			}
		}
	}
	start := r.i
	m, arg, null, err := r.head()
	switch {
	case err != nil:
		return 0, err
	case null:
		return 0, nil
	case m == cborSimple:
		// A simple value (not false, true or a float) is its number, as
		// the reflection decoder had it.
		if ai := r.b[start] & 0x1f; ai < 20 || ai == 24 {
			return arg, nil
		}
		return 0, fmt.Errorf("%w: want an unsigned integer, have a boolean or float", errCodec)
	case m != cborUint:
		return 0, fmt.Errorf("%w: want an unsigned integer, have major type %d", errCodec, m)
	}
	return arg, nil
}

func (r *cborReader) bool() (bool, error) {
	if r.i < len(r.b) && r.b[r.i] == 0xf4 { // false, most of them
		r.i++
		return false, nil
	}
	start := r.i
	m, arg, null, err := r.head()
	switch {
	case err != nil:
		return false, err
	case null:
		return false, nil
	case m == cborSimple && r.b[start]&0x1f == 20:
		return false, nil
	case m == cborSimple && r.b[start]&0x1f == 21:
		return true, nil
	}
	return false, fmt.Errorf("%w: want a boolean, have major type %d (%d)", errCodec, m, arg)
}

// textBytes reads a text string's bytes, in place, not checked for UTF-8
// yet (its caller does, counting code points on the way).
func (r *cborReader) textBytes() ([]byte, error) {
	if r.i < len(r.b) {
		// Fast path: a short string's head is one byte.
		if c := r.b[r.i]; c>>5 == cborText && c&0x1f < 24 && int(c&0x1f) <= len(r.b)-r.i-1 {
			n := int(c & 0x1f)
			r.i += 1 + n
			return r.b[r.i-n : r.i], nil
		}
	}
	m, n, null, err := r.head()
	switch {
	case err != nil:
		return nil, err
	case null:
		return nil, nil
	case m != cborText:
		return nil, fmt.Errorf("%w: want a text string, have major type %d", errCodec, m)
	case n > uint64(len(r.b)-r.i):
		return nil, fmt.Errorf("%w: unexpected end of data", errCodec)
	}
	b := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return b, nil
}

// opText reads an op's text (valid UTF-8) as a substring of rest, and
// counts its code points.
func (r *cborReader) opText() (string, int, error) {
	b, err := r.textBytes()
	if err != nil || len(b) == 0 {
		return "", 0, err
	}
	var s string
	if !r.share || len(b) == 1 {
		s = string(b)
	} else {
		at := r.i - len(b)
		if r.rest == "" || at < r.restAt {
			r.rest, r.restAt = string(r.b[at:]), at
		}
		s = r.rest[at-r.restAt : r.i-r.restAt]
	}
	c, ok := runeCountValid(s)
	if !ok {
		return "", 0, fmt.Errorf("%w: invalid UTF-8 string", errCodec)
	}
	return s, c, nil
}

// agentNames holds agent names decoded recently (the same few agents
// write most transactions), so that decoding one costs no allocation for
// its names. It is shared by every decode; a slot holds one name, and two
// names that meet in a slot take turns. A new name is a string of its
// own, not a substring of the data: history keeps agent names for good.
var agentNames [32]atomic.Pointer[string]

// agentName reads an agent's name (valid UTF-8), reusing the string of a
// name in agentNames.
func (r *cborReader) agentName() (string, error) {
	b, err := r.textBytes()
	if err != nil || len(b) == 0 {
		return "", err
	}
	n := len(b)
	h := uint32(n)*0x9e3779b1 ^ uint32(b[n-1])*0x85ebca6b ^ uint32(b[n/2])*0xc2b2ae35 ^ uint32(b[0])
	slot := &agentNames[(h^h>>15)%uint32(len(agentNames))]
	if p := slot.Load(); p != nil && *p == string(b) {
		return *p, nil
	}
	s := string(b)
	if _, ok := runeCountValid(s); !ok {
		return "", fmt.Errorf("%w: invalid UTF-8 string", errCodec)
	}
	if n <= MaxAgentLen {
		slot.Store(&s)
	}
	return s, nil
}

// array reads an array head of at most maxTxnArray items; null is an
// empty array.
func (r *cborReader) array() (int, error) {
	if r.i < len(r.b) {
		// Fast path: a short array's head is one byte.
		if c := r.b[r.i]; c>>5 == cborArray && c&0x1f < 24 && int(c&0x1f) <= len(r.b)-r.i-1 {
			r.i++
			return int(c & 0x1f), nil
		}
	}
	m, n, null, err := r.head()
	switch {
	case err != nil:
		return 0, err
	case null:
		return 0, nil
	case m != cborArray:
		return 0, fmt.Errorf("%w: want an array, have major type %d", errCodec, m)
	case n > maxTxnArray:
		return 0, fmt.Errorf("%w: array of %d items (at most %d)", errCodec, n, maxTxnArray)
	case n > uint64(len(r.b)-r.i):
		return 0, fmt.Errorf("%w: unexpected end of data", errCodec)
	}
	return int(n), nil
}

func (r *cborReader) end() error {
	if r.i != len(r.b) {
		return fmt.Errorf("%w: %d bytes after the transaction", errCodec, len(r.b)-r.i)
	}
	return nil
}

// DecodeTxn decodes and validates a transaction. Malformed or hostile
// input returns an error wrapping ErrFormat or ErrInvalid.
func DecodeTxn(data []byte) (*Txn, error) {
	if len(data) > MaxTxnBytes {
		return nil, fmt.Errorf("%w: transaction of %d bytes (at most %d)", ErrFormat, len(data), MaxTxnBytes)
	}
	r := cborReader{b: data}
	t, err := r.txn()
	if err != nil {
		if errors.Is(err, errCodec) {
			return nil, fmt.Errorf("%w: transaction: %v", ErrFormat, err)
		}
		return nil, err
	}
	return t, nil
}

// txn parses a transaction: format 1's layout (five items) when the data
// starts with a five-item array head, format 2's (six) otherwise. The
// error is errCodec's for malformed CBOR, ErrFormat's for CBOR that is no
// transaction, and ErrInvalid's (validateTxn's rules) only when neither.
func (r *cborReader) txn() (*Txn, error) {
	want := 6
	if len(r.b) > 0 && r.b[0] == 0x85 {
		want = 5
	}
	start := r.i
	n, err := r.array()
	if err != nil {
		return nil, err
	}
	if n == 0 && start < len(r.b) && r.b[start]>>5 == cborSimple {
		// null: the zero transaction, of version 0.
		if err := r.end(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: transaction format version 0 (this build reads %d and %d)", ErrFormat, txnFormatV1, txnFormat)
	}
	if n != want {
		return nil, fmt.Errorf("%w: transaction array of %d items, want %d", errCodec, n, want)
	}
	v, err := r.uint()
	switch {
	case err != nil:
		return nil, err
	case want == 5 && v != txnFormatV1:
		return nil, fmt.Errorf("%w: transaction format version %d in a format-1 layout", ErrFormat, v)
	case want == 6 && v != txnFormat:
		return nil, fmt.Errorf("%w: transaction format version %d (this build reads %d and %d)", ErrFormat, v, txnFormatV1, txnFormat)
	}

	if n, err = r.array(); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: transaction without agents", ErrFormat)
	}
	var buf [4]string
	var agents []string
	if n <= len(buf) {
		agents = buf[:n]
	} else {
		agents = make([]string, n)
	}
	for k := range agents {
		if agents[k], err = r.agentName(); err != nil {
			return nil, err
		}
	}
	seq, err := r.uint()
	if err != nil {
		return nil, err
	}

	// bad is the first of validateTxn's rules the transaction breaks.
	var bad error
	if badAgent(agents[0]) {
		bad = checkAgent(agents[0])
	}
	if n, err = r.array(); err != nil {
		return nil, err
	}
	if n%2 != 0 {
		return nil, fmt.Errorf("%w: parents are not (agent, seq) pairs", ErrFormat)
	}
	// A transaction of one parent and one op (most) is parsed on the
	// stack and copied into one allocation at the end, with its parent
	// and op; larger ones are parsed into slices of their own.
	np := n / 2
	var p1 ID
	var parents []ID
	if np > 1 {
		parents = make([]ID, np)
		if np > MaxTxnParents && bad == nil {
			bad = fmt.Errorf("%w: transaction has %d parents (at most %d)", ErrInvalid, np, MaxTxnParents)
		}
	}
	var prev ID
	for i := 0; i < np; i++ {
		p, err := r.ref(agents, "parent", false)
		if err != nil {
			return nil, err
		}
		if parents != nil {
			parents[i] = p
		} else {
			p1 = p
		}
		if bad == nil {
			bad = checkParent(agents[0], seq, i, prev, p)
		}
		prev = p
	}

	if n, err = r.array(); err != nil {
		return nil, err
	}
	nops := n
	var o1 Op
	var ops []Op
	if nops > 1 {
		ops = make([]Op, nops)
	}
	if bad == nil && nops == 0 {
		bad = fmt.Errorf("%w: transaction %s/%d has no ops", ErrInvalid, agents[0], seq)
	}
	if bad == nil && nops > MaxTxnOps {
		bad = fmt.Errorf("%w: transaction has %d ops (at most %d)", ErrInvalid, nops, MaxTxnOps)
	}
	r.share = nops > 1
	seqs := uint64(0)
	for i := 0; i < nops; i++ {
		o := &o1
		if ops != nil {
			o = &ops[i]
		}
		c, opBad, err := r.op(o, i, agents, want == 5)
		if err != nil {
			return nil, err
		}
		if bad == nil {
			bad = opBad
		}
		seqs += c
	}
	var tm uint64
	if want == 6 {
		if tm, err = r.uint(); err != nil {
			return nil, err
		}
		if tm > MaxTime {
			return nil, fmt.Errorf("%w: transaction time %d (at most %d)", ErrFormat, tm, int64(MaxTime))
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if bad == nil && seq+seqs > MaxSeq {
		bad = fmt.Errorf("%w: transaction %s/%d passes the largest seq", ErrInvalid, agents[0], seq)
	}
	if bad != nil {
		return nil, bad
	}
	lt := &localTxn{Txn: Txn{Agent: agents[0], Seq: seq, Parents: parents, Ops: ops, Time: int64(tm)}, parents: [1]ID{p1}, ops: [1]Op{o1}}
	if parents == nil {
		lt.Parents = lt.parents[:np]
	}
	if ops == nil {
		lt.Ops = lt.ops[:nops]
	}
	return &lt.Txn, nil
}

// badAgent is checkAgent's verdict on a name known to be valid UTF-8.
func badAgent(a string) bool { return len(a) == 0 || len(a) > MaxAgentLen }

// checkParent is validateTxn's check of parent i, p, of agent's
// transaction seq (prev is parent i-1).
func checkParent(agent string, seq uint64, i int, prev, p ID) error {
	switch {
	case badAgent(p.Agent):
		return fmt.Errorf("parent %d: %w", i, checkAgent(p.Agent))
	case p.Seq > MaxSeq:
		return fmt.Errorf("%w: parent seq %d too large", ErrInvalid, p.Seq)
	case i > 0 && !prev.Less(p):
		return fmt.Errorf("%w: parents not sorted or repeated at %s/%d", ErrInvalid, p.Agent, p.Seq)
	case p.Agent == agent && p.Seq >= seq:
		return fmt.Errorf("%w: transaction %s/%d names a later op of its own agent as parent", ErrInvalid, agent, seq)
	}
	return nil
}

// ref reads a reference, (1 + agent index, seq), and resolves it; (0, 0)
// is the zero ID where zeroOK.
func (r *cborReader) ref(agents []string, what string, zeroOK bool) (ID, error) {
	a, err := r.uint()
	if err != nil {
		return ID{}, err
	}
	s, err := r.uint()
	if err != nil {
		return ID{}, err
	}
	return resolve(agents, a, s, what, zeroOK)
}

func resolve(agents []string, a, s uint64, what string, zeroOK bool) (ID, error) {
	if a-1 < uint64(len(agents)) {
		return ID{Agent: agents[a-1], Seq: s}, nil
	}
	if a == 0 {
		if !zeroOK || s != 0 {
			return ID{}, fmt.Errorf("%w: %s names no agent", ErrFormat, what)
		}
		return ID{}, nil
	}
	return ID{}, fmt.Errorf("%w: %s names agent %d of %d", ErrFormat, what, a, len(agents))
}

// op parses op i into o and returns the seqs it consumes and the first of
// validateTxn's rules it breaks. v1 is a format-1 transaction's op.
func (r *cborReader) op(o *Op, i int, agents []string, v1 bool) (seqs uint64, bad, err error) {
	start := r.i
	n, err := r.array()
	if err != nil {
		return 0, nil, err
	}
	if n == 0 && r.b[start]>>5 == cborSimple {
		// null: the zero op, of kind 0.
		return 0, nil, fmt.Errorf("%w: op %d has unknown kind 0", ErrFormat, i)
	}
	if n != 8 {
		return 0, nil, fmt.Errorf("%w: op array of %d items, want 8", errCodec, n)
	}
	k, err := r.uint()
	if err != nil {
		return 0, nil, err
	}
	text, count, err := r.opText()
	if err != nil {
		return 0, nil, err
	}
	var f [5]uint64 // a1, s1, a2, s2, len
	for j := range f {
		if r.i < len(r.b) && r.b[r.i] < 24 {
			f[j] = uint64(r.b[r.i])
			r.i++
		} else if f[j], err = r.uintSlow(); err != nil {
			return 0, nil, err
		}
	}
	rev, err := r.bool()
	if err != nil {
		return 0, nil, err
	}
	a1, s1, a2, s2, ln := f[0], f[1], f[2], f[3], f[4]
	switch OpKind(k) {
	case OpInsert:
		if ln != 0 || rev {
			return 0, nil, fmt.Errorf("%w: insert op %d has delete fields", ErrFormat, i)
		}
		o.Kind, o.Text = OpInsert, text
		if o.Left, err = resolve(agents, a1, s1, "originLeft", true); err != nil {
			return 0, nil, err
		}
		if o.Right, err = resolve(agents, a2, s2, "originRight", true); err != nil {
			return 0, nil, err
		}
		if text == "" {
			return 0, fmt.Errorf("%w: op %d inserts nothing", ErrInvalid, i), nil
		}
		for _, id := range [2]ID{o.Left, o.Right} {
			if id.IsZero() {
				continue
			}
			if badAgent(id.Agent) {
				return 0, fmt.Errorf("op %d origin: %w", i, checkAgent(id.Agent)), nil
			}
			if id.Seq > MaxSeq {
				return 0, fmt.Errorf("%w: op %d origin seq %d too large", ErrInvalid, i, id.Seq), nil
			}
		}
		return uint64(count), nil, nil
	case OpDelete:
		if text != "" || a2 != 0 || s2 != 0 {
			return 0, nil, fmt.Errorf("%w: delete op %d has insert fields", ErrFormat, i)
		}
		if ln > MaxSeq {
			return 0, nil, fmt.Errorf("%w: delete op %d of %d items", ErrFormat, i, ln)
		}
		o.Kind, o.Len, o.Rev = OpDelete, int(ln), rev
		if o.Target, err = resolve(agents, a1, s1, "delete target", false); err != nil {
			return 0, nil, err
		}
		switch {
		case o.Len <= 0:
			return 0, fmt.Errorf("%w: op %d deletes %d items", ErrInvalid, i, o.Len), nil
		case badAgent(o.Target.Agent):
			return 0, fmt.Errorf("op %d target: %w", i, checkAgent(o.Target.Agent)), nil
		case o.Rev && uint64(o.Len-1) > o.Target.Seq:
			return 0, fmt.Errorf("%w: op %d deletes below seq 0", ErrInvalid, i), nil
		case !o.Rev && o.Target.Seq+uint64(o.Len) > MaxSeq:
			return 0, fmt.Errorf("%w: op %d target seq too large", ErrInvalid, i), nil
		}
		return ln, nil, nil
	case OpTitle:
		if v1 {
			return 0, nil, fmt.Errorf("%w: title op %d in a format-1 transaction", ErrFormat, i)
		}
		if a1 != 0 || s1 != 0 || a2 != 0 || s2 != 0 || ln != 0 || rev {
			return 0, nil, fmt.Errorf("%w: title op %d has insert or delete fields", ErrFormat, i)
		}
		o.Kind, o.Text = OpTitle, text
		if err := vocab.CheckTitle(text); err != nil {
			return 0, fmt.Errorf("%w: op %d: %v", ErrInvalid, i, err), nil
		}
		return 1, nil, nil
	}
	return 0, nil, fmt.Errorf("%w: op %d has unknown kind %d", ErrFormat, i, k)
}
