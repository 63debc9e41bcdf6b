package wire

import (
	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
	"weft/vocab"
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

// Envelope is a transaction with its routing header.
type Envelope struct {
	Doc     vocab.DocID
	Header  vocab.Header
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

// Seal wraps a crdt transaction for doc and encodes it.
func Seal(doc vocab.DocID, t *crdt.Txn) (Envelope, []byte, error) {
	payload, err := crdt.EncodeTxn(t)
	if err != nil {
		return Envelope{}, nil, err
	}
	e := Envelope{Doc: doc, Payload: payload, Header: HeaderOf(t)}
	b, err := e.Marshal()
	return e, b, err
}

// HeaderOf returns the header of a transaction.
func HeaderOf(t *crdt.Txn) vocab.Header {
	return vocab.Header{Agent: t.Agent, Seq: t.Seq, Len: uint64(t.Count()), Parents: append([]crdt.ID(nil), t.Parents...)}
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

// ParseEnvelope decodes an envelope and checks that it is for doc (any
// valid document when doc is zero) and that its header's span is within
// bounds (vocab.Span.Check), without decoding the payload. The parents are
// checked by Open: the transaction's own rules refuse bad ones
// (bad-payload), and the header must repeat them (header-mismatch).
func ParseEnvelope(data []byte, doc vocab.DocID) (Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return Envelope{}, vocab.Reject(vocab.ReasonOversized, "envelope of %d bytes (at most %d)", len(data), MaxEnvelopeBytes)
	}
	var w wireEnvelope
	if err := decMode.Unmarshal(data, &w); err != nil {
		return Envelope{}, vocab.Reject(vocab.ReasonMalformed, "envelope: %v", err)
	}
	if w.V != envelopeFormat {
		return Envelope{}, vocab.Reject(vocab.ReasonVersion, "envelope format version %d (this build reads %d)", w.V, envelopeFormat)
	}
	var e Envelope
	var err error
	if e.Doc, err = vocab.DocIDFromBytes(w.Doc); err != nil {
		return Envelope{}, vocab.Reject(vocab.ReasonMalformed, "envelope: %v", err)
	}
	if !doc.IsZero() && e.Doc != doc {
		return Envelope{}, vocab.Reject(vocab.ReasonWrongDocument, "envelope for document %s where %s was expected", e.Doc, doc)
	}
	e.Header = vocab.Header{Agent: w.Agent, Seq: w.Seq, Len: w.Len, Parents: make([]vocab.ID, len(w.Parents))}
	if err := e.Header.Span().Check(); err != nil {
		return Envelope{}, vocab.Reject(vocab.ReasonMalformed, "envelope header out of range: %v", err)
	}
	for i, p := range w.Parents {
		e.Header.Parents[i] = vocab.ID{Agent: p.Agent, Seq: p.Seq}
	}
	e.Payload = w.Payload
	return e, nil
}

// Open decodes the envelope's payload and checks that it agrees with the
// header.
func (e *Envelope) Open() (*crdt.Txn, error) {
	t, err := crdt.DecodeTxn(e.Payload)
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonBadPayload, "%v", err)
	}
	if t.Agent != e.Header.Agent || t.Seq != e.Header.Seq || uint64(t.Count()) != e.Header.Len || len(t.Parents) != len(e.Header.Parents) {
		return nil, vocab.Reject(vocab.ReasonHeaderMismatch, "envelope header %s/%d+%d disagrees with its transaction %s/%d+%d", e.Header.Agent, e.Header.Seq, e.Header.Len, t.Agent, t.Seq, t.Count())
	}
	for i := range t.Parents {
		if t.Parents[i] != e.Header.Parents[i] {
			return nil, vocab.Reject(vocab.ReasonHeaderMismatch, "envelope parents disagree with its transaction")
		}
	}
	return t, nil
}
