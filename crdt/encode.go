package crdt

import (
	"fmt"

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
	encMode cbor.EncMode
	decMode cbor.DecMode
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
