package vocab

import (
	"fmt"
	"unicode/utf8"
)

// Limits every replica, store and message shares.
const (
	// MaxAgentLen is the longest agent name, in bytes.
	MaxAgentLen = 64
	// MaxSeq bounds every seq and every seq+length, so that a replica's
	// local versions fit in 32 bits.
	MaxSeq = 1<<31 - 1
	// MaxParents bounds the parents of one transaction.
	MaxParents = 1024
)

// CheckAgent returns an error unless a is a valid agent name: 1 to
// MaxAgentLen bytes of valid UTF-8.
func CheckAgent(a string) error {
	switch {
	case a == "":
		return fmt.Errorf("empty agent name")
	case len(a) > MaxAgentLen:
		return fmt.Errorf("agent name of %d bytes (at most %d)", len(a), MaxAgentLen)
	case !utf8.ValidString(a):
		return fmt.Errorf("agent name %q is not valid UTF-8", a)
	}
	return nil
}

// ID names one operation, and the item an insert creates: (agent, seq).
// The zero ID stands for the document start (as an originLeft) or the
// document end (as an originRight).
type ID struct {
	Agent string
	Seq   uint64
}

// IsZero reports whether id is the zero ID (document start or end).
func (id ID) IsZero() bool { return id.Agent == "" }

// Less orders IDs: agent name bytewise ascending, then seq.
func (id ID) Less(o ID) bool {
	if id.Agent != o.Agent {
		return id.Agent < o.Agent
	}
	return id.Seq < o.Seq
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

// Check returns an error unless s is a valid span: a valid agent, at
// least one seq, and End() at most MaxSeq.
func (s Span) Check() error {
	if err := CheckAgent(s.Agent); err != nil {
		return err
	}
	if s.Len == 0 || s.Seq > MaxSeq || s.Len > MaxSeq-s.Seq {
		return fmt.Errorf("span of %q: seq %d len %d out of range", s.Agent, s.Seq, s.Len)
	}
	return nil
}

// Version is a version vector: agent → next seq (how many of that agent's
// operations are included). A missing agent and an agent at 0 are the
// same.
type Version map[string]uint64

// Contains reports whether id is included in v.
func (v Version) Contains(id ID) bool { return id.Seq < v[id.Agent] }

// ContainsSpan reports whether every seq of s is included in v.
func (v Version) ContainsSpan(s Span) bool { return s.End() <= v[s.Agent] }

// Includes reports whether v includes every operation of o.
func (v Version) Includes(o Version) bool {
	for a, n := range o {
		if v[a] < n {
			return false
		}
	}
	return true
}

// Equal reports whether v and o include the same operations.
func (v Version) Equal(o Version) bool { return v.Includes(o) && o.Includes(v) }

// Merge raises v to include every operation of o (v must not be nil
// unless o is empty).
func (v Version) Merge(o Version) {
	for a, n := range o {
		if n > v[a] {
			v[a] = n
		}
	}
}

// Clone returns a copy of v (nil when v is nil).
func (v Version) Clone() Version {
	if v == nil {
		return nil
	}
	c := make(Version, len(v))
	for a, n := range v {
		c[a] = n
	}
	return c
}

// Check returns an error unless every agent of v is valid and every next
// seq at most MaxSeq.
func (v Version) Check() error {
	for a, n := range v {
		if err := CheckAgent(a); err != nil {
			return fmt.Errorf("version: %w", err)
		}
		if n > MaxSeq {
			return fmt.Errorf("version: agent %q next seq %d out of range", a, n)
		}
	}
	return nil
}

// Header is what routing and storage know of a transaction, in clear: who
// wrote it, the seqs it consumes and the frontier it was made on. The
// envelope on the wire and the record on disk carry the same header.
type Header struct {
	// Agent wrote the transaction.
	Agent string
	// Seq is the first seq the transaction consumes.
	Seq uint64
	// Len is the number of seqs it consumes (≥ 1).
	Len uint64
	// Parents is the frontier it was made on: no duplicates, none one of
	// its own seqs or a later one. Order does not matter here (the crdt
	// encoding sorts them).
	Parents []ID
}

// Span returns the seqs the transaction consumes.
func (h *Header) Span() Span { return Span{Agent: h.Agent, Seq: h.Seq, Len: h.Len} }

// Check returns an error unless the header is within bounds: a valid span,
// at most MaxParents parents, each a valid ID in the transaction's past,
// none listed twice.
func (h *Header) Check() error {
	if err := h.Span().Check(); err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	if len(h.Parents) > MaxParents {
		return fmt.Errorf("transaction %s: %d parents (max %d)", h.Span(), len(h.Parents), MaxParents)
	}
	seen := make(map[ID]struct{}, len(h.Parents))
	for _, p := range h.Parents {
		if err := CheckAgent(p.Agent); err != nil {
			return fmt.Errorf("transaction %s: parent: %w", h.Span(), err)
		}
		if p.Seq >= MaxSeq {
			return fmt.Errorf("transaction %s: parent seq %d out of range", h.Span(), p.Seq)
		}
		if p.Agent == h.Agent && p.Seq >= h.Seq {
			return fmt.Errorf("transaction %s: parent (%q, %d) is not in its past", h.Span(), p.Agent, p.Seq)
		}
		if _, dup := seen[p]; dup {
			return fmt.Errorf("transaction %s: parent (%q, %d) listed twice", h.Span(), p.Agent, p.Seq)
		}
		seen[p] = struct{}{}
	}
	return nil
}
