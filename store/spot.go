package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
)

// SpotMaxTxns bounds the transactions one SpotCheck run applies (after the
// snapshot; compaction keeps that tail short).
const SpotMaxTxns = 20000

// SpotCheck is the cheap, repeatable part of Check, for health checks: each
// Run verifies one random document from disk alone. Its snapshot loads (the
// codec checks the history against the text), every transaction after it
// matches its stored header (Codec.CheckTxn) and applies in the stored
// order with no parent missing, and what that rebuilds is no further than
// the store's own heads. Cost: one document's snapshot plus its tail,
// bounded by SpotMaxTxns. It never writes. Run is safe for concurrent use.
type SpotCheck struct {
	s       *Store
	codec   Codec
	maxTxns int

	mu  sync.Mutex
	rng *rand.Rand
}

// NewSpotCheck returns a spot check of s that looks inside payloads with
// codec; seed picks the documents.
func NewSpotCheck(s *Store, codec Codec, seed uint64) *SpotCheck {
	return &SpotCheck{s: s, codec: codec, maxTxns: SpotMaxTxns, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// SpotResult is what one spot check run looked at.
type SpotResult struct {
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

// Run checks one random document. Its result (SpotResult) is the details of
// an obs health check; the error names the document and what is wrong.
func (c *SpotCheck) Run(ctx context.Context) (any, error) {
	docs, err := c.s.Docs(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing documents: %w", err)
	}
	if len(docs) == 0 {
		return SpotResult{}, nil
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
	return SpotResult{Docs: len(docs), Doc: doc.String(), Note: "compacted during each of 3 attempts; not checked this time"}, nil
}

func (c *SpotCheck) checkDoc(ctx context.Context, doc DocID) (SpotResult, error) {
	d := SpotResult{Doc: doc.String()}
	fail := func(format string, args ...any) (SpotResult, error) {
		return d, fmt.Errorf("document %s: "+format, append([]any{doc}, args...)...)
	}
	snap, err := c.readSnapshot(ctx, doc)
	if err != nil {
		return fail("reading its snapshot: %w", err)
	}
	var payload []byte
	var covers Version
	if snap != nil {
		d.Snapshot, payload, covers = true, snap.Payload, snap.Covers
	}
	rb, err := c.codec.Rebuild(payload)
	if err != nil {
		return c.unlessRaced(ctx, doc, snap, d, fmt.Errorf("document %s: its snapshot does not load: %w", doc, err))
	}
	errEnough := errors.New("enough")
	err = c.s.Stream(ctx, doc, covers, func(chunk []TxnRecord) error {
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
	heads, err := c.s.Version(ctx, doc)
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

func (c *SpotCheck) readSnapshot(ctx context.Context, doc DocID) (*Snapshot, error) {
	snap, err := c.s.Snapshot(ctx, doc)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return snap, err
}

// unlessRaced returns err, or errSpotRaced when the snapshot changed since
// it was read (a compaction ran in between, so the log no longer starts
// where the old snapshot ended).
func (c *SpotCheck) unlessRaced(ctx context.Context, doc DocID, before *Snapshot, d SpotResult, err error) (SpotResult, error) {
	now, rerr := c.readSnapshot(ctx, doc)
	if rerr == nil && !sameSnapshotCover(before, now) {
		return d, errSpotRaced
	}
	return d, err
}

func sameSnapshotCover(a, b *Snapshot) bool {
	if a == nil || b == nil {
		return a == b
	}
	return maps.Equal(a.Covers, b.Covers)
}
