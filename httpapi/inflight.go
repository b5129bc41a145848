package httpapi

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// inFlight bounds each credential's share of the server, so that one
// partner's flood leaves the others' latency normal: a credential has at
// most max requests in flight (past it, 429 with Retry-After), and at most
// running of them run at once; the others wait their turn, in order,
// without using the CPU or the database. Only credentials with requests in
// flight have an entry, so its size is bounded by the requests being
// served.
//
// A change feed request waits ahead of the credential's other requests
// (after the feed requests already waiting): a follower's next poll is
// then not held up by the very writes it follows. Only the credential's
// own requests wait longer for it, and the feed's requests are bounded by
// --max-streams too.
type inFlight struct {
	max, running int
	mu           sync.Mutex
	byKey        map[string]*credentialLoad
}

type credentialLoad struct {
	inFlight, running int
	// waiting: first come, first run, the feed's requests (the first
	// ahead of them) before the others.
	waiting []chan struct{}
	ahead   int
}

// DefaultRunning is how many requests of one credential run at once unless
// set: one per CPU (at least 2), enough to keep the CPUs busy for one
// client, few enough that a flood of one credential's requests leaves them
// to others' too (BENCHMARKS.md has the figures).
func DefaultRunning() int { return max(2, runtime.GOMAXPROCS(0)) }

// newInFlight caps each credential at maxInFlight requests in flight,
// running of them at once (0: the default); maxInFlight 0 turns both off.
func newInFlight(maxInFlight, running int) *inFlight {
	if maxInFlight <= 0 {
		return nil
	}
	if running <= 0 {
		running = DefaultRunning()
	}
	return &inFlight{max: maxInFlight, running: min(running, maxInFlight), byKey: map[string]*credentialLoad{}}
}

// acquire admits a request of the credential: ok is false when the
// credential already has max requests in flight. Otherwise the request
// waits until it may run (or ctx ends: err), and must call release when it
// is done. A feed request (feed) waits ahead of the others.
func (f *inFlight) acquire(ctx context.Context, key string, feed bool) (release func(), ok bool, err error) {
	if f == nil {
		return func() {}, true, nil
	}
	f.mu.Lock()
	l := f.byKey[key]
	if l == nil {
		l = &credentialLoad{}
		f.byKey[key] = l
	}
	if l.inFlight >= f.max {
		f.mu.Unlock()
		return nil, false, nil
	}
	l.inFlight++
	release = func() { f.release(key, l) }
	if l.running < f.running {
		l.running++
		f.mu.Unlock()
		return release, true, nil
	}
	turn := make(chan struct{})
	if feed {
		l.waiting = slices.Insert(l.waiting, l.ahead, turn)
		l.ahead++
	} else {
		l.waiting = append(l.waiting, turn)
	}
	f.mu.Unlock()
	select {
	case <-turn:
		return release, true, nil
	case <-ctx.Done():
		f.mu.Lock()
		if i := slices.Index(l.waiting, turn); i >= 0 {
			l.waiting = slices.Delete(l.waiting, i, i+1)
			if i < l.ahead {
				l.ahead--
			}
			l.inFlight--
			f.forget(key, l)
			f.mu.Unlock()
		} else { // its turn came meanwhile: pass it on
			f.mu.Unlock()
			release()
		}
		return nil, true, ctx.Err()
	}
}

// release ends a running request, handing its turn to the next waiting one.
func (f *inFlight) release(key string, l *credentialLoad) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l.inFlight--
	if len(l.waiting) > 0 {
		close(l.waiting[0])
		l.waiting = l.waiting[1:]
		l.ahead = max(0, l.ahead-1)
	} else {
		l.running--
	}
	f.forget(key, l)
}

func (f *inFlight) forget(key string, l *credentialLoad) {
	if l.inFlight == 0 {
		delete(f.byKey, key)
	}
}
