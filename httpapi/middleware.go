package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestInfo is what the handlers learn about a request that the access
// log and the metrics report afterwards.
type requestInfo struct {
	partnerSID string
	// outcome, when set, is the status to record instead of the one sent:
	// an answer cut off after its 200 went out (cutAnswer).
	outcome int
	// credential is the caller's key in the per-credential limits;
	// leaveGate gives up its place among the requests in flight early (a
	// change feed follower that waits).
	credential string
	leaveGate  func()
}

type infoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	if i, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

// Unwrap lets http.ResponseController reach the connection (the change
// stream flushes and sets its own write deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// httpMetrics are the request metrics, by route pattern and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_http_requests_total", Help: "HTTP requests answered, by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchboard_http_request_duration_seconds", Help: "Time to answer HTTP requests, by method, route pattern and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route", "status"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the collector already registered in its
// place (a second handler on the same registry shares the metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			if existing, ok := dup.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// observe wraps the router: it gives every request an id (the client's own
// X-Request-Id when it sends a sensible one), then writes one access-log
// line and the metrics. It never logs a body, a header, a query string or
// the raw path, so no token, password or filter value can reach the logs;
// the method is one of a fixed set (methodLabel), so no client can grow the
// metrics' series.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		rec := &recorder{ResponseWriter: w}
		// Deferred, so that an aborted answer (a panic with
		// http.ErrAbortHandler) is recorded too.
		defer func() {
			elapsed := time.Since(start)
			route := r.Pattern // set by the router on this request
			if route == "" || route == "/" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if info.outcome != 0 {
				status = info.outcome
			}
			method, code := methodLabel(r.Method), strconv.Itoa(status)
			s.metrics.requests.WithLabelValues(method, route, code).Inc()
			s.metrics.duration.WithLabelValues(method, route, code).Observe(elapsed.Seconds())
			if !s.AccessLog {
				return
			}
			s.AccessLogger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", method), slog.String("route", route), slog.Int("status", status),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), slog.Int("bytes", rec.bytes),
				slog.String("request_id", id), slog.String("partner_sid", info.partnerSID))
		}()
		next.ServeHTTP(rec, r)
	})
}

// methodLabel is the method as metrics and logs name it: one of the
// standard methods, or OTHER.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// MaxHeaderBytes caps a request's line and headers: past it the answer is
// 431 with the CarrierX body. HardMaxHeaderBytes, for http.Server's
// MaxHeaderBytes, is the bound net/http enforces while reading, before any
// handler runs (its own plain-text 431, then the connection is closed); it
// is above MaxHeaderBytes so that the usual over-cap request gets the API's
// answer, and bounds what one connection can make the server hold.
const (
	MaxHeaderBytes     = 64 << 10
	HardMaxHeaderBytes = 2 * MaxHeaderBytes
)

// limitHeaders answers 431 to a request whose line and headers are over
// MaxHeaderBytes.
func (s *Server) limitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerBytes(r) > MaxHeaderBytes {
			w.Header().Set("Connection", "close")
			s.writeError(w, r, errHeaderTooLarge)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerBytes is about the size of the request line and headers as sent:
// "METHOD URI PROTO\r\n", "Host: ...\r\n" (net/http moves it out of
// Header) and "Name: value\r\n" for each header value.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	n += len("Host: ") + len(r.Host) + 2
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	return n
}

// validRequestID accepts a client's id of up to 128 visible ASCII characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
