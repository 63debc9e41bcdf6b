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

// serveRelayOps serves the relay's /metrics, /healthz and /readyz on addr
// (loopback by default; no token: they are for the operator's monitoring).
// Besides the daemon's checks, the relay's readiness includes its backups.
func serveRelayOps(ctx context.Context, addr string, pt *parts, backups *backupSchedule, log *slog.Logger) (string, func(), error) {
	met := pt.met
	health, err := pt.startObs(ctx, nil, 0) // a relay has no relays of its own
	if err != nil {
		return "", nil, err
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

// registerRelayQuotas shows the relay's quotas and what it keeps in
// /metrics: weft_relay_quota{limit} (0: no bound) and
// weft_relay_documents (documents kept).
func registerRelayQuotas(reg prometheus.Registerer, cfg *relayConfig, docs func() int) error {
	q := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weft_relay_quota",
		Help: "The relay's quotas (0: no bound): documents kept, documents per granting member, bytes of one document's transactions.",
	}, []string{"limit"})
	q.WithLabelValues("max_docs").Set(float64(cfg.MaxDocs))
	q.WithLabelValues("max_docs_per_member").Set(float64(cfg.MaxPerMember))
	q.WithLabelValues("max_bytes_per_doc").Set(float64(cfg.MaxBytesPerDoc))
	n := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_relay_documents",
		Help: "Documents the relay keeps (members granted it the pull role).",
	}, func() float64 { return float64(docs()) })
	for _, c := range []prometheus.Collector{q, n} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
