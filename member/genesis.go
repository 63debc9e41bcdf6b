package member

import (
	"crypto/ed25519"

	"weft/vocab"
)

// MaxGenesisBytes bounds an encoded genesis record.
const MaxGenesisBytes = 256

// Genesis format (CBOR, Core Deterministic Encoding):
//
//	genesis = [1, docKey, sig]
//	docKey  = bstr .size 32         ; the document's Ed25519 public key
//	sig     = bstr .size 64         ; the document key's signature over
//	                                ; "weft/member/v1/genesis\0" || [1, docKey]
//
// It is the first record of a document, stored and sent before anything
// else: with it anyone can check every capability chain of the document.
// The ID is derived from the key, so the record needs no ID; the
// signature shows that the key's holder made it.
type Genesis struct {
	DocKey ed25519.PublicKey
	Sig    []byte
}

type genesisBody struct {
	_      struct{} `cbor:",toarray"`
	V      uint64
	DocKey []byte
}

// genesisWire is the whole record: its body, then the signature.
type genesisWire struct {
	_ struct{} `cbor:",toarray"`
	genesisBody
	Sig []byte
}

func (b genesisBody) version() uint64 { return b.V }

// NewGenesis makes the document's signed genesis record.
func (d *Document) Genesis() *Genesis {
	body := marshal(genesisBody{V: Format, DocKey: d.Public})
	return &Genesis{DocKey: d.Public, Sig: ed25519.Sign(d.Key, signed(domainGenesis, body))}
}

// Marshal encodes the record.
func (g *Genesis) Marshal() []byte {
	return marshal(genesisWire{genesisBody: genesisBody{V: Format, DocKey: g.DocKey}, Sig: g.Sig})
}

// ParseGenesis decodes a genesis record and verifies it: its format, its
// signature, and that its key is doc's (any document when doc is zero).
func ParseGenesis(data []byte, doc vocab.DocID) (*Genesis, error) {
	w, err := decodeRecord[genesisWire]("genesis", data, MaxGenesisBytes, unmarshal)
	if err != nil {
		return nil, err
	}
	if len(w.DocKey) != ed25519.PublicKeySize || len(w.Sig) != ed25519.SignatureSize {
		return nil, vocab.Reject(vocab.ReasonMalformed, "genesis: key of %d bytes, signature of %d", len(w.DocKey), len(w.Sig))
	}
	g := &Genesis{DocKey: w.DocKey, Sig: w.Sig}
	id, err := DocIDOf(g.DocKey)
	if err != nil {
		return nil, err
	}
	if !doc.IsZero() && id != doc {
		return nil, vocab.Reject(vocab.ReasonWrongDocument, "genesis of document %s where %s was expected", id, doc)
	}
	body := marshal(genesisBody{V: Format, DocKey: g.DocKey})
	if !ed25519.Verify(g.DocKey, signed(domainGenesis, body), g.Sig) {
		return nil, vocab.Reject(vocab.ReasonSignature, "genesis of document %s: bad signature", id)
	}
	return g, nil
}

// Doc returns the ID the record's key names.
func (g *Genesis) Doc() vocab.DocID {
	id, _ := DocIDOf(g.DocKey)
	return id
}
