package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
)

// daemonConfig is the daemon's configuration. Sources, later ones winning:
// built-in defaults < the TOML file (<data>/config.toml, or --config) <
// environment variables WEFT_* < command-line flags.
type daemonConfig struct {
	Data      string   `toml:"data"`       // WEFT_DATA, --data
	API       string   `toml:"api"`        // WEFT_API, --api: host:port of the local API and editor
	Listen    []string `toml:"listen"`     // WEFT_LISTEN (comma-separated), --listen: libp2p multiaddrs
	Bootstrap []string `toml:"bootstrap"`  // WEFT_BOOTSTRAP, --bootstrap: peers (with /p2p/<id>) to keep connected
	Relays    []string `toml:"relays"`     // WEFT_RELAYS, --relay: relays (with /p2p/<id>): kept connected, used for NAT traversal, trusted for durability
	MDNS      *bool    `toml:"mdns"`       // WEFT_MDNS, --no-mdns: LAN discovery (default true)
	DHT       *bool    `toml:"dht"`        // WEFT_DHT, --no-dht: Kademlia discovery (default true)
	LogLevel  string   `toml:"log_level"`  // WEFT_LOG_LEVEL, --log-level: debug|info|warn|error (default info)
	LogFormat string   `toml:"log_format"` // WEFT_LOG_FORMAT, --log-format: text|json (default text)
	// SyncInterval is how often open documents run anti-entropy with their
	// peers (WEFT_SYNC_INTERVAL, --sync-interval; default 30s).
	SyncInterval duration `toml:"sync_interval"`

	apiExplicit bool // the user chose the API address (no fallback port)
	configFile  string
}

const defaultAPIAddr = "127.0.0.1:7420"

func boolPtr(b bool) *bool { return &b }

// loadDaemonConfig resolves the configuration of `weft daemon` from its
// flags, the environment and the config file.
func loadDaemonConfig(c *cobra.Command, flags *daemonConfig, configPath string, noMDNS, noDHT bool) (daemonConfig, error) {
	getenv := os.Getenv
	var cfg daemonConfig
	// The data directory decides where the config file is, so resolve it
	// first: flag > environment > default.
	data := getenv("WEFT_DATA")
	if c.Flags().Changed("data") {
		data = flags.Data
	}
	if configPath == "" {
		configPath = getenv("WEFT_CONFIG")
	}
	explicitConfig := configPath != ""
	if !explicitConfig {
		dir := data
		if dir == "" {
			d, err := defaultDataDir()
			if err != nil {
				return cfg, err
			}
			dir = d
		}
		configPath = filepath.Join(dir, "config.toml")
	}
	md, err := toml.DecodeFile(configPath, &cfg)
	switch {
	case err == nil:
		if und := md.Undecoded(); len(und) > 0 {
			return cfg, fmt.Errorf("config %s: unknown setting %q", configPath, und[0].String())
		}
		cfg.configFile = configPath
		if !explicitConfig {
			cfg.Data = "" // found inside the data directory: it cannot move it
		}
	case errors.Is(err, fs.ErrNotExist) && !explicitConfig:
	default:
		return cfg, fmt.Errorf("config %s: %w", configPath, err)
	}

	// Environment.
	if v := getenv("WEFT_DATA"); v != "" {
		cfg.Data = v
	}
	if v := getenv("WEFT_API"); v != "" {
		cfg.API = v
		cfg.apiExplicit = true
	}
	if v := getenv("WEFT_LISTEN"); v != "" {
		cfg.Listen = splitList(v)
	}
	if v := getenv("WEFT_BOOTSTRAP"); v != "" {
		cfg.Bootstrap = splitList(v)
	}
	if v := getenv("WEFT_RELAYS"); v != "" {
		cfg.Relays = splitList(v)
	}
	for _, b := range []struct {
		name string
		dst  **bool
	}{{"WEFT_MDNS", &cfg.MDNS}, {"WEFT_DHT", &cfg.DHT}} {
		if v := getenv(b.name); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, fmt.Errorf("%s=%q: want true or false", b.name, v)
			}
			*b.dst = &x
		}
	}
	if v := getenv("WEFT_LOG_LEVEL"); v != "" {
		cfg.LogLevel = v
	}
	if v := getenv("WEFT_LOG_FORMAT"); v != "" {
		cfg.LogFormat = v
	}
	if v := getenv("WEFT_SYNC_INTERVAL"); v != "" {
		if err := cfg.SyncInterval.UnmarshalText([]byte(v)); err != nil {
			return cfg, fmt.Errorf("WEFT_SYNC_INTERVAL: %w", err)
		}
	}

	// Flags.
	fl := c.Flags()
	if fl.Changed("data") {
		cfg.Data = flags.Data
	}
	if fl.Changed("api") {
		cfg.API = flags.API
		cfg.apiExplicit = true
	}
	if fl.Changed("listen") {
		cfg.Listen = flags.Listen
	}
	if fl.Changed("bootstrap") {
		cfg.Bootstrap = flags.Bootstrap
	}
	if fl.Changed("relay") {
		cfg.Relays = flags.Relays
	}
	if noMDNS {
		cfg.MDNS = boolPtr(false)
	}
	if noDHT {
		cfg.DHT = boolPtr(false)
	}
	if fl.Changed("log-level") {
		cfg.LogLevel = flags.LogLevel
	}
	if fl.Changed("log-format") {
		cfg.LogFormat = flags.LogFormat
	}
	if fl.Changed("sync-interval") {
		cfg.SyncInterval = flags.SyncInterval
	}

	// Defaults.
	if cfg.Data == "" {
		d, err := defaultDataDir()
		if err != nil {
			return cfg, err
		}
		cfg.Data = d
	}
	if cfg.Data, err = dataDirFlag(cfg.Data); err != nil {
		return cfg, err
	}
	if cfg.API == "" {
		cfg.API = defaultAPIAddr
	}
	if cfg.MDNS == nil {
		cfg.MDNS = boolPtr(true)
	}
	if cfg.DHT == nil {
		cfg.DHT = boolPtr(true)
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "text"
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = duration(30 * time.Second)
	}
	if cfg.SyncInterval < duration(100*time.Millisecond) {
		return cfg, fmt.Errorf("sync interval %s: at least 100ms", time.Duration(cfg.SyncInterval))
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return cfg, err
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return cfg, fmt.Errorf("log format %q: want text or json", cfg.LogFormat)
	}
	return cfg, nil
}

// duration is a time.Duration read from TOML, the environment and flags
// as text ("30s", "2m").
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %v", b, err)
	}
	*d = duration(v)
	return nil
}

func (d *duration) String() string { return time.Duration(*d).String() }
func (d *duration) Set(s string) error {
	return d.UnmarshalText([]byte(s))
}
func (d *duration) Type() string { return "duration" }

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(cfg daemonConfig, w *os.File) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
