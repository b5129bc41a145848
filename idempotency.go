package switchboard

import (
	"errors"
	"time"
)

// IdempotencyWindow is how long a key's first answer is replayed
// (extensions.md §3); after it the key is new again.
const IdempotencyWindow = 24 * time.Hour

// Answer is an HTTP answer as it was first given, kept to be replayed.
type Answer struct {
	Status int
	Body   []byte
}

// IdempotentCreate is a create under an Idempotency-Key: the store looks the
// key up, and only when it is new (or expired) creates Endpoint and records
// the answer, in one transaction.
type IdempotentCreate struct {
	PartnerSID string
	Key        string
	// RequestHash fingerprints the request; the same key with another
	// fingerprint is ErrKeyReused.
	RequestHash string
	// Now is the request's time (the window counts from the first one's).
	Now time.Time
	// Endpoint is the endpoint to create; nil when the request failed before
	// the store (Err says why), whose answer is then recorded alone.
	Endpoint *Endpoint
	Err      error
	// Answer renders the outcome, the endpoint created or the error, as the
	// answer to record; false: the outcome is not recorded (the error may
	// not recur, so the key stays free for a retry) and the store returns
	// the error.
	Answer func(e *Endpoint, err error) (Answer, bool)
}

var (
	// ErrKeyReused: the key's first request had another body.
	ErrKeyReused = &Error{Kind: KindInvalid, Errors: []FieldError{{Field: "Idempotency-Key", Message: "this key was used with a different request"}}}
	// ErrKeyInFlight: the key's first request is still running.
	ErrKeyInFlight = &Error{Kind: KindConflict, Errors: []FieldError{{Field: "Idempotency-Key", Message: "a request with this key is in progress"}}}
)

// RetryLogins runs insert on e, generating a new login while the one it has
// is taken (hosted endpoints' logins are unique across the server).
func RetryLogins(e *Endpoint, insert func(e *Endpoint) error) error {
	for attempt := 1; ; attempt++ {
		err := insert(e)
		if !errors.Is(err, ErrLoginTaken) || attempt > 6 {
			return err
		}
		e.Properties["login"] = ptr(NewLogin(e.Name, attempt))
	}
}
