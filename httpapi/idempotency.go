package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	sb "github.com/switchboard-sip/switchboard"
)

// Idempotent retries of POST /core/v2/endpoints (extensions.md §3).

const (
	idempotencyKeyHeader = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
	maxIdempotencyKey    = 255
	// keyInFlightRetryAfter is the Retry-After of the 409 for a key whose
	// first request is still running.
	keyInFlightRetryAfter = "1"
)

var errBadIdempotencyKey = sb.BadRequest(idempotencyKeyHeader, "Idempotency-Key must be 1 to 255 characters of A-Z a-z 0-9 _ - : .")

// idempotencyKey returns the request's key; present is false without the
// header. An empty header, a second one or another syntax is a 400.
func idempotencyKey(r *http.Request) (key string, present bool, err error) {
	values, present := r.Header[http.CanonicalHeaderKey(idempotencyKeyHeader)]
	if !present {
		return "", false, nil
	}
	if len(values) != 1 || !validIdempotencyKey(values[0]) {
		return "", true, errBadIdempotencyKey
	}
	return values[0], true, nil
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > maxIdempotencyKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == ':', c == '.':
		default:
			return false
		}
	}
	return true
}

// createOnce is the create of a request with a key. The body has passed
// the media type, size and JSON syntax checks: those answers are not
// recorded (the same bytes get the same answer again anyway).
func (s *Server) createOnce(w http.ResponseWriter, r *http.Request, c sb.Caller, key string, body sb.Body) error {
	// The fingerprint is the decoded body encoded again: maps encode in
	// key order and without whitespace, so neither changes it.
	canonical, err := marshal(body)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(canonical)
	e, invalid := sb.NewEndpoint(c, body, sb.NewEndpointParams{PublicURL: s.baseURL(r)})
	if invalid != nil {
		e = nil
	}
	ans, replayed, err := s.Store.CreateEndpointOnce(r.Context(), sb.IdempotentCreate{
		PartnerSID:  c.PartnerSID,
		Key:         key,
		RequestHash: hex.EncodeToString(sum[:]),
		Now:         s.Now(),
		Endpoint:    e,
		Err:         invalid,
		Answer:      recordedAnswer,
	})
	if errors.Is(err, sb.ErrKeyInFlight) {
		// The first request's transaction lasts milliseconds: the header
		// tells a generic client that this 409, unlike a taken address's,
		// is worth retrying, and when (whole seconds, so 1).
		w.Header().Set("Retry-After", keyInFlightRetryAfter)
	}
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set(replayedHeader, "true")
	}
	if ans.Status/100 == 2 {
		writeEndpoint(w, ans.Status, ans.Body)
		return nil
	}
	writeJSONBytes(w, ans.Status, ans.Body)
	return nil
}

// recordedStatuses are the answers kept under a key; the others (401, 403,
// 429, 5xx) may be retried with the key.
var recordedStatuses = map[int]bool{http.StatusBadRequest: true, http.StatusConflict: true, http.StatusUnprocessableEntity: true}

// recordedAnswer renders a create's outcome as the answer to keep under its
// key, exactly as it is answered.
func recordedAnswer(e *sb.Endpoint, err error) (sb.Answer, bool) {
	if err == nil {
		data, err := marshal(e)
		return sb.Answer{Status: http.StatusOK, Body: data}, err == nil
	}
	status, body, ok := clientError(err)
	if !ok || !recordedStatuses[status] {
		return sb.Answer{}, false
	}
	data, err := marshal(body)
	return sb.Answer{Status: status, Body: data}, err == nil
}
