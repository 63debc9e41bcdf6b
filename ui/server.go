package ui

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"weft/api"
)

// Backend is what the API needs from the daemon; the replica manager
// satisfies it. Errors that wrap api.ErrUnknownDoc, api.ErrBadInput,
// api.ErrNeedInvite, api.ErrForbidden or api.ErrClosed become 404, 400,
// 400, 403 and 503; any other error is a 500.
// The context is the request's: it ends when the client goes away.
type Backend interface {
	CreateDoc(ctx context.Context, title string) (api.DocInfo, error)
	JoinDoc(ctx context.Context, id string) (api.DocInfo, error)
	RenameDoc(ctx context.Context, id, title string) (api.DocInfo, error)
	ListDocs(ctx context.Context) ([]api.DocInfo, error)
	Text(ctx context.Context, id string) (string, error)
	// Edit applies each edit as its own local transaction, in order, and returns
	// once all are durable locally. On an error, edits before the failing one stay
	// applied (Applied says how many).
	Edit(ctx context.Context, id string, edits []api.Edit) (api.EditResult, error)
	DocStatus(ctx context.Context, id string) (api.DocStatus, error)
	Peers(ctx context.Context) ([]api.PeerInfo, error)
	Status(ctx context.Context) (api.NodeStatus, error)
	// Members-only documents.
	Invite(ctx context.Context, id string, req api.InviteRequest) (api.InviteInfo, error)
	JoinInvite(ctx context.Context, invite string) (api.DocInfo, error)
	Members(ctx context.Context, id string) ([]api.MemberInfo, error)
	RemoveMember(ctx context.Context, id, device string) error
	Host(ctx context.Context, id string, req api.HostRequest) error
	// Upgrade makes a members-only copy of a legacy document (its text,
	// not its history), with this device as admin.
	Upgrade(ctx context.Context, id string) (api.DocInfo, error)
	// Backup writes a consistent backup of the whole store to req.To
	// while the daemon keeps running (req is checked for shape only:
	// where To points is the backend's to judge, api.ErrBadInput if it
	// cannot be one).
	Backup(ctx context.Context, req api.BackupRequest) (api.BackupInfo, error)
}

// Server is the loopback HTTP server. It is an http.Handler (tests may
// serve it with httptest); Start makes it listen on its own.
type Server struct {
	backend   Backend
	opts      Options
	log       *slog.Logger
	mux       *http.ServeMux
	tokenHash [sha256.Size]byte
	assets    map[string]*asset // the embedded editor
	patterns  []string          // the API's routes (Routes)

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{} // closed when Serve returns
}

// New makes a Server over backend. It checks opts and does not listen yet.
func New(backend Backend, opts Options) (*Server, error) {
	if backend == nil {
		return nil, fmt.Errorf("%w: nil Backend", ErrOptions)
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		backend:   backend,
		opts:      opts,
		log:       opts.Logger,
		tokenHash: sha256.Sum256([]byte(opts.Token)),
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, fmt.Errorf("ui: the embedded editor: %w", err)
	}
	s.assets = assets
	for p := range opts.Extra {
		if s.isPagePath(p) {
			return nil, fmt.Errorf("%w: Extra: path %q is one of the editor's files", ErrOptions, p)
		}
	}
	s.mux = s.routes()
	for p, h := range opts.Extra {
		s.mux.Handle("GET "+p, h) // GET patterns match HEAD too
	}
	return s, nil
}

// Start listens on Options.Addr and serves in the background. If the port
// is taken and Options.NoFallback is false, it listens on a free port of
// the same host instead and logs a warning. It returns the address it
// listens on (host:port), which the caller should print: it may differ
// from Options.Addr.
func (s *Server) Start() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("ui: server already started")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) && !s.opts.NoFallback {
		host, _, _ := net.SplitHostPort(s.opts.Addr) // validated in New
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err == nil {
			s.log.Warn("API port taken; listening on a free port instead", "wanted", s.opts.Addr, "addr", ln.Addr().String())
		}
	}
	if err != nil {
		return "", fmt.Errorf("ui: listen on %s: %w", s.opts.Addr, err)
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("API server stopped", "err", err)
		}
	}(s.srv, s.done)
	addr := ln.Addr().String()
	s.log.Info("API listening", "url", "http://"+addr)
	return addr, nil
}

