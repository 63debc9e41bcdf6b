package member

import (
	"crypto/ed25519"

	"weft/vocab"
)

// Limits of a drop request.
const (
	// MaxDropBytes bounds an encoded drop request.
	MaxDropBytes = MaxChainBytes + 256
	// DropWindow is how far a drop request's time may be from the
	// relay's clock, in seconds: a request captured on the way is good
	// for this long, for this document only.
	DropWindow = 10 * 60
)

// Drop asks a relay that hosts a document to delete it: signed by a
// member's device when it deletes the document and is its admin or its
// last member (which the relay judges with its own book).
//
// Format (CBOR, Core Deterministic Encoding):
//
//	drop  = [1, doc, time, chain, sig]
//	time  = uint                      ; unix seconds when it was made
//	chain = [* link]                  ; the signer's capability (not empty)
//	sig   = bstr .size 64             ; the chain's subject's signature over
//	                                  ; "weft/member/v1/drop\0" || the first
//	                                  ; four fields as a CBOR array
type Drop struct {
	Doc   vocab.DocID
	Time  int64
	Chain Chain
	Sig   []byte
}

type dropBody struct {
	_     struct{} `cbor:",toarray"`
	V     uint64
	Doc   []byte
	Time  uint64
	Chain []linkWire
}

type dropWire struct {
	_ struct{} `cbor:",toarray"`
	dropBody
	Sig []byte
}

func (b dropBody) version() uint64 { return b.V }

func (d *Drop) bodyWire() dropBody {
	return dropBody{V: Format, Doc: d.Doc[:], Time: uint64(d.Time), Chain: d.Chain.wire()}
}

// Marshal encodes the drop request.
func (d *Drop) Marshal() []byte { return marshal(dropWire{dropBody: d.bodyWire(), Sig: d.Sig}) }

// NewDrop makes and signs a drop request for doc at now (unix seconds):
// sign is the device key that chain grants its role to.
func NewDrop(sign ed25519.PrivateKey, chain Chain, doc vocab.DocID, now int64) (*Drop, error) {
	if len(chain) == 0 || len(chain) > MaxChainLinks {
		return nil, vocab.Reject(vocab.ReasonCapability, "drop: a chain of %d links (1 to %d)", len(chain), MaxChainLinks)
	}
	if now < 0 {
		return nil, vocab.Reject(vocab.ReasonMalformed, "drop: time %d", now)
	}
	d := &Drop{Doc: doc, Time: now, Chain: chain}
	d.Sig = ed25519.Sign(sign, signed(domainDrop, marshal(d.bodyWire())))
	return d, nil
}

// ParseDrop decodes a drop request and checks its bounds (not its
// signature: VerifyDrop).
func ParseDrop(data []byte) (*Drop, error) {
	w, err := decodeRecord[dropWire]("drop", data, MaxDropBytes, unmarshal)
	if err != nil {
		return nil, err
	}
	doc, err := vocab.DocIDFromBytes(w.Doc)
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "drop: %v", err)
	}
	if len(w.Chain) == 0 || len(w.Chain) > MaxChainLinks {
		return nil, vocab.Reject(vocab.ReasonCapability, "drop: a chain of %d links (1 to %d)", len(w.Chain), MaxChainLinks)
	}
	if w.Time > 1<<53 {
		return nil, vocab.Reject(vocab.ReasonMalformed, "drop: time %d", w.Time)
	}
	d := &Drop{Doc: doc, Time: int64(w.Time), Sig: w.Sig}
	if d.Chain, err = chainFromWire(w.Chain); err != nil {
		return nil, err
	}
	return d, nil
}

// VerifyDrop checks a drop request for the document with key docKey at
// now (unix seconds): its time within DropWindow of now, its chain (which
// must verify at now) and its signature by the chain's subject. It
// returns what the chain grants; whether that suffices (an admin, or the
// last member, and not revoked) is the relay's to judge with its book.
func VerifyDrop(d *Drop, docKey ed25519.PublicKey, now int64) (*Member, error) {
	if err := CheckDocKey(d.Doc, docKey); err != nil {
		return nil, err
	}
	if d.Time < now-DropWindow || d.Time > now+DropWindow {
		return nil, vocab.Reject(vocab.ReasonExpired, "drop: made at %d, more than %d s from now (%d)", d.Time, DropWindow, now)
	}
	m, err := Verify(d.Chain, docKey, now)
	if err != nil {
		return nil, err
	}
	if len(d.Sig) != ed25519.SignatureSize || !ed25519.Verify(m.Subject, signed(domainDrop, marshal(d.bodyWire())), d.Sig) {
		return nil, vocab.Reject(vocab.ReasonSignature, "drop: bad signature")
	}
	return m, nil
}
