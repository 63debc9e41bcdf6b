package ui

import (
	"context"
	"net/http"
	"time"

	"weft/api"
)

// HistoryBackend is what the history routes need (issue 13): a
// document's sessions, its text, diff and blame at a version, and a
// restore. Versions are crdt's printable frontier or an RFC 3339 time; a
// bad one is api.ErrBadInput. replica.Manager has it; a Backend without
// it answers these routes 501.
type HistoryBackend interface {
	History(ctx context.Context, id string, since time.Time) (api.History, error)
	TextAt(ctx context.Context, id, at, since string) (api.TextAt, error)
	Diff(ctx context.Context, id, from, to string) (api.Diff, error)
	Blame(ctx context.Context, id, at string) (api.Blame, error)
	Restore(ctx context.Context, id, to string) (api.Restored, error)
}

// historyRoutes adds the history routes (the text route at a version is
// s.text's, with ?at=).
func (s *Server) historyRoutes(handle func(string, handler)) {
	handle("GET /api/docs/{id}/history", s.history)
	handle("GET /api/docs/{id}/diff", s.diff)
	handle("GET /api/docs/{id}/blame", s.blame)
	handle("POST /api/docs/{id}/restore", s.restore)
}

func (s *Server) historyBackend() (HistoryBackend, error) {
	hb, ok := s.backend.(HistoryBackend)
	if !ok {
		return nil, errorf(http.StatusNotImplemented, kindInternal, "ui: this daemon keeps no history API")
	}
	return hb, nil
}

// historyOf returns the document a history route names and the backend
// that answers it.
func (s *Server) historyOf(r *http.Request) (string, HistoryBackend, error) {
	id, err := docID(r)
	if err != nil {
		return "", nil, err
	}
	hb, err := s.historyBackend()
	return id, hb, err
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) error {
	id, hb, err := s.historyOf(r)
	if err != nil {
		return err
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return badRequest("since=%q is not an RFC 3339 time", v)
		}
	}
	h, err := hb.History(r.Context(), id, since)
	if err != nil {
		return err
	}
	if h.Sessions == nil {
		h.Sessions = []api.HistorySession{}
	}
	writeJSON(w, s.log, http.StatusOK, h)
	return nil
}

// textAt answers GET /api/docs/{id}/text?at=VERSION|TIME[&since=VERSION]
// in JSON.
func (s *Server) textAt(w http.ResponseWriter, r *http.Request, id string) error {
	hb, err := s.historyBackend()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("at") == "" {
		return badRequest("at= needs a version or an RFC 3339 time")
	}
	t, err := hb.TextAt(r.Context(), id, q.Get("at"), q.Get("since"))
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, t)
	return nil
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) error {
	id, hb, err := s.historyOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("from") == "" {
		return badRequest("from= needs a version or an RFC 3339 time")
	}
	d, err := hb.Diff(r.Context(), id, q.Get("from"), q.Get("to"))
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, d)
	return nil
}

func (s *Server) blame(w http.ResponseWriter, r *http.Request) error {
	id, hb, err := s.historyOf(r)
	if err != nil {
		return err
	}
	b, err := hb.Blame(r.Context(), id, r.URL.Query().Get("at"))
	if err != nil {
		return err
	}
	if b.Lines == nil {
		b.Lines = []api.BlameLine{}
	}
	writeJSON(w, s.log, http.StatusOK, b)
	return nil
}

func (s *Server) restore(w http.ResponseWriter, r *http.Request) error {
	id, hb, err := s.historyOf(r)
	if err != nil {
		return err
	}
	var b api.RestoreRequest
	if err := s.readJSON(w, r, &b, false); err != nil {
		return err
	}
	if b.To == "" {
		return badRequest(`body needs "to": a version or an RFC 3339 time`)
	}
	res, err := hb.Restore(r.Context(), id, b.To)
	if err != nil {
		return err
	}
	writeJSON(w, s.log, http.StatusOK, res)
	return nil
}
