package replica

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"weft/api"
	"weft/store"
)

// ReplicationSource is what ReplicationCheck reads; *Manager has it.
type ReplicationSource interface {
	ListDocs(ctx context.Context) ([]api.DocInfo, error)
	DocStatus(ctx context.Context, id string) (api.DocStatus, error)
	Peers(ctx context.Context) ([]api.PeerInfo, error)
}

var _ ReplicationSource = (*Manager)(nil)

// replicationMaxDocs bounds the documents one replication check looks at
// (the most recently opened of those loaded).
const replicationMaxDocs = 64

// ReplicationCheck is a health check of replication to relays. For each
// open document it compares the local version with what the configured
// relays acknowledged, and it watches that the relays are connected. A run
// fails when a relay has been unreachable for longer than lag, or when an
// open document's version seen by an earlier run is still not acknowledged
// lag later. Without relays it only reports the peers: working offline is
// normal for a local-first editor.
//
// Lag is measured between runs (the caller runs it periodically, and on
// every readiness request), with the clock it is given. Documents that are
// not loaded are not looked at: their relay acknowledgements are only
// reachable by loading them. At most 64 open documents are looked at per
// run. Run is safe for concurrent use.
type ReplicationCheck struct {
	src    ReplicationSource
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

// NewReplicationCheck returns a check of src's replication to relays (peer
// IDs), failing past lag, measured with now.
func NewReplicationCheck(src ReplicationSource, relays []string, lag time.Duration, now func() time.Time) *ReplicationCheck {
	return &ReplicationCheck{src: src, relays: relays, lag: lag, now: now,
		relayDown: map[string]time.Time{}, unacked: map[string]unackedDoc{}}
}

// ReplicationReport is what a replication check reports.
type ReplicationReport struct {
	Peers  int           `json:"peers"`
	Relays []RelayReport `json:"relays"`
	Docs   int           `json:"docs_checked"`
	Behind []DocBehind   `json:"behind,omitempty"`
	Note   string        `json:"note,omitempty"`
}

// RelayReport is one configured relay in a ReplicationReport.
type RelayReport struct {
	ID        string  `json:"id"`
	Connected bool    `json:"connected"`
	DownForS  float64 `json:"down_for_s,omitempty"`
}

// DocBehind is an open document whose version no relay has acknowledged.
type DocBehind struct {
	Doc string `json:"doc"`
	// ForS is how long a version of the document has waited for the
	// relay's acknowledgement.
	ForS float64 `json:"for_s"`
}

// Run runs the check once. A fork (a member caught signing two
// histories) in an open document fails it too, relays or not: the
// document is degraded until its members deal with the equivocator. Its result (ReplicationReport) is the details of
// an obs health check.
func (c *ReplicationCheck) Run(ctx context.Context) (any, error) {
	peers, err := c.src.Peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing peers: %w", err)
	}
	det := ReplicationReport{Peers: len(peers), Relays: []RelayReport{}}
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
	var forks []string
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
		if len(st.Forks) > 0 {
			forks = append(forks, fmt.Sprintf("document %s: a member signed two histories (%s); its transactions from there on do not count", d.ID, strings.Join(st.Forks, ", ")))
		}
	}

	if len(c.relays) == 0 {
		det.Note = "no relay configured"
		if len(forks) > 0 {
			sort.Strings(forks)
			return det, errors.New(strings.Join(forks, "; "))
		}
		return det, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	problems := forks
	for _, r := range c.relays {
		rd := RelayReport{ID: r, Connected: connected[r]}
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
		if had && versionCovers(d.acked, u.version) {
			had = false
		}
		if versionCovers(d.acked, d.version) {
			delete(c.unacked, d.id)
			continue
		}
		if !had {
			u = unackedDoc{version: d.version, since: now}
			c.unacked[d.id] = u
		}
		waited := now.Sub(u.since)
		det.Behind = append(det.Behind, DocBehind{Doc: d.id, ForS: waited.Seconds()})
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

// versionCovers reports whether acked includes version v (agent → next
// seq).
func versionCovers(acked, v map[string]uint64) bool {
	for agent, next := range v {
		if acked[agent] < next {
			return false
		}
	}
	return true
}

// ConsistencyCheck is a node's online consistency check. Each run
// verifies one random document from disk (store.SpotCheck), repairs what
// is safe to repair while the document is in use, and has the document's
// peers asked for whatever a repair left to fetch:
//
//   - Damaged transaction records under a members-only document's
//     checkpoint (read only to serve catch-up) are quarantined and listed
//     to fetch (store.RepairCovered); catch-up brings them back.
//   - Every document with a fetch list (left by such a repair or by
//     `weft check --repair`) gets a catch-up with each connected peer of
//     it now, not at the next anti-entropy round.
//
// What it cannot repair online it says, with why and what to do: damage in
// the part of a document the replica has loaded (its log, heads or recent
// transactions: rebuilding them under a running replica would contradict
// its state), and spans to fetch when none of the document's peers is
// connected. Run is safe for concurrent use.
type ConsistencyCheck struct {
	m    *Manager
	st   *store.Store
	spot *store.SpotCheck
}

// NewConsistencyCheck returns the online consistency check of m's store
// st; seed picks the documents it verifies.
func NewConsistencyCheck(m *Manager, st *store.Store, seed uint64) *ConsistencyCheck {
	return &ConsistencyCheck{m: m, st: st, spot: store.NewSpotCheck(st, StoreCodec{}, seed)}
}

// ConsistencyResult is the details of a ConsistencyCheck run.
type ConsistencyResult struct {
	store.SpotResult
	// Repaired is what the run repaired in the document it verified.
	Repaired *store.CoveredRepair `json:"repaired,omitempty"`
	// Fetching lists the documents whose peers were asked for what a
	// repair left to fetch.
	Fetching []FetchState `json:"fetching,omitempty"`
}

// Run verifies one document, repairs what it can and reports the rest.
func (c *ConsistencyCheck) Run(ctx context.Context) (any, error) {
	var res ConsistencyResult
	sr, err := c.spot.Run(ctx)
	res.SpotResult, _ = sr.(store.SpotResult)
	if err != nil {
		return res, fmt.Errorf("%w; this is not repaired while the daemon runs (its loaded copy of the document holds that history): stop it and run `weft check --repair`, and it fetches what is missing from its peers when it starts again", err)
	}
	var problems []string
	if doc, perr := store.ParseDocID(res.Doc); perr == nil {
		rep, err := c.st.RepairCovered(ctx, doc, StoreCodec{}, store.SpotMaxTxns)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("document %s: repairing the records under its checkpoint: %v", doc, err))
		case rep.Quarantined > 0:
			res.Repaired = &rep
			c.m.log.Warn("quarantined damaged records under a document's checkpoint; fetching them from peers", "doc", doc, "records", rep.Quarantined, "fetch", spanList(rep.Fetch))
		}
	}
	fetching, err := c.m.askForMissing(ctx)
	res.Fetching = fetching
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, f := range fetching {
		if len(f.Asked) == 0 {
			problems = append(problems, fmt.Sprintf("document %s: %s to fetch from peers (left by a repair), and none of its peers is connected", f.Doc, strings.Join(f.Spans, ", ")))
		}
	}
	if len(problems) > 0 {
		return res, errors.New(strings.Join(problems, "; "))
	}
	return res, nil
}
