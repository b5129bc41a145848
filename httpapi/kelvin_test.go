package httpapi

import (
	"net/url"
	"strings"
	"testing"
)

// The Kelvin sign (U+212A) is no spelling of "k" in a host name: create
// refuses it (422, as any non-ASCII host), and a filter with it finds no
// endpoint, while the ASCII spellings of the stored name find it: the
// filter and validation share one canonicaliser.
func TestKelvinSignHost(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"third_party","name":"kelvin","addresses":[{"ip":"\u212aexample.com"}]}`)
	if r.status != 422 || !strings.Contains(r.body, `"field":"addresses[0].ip"`) {
		t.Fatalf("create with the Kelvin sign: %d %s, want 422 on addresses[0].ip", r.status, r.body)
	}
	f.create(f.admin, `{"type":"third_party","name":"k","addresses":[{"ip":"KEXAMPLE.com"}]}`)
	for _, c := range []struct {
		ip    string
		total string
	}{{"\u212aexample.com", `"total":0`}, {"kexample.com", `"total":1`}, {"KExample.COM.", `"total":1`}} {
		q := url.QueryEscape(`addresses.ip eq "` + c.ip + `"`)
		r := f.do("GET", "/core/v2/endpoints?filter="+q, f.admin, "")
		if r.status != 200 || !strings.Contains(r.body, c.total) {
			t.Errorf("filter on %q: %d %s, want %s", c.ip, r.status, r.body, c.total)
		}
	}
}
