package wire

import (
	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
	"weft/vocab"
)

// Presence is one user's cursor in one document: a display name and
// colour, and the selection as two anchors (see crdt.Doc.AnchorAt), so
// that it stays put while others edit. Seq increases with every message of
// one agent, so late ones are ignored. It is never stored.
//
//	presence = [1, doc, agent, name, color, anchorAgent, anchorSeq, headAgent, headSeq, seq]
//
// Daemons publish this record, sealed, on the document's topic (gossip
// message kind 8: docs/members-only.md). On the tab's socket it travels
// inside a message of kind MsgPresence,
//
//	presence message = [1, 6, presence]
//
// with the record nested unchanged, so that a daemon passes the bytes a
// tab sent to its other tabs and to the topic, and what the topic brings
// to its tabs, without decoding and encoding the record again.
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

// presenceMsg is a presence record on the tab's socket.
type presenceMsg struct {
	_        struct{} `cbor:",toarray"`
	V        uint64
	Kind     uint64
	Presence cbor.RawMessage
}

// maxPresenceMsgBytes bounds a presence message: the record and the
// message's own head, version and kind.
const maxPresenceMsgBytes = MaxPresenceBytes + 16

// MarshalPresenceMsg wraps an encoded presence record (from
// MarshalPresence, or as the document's topic carried it) into a socket
// message of kind MsgPresence. It does not check the record.
func MarshalPresenceMsg(record []byte) ([]byte, error) {
	if len(record) == 0 || len(record) > MaxPresenceBytes {
		return nil, vocab.Reject(vocab.ReasonOversized, "presence of %d bytes", len(record))
	}
	return encMode.Marshal(presenceMsg{V: syncFormat, Kind: MsgPresence, Presence: record})
}

// ParsePresenceMsg decodes and checks a socket message of kind
// MsgPresence for doc (any document when doc is zero), and returns the
// presence and the record's bytes as they were sent (what the presence
// topic carries).
func ParsePresenceMsg(b []byte, doc vocab.DocID) (Presence, []byte, error) {
	if len(b) > maxPresenceMsgBytes {
		return Presence{}, nil, vocab.Reject(vocab.ReasonOversized, "presence message of %d bytes", len(b))
	}
	var m presenceMsg
	if err := decMode.Unmarshal(b, &m); err != nil {
		return Presence{}, nil, vocab.Reject(vocab.ReasonMalformed, "presence message: %v", err)
	}
	if m.V != syncFormat {
		return Presence{}, nil, vocab.Reject(vocab.ReasonVersion, "sync format version %d (this build reads %d)", m.V, syncFormat)
	}
	if m.Kind != MsgPresence {
		return Presence{}, nil, vocab.Reject(vocab.ReasonMalformed, "presence message of kind %d", m.Kind)
	}
	p, err := ParsePresence(m.Presence, doc)
	if err != nil {
		return Presence{}, nil, err
	}
	return p, m.Presence, nil
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
