package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"weft/api"
	"weft/obs"
	"weft/store"
)

// The daemon's health checks. Each depends on a small interface of what it
// reads, so the tests can give it a real store or a fake manager.

// storageCheck: the store can still make a write durable (store.Probe).
// While the file named fault exists (fault injection, see failStorageEnv),
// it fails without probing.
func storageCheck(st interface{ Probe(context.Context) error }, fault string) obs.CheckFunc {
	return obs.Simple(func(ctx context.Context) error {
		if fault != "" {
			if _, err := os.Stat(fault); err == nil {
				return fmt.Errorf("storage fault injected for testing (%s exists)", failStorageEnv)
			}
		}
		return st.Probe(ctx)
	})
}

// spotStore is what the consistency check reads; *store.Store has it.
type spotStore interface {
	Docs(ctx context.Context) ([]store.DocID, error)
	Snapshot(ctx context.Context, doc store.DocID) (*store.Snapshot, error)
	Stream(ctx context.Context, doc store.DocID, since store.Version, fn func(chunk []store.TxnRecord) error) error
	Version(ctx context.Context, doc store.DocID) (store.Version, error)
}

// spotMaxTxns bounds the transactions one consistency check applies (after
// the snapshot; compaction keeps that tail short).
const spotMaxTxns = 20000

// spotCheck verifies one random document per run, from disk alone: its
// snapshot loads (the crdt checks the history against the text), every
// transaction after it decodes to exactly what its stored header says and
// applies in the stored order with no parent missing, and what that
// rebuilds is no further than the store's own heads. Cost: one document's
// snapshot plus its tail, bounded by spotMaxTxns.
type spotCheck struct {
	st      spotStore
	codec   store.Codec
	maxTxns int

	mu  sync.Mutex
	rng *rand.Rand
}

func newSpotCheck(st spotStore, codec store.Codec, seed int64) *spotCheck {
	return &spotCheck{st: st, codec: codec, maxTxns: spotMaxTxns, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
}

// spotDetails is what the consistency check reports.
type spotDetails struct {
	Docs     int    `json:"docs"`
	Doc      string `json:"doc,omitempty"`
	Snapshot bool   `json:"snapshot"`
	Txns     int    `json:"txns"`
	// Partial: the tail was longer than the bound; what was checked was a
	// prefix, and the heads were not compared.
	Partial bool   `json:"partial,omitempty"`
	Note    string `json:"note,omitempty"`
}

// errSpotRaced says a compaction replaced the snapshot while the check
// read the document; it is retried.
var errSpotRaced = errors.New("the document was compacted while it was checked")

func (c *spotCheck) run(ctx context.Context) (any, error) {
	docs, err := c.st.Docs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing documents: %w", err)
	}
	if len(docs) == 0 {
		return spotDetails{}, nil
	}
	c.mu.Lock()
	doc := docs[c.rng.IntN(len(docs))]
	c.mu.Unlock()
	for range 3 {
		d, err := c.checkDoc(ctx, doc)
		d.Docs = len(docs)
		if !errors.Is(err, errSpotRaced) {
			return d, err
		}
	}
	return spotDetails{Docs: len(docs), Doc: doc.String(), Note: "compacted during each of 3 attempts; not checked this time"}, nil
}

