package main

import (
	"encoding"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"

	"weft/store"
)

// Configuration of the long-running commands (daemon, relay). Sources,
// later ones winning: built-in defaults < the TOML file (<data>/config.toml,
// or --config) < environment variables < command-line flags. One loader
// (layers.load) reads them for both, from the struct tags of their config
// types: `toml` names the file key, `env` the variable and `flag` the flag.
// Unknown keys in the file are errors.

// daemonConfig is the daemon's configuration.
type daemonConfig struct {
	Data      string   `toml:"data" env:"WEFT_DATA" flag:"data"`
	API       string   `toml:"api" env:"WEFT_API" flag:"api"`                   // host:port of the local API and editor
	Listen    []string `toml:"listen" env:"WEFT_LISTEN" flag:"listen"`          // libp2p multiaddrs (environment: comma-separated)
	Bootstrap []string `toml:"bootstrap" env:"WEFT_BOOTSTRAP" flag:"bootstrap"` // peers (with /p2p/<id>) to keep connected
	Relays    []string `toml:"relays" env:"WEFT_RELAYS" flag:"relay"`           // relays (with /p2p/<id>): kept connected, used for NAT traversal, trusted for durability
	MDNS      *bool    `toml:"mdns" env:"WEFT_MDNS" flag:"no-mdns"`             // LAN discovery (default true)
	DHT       *bool    `toml:"dht" env:"WEFT_DHT" flag:"no-dht"`                // Kademlia discovery (default true)
	LogLevel  string   `toml:"log_level" env:"WEFT_LOG_LEVEL" flag:"log-level"` // debug|info|warn|error (default info)
	LogFormat string   `toml:"log_format" env:"WEFT_LOG_FORMAT" flag:"log-format"`
	// SyncInterval is how often open documents run anti-entropy with their
	// peers (default 30s).
	SyncInterval duration `toml:"sync_interval" env:"WEFT_SYNC_INTERVAL" flag:"sync-interval"`
	// ReplicationLag is how long a configured relay may stay unreachable,
	// or leave a version of an open document unacknowledged, before the
	// replication health check fails (default 2m).
	ReplicationLag duration `toml:"replication_lag" env:"WEFT_REPLICATION_LAG" flag:"replication-lag"`
	// Scheduled backups, as the relay takes them (none by default; every
	// hour once BackupTo is set; retention as store.DefaultRetention).
	BackupTo    string   `toml:"backup_to" env:"WEFT_BACKUP_TO" flag:"backup-to"`
	BackupEvery duration `toml:"backup_every" env:"WEFT_BACKUP_EVERY" flag:"backup-every"`
	KeepLast    int      `toml:"keep_last" env:"WEFT_KEEP_LAST" flag:"keep-last"`
	KeepDaily   int      `toml:"keep_daily" env:"WEFT_KEEP_DAILY" flag:"keep-daily"`

	apiExplicit bool // the user chose the API address (no fallback port)
	configFile  string
	hooks       testHooks
	backups     backupSchedule
}

const (
	defaultAPIAddr        = "127.0.0.1:7420"
	defaultSyncInterval   = 30 * time.Second
	defaultReplicationLag = 2 * time.Minute
)

func boolPtr(b bool) *bool { return &b }

// daemonLayers are where the daemon's configuration comes from.
var daemonLayers = layers{dataEnv: "WEFT_DATA", configEnv: "WEFT_CONFIG", defaultData: defaultDataDir}

