package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sync"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"weft/vocab"
)

// Snapshot format, version 3. A CBOR array (Core Deterministic Encoding):
//
//	snapshot = [3, agents, end, rawLen, body, headLen, head]
//	agents   = [* tstr]   ; indexes used below
//	end      = uint       ; number of operations (LVs)
//	rawLen   = uint       ; length of body once decompressed
//	body     = bstr       ; zstd frame of the sections below
//	headLen  = uint       ; length of head once decompressed
//	head     = bstr       ; zstd frame: the text, version, frontier and
//	                      ; title, which OpenSnapshot reads alone (lazy.go)
//
// The body holds, as unsigned varints unless said otherwise:
//
//	content   len, bytes        every inserted code point (UTF-8), in LV order
//	titles    n, n × (len, bytes)                 the title ops' texts, in LV order
//	agents    n, n × (Δlv, agent, seq)            who made LVs [lv, next lv)
//	parents   n, n × (Δlv, k, k × (lv−parent))    LVs with parents other than lv−1
//	ops       n, n × (len<<2 | del<<1 | rev, ins: content bytes / del: zigzag(target−lv))
//	items     n, n × (flags, [zigzag Δlv], len, [left], [right])   in document order
//	frontier  n, n × lv
//	times     n, n × (Δlv, ms)                    LVs [lv, next lv) were made at ms
//
// A title op is an op run of header 1<<2 | 3 (a reversed delete of one,
// which no delete is) with nothing after it; it takes the next text of
// the titles section. LVs before the first time run have time 0.
//
// Version 2 is version 3 without headLen and head (a 5-element array),
// and version 1 is version 2 without the titles and times sections and
// without title ops; both are still read (stored snapshots), version 1 as
// a history whose times are all 0, and both wholly at once: only version
// 3 opens lazily.
// Items are the content tree's runs. flags: bit 0 tombstone; bit 1 the run
// starts where the previous one ended (else zigzag(lv − previous end)
// follows); bits 2–3 originLeft: 0 none, 1 the previous run's last item,
// 2 lv−1, 3 explicit zigzag(left − lv); bit 4 an explicit originRight
// zigzag(right − lv) follows (else none).
//
// The body does not store the text separately: it is the content of the
// visible items. The head's copy of it is checked against them when the
// body is read.
const (
	// zstdWindow is the compression window; the decoder refuses larger.
	zstdWindow = 4 << 20
	// maxRatio bounds how much a snapshot body may expand.
	maxRatio = 256

	snapFormat   = 3
	snapFormatV2 = 2
	snapFormatV1 = 1
	// MaxSnapshotBytes bounds a snapshot, encoded or decompressed.
	MaxSnapshotBytes = 1 << 30
)

type wireSnapshot struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Agents  []string
	End     uint64
	RawLen  uint64
	Body    []byte
	HeadLen uint64
	Head    []byte
}

// wireSnapshotV2 is the header of versions 1 and 2.
type wireSnapshotV2 struct {
	_      struct{} `cbor:",toarray"`
	V      uint64
	Agents []string
	End    uint64
	RawLen uint64
	Body   []byte
}

var (
	zOnce sync.Once
	zEnc  *zstd.Encoder
	zDec  *zstd.Decoder
	zErr  error
)

func zstdCodecs() (*zstd.Encoder, *zstd.Decoder, error) {
	zOnce.Do(func() {
		// SpeedBetterCompression, not Best: Best's match tables stay
		// allocated with the encoder (42 MiB retained for the process's
		// life, against 13) and it took 9× as long on 3 MiB of text, for
		// output 8% smaller.
		zEnc, zErr = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
		if zErr != nil {
			return
		}
		zDec, zErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxSnapshotBytes),
			zstd.WithDecoderMaxWindow(zstdWindow), zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderLowmem(true))
	})
	return zEnc, zDec, zErr
}

