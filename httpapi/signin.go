package httpapi

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
)

// Failed Basic sign-ins allowed before checks stop (429): a login may fail
// loginBurst times, then once per loginEvery; a client address clientBurst
// times, then once per clientEvery. Enough for a person mistyping and for
// clients retrying with a stale password, far too few to guess one.
const (
	loginBurst     = 10
	loginEvery     = 6 * time.Second
	clientBurst    = 30
	clientEvery    = 2 * time.Second
	maxFailureKeys = 10000 // per kind: logins, addresses
)

// signInLimits counts failed Basic sign-ins per login (whether it exists or
// not, so that a limit reached tells nothing about which logins exist) and
// per client address.
type signInLimits struct {
	byLogin  *failureBuckets[[sha256.Size]byte]
	byClient *failureBuckets[netip.Addr]
}

func newSignInLimits() *signInLimits {
	return &signInLimits{
		byLogin:  newFailureBuckets[[sha256.Size]byte](loginBurst, loginEvery, maxFailureKeys),
		byClient: newFailureBuckets[netip.Addr](clientBurst, clientEvery, maxFailureKeys),
	}
}

// signInAttempt is a failure counted in advance; cancel takes it back when
// the attempt turns out not to have failed.
type signInAttempt struct {
	limits        *signInLimits
	login, client *bucket
	cancelled     bool
}

// begin counts a failure for login and client before the password is
// checked, so that concurrent attempts cannot overshoot the limits. It
// returns nil and how long to wait when either limit is reached.
func (s *signInLimits) begin(login string, client netip.Addr) (*signInAttempt, time.Duration) {
	c, wait := s.byClient.take(clientKey(client))
	if c == nil {
		return nil, wait
	}
	// Logins are kept as digests: a login may be as long as a header.
	l, wait := s.byLogin.take(sha256.Sum256([]byte(login)))
	if l == nil {
		s.byClient.give(c)
		return nil, wait
	}
	return &signInAttempt{limits: s, login: l, client: c}, 0
}

func (a *signInAttempt) cancel() {
	if !a.cancelled {
		a.cancelled = true
		a.limits.byLogin.give(a.login)
		a.limits.byClient.give(a.client)
	}
}

// clientKey is what failures from addr count against: the address itself
// for IPv4, its /64 for IPv6 (one host commonly has a whole /64).
func clientKey(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().Addr()
	}
	return addr
}

// failureBuckets is a token bucket per key, holding only keys with recent
// failures and at most maxKeys of them, so that callers sending random
// logins from random addresses cannot grow it: when it is full, buckets that
// have filled up again are dropped (at most once per refill interval), and
// if it is still full, new keys share one bucket.
type failureBuckets[K comparable] struct {
	burst   float64
	every   time.Duration
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	byKey   map[K]*bucket
	shared  *bucket
	sweptAt time.Time
}

type bucket struct {
	tokens float64 // failures still allowed at `at`
	at     time.Time
}

func newFailureBuckets[K comparable](burst int, every time.Duration, maxKeys int) *failureBuckets[K] {
	return &failureBuckets[K]{burst: float64(burst), every: every, maxKeys: maxKeys, now: time.Now,
		byKey: map[K]*bucket{}, shared: &bucket{tokens: float64(burst)}}
}

// level is b's tokens at now, refilled since it was last touched.
func (f *failureBuckets[K]) level(b *bucket, now time.Time) float64 {
	return min(f.burst, b.tokens+float64(now.Sub(b.at))/float64(f.every))
}

// take takes one failure from k's bucket and returns the bucket, or nil and
// the time until the bucket holds one.
func (f *failureBuckets[K]) take(k K) (*bucket, time.Duration) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.bucketFor(k, now)
	b.tokens, b.at = f.level(b, now), now
	if b.tokens < 1 {
		return nil, time.Duration((1 - b.tokens) * float64(f.every))
	}
	b.tokens--
	return b, 0
}

func (f *failureBuckets[K]) bucketFor(k K, now time.Time) *bucket {
	if b := f.byKey[k]; b != nil {
		return b
	}
	if len(f.byKey) >= f.maxKeys && now.Sub(f.sweptAt) >= f.every {
		f.sweptAt = now
		for key, b := range f.byKey {
			if f.level(b, now) >= f.burst {
				delete(f.byKey, key) // a full bucket is the same as none
			}
		}
	}
	if len(f.byKey) >= f.maxKeys {
		return f.shared
	}
	b := &bucket{tokens: f.burst, at: now}
	f.byKey[k] = b
	return b
}

// give returns a failure taken from b.
func (f *failureBuckets[K]) give(b *bucket) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b.tokens = min(f.burst, b.tokens+1)
}

func (f *failureBuckets[K]) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.byKey)
}
