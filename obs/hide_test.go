package obs

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// A relay's /metrics and /readyz name no document once told so: the hot
// documents are gone from the metrics, and every 32-hex-digit name (a
// document ID or a topic hash) in a check's error or details is hidden.
func TestHideDocs(t *testing.T) {
	doc := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	docHex := "deadbeef0102030405060708090a0b0c"
	topic := "0123456789abcdef0123456789abcdef"
	m := newTestMetrics(t, nil)
	m.DocWrite(doc, 3)
	h := NewHealth(DefaultHealthOptions())
	mustAdd(t, h, "spot", func(context.Context) (any, error) {
		return map[string]any{"doc": docHex, "topic": "weft/doc/" + topic, "docs": 7, "sha": strings.Repeat("ab", 32)},
			errors.New("document " + docHex + ": broken")
	}, CheckOptions{})
	scrape := func() string {
		rec := httptest.NewRecorder()
		Handler(m, h).ServeHTTP(rec, httptest.NewRequest("GET", PathMetrics, nil))
		b, _ := io.ReadAll(rec.Body)
		rec = httptest.NewRecorder()
		Handler(m, h).ServeHTTP(rec, httptest.NewRequest("GET", PathReady, nil))
		r, _ := io.ReadAll(rec.Body)
		return string(b) + string(r)
	}
	before := scrape()
	for _, want := range []string{docHex, topic, "weft_store_hot_doc_accesses"} {
		if !strings.Contains(before, want) {
			t.Fatalf("before HideDocs, %q is missing from the scrape", want)
		}
	}
	m.HideDocs()
	h.HideDocs()
	m.DocWrite(doc, 1) // counted nowhere by document, and no panic
	after := scrape()
	for _, bad := range []string{docHex, topic, "weft_store_hot_doc_accesses"} {
		if strings.Contains(after, bad) {
			t.Fatalf("after HideDocs, %q is in the scrape:\n%s", bad, after)
		}
	}
	for _, want := range []string{"document (document): broken", `"docs": 7`, "weft/doc/(document)", strings.Repeat("ab", 32), "weft_store_transactions_written_total 4"} {
		if !strings.Contains(after, want) {
			t.Fatalf("after HideDocs, %q is missing:\n%s", want, after)
		}
	}
	if len(m.Hot()) != 0 {
		t.Fatal("Hot still lists documents")
	}
}

func TestQuotaMetrics(t *testing.T) {
	m := newTestMetrics(t, nil)
	err := m.SetQuotas(func() []Quota {
		return []Quota{
			{Limit: "docs", Max: 10, Near: 1, Over: 0, MaxFraction: 0.9, Refused: 2},
			{Limit: "txns-per-doc", Max: 50, Near: 3, Over: 1, MaxFraction: 1, Refused: 40},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	fams := gather(t, m)
	expect(t, fams, "weft_relay_quota", "limit=docs", 10)
	expect(t, fams, "weft_relay_quota_near", "limit=docs", 1)
	expect(t, fams, "weft_relay_quota_full", "limit=txns-per-doc", 1)
	expect(t, fams, "weft_relay_quota_usage_max_ratio", "limit=docs", 0.9)
	expect(t, fams, "weft_relay_quota_refused_total", "limit=txns-per-doc", 40)
}
