package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"weft/p2p"
	"weft/replica"
	"weft/store"
)

// relayConfig is the relay's configuration: defaults < <data>/config.toml
// (or --config) < WEFT_RELAY_* environment variables < flags, read by the
// daemon's loader (config.go).
type relayConfig struct {
	Data           string   `toml:"data" env:"WEFT_RELAY_DATA" flag:"data"`
	Listen         []string `toml:"listen" env:"WEFT_RELAY_LISTEN" flag:"listen"`
	HostDocs       string   `toml:"host_docs" env:"WEFT_RELAY_HOST_DOCS" flag:"host-docs"` // "all" or comma-separated document IDs
	Join           []string `toml:"join" env:"WEFT_RELAY_JOIN" flag:"join"`                // pull invites to redeem at start
	MaxDocs        int      `toml:"max_docs" env:"WEFT_RELAY_MAX_DOCS" flag:"max-docs"`
	MaxPerMember   int      `toml:"max_docs_per_member" env:"WEFT_RELAY_MAX_DOCS_PER_MEMBER" flag:"max-docs-per-member"`
	MaxBytesPerDoc int64    `toml:"max_bytes_per_doc" env:"WEFT_RELAY_MAX_BYTES_PER_DOC" flag:"max-bytes-per-doc"`
	// The quotas of one granting member's documents together, and the
	// transaction rates (per second; buckets holding TxnBurst of them).
	MaxBytesPerMember int64    `toml:"max_bytes_per_member" env:"WEFT_RELAY_MAX_BYTES_PER_MEMBER" flag:"max-bytes-per-member"`
	MaxTxnsPerDoc     float64  `toml:"max_txns_per_doc" env:"WEFT_RELAY_MAX_TXNS_PER_DOC" flag:"max-txns-per-doc"`
	MaxTxnsPerMember  float64  `toml:"max_txns_per_member" env:"WEFT_RELAY_MAX_TXNS_PER_MEMBER" flag:"max-txns-per-member"`
	TxnBurst          duration `toml:"txn_burst" env:"WEFT_RELAY_TXN_BURST" flag:"txn-burst"`
	// MetricsNameDocs lets /metrics and /readyz name documents (their IDs
	// and topic hashes); by default they name none.
	MetricsNameDocs bool     `toml:"metrics_name_docs" env:"WEFT_RELAY_METRICS_NAME_DOCS" flag:"metrics-name-docs"`
	BackupTo        string   `toml:"backup_to" env:"WEFT_RELAY_BACKUP_TO" flag:"backup-to"`
	BackupEvery     duration `toml:"backup_every" env:"WEFT_RELAY_BACKUP_EVERY" flag:"backup-every"`
	KeepLast        int      `toml:"keep_last" env:"WEFT_RELAY_KEEP_LAST" flag:"keep-last"`
	KeepDaily       int      `toml:"keep_daily" env:"WEFT_RELAY_KEEP_DAILY" flag:"keep-daily"`
	Metrics         string   `toml:"metrics" env:"WEFT_RELAY_METRICS" flag:"metrics"` // empty: none
	MDNS            *bool    `toml:"mdns" env:"WEFT_RELAY_MDNS" flag:"no-mdns"`
	LogLevel        string   `toml:"log_level" env:"WEFT_RELAY_LOG_LEVEL" flag:"log-level"`
	LogFormat       string   `toml:"log_format" env:"WEFT_RELAY_LOG_FORMAT" flag:"log-format"`

	configFile string
	hooks      testHooks
}

const defaultRelayPort = "4001"

// defaultRelayConfig is the relay's configuration before any source.
func defaultRelayConfig() relayConfig {
	return relayConfig{
		Listen:   []string{"/ip4/0.0.0.0/tcp/" + defaultRelayPort, "/ip4/0.0.0.0/udp/" + defaultRelayPort + "/quic-v1"},
		HostDocs: "all",
		// Sensible bounds for one small machine; raise them for a big one.
		MaxDocs:           10000,
		MaxPerMember:      1000,
		MaxBytesPerDoc:    256 << 20,
		MaxBytesPerMember: 1 << 30,
		MaxTxnsPerDoc:     50,
		MaxTxnsPerMember:  200,
		TxnBurst:          duration(replica.DefaultHostTxnBurst),
		KeepLast:          store.DefaultRetention().KeepLast,
		KeepDaily:         store.DefaultRetention().KeepDaily,
		Metrics:           "127.0.0.1:7421",
		MDNS:              boolPtr(true),
		LogLevel:          "info",
		LogFormat:         "text",
	}
}

// defaultRelayDataDir is the relay's data directory by default.
func defaultRelayDataDir() (string, error) {
	d, err := defaultDataDir()
	if err != nil {
		return "", err
	}
	return d + "-relay", nil
}

