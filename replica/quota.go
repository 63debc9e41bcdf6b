package replica

import (
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"weft/member"
	"weft/store"
	"weft/vocab"
)

// Quota limits, each the label of its refusals and gauges (limit="...").
const (
	LimitDocs           = "docs"             // documents kept
	LimitDocsPerMember  = "docs-per-member"  // documents kept that one member granted
	LimitBytesPerDoc    = "bytes-per-doc"    // envelope bytes kept of one document
	LimitBytesPerMember = "bytes-per-member" // envelope bytes kept of the documents one member granted
	LimitTxnsPerDoc     = "txns-per-doc"     // transactions stored per second, one document
	LimitTxnsPerMember  = "txns-per-member"  // transactions stored per second, the documents one member granted
)

// QuotaLimitNames lists the limits in a fixed order.
var QuotaLimitNames = []string{LimitDocs, LimitDocsPerMember, LimitBytesPerDoc, LimitBytesPerMember, LimitTxnsPerDoc, LimitTxnsPerMember}

// quotaNear is the usage fraction from which a document or member counts
// as near its limit.
const quotaNear = 0.9

// QuotaUsage is one limit's state, naming no document or member: the
// limit (0: none; per second for the rates), how many documents (or
// members, for the per-member limits) use at least 90% of it and how many
// are at it, the largest usage fraction (for a rate: the share of its
// burst spent), and the refusals since start.
type QuotaUsage struct {
	Limit       string
	Max         float64
	Near, Over  int
	MaxFraction float64
	Refused     uint64
}

// quotaLimits are a relay's quotas (0: no bound): Options.HostMax*.
type quotaLimits struct {
	docs, docsPerMember         int
	bytesPerDoc, bytesPerMember int64
	txnsPerDoc, txnsPerMember   float64       // per second
	burst                       time.Duration // each bucket holds this long's worth of its rate
}

func (l quotaLimits) bucket(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	b := int(perSecond * l.burst.Seconds())
	if b < 1 {
		b = 1
	}
	return rate.NewLimiter(rate.Limit(perSecond), b)
}

// quotas accounts what a relay keeps for others, per document and per
// granting member (the member whose grant the replica's capability for
// the document descends from: member.Issuer of its chain). Documents are
// tracked as the manager joins them; bytes as their drivers learn them
// (every load replays the stored envelopes, so a document counts its true
// size from its first load since start, and its last known size while
// unloaded). Rates are token buckets filled at the limit's rate and
// holding quotaLimits.burst of it, so honest typing and a catch-up after
// a day offline pass whole. It is safe for concurrent use; every
// operation is O(1) but usage, which is O(documents + members).
type quotas struct {
	lim quotaLimits

	mu      sync.Mutex
	docs    map[store.DocID]*docQuota
	members map[string]*memberQuota // by the granting member's key
	refused map[string]uint64       // by limit
}

type docQuota struct {
	member *memberQuota
	bytes  int64
	rate   *rate.Limiter // made at the first transaction (nil: full, or no rate bound)
}

type memberQuota struct {
	docs  int
	bytes int64
	rate  *rate.Limiter
}

func newQuotas(lim quotaLimits) *quotas {
	return &quotas{lim: lim, docs: map[store.DocID]*docQuota{}, members: map[string]*memberQuota{}, refused: map[string]uint64{}}
}

// memberLocked returns granter's account, made on first use.
func (q *quotas) memberLocked(granter ed25519.PublicKey) *memberQuota {
	mq := q.members[string(granter)]
	if mq == nil {
		mq = &memberQuota{}
		q.members[string(granter)] = mq
	}
	return mq
}

// track counts doc, granted by granter, as kept (again: nothing to do).
func (q *quotas) track(doc store.DocID, granter ed25519.PublicKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.docs[doc]; ok {
		return
	}
	mq := q.memberLocked(granter)
	mq.docs++
	q.docs[doc] = &docQuota{member: mq}
}

// overQuota is a refusal over a quota: reason "quota", and dropped
// without blame (vocab.Ignore) — whoever sent it did nothing wrong, the
// relay is full for them. Detail says which limit and why, in words.
type overQuota struct {
	error
	Detail string
}

func (e overQuota) Unwrap() error { return e.error }

// refuseLocked counts a refusal by limit and returns it.
func (q *quotas) refuseLocked(limit, format string, args ...any) error {
	q.refused[limit]++
	detail := fmt.Sprintf("over the %s quota: "+format, append([]any{limit}, args...)...)
	return overQuota{vocab.Ignore(vocab.ReasonQuota, "%s", detail), detail}
}

// admitDoc says whether one more document granted by granter fits.
func (q *quotas) admitDoc(granter ed25519.PublicKey) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if max := q.lim.docs; max > 0 && len(q.docs) >= max {
		return q.refuseLocked(LimitDocs, "this relay keeps %d documents (at most %d)", len(q.docs), max)
	}
	mine := 0
	if mq := q.members[string(granter)]; mq != nil {
		mine = mq.docs
	}
	if max := q.lim.docsPerMember; max > 0 && mine >= max {
		return q.refuseLocked(LimitDocsPerMember, "the granting member has %d documents kept here (at most %d)", mine, max)
	}
	return nil
}

// setBytes records doc's size as its driver knows it (the envelopes its
// header log holds), correcting what take charged ahead.
func (q *quotas) setBytes(doc store.DocID, n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if dq := q.docs[doc]; dq != nil {
		dq.member.bytes += n - dq.bytes
		dq.bytes = n
	}
}

