package wire

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
)

// Envelope format, version 1 (CBOR, Core Deterministic Encoding):
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

// DocID is a document's 128-bit ID.
type DocID [16]byte

// String is the ID as 32 lowercase hex digits.
func (d DocID) String() string { return hex.EncodeToString(d[:]) }

// ParseDocID reads 32 lowercase hex digits.
func ParseDocID(s string) (DocID, error) {
	var d DocID
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("document ID %q: want 32 hex digits", s)
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return d, fmt.Errorf("document ID %q: want lowercase hex digits", s)
		}
	}
	_, err := hex.Decode(d[:], []byte(s))
	return d, err
}

// Header is what routing and storage know of a transaction.
type Header struct {
	Agent   string
	Seq     uint64
	Len     uint64
	Parents []crdt.ID
}

// Envelope is a transaction with its routing header.
type Envelope struct {
	Doc     DocID
	Header  Header
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

// ErrRejected wraps every validation failure of input from peers.
var ErrRejected = errors.New("rejected")

// rejectError is a validation failure with a short reason for counters.
type rejectError struct {
	reason string
	err    error
}

func (e *rejectError) Error() string  { return e.err.Error() }
func (e *rejectError) Unwrap() error  { return e.err }
func (e *rejectError) Reason() string { return e.reason }

// Reject returns a rejection with a counter reason.
func Reject(reason, format string, args ...any) error {
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

// Seal wraps a crdt transaction for doc and encodes it.
func Seal(doc DocID, t *crdt.Txn) (Envelope, []byte, error) {
	payload, err := crdt.EncodeTxn(t)
	if err != nil {
		return Envelope{}, nil, err
	}
	e := Envelope{Doc: doc, Payload: payload, Header: HeaderOf(t)}
	b, err := e.Marshal()
	return e, b, err
}

// HeaderOf returns the header of a transaction.
func HeaderOf(t *crdt.Txn) Header {
	return Header{Agent: t.Agent, Seq: t.Seq, Len: uint64(t.Count()), Parents: append([]crdt.ID(nil), t.Parents...)}
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

// ParseEnvelope decodes an envelope and checks that it is for doc (unless
// doc is zero) and well formed, without decoding the payload.
func ParseEnvelope(data []byte, doc DocID) (Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return Envelope{}, Reject("oversized", "envelope of %d bytes (at most %d)", len(data), MaxEnvelopeBytes)
	}
	var w wireEnvelope
	if err := decMode.Unmarshal(data, &w); err != nil {
		return Envelope{}, Reject("malformed", "envelope: %v", err)
	}
	if w.V != envelopeFormat {
		return Envelope{}, Reject("version", "envelope format version %d (this build reads %d)", w.V, envelopeFormat)
	}
	var e Envelope
	if len(w.Doc) != len(e.Doc) {
		return Envelope{}, Reject("malformed", "document ID of %d bytes", len(w.Doc))
	}
	copy(e.Doc[:], w.Doc)
	if doc != (DocID{}) && e.Doc != doc {
		return Envelope{}, Reject("wrong-document", "envelope for document %s where %s was expected", e.Doc, doc)
	}
	if w.Agent == "" || len(w.Agent) > crdt.MaxAgentLen || w.Len == 0 || w.Seq+w.Len > crdt.MaxSeq {
		return Envelope{}, Reject("malformed", "envelope header out of range")
	}
	e.Header = Header{Agent: w.Agent, Seq: w.Seq, Len: w.Len, Parents: make([]crdt.ID, len(w.Parents))}
	for i, p := range w.Parents {
		e.Header.Parents[i] = crdt.ID{Agent: p.Agent, Seq: p.Seq}
	}
	e.Payload = w.Payload
	return e, nil
}

// Open decodes the envelope's payload and checks that it agrees with the
// header.
func (e *Envelope) Open() (*crdt.Txn, error) {
	t, err := crdt.DecodeTxn(e.Payload)
	if err != nil {
		return nil, Reject("bad-payload", "%v", err)
	}
	if t.Agent != e.Header.Agent || t.Seq != e.Header.Seq || uint64(t.Count()) != e.Header.Len || len(t.Parents) != len(e.Header.Parents) {
		return nil, Reject("header-mismatch", "envelope header %s/%d+%d disagrees with its transaction %s/%d+%d", e.Header.Agent, e.Header.Seq, e.Header.Len, t.Agent, t.Seq, t.Count())
	}
	for i := range t.Parents {
		if t.Parents[i] != e.Header.Parents[i] {
			return nil, Reject("header-mismatch", "envelope parents disagree with its transaction")
		}
	}
	return t, nil
}

// Validator returns the gossip validator of doc's topic: the envelope must
// be well formed, for this document, and its payload must decode and agree
// with its header. Whether it fits the history is for the replica to say.
func Validator(doc DocID) func(from string, data []byte) error {
	return func(_ string, data []byte) error {
		e, err := ParseEnvelope(data, doc)
		if err != nil {
			return err
		}
		_, err = e.Open()
		return err
	}
}

// TopicName is the gossip topic of a document.
func TopicName(doc DocID) string { return "weft/doc/" + doc.String() }
