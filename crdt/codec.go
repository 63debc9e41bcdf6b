package crdt

import (
	"errors"
	"fmt"

	"unicode/utf8"
)

// A hand-laid decoder of the transaction format (encode.go), in place of
// fxamacker/cbor's reflection: decoding one small transaction by
// reflection cost about as much as integrating it (BENCHMARKS.md, "Merge
// and load (issue 14)").
//
// It accepts exactly what the reflection decoder with decMode's options
// accepted into wireTxn (FuzzCodecEquality checks the two against each
// other on valid and invalid input): definite lengths only, no tags,
// integers in any of CBOR's widths (not only the shortest), text strings of
// valid UTF-8 (not byte strings), arrays of exactly the struct's length,
// at most decMode's array length, and nothing after the transaction.
// CBOR null and undefined stand for a field's zero value, as they do for a
// freshly allocated struct there, and a simple value other than false,
// true, null and undefined reads as its number where an integer is wanted.

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

func (r *cborReader) uint() (uint64, error) {
	// Fast path: an integer below 24, one byte (most fields are).
	if r.i < len(r.b) && r.b[r.i] < 24 {
		r.i++
		return uint64(r.b[r.i-1]), nil
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

// textBytes reads a text string's bytes (valid UTF-8), in place.
func (r *cborReader) textBytes() ([]byte, error) {
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
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: invalid UTF-8 string", errCodec)
	}
	return b, nil
}

// opText reads an op's text, as a substring of rest.
func (r *cborReader) opText() (string, error) {
	b, err := r.textBytes()
	if err != nil || len(b) == 0 {
		return "", err
	}
	if !r.share || len(b) == 1 {
		return string(b), nil
	}
	at := r.i - len(b)
	if r.rest == "" || at < r.restAt {
		r.rest, r.restAt = string(r.b[at:]), at
	}
	return r.rest[at-r.restAt : r.i-r.restAt], nil
}

// agentName reads an agent's name, reusing the string of a name recently
// decoded with w (the same few agents write most transactions). A new
// name is a string of its own, not a substring of the data: history keeps
// agent names for good.
func (r *cborReader) agentName(w *wireTxn) (string, error) {
	b, err := r.textBytes()
	if err != nil || len(b) == 0 {
		return "", err
	}
	for _, s := range w.names {
		if s == string(b) {
			return s, nil
		}
	}
	s := string(b)
	w.names[w.nameNext%uint8(len(w.names))] = s
	w.nameNext++
	return s, nil
}

// array reads an array head of at most maxTxnArray items; null is an
// empty array.
func (r *cborReader) array() (int, error) {
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

// decodeWire parses data into w: format 1's layout (five items) when data
// starts with a five-item array head, format 2's (six) otherwise. The
// version and value checks are DecodeTxn's.
func decodeWire(data []byte, w *wireTxn) error {
	r := cborReader{b: data}
	want := 6
	if len(data) > 0 && data[0] == 0x85 {
		want = 5
	}
	w.V, w.Seq, w.Time = 0, 0, 0
	w.Agents, w.Parents, w.Ops = w.Agents[:0], w.Parents[:0], w.Ops[:0]
	start := r.i
	n, err := r.array()
	if err != nil {
		return err
	}
	if n == 0 && start < len(data) && data[start]>>5 == cborSimple {
		// null: the zero transaction.
		return r.end()
	}
	if n != want {
		return fmt.Errorf("%w: transaction array of %d items, want %d", errCodec, n, want)
	}
	if w.V, err = r.uint(); err != nil {
		return err
	}
	if n, err = r.array(); err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		s, err := r.agentName(w)
		if err != nil {
			return err
		}
		w.Agents = append(w.Agents, s)
	}
	if w.Seq, err = r.uint(); err != nil {
		return err
	}
	if n, err = r.array(); err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		x, err := r.uint()
		if err != nil {
			return err
		}
		w.Parents = append(w.Parents, x)
	}
	if n, err = r.array(); err != nil {
		return err
	}
	r.share = n > 1
	for k := 0; k < n; k++ {
		w.Ops = append(w.Ops, wireOp{})
		if err := r.op(&w.Ops[k]); err != nil {
			return err
		}
	}
	if want == 6 {
		if w.Time, err = r.uint(); err != nil {
			return err
		}
	}
	return r.end()
}

func (r *cborReader) op(o *wireOp) error {
	start := r.i
	n, err := r.array()
	if err != nil {
		return err
	}
	if n == 0 && r.b[start]>>5 == cborSimple {
		return nil // null: the zero op
	}
	if n != 8 {
		return fmt.Errorf("%w: op array of %d items, want 8", errCodec, n)
	}
	if o.K, err = r.uint(); err != nil {
		return err
	}
	if o.Text, err = r.opText(); err != nil {
		return err
	}
	for _, f := range []*uint64{&o.A1, &o.S1, &o.A2, &o.S2, &o.Len} {
		if *f, err = r.uint(); err != nil {
			return err
		}
	}
	o.Rev, err = r.bool()
	return err
}

func (r *cborReader) end() error {
	if r.i != len(r.b) {
		return fmt.Errorf("%w: %d bytes after the transaction", errCodec, len(r.b)-r.i)
	}
	return nil
}
