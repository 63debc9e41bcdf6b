package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
)

// Limits on what the store accepts. They bound memory and key sizes; every
// value from a caller or from disk is checked against them.
const (
	// MaxAgentLen is the longest agent name in bytes (the crdt package uses
	// the same bound).
	MaxAgentLen = 64
	// MaxSeq bounds every seq and every seq+len.
	MaxSeq = 1<<53 - 1
	// MaxParents bounds the parents of one transaction.
	MaxParents = 1024
	// MaxTitleLen bounds a document title in bytes.
	MaxTitleLen = 1024
)

// DocID names a document: 128 random bits. Its text form, used in keys and
// on the command line, is 32 lowercase hexadecimal digits.
type DocID [16]byte

// NewDocID returns a fresh random document ID.
func NewDocID() DocID {
	var id DocID
	if _, err := rand.Read(id[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
	}
	return id
}

// String returns the 32-digit lowercase hexadecimal form.
func (id DocID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zeros (never a valid document).
func (id DocID) IsZero() bool { return id == DocID{} }

// ParseDocID parses the 32-digit lowercase hexadecimal form.
func ParseDocID(s string) (DocID, error) {
	var id DocID
	if len(s) != 32 {
		return id, fmt.Errorf("%w: document ID %q: want 32 lowercase hex digits", ErrInvalid, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id, fmt.Errorf("%w: document ID %q: want 32 lowercase hex digits", ErrInvalid, s)
		}
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: document ID %q: %v", ErrInvalid, s, err)
	}
	if id.IsZero() {
		return id, fmt.Errorf("%w: document ID is all zeros", ErrInvalid)
	}
	return id, nil
}

// ID names one operation: (agent, seq).
type ID struct {
	Agent string
	Seq   uint64
}

// Span is a run of consecutive seqs of one agent: [Seq, Seq+Len).
type Span struct {
	Agent string
	Seq   uint64
	Len   uint64
}

// End is the first seq after the span.
func (s Span) End() uint64 { return s.Seq + s.Len }

func (s Span) String() string { return fmt.Sprintf("%q seqs %d..%d", s.Agent, s.Seq, s.End()-1) }

// Version is a version vector: agent → next seq (how many of that agent's
// operations are included).
type Version map[string]uint64

// Contains reports whether every seq of span s is included in v.
func (v Version) Contains(s Span) bool { return s.End() <= v[s.Agent] }

// Clone returns a copy of v.
func (v Version) Clone() Version {
	c := make(Version, len(v))
	for a, n := range v {
		c[a] = n
	}
	return c
}

// TxnHeader is what the store knows of a transaction. The caller derives it
// from the transaction it encodes into the payload; Check asks the Codec to
// confirm that they agree.
type TxnHeader struct {
	// Agent wrote the transaction: 1..MaxAgentLen bytes, any bytes.
	Agent string
	// Seq is the first seq the transaction consumes.
	Seq uint64
	// Len is the number of seqs it consumes (≥ 1).
	Len uint64
	// Parents is the frontier it was made on. Order does not matter; no
	// duplicates; none may be one of its own seqs or later ones.
	Parents []ID
}

// Span returns the seqs the transaction consumes.
func (h *TxnHeader) Span() Span { return Span{Agent: h.Agent, Seq: h.Seq, Len: h.Len} }

// TxnRecord is a transaction as stored: its header and the opaque payload
// (for weft, the crdt package's encoding of the transaction).
type TxnRecord struct {
	TxnHeader
	Payload []byte
}

func validAgent(a string) error {
	if len(a) == 0 || len(a) > MaxAgentLen {
		return fmt.Errorf("%w: agent %q: length %d not in 1..%d bytes", ErrInvalid, a, len(a), MaxAgentLen)
	}
	return nil
}

// validate checks the header's bounds; maxPayload bounds the payload.
func (r *TxnRecord) validate(maxPayload int) error {
	if err := r.TxnHeader.validate(); err != nil {
		return err
	}
	if len(r.Payload) == 0 || len(r.Payload) > maxPayload {
		return fmt.Errorf("%w: transaction %s: payload of %d bytes not in 1..%d", ErrInvalid, r.Span(), len(r.Payload), maxPayload)
	}
	return nil
}

func (h *TxnHeader) validate() error {
	if err := validAgent(h.Agent); err != nil {
		return err
	}
	if h.Len == 0 || h.Seq > MaxSeq || h.Len > MaxSeq-h.Seq {
		return fmt.Errorf("%w: transaction of %q: seq %d len %d out of range", ErrInvalid, h.Agent, h.Seq, h.Len)
	}
	if len(h.Parents) > MaxParents {
		return fmt.Errorf("%w: transaction %s: %d parents (max %d)", ErrInvalid, h.Span(), len(h.Parents), MaxParents)
	}
	seen := make(map[ID]struct{}, len(h.Parents))
	for _, p := range h.Parents {
		if err := validAgent(p.Agent); err != nil {
			return fmt.Errorf("transaction %s: parent: %w", h.Span(), err)
		}
		if p.Seq >= MaxSeq {
			return fmt.Errorf("%w: transaction %s: parent seq %d out of range", ErrInvalid, h.Span(), p.Seq)
		}
		if p.Agent == h.Agent && p.Seq >= h.Seq {
			return fmt.Errorf("%w: transaction %s: parent (%q, %d) is not in its past", ErrInvalid, h.Span(), p.Agent, p.Seq)
		}
		if _, dup := seen[p]; dup {
			return fmt.Errorf("%w: transaction %s: parent (%q, %d) listed twice", ErrInvalid, h.Span(), p.Agent, p.Seq)
		}
		seen[p] = struct{}{}
	}
	return nil
}

func validVersion(v Version) error {
	for a, n := range v {
		if err := validAgent(a); err != nil {
			return err
		}
		if n > MaxSeq {
			return fmt.Errorf("%w: version: agent %q next seq %d out of range", ErrInvalid, a, n)
		}
	}
	return nil
}

// sortedAgents returns v's agents in bytewise order.
func sortedAgents(v Version) []string {
	as := make([]string, 0, len(v))
	for a := range v {
		as = append(as, a)
	}
	sort.Strings(as)
	return as
}
