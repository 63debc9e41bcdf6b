package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"weft/replica"
)

// The relay's quota settings: defaults, each source, and the mistakes
// that stop it with one line naming the setting.
func TestRelayQuotaConfig(t *testing.T) {
	dir := cleanEnv(t)
	cfg, _, err := parseRelay(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBytesPerMember != 1<<30 || cfg.MaxTxnsPerDoc != 50 || cfg.MaxTxnsPerMember != 200 ||
		time.Duration(cfg.TxnBurst) != replica.DefaultHostTxnBurst || cfg.MetricsNameDocs {
		t.Fatalf("defaults: %+v", cfg)
	}
	file := filepath.Join(dir, "q.toml")
	_ = os.WriteFile(file, []byte("max_bytes_per_member = 1000\nmax_txns_per_doc = 2.5\ntxn_burst = \"1m\"\nmetrics_name_docs = true\n"), 0o600)
	cfg, _, err = parseRelay(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBytesPerMember != 1000 || cfg.MaxTxnsPerDoc != 2.5 || time.Duration(cfg.TxnBurst) != time.Minute || !cfg.MetricsNameDocs {
		t.Fatalf("from the file: %+v", cfg)
	}
	t.Setenv("WEFT_RELAY_MAX_TXNS_PER_MEMBER", "7.5")
	t.Setenv("WEFT_RELAY_MAX_BYTES_PER_DOC", "4096") // an int64 setting from the environment
	t.Setenv("WEFT_RELAY_METRICS_NAME_DOCS", "false")
	cfg, _, err = parseRelay(t, "--config", file, "--max-txns-per-doc", "0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxTxnsPerMember != 7.5 || cfg.MaxBytesPerDoc != 4096 || cfg.MetricsNameDocs || cfg.MaxTxnsPerDoc != 0 {
		t.Fatalf("environment and flags: %+v", cfg)
	}
	t.Setenv("WEFT_RELAY_MAX_TXNS_PER_MEMBER", "")
	t.Setenv("WEFT_RELAY_MAX_BYTES_PER_DOC", "")
	t.Setenv("WEFT_RELAY_METRICS_NAME_DOCS", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-txns-per-doc", "-1"}, "--max-txns-per-doc -1: want 0 (no bound) or a positive number"},
		{[]string{"--max-bytes-per-member", "-5"}, "--max-bytes-per-member -5"},
		{[]string{"--max-docs", "-1"}, "--max-docs -1"},
		{[]string{"--max-txns-per-member", "NaN"}, "--max-txns-per-member NaN"},
		{[]string{"--txn-burst", "10ms"}, "--txn-burst 10ms: at least 1s"},
	} {
		_, _, err := parseRelay(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v (want one line with %q)", c.args, err, c.want)
		}
	}
	t.Setenv("WEFT_RELAY_MAX_TXNS_PER_DOC", "fast")
	if _, _, err := parseRelay(t); err == nil || !strings.Contains(err.Error(), "WEFT_RELAY_MAX_TXNS_PER_DOC") {
		t.Fatalf("a rate that is no number: %v", err)
	}
}
