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

// serveRelayOps serves the relay's /metrics, /healthz and /readyz on addr
// (loopback by default; no token: they are for the operator's monitoring).
// Besides the daemon's checks, the relay's readiness includes its backups.
func serveRelayOps(ctx context.Context, addr string, pt *parts, backups *backupSchedule, log *slog.Logger) (string, func(), error) {
	met := pt.met
	health, err := pt.startObs(ctx, nil, 0) // a relay has no relays of its own
	if err != nil {
		return "", nil, err
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
