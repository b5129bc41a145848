// Package httpapi serves the CarrierX Endpoints API over HTTP with the
// standard library's router: routes.go is the route table, errors.go the one
// place where errors become CarrierX error bodies.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	sb "switchboard"
)

// Server holds what the handlers need.
type Server struct {
	Store sb.Store
	// PublicURL is the scheme and host clients reach the API at (for
	// pagination links and api_url); empty: taken from each request.
	PublicURL string
	Logger    *slog.Logger
	// Ready reports why writes cannot succeed now (for /readyz, which then
	// answers 503), or nil; it should log the reason. nil: always ready.
	Ready func(r *http.Request) error
	// AccessLog writes one log line per request.
	AccessLog bool
	// Registry receives the HTTP metrics and is served at /metrics; nil: a
	// new one.
	Registry *prometheus.Registry
	// RateLimit is the requests per second each credential may make, with
	// bursts of RateBurst (0: no limit; burst 0: the rate rounded up).
	RateLimit float64
	RateBurst int
	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// client, for the limits on failed sign-ins; empty: the client is the
	// connection's peer, whatever the header says.
	TrustedProxies []netip.Prefix
	// Reset, when set, serves POST /core/v2/reset (serve --allow-reset):
	// it puts a partner's endpoints back to their known state (the
	// fixtures' or none) and says how many it created and deleted. nil:
	// the route does not exist.
	Reset func(ctx context.Context, partnerSID, publicURL string) (created, deleted int, err error)

	auth     *authenticator
	metrics  *httpMetrics
	limiters *limiters
}

// Handler returns the complete HTTP handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	s.PublicURL = strings.TrimSuffix(s.PublicURL, "/")
	s.auth = newAuthenticator(s.Store)
	s.metrics = newHTTPMetrics(s.Registry)
	s.limiters = newLimiters(s.RateLimit, s.RateBurst)
	return s.observe(s.recoverPanics(s.routes()))
}

// baseURL is the scheme and host of absolute URLs in answers (§6).
func (s *Server) baseURL(r *http.Request) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// recoverPanics answers 500 (and logs) instead of dropping the connection
// when a handler panics; no client input should get here.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.internalError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// authenticated wraps an API handler with authentication and the
// credential's rate limit.
func (s *Server) authenticated(h func(w http.ResponseWriter, r *http.Request, c sb.Caller) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, key, err := s.auth.authenticate(r.Context(), r.Header.Get("Authorization"), s.clientAddr(r))
		if err == nil {
			infoOf(r.Context()).partnerSID = c.PartnerSID
			if ok, wait := s.limiters.allow(key); !ok {
				err = &retryLater{errTooManyRequests, wait}
			} else {
				err = h(w, r, c)
			}
		}
		if err != nil {
			if err == errNoCredentials || err == errBadCredentials {
				w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			}
			s.writeError(w, r, err)
		}
	}
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{
			Errors:  []errorEntry{{Message: r.Method + " is not allowed here; allowed: " + allow}},
			Message: "method not allowed",
		})
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) { s.writeError(w, r, errNoRoute) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// errNotReady does not say why: the reason (a file path, a database
// error) is for the operator's log, which Ready writes.
var errNotReady = &apiError{http.StatusServiceUnavailable, "service unavailable", "the server cannot take writes now; retry shortly"}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		if err := s.Ready(r); err != nil {
			w.Header().Set("Retry-After", "1")
			s.writeError(w, r, errNotReady)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// linkURL is an absolute URL of the collection with these query arguments.
func (s *Server) linkURL(r *http.Request, q url.Values) string {
	return s.baseURL(r) + collectionPath + "?" + q.Encode()
}