// loadDaemonConfig resolves the configuration of `weft daemon` from the
// config file, the environment and its flags (bound to the fields of
// flags).
func loadDaemonConfig(c *cobra.Command, flags *daemonConfig, configPath string) (daemonConfig, error) {
	var cfg daemonConfig
	src, err := daemonLayers.load(c, &cfg, flags, configPath)
	if err != nil {
		return cfg, err
	}
	cfg.configFile = src.file
	cfg.apiExplicit = src.from["api"] == fromEnv || src.from["api"] == fromFlag

	// Defaults.
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
		cfg.SyncInterval = duration(defaultSyncInterval)
	}
	if cfg.ReplicationLag == 0 {
		cfg.ReplicationLag = duration(defaultReplicationLag)
	}
	if _, set := src.from["keep_last"]; !set {
		cfg.KeepLast = store.DefaultRetention().KeepLast
	}
	if _, set := src.from["keep_daily"]; !set {
		cfg.KeepDaily = store.DefaultRetention().KeepDaily
	}

	if cfg.SyncInterval < duration(100*time.Millisecond) {
		return cfg, fmt.Errorf("sync interval %s: at least 100ms", time.Duration(cfg.SyncInterval))
	}
	if cfg.ReplicationLag < 0 {
		return cfg, fmt.Errorf("replication lag %s: must be positive", time.Duration(cfg.ReplicationLag))
	}
	if err := checkLog(cfg.LogLevel, cfg.LogFormat); err != nil {
		return cfg, err
	}
	cfg.backups = backupSchedule{to: cfg.BackupTo, every: time.Duration(cfg.BackupEvery), keepLast: cfg.KeepLast, keepDays: cfg.KeepDaily}
	if err := cfg.backups.validate(); err != nil {
		return cfg, err
	}
	if cfg.hooks, err = loadTestHooks(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func checkLog(level, format string) error {
	if _, err := parseLevel(level); err != nil {
		return err
	}
	if format != "text" && format != "json" {
		return fmt.Errorf("log format %q: want text or json", format)
	}
	return nil
}

// layers is where a command's configuration comes from.
type layers struct {
	dataEnv     string                 // the data directory's variable
	configEnv   string                 // the config file's variable
	defaultData func() (string, error) // the data directory by default
}

// Where a setting came from.
const (
	fromFile = "file"
	fromEnv  = "environment"
	fromFlag = "flag"
)

// loaded says where the configuration came from.
type loaded struct {
	file string            // the config file read ("" if none)
	from map[string]string // TOML key → the last source that set it
}

// load fills cfg, a pointer to a config struct, over what it holds (the
// defaults): first from the TOML file, then from the environment, then
// from the flags that were set. The file is configPath (--config), else
// the configEnv variable — either must exist — else config.toml in the
// data directory (--data, dataEnv or the default), when it exists; the
// file found in the data directory cannot move it (its "data" key is
// ignored). Unknown keys are errors. flags is a struct of cfg's type that
// the command's flags are bound to: the field tagged flag:"NAME" is taken
// from it when --NAME was set. An empty environment variable sets nothing.
func (l layers) load(c *cobra.Command, cfg, flags any, configPath string) (loaded, error) {
	src := loaded{from: map[string]string{}}
	fl := c.Flags()
	dst := reflect.ValueOf(cfg).Elem()
	fields := configFields(dst.Type())
	// The data directory decides where the config file is, so resolve it
	// first: flag > environment > default.
	if configPath == "" {
		configPath = os.Getenv(l.configEnv)
	}
	explicit := configPath != ""
	if !explicit {
		dir := os.Getenv(l.dataEnv)
		if fl.Changed("data") {
			dir = fl.Lookup("data").Value.String()
		}
		if dir == "" {
			d, err := l.defaultData()
			if err != nil {
				return src, err
			}
			dir = d
		}
		configPath = filepath.Join(dir, "config.toml")
	}
	var keep reflect.Value // the data directory before the file
	for _, f := range fields {
		if f.key == "data" {
			keep = reflect.New(f.typ).Elem()
			keep.Set(dst.Field(f.index))
		}
	}
	md, err := toml.DecodeFile(configPath, cfg)
	switch {
	case err == nil:
		if und := md.Undecoded(); len(und) > 0 {
			return src, fmt.Errorf("config %s: unknown setting %q", configPath, und[0].String())
		}
		src.file = configPath
		for _, f := range fields {
			if md.IsDefined(f.key) {
				src.from[f.key] = fromFile
			}
			if f.key == "data" && !explicit {
				dst.Field(f.index).Set(keep)
				delete(src.from, f.key)
			}
		}
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return src, fmt.Errorf("config %s: %w", configPath, err)
	}

	for _, f := range fields {
		if f.env == "" {
			continue
		}
		v := os.Getenv(f.env)
		if v == "" {
			continue
		}
		if err := setFromText(dst.Field(f.index), v); err != nil {
			return src, fmt.Errorf("%s=%q: %w", f.env, v, err)
		}
		src.from[f.key] = fromEnv
	}

	from := reflect.ValueOf(flags).Elem()
	for _, f := range fields {
		if f.flag != "" && fl.Changed(f.flag) {
			dst.Field(f.index).Set(from.Field(f.index))
			src.from[f.key] = fromFlag
		}
	}
	return src, nil
}

// configField is one setting of a config struct.
type configField struct {
	index          int
	typ            reflect.Type
	key, env, flag string
}

func configFields(t reflect.Type) []configField {
	var out []configField
	for i := range t.NumField() {
		sf := t.Field(i)
		key := sf.Tag.Get("toml")
		if key == "" || !sf.IsExported() {
			continue
		}
		out = append(out, configField{index: i, typ: sf.Type, key: key, env: sf.Tag.Get("env"), flag: sf.Tag.Get("flag")})
	}
	return out
}

// setFromText sets v from an environment variable's text: lists are
// separated by commas or white space.
func setFromText(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = s
	case *[]string:
		*p = splitList(s)
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return errors.New("want a whole number")
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("want a whole number")
		}
		*p = n
	case *float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("want a number")
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
	case **bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = &b
	default:
		panic(fmt.Sprintf("config: no environment syntax for a setting of type %s", v.Type()))
	}
	return nil
}

// negBool is a --no-X flag bound to a *bool setting X.
type negBool struct{ p **bool }

func (n negBool) String() string {
	if n.p == nil || *n.p == nil {
		return "false"
	}
	return strconv.FormatBool(!**n.p)
}

func (n negBool) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*n.p = boolPtr(!b)
	return nil
}

func (n negBool) Type() string     { return "bool" }
func (n negBool) IsBoolFlag() bool { return true }

// noFlag defines --name, a boolean flag that turns the setting p off.
func noFlag(c *cobra.Command, p **bool, name, usage string) {
	c.Flags().Var(negBool{p}, name, usage)
	c.Flags().Lookup(name).NoOptDefVal = "true"
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

// String is the duration as text; "" when zero, so that --help does not
// print "(default 0s)" for a setting whose default the usage names.
func (d *duration) String() string {
	if *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}
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

func newLogger(level, format string, w *os.File) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
