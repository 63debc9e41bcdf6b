package member

import (
	"crypto/sha256"

	"github.com/fxamacker/cbor/v2"

	"weft/vocab"
)

// Format is the version every record of this package starts with. A
// record of another version is refused (vocab.ReasonVersion).
const Format = 1

// Limits of the CBOR decoder (every record is small and shallow).
const (
	// maxNesting bounds CBOR nesting: a revocation holds a chain of
	// links and a rekey of boxes, four levels at most.
	maxNesting = 6
	// maxCBORItems bounds any CBOR array or map.
	maxCBORItems = 1024
)

// Domain separation: every signature and hash of this package covers one
// of these labels first, so that bytes signed or hashed for one purpose
// can never be taken for another.
const (
	domainDocID      = "weft/member/v1/doc-id\x00"
	domainGenesis    = "weft/member/v1/genesis\x00"
	domainDelegation = "weft/member/v1/delegation\x00"
	domainLinkHash   = "weft/member/v1/link-hash\x00"
	domainHeader     = "weft/member/v1/header\x00"
	domainHeaderHash = "weft/member/v1/header-hash\x00"
	domainRevocation = "weft/member/v1/revocation\x00"
	domainDrop       = "weft/member/v1/drop\x00"
	domainRekey      = "weft/member/v1/rekey\x00"
	domainSealKeys   = "weft/member/v1/seal-keys"
	domainSecretID   = "weft/member/v1/secret-id\x00"
	domainInviteBox  = "weft/member/v1/invite-box"
	domainDeviceBox  = "weft/member/v1/device-box"
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	enc := cbor.CoreDetEncOptions()
	// An empty byte string or array is always encoded empty, never null,
	// so that "absent" has one byte form.
	enc.NilContainers = cbor.NilContainerAsEmpty
	if encMode, err = enc.EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		MaxNestedLevels:  maxNesting,
		MaxArrayElements: maxCBORItems,
		MaxMapPairs:      maxCBORItems,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// marshal encodes v with Core Deterministic Encoding. The values of this
// package are plain arrays of integers, strings and byte strings, so it
// cannot fail; a failure is a programming error.
func marshal(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic("member: encoding: " + err.Error())
	}
	return b
}

// unmarshal decodes data into v and also refuses trailing bytes and any
// non-canonical encoding: re-encoding must give data back, so every record
// has exactly one byte form (its hash and its signature are well defined).
func unmarshal(data []byte, v any) error {
	if err := decMode.Unmarshal(data, v); err != nil {
		return err
	}
	if b, err := encMode.Marshal(v); err != nil || string(b) != string(data) {
		return errNotCanonical
	}
	return nil
}

type canonicalError struct{}

func (canonicalError) Error() string { return "not in canonical (core deterministic) CBOR" }

var errNotCanonical error = canonicalError{}

// hashOf is SHA-256 over a domain label and bytes.
func hashOf(domain string, b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// signed returns the bytes a signature covers: the domain label, then the
// record's unsigned encoding.
func signed(domain string, unsigned []byte) []byte {
	return append([]byte(domain), unsigned...)
}

// record is a decoded record's wire struct: it tells the format version
// it was encoded in.
type record interface{ version() uint64 }

// decodeRecord is the start every Parse* of a record shares: data at most
// limit bytes, decoded with decode (unmarshal, or decMode.Unmarshal where
// the caller checks canonical form another way) into W, of this build's
// Format. what names the record in the rejections.
func decodeRecord[W record](what string, data []byte, limit int, decode func([]byte, any) error) (*W, error) {
	if len(data) > limit {
		return nil, vocab.Reject(vocab.ReasonOversized, "%s of %d bytes (at most %d)", what, len(data), limit)
	}
	w := new(W)
	if err := decode(data, w); err != nil {
		return nil, vocab.Reject(vocab.ReasonMalformed, "%s: %v", what, err)
	}
	if v := (*w).version(); v != Format {
		return nil, vocab.Reject(vocab.ReasonVersion, "%s format %d (this build reads %d)", what, v, Format)
	}
	return w, nil
}
