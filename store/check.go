package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"weft/vocab"
)

// Codec lets Check look inside payloads. The store never decodes them
// itself; weft's implementation adapts the crdt package (replica.StoreCodec).
type Codec interface {
	// CheckTxn decodes payload and returns an error unless it is exactly the
	// transaction h describes (agent, first seq, length, parents).
	CheckTxn(h vocab.Header, payload []byte) error
	// Rebuild starts rebuilding a document from a snapshot payload (nil: the
	// empty document).
	Rebuild(snapshot []byte) (Rebuilder, error)
}

// Rebuilder is a document being rebuilt by Check.
type Rebuilder interface {
	// Apply integrates one transaction payload (they come in causal order).
	Apply(payload []byte) error
	// Version is the version of what was applied (with the snapshot's).
	Version() Version
	// TextHash is a hash of the current text.
	TextHash() []byte
}

// Problem is one thing Check found wrong.
type Problem struct {
	Doc    DocID  // zero for store-wide problems
	Key    string // the key concerned
	What   string // what is wrong
	Action string // what repair did ("" when not repaired)
}

func (p Problem) String() string {
	var b strings.Builder
	if !p.Doc.IsZero() {
		fmt.Fprintf(&b, "document %s: ", p.Doc)
	}
	fmt.Fprintf(&b, "%s: %s", p.Key, p.What)
	if p.Action != "" {
		fmt.Fprintf(&b, " [%s]", p.Action)
	}
	return b.String()
}

// CheckOptions configure Check.
type CheckOptions struct {
	// Codec decodes payloads; nil skips the payload and text checks.
	Codec Codec
	// Repair rebuilds what can be rebuilt locally: damaged or unplaceable
	// values are quarantined, the log and heads are rebuilt, missing
	// metadata is recreated, and missing spans are recorded for fetching
	// from peers (see Missing).
	Repair bool
	// Report receives each problem as it is found (may be nil).
	Report func(Problem)
}

// CheckResult summarises a check.
type CheckResult struct {
	Docs        int
	Txns        int // transaction records examined
	Problems    int
	Unrepaired  int              // problems left as they were
	Fetch       map[DocID][]Span // spans recorded to fetch from peers (Repair)
	Quarantined int              // values in quarantine after the check
	// Leftovers counts log entries found in epochs other than the current
	// one: left by an interrupted compaction or repair, never read, and not
	// a problem. Repair removes them (as does the next compaction).
	Leftovers int
}

// Healthy reports whether the store had no problems, or repair fixed all of
// them locally (nothing left to fetch from peers).
func (r *CheckResult) Healthy() bool { return r.Unrepaired == 0 && len(r.Fetch) == 0 }

// maxReportsPerKind caps repetitive problems per document and kind.
const maxReportsPerKind = 20