// take charges one transaction of n bytes to doc at now, or refuses it
// naming the limit it would pass (and charges nothing). An untracked
// document is not bounded.
func (q *quotas) take(doc store.DocID, n int, now time.Time) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dq := q.docs[doc]
	if dq == nil {
		return "", nil
	}
	mq := dq.member
	if dq.rate == nil {
		dq.rate = q.lim.bucket(q.lim.txnsPerDoc)
	}
	if mq.rate == nil {
		mq.rate = q.lim.bucket(q.lim.txnsPerMember)
	}
	size := int64(n)
	switch {
	case q.lim.bytesPerDoc > 0 && dq.bytes+size > q.lim.bytesPerDoc:
		return LimitBytesPerDoc, q.refuseLocked(LimitBytesPerDoc, "the document would hold more than %d bytes here", q.lim.bytesPerDoc)
	case q.lim.bytesPerMember > 0 && mq.bytes+size > q.lim.bytesPerMember:
		return LimitBytesPerMember, q.refuseLocked(LimitBytesPerMember, "the documents its granting member keeps here would hold more than %d bytes", q.lim.bytesPerMember)
	case dq.rate != nil && dq.rate.TokensAt(now) < 1:
		return LimitTxnsPerDoc, q.refuseLocked(LimitTxnsPerDoc, "more than %g transactions a second (burst %d) to the document; catch-up brings it later", q.lim.txnsPerDoc, dq.rate.Burst())
	case mq.rate != nil && mq.rate.TokensAt(now) < 1:
		return LimitTxnsPerMember, q.refuseLocked(LimitTxnsPerMember, "more than %g transactions a second (burst %d) to the documents of its granting member; catch-up brings it later", q.lim.txnsPerMember, mq.rate.Burst())
	}
	if dq.rate != nil {
		dq.rate.AllowN(now, 1)
	}
	if mq.rate != nil {
		mq.rate.AllowN(now, 1)
	}
	dq.bytes += size
	mq.bytes += size
	return "", nil
}

// usage reports every limit's state at now.
func (q *quotas) usage(now time.Time) []QuotaUsage {
	q.mu.Lock()
	defer q.mu.Unlock()
	u := map[string]*QuotaUsage{}
	for _, l := range QuotaLimitNames {
		u[l] = &QuotaUsage{Limit: l, Refused: q.refused[l]}
	}
	u[LimitDocs].Max = float64(q.lim.docs)
	u[LimitDocsPerMember].Max = float64(q.lim.docsPerMember)
	u[LimitBytesPerDoc].Max = float64(q.lim.bytesPerDoc)
	u[LimitBytesPerMember].Max = float64(q.lim.bytesPerMember)
	u[LimitTxnsPerDoc].Max = q.lim.txnsPerDoc
	u[LimitTxnsPerMember].Max = q.lim.txnsPerMember
	see := func(l string, used, max float64) {
		if max <= 0 {
			return
		}
		f := used / max
		x := u[l]
		if f >= quotaNear {
			x.Near++
		}
		if f >= 1 {
			x.Over++
		}
		if f > x.MaxFraction {
			x.MaxFraction = f
		}
	}
	spent := func(b *rate.Limiter) (float64, float64) {
		if b == nil {
			return 0, 0
		}
		t := b.TokensAt(now)
		if t < 0 {
			t = 0
		}
		return float64(b.Burst()) - t, float64(b.Burst())
	}
	see(LimitDocs, float64(len(q.docs)), float64(q.lim.docs))
	for _, dq := range q.docs {
		see(LimitBytesPerDoc, float64(dq.bytes), float64(q.lim.bytesPerDoc))
		used, max := spent(dq.rate)
		see(LimitTxnsPerDoc, used, max)
	}
	for _, mq := range q.members {
		see(LimitDocsPerMember, float64(mq.docs), float64(q.lim.docsPerMember))
		see(LimitBytesPerMember, float64(mq.bytes), float64(q.lim.bytesPerMember))
		used, max := spent(mq.rate)
		see(LimitTxnsPerMember, used, max)
	}
	out := make([]QuotaUsage, 0, len(QuotaLimitNames))
	for _, l := range QuotaLimitNames {
		out = append(out, *u[l])
	}
	return out
}

// QuotaUsage reports the state of every hosting quota, naming no
// document: for /metrics.
func (m *Manager) QuotaUsage() []QuotaUsage { return m.quota.usage(m.opts.Now()) }

// granterOf is the member whose grant ms's capability descends from.
func granterOf(ms *membership) ed25519.PublicKey {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return member.Issuer(ms.local.Chain, ms.book.DocKey)
}

// withinQuota drops from a peer's transactions (gossip or catch-up) to a
// document this replica keeps for others (it cannot read it) those over
// a quota, before the step sees them, and counts each by reason "quota"
// and by limit. A transaction the header log holds already, or that it
// would refuse, is not charged. What is dropped is not blamed on the
// sender and not lost: it was never stored, so the next catch-up with
// any member that holds it brings it again, when it fits.
func (dr *driver) withinQuota(in input) input {
	m := dr.d.m
	if dr.doc != nil || dr.hl == nil || (in.src != fromGossip && in.src != fromSync) {
		return in
	}
	m.quota.setBytes(dr.d.id, dr.hl.bytes)
	now := m.opts.Now()
	kept := in.envs[:0:0]
	for _, e := range in.envs {
		if v, err := dr.hl.check(e.sig); err != nil || v == vDuplicate {
			kept = append(kept, e)
			continue
		}
		if limit, err := m.quota.take(dr.d.id, len(e.sig.Raw), now); err != nil {
			m.stats.reject(vocab.ReasonQuota)
			m.log.Debug("over a quota", "limit", limit, "doc", dr.d.id, "err", err)
			continue
		}
		kept = append(kept, e)
	}
	in.envs = kept
	return in
}
