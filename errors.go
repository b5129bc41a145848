package switchboard

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrorKind classifies a domain error; the HTTP layer maps each kind to one
// status code and CarrierX message.
type ErrorKind int

const (
	KindInvalid    ErrorKind = iota + 1 // 422 object validation error
	KindBadRequest                      // 400 bad request
	KindNotFound                        // 404 not found
	KindConflict                        // 409 conflict error
	KindForbidden                       // 403 forbidden
	KindGone                            // 410 gone (the change feed's pruned changes)
)

// FieldError is one entry of a CarrierX error body. Field and ReferenceSID
// are written as null when empty.
type FieldError struct {
	Field        string
	Message      string
	ReferenceSID string
}

// Error is a failure a client caused and can fix. Its messages never hold
// values the client sent (they may be secrets).
type Error struct {
	Kind   ErrorKind
	Errors []FieldError
}

func (e *Error) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("switchboard error (kind %d)", e.Kind)
	}
	f := e.Errors[0]
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

// ErrDuplicateIP is the §5 conflict: another endpoint that skips SIP
// authentication holds one of the addresses.
var ErrDuplicateIP = &Error{Kind: KindConflict, Errors: []FieldError{{Message: "duplicate ip for auth_required=false"}}}

// NotFound is the answer for an endpoint SID the caller cannot see, whether
// it does not exist or belongs to another partner.
func NotFound(sid string) error {
	return &Error{Kind: KindNotFound, Errors: []FieldError{{Field: "endpoint_sid", Message: "endpoint not found", ReferenceSID: sid}}}
}

// Forbidden is a refusal that no request body can fix.
func Forbidden(message string) error {
	return &Error{Kind: KindForbidden, Errors: []FieldError{{Message: message}}}
}

// BadRequest is a malformed request (query argument, JSON).
func BadRequest(field, message string) error {
	return &Error{Kind: KindBadRequest, Errors: []FieldError{{Field: field, Message: message}}}
}

// ErrorKindOf returns the kind of a domain error, or 0 for any other error.
func ErrorKindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// problems collects the validation errors of one request, one per field:
// CarrierX reports every offending field at once.
type problems struct {
	byField map[string]string
}

func (p *problems) add(field, message string) {
	if p.byField == nil {
		p.byField = map[string]string{}
	}
	if _, seen := p.byField[field]; !seen {
		p.byField[field] = message
	}
}

// has reports whether field, or anything nested under it, has a problem.
func (p *problems) has(field string) bool {
	for f := range p.byField {
		if f == field || strings.HasPrefix(f, field+".") || strings.HasPrefix(f, field+"[") {
			return true
		}
	}
	return false
}

// err returns the collected problems as one 422 error (fields in
// alphabetical order, so answers are stable), or nil.
func (p *problems) err() error {
	if len(p.byField) == 0 {
		return nil
	}
	out := &Error{Kind: KindInvalid}
	for f, m := range p.byField {
		out.Errors = append(out.Errors, FieldError{Field: f, Message: m})
	}
	sort.Slice(out.Errors, func(i, j int) bool { return out.Errors[i].Field < out.Errors[j].Field })
	return out
}
