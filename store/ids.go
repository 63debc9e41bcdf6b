package store

import (
	"crypto/rand"
	"fmt"
	"sort"

	"weft/vocab"
)

// The store's names for the shared vocabulary (package vocab): the limits
// and rules on agents, seqs, parents and titles are vocab's, and every
// value from a caller or from disk is checked against them.

// DocID names a document: 128 random bits, never all zeros. Its text form,
// used in keys and on the command line, is 32 lowercase hexadecimal digits.
type DocID = vocab.DocID

// ID names one operation: (agent, seq).
type ID = vocab.ID

// Span is a run of consecutive seqs of one agent: [Seq, Seq+Len).
type Span = vocab.Span

// Version is a version vector: agent → next seq (how many of that agent's
// operations are included).
type Version = vocab.Version

// NewDocID returns a fresh random document ID.
func NewDocID() DocID {
	for {
		var id DocID
		if _, err := rand.Read(id[:]); err != nil {
			panic("store: crypto/rand failed: " + err.Error()) // never returns an error on supported platforms
		}
		if !id.IsZero() {
			return id
		}
	}
}

// ParseDocID parses the 32-digit lowercase hexadecimal form of a valid
// document ID (vocab.ParseDocID), wrapping its error with ErrInvalid.
func ParseDocID(s string) (DocID, error) {
	id, err := vocab.ParseDocID(s)
	if err != nil {
		return id, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return id, nil
}

// TxnRecord is a transaction as stored: its header and the opaque payload
// (for weft, the crdt package's encoding of the transaction). The caller
// derives the header from the transaction it encodes into the payload (it
// is the header of the transaction's envelope); Check asks the Codec to
// confirm that they agree.
type TxnRecord struct {
	vocab.Header
	Payload []byte
}

func validAgent(a string) error {
	if err := vocab.CheckAgent(a); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// validate checks the header's bounds; maxPayload bounds the payload.
func (r *TxnRecord) validate(maxPayload int) error {
	if err := validHeader(&r.Header); err != nil {
		return err
	}
	if len(r.Payload) == 0 || len(r.Payload) > maxPayload {
		return fmt.Errorf("%w: transaction %s: payload of %d bytes not in 1..%d", ErrInvalid, r.Span(), len(r.Payload), maxPayload)
	}
	return nil
}

func validHeader(h *vocab.Header) error {
	if err := h.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func validVersion(v Version) error {
	if err := v.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
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
