// Package credential is how partner credentials are made and checked: the
// hashes stored for API tokens and partner passwords, the rules a new login
// and password must meet, and a password checker that bounds how many slow
// hash comparisons run at once. Both the administration commands and the
// HTTP server use it; it knows nothing of either.
package credential

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost of stored partner passwords.
const PasswordCost = bcrypt.DefaultCost

// MinPasswordLength is the fewest characters a partner password may have.
// bcrypt reads at most MaxPasswordBytes bytes, so longer ones are refused
// rather than silently cut.
const (
	MinPasswordLength = 12
	MaxPasswordBytes  = 72
)

// HashToken is how API tokens are stored and looked up: tokens are random
// UUIDs (122 random bits), so a fast hash is enough and a slow one would
// only add latency to every request.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashPassword is how partner passwords are stored.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	return string(h), err
}

// CheckLogin tells why login cannot be a Basic login, or nil: HTTP Basic
// sends "login:password", so a login cannot hold a colon.
func CheckLogin(login string) error {
	switch {
	case login == "":
		return errors.New("the login is empty")
	case strings.Contains(login, ":"):
		return errors.New("a login cannot contain ':' (HTTP Basic separates login and password with it)")
	case !utf8.ValidString(login) || strings.ContainsFunc(login, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("a login must be valid UTF-8 without control characters")
	}
	return nil
}

// CheckPassword tells why password is too weak or too long to store, or nil.
func CheckPassword(password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("a password needs at least %d characters", MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("a password can have at most %d bytes (bcrypt ignores the rest)", MaxPasswordBytes)
	}
	return nil
}

// dummyHash is compared against when a login is unknown, so that an unknown
// login costs what a wrong password costs (no way to tell which logins
// exist). It has PasswordCost, as a test checks; no outcome of comparing
// against it is ever taken as a match.
const dummyHash = "$2a$10$Dz/FBUcbjxnOl8VCknTF7.Z8tL1OvUW0q774Hi6nbofVfj6xsfFvK"

var (
	// ErrMismatch: the password is not the one stored, or the login is unknown.
	ErrMismatch = errors.New("password mismatch")
	// ErrBusy: every comparison slot stayed taken for the checker's wait.
	ErrBusy = errors.New("too many password checks at once")
)

// Checker compares passwords with stored hashes, at most a fixed number at
// once: bcrypt is meant to be slow, so unbounded, a flood of wrong passwords
// would take every core from the requests of other partners.
type Checker struct {
	slots chan struct{}
	wait  time.Duration
	// Compare is the comparison; nil means bcrypt's. Tests replace it to
	// count or hold comparisons.
	Compare  func(hash, password []byte) error
	compares atomic.Int64
}

// DefaultSlots is half the cores the process may use, at least one: the
// other half keeps serving requests that need no password check.
func DefaultSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// DefaultWait is how long a check waits for a slot before ErrBusy: a few
// comparisons' time, so that a short burst of sign-ins queues instead of
// failing, and a flood fails fast.
const DefaultWait = 200 * time.Millisecond

// NewChecker runs at most slots comparisons at once, each waiting at most
// wait for its turn.
func NewChecker(slots int, wait time.Duration) *Checker {
	return &Checker{slots: make(chan struct{}, max(1, slots)), wait: wait}
}

// Check compares password with hash; hash "" stands for an unknown login and
// costs one comparison all the same. It returns nil on a match, ErrMismatch,
// ErrBusy, or the context's error when ctx ends while waiting.
func (c *Checker) Check(ctx context.Context, hash, password string) error {
	timer := time.NewTimer(c.wait)
	defer timer.Stop()
	select {
	case c.slots <- struct{}{}:
	case <-timer.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slots }()
	known := hash != ""
	if !known {
		hash = dummyHash
	}
	compare := c.Compare
	if compare == nil {
		compare = bcrypt.CompareHashAndPassword
	}
	c.compares.Add(1)
	if err := compare([]byte(hash), []byte(password)); err != nil || !known {
		return ErrMismatch
	}
	return nil
}

// Compares is how many comparisons the checker has run.
func (c *Checker) Compares() int64 { return c.compares.Load() }