var relayLayers = layers{dataEnv: "WEFT_RELAY_DATA", configEnv: "WEFT_RELAY_CONFIG", defaultData: defaultRelayDataDir}

// loadRelayConfig resolves the configuration of `weft relay`, checks it,
// and returns the documents it hosts and its backup settings.
func loadRelayConfig(c *cobra.Command, flags *relayConfig, configPath string) (relayConfig, replica.HostPolicy, backupSchedule, error) {
	cfg := defaultRelayConfig()
	var host replica.HostPolicy
	var backups backupSchedule
	src, err := relayLayers.load(c, &cfg, flags, configPath)
	if err != nil {
		return cfg, host, backups, err
	}
	cfg.configFile = src.file
	if cfg.Data == "" {
		if cfg.Data, err = defaultRelayDataDir(); err != nil {
			return cfg, host, backups, err
		}
	}
	if cfg.MDNS == nil {
		cfg.MDNS = boolPtr(true)
	}
	if host, err = parseHostDocs(cfg.HostDocs); err != nil {
		return cfg, host, backups, err
	}
	if err := checkLog(cfg.LogLevel, cfg.LogFormat); err != nil {
		return cfg, host, backups, err
	}
	if err := checkQuotas(&cfg); err != nil {
		return cfg, host, backups, err
	}
	backups = backupSchedule{to: cfg.BackupTo, every: time.Duration(cfg.BackupEvery), keepLast: cfg.KeepLast, keepDays: cfg.KeepDaily}
	if err := backups.validate(); err != nil {
		return cfg, host, backups, err
	}
	if cfg.hooks, err = loadTestHooks(); err != nil {
		return cfg, host, backups, err
	}
	return cfg, host, backups, nil
}

