package wire

import "weft/vocab"

// Names that moved to package vocab, kept so that callers not yet moved
// (replica, cmd/weft) still compile. Remove each with its last user.

// DocID is a document's 128-bit ID.
//
// Deprecated: use vocab.DocID.
type DocID = vocab.DocID

// Header is what routing and storage know of a transaction.
//
// Deprecated: use vocab.Header.
type Header = vocab.Header

// ParseDocID reads 32 lowercase hex digits.
//
// Deprecated: use vocab.ParseDocID.
func ParseDocID(s string) (vocab.DocID, error) { return vocab.ParseDocID(s) }

// ErrRejected wraps every validation failure of input from peers.
//
// Deprecated: use vocab.ErrRejected.
var ErrRejected = vocab.ErrRejected

// Reject returns a rejection with a counter reason.
//
// Deprecated: use vocab.Reject with a vocab.Reason* constant.
func Reject(reason, format string, args ...any) error {
	return vocab.Reject(reason, format, args...)
}

// Reason returns the counter label of a rejection.
//
// Deprecated: use vocab.Reason.
func Reason(err error) string { return vocab.Reason(err) }
