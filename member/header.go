package member

import (
	"crypto/ed25519"
	"crypto/sha256"

	"weft/vocab"
)

// MaxHeaderBytes bounds an encoded header: vocab.MaxParents parents of
// the longest agent names fit.
const MaxHeaderBytes = 96 << 10

// Header format (CBOR, Core Deterministic Encoding):
//
//	header      = [1, doc, agent, seq, len, parents, epoch, payloadHash, prev, sig]
//	doc         = bstr .size 16
//	parents     = [* [tstr, uint]]
//	epoch       = uint               ; the key epoch the payload is sealed in
//	payloadHash = bstr .size 32      ; SHA-256 of the sealed payload
//	prev        = bstr .size 32      ; Hash of the agent's previous header
//	                                 ; (the one ending at seq); zeros at seq 0
//	sig         = bstr .size 0 / 64  ; the device's signature over
//	                                 ; "weft/member/v1/header\0" || Hash
//
// Hash is SHA-256 over "weft/member/v1/header-hash\0" and the first nine
// fields as a CBOR array: the signature is not part of it, so one
// signature on an agent's newest header vouches, through the prev hashes,
// for every header before it, and those may travel without theirs (sig
// empty). Everything a relay needs to verify, route and store is in
// clear; the payload is sealed and named by its hash, so it can be
// dropped (compacted) and the header still verifies.
type Header struct {
	Doc vocab.DocID
	vocab.Header
	Epoch       uint64
	PayloadHash [32]byte
	Prev        [32]byte
	Sig         []byte
}

type wireID struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
}

// headerFront is what both encodings of a header begin with: the
// format, the transaction's place and its key epoch (an embedded struct's
// fields stand in its place in the array).
type headerFront struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Doc     []byte
	Agent   string
	Seq     uint64
	Len     uint64
	Parents []wireID
	Epoch   uint64
}

// headerBody is the header's first nine fields: what Hash covers.
type headerBody struct {
	_ struct{} `cbor:",toarray"`
	headerFront
	PayloadHash []byte
	Prev        []byte
}

// headerWire is the whole header: its body, then the signature (an
// embedded struct's fields stand in its place in the array).
type headerWire struct {
	_ struct{} `cbor:",toarray"`
	headerBody
	Sig []byte
}

// sealedADBody is a header without its payload hash and signature: the
// associated data its payload is sealed with.
type sealedADBody struct {
	_ struct{} `cbor:",toarray"`
	headerFront
	Prev []byte
}

func (h *Header) front() headerFront {
	ps := make([]wireID, len(h.Parents))
	for i, p := range h.Parents {
		ps[i] = wireID{Agent: p.Agent, Seq: p.Seq}
	}
	return headerFront{V: Format, Doc: h.Doc[:], Agent: h.Agent, Seq: h.Seq, Len: h.Len, Parents: ps, Epoch: h.Epoch}
}

func (f headerFront) version() uint64 { return f.V }

func (h *Header) bodyWire() headerBody {
	return headerBody{headerFront: h.front(), PayloadHash: h.PayloadHash[:], Prev: h.Prev[:]}
}

func (h *Header) body() []byte { return marshal(h.bodyWire()) }

// Hash is the header's hash (signature excluded): what the agent's next
// header names as prev, and what tells two headers apart.
func (h *Header) Hash() [32]byte { return hashOf(domainHeaderHash, h.body()) }

// SealedAD is the associated data the payload is sealed with: the
// header's encoding without payload hash and signature (the payload hash
// cannot be known before sealing).
func (h *Header) SealedAD() []byte {
	return marshal(sealedADBody{headerFront: h.front(), Prev: h.Prev[:]})
}

// SetPayload records the sealed payload's hash.
func (h *Header) SetPayload(sealed []byte) { h.PayloadHash = sha256.Sum256(sealed) }

// CheckPayload reports whether sealed is the payload the header names.
func (h *Header) CheckPayload(sealed []byte) error {
	if sha256.Sum256(sealed) != h.PayloadHash {
		return vocab.Reject(vocab.ReasonHeaderMismatch, "payload of %s does not match its header's hash", h.Span())
	}
	return nil
}

// Marshal encodes the header (with its signature, if it has one).
func (h *Header) Marshal() []byte {
	return marshal(headerWire{headerBody: h.bodyWire(), Sig: h.Sig})
}

