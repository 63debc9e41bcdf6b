package e2e

import (
	"context"
	cryptorand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"weft/api"
	"weft/store"
)

// The relay's quotas, reservations and what its /metrics and /readyz
// show, against a real relay and real daemons.

// scrapeRelay returns the body of one of the relay's ops endpoints.
func scrapeRelay(t testing.TB, r *relayProc, path string) string {
	t.Helper()
	resp, err := http.Get(r.opsURL(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return string(b)
}

// sample reads the sample of name{labels} (labels as written, e.g.
// `limit="docs"`) from a /metrics body; -1 when absent.
func sample(body, name, labels string) float64 {
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
				return v
			}
		}
	}
	return -1
}

func relaySample(t testing.TB, r *relayProc, name, labels string) float64 {
	t.Helper()
	return sample(scrapeRelay(t, r, "/metrics"), name, labels)
}

// A member's grants beyond its document quota are refused with an error
// that says so, and counted; its writes beyond its bytes quota are not
// stored, and counted by limit.
func TestRelayMemberQuotas(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(seed(t)), 21))
	n := newRelayNet(t, 1, "1s")
	a, r := n.c.ds[0], n.relay
	r.start(t, []string{"--max-docs-per-member", "2", "--max-bytes-per-member", "60000"})
	n.start(a)
	var docs []string
	for i := range 3 {
		docs = append(docs, strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", fmt.Sprint("doc ", i))))
	}
	host(t, a, r, docs[0], docs[1])
	ctx, cancel := ctxT()
	defer cancel()
	res, err := a.cli(ctx, []string{"doc", "host"}, docs[2], "--relay", r.multiaddr())
	if err != nil {
		t.Fatal(err)
	}
	if res.Code == 0 || !strings.Contains(res.Stderr, "docs-per-member quota") || !strings.Contains(res.Stderr, "at most 2") {
		t.Fatalf("a third grant: exit %d, stderr %q; want a refusal naming the docs-per-member quota", res.Code, res.Stderr)
	}
	t.Logf("a third grant: %s", strings.TrimSpace(res.Stderr))
	body := scrapeRelay(t, r, "/metrics")
	if v := sample(body, "weft_relay_quota_refused_total", `limit="docs-per-member"`); v != 1 {
		t.Fatalf("weft_relay_quota_refused_total{limit=docs-per-member} = %v, want 1", v)
	}
	if v := sample(body, "weft_replica_rejected_total", `reason="quota"`); v < 1 {
		t.Fatalf("weft_replica_rejected_total{reason=quota} = %v, want at least 1", v)
	}
	if v := sample(body, "weft_relay_quota_full", `limit="docs-per-member"`); v != 1 {
		t.Fatalf("weft_relay_quota_full{limit=docs-per-member} = %v, want 1 (a's share is full)", v)
	}
	if v := sample(body, "weft_relay_documents", ""); v != 2 {
		t.Fatalf("weft_relay_documents = %v, want 2", v)
	}

	// Bytes: a's two documents share 60,000 bytes. Write past it into
	// both; the relay stops storing, counts it, and says a member is full.
	for i := 0; ; i++ {
		doc := docs[i%2]
		a.mustEdit(t, doc, api.Edit{Ins: randText(rng, 400)})
		if v := relaySample(t, r, "weft_relay_quota_refused_total", `limit="bytes-per-member"`); v > 0 {
			break
		}
		if i > 2000 {
			t.Fatal("2000 edits of 400 characters and no bytes-per-member refusal")
		}
	}
	waitFor(t, 30*time.Second*slow, "the relay to report a member at its bytes quota", func() (bool, string) {
		v := relaySample(t, r, "weft_relay_quota_usage_max_ratio", `limit="bytes-per-member"`)
		return v > 0.9, fmt.Sprintf("largest bytes-per-member usage %v", v)
	})
	r.stopClean(t)
	var held int64
	withStore(t, r.dir, func(s *store.Store, ids []store.DocID) {
		for _, id := range ids {
			err := s.Stream(context.Background(), id, nil, func(chunk []store.TxnRecord) error {
				for _, rec := range chunk {
					held += int64(len(rec.Payload))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if held > 60000 {
		t.Fatalf("the relay stored %d bytes of a's documents, over its 60000-byte quota", held)
	}
	t.Logf("the relay holds %d bytes of a's documents (quota 60000)", held)
}

// A flood of transactions over a document's rate is not stored past the
// quota, and nothing is lost: once the bucket refills, catch-up brings
// what was refused, and the relay ends up holding everything.
func TestRelayRateQuotaCatchesUpLater(t *testing.T) {
	const rate, burst, edits = 10, 20, 200 // --txn-burst 2s: 20 at once
	n := newRelayNet(t, 1, "1s")
	a, r := n.c.ds[0], n.relay
	r.start(t, []string{"--max-txns-per-doc", strconv.Itoa(rate), "--txn-burst", "2s"})
	n.start(a)
	doc := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "flood"))
	host(t, a, r, doc)
	waitAcked(t, a, doc)
	start := time.Now()
	for i := range edits {
		a.mustEdit(t, doc, api.Edit{Pos: i, Ins: "x"})
	}
	agent := ""
	for ag := range a.mustDocStatus(t, doc).Version {
		agent = ag
	}
	// While the flood is fresh, the relay holds no more than the burst
	// and the rate since allow.
	acked := a.mustDocStatus(t, doc).RelayAcked[agent]
	allowed := uint64(burst + rate*time.Since(start).Seconds() + 2) // + the creation's and a margin of one
	if acked > allowed {
		t.Fatalf("%.1fs after a flood of %d, the relay acknowledged %d transactions, over the %d the quota allows", time.Since(start).Seconds(), edits, acked, allowed)
	}
	if v := relaySample(t, r, "weft_relay_quota_refused_total", `limit="txns-per-doc"`); v <= 0 {
		t.Fatalf("weft_relay_quota_refused_total{limit=txns-per-doc} = %v after a flood of %d at %d a second", v, edits, rate)
	}
	t.Logf("%.1fs after the flood the relay held %d of %d", time.Since(start).Seconds(), acked, edits)
	// No loss: anti-entropy (every second) brings the rest at the rate.
	final := waitAckedWithin(t, a, doc, time.Duration(2*edits/rate)*time.Second*slow+30*time.Second)
	t.Logf("the relay caught up after %.1fs: %v", time.Since(start).Seconds(), final)
	r.stopClean(t)
	want := a.mustDocStatus(t, doc).Version
	got := storeVersions(t, r.dir)[doc]
	if ok, why := coversVersion(got, want); !ok {
		t.Fatalf("the relay's store lost transactions after the flood: %s (have %v, want %v)", why, got, want)
	}
}

// The relay's /metrics and /readyz name no document (nor its topic hash)
// by default, and do with --metrics-name-docs.
func TestRelayMetricsNameNoDocs(t *testing.T) {
	n := newRelayNet(t, 1, "1s")
	a, r := n.c.ds[0], n.relay
	r.start(t, nil)
	n.start(a)
	var docs []string
	for i := range 3 {
		id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", fmt.Sprint("secret ", i)))
		docs = append(docs, id)
		host(t, a, r, id)
		a.mustEdit(t, id, api.Edit{Ins: "hello"})
		waitAcked(t, a, id)
	}
	names := func() []string {
		var out []string
		for _, id := range docs {
			out = append(out, id, memberTopic(t, "doc", id))
		}
		return out
	}()
	scrape := func() string {
		// /readyz runs the consistency check, which looks at a document.
		return scrapeRelay(t, r, "/metrics") + scrapeRelay(t, r, "/readyz") + scrapeRelay(t, r, "/healthz")
	}
	body := scrape()
	for _, name := range names {
		if strings.Contains(body, name) {
			t.Fatalf("the relay's ops endpoints name %s:\n%s", name, body)
		}
	}
	if !strings.Contains(body, "weft_relay_quota{") || !strings.Contains(body, `"consistency"`) {
		t.Fatalf("the scrape lacks the quotas or the checks:\n%s", body)
	}
	// Named when asked: the hot documents carry their IDs.
	r.stopClean(t)
	r.start(t, []string{"--metrics-name-docs"})
	waitPeer(t, a, r.id())
	for _, id := range docs {
		a.mustEdit(t, id, api.Edit{Ins: "again "})
		waitAcked(t, a, id)
	}
	waitFor(t, 30*time.Second*slow, "/metrics to name the documents with --metrics-name-docs", func() (bool, string) {
		body := scrapeRelay(t, r, "/metrics")
		for _, id := range docs {
			if !strings.Contains(body, id) {
				return false, "no " + id
			}
		}
		return true, ""
	})
}

// tryReserve asks relay (a multiaddr with /p2p/) for a circuit reservation
// from a fresh libp2p host with key.
func tryReserve(t testing.TB, key crypto.PrivKey, relay string) error {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ai, err := peer.AddrInfoFromString(relay)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	_, err = client.Reserve(ctx, h, *ai)
	return err
}

// The relay's circuit relay serves members' devices only: a stranger's
// reservation is refused, a device that joined by a real invite gets
// one. (Needs p2p.Node.SetRelayFilter, which p2p implements.)
func TestRelayReservesForMembersOnly(t *testing.T) {
	n := newRelayNet(t, 2, "1s")
	a, b, r := n.c.ds[0], n.c.ds[1], n.relay
	r.start(t, nil)
	n.start(a)
	n.start(b)
	doc := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "members"))
	host(t, a, r, doc)
	inv := mustInvite(t, a, doc, "write", inviteOpts{label: "b"})
	mustJoin(t, b, inv)
	b.mustEdit(t, doc, api.Edit{Ins: "b was here"})
	waitAcked(t, b, doc) // the relay stored b's edit: b's chain is in its book
	b.stopClean(t)
	raw, err := os.ReadFile(filepath.Join(b.dir, "identity.key"))
	if err != nil {
		t.Fatal(err)
	}
	bKey, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	stranger, _, err := crypto.GenerateEd25519Key(cryptorand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := tryReserve(t, stranger, r.multiaddr()); err == nil {
		t.Fatal("a stranger reserved a circuit on the relay")
	} else {
		t.Logf("a stranger's reservation: %v", err)
	}
	if err := tryReserve(t, bKey, r.multiaddr()); err != nil {
		t.Fatalf("a member's device could not reserve a circuit: %v", err)
	}
}
