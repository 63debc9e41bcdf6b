package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"weft/p2p"
	"weft/replica"
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

// serveRelayOps serves the relay's health endpoints on addr (loopback by
// default; no token: they are for the operator's monitoring).
func serveRelayOps(addr string, st *store.Store, mgr *replica.Manager, node *p2p.Node, log *slog.Logger) (string, func(), error) {
	if addr == "" {
		return "", func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		docs, err := st.Docs(r.Context())
		res := map[string]any{"status": "ok", "peers": len(node.Peers()), "documents": len(docs)}
		code := http.StatusOK
		if err != nil {
			res["status"], res["storage"] = "unhealthy", err.Error()
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(res)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
