package wire

import "weft/vocab"

// Durable is a relay's acknowledgement: the version of one document it has
// made durable. Relays publish it on the document's topic (gossip message
// kind 9: docs/members-only.md) after each batch they persist; daemons
// trust it only from the relays they are configured with (the gossip layer
// signs every message with its sender's key).
//
//	durable = [1, doc, version, seq]
//
// seq increases with each acknowledgement a relay sends, so that a repeat
// of the same version is a new message.
type Durable struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Doc     []byte
	Version vocab.Version
	Seq     uint64
}

const durableFormat = 1

// MarshalDurable encodes an acknowledgement.
func MarshalDurable(d Durable) ([]byte, error) {
	d.V = durableFormat
	return encMode.Marshal(d)
}

// ParseDurable decodes and checks an acknowledgement for doc.
func ParseDurable(b []byte, doc vocab.DocID) (Durable, error) {
	var d Durable
	if len(b) > MaxEnvelopeBytes {
		return d, vocab.Reject(vocab.ReasonOversized, "acknowledgement of %d bytes", len(b))
	}
	if err := decMode.Unmarshal(b, &d); err != nil {
		return d, vocab.Reject(vocab.ReasonMalformed, "acknowledgement: %v", err)
	}
	if d.V != durableFormat {
		return d, vocab.Reject(vocab.ReasonVersion, "acknowledgement format version %d (this build reads %d)", d.V, durableFormat)
	}
	if id, err := vocab.DocIDFromBytes(d.Doc); err != nil || id != doc {
		return d, vocab.Reject(vocab.ReasonWrongDocument, "acknowledgement for another document")
	}
	if err := d.Version.Check(); err != nil {
		return d, vocab.Reject(vocab.ReasonMalformed, "acknowledgement: %v", err)
	}
	return d, nil
}
