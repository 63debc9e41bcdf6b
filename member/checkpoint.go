package member

import (
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
//	checkpoint = [7, [header…], sealed]
//
// The sealed state's associated data is "weft/member/v1/checkpoint\0",
// the document ID and the SHA-256 of the heads' encodings, so it opens
// only with its own heads.
type Checkpoint struct {
	Heads []*Header
	State []byte // sealed
}

// KindCheckpoint begins a checkpoint's encoding.
const KindCheckpoint = 7

// MaxCheckpointHeads bounds the agents a checkpoint lists.
const MaxCheckpointHeads = 1 << 16

const domainCheckpoint = "weft/member/v1/checkpoint\x00"

type checkpointWire struct {
	_     struct{} `cbor:",toarray"`
	V     uint64
	Heads [][]byte
	State []byte
}

func checkpointAD(doc vocab.DocID, heads [][]byte) []byte {
	h := hashOf(domainCheckpoint, marshal(heads))
	return append(append([]byte(domainCheckpoint), doc[:]...), h[:]...)
}

// NewCheckpoint seals state (a crdt snapshot) with the keyring's current
// epoch under heads.
func NewCheckpoint(r *Keyring, random io.Reader, doc vocab.DocID, heads []*Header, state []byte) ([]byte, error) {
	w := checkpointWire{V: KindCheckpoint, Heads: make([][]byte, len(heads))}
	for i, h := range heads {
		w.Heads[i] = h.Marshal()
	}
	sealed, err := r.Seal(random, PurposePayload, state, checkpointAD(doc, w.Heads))
	if err != nil {
		return nil, err
	}
	w.State = sealed
	return marshal(w), nil
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
	c := &Checkpoint{State: w.State, Heads: make([]*Header, len(w.Heads))}
	for i, raw := range w.Heads {
		h, err := ParseHeader(raw, doc)
		if err != nil {
			return nil, nil, err
		}
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
