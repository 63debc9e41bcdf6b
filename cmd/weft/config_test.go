package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseDaemon resolves the daemon configuration for args without running it.
func parseDaemon(t *testing.T, args ...string) (daemonConfig, error) {
	t.Helper()
	c := newDaemonCmd()
	var cfg daemonConfig
	var err error
	c.RunE = nil
	c.Run = nil
	if err := c.ParseFlags(args); err != nil {
		return cfg, err
	}
	f := c.Flags()
	data, _ := f.GetString("data")
	api, _ := f.GetString("api")
	listen, _ := f.GetStringArray("listen")
	boot, _ := f.GetStringArray("bootstrap")
	noMDNS, _ := f.GetBool("no-mdns")
	noDHT, _ := f.GetBool("no-dht")
	config, _ := f.GetString("config")
	level, _ := f.GetString("log-level")
	format, _ := f.GetString("log-format")
	flags := daemonConfig{Data: data, API: api, Listen: listen, Bootstrap: boot, LogLevel: level, LogFormat: format}
	if v := f.Lookup("sync-interval"); v != nil && v.Changed {
		_ = flags.SyncInterval.UnmarshalText([]byte(v.Value.String()))
	}
	cfg, err = loadDaemonConfig(c, &flags, config, noMDNS, noDHT)
	return cfg, err
}

func TestDaemonConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	for _, k := range []string{"WEFT_DATA", "WEFT_API", "WEFT_LISTEN", "WEFT_BOOTSTRAP", "WEFT_MDNS", "WEFT_DHT", "WEFT_LOG_LEVEL", "WEFT_LOG_FORMAT", "WEFT_CONFIG", "WEFT_SYNC_INTERVAL"} {
		t.Setenv(k, "")
	}
	data := filepath.Join(dir, "weft")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	file := "api = \"127.0.0.1:9001\"\nlisten = [\"/ip4/127.0.0.1/tcp/4001\"]\nmdns = false\nlog_level = \"warn\"\nsync_interval = \"5s\"\n"
	if err := os.WriteFile(filepath.Join(data, "config.toml"), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file over the defaults.
	cfg, err := parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != "127.0.0.1:9001" || *cfg.MDNS || !*cfg.DHT || cfg.LogLevel != "warn" || cfg.Data != data || time.Duration(cfg.SyncInterval) != 5*time.Second {
		t.Fatalf("from the file: %+v", cfg)
	}
	if len(cfg.Listen) != 1 || cfg.Listen[0] != "/ip4/127.0.0.1/tcp/4001" {
		t.Fatalf("listen %v", cfg.Listen)
	}
	// The environment over the file.
	t.Setenv("WEFT_API", "127.0.0.1:9002")
	t.Setenv("WEFT_MDNS", "true")
	t.Setenv("WEFT_LISTEN", "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/tcp/2")
	cfg, err = parseDaemon(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != "127.0.0.1:9002" || !cfg.apiExplicit || !*cfg.MDNS || len(cfg.Listen) != 2 {
		t.Fatalf("from the environment: %+v", cfg)
	}
	// Flags over the environment.
	cfg, err = parseDaemon(t, "--api", "127.0.0.1:9003", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/3", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API != "127.0.0.1:9003" || *cfg.MDNS || len(cfg.Listen) != 1 || cfg.LogLevel != "debug" {
		t.Fatalf("from flags: %+v", cfg)
	}
}

func TestDaemonConfigErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	t.Setenv("WEFT_MDNS", "")
	t.Setenv("WEFT_CONFIG", "")
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
}
