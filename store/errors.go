package store

import "errors"

// Errors returned by the store. They are wrapped with details (document,
// key, what was wrong); test with errors.Is.
var (
	// ErrNotFound: the document, transaction or snapshot does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: CreateDoc was called for a document that already exists.
	ErrExists = errors.New("store: document already exists")
	// ErrInvalid: a caller-supplied value (document ID, agent, header,
	// version, option) is malformed or out of bounds. Nothing was written.
	ErrInvalid = errors.New("store: invalid input")
	// ErrGap: a transaction's first seq is past its agent's next seq, so
	// storing it would leave a gap. Nothing was written.
	ErrGap = errors.New("store: gap in agent's seqs")
	// ErrOverlap: a transaction partly overlaps seqs already stored.
	ErrOverlap = errors.New("store: overlaps stored seqs")
	// ErrMissingParent: a transaction names a parent the store does not hold
	// (transactions must be stored in causal order).
	ErrMissingParent = errors.New("store: parent not stored")
	// ErrCorrupt: a stored value failed its checksum or does not decode.
	// The error names the key; Check quarantines such values.
	ErrCorrupt = errors.New("store: corrupt value")
	// ErrSchemaTooNew: the data directory was written by a newer weft.
	ErrSchemaTooNew = errors.New("store: schema version is newer than this weft understands")
	// ErrLocked: another process holds the data directory.
	ErrLocked = errors.New("store: data directory is in use")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrFailed: an earlier write or sync failed; the store refuses further
	// writes until it is reopened (after a failed fsync the page cache can no
	// longer be trusted). Reads keep working.
	ErrFailed = errors.New("store: write path failed; reopen the store")
	// ErrDiskFull: the data directory's file system has less free space
	// than Options.MinFreeBytes; writes are refused until space returns.
	// Nothing was written. Reads keep working.
	ErrDiskFull = errors.New("store: disk full")
	// ErrBackup: a backup is malformed, truncated or fails its checksums.
	ErrBackup = errors.New("store: bad backup")
	// ErrNotEmpty: restore target holds data and force was not given.
	ErrNotEmpty = errors.New("store: data directory is not empty")

	// Errors of the S3 sink, beside ErrNotFound (a missing bucket or
	// backup).

	// ErrS3Config: an s3:// URL, endpoint, credentials or option is missing
	// or malformed. Nothing was sent.
	ErrS3Config = errors.New("store: s3 configuration")
	// ErrS3Unreachable: the endpoint could not be reached (DNS, connection
	// refused, timeout).
	ErrS3Unreachable = errors.New("store: s3 endpoint unreachable")
	// ErrS3Denied: the server refused the credentials or the request.
	ErrS3Denied = errors.New("store: s3 access denied")
)
