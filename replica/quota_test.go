package replica

import (
	"context"
	"crypto/ed25519"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"weft/api"
	"weft/member"
	"weft/store"
	"weft/vocab"
)

func quotaKey(b byte) ed25519.PublicKey {
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	k[0] = b
	return k
}

// atomicTime is a clock tests move by hand.
type atomicTime struct{ ns atomic.Int64 }

func (c *atomicTime) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *atomicTime) add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *atomicTime) get() time.Time      { return time.Unix(0, c.ns.Load()) }

func usageOf(t *testing.T, u []QuotaUsage, limit string) QuotaUsage {
	t.Helper()
	for _, x := range u {
		if x.Limit == limit {
			return x
		}
	}
	t.Fatalf("no usage for %s in %+v", limit, u)
	return QuotaUsage{}
}

func TestQuotaDocsTotalAndPerMember(t *testing.T) {
	q := newQuotas(quotaLimits{docs: 3, docsPerMember: 2})
	alice, bob := quotaKey(1), quotaKey(2)
	for i := 0; i < 2; i++ {
		if err := q.admitDoc(alice); err != nil {
			t.Fatalf("alice's document %d: %v", i, err)
		}
		q.track(store.NewDocID(), alice)
	}
	err := q.admitDoc(alice)
	if vocab.Reason(err) != vocab.ReasonQuota || !strings.Contains(err.Error(), "at most 2") || !strings.Contains(err.Error(), LimitDocsPerMember) {
		t.Fatalf("alice's third document: %v", err)
	}
	if !vocab.Ignored(err) {
		t.Fatalf("a refusal over a quota blames its sender: %v", err)
	}
	if err := q.admitDoc(bob); err != nil {
		t.Fatalf("bob's first document: %v", err)
	}
	q.track(store.NewDocID(), bob)
	if err := q.admitDoc(bob); vocab.Reason(err) != vocab.ReasonQuota || !strings.Contains(err.Error(), "at most 3") {
		t.Fatalf("a fourth document: %v", err)
	}
	u := q.usage(time.Now())
	if d := usageOf(t, u, LimitDocs); d.Refused != 1 || d.Over != 1 || d.MaxFraction != 1 {
		t.Fatalf("docs usage %+v", d)
	}
	if d := usageOf(t, u, LimitDocsPerMember); d.Refused != 1 || d.Over != 1 || d.Near != 1 || d.MaxFraction != 1 {
		t.Fatalf("docs-per-member usage %+v", d)
	}
}

func TestQuotaBytesPerDocAndPerMember(t *testing.T) {
	q := newQuotas(quotaLimits{bytesPerDoc: 1000, bytesPerMember: 1500})
	alice, bob := quotaKey(1), quotaKey(2)
	d1, d2, d3 := store.NewDocID(), store.NewDocID(), store.NewDocID()
	q.track(d1, alice)
	q.track(d2, alice)
	q.track(d3, bob)
	now := time.Now()
	if l, err := q.take(d1, 900, now); err != nil {
		t.Fatal(l, err)
	}
	if l, _ := q.take(d1, 200, now); l != LimitBytesPerDoc {
		t.Fatalf("1100 bytes in one document: refused by %q", l)
	}
	if l, err := q.take(d2, 500, now); err != nil {
		t.Fatal(l, err)
	}
	if l, _ := q.take(d2, 200, now); l != LimitBytesPerMember {
		t.Fatalf("1600 bytes of one member's: refused by %q", l)
	}
	if l, err := q.take(d3, 900, now); err != nil { // bob's own account
		t.Fatal(l, err)
	}
	// The driver's count wins over what was charged ahead (say the step
	// refused a transaction): alice has room again.
	q.setBytes(d2, 100)
	if l, err := q.take(d2, 200, now); err != nil {
		t.Fatal(l, err)
	}
	u := q.usage(now)
	if b := usageOf(t, u, LimitBytesPerDoc); b.Refused != 1 || b.Near != 2 || b.MaxFraction != 0.9 {
		t.Fatalf("bytes-per-doc usage %+v", b)
	}
	if b := usageOf(t, u, LimitBytesPerMember); b.Refused != 1 || b.Over != 0 || b.MaxFraction != 1200.0/1500 {
		t.Fatalf("bytes-per-member usage %+v", b)
	}
	// An untracked document (a daemon's own, or none) is not bounded.
	if l, err := q.take(store.NewDocID(), 1<<30, now); err != nil {
		t.Fatal(l, err)
	}
}

