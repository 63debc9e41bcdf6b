package obs

import (
	"encoding/json"
	"net/http"
)

// Paths of the endpoints.
const (
	PathLive    = "/healthz"
	PathReady   = "/readyz"
	PathMetrics = "/metrics"
)

// Handler serves /healthz, /readyz and /metrics (when m is not nil), and
// 404 for anything else. It does no authentication: serve it on a
// loopback address of its own (the relay's --metrics), or mount its parts
// behind a check of your own (the daemon mounts Routes on its API).
func Handler(m *Metrics, h *Health) http.Handler {
	mux := http.NewServeMux()
	for path, handler := range Routes(m, h) {
		mux.Handle(path, handler)
	}
	return mux
}

// Routes returns the endpoints by path, for mounting on another server:
// /healthz and /readyz, and /metrics when m is not nil.
func Routes(m *Metrics, h *Health) map[string]http.Handler {
	out := map[string]http.Handler{
		PathLive:  h.LiveHandler(),
		PathReady: h.ReadyHandler(),
	}
	if m != nil {
		out[PathMetrics] = getOnly(m.Handler())
	}
	return out
}

// LiveHandler answers 200 {"status":"ok"} to GET and HEAD: the process is
// serving.
func (h *Health) LiveHandler() http.Handler {
	return getOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": StatusOK})
	}))
}

// ReadyHandler runs every check and answers with the Report as JSON: 200
// when all passed, 503 otherwise.
func (h *Health) ReadyHandler() http.Handler {
	return getOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := h.Check(r.Context())
		code := http.StatusOK
		if !rep.Healthy() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, rep)
	}))
}

func getOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " is not allowed here (use GET)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"status": StatusUnhealthy, "error": "obs: encoding the report: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