func putU(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func putZ(b []byte, v int64) []byte  { return binary.AppendVarint(b, v) }

// EncodeSnapshot encodes the whole document: text, item metadata and full
// history.
func (d *Doc) EncodeSnapshot() []byte {
	if d.lz != nil {
		return d.lz.snapshotBytes()
	}
	h := &d.h
	body := make([]byte, 0, len(h.content)+8*len(h.ops)+8*d.t.items/4+64)
	body = putU(body, uint64(len(h.content)))
	body = append(body, h.content...)

	body = putU(body, uint64(len(h.titles)))
	for _, t := range h.titles {
		body = putU(body, uint64(len(t.text)))
		body = append(body, t.text...)
	}

	body = putU(body, uint64(len(h.lvAgents)))
	prev := uint32(0)
	for _, r := range h.lvAgents {
		body = putU(body, uint64(r.lv-prev))
		body = putU(body, uint64(r.agent))
		body = putU(body, uint64(r.seq))
		prev = r.lv
	}

	body = putU(body, uint64(len(h.parents)))
	prev = 0
	for _, r := range h.parents {
		body = putU(body, uint64(r.lv-prev))
		ps := h.pool[r.ps:r.pe]
		body = putU(body, uint64(len(ps)))
		for _, p := range ps {
			body = putU(body, uint64(r.lv-p))
		}
		prev = r.lv
	}

	body = putU(body, uint64(len(h.ops)))
	for k := range h.ops {
		o := &h.ops[k]
		hdr := uint64(o.len()) << 2
		if o.isTitle() {
			body = putU(body, 1<<2|3)
			continue
		}
		if o.isDel() {
			hdr |= 2
			if o.rev() {
				hdr |= 1
			}
			body = putU(body, hdr)
			body = putZ(body, int64(o.x)-int64(o.lv))
			continue
		}
		body = putU(body, hdr)
		body = putU(body, uint64(h.insertEnd(k)-int(o.x)))
	}

	runs := 0
	for l := d.t.first; l != nil; l = l.next {
		runs += l.n
	}
	body = putU(body, uint64(runs))
	prevEnd, prevLast := uint32(0), none
	for l := d.t.first; l != nil; l = l.next {
		for i := 0; i < l.n; i++ {
			r := &l.runs[i]
			var flags byte
			if r.deleted() {
				flags |= 1
			}
			if r.lv == prevEnd {
				flags |= 2
			}
			var lm byte
			switch {
			case r.left == none:
				lm = 0
			case r.left == prevLast:
				lm = 1
			case r.left == r.lv-1:
				lm = 2
			default:
				lm = 3
			}
			flags |= lm << 2
			if r.right != none {
				flags |= 16
			}
			body = append(body, flags)
			if r.lv != prevEnd {
				body = putZ(body, int64(r.lv)-int64(prevEnd))
			}
			body = putU(body, uint64(r.len()))
			if lm == 3 {
				body = putZ(body, int64(r.left)-int64(r.lv))
			}
			if r.right != none {
				body = putZ(body, int64(r.right)-int64(r.lv))
			}
			prevEnd, prevLast = r.end(), r.end()-1
		}
	}

	body = putU(body, uint64(len(d.front)))
	for _, lv := range d.front {
		body = putU(body, uint64(lv))
	}

	body = putU(body, uint64(len(h.times)))
	prev = 0
	for _, r := range h.times {
		body = putU(body, uint64(r.lv-prev))
		body = putU(body, uint64(r.ms))
		prev = r.lv
	}

	enc, _, err := zstdCodecs()
	if err != nil {
		panic(err) // the options are constant
	}
	head := d.encodeHead()
	w := wireSnapshot{V: snapFormat, End: uint64(h.end), RawLen: uint64(len(body)), Body: enc.EncodeAll(body, nil),
		HeadLen: uint64(len(head)), Head: enc.EncodeAll(head, nil)}
	w.Agents = make([]string, len(h.agents))
	for i := range h.agents {
		w.Agents[i] = h.agents[i].name
	}
	out, err := encMode.Marshal(w)
	if err != nil {
		panic(err) // plain values always encode
	}
	return out
}

// insertEnd returns the end offset in h.content of insert op run k.
func (h *history) insertEnd(k int) int {
	for j := k + 1; j < len(h.ops); j++ {
		if !h.ops[j].isDel() {
			return int(h.ops[j].x)
		}
	}
	return len(h.content)
}

// reader reads the varint sections of a snapshot body.
type reader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (r *reader) u() uint64 {
	if len(r.b) > 0 && r.b[0] < 0x80 { // one byte: most values
		v := uint64(r.b[0])
		r.b = r.b[1:]
		return v
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// z reads a signed varint: zigzag over u, as binary.Varint decodes it.
func (r *reader) z() int64 {
	u := r.u()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errTruncated)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a count of records of at least min bytes each, bounded by
// what is left, so no length field can make us allocate more than the
// input could hold.
func (r *reader) count(min int) int {
	n := r.u()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.fail(fmt.Errorf("count %d exceeds the remaining %d bytes", n, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// bitset over LVs.
type bitset []uint64

func (s bitset) has(i uint32) bool { return s[i>>6]&(1<<(i&63)) != 0 }

// words yields, for every 64-bit word that [lo, hi) touches, its index and
// the mask of the range's bits in it.
func words(lo, hi uint32) iter.Seq2[uint32, uint64] {
	return func(yield func(uint32, uint64) bool) {
		for lo < hi {
			w, b := lo>>6, lo&63
			n := hi - lo
			if n > 64-b {
				n = 64 - b
			}
			m := ^uint64(0)
			if n < 64 {
				m = (1<<n - 1) << b
			}
			if !yield(w, m) {
				return
			}
			lo += n
		}
	}
}

// setRange sets [lo, hi) and reports whether any bit was already set.
func (s bitset) setRange(lo, hi uint32) (overlap bool) {
	for w, m := range words(lo, hi) {
		if s[w]&m != 0 {
			overlap = true
		}
		s[w] |= m
	}
	return overlap
}

// allSet reports whether every bit of [lo, hi) is set.
func (s bitset) allSet(lo, hi uint32) bool {
	for w, m := range words(lo, hi) {
		if s[w]&m != m {
			return false
		}
	}
	return true
}

// anySet reports whether any bit of [lo, hi) is set.
func (s bitset) anySet(lo, hi uint32) bool {
	for w, m := range words(lo, hi) {
		if s[w]&m != 0 {
			return true
		}
	}
	return false
}

// LoadSnapshot decodes a snapshot into a document whose local edits are
// made by agent. The bytes are fully validated: malformed or hostile input
// returns an error wrapping ErrFormat and never panics.
func LoadSnapshot(agent string, data []byte) (*Doc, error) {
	d, err := OpenSnapshot(agent, data)
	if err != nil {
		return nil, err
	}
	if err := d.Materialize(); err != nil {
		return nil, err
	}
	return d, nil
}

// OpenSnapshot is LoadSnapshot that reads, of a version-3 snapshot, only
// its header and head: the text, version, frontier and title. The rest is
// read and checked when first needed (lazy.go). Malformed input in what
// it reads returns an error wrapping ErrFormat; older versions are read
// whole. For a replica's own stored snapshots: one from another replica
// goes through LoadSnapshot, so that it is wholly checked before it is
// kept.
func OpenSnapshot(agent string, data []byte) (*Doc, error) {
	if err := checkAgent(agent); err != nil {
		return nil, err
	}
	w, err := decodeSnapshotHeader(data)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrFormat, err)
	}
	if w.V != snapFormat {
		d, err := loadBody(agent, &w)
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot: %v", ErrFormat, err)
		}
		return d, nil
	}
	lz := &lazyDoc{w: w}
	_, dec, err := zstdCodecs()
	if err != nil {
		return nil, err
	}
	head, err := dec.DecodeAll(w.Head, make([]byte, 0, w.HeadLen))
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot head: %v", ErrFormat, err)
	}
	if uint64(len(head)) != w.HeadLen {
		return nil, fmt.Errorf("%w: snapshot head is %d bytes, header says %d", ErrFormat, len(head), w.HeadLen)
	}
	if err := lz.readHead(head); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %v", ErrFormat, err)
	}
	return &Doc{agent: agent, lz: lz}, nil
}

// decodeSnapshotHeader decodes and checks the CBOR header of any version.
// The compressed sections stay compressed.
func decodeSnapshotHeader(data []byte) (wireSnapshot, error) {
	var w wireSnapshot
	if len(data) > MaxSnapshotBytes {
		return w, fmt.Errorf("%d bytes", len(data))
	}
	// The array's length tells the versions apart (deterministic
	// encoding: one byte for an array of fewer than 24).
	switch {
	case len(data) > 0 && data[0] == 0x80|7:
		if err := snapDecMode.Unmarshal(data, &w); err != nil {
			return w, err
		}
		if w.V != snapFormat {
			return w, fmt.Errorf("format version %d with the fields of version %d", w.V, snapFormat)
		}
	default:
		var w2 wireSnapshotV2
		if err := snapDecMode.Unmarshal(data, &w2); err != nil {
			return w, err
		}
		if w2.V != snapFormatV2 && w2.V != snapFormatV1 {
			return w, fmt.Errorf("format version %d (this build reads %d to %d)", w2.V, snapFormatV1, snapFormat)
		}
		w = wireSnapshot{V: w2.V, Agents: w2.Agents, End: w2.End, RawLen: w2.RawLen, Body: w2.Body}
	}
	if w.End > MaxSeq || w.RawLen > MaxSnapshotBytes || w.HeadLen > MaxSnapshotBytes {
		return w, fmt.Errorf("sizes out of range")
	}
	// Each section may expand at most maxRatio times (plus a little): what
	// a snapshot may allocate is paid for by its size, so a small hostile
	// input cannot claim a gigabyte. Real documents compress far less.
	if lim := maxRatio*uint64(len(w.Body)) + 16<<20; w.RawLen > lim {
		return w, fmt.Errorf("body claims %d bytes from %d compressed", w.RawLen, len(w.Body))
	}
	if lim := maxRatio*uint64(len(w.Head)) + 16<<20; w.HeadLen > lim {
		return w, fmt.Errorf("head claims %d bytes from %d compressed", w.HeadLen, len(w.Head))
	}
	seen := make(map[string]struct{}, len(w.Agents))
	for i, name := range w.Agents {
		if err := checkAgent(name); err != nil {
			return w, fmt.Errorf("agent %d: %w", i, err)
		}
		if _, dup := seen[name]; dup {
			return w, fmt.Errorf("agent %q listed twice", name)
		}
		seen[name] = struct{}{}
	}
	return w, nil
}

// loadBody reads a snapshot's body (the history and items) into a new
// document, validating every cross-reference.
func loadBody(agent string, w *wireSnapshot) (*Doc, error) {
	_, dec, err := zstdCodecs()
	if err != nil {
		return nil, err
	}
	// DecodeAll never grows the buffer past its capacity (cap limit).
	body, err := dec.DecodeAll(w.Body, make([]byte, 0, w.RawLen))
	if err != nil {
		return nil, fmt.Errorf("body: %v", err)
	}
	if uint64(len(body)) != w.RawLen {
		return nil, fmt.Errorf("body is %d bytes, header says %d", len(body), w.RawLen)
	}
	d := &Doc{agent: agent}
	if err := d.load(w, body); err != nil {
		return nil, err
	}
	d.self = d.h.addAgent(agent)
	return d, nil
}

var snapDecMode = mustDecMode(strictDecOptions(4, 1<<20))

// load fills d from a decompressed body, validating every cross-reference.
func (d *Doc) load(w *wireSnapshot, body []byte) error {
	h := &d.h
	end := uint32(w.End)
	for _, name := range w.Agents { // checked, duplicates too, by decodeSnapshotHeader
		h.addAgent(name)
	}
	r := &reader{b: body}

	// Content.
	n := r.count(1)
	if r.err != nil {
		return r.err
	}
	h.content = r.b[:n:n]
	r.b = r.b[n:]
	paid := uint64(n)
	if w.V >= snapFormatV2 {
		// Titles: each costs at least its length byte.
		nt := r.count(1)
		if r.err != nil {
			return r.err
		}
		h.titles = make([]titleOp, nt)
		for k := range h.titles {
			tn := r.count(1)
			if r.err != nil {
				return r.err
			}
			h.titles[k].text = string(r.b[:tn])
			r.b = r.b[tn:]
			if err := vocab.CheckTitle(h.titles[k].text); err != nil {
				return fmt.Errorf("title %d: %v", k, err)
			}
			paid += 1 + uint64(tn)
		}
	}
	// Every insert has at least a byte of content (every title op one
	// byte of its section) and deletes rarely outnumber inserts; bound the
	// operation count (which sizes the bitsets below) by what the body
	// holds.
	if uint64(end) > 16*paid+4096 {
		return fmt.Errorf("%d operations for %d bytes of content", end, paid)
	}

	// Who made each LV.
	n = r.count(3)
	h.lvAgents = make([]lvAgentRun, 0, n)
	lv := uint64(0)
	for k := 0; k < n && r.err == nil; k++ {
		lv += r.u()
		a, seq := r.u(), r.u()
		if k == 0 && lv != 0 || k > 0 && lv <= uint64(h.lvAgents[k-1].lv) || lv >= uint64(end) {
			return fmt.Errorf("agent run %d at LV %d out of order", k, lv)
		}
		if k > 0 {
			d.closeAgentRun(k-1, uint32(lv))
		}
		if a >= uint64(len(h.agents)) || seq != uint64(h.agents[a].next) {
			return fmt.Errorf("agent run %d: agent %d seq %d does not continue its history", k, a, seq)
		}
		h.lvAgents = append(h.lvAgents, lvAgentRun{uint32(lv), uint32(a), uint32(seq)})
	}
	if r.err != nil {
		return r.err
	}
	if end > 0 {
		if n == 0 {
			return errors.New("operations without agents")
		}
		d.closeAgentRun(n-1, end)
	}

	// Parents.
	n = r.count(2)
	h.parents = make([]parentRun, 0, n)
	lv = 0
	for k := 0; k < n && r.err == nil; k++ {
		lv += r.u()
		np := r.count(1)
		if k == 0 && lv != 0 || k > 0 && lv <= uint64(h.parents[k-1].lv) || lv >= uint64(end) || np > MaxTxnParents {
			return fmt.Errorf("parent run %d at LV %d out of order", k, lv)
		}
		ps := uint32(len(h.pool))
		for j := 0; j < np; j++ {
			delta := r.u()
			if delta == 0 || delta > lv {
				return fmt.Errorf("LV %d has a parent that is not earlier", lv)
			}
			h.pool = append(h.pool, uint32(lv-delta))
		}
		h.parents = append(h.parents, parentRun{uint32(lv), ps, uint32(len(h.pool))})
	}
	if r.err != nil {
		return r.err
	}
	if end > 0 && n == 0 {
		return errors.New("operations without parents")
	}

	// Ops. A title op's run is one byte (its header); the others take two
	// or more.
	n = r.count(1)
	h.ops = make([]opRun, 0, n)
	inserts := make(bitset, (end+63)/64)
	deleted := make(bitset, (end+63)/64)
	lv = 0
	cb := 0
	nt := 0 // title ops read
	for k := 0; k < n && r.err == nil; k++ {
		hdr := r.u()
		m := hdr >> 2
		if m == 0 || lv+m > uint64(end) {
			return fmt.Errorf("op run %d overruns the %d operations", k, end)
		}
		o := opRun{lv: uint32(lv), n: uint32(m)}
		if w.V >= snapFormatV2 && hdr == 1<<2|3 {
			if nt >= len(h.titles) {
				return fmt.Errorf("op run %d: more title ops than titles", k)
			}
			h.titles[nt].lv = uint32(lv)
			nt++
			o.n, o.x = 1|opDelBit, none
			h.ops = append(h.ops, o)
			lv++
			continue
		}
		if hdr&2 == 0 {
			if hdr&1 != 0 {
				return fmt.Errorf("op run %d: insert marked reversed", k)
			}
			nb := r.u()
			if nb > uint64(len(h.content)-cb) {
				return fmt.Errorf("op run %d: content overruns", k)
			}
			c := h.content[cb : cb+int(nb)]
			if !utf8.Valid(c) || uint64(utf8.RuneCount(c)) != m {
				return fmt.Errorf("op run %d: content is not %d code points of UTF-8", k, m)
			}
			o.x = uint32(cb)
			cb += int(nb)
			inserts.setRange(uint32(lv), uint32(lv+m))
		} else {
			t := int64(lv) + r.z()
			o.n |= opDelBit
			lo, hi := t, t+int64(m)
			if hdr&1 != 0 {
				o.n |= opRevBit
				lo, hi = t-int64(m)+1, t+1
			}
			if lo < 0 || hi > int64(lv) {
				return fmt.Errorf("op run %d deletes LVs [%d,%d) not before it", k, lo, hi)
			}
			if !inserts.allSet(uint32(lo), uint32(hi)) {
				return fmt.Errorf("op run %d deletes an operation that is not an insert", k)
			}
			o.x = uint32(t)
			deleted.setRange(uint32(lo), uint32(hi))
		}
		h.ops = append(h.ops, o)
		lv += m
	}
	if r.err != nil {
		return r.err
	}
	if lv != uint64(end) || cb != len(h.content) || nt != len(h.titles) {
		return fmt.Errorf("ops cover %d of %d operations, %d of %d content bytes and %d of %d titles", lv, end, cb, len(h.content), nt, len(h.titles))
	}
	h.end = end

	// Items, in document order.
	if err := d.loadItems(r, end, inserts, deleted); err != nil {
		return err
	}

	// Frontier.
	n = r.count(1)
	d.front = make([]uint32, 0, n)
	for k := 0; k < n && r.err == nil; k++ {
		f := r.u()
		if f >= uint64(end) {
			return fmt.Errorf("frontier LV %d of %d", f, end)
		}
		d.front = append(d.front, uint32(f))
	}
	if r.err != nil {
		return r.err
	}
	if end > 0 && len(d.front) == 0 {
		return errors.New("empty frontier")
	}
	sortU32(d.front)
	if w.V >= snapFormatV2 {
		n = r.count(2)
		h.times = make([]timeRun, 0, n)
		lv = 0
		for k := 0; k < n && r.err == nil; k++ {
			lv += r.u()
			ms := r.u()
			if k > 0 && lv <= uint64(h.times[k-1].lv) || lv >= uint64(end) || ms > MaxTime || k > 0 && int64(ms) == h.times[k-1].ms || k == 0 && ms == 0 {
				return fmt.Errorf("time run %d at LV %d out of order or out of range", k, lv)
			}
			h.times = append(h.times, timeRun{uint32(lv), int64(ms)})
		}
		if r.err != nil {
			return r.err
		}
		d.rebuildTitles()
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d bytes after the last section", len(r.b))
	}
	return nil
}

// closeAgentRun records lvAgents run k as ending at LV hi in its agent's
// seq runs.
func (d *Doc) closeAgentRun(k int, hi uint32) {
	r := d.h.lvAgents[k]
	ag := &d.h.agents[r.agent]
	m := hi - r.lv
	if j := len(ag.runs) - 1; j >= 0 && ag.runs[j].seq+ag.runs[j].n == r.seq && ag.runs[j].lv+ag.runs[j].n == r.lv {
		ag.runs[j].n += m
	} else {
		ag.runs = append(ag.runs, seqRun{r.seq, r.lv, m})
	}
	ag.next = r.seq + m
}

// loadItems reads the item runs, checks that they cover every insert
// exactly once with tombstones exactly where deletes hit, and builds the
// content tree with the text of the visible items.
func (d *Doc) loadItems(r *reader, end uint32, inserts, deleted bitset) error {
	n := r.count(2)
	if r.err != nil {
		return r.err
	}
	b := newTreeBuilder(&d.h)
	// Explicit originRights are checked once every run is known: targets
	// marks the items they name.
	var rights []itemRun
	targets := make(bitset, len(inserts))
	seen := make(bitset, len(inserts))
	prevEnd, prevLast := uint32(0), none
	for k := 0; k < n; k++ {
		flags := r.byte()
		lv := int64(prevEnd)
		if flags&2 == 0 {
			lv += r.z()
		}
		m := r.u()
		if r.err != nil {
			return r.err
		}
		if flags&^31 != 0 || m == 0 || lv < 0 || uint64(lv)+m > uint64(end) {
			return fmt.Errorf("item run %d out of range", k)
		}
		it := itemRun{lv: uint32(lv), n: uint32(m), left: none, right: none}
		switch flags >> 2 & 3 {
		case 1:
			if prevLast == none {
				return fmt.Errorf("item run %d: originLeft refers to a missing previous run", k)
			}
			it.left = prevLast
		case 2:
			if lv == 0 {
				return fmt.Errorf("item run %d: originLeft before LV 0", k)
			}
			it.left = uint32(lv) - 1
		case 3:
			l := lv + r.z()
			if l < 0 || l >= int64(end) || !inserts.has(uint32(l)) {
				return fmt.Errorf("item run %d: originLeft is not an insert", k)
			}
			it.left = uint32(l)
		}
		if flags&16 != 0 {
			rt := lv + r.z()
			if rt < 0 || rt >= int64(end) || !inserts.has(uint32(rt)) {
				return fmt.Errorf("item run %d: originRight is not an insert", k)
			}
			it.right = uint32(rt)
		}
		if r.err != nil {
			return r.err
		}
		if it.left != none && !inserts.has(it.left) {
			return fmt.Errorf("item run %d: originLeft is not an insert", k)
		}
		lo, hi := it.lv, it.end()
		if !inserts.allSet(lo, hi) || seen.setRange(lo, hi) {
			return fmt.Errorf("item run %d: LVs [%d,%d) are not inserts or appear twice", k, lo, hi)
		}
		del := flags&1 != 0
		if del {
			it.n |= delBit
			if !deleted.allSet(lo, hi) {
				return fmt.Errorf("item run %d: tombstones that no delete removed", k)
			}
		} else {
			if deleted.anySet(lo, hi) {
				return fmt.Errorf("item run %d: deleted items shown as visible", k)
			}
		}
		b.add(it)
		if it.right != none {
			rights = append(rights, it)
			targets.setRange(it.right, it.right+1)
		}
		prevEnd, prevLast = it.end(), it.end()-1
	}
	for i := range seen {
		if seen[i] != inserts[i] {
			return errors.New("item runs do not cover every insert")
		}
	}
	d.t = b.finish()
	// Every explicit originRight must have the shape the ordering rule
	// gives it: an item sharing the run's originLeft. A snapshot breaking
	// it would let this replica serve a history others reject. An item
	// that starts no run has its predecessor as originLeft; the originLeft
	// of those that do is looked up among the runs.
	startLeft := make(map[uint32]uint32, len(rights))
	for l := d.t.first; l != nil; l = l.next {
		for i := 0; i < l.n; i++ {
			if r := &l.runs[i]; targets.has(r.lv) {
				startLeft[r.lv] = r.left
			}
		}
	}
	for _, r := range rights {
		got, ok := startLeft[r.right]
		if !ok {
			got = r.right - 1
		}
		if got != r.left {
			return fmt.Errorf("item %d has an originRight that does not share its originLeft", r.lv)
		}
	}
	return nil
}

// opFinder finds the op run of an LV in constant time: a table gives the
// run at the start of each block of 64 LVs, and a short scan does the rest.
type opFinder struct {
	ops   []opRun
	block []uint32
}

func newOpFinder(ops []opRun, end uint32) opFinder {
	f := opFinder{ops: ops, block: make([]uint32, (end+63)/64)}
	k := 0
	for b := range f.block {
		lv := uint32(b) << 6
		for k+1 < len(ops) && ops[k+1].lv <= lv {
			k++
		}
		f.block[b] = uint32(k)
	}
	return f
}

func (f *opFinder) at(lv uint32) int {
	k := int(f.block[lv>>6])
	for k+1 < len(f.ops) && f.ops[k+1].lv <= lv {
		k++
	}
	return k
}

// opContent returns the bytes of insert LVs [lo, hi) inside op run k.
func (h *history) opContent(k int, lo, hi uint32) []byte {
	o := &h.ops[k]
	c := h.content[o.x:h.insertEndFast(k)]
	if len(c) == o.len() { // ASCII
		return c[lo-o.lv : hi-o.lv]
	}
	b := skipRunes(c, int(lo-o.lv))
	return c[b : b+skipRunes(c[b:], int(hi-lo))]
}

// insertEndFast is insertEnd for op runs followed by at most a few deletes.
func (h *history) insertEndFast(k int) int {
	if k+1 < len(h.ops) && !h.ops[k+1].isDel() {
		return int(h.ops[k+1].x)
	}
	if k+2 < len(h.ops) && !h.ops[k+2].isDel() {
		return int(h.ops[k+2].x)
	}
	return h.insertEnd(k)
}

// treeBuilder bulk-loads a content tree from item runs in document order,
// filling leaves to a little under capacity.
type treeBuilder struct {
	h      *history
	find   opFinder
	text   []byte
	leaves []*leaf
	l      *leaf
	lstart int
	items  int
}

const buildFill = leafCap - 4

func newTreeBuilder(h *history) *treeBuilder {
	return &treeBuilder{h: h, find: newOpFinder(h.ops, h.end), text: make([]byte, 0, len(h.content)), l: &leaf{}}
}

func (b *treeBuilder) flush() {
	l := b.l
	l.text = b.text[b.lstart:len(b.text):len(b.text)]
	b.leaves = append(b.leaves, l)
	b.l = &leaf{}
	b.lstart = len(b.text)
}

// add appends run r, with its text from the history when visible.
func (b *treeBuilder) add(r itemRun) {
	b.items += r.len()
	if r.deleted() {
		if b.l.n == buildFill {
			b.flush()
		}
		b.l.runs[b.l.n] = r
		b.l.n++
		return
	}
	h := b.h
	for lo := r.lv; lo < r.end(); {
		k := b.find.at(lo)
		o := &h.ops[k]
		e := o.lv + uint32(o.len())
		if e > r.end() {
			e = r.end()
		}
		c := h.opContent(k, lo, e)
		// Cut so that no leaf's text passes the cap.
		if len(c) > leafTextCap/2 {
			n := runeCountPrefix(c, leafTextCap/2)
			if n == 0 {
				n = 1
			}
			c = c[:skipRunes(c, n)]
			e = lo + uint32(n)
		}
		l := b.l
		if l.n == buildFill || len(b.text)-b.lstart+len(c) > leafTextCap {
			b.flush()
			l = b.l
		}
		piece := itemRun{lv: lo, n: e - lo, left: r.leftOf(int(lo - r.lv)), right: r.rightOf(int(lo - r.lv))}
		if l.n > 0 && l.runs[l.n-1].canAppend(&piece) {
			l.runs[l.n-1].n += piece.n
		} else {
			l.runs[l.n] = piece
			l.n++
		}
		b.text = append(b.text, c...)
		l.vis += int(e - lo)
		lo = e
	}
}

func (b *treeBuilder) finish() tree {
	if b.l.n > 0 || len(b.leaves) == 0 {
		b.flush()
	}
	leaves := b.leaves
	// The text was gathered with room for deleted content too; keep only
	// what is visible.
	if cap(b.text) > len(b.text)+len(b.text)/16+64 {
		exact := append([]byte(nil), b.text...)
		off := 0
		for _, lf := range leaves {
			n := len(lf.text)
			lf.text = exact[off : off+n : off+n]
			off += n
		}
	}
	t := tree{items: b.items}
	for i, lf := range leaves {
		if i > 0 {
			lf.prev = leaves[i-1]
			leaves[i-1].next = lf
		}
		t.vis += lf.vis
	}
	t.first = leaves[0]
	// Internal levels, bottom up.
	const nfill = nodeCap - 4
	var level []*node
	for i := 0; i < len(leaves); i += nfill {
		nd := &node{leafKids: true}
		for j := i; j < len(leaves) && j < i+nfill; j++ {
			nd.leaves[nd.n] = leaves[j]
			nd.vis[nd.n] = leaves[j].vis
			nd.n++
		}
		nd.renumber(0)
		level = append(level, nd)
	}
	for len(level) > 1 {
		var up []*node
		for i := 0; i < len(level); i += nfill {
			nd := &node{}
			for j := i; j < len(level) && j < i+nfill; j++ {
				nd.nodes[nd.n] = level[j]
				for k := 0; k < level[j].n; k++ {
					nd.vis[nd.n] += level[j].vis[k]
				}
				nd.n++
			}
			nd.renumber(0)
			up = append(up, nd)
		}
		level = up
	}
	t.root = level[0]
	return t
}
