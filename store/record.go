package store

import (
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/fxamacker/cbor/v2"

	"weft/vocab"
)

// Every stored value is an envelope (CBOR, Core Deterministic Encoding):
//
//	[format version, kind, body (byte string), CRC-32C]
//
// The checksum covers the version, the kind and the body, so a value that
// was damaged, truncated or stored under the wrong kind is detected. The body
// is the CBOR encoding of one of the record structs below (all arrays).
const recordFormat = 1

// Record kinds.
const (
	recSchema     = 1
	recMeta       = 2
	recTxn        = 3
	recLog        = 4
	recHead       = 5
	recSnapshot   = 6
	recFetch      = 7
	recQuarantine = 8
	recLogEnd     = 9
	recDocIndex   = 10
	recMembers    = 11
)

var recKindName = map[uint64]string{
	recSchema: "schema", recMeta: "meta", recTxn: "txn", recLog: "log",
	recHead: "head", recSnapshot: "snapshot", recFetch: "fetch", recQuarantine: "quarantine", recLogEnd: "logend",
	recDocIndex: "docindex", recMembers: "members", recDeleting: "deleting",
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
	crcTab  = crc32.MakeTable(crc32.Castagnoli)
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}).DecMode(); err != nil {
		panic(err)
	}
}

type envelope struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Kind    uint64
	Body    []byte
	Sum     uint32
}

func checksum(version, kind uint64, body []byte) uint32 {
	h := crc32.Update(0, crcTab, []byte{byte(version), byte(kind)})
	return crc32.Update(h, crcTab, body)
}

// encodeRecord wraps the CBOR of body in a checksummed envelope.
func encodeRecord(kind uint64, body any) ([]byte, error) {
	b, err := encMode.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s record: %w", recKindName[kind], err)
	}
	return encMode.Marshal(envelope{Version: recordFormat, Kind: kind, Body: b, Sum: checksum(recordFormat, kind, b)})
}

// decodeRecord checks the envelope and decodes its body into out. Any
// failure wraps ErrCorrupt and says what was wrong.
func decodeRecord(kind uint64, data []byte, out any) error {
	var env envelope
	if err := decMode.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%w: envelope does not decode: %v", ErrCorrupt, err)
	}
	if env.Version != recordFormat {
		return fmt.Errorf("%w: record format %d not supported (want %d)", ErrCorrupt, env.Version, recordFormat)
	}
	if env.Kind != kind {
		return fmt.Errorf("%w: %s record where a %s record belongs", ErrCorrupt, kindName(env.Kind), recKindName[kind])
	}
	if sum := checksum(env.Version, env.Kind, env.Body); sum != env.Sum {
		return fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, env.Sum, sum)
	}
	if err := decMode.Unmarshal(env.Body, out); err != nil {
		return fmt.Errorf("%w: %s body does not decode: %v", ErrCorrupt, recKindName[kind], err)
	}
	return nil
}

// byteStringAt reads the head of a definite-length byte string at the
// start of data and returns the string's bytes in place and what follows.
func byteStringAt(data []byte) (b, rest []byte, ok bool) {
	if len(data) == 0 || data[0]>>5 != 2 {
		return nil, nil, false
	}
	n, i := uint64(data[0]&0x1f), 1
	switch {
	case n < 24:
	case n <= 27:
		w := 1 << (n - 24)
		if len(data) < 1+w {
			return nil, nil, false
		}
		n = 0
		for _, c := range data[1 : 1+w] {
			n = n<<8 | uint64(c)
		}
		i += w
	default:
		return nil, nil, false // indefinite length or reserved: the slow path says which
	}
	if n > uint64(len(data)-i) {
		return nil, nil, false
	}
	return data[i : i+int(n)], data[i+int(n):], true
}

// recordInPlace is decodeRecord's check of the envelope without copying
// the body: the body is data's bytes. It takes only what decodeRecord
// would accept with the same result, and reports false for anything else
// (decodeRecord then says what is wrong); TestRecordInPlace and
// FuzzRecordInPlace hold it to that.
func recordInPlace(kind uint64, data []byte) ([]byte, bool) {
	if len(data) == 0 || data[0] != 0x84 {
		return nil, false
	}
	var version, k uint64
	var sum uint32
	rest, err := decMode.UnmarshalFirst(data[1:], &version)
	if err != nil {
		return nil, false
	}
	if rest, err = decMode.UnmarshalFirst(rest, &k); err != nil {
		return nil, false
	}
	body, rest, ok := byteStringAt(rest)
	if !ok {
		return nil, false
	}
	if rest, err = decMode.UnmarshalFirst(rest, &sum); err != nil || len(rest) != 0 {
		return nil, false
	}
	if version != recordFormat || k != kind || checksum(version, k, body) != sum {
		return nil, false
	}
	return body, true
}