// Check verifies the whole store: every value decodes and passes its
// checksum, every key follows the layout; per document, no gaps in any
// agent's seqs, every parent present, the log lists every transaction once
// in a causal order, heads agree, and (with a Codec) payloads agree with
// their headers and the snapshot agrees with the log (texts rebuilt and
// hashes compared). With Repair it fixes what it can (see CheckOptions).
// It flushes pending writes first and holds off new ones until it returns.
func (s *Store) Check(ctx context.Context, opts CheckOptions) (*CheckResult, error) {
	s.excl.Lock()
	defer s.excl.Unlock()
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	c := &checker{s: s, opts: opts, res: &CheckResult{Fetch: map[DocID][]Span{}}}
	if opts.Repair {
		defer func() {
			s.mu.Lock()
			s.docs = map[DocID]*docState{}
			s.mu.Unlock()
		}()
	}
	var docs []DocID
	seen := map[DocID]bool{}
	hasData := map[DocID]bool{}
	err := each(ctx, s.kv.d, dsq.Query{KeysOnly: true}, func(e dsq.Entry) error {
		switch {
		case e.Key == schemaKey:
		case strings.HasPrefix(e.Key, quarantinePfx+"/"):
			c.res.Quarantined++
		case strings.HasPrefix(e.Key, deletingPrefix+"/"): // finished at Open
		case strings.HasPrefix(e.Key, docIndexPrefix+"/"):
			id, err := parseDocIndexKey(e.Key)
			if err != nil {
				c.defer1(DocID{}, e.Key, err.Error())
				return nil
			}
			if !seen[id] {
				seen[id] = true
				docs = append(docs, id)
			}
		case strings.HasPrefix(e.Key, docsPrefix+"/"):
			dk, err := parseDocKey(e.Key)
			if err != nil {
				if id, perr := ParseDocID(strings.SplitN(strings.TrimPrefix(e.Key, docsPrefix+"/"), "/", 2)[0]); perr == nil {
					c.defer1(id, e.Key, err.Error())
				} else {
					c.defer1(DocID{}, e.Key, err.Error())
				}
				return nil
			}
			hasData[dk.doc] = true
			if !seen[dk.doc] {
				seen[dk.doc] = true
				docs = append(docs, dk.doc)
			}
		default:
			c.defer1(DocID{}, e.Key, "key outside the layout")
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	for _, b := range c.badKeys {
		if err := c.quarantine(ctx, b.doc, b.key, b.what); err != nil {
			return nil, err
		}
	}
	for _, doc := range docs {
		if !hasData[doc] {
			// Only an index entry: nothing to check but the entry itself.
			if err := c.quarantine(ctx, doc, docIndexKey(doc), "index entry of a document that has no data"); err != nil {
				return nil, err
			}
			continue
		}
		if err := c.checkDoc(ctx, doc); err != nil {
			return nil, fmt.Errorf("document %s: %w", doc, err)
		}
		c.res.Docs++
	}
	if opts.Repair {
		if err := s.kv.sync(ctx); err != nil {
			return nil, err
		}
	}
	return c.res, nil
}

type checker struct {
	s       *Store
	opts    CheckOptions
	res     *CheckResult
	badKeys []badKey
	qseq    int64
	counts  map[string]int
}

type badKey struct {
	doc       DocID
	key, what string
}

func (c *checker) defer1(doc DocID, key, what string) {
	c.badKeys = append(c.badKeys, badKey{doc, key, what})
}

// report records a problem; repaired says whether an action fixed it.
func (c *checker) report(doc DocID, key, what, action string) {
	c.res.Problems++
	if action == "" {
		c.res.Unrepaired++
	}
	kind := doc.String() + what[:min(len(what), 12)]
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[kind]++
	if n := c.counts[kind]; n > maxReportsPerKind {
		if n == maxReportsPerKind+1 && c.opts.Report != nil {
			c.opts.Report(Problem{Doc: doc, Key: key, What: "more problems like the previous ones (not listed)"})
		}
		return
	}
	if c.opts.Report != nil {
		c.opts.Report(Problem{Doc: doc, Key: key, What: what, Action: action})
	}
}

// quarantine moves key's value under /quarantine (with the reason) when
// repairing, and reports the problem.
func (c *checker) quarantine(ctx context.Context, doc DocID, key, what string) error {
	if !c.opts.Repair {
		c.report(doc, key, what, "")
		return nil
	}
	raw, err := c.s.kv.d.Get(ctx, dkey(key))
	if errors.Is(err, ds.ErrNotFound) {
		c.report(doc, key, what, "already gone")
		return nil
	}
	if err != nil {
		return err
	}
	now := c.s.opts.Now().UnixNano()
	c.qseq++
	q, err := encodeRecord(recQuarantine, quarRec{Key: key, Reason: what, At: now, Value: raw})
	if err != nil {
		return err
	}
	qk := quarantineKey(now+c.qseq, key)
	if err := c.s.kv.commit(ctx, [][]kvOp{{{key: qk, val: q}, {key: key, del: true}}}, 4<<20); err != nil {
		return fmt.Errorf("quarantine %s: %w", key, err)
	}
	c.res.Quarantined++
	c.report(doc, key, what, "quarantined as "+qk)
	return nil
}

type txnInfo struct {
	hdr vocab.Header
	key string
}

func (c *checker) checkDoc(ctx context.Context, doc DocID) error {
	s := c.s
	r := s.kv.d
	needIndex := false
	// Metadata and index entry.
	if err := c.checkRecord(ctx, doc, metaKey(doc), recMeta, &metaRec{}, "document has data but no metadata", "metadata was quarantined", c.repairMeta); err != nil {
		return err
	}
	if err := c.checkRecord(ctx, doc, docIndexKey(doc), recDocIndex, &docIndexRec{}, "document is missing from the document index", "index entry was quarantined", c.repairIndex); err != nil {
		return err
	}
	// Snapshot.
	var snap *Snapshot
	var snapRB Rebuilder
	raw, err := get(ctx, r, snapshotKey(doc))
	if err != nil && !isNotFound(err) {
		return err
	}
	if err == nil {
		snap, err = decodeSnapshot(snapshotKey(doc), raw)
		if err == nil && c.opts.Codec != nil {
			snapRB, err = c.opts.Codec.Rebuild(snap.Payload)
			if err != nil {
				err = fmt.Errorf("snapshot payload does not load: %v", err)
			} else if v := snapRB.Version(); !v.Equal(snap.Covers) {
				err = fmt.Errorf("snapshot payload has version %v, its record says %v", v, snap.Covers)
			}
		}
		if err != nil {
			snap, snapRB = nil, nil
			if err := c.quarantine(ctx, doc, snapshotKey(doc), err.Error()); err != nil {
				return err
			}
		}
	}
	var base Version
	if snap != nil {
		base = snap.Covers
	}
	// Transactions.
	var txns []txnInfo
	byID := map[ID]int{}
	var bad []badKey
	if err := each(ctx, r, dsq.Query{Prefix: txnPrefix(doc)}, func(e dsq.Entry) error {
		c.res.Txns++
		t, err := decodeTxnAt(e.Key, e.Value)
		if err == nil && c.opts.Codec != nil {
			if cerr := c.opts.Codec.CheckTxn(t.Header, t.Payload); cerr != nil {
				err = fmt.Errorf("payload disagrees with header of %s: %v", t.Span(), cerr)
			}
		}
		if err != nil {
			bad = append(bad, badKey{doc, e.Key, err.Error()})
			return nil
		}
		byID[ID{Agent: t.Agent, Seq: t.Seq}] = len(txns)
		txns = append(txns, txnInfo{hdr: t.Header, key: e.Key})
		return ctx.Err()
	}); err != nil {
		return err
	}
	for _, b := range bad {
		needIndex = true
		if err := c.quarantine(ctx, doc, b.key, b.what); err != nil {
			return err
		}
	}
	// Place transactions causally; with a codec, apply them and retry
	// without any that fail.
	var order, stuck []int
	excluded := map[int]string{}
	var snapHash []byte
	if snapRB != nil {
		snapHash = snapRB.TextHash()
	}
	for attempt := 0; ; attempt++ {
		hdrs := make([]vocab.Header, 0, len(txns))
		idx := make([]int, 0, len(txns))
		for i := range txns {
			if _, ok := excluded[i]; !ok {
				hdrs = append(hdrs, txns[i].hdr)
				idx = append(idx, i)
			}
		}
		o, st := causalOrder(hdrs, base)
		order, stuck = order[:0], stuck[:0]
		for _, j := range o {
			order = append(order, idx[j])
		}
		for _, j := range st {
			stuck = append(stuck, idx[j])
		}
		if c.opts.Codec == nil || attempt > 100 {
			break
		}
		failed, err := c.rebuild(ctx, doc, snap, txns, order)
		if err != nil {
			return err
		}
		if failed < 0 {
			break
		}
		excluded[failed] = "does not apply"
	}
	for i, why := range excluded {
		needIndex = true
		if err := c.quarantine(ctx, doc, txns[i].key, fmt.Sprintf("transaction %s %s", txns[i].hdr.Span(), why)); err != nil {
			return err
		}
	}
	// Snapshot versus the log: when the log still holds everything the
	// snapshot covers, rebuilding from the log must give the same text.
	if snap != nil && c.opts.Codec != nil {
		if mismatch, err := c.compareSnapshot(ctx, doc, snap, snapHash, txns, excluded); err != nil {
			return err
		} else if mismatch != "" {
			if err := c.quarantine(ctx, doc, snapshotKey(doc), mismatch); err != nil {
				return err
			}
			if c.opts.Repair {
				snap, base = nil, nil
				needIndex = true
			}
		}
	}
	// What is missing: gaps, missing parents, unplaceable transactions.
	have := Version{}
	for a, n := range base {
		have[a] = n
	}
	for _, i := range order {
		h := &txns[i].hdr
		if e := h.Seq + h.Len; e > have[h.Agent] {
			have[h.Agent] = e
		}
	}
	var fetch []Span
	gapSeen := map[string]bool{}
	for _, i := range stuck {
		h := &txns[i].hdr
		why := "cannot be placed in causal order"
		if h.Seq > have[h.Agent] && !gapSeen[h.Agent] {
			gapSeen[h.Agent] = true
			gap := Span{Agent: h.Agent, Seq: have[h.Agent], Len: h.Seq - have[h.Agent]}
			fetch = append(fetch, gap)
			c.report(doc, txns[i].key, fmt.Sprintf("gap: %s missing before it", gap), c.fetchAction())
		}
		for _, p := range h.Parents {
			if p.Seq >= have[p.Agent] {
				why = fmt.Sprintf("parent (%q, %d) is not stored", p.Agent, p.Seq)
				if _, ok := byID[p]; !ok && !covered(txns, byID, p) {
					fetch = append(fetch, Span{Agent: p.Agent, Seq: have[p.Agent], Len: p.Seq + 1 - have[p.Agent]})
				}
				break
			}
		}
		fetch = append(fetch, h.Span())
		needIndex = true
		if err := c.quarantine(ctx, doc, txns[i].key, fmt.Sprintf("transaction %s: %s", h.Span(), why)); err != nil {
			return err
		}
	}
	for i := range excluded {
		fetch = append(fetch, txns[i].hdr.Span())
	}
	heads, headProblems, err := c.readHeads(ctx, doc)
	if err != nil {
		return err
	}
	// A damaged record's key names its agent and first seq but not its
	// length: it runs to the agent's next stored transaction, or to the
	// agent's head when it was the last. One under the snapshot is
	// fetched too when the document keeps its records there (some placed
	// transaction lies under it: a members-only document, whose records
	// are what catch-up serves); a compacted document has none to lose,
	// and what an interrupted compaction left under it is dropped.
	dirty := false
	if raw, err := get(ctx, r, logEndKey(doc)); err == nil {
		var le logEndRec
		dirty = decodeRecord(recLogEnd, raw, &le) == nil && le.Dirty
	}
	keepsHistory := !dirty && slices.ContainsFunc(order, func(i int) bool { return base.ContainsSpan(txns[i].hdr.Span()) })
	for _, b := range bad {
		dk, err := parseDocKey(b.key)
		if err != nil || dk.kind != kindTxn {
			continue
		}
		if dk.n < have[dk.agent] {
			underSnap := dk.n < base[dk.agent] && keepsHistory
			stored := slices.ContainsFunc(order, func(i int) bool {
				h := &txns[i].hdr
				return h.Agent == dk.agent && h.Seq <= dk.n && dk.n < h.Seq+h.Len
			})
			if !underSnap || stored {
				continue
			}
		}
		end := max(heads[dk.agent], dk.n+1)
		for _, t := range txns {
			if t.hdr.Agent == dk.agent && t.hdr.Seq > dk.n && t.hdr.Seq < end {
				end = t.hdr.Seq
			}
		}
		fetch = append(fetch, Span{Agent: dk.agent, Seq: dk.n, Len: end - dk.n})
	}
	// Log and heads agree with the placed transactions?
	lc, err := c.checkLog(ctx, doc, base, txns, order)
	if err != nil {
		return err
	}
	if lc.problem || headProblems {
		needIndex = true
	}
	c.res.Leftovers += lc.leftovers
	for a, n := range have {
		if heads[a] != n {
			c.report(doc, headKey(doc, a), fmt.Sprintf("head says next seq %d, the stored transactions end at %d", heads[a], n), c.action("rebuilt"))
			needIndex = true
		}
	}
	for a, n := range heads {
		if _, ok := have[a]; !ok && n > 0 {
			c.report(doc, headKey(doc, a), fmt.Sprintf("head says next seq %d, no transaction of %q is stored", n, a), c.action("rebuilt"))
			needIndex = true
		}
	}
	// Existing fetch list.
	var oldFetch []Span
	if raw, err := get(ctx, r, fetchKey(doc)); err == nil {
		if oldFetch, err = decodeFetch(raw); err != nil {
			if err := c.quarantine(ctx, doc, fetchKey(doc), err.Error()); err != nil {
				return err
			}
			oldFetch = nil
		}
	} else if !isNotFound(err) {
		return err
	}
	if !c.opts.Repair {
		return nil
	}
	switch {
	case needIndex:
		if err := rebuildIndex(ctx, s, doc); err != nil {
			return err
		}
	case lc.leftovers > 0 || lc.state.Dirty:
		// Finish what an interrupted compaction left: its old entries, and
		// the covered transactions it was dropping.
		batch := &opBatch{maxBytes: s.opts.MaxBatchBytes, write: func(ops []kvOp) error {
			return s.kv.commit(ctx, [][]kvOp{ops}, s.opts.MaxBatchBytes)
		}}
		if err := s.kv.view(ctx, func(r ds.Read) error {
			_, _, err := dropLeftovers(ctx, r, doc, lc.state.Epoch, base, batch)
			return err
		}); err != nil {
			return err
		}
		lc.state.Dirty = false
		le, err := encodeRecord(recLogEnd, lc.state)
		if err != nil {
			return err
		}
		if err := s.kv.commit(ctx, [][]kvOp{{{key: logEndKey(doc), val: le}}}, s.opts.MaxBatchBytes); err != nil {
			return err
		}
	}
	all := mergeSpans(append(oldFetch, fetch...))
	if len(fetch) > 0 || len(all) != len(oldFetch) {
		op, err := fetchOp(doc, all)
		if err != nil {
			return err
		}
		if err := s.kv.commit(ctx, [][]kvOp{{op}}, 4<<20); err != nil {
			return err
		}
	}
	if len(all) > 0 {
		c.res.Fetch[doc] = all
	}
	return nil
}

func (c *checker) action(a string) string {
	if c.opts.Repair {
		return a
	}
	return ""
}

func (c *checker) fetchAction() string { return c.action("recorded to fetch from peers") }

// checkRecord checks doc's one record at key, of kind (decoded into rec).
// A missing one is repaired (or reported) by repair, saying missing; one
// that does not decode is quarantined and then, when repairing, rewritten
// by repair, saying quarantined.
func (c *checker) checkRecord(ctx context.Context, doc DocID, key string, kind uint64, rec any, missing, quarantined string, repair func(context.Context, DocID, string)) error {
	raw, err := get(ctx, c.s.kv.d, key)
	switch {
	case isNotFound(err):
		repair(ctx, doc, missing)
	case err != nil:
		return err
	default:
		if derr := decodeRecord(kind, raw, rec); derr != nil {
			if err := c.quarantine(ctx, doc, key, derr.Error()); err != nil {
				return err
			}
			if c.opts.Repair {
				repair(ctx, doc, quarantined)
			}
		}
	}
	return nil
}

// repairMeta recreates doc's metadata, empty.
func (c *checker) repairMeta(ctx context.Context, doc DocID, what string) {
	c.repairPut(ctx, doc, metaKey(doc), what, recMeta, metaRec{Created: c.s.opts.Now().UnixNano()}, "recreating it", "recreated empty metadata")
}

// repairPut reports what is wrong at key and, when repairing, writes rec
// (a record of kind) there: the report names the action done, or that
// attempt failed.
func (c *checker) repairPut(ctx context.Context, doc DocID, key, what string, kind uint64, rec any, attempt, done string) {
	if !c.opts.Repair {
		c.report(doc, key, what, "")
		return
	}
	b, err := encodeRecord(kind, rec)
	if err == nil {
		err = c.s.kv.commit(ctx, [][]kvOp{{{key: key, val: b}}}, 4<<20)
	}
	if err != nil {
		c.report(doc, key, what+"; "+attempt+" failed: "+err.Error(), "")
		return
	}
	c.report(doc, key, what, done)
}

// covered reports whether parent p lies inside some stored transaction.
func covered(txns []txnInfo, byID map[ID]int, p ID) bool {
	for _, t := range txns {
		if t.hdr.Agent == p.Agent && t.hdr.Seq <= p.Seq && p.Seq < t.hdr.Seq+t.hdr.Len {
			return true
		}
	}
	return false
}

// rebuild applies the transactions in order (those not covered by the
// snapshot) and returns the index of the first that fails, or -1.
func (c *checker) rebuild(ctx context.Context, doc DocID, snap *Snapshot, txns []txnInfo, order []int) (int, error) {
	var rb Rebuilder
	var err error
	var skip Version
	if snap != nil {
		rb, err = c.opts.Codec.Rebuild(snap.Payload)
		skip = snap.Covers
	} else {
		rb, err = c.opts.Codec.Rebuild(nil)
	}
	if err != nil {
		return 0, fmt.Errorf("codec: start rebuild: %w", err)
	}
	for _, i := range order {
		h := &txns[i].hdr
		if skip.ContainsSpan(h.Span()) {
			continue
		}
		t, err := c.readTxn(ctx, txns[i].key)
		if err != nil {
			return 0, err
		}
		if err := rb.Apply(t.Payload); err != nil {
			return i, nil
		}
	}
	return -1, nil
}

func (c *checker) readTxn(ctx context.Context, key string) (TxnRecord, error) {
	raw, err := get(ctx, c.s.kv.d, key)
	if err != nil {
		return TxnRecord{}, err
	}
	return decodeTxnAt(key, raw)
}

// compareSnapshot rebuilds from the log everything the snapshot covers, when
// the log still holds it, and compares text hashes. It returns a non-empty
// description of a mismatch.
func (c *checker) compareSnapshot(ctx context.Context, doc DocID, snap *Snapshot, snapHash []byte, txns []txnInfo, excluded map[int]string) (string, error) {
	var hdrs []vocab.Header
	var idx []int
	for i := range txns {
		if _, ex := excluded[i]; !ex && snap.Covers.ContainsSpan(txns[i].hdr.Span()) {
			hdrs = append(hdrs, txns[i].hdr)
			idx = append(idx, i)
		}
	}
	o, _ := causalOrder(hdrs, nil)
	have := Version{}
	for _, j := range o {
		h := &hdrs[j]
		have[h.Agent] = max(have[h.Agent], h.Seq+h.Len)
	}
	if !have.Equal(snap.Covers) {
		return "", nil // compacted: the log no longer holds all of it
	}
	rb, err := c.opts.Codec.Rebuild(nil)
	if err != nil {
		return "", err
	}
	for _, j := range o {
		t, err := c.readTxn(ctx, txns[idx[j]].key)
		if err != nil {
			return "", err
		}
		if err := rb.Apply(t.Payload); err != nil {
			return fmt.Sprintf("rebuilding the covered history from the log fails at %s: %v", t.Span(), err), nil
		}
	}
	if !bytes.Equal(rb.TextHash(), snapHash) {
		return "snapshot text differs from the text rebuilt from the log", nil
	}
	return "", nil
}

func (c *checker) readHeads(ctx context.Context, doc DocID) (Version, bool, error) {
	heads := Version{}
	problems := false
	err := each(ctx, c.s.kv.d, dsq.Query{Prefix: headPrefix(doc)}, func(e dsq.Entry) error {
		dk, err := parseDocKey(e.Key)
		if err != nil {
			return nil // reported by the key scan
		}
		var h headRec
		if err := decodeRecord(recHead, e.Value, &h); err != nil {
			problems = true
			c.report(doc, e.Key, err.Error(), c.action("rebuilt"))
			return nil
		}
		heads[dk.agent] = h.Next
		return nil
	})
	return heads, problems, err
}

// logCheck is what checkLog found besides problems.
type logCheck struct {
	problem   bool      // something is wrong: rebuild the log
	state     logEndRec // the log state (epoch as read, or the highest epoch present)
	leftovers int       // entries in other epochs
}

// checkLog verifies that the current epoch of the log lists every placed
// transaction the snapshot does not cover exactly once, in a causal order,
// and nothing else (a covered one may be listed or not: compaction drops
// those), and that the log state is sound. Entries of other epochs are
// counted as leftovers.
func (c *checker) checkLog(ctx context.Context, doc DocID, base Version, txns []txnInfo, order []int) (logCheck, error) {
	var lc logCheck
	placed := map[ID]int{}
	for _, i := range order {
		placed[ID{Agent: txns[i].hdr.Agent, Seq: txns[i].hdr.Seq}] = i
	}
	bad := func(key, what string) {
		lc.problem = true
		c.report(doc, key, what, c.action("log rebuilt"))
	}
	// The log state names the current epoch; when it cannot be read, the
	// highest epoch present is taken as current.
	raw, err := get(ctx, c.s.kv.d, logEndKey(doc))
	haveState := false
	switch {
	case isNotFound(err):
	case err != nil:
		return lc, err
	default:
		if derr := decodeRecord(recLogEnd, raw, &lc.state); derr != nil {
			bad(logEndKey(doc), derr.Error())
			if err := each(ctx, c.s.kv.d, dsq.Query{Prefix: logPrefix(doc), KeysOnly: true}, func(e dsq.Entry) error {
				if dk, err := parseDocKey(e.Key); err == nil {
					lc.state.Epoch = max(lc.state.Epoch, dk.epoch)
				}
				return nil
			}); err != nil {
				return lc, err
			}
		} else {
			haveState = true
		}
	}
	have := Version{}
	for a, n := range base {
		have[a] = n
	}
	listed := map[ID]bool{}
	var maxN uint64
	entries := 0
	err = each(ctx, c.s.kv.d, dsq.Query{Prefix: logPrefix(doc)}, func(e dsq.Entry) error {
		dk, err := parseDocKey(e.Key)
		if err != nil {
			return nil // reported by the key scan
		}
		if dk.epoch != lc.state.Epoch {
			lc.leftovers++
			return nil
		}
		maxN = max(maxN, dk.n)
		entries++
		var lr spanRec
		if err := decodeRecord(recLog, e.Value, &lr); err != nil {
			bad(e.Key, err.Error())
			return nil
		}
		id := ID{Agent: lr.Agent, Seq: lr.Seq}
		i, ok := placed[id]
		switch {
		case !ok:
			bad(e.Key, fmt.Sprintf("names transaction (%q, %d), which is not stored or not placeable", lr.Agent, lr.Seq))
			return nil
		case listed[id]:
			bad(e.Key, fmt.Sprintf("lists transaction (%q, %d) a second time", lr.Agent, lr.Seq))
			return nil
		case txns[i].hdr.Len != lr.Len:
			bad(e.Key, fmt.Sprintf("says %d seqs, the transaction has %d", lr.Len, txns[i].hdr.Len))
		}
		listed[id] = true
		h := &txns[i].hdr
		if h.Seq > have[h.Agent] {
			bad(e.Key, fmt.Sprintf("transaction %s comes before %q's seq %d", h.Span(), h.Agent, have[h.Agent]))
		}
		for _, p := range h.Parents {
			if p.Seq >= have[p.Agent] {
				bad(e.Key, fmt.Sprintf("transaction %s comes before its parent (%q, %d)", h.Span(), p.Agent, p.Seq))
				break
			}
		}
		have[h.Agent] = max(have[h.Agent], h.Seq+h.Len)
		return nil
	})
	if err != nil {
		return lc, err
	}
	switch {
	case !haveState && raw == nil && entries > 0:
		bad(logEndKey(doc), "missing while the log has entries")
	case haveState && entries > 0 && lc.state.Next <= maxN:
		bad(logEndKey(doc), fmt.Sprintf("next counter %d is not past the last entry %d", lc.state.Next, maxN))
	}
	for _, i := range order {
		h := &txns[i].hdr
		if !listed[ID{Agent: h.Agent, Seq: h.Seq}] && !base.ContainsSpan(h.Span()) {
			bad(txns[i].key, fmt.Sprintf("transaction %s is missing from the log", h.Span()))
		}
	}
	return lc, nil
}

// repairIndex writes doc's index entry.
func (c *checker) repairIndex(ctx context.Context, doc DocID, what string) {
	c.repairPut(ctx, doc, docIndexKey(doc), what, recDocIndex, docIndexRec{}, "writing it", "index entry written")
}
