package crdt

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Transaction wire format, version 1 (CBOR, Core Deterministic Encoding):
//
//	txn     = [1, agents, seq, parents, ops]
//	agents  = [+ tstr]             ; agents[0] is the transaction's agent
//	ref     = [agent, seq]         ; agent is 1 + an index into agents;
//	                               ; [0, 0] is the document start or end
//	parents = [* ref]
//	ops     = [+ op]
//	op      = [1, text, left, right, 0, false]     ; insert
//	        / [2, "", target, [0, 0], len, rev]    ; delete
//
// Every op has the same six fields so that a transaction decodes in one
// pass with no per-op indirection. Item IDs name their agent by index, so a
// long agent name is sent once per transaction.
const (
	txnFormat = 1
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
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:  6,
		MaxArrayElements: MaxTxnOps + 16,
		MaxMapPairs:      16,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

type wireRef struct {
	_ struct{} `cbor:",toarray"`
	A uint64
	S uint64
}

type wireOp struct {
	_    struct{} `cbor:",toarray"`
	K    uint64
	Text string
	R1   wireRef
	R2   wireRef
	Len  uint64
	Rev  bool
}

type wireTxn struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Agents  []string
	Seq     uint64
	Parents []wireRef
	Ops     []wireOp
}

// EncodeTxn encodes a transaction (format version 1). It validates t first.
func EncodeTxn(t *Txn) ([]byte, error) {
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	w := wireTxn{V: txnFormat, Agents: []string{t.Agent}, Seq: t.Seq}
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
	w.Parents = make([]wireRef, len(t.Parents))
	for i, p := range t.Parents {
		w.Parents[i] = ref(p)
	}
	w.Ops = make([]wireOp, len(t.Ops))
	for i := range t.Ops {
		o := &t.Ops[i]
		if o.Kind == OpInsert {
			w.Ops[i] = wireOp{K: uint64(OpInsert), Text: o.Text, R1: ref(o.Left), R2: ref(o.Right)}
		} else {
			w.Ops[i] = wireOp{K: uint64(OpDelete), R1: ref(o.Target), Len: uint64(o.Len), Rev: o.Rev}
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
func DecodeTxn(data []byte) (*Txn, error) {
	if len(data) > MaxTxnBytes {
		return nil, fmt.Errorf("%w: transaction of %d bytes (at most %d)", ErrFormat, len(data), MaxTxnBytes)
	}
	var w wireTxn
	if err := decMode.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: transaction: %v", ErrFormat, err)
	}
	if w.V != txnFormat {
		return nil, fmt.Errorf("%w: transaction format version %d (this build reads %d)", ErrFormat, w.V, txnFormat)
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
	t := &Txn{Agent: w.Agents[0], Seq: w.Seq, Parents: make([]ID, len(w.Parents)), Ops: make([]Op, len(w.Ops))}
	var err error
	for i, p := range w.Parents {
		if t.Parents[i], err = id(p, "parent", false); err != nil {
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
			if o.Left, err = id(wo.R1, "originLeft", true); err != nil {
				return nil, err
			}
			if o.Right, err = id(wo.R2, "originRight", true); err != nil {
				return nil, err
			}
		case OpDelete:
			if wo.Text != "" || wo.R2 != (wireRef{}) {
				return nil, fmt.Errorf("%w: delete op %d has insert fields", ErrFormat, i)
			}
			if wo.Len > MaxSeq {
				return nil, fmt.Errorf("%w: delete op %d of %d items", ErrFormat, i, wo.Len)
			}
			o.Kind, o.Len, o.Rev = OpDelete, int(wo.Len), wo.Rev
			if o.Target, err = id(wo.R1, "delete target", false); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: op %d has unknown kind %d", ErrFormat, i, wo.K)
		}
	}
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	return t, nil
}
