package replica

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
	"weft/store"
)

// Envelope format, version 1 (CBOR, Core Deterministic Encoding): what
// daemons exchange on gossip topics and sync streams.
//
//	envelope = [1, doc, agent, seq, len, parents, payload]
//	doc      = bstr .size 16
//	parents  = [* [tstr, uint]]
//	payload  = bstr   ; the crdt encoding of the transaction
//
// The header (doc, agent, seq span, parents) is what routing and storage
// need; the payload is opaque to them, so it can later be sealed per
// document without changing p2p or store.
const (
	envelopeFormat = 1
	// MaxEnvelopeBytes bounds one envelope (and one gossip message).
	MaxEnvelopeBytes = 4 << 20
)

// Envelope is a transaction with its routing header.
type Envelope struct {
	Doc     store.DocID
	Header  store.TxnHeader
	Payload []byte
}

type wireEnvelope struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Doc     []byte
	Agent   string
	Seq     uint64
	Len     uint64
	Parents []wireID
	Payload []byte
}

type wireID struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		MaxNestedLevels:  6,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// rejectError is a validation failure with a short reason for counters.
type rejectError struct {
	reason string
	err    error
}

func (e *rejectError) Error() string  { return e.err.Error() }
func (e *rejectError) Unwrap() error  { return e.err }
func (e *rejectError) Reason() string { return e.reason }

// ErrRejected wraps every validation failure of input from peers.
var ErrRejected = errors.New("replica: rejected")

func reject(reason, format string, args ...any) error {
	return &rejectError{reason: reason, err: fmt.Errorf("%w (%s): %s", ErrRejected, reason, fmt.Sprintf(format, args...))}
}

// Reason returns the counter label of a rejection ("invalid" otherwise).
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return "invalid"
}

// seal wraps a crdt transaction for doc.
func seal(doc store.DocID, t *crdt.Txn) (Envelope, []byte, error) {
	payload, err := crdt.EncodeTxn(t)
	if err != nil {
		return Envelope{}, nil, err
	}
	e := Envelope{Doc: doc, Payload: payload, Header: headerOf(t)}
	b, err := e.Marshal()
	return e, b, err
}

func headerOf(t *crdt.Txn) store.TxnHeader {
	h := store.TxnHeader{Agent: t.Agent, Seq: t.Seq, Len: uint64(t.Count()), Parents: make([]store.ID, len(t.Parents))}
	for i, p := range t.Parents {
		h.Parents[i] = store.ID{Agent: p.Agent, Seq: p.Seq}
	}
	return h
}

// Marshal encodes the envelope.
func (e *Envelope) Marshal() ([]byte, error) {
	w := wireEnvelope{V: envelopeFormat, Doc: e.Doc[:], Agent: e.Header.Agent, Seq: e.Header.Seq, Len: e.Header.Len, Payload: e.Payload}
	w.Parents = make([]wireID, len(e.Header.Parents))
	for i, p := range e.Header.Parents {
		w.Parents[i] = wireID{Agent: p.Agent, Seq: p.Seq}
	}
	return encMode.Marshal(w)
}

// Record returns the envelope as the store keeps it.
func (e *Envelope) Record() store.TxnRecord {
	return store.TxnRecord{TxnHeader: e.Header, Payload: e.Payload}
}

// parseEnvelope decodes an envelope and checks it is for doc (unless doc is
// zero) and well formed, without decoding the payload.
func parseEnvelope(data []byte, doc store.DocID) (Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return Envelope{}, reject("oversized", "envelope of %d bytes (at most %d)", len(data), MaxEnvelopeBytes)
	}
	var w wireEnvelope
	if err := decMode.Unmarshal(data, &w); err != nil {
		return Envelope{}, reject("malformed", "envelope: %v", err)
	}
	if w.V != envelopeFormat {
		return Envelope{}, reject("version", "envelope format version %d (this build reads %d)", w.V, envelopeFormat)
	}
	var e Envelope
	if len(w.Doc) != len(e.Doc) {
		return Envelope{}, reject("malformed", "document ID of %d bytes", len(w.Doc))
	}
	copy(e.Doc[:], w.Doc)
	if doc != (store.DocID{}) && e.Doc != doc {
		return Envelope{}, reject("wrong-document", "envelope for document %s on the topic of %s", e.Doc, doc)
	}
	if w.Agent == "" || len(w.Agent) > crdt.MaxAgentLen || w.Len == 0 || w.Seq+w.Len > crdt.MaxSeq {
		return Envelope{}, reject("malformed", "envelope header out of range")
	}
	e.Header = store.TxnHeader{Agent: w.Agent, Seq: w.Seq, Len: w.Len, Parents: make([]store.ID, len(w.Parents))}
	for i, p := range w.Parents {
		e.Header.Parents[i] = store.ID{Agent: p.Agent, Seq: p.Seq}
	}
	e.Payload = w.Payload
	return e, nil
}

// open decodes the envelope's payload and checks that it agrees with the
// header.
func (e *Envelope) open() (*crdt.Txn, error) {
	t, err := crdt.DecodeTxn(e.Payload)
	if err != nil {
		return nil, reject("bad-payload", "%v", err)
	}
	h := headerOf(t)
	if h.Agent != e.Header.Agent || h.Seq != e.Header.Seq || h.Len != e.Header.Len || len(h.Parents) != len(e.Header.Parents) {
		return nil, reject("header-mismatch", "envelope header %s/%d+%d disagrees with its transaction %s/%d+%d", e.Header.Agent, e.Header.Seq, e.Header.Len, h.Agent, h.Seq, h.Len)
	}
	for i := range h.Parents {
		if h.Parents[i] != e.Header.Parents[i] {
			return nil, reject("header-mismatch", "envelope parents disagree with its transaction")
		}
	}
	return t, nil
}

// validator returns the gossip validator of doc's topic: the envelope must
// be well formed, for this document, and its payload must decode and agree
// with its header. Whether it fits the history is for the replica to say.
func validator(doc store.DocID) func(from string, data []byte) error {
	return func(_ string, data []byte) error {
		e, err := parseEnvelope(data, doc)
		if err != nil {
			return err
		}
		_, err = e.open()
		return err
	}
}

// TopicName is the gossip topic of a document.
func TopicName(doc store.DocID) string { return "weft/doc/" + doc.String() }
