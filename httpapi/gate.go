package httpapi

import (
	"log/slog"
	"net/http"
	"sync/atomic"
)

// Gate is the process's handler while the database may still be coming up:
// /healthz answers 200 (the process lives), everything else 503 until Open
// hands it the API handler.
type Gate struct {
	api atomic.Pointer[http.Handler]
}

var errStarting = &apiError{http.StatusServiceUnavailable, "service unavailable", "the database is not reachable yet; retry shortly"}

// Open starts passing every request to api.
func (g *Gate) Open(api http.Handler) { g.api.Store(&api) }

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if api := g.api.Load(); api != nil {
		(*api).ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/healthz" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	w.Header().Set("Retry-After", "1")
	writeError(w, r, slog.Default(), errStarting)
}
