package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	sb "github.com/switchboard-sip/switchboard"
)

// queryArgNames are the query arguments some route reads.
var queryArgNames = []string{"after", "before", "exclude_fields", "excludeFields", "filter", "include_fields", "includeFields",
	"limit", "nested_objects", "offset", "order", "since", "wait", "with_related"}

// queryArgs parses the query string of a request. r.URL.Query() silently
// drops a pair it cannot parse (one holding a raw ';', a bad %-escape): a
// list would then run without the filter the client meant, and answer other
// data as if it were the filtered page. This refuses the request instead.
func queryArgs(r *http.Request) (url.Values, error) {
	args, err := url.ParseQuery(r.URL.RawQuery)
	if err == nil {
		return args, nil
	}
	// Name the argument when it is one the server reads; never echo a value
	// or an unknown name (either may be long, or a secret).
	for _, pair := range strings.Split(r.URL.RawQuery, "&") {
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, keyErr := url.QueryUnescape(rawKey)
		_, valueErr := url.QueryUnescape(rawValue)
		field := ""
		if keyErr == nil && !strings.Contains(rawKey, ";") && slices.Contains(queryArgNames, key) {
			field = key
		}
		switch {
		case strings.Contains(pair, ";"):
			return nil, sb.BadRequest(field, "the query string holds a raw ';': separate arguments with '&' and write a ';' inside a value as %3B")
		case keyErr != nil || valueErr != nil:
			return nil, sb.BadRequest(field, "the query string holds a bad %-escape: write a '%' inside a value as %25")
		}
	}
	return nil, sb.BadRequest("", "the query string cannot be parsed")
}
