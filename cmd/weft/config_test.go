package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"weft/store"
)

// parseDaemon resolves the daemon configuration for args without running it.
func parseDaemon(t *testing.T, args ...string) (daemonConfig, error) {
	t.Helper()
	c := &cobra.Command{Use: "daemon"}
	flags, configPath := daemonFlags(c)
	if err := c.ParseFlags(args); err != nil {
		return daemonConfig{}, err
	}
	return loadDaemonConfig(c, flags, *configPath)
}

// parseRelay resolves the relay configuration for args without running it.
func parseRelay(t *testing.T, args ...string) (relayConfig, backupSchedule, error) {
	t.Helper()
	c := &cobra.Command{Use: "relay"}
	flags, configPath := relayFlags(c)
	if err := c.ParseFlags(args); err != nil {
		return relayConfig{}, backupSchedule{}, err
	}
	cfg, _, b, err := loadRelayConfig(c, flags, *configPath)
	return cfg, b, err
}

func TestDaemonConfigPrecedence(t *testing.T) {
	dir := cleanEnv(t)
	data := filepath.Join(dir, "weft")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	file := "api = \"127.0.0.1:9001\"\nlisten = [\"/ip4/127.0.0.1/tcp/4001\"]\nmdns = false\nlog_level = \"warn\"\nsync_interval = \"5s\"\nreplication_lag = \"1m\"\ndata = \"/elsewhere\"\n"
	if err := os.WriteFile(filepath.Join(data, "config.toml"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file over the defaults.
	cfg, err := parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != "127.0.0.1:9001" || cfg.apiExplicit || *cfg.MDNS || !*cfg.DHT || cfg.LogLevel != "warn" || cfg.Data != data || time.Duration(cfg.SyncInterval) != 5*time.Second || time.Duration(cfg.ReplicationLag) != time.Minute {
		t.Fatalf("from the file (which cannot move the data directory it is in): %+v", cfg)
	}
	if cfg.configFile != filepath.Join(data, "config.toml") || cfg.LogFormat != "text" {
		t.Fatalf("file %q, log format %q", cfg.configFile, cfg.LogFormat)
	}
	if len(cfg.Listen) != 1 || cfg.Listen[0] != "/ip4/127.0.0.1/tcp/4001" {
		t.Fatalf("listen %v", cfg.Listen)
	}
	// The environment over the file.
	t.Setenv("WEFT_API", "127.0.0.1:9002")
	t.Setenv("WEFT_MDNS", "true")
	t.Setenv("WEFT_LISTEN", "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2")
	t.Setenv("WEFT_REPLICATION_LAG", "2s")
	cfg, err = parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != "127.0.0.1:9002" || !cfg.apiExplicit || !*cfg.MDNS || len(cfg.Listen) != 2 || time.Duration(cfg.ReplicationLag) != 2*time.Second {
		t.Fatalf("from the environment: %+v", cfg)
	}
	// Flags over the environment.
	cfg, err = parseDaemon(t, "--api", "127.0.0.1:9003", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/3", "--log-level", "debug", "--replication-lag", "3s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != "127.0.0.1:9003" || *cfg.MDNS || len(cfg.Listen) != 1 || cfg.LogLevel != "debug" || time.Duration(cfg.ReplicationLag) != 3*time.Second {
		t.Fatalf("from flags: %+v", cfg)
	}
	// --no-mdns=false turns mDNS back on over the file and environment.
	t.Setenv("WEFT_MDNS", "false")
	if cfg, err = parseDaemon(t, "--no-mdns=false"); err != nil || !*cfg.MDNS {
		t.Fatalf("--no-mdns=false: %+v %v", cfg, err)
	}
	// An explicit config file may set the data directory.
	other := filepath.Join(dir, "other.toml")
	if err := os.WriteFile(other, []byte("data = \"/elsewhere\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = parseDaemon(t, "--config", other); err != nil || cfg.Data != "/elsewhere" || cfg.configFile != other {
		t.Fatalf("--config: %+v %v", cfg, err)
	}
}

// cleanEnv unsets every WEFT_* variable for the test and points
// XDG_DATA_HOME at a new empty directory, which it returns.
func cleanEnv(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WEFT_") {
			t.Setenv(k, "")
		}
	}
	return dir
}

func TestDaemonConfigDefaults(t *testing.T) {
	dir := cleanEnv(t)
	cfg, err := parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != filepath.Join(dir, "weft") || cfg.API != defaultAPIAddr || cfg.apiExplicit || !*cfg.MDNS || !*cfg.DHT ||
		cfg.LogLevel != "info" || cfg.LogFormat != "text" || time.Duration(cfg.SyncInterval) != 30*time.Second ||
		time.Duration(cfg.ReplicationLag) != 2*time.Minute || cfg.configFile != "" || (!testHooksBuilt && cfg.hooks != (testHooks{})) {
		t.Fatalf("defaults: %+v", cfg)
	}
}

// The relay reads its configuration through the daemon's loader: file <
// environment (WEFT_RELAY_*) < flags, unknown keys refused.
func TestRelayConfigPrecedence(t *testing.T) {
	dir := cleanEnv(t)
	// Defaults: what the flags have always said.
	cfg, b, err := parseRelay(t)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "weft-relay")
	if cfg.Data != data || cfg.HostDocs != "all" || cfg.Metrics != "127.0.0.1:7421" || !*cfg.MDNS || cfg.LogLevel != "info" ||
		!slices.Equal(cfg.Listen, []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}) || b.to != "" || b.every != 0 || cfg.configFile != "" {
		t.Fatalf("defaults: %+v %+v", cfg, b)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backups")
	file := "listen = [\"/ip4/127.0.0.1/tcp/4101\"]\nmetrics = \"\"\nmdns = false\nbackup_to = \"" + backups + "\"\nbackup_every = \"2h\"\nkeep_last = 3\nlog_format = \"json\"\n"
	if err := os.WriteFile(filepath.Join(data, "config.toml"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, b, err = parseRelay(t)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Listen, []string{"/ip4/127.0.0.1/tcp/4101"}) || cfg.Metrics != "" || *cfg.MDNS || cfg.LogFormat != "json" ||
		b.to != backups || b.every != 2*time.Hour || b.keepLast != 3 || cfg.configFile != filepath.Join(data, "config.toml") {
		t.Fatalf("from the file: %+v %+v", cfg, b)
	}
	// The environment over the file.
	const id = "0123456789abcdef0123456789abcdef"
	t.Setenv("WEFT_RELAY_HOST_DOCS", id)
	t.Setenv("WEFT_RELAY_KEEP_LAST", "5")
	t.Setenv("WEFT_RELAY_MDNS", "true")
	t.Setenv("WEFT_RELAY_METRICS", "127.0.0.1:0")
	cfg, b, err = parseRelay(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostDocs != id || b.keepLast != 5 || !*cfg.MDNS || cfg.Metrics != "127.0.0.1:0" || b.every != 2*time.Hour {
		t.Fatalf("from the environment: %+v %+v", cfg, b)
	}
	// Flags over the environment.
	cfg, b, err = parseRelay(t, "--keep-last", "7", "--no-mdns", "--host-docs", "all", "--backup-every", "90m", "--listen", "/ip4/127.0.0.1/tcp/1", "--listen", "/ip4/127.0.0.1/tcp/2")
	if err != nil {
		t.Fatal(err)
	}
	if b.keepLast != 7 || *cfg.MDNS || cfg.HostDocs != "all" || b.every != 90*time.Minute || len(cfg.Listen) != 2 {
		t.Fatalf("from flags: %+v %+v", cfg, b)
	}
	// The data directory from the environment decides where the file is.
	t.Setenv("WEFT_RELAY_DATA", t.TempDir())
	if cfg, _, err = parseRelay(t); err != nil || cfg.configFile != "" || cfg.Metrics != "127.0.0.1:0" {
		t.Fatalf("another data directory: %+v %v", cfg, err)
	}
}

func TestRelayConfigErrors(t *testing.T) {
	dir := cleanEnv(t)
	bad := filepath.Join(dir, "bad.toml")
	_ = os.WriteFile(bad, []byte("host-docs = \"all\"\n"), 0o600)
	if _, _, err := parseRelay(t, "--config", bad); err == nil || !strings.Contains(err.Error(), `unknown setting "host-docs"`) {
		t.Fatalf("unknown key: %v", err)
	}
	t.Setenv("WEFT_RELAY_CONFIG", filepath.Join(dir, "missing.toml"))
	if _, _, err := parseRelay(t); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("a missing WEFT_RELAY_CONFIG: %v", err)
	}
	t.Setenv("WEFT_RELAY_CONFIG", "")
	for env, want := range map[string]string{
		"WEFT_RELAY_KEEP_LAST":    "WEFT_RELAY_KEEP_LAST",
		"WEFT_RELAY_MDNS":         "WEFT_RELAY_MDNS",
		"WEFT_RELAY_BACKUP_EVERY": "WEFT_RELAY_BACKUP_EVERY",
		"WEFT_RELAY_HOST_DOCS":    "host-docs",
		"WEFT_RELAY_LOG_LEVEL":    "log level",
	} {
		t.Setenv(env, "perhaps")
		if _, _, err := parseRelay(t); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=perhaps: %v", env, err)
		}
		t.Setenv(env, "")
	}
	if _, _, err := parseRelay(t, "--backup-every", "1h"); err == nil || !strings.Contains(err.Error(), "needs --backup-to") {
		t.Fatalf("backups without a destination: %v", err)
	}
}

func TestDaemonConfigErrors(t *testing.T) {
	dir := cleanEnv(t)
	bad := filepath.Join(dir, "bad.toml")
	_ = os.WriteFile(bad, []byte("apii = \"x\"\n"), 0o600)
	if _, err := parseDaemon(t, "--config", bad); err == nil || !strings.Contains(err.Error(), `unknown setting "apii"`) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := parseDaemon(t, "--config", filepath.Join(dir, "missing.toml")); err == nil {
		t.Fatal("an explicit config file that is missing must be an error")
	}
	t.Setenv("WEFT_MDNS", "perhaps")
	if _, err := parseDaemon(t); err == nil || !strings.Contains(err.Error(), "WEFT_MDNS") {
		t.Fatalf("bad boolean: %v", err)
	}
	t.Setenv("WEFT_MDNS", "")
	if _, err := parseDaemon(t, "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "log level") {
		t.Fatalf("bad level: %v", err)
	}
	if _, err := parseDaemon(t, "--sync-interval", "1ms"); err == nil {
		t.Fatal("a 1ms sync interval must be refused")
	}
	if _, err := parseDaemon(t, "--replication-lag", "-1s"); err == nil {
		t.Fatal("a negative replication lag must be refused")
	}
	t.Setenv("WEFT_REPLICATION_LAG", "soon")
	if _, err := parseDaemon(t); err == nil || !strings.Contains(err.Error(), "WEFT_REPLICATION_LAG") {
		t.Fatalf("bad duration: %v", err)
	}
}

// The daemon takes the relay's backup settings, from the same keys, its
// own variables (WEFT_BACKUP_TO, …) and the same flags; none by default.
func TestDaemonBackupConfig(t *testing.T) {
	dir := cleanEnv(t)
	cfg, err := parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	def := store.DefaultRetention()
	if cfg.backups.to != "" || cfg.backups.every != 0 || cfg.backups.keepLast != def.KeepLast || cfg.backups.keepDays != def.KeepDaily {
		t.Fatalf("no backups by default, default retention: %+v", cfg.backups)
	}
	data := filepath.Join(dir, "weft")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backups")
	file := "backup_to = \"" + backups + "\"\nkeep_last = 3\n"
	if err := os.WriteFile(filepath.Join(data, "config.toml"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.backups; b.to != backups || b.every != time.Hour || b.keepLast != 3 || b.keepDays != def.KeepDaily {
		t.Fatalf("from the file (every 1h once a destination is set): %+v", b)
	}
	t.Setenv("WEFT_BACKUP_EVERY", "2h")
	t.Setenv("WEFT_KEEP_DAILY", "9")
	cfg, err = parseDaemon(t, "--keep-last", "0")
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.backups; b.every != 2*time.Hour || b.keepLast != 0 || b.keepDays != 9 {
		t.Fatalf("environment and flags over the file: %+v", b)
	}
	// A relative directory is taken from where the daemon starts.
	t.Chdir(dir)
	cfg, err = parseDaemon(t, "--backup-to", "rel")
	if err != nil || cfg.backups.to != filepath.Join(dir, "rel") {
		t.Fatalf("relative --backup-to: %q %v", cfg.backups.to, err)
	}
	if _, err := parseDaemon(t, "--backup-every", "10s"); err == nil || !strings.Contains(err.Error(), "at least a minute") {
		t.Fatalf("too frequent: %v", err)
	}
	t.Setenv("WEFT_BACKUP_EVERY", "")
	os.Remove(filepath.Join(data, "config.toml"))
	if _, err := parseDaemon(t, "--backup-every", "1h"); err == nil || !strings.Contains(err.Error(), "needs --backup-to") {
		t.Fatalf("backups without a destination: %v", err)
	}
}
