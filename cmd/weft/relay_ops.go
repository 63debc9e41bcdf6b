package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"weft/p2p"
	"weft/replica"
	"weft/store"
)

// backupSchedule takes the relay's scheduled backups.
type backupSchedule struct {
	to    string
	every time.Duration

	mu      sync.Mutex
	last    time.Time
	lastErr error
}

func (b *backupSchedule) validate() error {
	switch {
	case b.to == "" && b.every != 0:
		return errors.New("--backup-every needs --backup-to")
	case b.to != "" && b.every == 0:
		b.every = 24 * time.Hour
	case b.every < 0 || (b.to != "" && b.every < time.Minute):
		return fmt.Errorf("--backup-every %s: at least a minute", b.every)
	}
	if strings.HasPrefix(b.to, "s3://") {
		return errors.New("--backup-to s3://… is not supported by this build yet; use a directory")
	}
	return nil
}

// start runs backups every b.every until ctx ends; the returned func waits
// for a backup in progress to finish.
func (b *backupSchedule) start(ctx context.Context, st *store.Store, log *slog.Logger) (func(), error) {
	if b.to == "" {
		return func() {}, nil
	}
	sink := &store.DirSink{Dir: b.to}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			info, err := st.Backup(ctx, sink, nil)
			b.mu.Lock()
			if err == nil {
				b.last = time.Now()
			}
			b.lastErr = err
			b.mu.Unlock()
			if err != nil {
				log.Error("scheduled backup failed", "to", b.to, "err", err)
				continue
			}
			log.Info("backup written", "to", b.to, "name", info.Name)
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
