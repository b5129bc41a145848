package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	sb "switchboard"
)

// Cache lifetimes. A revoked token stops working within tokenTTL; a verified
// Basic credential skips bcrypt for basicTTL (§1: no slow hash per request).
const (
	tokenTTL     = time.Second
	basicTTL     = 30 * time.Second
	maxCacheSize = 10000
)

// HashToken is how API tokens are stored and looked up: tokens are random
// and long, so a fast hash is enough (a slow one would only cost latency).
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashPassword is how partner passwords are stored.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// authenticator turns an Authorization header into a Caller.
type authenticator struct {
	store sb.Store
	mu    sync.Mutex
	cache map[string]cachedCaller // by credential digest
}

type cachedCaller struct {
	caller  sb.Caller
	expires time.Time
}

func newAuthenticator(store sb.Store) *authenticator {
	return &authenticator{store: store, cache: map[string]cachedCaller{}}
}

// authenticate returns the caller and a digest that names the credential
// (for caches and rate limits; it reveals nothing of the secret).
func (a *authenticator) authenticate(ctx context.Context, header string) (sb.Caller, string, error) {
	if header == "" {
		return sb.Caller{}, "", errNoCredentials
	}
	scheme, credential, _ := strings.Cut(header, " ")
	credential = strings.TrimSpace(credential)
	switch {
	case strings.EqualFold(scheme, "Bearer") && credential != "":
		key := "t:" + HashToken(credential)
		c, err := a.bearer(ctx, key)
		return c, key, err
	case strings.EqualFold(scheme, "Basic") && credential != "":
		raw, err := base64.StdEncoding.DecodeString(credential)
		if err != nil {
			return sb.Caller{}, "", errBadCredentials
		}
		sum := sha256.Sum256(raw)
		key := "b:" + hex.EncodeToString(sum[:])
		c, err := a.basic(ctx, key, string(raw))
		return c, key, err
	}
	return sb.Caller{}, "", errBadCredentials
}

func (a *authenticator) bearer(ctx context.Context, key string) (sb.Caller, error) {
	if c, ok := a.cached(key); ok {
		return c, nil
	}
	c, err := a.store.TokenCaller(ctx, strings.TrimPrefix(key, "t:"))
	if errors.Is(err, sb.ErrNoCredential) {
		return c, errBadCredentials
	}
	if err != nil {
		return c, err
	}
	a.remember(key, c, tokenTTL)
	return c, nil
}

func (a *authenticator) basic(ctx context.Context, key, loginPassword string) (sb.Caller, error) {
	login, password, ok := strings.Cut(loginPassword, ":")
	if !ok || login == "" {
		return sb.Caller{}, errBadCredentials
	}
	if c, ok := a.cached(key); ok {
		return c, nil
	}
	p, hash, err := a.store.PartnerByLogin(ctx, login)
	if errors.Is(err, sb.ErrNoCredential) {
		return sb.Caller{}, errBadCredentials
	}
	if err != nil {
		return sb.Caller{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return sb.Caller{}, errBadCredentials
	}
	c := sb.Caller{PartnerSID: p.PartnerSID, PartnerName: p.Name, Scopes: p.Scopes}
	a.remember(key, c, basicTTL)
	return c, nil
}

func (a *authenticator) cached(key string) (sb.Caller, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[key]
	if !ok || time.Now().After(c.expires) {
		return sb.Caller{}, false
	}
	return c.caller, true
}

func (a *authenticator) remember(key string, c sb.Caller, ttl time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= maxCacheSize {
		clear(a.cache) // crude but bounded; entries live for seconds anyway
	}
	a.cache[key] = cachedCaller{caller: c, expires: time.Now().Add(ttl)}
}
