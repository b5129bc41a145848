package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// readyTTL is how long one readiness check answers for: a flood of
// /readyz costs the database one check (a few stats and a ping) per TTL.
const readyTTL = time.Second

// readyTimeout bounds one check, so that /readyz answers while the
// database hangs.
const readyTimeout = 2 * time.Second

var errDraining = errors.New("shutting down")

// readiness answers /readyz: can writes succeed now? It runs check at most
// once per ttl (callers meanwhile get the last answer, or wait for the one
// being made) and logs each change between ready and not.
type readiness struct {
	check  func(ctx context.Context) error
	ttl    time.Duration
	now    func() time.Time
	logger *slog.Logger

	draining atomic.Bool

	mu      sync.Mutex
	checked time.Time // zero: never
	last    error
}

func newReadiness(check func(ctx context.Context) error, logger *slog.Logger) *readiness {
	return &readiness{check: check, ttl: readyTTL, now: time.Now, logger: logger}
}

// ready reports why the server should not get traffic, or nil.
func (r *readiness) ready() error {
	if r.draining.Load() {
		return errDraining
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && r.now().Sub(r.checked) < r.ttl {
		return r.last
	}
	// Not the request's context: a client that hangs up must not leave a
	// "context canceled" answer in the cache.
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	err := r.check(ctx)
	cancel()
	switch {
	case err != nil && (r.last == nil || r.last.Error() != err.Error()):
		r.logger.Warn("not ready: writes cannot succeed", "error", err.Error())
	case err == nil && r.last != nil:
		r.logger.Info("ready again")
	}
	r.checked, r.last = r.now(), err
	return err
}

// drain makes /readyz answer 503 from now on, so that load balancers stop
// sending requests to a server that is shutting down.
func (r *readiness) drain() { r.draining.Store(true) }

// inFlight counts the requests being handled, so that shutdown can wait for
// their handlers to return before it closes the database.
type inFlight struct {
	next http.Handler
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0 while someone waits
}

func (f *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.n--; f.n == 0 && f.idle != nil {
			close(f.idle)
			f.idle = nil
		}
		f.mu.Unlock()
	}()
	f.next.ServeHTTP(w, r)
}

// count is the number of requests being handled.
func (f *inFlight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// wait returns true once no request is being handled, or false when
// timeout passes first.
func (f *inFlight) wait(timeout time.Duration) bool {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return true
	}
	if f.idle == nil {
		f.idle = make(chan struct{})
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return true
	case <-time.After(timeout):
		return false
	}
}
