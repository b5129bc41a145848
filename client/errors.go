package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors: an *Error matches the one of its status with errors.Is.
var (
	ErrBadRequest   = errors.New("bad request")             // 400: a malformed request or query argument (filter, order, cursor)
	ErrUnauthorized = errors.New("unauthorized")            // 401: no credentials, or wrong or revoked ones
	ErrForbidden    = errors.New("forbidden")               // 403: the credential lacks the scope; a system_gateway change
	ErrNotFound     = errors.New("not found")               // 404: no such endpoint, or another partner's
	ErrConflict     = errors.New("conflict")                // 409: an auth_required=false endpoint already holds that ip and port
	ErrValidation   = errors.New("object validation error") // 422: see Error.Errors for the fields
	ErrRateLimited  = errors.New("too many requests")       // 429: see Error.RetryAfter
)

var statusErrors = map[int]error{
	http.StatusBadRequest:          ErrBadRequest,
	http.StatusUnauthorized:        ErrUnauthorized,
	http.StatusForbidden:           ErrForbidden,
	http.StatusNotFound:            ErrNotFound,
	http.StatusConflict:            ErrConflict,
	http.StatusUnprocessableEntity: ErrValidation,
	http.StatusTooManyRequests:     ErrRateLimited,
}

// Error is an answer that is not a success, read from its CarrierX error
// body ({"errors":[{"field":…,"message":…,"reference_sid":…}],"message":…}).
type Error struct {
	StatusCode int
	// Message is the body's message, e.g. "object validation error"
	// (the status text when the body is not a CarrierX error).
	Message string
	// Errors are the body's entries, one per offending field for a 422.
	Errors []FieldError
	// RetryAfter is how long a 429 asks to wait.
	RetryAfter time.Duration
	// RequestID is the answer's X-Request-Id, which the server logs.
	RequestID string
}

// FieldError is one entry of an error body. Field is "" when the body has
// null, e.g. for a conflict; nested fields are named like
// "addresses[0].ip" or "attributes.region".
type FieldError struct {
	Field        string
	Message      string
	ReferenceSID string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "carrierx: %d %s", e.StatusCode, e.Message)
	for i, fe := range e.Errors {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		if fe.Field != "" {
			b.WriteString(fe.Field + ": ")
		}
		b.WriteString(fe.Message)
	}
	return b.String()
}

// Is reports whether target is the sentinel error of e's status.
func (e *Error) Is(target error) bool {
	s, ok := statusErrors[e.StatusCode]
	return ok && s == target
}

// Field returns the message of the entry for field, or "" when there is
// none.
func (e *Error) Field(field string) string {
	for _, fe := range e.Errors {
		if fe.Field == field {
			return fe.Message
		}
	}
	return ""
}