func newRelayCmd() *cobra.Command {
	var flags *relayConfig
	var configPath *string
	c := &cobra.Command{
		Use:   "relay",
		Short: "Run an always-on relay: a durable copy of documents, a NAT relay and the backup sink",
		Long: `Run a weft relay in the foreground until SIGINT or SIGTERM.

A relay is one more peer that never sleeps. It keeps every transaction of
the documents members granted it (weft doc host ID --relay ADDR gives it
the pull role: it stores, verifies and serves the signed, sealed
transactions without being able to read them; --host-docs says which
documents it accepts: all, or a list of IDs; --max-docs,
--max-docs-per-member, --max-bytes-per-doc, --max-bytes-per-member,
--max-txns-per-doc and --max-txns-per-member bound them: a grant over a
document quota is refused with its reason, and a transaction over a bytes
or rate quota is not stored and not held against its sender — it comes
again with a later catch-up, once it fits), acknowledges to their peers
the version it has made durable ("saved on relay"), serves catch-up to
members only (so an edit made while a collaborator was offline reaches
them later, even when its writer is gone), routes live edits for peers
that can only reach it, offers a libp2p circuit relay (reservations for
members' devices only: devices named in the book of a document it keeps)
and AutoNAT to peers behind NATs, answers DHT queries, and takes scheduled
backups of what it hosts.

Point daemons at it with: weft daemon --relay /ip4/HOST/tcp/4001/p2p/PEERID
(the address is printed when the relay starts).

Configuration, later sources winning: <data>/config.toml (or --config) <
environment (WEFT_RELAY_DATA, WEFT_RELAY_CONFIG, WEFT_RELAY_LISTEN,
WEFT_RELAY_HOST_DOCS, WEFT_RELAY_JOIN, WEFT_RELAY_MAX_DOCS, WEFT_RELAY_MAX_DOCS_PER_MEMBER,
WEFT_RELAY_MAX_BYTES_PER_DOC, WEFT_RELAY_MAX_BYTES_PER_MEMBER,
WEFT_RELAY_MAX_TXNS_PER_DOC, WEFT_RELAY_MAX_TXNS_PER_MEMBER, WEFT_RELAY_TXN_BURST,
WEFT_RELAY_METRICS_NAME_DOCS, WEFT_RELAY_BACKUP_TO, WEFT_RELAY_BACKUP_EVERY,
WEFT_RELAY_KEEP_LAST, WEFT_RELAY_KEEP_DAILY, WEFT_RELAY_METRICS,
WEFT_RELAY_MDNS, WEFT_RELAY_LOG_LEVEL, WEFT_RELAY_LOG_FORMAT) < flags.
The file's keys are the flags' names with "_" for "-" (mdns = false for
--no-mdns).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, host, backups, err := loadRelayConfig(c, flags, *configPath)
			if err != nil {
				return withCode(2, err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runRelay(ctx, &cfg, host, &backups, c.OutOrStdout(), os.Stderr)
		},
	}
	flags, configPath = relayFlags(c)
	return c
}

// relayFlags defines the relay's flags on c, bound to the fields of flags
// (holding the defaults, for --help) and to configPath (--config).
func relayFlags(c *cobra.Command) (flags *relayConfig, configPath *string) {
	d := defaultRelayConfig()
	flags, configPath = &d, new(string)
	f := c.Flags()
	f.StringVar(&flags.Data, "data", "", "data directory (default $XDG_DATA_HOME/weft-relay)")
	f.StringVar(configPath, "config", "", "config file (default <data>/config.toml)")
	f.StringArrayVar(&flags.Listen, "listen", flags.Listen, "libp2p listen multiaddr (repeatable)")
	f.StringVar(&flags.HostDocs, "host-docs", flags.HostDocs, "documents members may grant this relay (the pull role): all, or comma-separated document IDs")
	f.StringArrayVar(&flags.Join, "join", flags.Join, "redeem a pull invite (weft doc invite ID --role pull) and keep its document (repeatable; already kept: nothing to do)")
	f.IntVar(&flags.MaxDocs, "max-docs", flags.MaxDocs, "keep at most this many documents (0: no bound)")
	f.IntVar(&flags.MaxPerMember, "max-docs-per-member", flags.MaxPerMember, "keep at most this many documents granted by one member (0: no bound)")
	f.Int64Var(&flags.MaxBytesPerDoc, "max-bytes-per-doc", flags.MaxBytesPerDoc, "keep at most this many bytes of one document's transactions (0: no bound)")
	f.Int64Var(&flags.MaxBytesPerMember, "max-bytes-per-member", flags.MaxBytesPerMember, "keep at most this many bytes of the documents one member granted, together (0: no bound; the default holds four full documents, or a thousand of a megabyte)")
	f.Float64Var(&flags.MaxTxnsPerDoc, "max-txns-per-doc", flags.MaxTxnsPerDoc, "store at most this many transactions a second of one document (0: no bound; ten people typing flat out send about 50); the rest comes again with a later catch-up")
	f.Float64Var(&flags.MaxTxnsPerMember, "max-txns-per-member", flags.MaxTxnsPerMember, "store at most this many transactions a second of the documents one member granted, together (0: no bound)")
	f.Var(&flags.TxnBurst, "txn-burst", "how long a full transaction bucket lasts at its rate: its burst (default 20m: 60,000 transactions at 50 a second, a day's typing caught up at once)")
	f.BoolVar(&flags.MetricsNameDocs, "metrics-name-docs", false, "let /metrics and /readyz name documents (their IDs and topic hashes); by default they name none")
	f.StringVar(&flags.BackupTo, "backup-to", "", "where to take backups: a directory or s3://BUCKET/PREFIX (default: none)")
	f.Var(&flags.BackupEvery, "backup-every", "take a backup this often (default 1h when --backup-to is set)")
	f.IntVar(&flags.KeepLast, "keep-last", flags.KeepLast, "keep this many newest backups")
	f.IntVar(&flags.KeepDaily, "keep-daily", flags.KeepDaily, "also keep the newest backup of each of this many last days")
	f.StringVar(&flags.Metrics, "metrics", flags.Metrics, "address of /metrics, /healthz and /readyz (empty: none)")
	noFlag(c, &flags.MDNS, "no-mdns", "do not announce the relay on the LAN with mDNS")
	f.StringVar(&flags.LogLevel, "log-level", flags.LogLevel, "debug, info, warn or error")
	f.StringVar(&flags.LogFormat, "log-format", flags.LogFormat, "text or json")
	return flags, configPath
}

// checkQuotas refuses quotas that mean nothing: negative bounds (0 is no
// bound), a rate that is not a number, a burst under a second.
func checkQuotas(cfg *relayConfig) error {
	for _, q := range []struct {
		flag string
		v    float64
	}{
		{"--max-docs", float64(cfg.MaxDocs)}, {"--max-docs-per-member", float64(cfg.MaxPerMember)},
		{"--max-bytes-per-doc", float64(cfg.MaxBytesPerDoc)}, {"--max-bytes-per-member", float64(cfg.MaxBytesPerMember)},
		{"--max-txns-per-doc", cfg.MaxTxnsPerDoc}, {"--max-txns-per-member", cfg.MaxTxnsPerMember},
	} {
		if q.v < 0 || math.IsNaN(q.v) || math.IsInf(q.v, 0) {
			return fmt.Errorf("%s %v: want 0 (no bound) or a positive number", q.flag, q.v)
		}
	}
	if b := time.Duration(cfg.TxnBurst); b < time.Second {
		return fmt.Errorf("--txn-burst %s: at least 1s (how long a full bucket lasts at the rate)", b)
	}
	return nil
}

// parseHostDocs reads --host-docs.
func parseHostDocs(s string) (replica.HostPolicy, error) {
	s = strings.TrimSpace(s)
	if s == "all" {
		return replica.HostPolicy{All: true}, nil
	}
	var p replica.HostPolicy
	for _, part := range splitList(s) {
		id, err := store.ParseDocID(part)
		if err != nil {
			return p, fmt.Errorf("--host-docs: %q is not \"all\" or a document ID: %v", part, err)
		}
		p.Docs = append(p.Docs, id)
	}
	if len(p.Docs) == 0 {
		return p, fmt.Errorf("--host-docs: want \"all\" or document IDs")
	}
	return p, nil
}

// relayGCPercent is the relay's largest garbage-collection target (GOGC;
// gcheadroom.go lowers it for a large live heap).
const relayGCPercent = 50

// relayTopicQueue is a relay's per-topic receive buffer, in messages: 8 KiB
// a joined topic (the default, 16384, held 24 MiB for a member's 200).
const relayTopicQueue = 1024

func runRelay(ctx context.Context, cfg *relayConfig, host replica.HostPolicy, backups *backupSchedule, out io.Writer, logw *os.File) error {
	log := newLogger(cfg.LogLevel, cfg.LogFormat, logw)
	// A relay's heap is what peers make it hold: with Go's default (the
	// heap may grow to twice what is live before a collection), a burst
	// of refused grants from one member left 60–65 MiB of headroom. At
	// most gcHeadroom bytes, and GOGC 50 below that (gcheadroom.go); GOGC
	// overrides both.
	defer boundGCHeadroom(ctx, log, relayGCPercent)()
	pt, err := startParts(ctx, cfg.Data, log, cfg.hooks, func(po *p2p.Options) {
		po.Listen = cfg.Listen
		po.MDNS = *cfg.MDNS
		po.DHT, po.DHTServer = true, true
		po.RelayService = true
		// A relay serves many peers: a larger share of the machine.
		po.ConnLow, po.ConnHigh = 96, 192
		// Each joined topic's receive buffer is allocated whole; a relay
		// joins one per document in use (p2p.Options.TopicQueue).
		po.TopicQueue = relayTopicQueue
		po.ResourceMemory, po.ResourceFDs = 1<<30, 4096
	}, func(ro *replica.Options) {
		ro.Host = host
		ro.AckDurable = true
		ro.HostMaxDocs, ro.HostMaxDocsPerMember, ro.HostMaxBytesPerDoc = cfg.MaxDocs, cfg.MaxPerMember, cfg.MaxBytesPerDoc
		ro.HostMaxBytesPerMember, ro.HostMaxTxnsPerDoc, ro.HostMaxTxnsPerMember = cfg.MaxBytesPerMember, cfg.MaxTxnsPerDoc, cfg.MaxTxnsPerMember
		ro.HostTxnBurst = time.Duration(cfg.TxnBurst)
	})
	if err != nil {
		return err
	}
	defer pt.close()
	dir, st, node := pt.dir, pt.st, pt.node
	// Circuit reservations for members' devices only: a device named in
	// the book of a document this relay keeps, not revoked.
	node.SetRelayFilter(pt.mgr.IsMemberDevice)

	stopBackups, err := backups.start(ctx, st, log)
	if err != nil {
		return err
	}
	defer stopBackups()

	for _, inv := range cfg.Join {
		info, err := pt.mgr.JoinInvite(ctx, inv)
		if err != nil {
			return withCode(2, fmt.Errorf("--join: %w", err))
		}
		if info.Role != "pull" {
			log.Warn("a relay joined with an invite that lets it read; give relays pull invites", "doc", info.ID, "role", info.Role)
		}
		log.Info("keeping a document joined by invite", "doc", info.ID)
	}
	if err := registerRelayQuotas(pt.met.Registry(), func() int { st, _ := pt.mgr.Status(ctx); return st.Docs }); err != nil {
		return err
	}
	opsAddr, stopMetrics, err := serveRelayOps(ctx, cfg, pt, backups, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	hosting := "documents members grant it (weft doc host)"
	if !host.All {
		hosting = fmt.Sprintf("%d listed documents, when members grant them", len(host.Docs))
	}
	fmt.Fprintf(out, "weft relay %s\n  peer ID   %s\n  data      %s\n  hosting   %s\n", version, node.ID(), dir, hosting)
	if opsAddr != "" {
		fmt.Fprintf(out, "  metrics   http://%s/metrics (health: /healthz, /readyz)\n", opsAddr)
	}
	for _, a := range node.Addrs() {
		fmt.Fprintf(out, "  listening %s\n", a)
	}
	fmt.Fprintf(out, "Point daemons at it: weft daemon --relay <one of the addresses above>\n")
	log.Info("relay started", "peer", node.ID(), "data", dir)
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}
