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
)

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
	if err := backups.addCheck(health); err != nil {
		return "", nil, err
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