// snapshotInPlace decodes a snapshot record's body into sr with the
// payload in place, taking only what decMode would decode alike.
func snapshotInPlace(body []byte, sr *snapRec) bool {
	if len(body) == 0 || body[0] != 0x82 {
		return false
	}
	rest, err := decMode.UnmarshalFirst(body[1:], &sr.Covers)
	if err != nil {
		return false
	}
	payload, rest, ok := byteStringAt(rest)
	if !ok || len(rest) != 0 {
		return false
	}
	sr.Payload = payload
	return true
}

func kindName(k uint64) string {
	if n, ok := recKindName[k]; ok {
		return n
	}
	return fmt.Sprintf("unknown kind %d", k)
}

// Record bodies.

type schemaRec struct {
	_       struct{} `cbor:",toarray"`
	Schema  uint64
	Install []byte // 16 random bytes naming this installation
}

type metaRec struct {
	_          struct{} `cbor:",toarray"`
	Title      string
	Created    int64 // Unix nanoseconds
	LastOpened int64 // Unix nanoseconds, 0 = never
}

// membersRec is a members-only document's membership (package member's
// Book and Local encodings, opaque here): who may do what, and this
// device's keys.
type membersRec struct {
	_     struct{} `cbor:",toarray"`
	Book  []byte
	Local []byte
}

type idRec struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
}

type txnRec struct {
	_       struct{} `cbor:",toarray"`
	Agent   string
	Seq     uint64
	Len     uint64
	Parents []idRec
	Payload []byte
}

// logEndRec is the state of a document's arrival log: the epoch readers
// read, the next counter (badger cannot iterate a prefix backwards through
// go-datastore, so the last counter is kept rather than looked up), and
// whether other epochs may still hold entries (a compaction is under way or
// was interrupted; the next compaction or a repair removes them).
type logEndRec struct {
	_     struct{} `cbor:",toarray"`
	Epoch uint64
	Next  uint64
	Dirty bool
}

// docIndexRec is the value of /docindex/<id>: the key is what matters.
type docIndexRec struct {
	_ struct{} `cbor:",toarray"`
}

type headRec struct {
	_    struct{} `cbor:",toarray"`
	Next uint64
}

type snapRec struct {
	_       struct{} `cbor:",toarray"`
	Covers  []idRec  // version vector: (agent, next seq), sorted by agent
	Payload []byte
}

// spanRec is a span of one agent's seqs: an arrival-log entry (the
// transaction it names) or a span to fetch.
type spanRec struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
	Len   uint64
}

type fetchRec struct {
	_     struct{} `cbor:",toarray"`
	Spans []spanRec
}

type quarRec struct {
	_      struct{} `cbor:",toarray"`
	Key    string
	Reason string
	At     int64 // Unix nanoseconds
	Value  []byte
}

func encodeTxn(r *TxnRecord) ([]byte, error) {
	ps := make([]idRec, len(r.Parents))
	for i, p := range r.Parents {
		ps[i] = idRec{Agent: p.Agent, Seq: p.Seq}
	}
	return encodeRecord(recTxn, txnRec{Agent: r.Agent, Seq: r.Seq, Len: r.Len, Parents: ps, Payload: r.Payload})
}

// decodeTxn decodes and bounds-checks a stored transaction.
func decodeTxn(data []byte) (TxnRecord, error) {
	var tr txnRec
	if err := decodeRecord(recTxn, data, &tr); err != nil {
		return TxnRecord{}, err
	}
	r := TxnRecord{Header: vocab.Header{Agent: tr.Agent, Seq: tr.Seq, Len: tr.Len}, Payload: tr.Payload}
	if len(tr.Parents) > 0 {
		r.Parents = make([]ID, len(tr.Parents))
		for i, p := range tr.Parents {
			r.Parents[i] = ID{Agent: p.Agent, Seq: p.Seq}
		}
	}
	if err := validHeader(&r.Header); err != nil {
		return TxnRecord{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(r.Payload) == 0 {
		return TxnRecord{}, fmt.Errorf("%w: empty payload", ErrCorrupt)
	}
	return r, nil
}

func encodeVersion(v Version) []idRec {
	out := make([]idRec, 0, len(v))
	for _, a := range sortedAgents(v) {
		out = append(out, idRec{Agent: a, Seq: v[a]})
	}
	return out
}

func decodeVersion(rs []idRec) (Version, error) {
	v := make(Version, len(rs))
	for i, r := range rs {
		if i > 0 && rs[i-1].Agent >= r.Agent {
			return nil, errors.New("version entries not sorted or repeated")
		}
		v[r.Agent] = r.Seq
	}
	if err := validVersion(v); err != nil {
		return nil, err
	}
	return v, nil
}

func encodeSpans(spans []Span) []spanRec {
	sorted := append([]Span(nil), spans...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].Agent != sorted[j].Agent {
			return sorted[i].Agent < sorted[j].Agent
		}
		return sorted[i].Seq < sorted[j].Seq
	})
	out := make([]spanRec, len(sorted))
	for i, s := range sorted {
		out[i] = spanRec{Agent: s.Agent, Seq: s.Seq, Len: s.Len}
	}
	return out
}
