package wire

import (
	"weft/crdt"
	"weft/vocab"
)

// Presence is one user's cursor in one document: a display name and
// colour, and the selection as two anchors (see crdt.Doc.AnchorAt), so
// that it stays put while others edit. Seq increases with every message of
// one agent, so late ones are ignored. It is never stored.
//
//	presence = [1, doc, agent, name, color, anchorAgent, anchorSeq, headAgent, headSeq, seq]
type Presence struct {
	_           struct{} `cbor:",toarray"`
	V           uint64
	Doc         []byte
	Agent       string
	Name        string
	Color       string
	AnchorAgent string
	AnchorSeq   uint64
	HeadAgent   string
	HeadSeq     uint64
	Seq         uint64
}

const (
	presenceFormat = 1
	// MaxName bounds a presence display name, in bytes.
	MaxName = 64
	// MaxPresenceBytes bounds an encoded presence message.
	MaxPresenceBytes = 1024
)

// Anchor and Head return the selection's anchors.
func (p *Presence) Anchor() crdt.ID { return crdt.ID{Agent: p.AnchorAgent, Seq: p.AnchorSeq} }
func (p *Presence) Head() crdt.ID   { return crdt.ID{Agent: p.HeadAgent, Seq: p.HeadSeq} }

// MarshalPresence encodes a presence message (setting its format version).
func MarshalPresence(p Presence) ([]byte, error) {
	p.V = presenceFormat
	return encMode.Marshal(p)
}

// ParsePresence decodes and checks a presence message for doc (any valid
// document when doc is zero).
func ParsePresence(b []byte, doc vocab.DocID) (Presence, error) {
	var p Presence
	if len(b) > MaxPresenceBytes {
		return p, vocab.Reject(vocab.ReasonOversized, "presence of %d bytes", len(b))
	}
	if err := decMode.Unmarshal(b, &p); err != nil {
		return p, vocab.Reject(vocab.ReasonMalformed, "presence: %v", err)
	}
	if p.V != presenceFormat {
		return p, vocab.Reject(vocab.ReasonVersion, "presence format version %d (this build reads %d)", p.V, presenceFormat)
	}
	if id, err := vocab.DocIDFromBytes(p.Doc); err != nil || (!doc.IsZero() && id != doc) {
		return p, vocab.Reject(vocab.ReasonWrongDocument, "presence for another document")
	}
	if vocab.CheckAgent(p.Agent) != nil || len(p.AnchorAgent) > vocab.MaxAgentLen || len(p.HeadAgent) > vocab.MaxAgentLen {
		return p, vocab.Reject(vocab.ReasonMalformed, "presence agent out of range")
	}
	if len(p.Name) > MaxName || !validColor(p.Color) {
		return p, vocab.Reject(vocab.ReasonMalformed, "presence name or colour out of range")
	}
	return p, nil
}

func validColor(c string) bool {
	if len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// PresenceTopic is the gossip topic of a document's cursors.
func PresenceTopic(doc vocab.DocID) string { return "weft/presence/" + doc.String() }
