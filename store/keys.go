package store

import (
	"fmt"
	"strconv"
	"strings"

	ds "github.com/ipfs/go-datastore"
)

// Key layout (see doc.go). Every key is built and parsed here.
const (
	schemaKey       = "/weft/schema"
	docIndexPrefix  = "/docindex"
	docsPrefix      = "/docs"
	quarantinePfx   = "/quarantine"
	seqDigits       = 20 // zero-padded decimal: sorts numerically, fits any uint64
	kindMeta        = "meta"
	kindTxn         = "txn"
	kindLog         = "log"
	kindHead        = "head"
	kindSnapshot    = "snapshot"
	kindFetch       = "fetch"
	kindLogEnd      = "logend"
	kindMembers     = "members"
	escapeHexDigits = "0123456789ABCDEF"
)

func docPrefix(id DocID) string { return docsPrefix + "/" + id.String() }

func metaKey(id DocID) string     { return docPrefix(id) + "/" + kindMeta }
func snapshotKey(id DocID) string { return docPrefix(id) + "/" + kindSnapshot }
func fetchKey(id DocID) string    { return docPrefix(id) + "/" + kindFetch }
func logEndKey(id DocID) string   { return docPrefix(id) + "/" + kindLogEnd }
func membersKey(id DocID) string  { return docPrefix(id) + "/" + kindMembers }
func txnPrefix(id DocID) string   { return docPrefix(id) + "/" + kindTxn }
func headPrefix(id DocID) string  { return docPrefix(id) + "/" + kindHead }

// logPrefix holds every epoch of the arrival log; epochPrefix one of them.
// Readers only ever query the current epoch's prefix, so the keys that
// compaction deleted from older epochs (badger tombstones until its own
// compaction drops them) sort before it and are never stepped over.
func logPrefix(id DocID) string                 { return docPrefix(id) + "/" + kindLog }
func epochPrefix(id DocID, epoch uint64) string { return logPrefix(id) + "/" + pad(epoch) }

func txnKey(id DocID, agent string, seq uint64) string {
	return txnPrefix(id) + "/" + escapeAgent(agent) + "/" + pad(seq)
}
func logKey(id DocID, epoch, n uint64) string { return epochPrefix(id, epoch) + "/" + pad(n) }
func headKey(id DocID, agent string) string   { return headPrefix(id) + "/" + escapeAgent(agent) }
func docIndexKey(id DocID) string             { return docIndexPrefix + "/" + id.String() }
func quarantineKey(at int64, orig string) string {
	return quarantinePfx + "/" + pad(uint64(at)) + orig
}

func pad(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) >= seqDigits {
		return s
	}
	return strings.Repeat("0", seqDigits-len(s)) + s
}

func parsePad(s string) (uint64, bool) {
	if len(s) != seqDigits {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// escapeAgent makes an agent name (any bytes) safe as one key segment:
// bytes outside [A-Za-z0-9_-] become %XX (uppercase hex). The mapping is
// one-to-one, so unescapeAgent accepts only the canonical form.
func escapeAgent(a string) string {
	clean := true
	for i := 0; i < len(a); i++ {
		if !plainByte(a[i]) {
			clean = false
			break
		}
	}
	if clean {
		return a
	}
	var b strings.Builder
	b.Grow(len(a) * 3)
	for i := 0; i < len(a); i++ {
		c := a[i]
		if plainByte(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(escapeHexDigits[c>>4])
			b.WriteByte(escapeHexDigits[c&15])
		}
	}
	return b.String()
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func unescapeAgent(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case plainByte(c):
			b.WriteByte(c)
		case c == '%' && i+2 < len(s):
			hi, lo := strings.IndexByte(escapeHexDigits, s[i+1]), strings.IndexByte(escapeHexDigits, s[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: bad escape in agent segment %q", ErrInvalid, s)
			}
			v := byte(hi<<4 | lo)
			if plainByte(v) {
				return "", fmt.Errorf("%w: non-canonical escape in agent segment %q", ErrInvalid, s)
			}
			b.WriteByte(v)
			i += 2
		default:
			return "", fmt.Errorf("%w: bad byte in agent segment %q", ErrInvalid, s)
		}
	}
	a := b.String()
	if err := validAgent(a); err != nil {
		return "", err
	}
	return a, nil
}

// docKey is a parsed key under /docs/<id>/.
type docKey struct {
	doc   DocID
	kind  string // kindMeta, kindTxn, …
	agent string // txn, head
	n     uint64 // txn: seq; log: counter
	epoch uint64 // log
}

// parseDocKey parses a key under /docs. It returns an error naming what is
// wrong for keys that do not follow the layout.
func parseDocKey(k string) (docKey, error) {
	var dk docKey
	rest, ok := strings.CutPrefix(k, docsPrefix+"/")
	if !ok {
		return dk, fmt.Errorf("%w: key %q is not under %s", ErrInvalid, k, docsPrefix)
	}
	parts := strings.Split(rest, "/")
	id, err := ParseDocID(parts[0])
	if err != nil {
		return dk, fmt.Errorf("key %q: %w", k, err)
	}
	dk.doc = id
	if len(parts) < 2 {
		return dk, fmt.Errorf("%w: key %q: no record kind", ErrInvalid, k)
	}
	dk.kind = parts[1]
	bad := func() (docKey, error) { return dk, fmt.Errorf("%w: key %q does not follow the layout", ErrInvalid, k) }
	switch dk.kind {
	case kindMeta, kindSnapshot, kindFetch, kindLogEnd, kindMembers:
		if len(parts) != 2 {
			return bad()
		}
	case kindTxn:
		if len(parts) != 4 {
			return bad()
		}
		if dk.agent, err = unescapeAgent(parts[2]); err != nil {
			return dk, fmt.Errorf("key %q: %w", k, err)
		}
		if dk.n, ok = parsePad(parts[3]); !ok {
			return bad()
		}
	case kindLog:
		if len(parts) != 4 {
			return bad()
		}
		if dk.epoch, ok = parsePad(parts[2]); !ok {
			return bad()
		}
		if dk.n, ok = parsePad(parts[3]); !ok {
			return bad()
		}
	case kindHead:
		if len(parts) != 3 {
			return bad()
		}
		if dk.agent, err = unescapeAgent(parts[2]); err != nil {
			return dk, fmt.Errorf("key %q: %w", k, err)
		}
	default:
		return bad()
	}
	return dk, nil
}

// parseDocIndexKey parses a key under /docindex.
func parseDocIndexKey(k string) (DocID, error) {
	rest, ok := strings.CutPrefix(k, docIndexPrefix+"/")
	if !ok {
		return DocID{}, fmt.Errorf("%w: key %q is not under %s", ErrInvalid, k, docIndexPrefix)
	}
	id, err := ParseDocID(rest)
	if err != nil {
		return DocID{}, fmt.Errorf("key %q: %w", k, err)
	}
	return id, nil
}

// dkey converts a layout key (always clean) to a datastore key.
func dkey(s string) ds.Key { return ds.RawKey(s) }
