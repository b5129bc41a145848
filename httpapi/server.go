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
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sb "github.com/switchboard-sip/switchboard"
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
	// AccessLog writes one log line per request, to AccessLogger (nil:
	// Logger).
	AccessLog    bool
	AccessLogger *slog.Logger
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
	// MaxInFlight is how many requests one credential may have in flight at
	// once; past it, 429 (0: no cap). MaxRunning of them run at once, the
	// others wait their turn (0: DefaultRunning).
	MaxInFlight int
	MaxRunning  int
	// Now is the clock of idempotency keys' 24-hour window; nil: time.Now.
	Now func() time.Time

	// MaxStreams is how many change feed followers (SSE streams and long
	// polls waiting) one credential may have at once; past it, 429 (0:
	// DefaultMaxStreams). They do not count as requests in flight.
	MaxStreams int
	// KeepAlive is how often an idle change stream gets a comment (0:
	// DefaultKeepAlive); StreamWriteWindow how long a stream's reader may
	// take to accept an event before it is dropped (0:
	// DefaultStreamWriteWindow).
	KeepAlive, StreamWriteWindow time.Duration
	// Stopping, closed when the server begins to shut down, ends change
	// streams and long polls (nil: they end with their clients).
	Stopping <-chan struct{}

	// AnswerCacheBytes bounds the memory of GET's cache of encoded answers
	// (answers.go; 0: DefaultAnswerCacheBytes, below 0: no cache).
	AnswerCacheBytes int

	answers  *answerCache
	streams  *followers
	auth     *authenticator
	metrics  *httpMetrics
	limiters *limiters
	inFlight *inFlight
}

// Handler returns the complete HTTP handler. It leaves s as it is: each
// handler has its own caches and limits (sharing the metrics when they
// share a Registry).
func (s *Server) Handler() http.Handler {
	_, handler := s.handler()
	return handler
}

// handler returns the handler and the copy of s it serves with.
func (s *Server) handler() (*Server, http.Handler) {
	h := *s
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	if h.AccessLogger == nil {
		h.AccessLogger = h.Logger
	}
	if h.Now == nil {
		h.Now = time.Now
	}
	if h.Registry == nil {
		h.Registry = prometheus.NewRegistry()
	}
	h.PublicURL = strings.TrimSuffix(h.PublicURL, "/")
	h.auth = newAuthenticator(h.Store)
	h.metrics = newHTTPMetrics(h.Registry)
	h.limiters = newLimiters(h.RateLimit, h.RateBurst)
	h.inFlight = newInFlight(h.MaxInFlight, h.MaxRunning)
	h.streams = newFollowers(h.MaxStreams)
	h.answers = newAnswerCache(h.Store, h.AnswerCacheBytes)
	return &h, h.observe(h.limitHeaders(h.recoverPanics(h.routes())))
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

// authenticated wraps an API handler with authentication, the credential's
// rate limit and its cap on requests in flight.
func (s *Server) authenticated(h func(w http.ResponseWriter, r *http.Request, c sb.Caller) error) http.HandlerFunc {
	return s.gated(h, false)
}

// authenticatedFeed is authenticated for the change feed, whose requests
// wait their turn ahead of the credential's others (inFlight).
func (s *Server) authenticatedFeed(h func(w http.ResponseWriter, r *http.Request, c sb.Caller) error) http.HandlerFunc {
	return s.gated(h, true)
}

func (s *Server) gated(h func(w http.ResponseWriter, r *http.Request, c sb.Caller) error, feed bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, key, err := s.auth.authenticate(r.Context(), r.Header.Get("Authorization"), s.clientAddr(r))
		if err == nil {
			infoOf(r.Context()).partnerSID = c.PartnerSID
			err = s.admit(r, key, c, feed, func(c sb.Caller) error { return h(w, r, c) })
		}
		if err != nil {
			if err == errNoCredentials || err == errBadCredentials {
				w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			}
			s.writeError(w, r, err)
		}
	}
}

// admit runs h, in its turn among the credential's requests, unless the
// credential is over its rate limit or has as many requests in flight as it
// may (429 with Retry-After; a refused request does nothing).
func (s *Server) admit(r *http.Request, key string, c sb.Caller, feed bool, h func(c sb.Caller) error) error {
	if ok, wait := s.limiters.allow(key); !ok {
		return &retryLater{errTooManyRequests, wait}
	}
	release, ok, err := s.inFlight.acquire(r.Context(), key, feed)
	if !ok {
		return &retryLater{errTooManyInFlight, time.Second}
	}
	if err != nil {
		return err // the client went away while waiting its turn
	}
	release = sync.OnceFunc(release)
	defer release()
	info := infoOf(r.Context())
	info.credential, info.leaveGate = key, release
	return h(c)
}

// methodNotAllowed answers 405 on a known path; allow is the path's methods
// in the route table.
func (s *Server) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		method := "this method"
		if methodLabel(r.Method) != "OTHER" {
			method = r.Method // only a standard one is echoed back
		}
		s.writeError(w, r, &apiError{http.StatusMethodNotAllowed, "method not allowed", method + " is not allowed here; allowed: " + allow})
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