// Shutdown stops listening and waits, until ctx ends, for requests in
// flight to finish. It is a no-op on a server that was never started.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("ui: shutdown: %w", err)
	}
	return nil
}

// ServeHTTP checks Host, Origin and token, then routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	h := sw.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	s.serve(sw, r)
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.code(), "dur", time.Since(start))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !hostAllowed(r.Host, s.opts.AllowNonLoopback) {
		s.log.Warn("refused a request for a foreign Host", "host", r.Host, "remote", r.RemoteAddr)
		writeError(w, s.log, r, errorf(http.StatusForbidden, kindForbidden, "%w: Host %q is not a loopback name (use 127.0.0.1, [::1] or localhost)", ErrForbidden, r.Host))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !originAllowed(o, s.opts.AllowNonLoopback) {
		s.log.Warn("refused a request from a foreign Origin", "origin", o, "remote", r.RemoteAddr)
		writeError(w, s.log, r, errorf(http.StatusForbidden, kindForbidden, "%w: Origin %q is not this machine", ErrForbidden, o))
		return
	}
	// The editor's own files carry no secret and are fetched before the
	// page has read its token; the socket checks its token itself.
	switch {
	case s.isPagePath(r.URL.Path):
		s.servePage(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/ws/"):
		s.serveWS(w, r)
		return
	}
	if err := s.checkToken(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
		writeError(w, s.log, r, err)
		return
	}
	// The mux answers unknown routes in plain text; answer them in JSON.
	if h, pattern := s.mux.Handler(r); pattern == "" {
		rec := &headerRecorder{h: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			allow := rec.h.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, s.log, r, errorf(http.StatusMethodNotAllowed, kindMethod, "%w: %s %s (allowed: %s)", ErrMethod, r.Method, r.URL.Path, allow))
			return
		}
		writeError(w, s.log, r, errorf(http.StatusNotFound, kindNotFound, "%w: %s %s", ErrNotFound, r.Method, r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) checkToken(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errorf(http.StatusUnauthorized, kindUnauthorized, "%w: missing \"Authorization: Bearer <token>\" (the token is in api.json in the data directory)", ErrUnauthorized)
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errorf(http.StatusUnauthorized, kindUnauthorized, "%w: Authorization must be \"Bearer <token>\"", ErrUnauthorized)
	}
	// Compare digests so that neither content nor length leaks through timing.
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) != 1 {
		return errorf(http.StatusUnauthorized, kindUnauthorized, "%w: wrong token", ErrUnauthorized)
	}
	return nil
}

// hostAllowed reports whether a Host header names this machine's loopback
// interface ("localhost" or a loopback IP literal, any port), or, when
// anyIP is set, any IP literal. Names that DNS resolves (anything but
// "localhost") are refused: a DNS-rebinding page would send its own.
func hostAllowed(hostport string, anyIP bool) bool {
	host, ok := splitHost(hostport)
	if !ok {
		return false
	}
	if isLoopbackName(host) {
		return true
	}
	return anyIP && net.ParseIP(host) != nil
}

// splitHost takes the host out of a Host header: "name", "name:port",
// "[v6]" or "[v6]:port". It refuses malformed ports and unbracketed IPv6.
func splitHost(hostport string) (string, bool) {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", false
		}
		host, port = hostport[1:end], hostport[end+1:]
		if ip := net.ParseIP(host); ip == nil || !strings.Contains(host, ":") {
			return "", false
		}
		if port != "" {
			var ok bool
			if port, ok = strings.CutPrefix(port, ":"); !ok {
				return "", false
			}
		} else {
			return host, true
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		if strings.Contains(host, ":") {
			return "", false
		}
	} else {
		return host, host != ""
	}
	if host == "" || !validPort(port) {
		return "", false
	}
	return host, true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// originAllowed reports whether a browser's Origin header is a page
// served from this machine's loopback interface.
func originAllowed(origin string, anyIP bool) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return hostAllowed(u.Host, anyIP)
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// headerRecorder captures the status and headers of the mux's own answer
// to an unknown route, and drops its plain-text body.
type headerRecorder struct {
	h      http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.h }
func (r *headerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *headerRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(b), nil
}
