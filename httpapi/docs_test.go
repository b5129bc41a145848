package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/credential"
)

// GET / says where the API, its reference and the OpenAPI document are,
// without credentials: JSON for programs, links for a browser.
func TestRootSaysWhereThingsAre(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/", "", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(r.body), &info); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"api": f.srv.URL + "/core/v2/endpoints", "docs": f.srv.URL + "/core/v2/docs",
		"openapi": f.srv.URL + "/core/v2/openapi.json", "health": f.srv.URL + "/healthz",
	} {
		if info[key] != want {
			t.Errorf("GET / %s = %q, want %q", key, info[key], want)
		}
		if key != "api" {
			if g := f.do("GET", strings.TrimPrefix(want, f.srv.URL), "", ""); g.status != 200 {
				t.Errorf("GET %s (from GET /): %d", want, g.status)
			}
		}
	}
	html := f.do("GET", "/", "", "", "Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	if html.status != 200 || !strings.HasPrefix(html.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(html.body, `href="`+f.srv.URL+`/core/v2/docs"`) {
		t.Fatalf("GET / from a browser: %d %s %s", html.status, html.header.Get("Content-Type"), html.body)
	}
	// "/" is that path alone: others are still 404 in the CarrierX shape.
	if nf := f.do("GET", "/nope", "", ""); nf.status != 404 || !strings.Contains(nf.body, `"errors"`) {
		t.Fatalf("GET /nope: %d %s", nf.status, nf.body)
	}
}

// The reference page and every file it names are served by the server
// itself, under a policy that lets the page load nothing from elsewhere.
func TestDocsPageAndAssets(t *testing.T) {
	f := newFixture(t)
	page := f.do("GET", "/core/v2/docs", "", "")
	if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /core/v2/docs: %d %s", page.status, page.header.Get("Content-Type"))
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("the page must be limited to this server's files, policy %q", csp)
	}
	var assets []string
	for _, part := range strings.Split(page.body, `"`)[1:] {
		if strings.HasPrefix(part, "docs/") {
			assets = append(assets, part)
		}
	}
	if len(assets) < 3 || strings.Contains(page.body, "http://") || strings.Contains(page.body, "https://") {
		t.Fatalf("the page must name its assets by relative paths only: %v\n%s", assets, page.body)
	}
	for _, a := range assets {
		plain := f.do("GET", "/core/v2/"+a, "", "", "Accept-Encoding", "identity")
		zipped := f.do("GET", "/core/v2/"+a, "", "", "Accept-Encoding", "gzip, deflate")
		if plain.status != 200 || zipped.status != 200 || len(plain.body) == 0 {
			t.Fatalf("GET /core/v2/%s: %d / %d", a, plain.status, zipped.status)
		}
		if plain.header.Get("Content-Encoding") != "" {
			t.Errorf("%s: Content-Encoding %q for a client that did not ask for gzip", a, plain.header.Get("Content-Encoding"))
		}
		if zipped.header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(zipped.body))
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			unzipped, _ := io.ReadAll(zr)
			if !bytes.Equal(unzipped, []byte(plain.body)) {
				t.Errorf("%s: the gzip and plain answers differ", a)
			}
		}
		if strings.HasSuffix(a, ".js") && !strings.HasPrefix(plain.header.Get("Content-Type"), "text/javascript") {
			t.Errorf("%s: Content-Type %q", a, plain.header.Get("Content-Type"))
		}
	}
	if init := f.do("GET", "/core/v2/docs/init.js", "", ""); !strings.Contains(init.body, `url: "openapi.json"`) {
		t.Errorf("init.js must load the server's own document: %s", init.body)
	}
	for _, bad := range []string{"/core/v2/docs/nope.js", "/core/v2/docs/..%2fopenapi.go", "/core/v2/docs/embed.go"} {
		if r := f.do("GET", bad, "", ""); r.status != 404 || !strings.Contains(r.body, `"errors"`) {
			t.Errorf("GET %s: %d %s", bad, r.status, r.body)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "gzip, deflate, br": true, "br;q=1.0, gzip;q=0.8": true,
		"gzip;q=0": false, "GZIP": true, "identity": false, "deflate, gzip ; q=0.000": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// POST /core/v2/reset exists only on a server given a Reset function: 404
// (like any unknown path) otherwise. With it, only endpoints.manage may
// reset, and the caller's own partner is the one reset.
func TestResetRouteOnlyWhenEnabled(t *testing.T) {
	f := newFixture(t)
	if r := f.do("POST", "/core/v2/reset", f.admin, ""); r.status != 404 || !strings.Contains(r.body, `"not found"`) {
		t.Fatalf("POST /core/v2/reset without Reset: %d %s", r.status, r.body)
	}
	var resetFor []string
	api := &Server{Store: f.store, Reset: func(_ context.Context, partnerSID, publicURL string) (int, int, error) {
		resetFor = append(resetFor, partnerSID)
		if publicURL != f.srv.URL {
			t.Errorf("reset got base URL %q, want %q", publicURL, f.srv.URL)
		}
		return 2, 5, nil
	}}
	f.srv.Config.Handler = api.Handler()
	admin, err := f.store.TokenCaller(context.Background(), credential.HashToken(strings.TrimPrefix(f.admin, "Bearer ")))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, auth string
		status       int
		body         string
	}{
		{"POST", "", 401, `"unauthorized"`},
		{"POST", f.reader, 403, `requires the scope endpoints.manage`},
		{"GET", f.admin, 405, `allowed: POST`},
		{"POST", f.admin, 200, `{"endpoints_created":2,"endpoints_deleted":5,"partner_sid":"` + admin.PartnerSID + `"}`},
		{"POST", f.basic, 200, `"partner_sid":"` + admin.PartnerSID + `"`},
	}
	for _, c := range cases {
		r := f.do(c.method, "/core/v2/reset", c.auth, "")
		if r.status != c.status || !strings.Contains(r.body, c.body) {
			t.Errorf("%s /core/v2/reset: %d %s, want %d with %s", c.method, r.status, r.body, c.status, c.body)
		}
	}
	if len(resetFor) != 2 || resetFor[0] != admin.PartnerSID || resetFor[1] != admin.PartnerSID {
		t.Fatalf("reset ran for %v, want the caller's partner twice", resetFor)
	}
}