func TestQuotaTxnRates(t *testing.T) {
	// 10 a second per document, 15 per member, a burst of 2 s of each.
	q := newQuotas(quotaLimits{txnsPerDoc: 10, txnsPerMember: 15, burst: 2 * time.Second})
	alice := quotaKey(1)
	d1, d2 := store.NewDocID(), store.NewDocID()
	q.track(d1, alice)
	q.track(d2, alice)
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 20; i++ {
		if l, err := q.take(d1, 10, now); err != nil {
			t.Fatalf("txn %d within the burst: %s %v", i, l, err)
		}
	}
	if l, _ := q.take(d1, 10, now); l != LimitTxnsPerDoc {
		t.Fatalf("the 21st at once: refused by %q", l)
	}
	for i := 0; i < 10; i++ {
		if l, err := q.take(d2, 10, now); err != nil {
			t.Fatalf("d2's txn %d: %s %v", i, l, err)
		}
	}
	if l, _ := q.take(d2, 10, now); l != LimitTxnsPerMember {
		t.Fatalf("alice's 31st at once: refused by %q", l)
	}
	u := q.usage(now)
	if r := usageOf(t, u, LimitTxnsPerDoc); r.Refused != 1 || r.Over != 1 || r.MaxFraction != 1 {
		t.Fatalf("txns-per-doc usage %+v", r)
	}
	if r := usageOf(t, u, LimitTxnsPerMember); r.Refused != 1 || r.Over != 1 {
		t.Fatalf("txns-per-member usage %+v", r)
	}
	// A second later the buckets hold 10 and 15 more: what was refused
	// fits now (catch-up brings it again).
	later := now.Add(time.Second)
	if l, err := q.take(d1, 10, later); err != nil {
		t.Fatalf("a second later: %s %v", l, err)
	}
	// A refusal charges nothing: the refused bytes are not counted.
	if b := q.docs[d1].bytes; b != 210 {
		t.Fatalf("d1 holds %d bytes, want 210", b)
	}
}

