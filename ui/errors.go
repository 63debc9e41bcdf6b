package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"weft/api"
)

// Errors the API answers with, wrapped with details; clients see their
// messages in the "error" field and the kinds below in "code".
var (
	ErrBadRequest   = errors.New("ui: bad request")
	ErrUnauthorized = errors.New("ui: unauthorized")
	ErrForbidden    = errors.New("ui: forbidden")
	ErrNotFound     = errors.New("ui: no such route")
	ErrMethod       = errors.New("ui: method not allowed")
	ErrTooLarge     = errors.New("ui: request too large")
	ErrMediaType    = errors.New("ui: unsupported media type")
)

// Error kinds: the "code" field of an error reply, stable for clients.
const (
	kindBadInput     = "bad_input"
	kindUnauthorized = "unauthorized"
	kindForbidden    = "forbidden"
	kindUnknownDoc   = "unknown_doc"
	kindNeedInvite   = "need_invite"
	kindNotFound     = "not_found"
	kindMethod       = "method_not_allowed"
	kindTooLarge     = "too_large"
	kindMediaType    = "unsupported_media_type"
	kindClosed       = "closed"
	kindInternal     = "internal"
)

// ErrorReply is the body of every error response.
type ErrorReply struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Applied is set by the edits route: how many edits were applied (and
	// stay applied) before the one that failed.
	Applied *int `json:"applied,omitempty"`
}

// apiError is an error with the status and kind it is answered with.
type apiError struct {
	status  int
	kind    string
	err     error
	applied *int
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func errorf(status int, kind, format string, args ...any) *apiError {
	return &apiError{status: status, kind: kind, err: fmt.Errorf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, kindBadInput, "%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// classify maps an error (ours or the Backend's) to its status and kind.
func classify(err error) (int, string) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.kind
	case errors.Is(err, api.ErrUnknownDoc):
		return http.StatusNotFound, kindUnknownDoc
	case errors.Is(err, api.ErrForbidden):
		return http.StatusForbidden, kindForbidden
	case errors.Is(err, api.ErrNeedInvite):
		return http.StatusBadRequest, kindNeedInvite
	case errors.Is(err, api.ErrBadInput):
		return http.StatusBadRequest, kindBadInput
	case errors.Is(err, api.ErrClosed):
		return http.StatusServiceUnavailable, kindClosed
	default:
		return http.StatusInternalServerError, kindInternal
	}
}

func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	status, kind := classify(err)
	reply := ErrorReply{Error: err.Error(), Code: kind}
	var ae *apiError
	if errors.As(err, &ae) {
		reply.Applied = ae.applied
	}
	switch {
	case status < 500:
		log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		log.Debug("request cancelled", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, log, status, reply)
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.Error("encoding a reply", "err", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorReply{Error: "ui: encoding the reply: " + err.Error(), Code: kindInternal})
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
