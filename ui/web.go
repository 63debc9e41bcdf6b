package ui

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"weft/vocab"
)

// Session is one editor tab attached to a document (the replica manager
// provides it; see PROTOCOL.md). Messages are binary frames.
type Session interface {
	// Handle takes one message from the tab; an error that wraps a
	// rejection (vocab.IsRejected) closes the socket.
	Handle(ctx context.Context, msg []byte) error
	// Out yields the messages for the tab; it is closed when the session
	// ends, and the tab reconnects.
	Out() <-chan []byte
	Close()
}

// SessionBackend is the part of the backend that serves editor tabs.
type SessionBackend interface {
	OpenSession(ctx context.Context, id string) (Session, error)
}

//go:embed all:web/dist
var webFS embed.FS

// asset is one embedded file, ready to serve. Its gzip copy is made on
// the first request that accepts it (compressing the WebAssembly takes a
// moment, which start-up should not pay).
type asset struct {
	body, gz    []byte
	etag, ctype string
	gzOnce      sync.Once
}

func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		if buf.Len() < len(a.body) {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

var (
	assetsOnce sync.Once
	assetsMap  map[string]*asset
	assetsErr  error
)

// loadAssets reads the embedded editor once per process, with gzip copies
// and ETags (compressing the WebAssembly takes a moment; every server in
// the process shares the result).
func loadAssets() (map[string]*asset, error) {
	assetsOnce.Do(func() { assetsMap, assetsErr = readAssets() })
	return assetsMap, assetsErr
}

func readAssets() (map[string]*asset, error) {
	dist, err := fs.Sub(webFS, "web/dist")
	if err != nil {
		return nil, err
	}
	out := map[string]*asset{}
	err = fs.WalkDir(dist, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(dist, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: mime.TypeByExtension(path.Ext(p))}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		if strings.HasSuffix(p, ".wasm") {
			a.ctype = "application/wasm"
		}
		out["/"+p] = a
		return nil
	})
	return out, err
}

// isPagePath reports whether a path is one of the editor's own files
// (served without a token: the page has none until it reads its URL).
func (s *Server) isPagePath(p string) bool {
	if p == "/" {
		return true
	}
	_, ok := s.assets[p]
	return ok
}

// servePage serves the embedded editor with ETag, gzip and a
// Content-Security-Policy that allows only the page's own files, its
// WebAssembly, and its own API and socket.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, s.log, r, errorf(http.StatusMethodNotAllowed, kindMethod, "%w: %s %s", ErrMethod, r.Method, r.URL.Path))
		return
	}
	p := r.URL.Path
	if p == "/" {
		p = "/index.html"
	}
	a := s.assets[p]
	if a == nil {
		writeError(w, s.log, r, errorf(http.StatusNotFound, kindNotFound, "%w: %s", ErrNotFound, r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if p == "/index.html" {
		h.Set("Cache-Control", "no-cache")
	} else {
		h.Set("Cache-Control", "public, max-age=3600")
	}
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws://%s; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", r.Host))
	if match := r.Header.Get("If-None-Match"); match != "" && match == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		if gz := a.gzipped(); gz != nil {
			h.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// Subprotocols of the editor's socket: the protocol, and the token (a
// browser cannot set headers on a WebSocket). The protocol's version
// changes whenever its messages do (PROTOCOL.md, "Changes"), so that a page
// left open across an upgrade of its daemon is refused at the upgrade
// instead of misreading messages.
const (
	wsProtocol    = "weft.v4"
	wsTokenPrefix = "bearer."
	wsReadLimit   = 4<<20 + 64<<10
)

// serveWS attaches an editor tab to a document over a WebSocket. The
// Origin must be the daemon's own (cross-site WebSocket hijacking) and the
// token must come as a subprotocol; the upgrade happens only then.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	doc := strings.TrimPrefix(r.URL.Path, "/ws/")
	if !sameOrigin(r) {
		s.log.Warn("refused a WebSocket from a foreign Origin", "origin", r.Header.Get("Origin"), "host", r.Host)
		writeError(w, s.log, r, errorf(http.StatusForbidden, kindForbidden, "%w: the socket's Origin %q is not this daemon's", ErrForbidden, r.Header.Get("Origin")))
		return
	}
	var hasProto, hasToken bool
	for _, p := range websocketProtocols(r) {
		switch {
		case p == wsProtocol:
			hasProto = true
		case strings.HasPrefix(p, wsTokenPrefix):
			got := sha256.Sum256([]byte(strings.TrimPrefix(p, wsTokenPrefix)))
			if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1 {
				hasToken = true
			}
		}
	}
	if !hasToken {
		writeError(w, s.log, r, errorf(http.StatusUnauthorized, kindUnauthorized, "%w: the socket needs the subprotocol %q with the token", ErrUnauthorized, wsTokenPrefix+"<token>"))
		return
	}
	if !hasProto {
		writeError(w, s.log, r, errorf(http.StatusBadRequest, kindBadInput, "%w: the socket must offer the subprotocol %q", ErrBadRequest, wsProtocol))
		return
	}
	sb, ok := s.backend.(SessionBackend)
	if !ok {
		writeError(w, s.log, r, errorf(http.StatusNotFound, kindNotFound, "%w: this daemon serves no editor sessions", ErrNotFound))
		return
	}
	sess, err := sb.OpenSession(r.Context(), doc)
	if err != nil {
		writeError(w, s.log, r, err)
		return
	}
	defer sess.Close()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{wsProtocol},
		// The Origin was checked above against the request's own Host.
		InsecureSkipVerify: true,
	})
	if err != nil {
		s.log.Debug("WebSocket upgrade failed", "err", err)
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(wsReadLimit)
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	// Writer: everything the session has for the tab.
	go func() {
		defer cancel()
		for msg := range sess.Out() {
			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			err := c.Write(wctx, websocket.MessageBinary, msg)
			wcancel()
			if err != nil {
				return
			}
		}
		// The session ended (the tab fell behind): it reconnects and resyncs.
		c.Close(websocket.StatusTryAgainLater, "resync")
	}()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageBinary {
			c.Close(websocket.StatusUnsupportedData, "binary messages only")
			return
		}
		if err := sess.Handle(ctx, msg); err != nil && vocab.IsRejected(err) {
			c.Close(websocket.StatusPolicyViolation, truncate(err.Error(), 120))
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// websocketProtocols lists the subprotocols the client offers.
func websocketProtocols(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// sameOrigin reports whether the request's Origin is the page this daemon
// serves: same scheme-less host and port as the request's Host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme != "http" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
