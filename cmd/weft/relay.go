package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"weft/p2p"
	"weft/replica"
	"weft/store"
)

// relayConfig is the relay's configuration (flags; the environment
// variables WEFT_RELAY_* give defaults).
type relayConfig struct {
	Data     string
	Listen   []string
	HostDocs string // "all" or comma-separated document IDs
	LogLevel string
	MDNS     bool

	backups backupSchedule
	metrics string
}

const defaultRelayPort = "4001"

func newRelayCmd() *cobra.Command {
	var cfg relayConfig
	var noMDNS bool
	c := &cobra.Command{
		Use:   "relay",
		Short: "Run an always-on relay: a durable copy of documents, a NAT relay and the backup sink",
		Long: `Run a weft relay in the foreground until SIGINT or SIGTERM.

A relay is one more peer that never sleeps. It keeps every transaction of
the documents it hosts (--host-docs all: every document a peer syncs with
it; or a list of IDs), acknowledges to their peers the version it has made
durable ("saved on relay"), serves catch-up to anyone (so an edit made while
a collaborator was offline reaches them later, even when its writer is
gone), routes live edits for peers that can only reach it, offers a libp2p
circuit relay and AutoNAT to peers behind NATs, answers DHT queries, and
takes scheduled backups of what it hosts.

Point daemons at it with: weft daemon --relay /ip4/HOST/tcp/4001/p2p/PEERID
(the address is printed when the relay starts).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if !c.Flags().Changed("data") {
				cfg.Data = os.Getenv("WEFT_RELAY_DATA")
			}
			if cfg.Data == "" {
				d, err := defaultDataDir()
				if err != nil {
					return withCode(2, err)
				}
				cfg.Data = d + "-relay"
			}
			if !c.Flags().Changed("host-docs") && os.Getenv("WEFT_RELAY_HOST_DOCS") != "" {
				cfg.HostDocs = os.Getenv("WEFT_RELAY_HOST_DOCS")
			}
			cfg.MDNS = !noMDNS
			host, err := parseHostDocs(cfg.HostDocs)
			if err != nil {
				return withCode(2, err)
			}
			if _, err := parseLevel(cfg.LogLevel); err != nil {
				return withCode(2, err)
			}
			if err := cfg.backups.validate(); err != nil {
				return withCode(2, err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runRelay(ctx, &cfg, host, c.OutOrStdout(), os.Stderr)
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Data, "data", "", "data directory (default $XDG_DATA_HOME/weft-relay)")
	f.StringArrayVar(&cfg.Listen, "listen", []string{"/ip4/0.0.0.0/tcp/" + defaultRelayPort, "/ip4/0.0.0.0/udp/" + defaultRelayPort + "/quic-v1"}, "libp2p listen multiaddr (repeatable)")
	f.StringVar(&cfg.HostDocs, "host-docs", "all", "documents to keep: all, or comma-separated document IDs")
	f.StringVar(&cfg.backups.to, "backup-to", "", "where to take backups: a directory or s3://BUCKET/PREFIX (default: none)")
	f.DurationVar(&cfg.backups.every, "backup-every", 0, "take a backup this often (default 1h when --backup-to is set)")
	f.IntVar(&cfg.backups.keepLast, "keep-last", store.DefaultRetention().KeepLast, "keep this many newest backups")
	f.IntVar(&cfg.backups.keepDays, "keep-daily", store.DefaultRetention().KeepDaily, "also keep the newest backup of each of this many last days")
	f.StringVar(&cfg.metrics, "metrics", "127.0.0.1:7421", "address of /metrics, /healthz and /readyz (empty: none)")
	f.BoolVar(&noMDNS, "no-mdns", false, "do not announce the relay on the LAN with mDNS")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	return c
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

func runRelay(ctx context.Context, cfg *relayConfig, host replica.HostPolicy, out io.Writer, logw *os.File) error {
	log := newLogger(daemonConfig{LogLevel: cfg.LogLevel, LogFormat: "text"}, logw)
	pt, err := startParts(ctx, cfg.Data, log, func(po *p2p.Options) {
		po.Listen = cfg.Listen
		po.MDNS = cfg.MDNS
		po.DHT, po.DHTServer = true, true
		po.RelayService = true
		// A relay serves many peers: a larger share of the machine.
		po.ConnLow, po.ConnHigh = 96, 192
		po.ResourceMemory, po.ResourceFDs = 1<<30, 4096
	}, func(ro *replica.Options) {
		ro.Host = host
		ro.AckDurable = true
	})
	if err != nil {
		return err
	}
	defer pt.close()
	dir, met, st, node, mgr := pt.dir, pt.met, pt.st, pt.node, pt.mgr

	stopBackups, err := cfg.backups.start(ctx, st, log)
	if err != nil {
		return err
	}
	defer stopBackups()

	opsAddr, stopMetrics, err := serveRelayOps(ctx, cfg.metrics, met, st, mgr, node, &cfg.backups, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	hosting := "every document its peers sync"
	if !host.All {
		hosting = fmt.Sprintf("%d listed documents", len(host.Docs))
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
