package vocab

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// DocID names a document: 128 bits, never all zeros (see the package
// documentation for why). Its text form is 32 lowercase hex digits.
type DocID [16]byte

// String returns the 32-digit lowercase hexadecimal form.
func (d DocID) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is all zeros: unset, never a valid document.
func (d DocID) IsZero() bool { return d == DocID{} }

// errZeroDoc is the one validity rule beyond the length.
var errZeroDoc = errors.New("document ID is all zeros")

// Check returns an error unless d is a valid document ID.
func (d DocID) Check() error {
	if d.IsZero() {
		return errZeroDoc
	}
	return nil
}

// ParseDocID reads the 32-digit lowercase hexadecimal form of a valid
// document ID.
func ParseDocID(s string) (DocID, error) {
	var d DocID
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("document ID %q: want 32 lowercase hex digits", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return d, fmt.Errorf("document ID %q: want 32 lowercase hex digits", s)
		}
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return DocID{}, fmt.Errorf("document ID %q: %v", s, err)
	}
	if err := d.Check(); err != nil {
		return DocID{}, err
	}
	return d, nil
}

// DocIDFromBytes reads the 16-byte binary form of a valid document ID.
func DocIDFromBytes(b []byte) (DocID, error) {
	var d DocID
	if len(b) != len(d) {
		return d, fmt.Errorf("document ID of %d bytes (want %d)", len(b), len(d))
	}
	copy(d[:], b)
	if err := d.Check(); err != nil {
		return DocID{}, err
	}
	return d, nil
}
