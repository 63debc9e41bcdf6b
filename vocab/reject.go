package vocab

import (
	"errors"
	"fmt"
)

// ErrRejected is matched (errors.Is) by every rejection: input from a peer,
// a tab or the disk that was refused.
var ErrRejected = errors.New("rejected")

// Reasons a rejection is counted under. Each is the one label of its
// reason, in logs and in metrics.
const (
	ReasonMalformed      = "malformed"       // does not decode, or a field is out of range
	ReasonOversized      = "oversized"       // longer than the bound of its kind
	ReasonVersion        = "version"         // a format version this build does not read
	ReasonWrongDocument  = "wrong-document"  // for another document than the one expected
	ReasonBadPayload     = "bad-payload"     // an envelope's transaction does not decode
	ReasonHeaderMismatch = "header-mismatch" // an envelope's header disagrees with its transaction
	ReasonHistory        = "history"         // a transaction contradicts or misfits the known history
	ReasonBufferFull     = "buffer-full"     // too many transactions wait for their parents
	ReasonTruncated      = "truncated"       // a stream frame is cut short or its header is malformed
	ReasonUnchecked      = "unchecked"       // repeats known operations too fragmented to compare within its budget, and adds new ones (catch-up brings the new part)
	// Reasons of members-only documents (package member).
	ReasonCapability   = "capability"   // a capability chain grants nothing here: broken link, role too high, not an admin's
	ReasonSignature    = "signature"    // a signature does not verify
	ReasonExpired      = "expired"      // a capability or invite is past its expiry
	ReasonEpoch        = "epoch"        // sealed under a key epoch this replica does not hold
	ReasonDecrypt      = "decrypt"      // sealed bytes do not open (wrong key, tampered, or wrong header)
	ReasonAgentOwner   = "agent-owner"  // an agent that does not belong to the signing device
	ReasonHashChain    = "hash-chain"   // a header does not link to its agent's previous header
	ReasonEquivocation = "equivocation" // two different signed headers under one agent's seqs
	ReasonRevoked      = "revoked"      // from a removed device, or a record that does not verify as an admin's
	ReasonQuota        = "quota"        // over a relay's quota (documents, bytes) for the document or its granting member

	// ReasonDuplicate labels a message already known (ignored, not
	// refused: gossip neither forwards it nor holds it against the sender).
	ReasonDuplicate = "duplicate"
	// ReasonInvalid counts an error that names no reason.
	ReasonInvalid = "invalid"
	// ReasonOther counts reasons beyond a counter's bound of distinct
	// labels.
	ReasonOther = "other"
)

// rejection is a refusal with the reason it is counted under.
type rejection struct {
	reason string
	ignore bool // made by Ignore: dropped, not held against the sender
	err    error
}

func (e *rejection) Error() string        { return e.err.Error() }
func (e *rejection) Unwrap() error        { return e.err }
func (e *rejection) Is(target error) bool { return target == ErrRejected && !e.ignore }
func (e *rejection) Reason() string       { return e.reason }

// Reject returns a rejection for reason (one of the Reason* constants):
// "rejected (reason): " and the formatted detail.
func Reject(reason, format string, args ...any) error {
	return &rejection{reason: reason, err: fmt.Errorf("%w (%s): %s", ErrRejected, reason, fmt.Sprintf(format, args...))}
}

// Rejection makes err a rejection for reason, keeping err's message (for
// sentinel errors such as p2p's, which also stay matchable by errors.Is).
func Rejection(reason string, err error) error {
	return &rejection{reason: reason, err: err}
}

// Ignore returns an error that drops a message without holding it
// against its sender: known already (ReasonDuplicate), or not this
// replica's business. Gossip does not forward it and does not lower the
// sender's score; Ignored tells it from a rejection, which does both.
func Ignore(reason, format string, args ...any) error {
	return &rejection{reason: reason, ignore: true, err: fmt.Errorf("ignored (%s): %s", reason, fmt.Sprintf(format, args...))}
}

// Ignored reports whether err (or one it wraps) was made by Ignore.
func Ignored(err error) bool {
	var r *rejection
	return errors.As(err, &r) && r.ignore
}

// Reason returns the label err is counted under: the Reason() of the first
// error in its chain that has one (every rejection has), else
// ReasonInvalid. Packages that must not import each other name reasons
// this way: any error with a non-empty Reason() string method counts.
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		if s := r.Reason(); s != "" {
			return s
		}
	}
	return ReasonInvalid
}

// IsRejected reports whether err names a rejection reason: whether it, or
// an error it wraps, has a Reason() string method (every rejection made
// here has). A broken connection or a cancelled context is not a
// rejection.
func IsRejected(err error) bool {
	var r interface{ Reason() string }
	return errors.As(err, &r)
}
