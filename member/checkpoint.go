package member

import (
	"crypto/ed25519"
	"io"

	"weft/vocab"
)

// Checkpoint is a reading member's local snapshot of a members-only
// document: each agent's last signed header (which gives the version,
// the hash chains' anchors and the headers a fork proof needs) and the
// crdt state, sealed with the payload key of the current epoch. A
// replica keeps it to open a document without replaying every envelope;
// the envelopes stay (catch-up serves them).
//
//	checkpoint = [7, [header…], sealed, author, sig]
//
// The sealed state's associated data is "weft/member/v1/checkpoint\0",
// the document ID and the SHA-256 of the heads' encodings, so it opens
// only with its own heads. author is the agent of the device that made it
// (a writer), sig its signature over "weft/member/v1/checkpoint-sig\0"
// and the hash of the first four fields: a member that cannot read (a
// relay) keeps it in place of the envelopes it covers and hands it to
// members who join later, who start from it when their author is a
// member who may write (they trust that writer for the state, as they
// trust writers for their own transactions).
type Checkpoint struct {
	Heads  []*Header
	State  []byte // sealed
	Author string
	Sig    []byte
}

// KindCheckpoint begins a checkpoint's encoding.
const KindCheckpoint = 7

// MaxCheckpointHeads bounds the agents a checkpoint lists.
const MaxCheckpointHeads = 1 << 16

const (
	domainCheckpoint    = "weft/member/v1/checkpoint\x00"
	domainCheckpointSig = "weft/member/v1/checkpoint-sig\x00"
)

type checkpointBody struct {
	_      struct{} `cbor:",toarray"`
	V      uint64
	Heads  [][]byte
	State  []byte
	Author string
}

type checkpointWire struct {
	_      struct{} `cbor:",toarray"`
	V      uint64
	Heads  [][]byte
	State  []byte
	Author string
	Sig    []byte
}

func (w *checkpointWire) bodyHash() [32]byte {
	return hashOf(domainCheckpointSig, marshal(checkpointBody{V: w.V, Heads: w.Heads, State: w.State, Author: w.Author}))
}

func checkpointAD(doc vocab.DocID, heads [][]byte) []byte {
	h := hashOf(domainCheckpoint, marshal(heads))
	return append(append([]byte(domainCheckpoint), doc[:]...), h[:]...)
}

// NewCheckpoint seals state (a crdt snapshot) with the keyring's current
// epoch under heads, and signs it with dev.
func NewCheckpoint(r *Keyring, random io.Reader, doc vocab.DocID, heads []*Header, state []byte, dev ed25519.PrivateKey) ([]byte, error) {
	w := checkpointWire{V: KindCheckpoint, Heads: make([][]byte, len(heads)), Author: AgentOf(dev.Public().(ed25519.PublicKey))}
	for i, h := range heads {
		w.Heads[i] = h.Marshal()
	}
	sealed, err := r.Seal(random, PurposePayload, state, checkpointAD(doc, w.Heads))
	if err != nil {
		return nil, err
	}
	w.State = sealed
	h := w.bodyHash()
	w.Sig = ed25519.Sign(dev, h[:])
	return marshal(w), nil
}

// Verify checks a checkpoint's signature (by its author's device) and
// each head's own signature; whether the author may write is the
// caller's to check against the document's book.
func (c *Checkpoint) Verify(raw []byte) error {
	var w checkpointWire
	if err := decMode.Unmarshal(raw, &w); err != nil {
		return vocab.Reject(vocab.ReasonMalformed, "checkpoint: %v", err)
	}
	pub, err := DeviceOf(w.Author)
	if err != nil {
		return err
	}
	h := w.bodyHash()
	if len(w.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, h[:], w.Sig) {
		return vocab.Reject(vocab.ReasonSignature, "checkpoint: bad signature")
	}
	for _, hd := range c.Heads {
		if err := hd.Verify(); err != nil {
			return err
		}
	}
	return nil
}

// Covers is the version a checkpoint covers: each head's end.
func (c *Checkpoint) Covers() vocab.Version {
	v := vocab.Version{}
	for _, h := range c.Heads {
		v[h.Agent] = h.Span().End()
	}
	return v
}

// ParseCheckpoint decodes a checkpoint of doc: its heads (parsed, not
// verified: a replica reads back its own) and its sealed state.
func ParseCheckpoint(data []byte, doc vocab.DocID) (*Checkpoint, [][]byte, error) {
	var w checkpointWire
	if err := decMode.Unmarshal(data, &w); err != nil {
		return nil, nil, vocab.Reject(vocab.ReasonMalformed, "checkpoint: %v", err)
	}
	if w.V != KindCheckpoint {
		return nil, nil, vocab.Reject(vocab.ReasonVersion, "checkpoint of kind %d (want %d)", w.V, KindCheckpoint)
	}
	if len(w.Heads) > MaxCheckpointHeads {
		return nil, nil, vocab.Reject(vocab.ReasonOversized, "checkpoint of %d heads", len(w.Heads))
	}
	c := &Checkpoint{State: w.State, Author: w.Author, Sig: w.Sig, Heads: make([]*Header, len(w.Heads))}
	seen := make(map[string]bool, len(w.Heads))
	for i, raw := range w.Heads {
		h, err := ParseHeader(raw, doc)
		if err != nil {
			return nil, nil, err
		}
		if seen[h.Agent] {
			return nil, nil, vocab.Reject(vocab.ReasonMalformed, "checkpoint names agent %.16s… twice", h.Agent)
		}
		seen[h.Agent] = true
		c.Heads[i] = h
	}
	return c, w.Heads, nil
}

// IsCheckpoint reports whether data begins like a checkpoint.
func IsCheckpoint(data []byte) bool {
	var head [1]uint64
	return decMode.Unmarshal(data, &head) == nil && head[0] == KindCheckpoint
}

// OpenCheckpoint opens a checkpoint's state.
func OpenCheckpoint(r *Keyring, doc vocab.DocID, c *Checkpoint, rawHeads [][]byte) ([]byte, error) {
	return r.Open(PurposePayload, c.State, checkpointAD(doc, rawHeads))
}
