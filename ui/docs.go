package ui

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"weft/api"
)

// DocsBackend is what the document routes of issue 13 need besides a
// Backend: import, export, delete and the change feed. The replica
// manager satisfies it; a Backend without it answers these routes 404
// not_found, as if they did not exist.
type DocsBackend interface {
	// Export returns a document's text exactly; at names a version
	// ("" for now).
	Export(ctx context.Context, id, at string) (string, error)
	// Import makes a document titled title of the UTF-8 text r gives, and
	// leaves none behind when it fails.
	Import(ctx context.Context, title string, r io.Reader) (api.DocInfo, error)
	// DeleteDoc deletes a document from this device (and asks its relays
	// to drop it when this device may).
	DeleteDoc(ctx context.Context, id string) (api.DeleteResult, error)
	// Events starts a change feed from the version since ("": now). The
	// channel is closed when the feed ends; ctx ending ends it.
	Events(ctx context.Context, id, since string) (<-chan api.DocEvent, error)
}

// Bounds of the document routes.
const (
	// MaxImportBytes bounds an imported text (as the replica does).
	MaxImportBytes = 64 << 20
	// maxVersionLen bounds a version in a query or Last-Event-ID.
	maxVersionLen = 64 << 10
	// eventsKeepAlive is how often an idle change feed sends a comment,
	// so that proxies and clients see the connection alive.
	eventsKeepAlive = 15 * time.Second
)

// ConfirmDelete is the value DELETE /api/docs/{id} wants in ?confirm=:
// the document's ID again, so that a stray request deletes nothing.
func ConfirmDelete(id string) string { return id }

func (s *Server) docsRoutes(handle func(string, handler)) {
	handle("GET /api/docs/{id}/export", s.export)
	handle("POST /api/docs/import", s.importDoc)
	handle("DELETE /api/docs/{id}", s.deleteDoc)
	handle("GET /api/docs/{id}/events", s.events)
	handle("GET /api/openapi.yaml", s.openAPISpec) // openapi.go
}

func (s *Server) docsBackend() (DocsBackend, error) {
	b, ok := s.backend.(DocsBackend)
	if !ok {
		return nil, errorf(http.StatusNotFound, kindNotFound, "%w: this daemon has no document import, export, delete or events", ErrNotFound)
	}
	return b, nil
}

// checkVersion checks a version's form as far as ui can: printable, one
// line, bounded. The Backend parses it.
func checkVersion(what, v string) error {
	switch {
	case len(v) > maxVersionLen:
		return badRequest("%s of %d bytes; at most %d", what, len(v), maxVersionLen)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
		return badRequest("%s %s is not a version", what, quoteShort(v))
	}
	return nil
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	at := r.URL.Query().Get("at")
	if err := checkVersion("at", at); err != nil {
		return err
	}
	b, err := s.docsBackend()
	if err != nil {
		return err
	}
	text, err := b.Export(r.Context(), id, at)
	if err != nil {
		return err
	}
	name := id + ".txt"
	if info, err := s.backend.DocStatus(r.Context(), id); err == nil && info.Title != "" {
		name = info.Title + ".txt"
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, text)
	return nil
}

func (s *Server) importDoc(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		okType := err == nil && (mt == "text/plain" || mt == "application/octet-stream")
		if cs := params["charset"]; okType && cs != "" && !strings.EqualFold(cs, "utf-8") {
			okType = false
		}
		if !okType {
			return errorf(http.StatusUnsupportedMediaType, kindMediaType, "%w: Content-Type %q; send text/plain; charset=utf-8", ErrMediaType, ct)
		}
	}
	title := r.URL.Query().Get("title")
	if err := checkTitle(title); err != nil {
		return err
	}
	if r.ContentLength > MaxImportBytes {
		return errorf(http.StatusRequestEntityTooLarge, kindTooLarge, "%w: a text of %d bytes; at most %d", ErrTooLarge, r.ContentLength, MaxImportBytes)
	}
	b, err := s.docsBackend()
	if err != nil {
		return err
	}
	info, err := b.Import(r.Context(), title, http.MaxBytesReader(w, r.Body, MaxImportBytes))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/docs/"+info.ID)
	writeJSON(w, s.log, http.StatusCreated, info)
	return nil
}

func (s *Server) deleteDoc(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	if c := r.URL.Query().Get("confirm"); c != ConfirmDelete(id) {
		return badRequest("deleting a document needs ?confirm= its ID (%s)", id)
	}
	b, err := s.docsBackend()
	if err != nil {
		return err
	}
	res, err := b.DeleteDoc(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, res)
	return nil
}

// events serves a document's change feed as server-sent events: "patch",
// "title" and "reset" events whose id is the version after them, and a
// final "end" event when the daemon ends the feed.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	id, err := docID(r)
	if err != nil {
		return err
	}
	since := r.URL.Query().Get("since")
	if since == "" {
		since = r.Header.Get("Last-Event-ID")
	}
	if err := checkVersion("since", since); err != nil {
		return err
	}
	b, err := s.docsBackend()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch, err := b.Events(ctx, id, since)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil // the client is gone
	}
	tick := time.NewTicker(eventsKeepAlive)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			if err := writeEvent(w, e); err != nil {
				return nil
			}
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}

// writeEvent writes one event in the text/event-stream format: its JSON
// is one line.
func writeEvent(w io.Writer, e api.DocEvent) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	var sb strings.Builder
	if e.Version != "" && !strings.ContainsAny(e.Version, "\r\n") {
		sb.WriteString("id: " + e.Version + "\n")
	}
	sb.WriteString("event: " + e.Kind + "\ndata: ")
	sb.Write(data)
	sb.WriteString("\n\n")
	_, err = io.WriteString(w, sb.String())
	return err
}
