package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
)

// Conditional requests (extensions.md §2). An endpoint's ETag is a hash of
// its JSON as GET answers it without view arguments: every change to the
// stored endpoint changes that JSON, and an update that stores what was
// there keeps it, so the tag needs no column and no counter. It names the
// stored endpoint, not one view of it: a GET with include_fields carries the
// same tag, which is what a client sends back in If-Match.

var errPreconditionFailed = &apiError{http.StatusPreconditionFailed, "precondition failed", "the endpoint was changed since it was read"}

// etagOf is the strong entity tag of an endpoint's JSON.
func etagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// writeEndpoint answers one endpoint's JSON with its ETag.
func writeEndpoint(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("ETag", etagOf(data))
	writeJSONBytes(w, status, data)
}

// condition is the list of entity tags of an If-Match or If-None-Match
// header ("*": any).
type condition struct {
	any  bool
	tags []string
}

// parseCondition reads the header name; nil when the request has none. A
// list that names no tag matches nothing.
func parseCondition(h http.Header, name string) *condition {
	values := h.Values(name)
	if len(values) == 0 {
		return nil
	}
	c := &condition{}
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			switch t = strings.TrimSpace(t); t {
			case "*":
				c.any = true
			case "":
			default:
				c.tags = append(c.tags, t)
			}
		}
	}
	return c
}

// matchesStrong is If-Match's comparison: a weak tag never matches.
func (c *condition) matchesStrong(etag string) bool {
	return c.any || slices.Contains(c.tags, etag)
}

// matchesWeak is If-None-Match's comparison: W/ is ignored.
func (c *condition) matchesWeak(etag string) bool {
	return c.any || slices.ContainsFunc(c.tags, func(t string) bool { return strings.TrimPrefix(t, "W/") == etag })
}

// ifMatch is the precondition a write's If-Match sets, checked by the store
// on the endpoint as it is, in the write's transaction with the endpoint
// locked, so that comparing and writing are one step; nil without the
// header.
func ifMatch(r *http.Request) func(cur *sb.Endpoint) error {
	c := parseCondition(r.Header, "If-Match")
	if c == nil {
		return nil
	}
	return func(cur *sb.Endpoint) error {
		if c.any {
			return nil // the endpoint exists: the store found it
		}
		data, err := marshal(cur)
		if err != nil {
			return err
		}
		if !c.matchesStrong(etagOf(data)) {
			return errPreconditionFailed
		}
		return nil
	}
}

// notModified reports whether a GET's If-None-Match matches etag.
func notModified(r *http.Request, etag string) bool {
	c := parseCondition(r.Header, "If-None-Match")
	return c != nil && c.matchesWeak(etag)
}