// A relay's quotas, through the manager: a member's grants beyond its
// share are refused with a reason it hears, and a flood past the rate is
// not stored now but is after a later catch-up, once under it.
func TestRelayQuotasRefuseAndCatchUpLater(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	var now atomicTime
	now.set(time.Now())
	relay := newTestNode(t, h, "relay", func(o *Options) {
		o.Host = HostPolicy{All: true}
		o.AckDurable = true
		o.HostMaxDocsPerMember = 1
		o.HostMaxTxnsPerDoc = 1
		o.HostTxnBurst = 5 * time.Second // 5 transactions at once
		o.Now = now.get
	})
	a := newTestNode(t, h, "a", nil)
	first, _ := a.m.CreateDoc(ctx, "first")
	// The title is a transaction too: 13 of them, one seq each.
	for i := 0; i < 12; i++ {
		edit(t, a, first.ID, api.Edit{Pos: i, Ins: "x"})
	}
	if err := a.m.Host(ctx, first.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err != nil {
		t.Fatal(err)
	}
	agentA := a.m.opts.Agent
	held := func() uint64 {
		st, err := relay.m.DocStatus(ctx, first.ID)
		if err != nil {
			return 0
		}
		return st.Version[agentA]
	}
	waitFor(t, "the relay to refuse the 8 of 13 transactions over a burst of 5", func() bool {
		return relay.m.Stats().Rejected[vocab.ReasonQuota] >= 8
	})
	if got := held(); got != 5 {
		t.Fatalf("after one catch-up within a burst of 5, the relay holds %d", got)
	}
	// The clock stands still: nothing more fits, whatever else arrives.
	// Five seconds later, five more fit; ten, the rest: nothing is lost.
	for _, want := range []uint64{10, 13} {
		now.add(5 * time.Second)
		if err := a.m.SyncWith(ctx, "relay", mustID(t, first.ID)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the relay to take what fits", func() bool { return held() == want })
	}
	// (Connecting also starts a catch-up of its own, so a transaction
	// may be refused more than once: at least 8, then 3.)
	if n := relay.m.Stats().Rejected[vocab.ReasonQuota]; n < 11 {
		t.Fatalf("%d refusals counted as quota, want at least 11", n)
	}
	// One document per member: a's second grant is refused, and a hears why.
	second, _ := a.m.CreateDoc(ctx, "second")
	err := a.m.Host(ctx, second.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"})
	if err == nil || !strings.Contains(err.Error(), "docs-per-member quota") || !strings.Contains(err.Error(), "at most 1") {
		t.Fatalf("a second grant: %v", err)
	}
	// (Refused at least once: a's catch-ups may bring the grant again.)
	if u := usageOf(t, relay.m.QuotaUsage(), LimitDocsPerMember); u.Refused < 1 || u.Over != 1 {
		t.Fatalf("docs-per-member usage %+v", u)
	}
	if _, err := relay.m.DocStatus(ctx, second.ID); err == nil {
		t.Fatal("the relay keeps the refused document")
	}
}

// The relay serves circuits to members' devices only: a device named in a
// held book, not revoked.
func TestIsMemberDevice(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	relay := newTestNode(t, h, "relay", func(o *Options) { o.Host = HostPolicy{All: true} })
	a := newTestNode(t, h, "a", nil)
	b := newTestNode(t, h, "b", nil)
	h.node("stranger")
	h.connect(a.net, b.net)
	info, _ := a.m.CreateDoc(ctx, "")
	share(t, a, b, info.ID, "write")
	if relay.m.IsMemberDevice("a") || relay.m.IsMemberDevice("stranger") {
		t.Fatal("a relay holding nothing counts a member")
	}
	if err := a.m.Host(ctx, info.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err != nil {
		t.Fatal(err)
	}
	if !relay.m.IsMemberDevice("a") {
		t.Fatal("the granting member is not counted")
	}
	waitFor(t, "the relay to learn of b", func() bool {
		_ = a.m.SyncWith(ctx, "relay", mustID(t, info.ID))
		return relay.m.IsMemberDevice("b")
	})
	if relay.m.IsMemberDevice("stranger") || relay.m.IsMemberDevice("nobody") {
		t.Fatal("a stranger is counted a member")
	}
	bDevice := member.DeviceID(b.net.key.Public().(ed25519.PublicKey))
	if err := a.m.RemoveMember(ctx, info.ID, bDevice); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to learn of b's removal", func() bool {
		_ = a.m.SyncWith(ctx, "relay", mustID(t, info.ID))
		return !relay.m.IsMemberDevice("b")
	})
	if !relay.m.IsMemberDevice("a") {
		t.Fatal("a lost its place")
	}
}

// The accounting at a relay's scale: 100,000 documents of 10,000
// members. take is what every stored transaction pays; usage what every
// scrape of /metrics does.
func BenchmarkQuotaAt100k(b *testing.B) {
	q := newQuotas(quotaLimits{docs: 200_000, docsPerMember: 100, bytesPerDoc: 1 << 28, bytesPerMember: 1 << 30, txnsPerDoc: 50, txnsPerMember: 200, burst: DefaultHostTxnBurst})
	docs := make([]store.DocID, 100_000)
	for i := range docs {
		docs[i] = store.NewDocID()
		q.track(docs[i], quotaKey(byte(i%250)))
	}
	now := time.Now()
	b.Run("take", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := q.take(docs[i%len(docs)], 100, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, d := range docs { // every bucket made: the worst case of a scrape
		if _, err := q.take(d, 100, now); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("usage", func(b *testing.B) {
		for b.Loop() {
			if len(q.usage(now)) != len(QuotaLimitNames) {
				b.Fatal("usage lacks limits")
			}
		}
	})
}

// A stranger's reservation costs a map lookup however many devices the
// relay's books name.
func BenchmarkDeviceIndexStranger(b *testing.B) {
	x := newDeviceIndex()
	for i := range 100_000 {
		k := make(ed25519.PublicKey, ed25519.PublicKeySize)
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		x.add(k, store.NewDocID())
	}
	stranger := quotaKey(0xff)
	stranger[31] = 1
	for b.Loop() {
		if len(x.of(stranger)) != 0 {
			b.Fatal("a stranger is indexed")
		}
	}
}
