package crdt

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Transaction wire format, version 1 (CBOR, Core Deterministic Encoding):
//
//	txn    = [1, agents, seq, parents, ops]
//	agents = [* tstr]                ; agents[0] is the transaction's agent
//	id     = [agent-index, seq]
//	parents= [* id]
//	ops    = [+ op]
//	op     = [1, text, left / null, right / null]      ; insert
//	       / [2, target, len, rev]                     ; delete
//
// Item IDs name their agent by index into agents, so a long agent name is
// sent once per transaction.
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
		MaxNestedLevels:  8,
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

type wireID struct {
	_ struct{} `cbor:",toarray"`
	A uint64
	S uint64
}

type wireTxn struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Agents  []string
	Seq     uint64
	Parents []wireID
	Ops     []cbor.RawMessage
}

type wireIns struct {
	_     struct{} `cbor:",toarray"`
	K     uint64
	Text  string
	Left  *wireID
	Right *wireID
}

type wireDel struct {
	_      struct{} `cbor:",toarray"`
	K      uint64
	Target wireID
	Len    uint64
	Rev    bool
}

// EncodeTxn encodes a transaction (format version 1). It validates t first.
func EncodeTxn(t *Txn) ([]byte, error) {
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	w := wireTxn{V: txnFormat, Agents: []string{t.Agent}, Seq: t.Seq}
	idx := map[string]uint64{t.Agent: 0}
	ref := func(id ID) wireID {
		a, ok := idx[id.Agent]
		if !ok {
			a = uint64(len(w.Agents))
			idx[id.Agent] = a
			w.Agents = append(w.Agents, id.Agent)
		}
		return wireID{A: a, S: id.Seq}
	}
	w.Parents = make([]wireID, len(t.Parents))
	for i, p := range t.Parents {
		w.Parents[i] = ref(p)
	}
	w.Ops = make([]cbor.RawMessage, len(t.Ops))
	for i := range t.Ops {
		o := &t.Ops[i]
		var v any
		if o.Kind == OpInsert {
			wi := wireIns{K: uint64(OpInsert), Text: o.Text}
			if !o.Left.IsZero() {
				l := ref(o.Left)
				wi.Left = &l
			}
			if !o.Right.IsZero() {
				r := ref(o.Right)
				wi.Right = &r
			}
			v = wi
		} else {
			v = wireDel{K: uint64(OpDelete), Target: ref(o.Target), Len: uint64(o.Len), Rev: o.Rev}
		}
		b, err := encMode.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		w.Ops[i] = b
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
	id := func(r wireID, what string) (ID, error) {
		if r.A >= uint64(len(w.Agents)) {
			return ID{}, fmt.Errorf("%w: %s names agent %d of %d", ErrFormat, what, r.A, len(w.Agents))
		}
		return ID{Agent: w.Agents[r.A], Seq: r.S}, nil
	}
	t := &Txn{Agent: w.Agents[0], Seq: w.Seq, Parents: make([]ID, len(w.Parents)), Ops: make([]Op, len(w.Ops))}
	var err error
	for i, p := range w.Parents {
		if t.Parents[i], err = id(p, "parent"); err != nil {
			return nil, err
		}
	}
	for i, raw := range w.Ops {
		if err := decodeOp(raw, &t.Ops[i], id); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	if err := validateTxn(t); err != nil {
		return nil, err
	}
	return t, nil
}

// decodeOp decodes one op: [1, text, left, right] or [2, target, len, rev].
func decodeOp(raw cbor.RawMessage, o *Op, id func(wireID, string) (ID, error)) error {
	var el []cbor.RawMessage
	if err := decMode.Unmarshal(raw, &el); err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(el) != 4 {
		return fmt.Errorf("%w: op has %d fields, want 4", ErrFormat, len(el))
	}
	var kind uint64
	if err := decMode.Unmarshal(el[0], &kind); err != nil {
		return fmt.Errorf("%w: op kind: %v", ErrFormat, err)
	}
	origin := func(b cbor.RawMessage, what string) (ID, error) {
		var r *wireID
		if err := decMode.Unmarshal(b, &r); err != nil {
			return ID{}, fmt.Errorf("%w: %s: %v", ErrFormat, what, err)
		}
		if r == nil {
			return ID{}, nil
		}
		return id(*r, what)
	}
	var err error
	switch OpKind(kind) {
	case OpInsert:
		o.Kind = OpInsert
		if err := decMode.Unmarshal(el[1], &o.Text); err != nil {
			return fmt.Errorf("%w: insert text: %v", ErrFormat, err)
		}
		if o.Left, err = origin(el[2], "originLeft"); err != nil {
			return err
		}
		if o.Right, err = origin(el[3], "originRight"); err != nil {
			return err
		}
	case OpDelete:
		o.Kind = OpDelete
		var target wireID
		var n uint64
		if err := decMode.Unmarshal(el[1], &target); err != nil {
			return fmt.Errorf("%w: delete target: %v", ErrFormat, err)
		}
		if err := decMode.Unmarshal(el[2], &n); err != nil {
			return fmt.Errorf("%w: delete length: %v", ErrFormat, err)
		}
		if err := decMode.Unmarshal(el[3], &o.Rev); err != nil {
			return fmt.Errorf("%w: delete direction: %v", ErrFormat, err)
		}
		if n > MaxSeq {
			return fmt.Errorf("%w: delete of %d items", ErrFormat, n)
		}
		o.Len = int(n)
		if o.Target, err = id(target, "delete target"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: unknown op kind %d", ErrFormat, kind)
	}
	return nil
}
