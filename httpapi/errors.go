package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// errorBody is the CarrierX error shape (§8), keys in alphabetical order.
type errorBody struct {
	Errors  []errorEntry `json:"errors"`
	Message string       `json:"message"`
}

type errorEntry struct {
	Field        *string `json:"field"`
	Message      string  `json:"message"`
	ReferenceSID *string `json:"reference_sid"`
}

// apiError is a failure found by the HTTP layer itself (authentication,
// routing, media type, body size, JSON syntax).
type apiError struct {
	status  int
	message string
	detail  string
}

func (e *apiError) Error() string { return e.message + ": " + e.detail }

// retryLater is an apiError answered with a Retry-After header (429, 503).
type retryLater struct {
	*apiError
	wait time.Duration
}

func (e *retryLater) Unwrap() error { return e.apiError }

var (
	errNoCredentials  = &apiError{http.StatusUnauthorized, "unauthorized", "credentials are required (Authorization: Bearer or Basic)"}
	errBadCredentials = &apiError{http.StatusUnauthorized, "bad credentials", "bad credentials"}
	errNoRoute        = &apiError{http.StatusNotFound, "not found", "no such resource"}
	errMediaType      = &apiError{http.StatusUnsupportedMediaType, "unsupported media type", "the body must be sent as Content-Type: application/json"}
	errTooLarge       = &apiError{http.StatusRequestEntityTooLarge, "request entity too large", "the body is larger than 1 MiB"}
	errNoJSONObject   = &apiError{http.StatusBadRequest, "bad request", "no JSON object could be decoded"}
	errHeaderTooLarge = &apiError{http.StatusRequestHeaderFieldsTooLarge, "request header fields too large",
		"the request line and headers are larger than " + strconv.Itoa(MaxHeaderBytes>>10) + " KiB"}
	errTooManyInFlight = &apiError{http.StatusTooManyRequests, "too many requests",
		"this credential has as many requests in flight as it may; retry after the time in Retry-After"}
	errStatementTimeout = &apiError{http.StatusServiceUnavailable, "service unavailable",
		"the query took longer than the server allows; narrow the filter or retry later"}
)

// kindStatus maps each domain error kind to its status and CarrierX message.
var kindStatus = map[sb.ErrorKind]struct {
	status  int
	message string
}{
	sb.KindInvalid:    {http.StatusUnprocessableEntity, "object validation error"},
	sb.KindBadRequest: {http.StatusBadRequest, "bad request"},
	sb.KindNotFound:   {http.StatusNotFound, "not found"},
	sb.KindConflict:   {http.StatusConflict, "conflict error"},
	sb.KindForbidden:  {http.StatusForbidden, "forbidden"},
	sb.KindGone:       {http.StatusGone, "gone"},
}

// An error answer stays small whatever the request held: a 1 MiB body of
// unknown keys is one error per key, and a path SID can be as long as the
// request line.
const (
	// maxListedErrors is how many field errors an answer lists; past it a
	// final entry (field null) says how many there were.
	maxListedErrors = 100
	// maxEchoedSID is how many characters of a SID the client sent are
	// written back in reference_sid.
	maxEchoedSID = 64
)

// cut returns s up to its first n characters.
func cut(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// writeError is the one place that turns an error into a CarrierX error
// response (every error body of the API, the Gate's included, is written
// here). Anything that is not a client's error is logged and answered 500
// without details.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if errors.Is(err, sb.ErrStatementTimeout) {
		log.LogAttrs(r.Context(), slog.LevelWarn, "statement timeout", slog.String("method", methodLabel(r.Method)), slog.String("route", r.Pattern))
	}
	status, body, ok := clientError(err)
	if !ok {
		internalError(w, r, log, err)
		return
	}
	if later := (*retryLater)(nil); errors.As(err, &later) {
		w.Header().Set("Retry-After", retryAfter(later.wait))
	}
	writeJSON(w, status, body)
}

// clientError is the status and body of a client's error; false for any
// other error (answered 500).
func clientError(err error) (int, errorBody, bool) {
	var body errorBody
	var status int
	if errors.Is(err, sb.ErrStatementTimeout) {
		err = errStatementTimeout
	}
	var domainErr *sb.Error
	var httpErr *apiError
	switch {
	case errors.As(err, &domainErr):
		ks, known := kindStatus[domainErr.Kind]
		if !known {
			return 0, body, false
		}
		status, body.Message = ks.status, ks.message
		listed := domainErr.Errors[:min(len(domainErr.Errors), maxListedErrors)]
		for _, fe := range listed {
			body.Errors = append(body.Errors, errorEntry{Field: nullable(fe.Field), Message: fe.Message, ReferenceSID: nullable(cut(fe.ReferenceSID, maxEchoedSID))})
		}
		if n := len(domainErr.Errors); n > len(listed) {
			body.Errors = append(body.Errors, errorEntry{Message: fmt.Sprintf("%d errors in all; only the first %d are listed", n, len(listed))})
		}
	case errors.As(err, &httpErr):
		status, body.Message = httpErr.status, httpErr.message
		body.Errors = []errorEntry{{Message: httpErr.detail}}
	default:
		return 0, body, false
	}
	if body.Errors == nil {
		body.Errors = []errorEntry{}
	}
	return status, body, true
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.Logger, err)
}

// statusClientClosed is what the metrics and the access log record for a
// request whose client went away before the answer (nginx's 499); the
// client never sees it.
const statusClientClosed = 499

func internalError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		log.LogAttrs(r.Context(), slog.LevelInfo, "client went away", slog.String("method", methodLabel(r.Method)), slog.String("route", r.Pattern))
		w.WriteHeader(statusClientClosed)
		return
	}
	log.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", methodLabel(r.Method)),
		slog.String("route", r.Pattern), slog.String("error", err.Error()))
	writeJSON(w, http.StatusInternalServerError, errorBody{
		Errors:  []errorEntry{{Message: "internal server error"}},
		Message: "internal server error",
	})
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	internalError(w, r, s.Logger, err)
}

// answerCut is the error of an answer that failed after its status and
// part of its body were sent: nothing can be answered any more, and the
// handler aborts the response so that the client cannot take what it got
// for a whole answer.
type answerCut struct{ err error }

func (e *answerCut) Error() string { return "answer cut off: " + e.err.Error() }

// cutAnswer records and logs the real outcome of an answer cut off after
// sent items: 499 when the client went away (or stopped reading), 500 when
// the server failed.
func (s *Server) cutAnswer(r *http.Request, err error, clientGone bool, sent int) error {
	info := infoOf(r.Context())
	if clientGone || r.Context().Err() != nil {
		info.outcome = statusClientClosed
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "client went away", slog.String("method", methodLabel(r.Method)),
			slog.String("route", r.Pattern), slog.Int("items_sent", sent))
	} else {
		info.outcome = http.StatusInternalServerError
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("method", methodLabel(r.Method)),
			slog.String("route", r.Pattern), slog.String("error", err.Error()), slog.Int("items_sent", sent))
	}
	return &answerCut{err}
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
