package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"weft/obs"
	"weft/store"
)

// backupSchedule is the relay's backup settings; start runs a
// store.Scheduler (one backup at a time, retention after each, status for
// health checks).
type backupSchedule struct {
	to       string
	every    time.Duration
	keepLast int
	keepDays int

	sched *store.Scheduler
}

func (b *backupSchedule) validate() error {
	switch {
	case b.to == "" && b.every != 0:
		return errors.New("--backup-every needs --backup-to")
	case b.to != "" && b.every == 0:
		b.every = time.Hour
	case b.every < 0 || (b.to != "" && b.every < time.Minute):
		return fmt.Errorf("--backup-every %s: at least a minute", b.every)
	}
	if b.keepLast < 0 || b.keepDays < 0 {
		return errors.New("--keep-last and --keep-daily must not be negative")
	}
	return nil
}

// start runs scheduled backups until ctx ends; the returned func waits for
// a backup in progress to stop.
func (b *backupSchedule) start(ctx context.Context, st *store.Store, log *slog.Logger) (func(), error) {
	if b.to == "" {
		return func() {}, nil
	}
	sink, err := openSink(ctx, b.to)
	if err != nil {
		return nil, withCode(2, fmt.Errorf("--backup-to: %w", err))
	}
	so := store.DefaultSchedulerOptions()
	so.Every = b.every
	so.Retention = store.Retention{KeepLast: b.keepLast, KeepDaily: b.keepDays}
	so.Logger = log.With("part", "backup")
	sc, err := store.NewScheduler(st, sink, so)
	if err != nil {
		return nil, err
	}
	b.sched = sc
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sc.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("backup scheduler stopped", "err", err)
		}
	}()
	return func() { <-done }, nil
}

// serveRelayOps serves the relay's /metrics, /healthz and /readyz on
// cfg.Metrics (loopback by default; no token: they are for the operator's
// monitoring). Besides the daemon's checks, the relay's readiness includes
// its backups, and its metrics its quotas. They name no document (nor its
// topic) unless cfg.MetricsNameDocs: the address may be scraped by others
// than the relay's operator's members.
func serveRelayOps(ctx context.Context, cfg *relayConfig, pt *parts, backups *backupSchedule, log *slog.Logger) (string, func(), error) {
	met, addr := pt.met, cfg.Metrics
	health, err := pt.startObs(ctx, nil, 0) // a relay has no relays of its own
	if err != nil {
		return "", nil, err
	}
	err = met.SetQuotas(func() []obs.Quota {
		var out []obs.Quota
		for _, q := range pt.mgr.QuotaUsage() {
			out = append(out, obs.Quota{Limit: q.Limit, Max: q.Max, Near: q.Near, Over: q.Over, MaxFraction: q.MaxFraction, Refused: q.Refused})
		}
		return out
	})
	if err != nil {
		return "", nil, err
	}
	if !cfg.MetricsNameDocs {
		met.HideDocs()
		health.HideDocs()
	}
	if sc := backups.sched; sc != nil {
		err := health.Add("backups", func(context.Context) (any, error) {
			return sc.Status(), sc.Healthy()
		}, obs.CheckOptions{Timeout: time.Second})
		if err != nil {
			return "", nil, err
		}
	}
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: obs.Handler(met, health), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// registerRelayQuotas shows what the relay keeps in /metrics:
// weft_relay_documents (documents kept). Its quotas come from
// obs.Metrics.SetQuotas (weft_relay_quota*).
func registerRelayQuotas(reg prometheus.Registerer, docs func() int) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_relay_documents",
		Help: "Documents the relay keeps (members granted it the pull role).",
	}, func() float64 { return float64(docs()) }))
}