// Sign signs the header with its agent's device key. A key that does not
// own the agent is refused: nobody signs under another device's name.
func (h *Header) Sign(dev ed25519.PrivateKey) error {
	if !OwnsAgent(dev.Public().(ed25519.PublicKey), h.Agent) {
		return vocab.Reject(vocab.ReasonAgentOwner, "agent %q does not belong to the signing device", h.Agent)
	}
	hash := h.Hash()
	h.Sig = ed25519.Sign(dev, signed(domainHeader, hash[:]))
	return nil
}

// Verify checks the header's own signature against the device its agent
// names (one Ed25519 verification; VerifyRun checks many for one).
func (h *Header) Verify() error {
	hash := h.Hash()
	return h.verifySig(&hash)
}

func (h *Header) verifySig(hash *[32]byte) error {
	pub, err := DeviceOf(h.Agent)
	if err != nil {
		return err
	}
	if len(h.Sig) != ed25519.SignatureSize {
		return vocab.Reject(vocab.ReasonSignature, "header %s carries no signature", h.Span())
	}
	if !ed25519.Verify(pub, signed(domainHeader, hash[:]), h.Sig) {
		return vocab.Reject(vocab.ReasonSignature, "header %s: bad signature", h.Span())
	}
	return nil
}

// ParseHeader decodes a header and checks it is for doc (any valid
// document when doc is zero), within vocab's bounds, its agent a device's
// and its prev present exactly after seq 0. The signature is not checked
// (Verify, VerifyRun).
func ParseHeader(data []byte, doc vocab.DocID) (*Header, error) {
	h, err := decodeHeader(data, doc, unmarshal)
	return h, err
}

// parseHeader is ParseHeader for runs: it also returns the header's Hash,
// taken from data itself (the first nine fields as an array are data with
// its array head made 9 and its last field, the signature, cut off), and
// skips the re-encoding that checks data is canonical. It need not: the
// hash of a non-canonical encoding differs from the canonical one's, which
// is what the next header names as prev and what the signature covers, so
// such bytes fail the run.
func parseHeader(data []byte, doc vocab.DocID) (*Header, [32]byte, error) {
	h, err := decodeHeader(data, doc, decMode.Unmarshal)
	if err != nil {
		return nil, [32]byte{}, err
	}
	sigLen := 1 // an empty byte string
	if len(h.Sig) != 0 {
		sigLen = 2 + ed25519.SignatureSize
	}
	const head9 = 0x80 | 9 // a CBOR array of nine items
	hh := sha256.New()
	hh.Write([]byte(domainHeaderHash))
	hh.Write([]byte{head9})
	hh.Write(data[1 : len(data)-sigLen])
	var hash [32]byte
	hh.Sum(hash[:0])
	return h, hash, nil
}

func decodeHeader(data []byte, doc vocab.DocID, decode func([]byte, any) error) (*Header, error) {
	w, err := decodeRecord[headerWire]("header", data, MaxHeaderBytes, decode)
	if err != nil {
		return nil, err
	}
	d, err := vocab.DocIDFromBytes(w.Doc)
	if err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "header: %v", err)
	}
	if !doc.IsZero() && d != doc {
		return nil, vocab.Reject(vocab.ReasonWrongDocument, "header for document %s where %s was expected", d, doc)
	}
	if len(w.PayloadHash) != 32 || len(w.Prev) != 32 || (len(w.Sig) != 0 && len(w.Sig) != ed25519.SignatureSize) {
		return nil, vocab.Reject(vocab.ReasonMalformed, "header: a hash or signature of the wrong size")
	}
	h := &Header{Doc: d, Epoch: w.Epoch, Sig: w.Sig}
	h.Header = vocab.Header{Agent: w.Agent, Seq: w.Seq, Len: w.Len, Parents: make([]vocab.ID, len(w.Parents))}
	for i, p := range w.Parents {
		h.Parents[i] = vocab.ID{Agent: p.Agent, Seq: p.Seq}
	}
	copy(h.PayloadHash[:], w.PayloadHash)
	copy(h.Prev[:], w.Prev)
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
}

// Check applies the rules of a header alone: vocab's bounds, an agent
// that names a device, prev zero exactly at seq 0.
func (h *Header) Check() error {
	if err := h.Header.Check(); err != nil {
		return vocab.Reject(vocab.ReasonMalformed, "header: %v", err)
	}
	if _, err := DeviceOf(h.Agent); err != nil {
		return err
	}
	if (h.Seq == 0) != (h.Prev == [32]byte{}) {
		return vocab.Reject(vocab.ReasonHashChain, "header %s: a previous-header hash must be given exactly after seq 0", h.Span())
	}
	return nil
}
