package crdt

import (
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Transaction wire format 2 (CBOR, Core Deterministic Encoding):
//
//	txn     = [18, agents, seq, parents, ops, time]
//	agents  = [+ tstr]              ; agents[0] is the transaction's agent
//	parents = [* (agent, seq)]      ; flattened pairs
//	ops     = [+ op]
//	op      = [1, text, leftAgent, leftSeq, rightAgent, rightSeq, 0, false]   ; insert
//	        / [2, "", targetAgent, targetSeq, 0, 0, len, rev]                 ; delete
//
// An agent in a reference is 1 + an index into agents; agent 0 with seq 0
// is the document start (as a left) or end (as a right). Every op has the
// same eight scalar fields, so a transaction decodes in one pass with no
// nested arrays per op. A long agent name is sent once per transaction.
//
// Version 1 is version 2 without time (txn = [1, agents, seq, parents,
// ops]) and without title ops. It is still read (stored transactions,
// older peers), as a transaction with time 0; only version 2 is written,
// which builds from before format 2 cannot read.
//
// Format 2's version number is 18, not 2: a stored payload is either a
// plain transaction or a member envelope, and replica tells them apart by
// the first array item, where member messages put their kind (2 to 9).
// 18 is outside that range and still one CBOR byte.
const (
	txnFormat   = 18
	txnFormatV1 = 1
	// MaxTxnBytes bounds an encoded transaction.
	MaxTxnBytes = 16 << 20
)

var (
	encMode  cbor.EncMode
	decMode  cbor.DecMode
	wirePool = sync.Pool{New: func() any { return new(wireTxn) }}
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	opts := strictDecOptions(6, 2*MaxTxnParents+MaxTxnOps+16)
	opts.DupMapKey = cbor.DupMapKeyEnforcedAPF
	decMode = mustDecMode(opts)
}

// strictDecOptions are the options every decoder of untrusted bytes in
// crdt starts from: bounded nesting and arrays, at most 16 map pairs, no
// indefinite lengths, no tags, valid UTF-8 only.
func strictDecOptions(maxNested, maxArray int) cbor.DecOptions {
	return cbor.DecOptions{
		MaxNestedLevels:  maxNested,
		MaxArrayElements: maxArray,
		MaxMapPairs:      16,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}
}

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

type wireRef struct {
	A uint64
	S uint64
}

type wireOp struct {
	_    struct{} `cbor:",toarray"`
	K    uint64
	Text string
	A1   uint64
	S1   uint64
	A2   uint64
	S2   uint64
	Len  uint64
	Rev  bool
}

type wireTxn struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Agents  []string
	Seq     uint64
	Parents []uint64 // agent, seq, agent, seq, …
	Ops     []wireOp
	Time    uint64

	// names are agent names decoded recently with this (pooled) struct,
	// for codec.go's parser to reuse; no part of the format.
	names    [8]string `cbor:"-"`
	nameNext uint8     `cbor:"-"`
}

// wireTxnV1 is format 1's layout: wireTxn without Time.
type wireTxnV1 struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Agents  []string
	Seq     uint64
	Parents []uint64
	Ops     []wireOp
}

// EncodeTxn encodes a transaction (format 2). It validates t first.
func EncodeTxn(t *Txn) ([]byte, error) {
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	w := wireTxn{V: txnFormat, Agents: []string{t.Agent}, Seq: t.Seq, Time: uint64(t.Time)}
	ref := func(id ID) wireRef {
		if id.IsZero() {
			return wireRef{}
		}
		for i, a := range w.Agents {
			if a == id.Agent {
				return wireRef{A: uint64(i) + 1, S: id.Seq}
			}
		}
		w.Agents = append(w.Agents, id.Agent)
		return wireRef{A: uint64(len(w.Agents)), S: id.Seq}
	}
	w.Parents = make([]uint64, 0, 2*len(t.Parents))
	for _, p := range t.Parents {
		r := ref(p)
		w.Parents = append(w.Parents, r.A, r.S)
	}
	w.Ops = make([]wireOp, len(t.Ops))
	for i := range t.Ops {
		o := &t.Ops[i]
		switch o.Kind {
		case OpInsert:
			l, r := ref(o.Left), ref(o.Right)
			w.Ops[i] = wireOp{K: uint64(OpInsert), Text: o.Text, A1: l.A, S1: l.S, A2: r.A, S2: r.S}
		case OpTitle:
			w.Ops[i] = wireOp{K: uint64(OpTitle), Text: o.Text}
		default:
			g := ref(o.Target)
			w.Ops[i] = wireOp{K: uint64(OpDelete), A1: g.A, S1: g.S, Len: uint64(o.Len), Rev: o.Rev}
		}
	}
	b, err := encMode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return b, nil
}

// DecodeTxn decodes and validates a transaction. Malformed or hostile
// input returns an error wrapping ErrFormat or ErrInvalid.
func DecodeTxn(data []byte) (*Txn, error) { return decodeTxn(data, decodeWire) }

// decodeTxn is DecodeTxn with the CBOR parser given (codec.go's; the
// tests compare it with fxamacker/cbor's reflection).
func decodeTxn(data []byte, parse func([]byte, *wireTxn) error) (*Txn, error) {
	if len(data) > MaxTxnBytes {
		return nil, fmt.Errorf("%w: transaction of %d bytes (at most %d)", ErrFormat, len(data), MaxTxnBytes)
	}
	// The wire struct's slices are reused from call to call (the parser
	// fills existing capacity); only the strings are new each time.
	w := wirePool.Get().(*wireTxn)
	t, err := w.txn(data, parse)
	if cap(w.Ops) <= 64 && cap(w.Agents) <= 64 && cap(w.Parents) <= 128 {
		w.Agents, w.Parents, w.Ops = w.Agents[:0], w.Parents[:0], w.Ops[:0]
		wirePool.Put(w)
	}
	if err != nil {
		return nil, err
	}
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	return t, nil
}

// txn parses data into w and builds the transaction it holds (not
// validated yet).
func (w *wireTxn) txn(data []byte, parse func([]byte, *wireTxn) error) (*Txn, error) {
	if err := parse(data, w); err != nil {
		return nil, fmt.Errorf("%w: transaction: %v", ErrFormat, err)
	}
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
