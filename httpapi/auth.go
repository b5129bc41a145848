package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
)

// freshFor is how long what the database said of a credential is believed:
// a revoked token, a disabled partner or a changed password stop working on
// every server within it. A verified Basic credential stays verified while
// the partner's stored hash is unchanged, so rechecking it every freshFor is
// one indexed look-up, never another bcrypt.
const (
	freshFor     = time.Second
	maxCacheSize = 10000
)

// authenticator turns an Authorization header into a Caller.
type authenticator struct {
	store     sb.Store
	passwords *credential.Checker
	failures  *signInLimits
	mu        sync.Mutex
	cache     map[string]cachedCaller // by credential digest
}

type cachedCaller struct {
	caller sb.Caller
	fresh  time.Time // used without asking the database until then
	hash   string    // Basic: the stored password hash the password matched
}

func newAuthenticator(store sb.Store) *authenticator {
	return &authenticator{
		store:     store,
		passwords: credential.NewChecker(credential.DefaultSlots(), credential.DefaultWait),
		failures:  newSignInLimits(),
		cache:     map[string]cachedCaller{},
	}
}

var (
	errTooManyFailures = &apiError{http.StatusTooManyRequests, "too many requests", "too many failed sign-ins for this login or from this address; retry after the time in Retry-After"}
	errPasswordsBusy   = &apiError{http.StatusServiceUnavailable, "service unavailable", "too many password checks at once; retry shortly"}
)

// authenticate returns the caller and a digest that names the credential
// (for caches and rate limits; it reveals nothing of the secret). client is
// the address failed Basic sign-ins are counted against.
func (a *authenticator) authenticate(ctx context.Context, header string, client netip.Addr) (sb.Caller, string, error) {
	if header == "" {
		return sb.Caller{}, "", errNoCredentials
	}
	scheme, credentials, _ := strings.Cut(header, " ")
	credentials = strings.TrimSpace(credentials)
	switch {
	case strings.EqualFold(scheme, "Bearer") && credentials != "":
		key := "t:" + credential.HashToken(credentials)
		c, err := a.bearer(ctx, key)
		return c, key, err
	case strings.EqualFold(scheme, "Basic") && credentials != "":
		raw, err := base64.StdEncoding.DecodeString(credentials)
		if err != nil {
			return sb.Caller{}, "", errBadCredentials
		}
		sum := sha256.Sum256(raw)
		key := "b:" + hex.EncodeToString(sum[:])
		login, password, ok := strings.Cut(string(raw), ":")
		if !ok || login == "" {
			return sb.Caller{}, "", errBadCredentials
		}
		c, err := a.basic(ctx, key, login, password, client)
		return c, key, err
	}
	return sb.Caller{}, "", errBadCredentials
}

func (a *authenticator) bearer(ctx context.Context, key string) (sb.Caller, error) {
	if c, ok := a.cached(key); ok && time.Now().Before(c.fresh) {
		return c.caller, nil
	}
	asked := time.Now() // what the database answers is true from here on, not from when it answered
	c, err := a.store.TokenCaller(ctx, strings.TrimPrefix(key, "t:"))
	if errors.Is(err, sb.ErrNoCredential) {
		a.forget(key) // revoked, or its partner disabled
		return c, errBadCredentials
	}
	if err != nil {
		return c, err
	}
	a.remember(key, cachedCaller{caller: c, fresh: asked.Add(freshFor)})
	return c, nil
}

func (a *authenticator) basic(ctx context.Context, key, login, password string, client netip.Addr) (sb.Caller, error) {
	if c, ok := a.cached(key); ok {
		if time.Now().Before(c.fresh) {
			return c.caller, nil
		}
		// The password matched c.hash; while the partner is enabled and
		// still has that hash, it still matches.
		asked := time.Now()
		p, hash, err := a.store.PartnerByLogin(ctx, login)
		if err != nil && !errors.Is(err, sb.ErrNoCredential) {
			return sb.Caller{}, err
		}
		if err == nil && p.PartnerSID == c.caller.PartnerSID && hash == c.hash {
			c = cachedCaller{caller: callerOf(p), fresh: asked.Add(freshFor), hash: hash}
			a.remember(key, c)
			return c.caller, nil
		}
		a.forget(key)
	}
	return a.verify(ctx, key, login, password, client)
}

// verify checks a Basic password that is not known to be right. Every
// outcome but the database failing costs one bcrypt comparison (an unknown
// login is compared against a dummy hash), so that the time of an answer
// does not tell which logins exist; a failure counts against the login and
// the client address, and once either has failed too often, checks stop
// (429) before any comparison.
func (a *authenticator) verify(ctx context.Context, key, login, password string, client netip.Addr) (sb.Caller, error) {
	attempt, wait := a.failures.begin(login, client)
	if attempt == nil {
		return sb.Caller{}, &retryLater{errTooManyFailures, wait}
	}
	asked := time.Now()
	p, hash, err := a.store.PartnerByLogin(ctx, login)
	if err != nil && !errors.Is(err, sb.ErrNoCredential) {
		attempt.cancel()
		return sb.Caller{}, err
	}
	switch err := a.passwords.Check(ctx, hash, password); {
	case errors.Is(err, credential.ErrMismatch):
		return sb.Caller{}, errBadCredentials // the attempt stays counted
	case errors.Is(err, credential.ErrBusy):
		attempt.cancel()
		return sb.Caller{}, &retryLater{errPasswordsBusy, time.Second}
	case err != nil:
		attempt.cancel()
		return sb.Caller{}, err
	}
	attempt.cancel() // a right password is no failure
	c := callerOf(p)
	a.remember(key, cachedCaller{caller: c, fresh: asked.Add(freshFor), hash: hash})
	return c, nil
}

func callerOf(p sb.Partner) sb.Caller {
	return sb.Caller{PartnerSID: p.PartnerSID, PartnerName: p.Name, Scopes: p.Scopes}
}

func (a *authenticator) cached(key string) (cachedCaller, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[key]
	return c, ok
}

// remember caches a credential that authenticated; only those are cached,
// so a caller without one cannot fill the cache.
func (a *authenticator) remember(key string, c cachedCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.cache[key]; !ok && len(a.cache) >= maxCacheSize {
		clear(a.cache) // crude but bounded; entries are rechecked every second anyway
	}
	a.cache[key] = c
}

func (a *authenticator) forget(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.cache, key)
}
