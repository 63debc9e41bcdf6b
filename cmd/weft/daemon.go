package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"weft/obs"
	"weft/p2p"
	"weft/replica"
	"weft/store"
	"weft/ui"
)

func newDaemonCmd() *cobra.Command {
	var flags *daemonConfig
	var configPath *string
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the weft daemon: your documents, the editor and the API, and sync with peers",
		Long: `Run the weft daemon in the foreground until SIGINT or SIGTERM.

It keeps the documents in the data directory, serves the editor and the
local API on the loopback address (writing api.json with the address and a
fresh token for the other commands), and exchanges edits with other people's
daemons over libp2p.

Configuration, later sources winning: <data>/config.toml (or --config) <
environment (WEFT_DATA, WEFT_API, WEFT_LISTEN, WEFT_BOOTSTRAP, WEFT_RELAYS,
WEFT_MDNS, WEFT_DHT, WEFT_LOG_LEVEL, WEFT_LOG_FORMAT, WEFT_SYNC_INTERVAL,
WEFT_REPLICATION_LAG, WEFT_BACKUP_TO, WEFT_BACKUP_EVERY, WEFT_KEEP_LAST,
WEFT_KEEP_DAILY) < flags.

With --backup-to it takes a backup of the whole store every --backup-every
(default 1h) while it runs, keeping --keep-last and --keep-daily of them,
as the relay does; 'weft backup create' asks it for one at any time.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadDaemonConfig(c, flags, *configPath)
			if err != nil {
				return withCode(2, err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDaemon(ctx, cfg, c.OutOrStdout(), os.Stderr)
		},
	}
	flags, configPath = daemonFlags(c)
	return c
}

// daemonFlags defines the daemon's flags on c, bound to the fields of
// flags and to configPath (--config).
func daemonFlags(c *cobra.Command) (flags *daemonConfig, configPath *string) {
	flags, configPath = new(daemonConfig), new(string)
	f := c.Flags()
	f.StringVar(&flags.Data, "data", "", "data directory (default $XDG_DATA_HOME/weft)")
	f.StringVar(&flags.API, "api", "", "address of the local API and editor (default "+defaultAPIAddr+", or a free port if taken)")
	f.StringArrayVar(&flags.Listen, "listen", nil, "libp2p listen multiaddr (repeatable; default TCP and QUIC on all interfaces)")
	f.StringArrayVar(&flags.Bootstrap, "bootstrap", nil, "peer multiaddr with /p2p/<id> to keep connected (repeatable)")
	f.StringArrayVar(&flags.Relays, "relay", nil, "relay multiaddr with /p2p/<id>: kept connected, used behind NATs, trusted to acknowledge durability (repeatable)")
	noFlag(c, &flags.MDNS, "no-mdns", "do not discover peers on the LAN with mDNS")
	noFlag(c, &flags.DHT, "no-dht", "do not use the DHT to find a document's peers")
	f.StringVar(configPath, "config", "", "config file (default <data>/config.toml)")
	f.StringVar(&flags.LogLevel, "log-level", "", "debug, info, warn or error (default info)")
	f.StringVar(&flags.LogFormat, "log-format", "", "text or json (default text)")
	f.Var(&flags.SyncInterval, "sync-interval", "how often open documents run anti-entropy with their peers (default 30s)")
	f.Var(&flags.ReplicationLag, "replication-lag", "how long a relay may be unreachable, or leave edits unacknowledged, before the daemon reports itself unhealthy (default 2m)")
	f.StringVar(&flags.BackupTo, "backup-to", "", "take scheduled backups into a directory or s3://BUCKET/PREFIX (default: none)")
	f.Var(&flags.BackupEvery, "backup-every", "take a backup this often (default 1h when --backup-to is set)")
	f.IntVar(&flags.KeepLast, "keep-last", store.DefaultRetention().KeepLast, "keep this many newest scheduled backups")
	f.IntVar(&flags.KeepDaily, "keep-daily", store.DefaultRetention().KeepDaily, "also keep the newest backup of each of this many last days")
	return flags, configPath
}

// runDaemon runs until ctx ends, then shuts down cleanly: the API stops,
// documents are unloaded (snapshots written), topics left, the store
// flushed and closed.
func runDaemon(ctx context.Context, cfg daemonConfig, out io.Writer, logw *os.File) error {
	log := newLogger(cfg.LogLevel, cfg.LogFormat, logw)
	var relayIDs []string
	for _, r := range cfg.Relays {
		id, err := p2p.PeerIDOf(r)
		if err != nil {
			return withCode(2, fmt.Errorf("relay %v", err))
		}
		relayIDs = append(relayIDs, id)
	}
	// Garbage a peer's messages leave behind is bounded in bytes, not as
	// a share of the live heap (gcheadroom.go).
	defer boundGCHeadroom(ctx, log, daemonGCPercent)()
	pt, err := startParts(ctx, cfg.Data, log, cfg.hooks, func(po *p2p.Options) {
		if len(cfg.Listen) > 0 {
			po.Listen = cfg.Listen
		}
		po.Bootstrap = append(append([]string(nil), cfg.Bootstrap...), cfg.Relays...)
		po.MDNS = *cfg.MDNS
		po.DHT = *cfg.DHT
	}, func(ro *replica.Options) {
		ro.Relays = relayIDs
		ro.SyncInterval = time.Duration(cfg.SyncInterval)
	})
	if err != nil {
		return err
	}
	defer pt.close()
	dir, met, node, mgr := pt.dir, pt.met, pt.node, pt.mgr
	health, err := pt.startObs(ctx, relayIDs, time.Duration(cfg.ReplicationLag))
	if err != nil {
		return err
	}
	backups := &cfg.backups
	stopBackups, err := backups.start(ctx, pt.st, log)
	if err != nil {
		return err
	}
	defer stopBackups()
	if err := backups.addCheck(health); err != nil {
		return err
	}

	token, err := installToken(dir)
	if err != nil {
		return err
	}
	uo := ui.DefaultOptions()
	uo.Addr = cfg.API
	uo.Token = token
	uo.NoFallback = cfg.apiExplicit
	uo.Logger = log.With("part", "ui")
	uo.Extra = obs.Routes(met, health) // /healthz, /readyz, /metrics behind the token
	srv, err := ui.New(daemonBackend{Manager: mgr, node: node, st: pt.st, backups: backups, life: ctx}, uo)
	if err != nil {
		return withCode(2, err)
	}
	addr, err := srv.Start()
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Error("stopping the API", "err", err)
		}
	}()
	apiURL := "http://" + addr
	mgr.SetAPI(apiURL)
	info := apiInfo{API: apiURL, Token: token, PID: os.Getpid()}
	if err := writeAPIInfo(dir, info); err != nil {
		return err
	}
	defer func() {
		if err := removeAPIInfo(dir, info); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("removing api.json", "err", err)
		}
	}()

	if addr != cfg.API && !strings.HasSuffix(cfg.API, ":0") {
		fmt.Fprintf(out, "weft: %s was taken; the API listens on %s instead\n", cfg.API, addr)
	}
	fmt.Fprintf(out, "weft daemon %s\n  editor and API  %s\n  peer ID         %s\n  data            %s\n", version, apiURL, node.ID(), dir)
	for _, a := range node.Addrs() {
		fmt.Fprintf(out, "  listening       %s\n", a)
	}
	fmt.Fprintf(out, "Next: `weft doc new --title NAME` or `weft doc join ID`; see `weft --help`. Stop with Ctrl-C.\n")
	log.Info("daemon started", "api", apiURL, "peer", node.ID(), "addrs", strings.Join(node.Addrs(), " "), "data", dir)

	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// installToken returns the API token of this data directory, creating it
// (mode 0600) on first start. It is per install, not per run, so that an
// open editor tab survives a daemon restart.
func installToken(dir string) (string, error) {
	path := filepath.Join(dir, "token")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if len(tok) < ui.MinTokenLen || len(tok) > 256 || strings.ContainsAny(tok, " \t\r\n") {
			return "", fmt.Errorf("%s is not a valid token (delete it to make a new one)", path)
		}
		return tok, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", err
	}
	tok, err := ui.NewToken()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return tok, f.Close()
}