func (c *spotCheck) checkDoc(ctx context.Context, doc store.DocID) (spotDetails, error) {
	d := spotDetails{Doc: doc.String()}
	fail := func(format string, args ...any) (spotDetails, error) {
		return d, fmt.Errorf("document %s: "+format, append([]any{doc}, args...)...)
	}
	snap, err := c.readSnapshot(ctx, doc)
	if err != nil {
		return fail("reading its snapshot: %w", err)
	}
	var payload []byte
	var covers store.Version
	if snap != nil {
		d.Snapshot, payload, covers = true, snap.Payload, snap.Covers
	}
	rb, err := c.codec.Rebuild(payload)
	if err != nil {
		return c.unlessRaced(ctx, doc, snap, d, fmt.Errorf("document %s: its snapshot does not load: %w", doc, err))
	}
	errEnough := errors.New("enough")
	err = c.st.Stream(ctx, doc, covers, func(chunk []store.TxnRecord) error {
		for _, t := range chunk {
			if d.Txns >= c.maxTxns {
				d.Partial = true
				return errEnough
			}
			if err := c.codec.CheckTxn(t.Header, t.Payload); err != nil {
				return fmt.Errorf("transaction %s does not match its header: %w", t.Span(), err)
			}
			if err := rb.Apply(t.Payload); err != nil {
				return fmt.Errorf("transaction %s does not apply: %w", t.Span(), err)
			}
			d.Txns++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return c.unlessRaced(ctx, doc, snap, d, fmt.Errorf("document %s: %w", doc, err))
	}
	if d.Partial {
		return d, nil
	}
	heads, err := c.st.Version(ctx, doc)
	if err != nil {
		return fail("reading its heads: %w", err)
	}
	for agent, next := range rb.Version() {
		if next > heads[agent] {
			return fail("snapshot and log hold %q up to seq %d, but the store's head says %d", agent, next, heads[agent])
		}
	}
	return d, nil
}

func (c *spotCheck) readSnapshot(ctx context.Context, doc store.DocID) (*store.Snapshot, error) {
	snap, err := c.st.Snapshot(ctx, doc)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return snap, err
}

// unlessRaced returns err, or errSpotRaced when the snapshot changed since
// it was read (a compaction ran in between, so the log no longer starts
// where the old snapshot ended).
func (c *spotCheck) unlessRaced(ctx context.Context, doc store.DocID, before *store.Snapshot, d spotDetails, err error) (spotDetails, error) {
	now, rerr := c.readSnapshot(ctx, doc)
	if rerr == nil && !sameSnapshotCover(before, now) {
		return d, errSpotRaced
	}
	return d, err
}

func sameSnapshotCover(a, b *store.Snapshot) bool {
	if a == nil || b == nil {
		return a == b
	}
	return maps.Equal(a.Covers, b.Covers)
}

// replicationSource is what the replication check reads; the replica
// manager has it.
type replicationSource interface {
	ListDocs(ctx context.Context) ([]api.DocInfo, error)
	DocStatus(ctx context.Context, id string) (api.DocStatus, error)
	Peers(ctx context.Context) ([]api.PeerInfo, error)
}

// replicationMaxDocs bounds the documents one replication check looks at
// (the most recently opened of those loaded).
const replicationMaxDocs = 64

// replicationCheck compares, for each open document, the local version
// with what the configured relays acknowledged, and watches that the
// relays are connected. It fails when a relay has been unreachable for
// longer than lag, or when an open document's version seen by an earlier
// run is still not acknowledged lag later. Without relays it only reports
// the peers: working offline is normal for a local-first editor.
//
// Lag is measured between runs of the check (the daemon runs it every
// healthWatchEvery, and on every /readyz). Documents that are not loaded
// are not looked at: their relay acknowledgements are only reachable by
// loading them.
type replicationCheck struct {
	src    replicationSource
	relays []string
	lag    time.Duration
	now    func() time.Time

	mu        sync.Mutex
	relayDown map[string]time.Time  // relay → first seen unreachable
	unacked   map[string]unackedDoc // document → oldest version seen unacknowledged
}

type unackedDoc struct {
	version map[string]uint64
	since   time.Time
}

func newReplicationCheck(src replicationSource, relays []string, lag time.Duration, now func() time.Time) *replicationCheck {
	return &replicationCheck{src: src, relays: relays, lag: lag, now: now,
		relayDown: map[string]time.Time{}, unacked: map[string]unackedDoc{}}
}

// replicationDetails is what the replication check reports.
type replicationDetails struct {
	Peers  int            `json:"peers"`
	Relays []relayDetail  `json:"relays"`
	Docs   int            `json:"docs_checked"`
	Behind []behindDetail `json:"behind,omitempty"`
	Note   string         `json:"note,omitempty"`
}

type relayDetail struct {
	ID        string  `json:"id"`
	Connected bool    `json:"connected"`
	DownForS  float64 `json:"down_for_s,omitempty"`
}

type behindDetail struct {
	Doc string `json:"doc"`
	// ForS is how long a version of the document has waited for the
	// relay's acknowledgement.
	ForS float64 `json:"for_s"`
}

func (c *replicationCheck) run(ctx context.Context) (any, error) {
	peers, err := c.src.Peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing peers: %w", err)
	}
	det := replicationDetails{Peers: len(peers), Relays: []relayDetail{}}
	if len(c.relays) == 0 {
		det.Note = "no relay configured"
		return det, nil
	}
	connected := map[string]bool{}
	for _, p := range peers {
		connected[p.ID] = true
	}
	docs, err := c.src.ListDocs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing documents: %w", err)
	}
	type docVersion struct {
		id             string
		version, acked map[string]uint64
	}
	var open []docVersion
	for _, d := range docs {
		if d.Chars < 0 { // not loaded
			continue
		}
		if len(open) == replicationMaxDocs {
			break
		}
		st, err := c.src.DocStatus(ctx, d.ID)
		if errors.Is(err, api.ErrUnknownDoc) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("status of document %s: %w", d.ID, err)
		}
		open = append(open, docVersion{d.ID, st.Version, st.RelayAcked})
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var problems []string
	for _, r := range c.relays {
		rd := relayDetail{ID: r, Connected: connected[r]}
		if rd.Connected {
			delete(c.relayDown, r)
		} else {
			since, ok := c.relayDown[r]
			if !ok {
				since = now
				c.relayDown[r] = now
			}
			down := now.Sub(since)
			rd.DownForS = down.Seconds()
			if down > c.lag {
				problems = append(problems, fmt.Sprintf("relay %s unreachable for %s", r, down.Round(time.Second)))
			}
		}
		det.Relays = append(det.Relays, rd)
	}
	seen := map[string]bool{}
	for _, d := range open {
		seen[d.id] = true
		u, had := c.unacked[d.id]
		if had && covers(d.acked, u.version) {
			had = false
		}
		if covers(d.acked, d.version) {
			delete(c.unacked, d.id)
			continue
		}
		if !had {
			u = unackedDoc{version: d.version, since: now}
			c.unacked[d.id] = u
		}
		waited := now.Sub(u.since)
		det.Behind = append(det.Behind, behindDetail{Doc: d.id, ForS: waited.Seconds()})
		if waited > c.lag {
			problems = append(problems, fmt.Sprintf("document %s: no relay acknowledged its version of %s ago", d.id, waited.Round(time.Second)))
		}
	}
	for id := range c.unacked {
		if !seen[id] {
			delete(c.unacked, id)
		}
	}
	det.Docs = len(open)
	if len(problems) > 0 {
		sort.Strings(problems)
		return det, errors.New(strings.Join(problems, "; "))
	}
	return det, nil
}

// covers reports whether acked includes version v (agent → next seq).
func covers(acked, v map[string]uint64) bool {
	for agent, next := range v {
		if acked[agent] < next {
			return false
		}
	}
	return true
}
