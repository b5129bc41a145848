package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// GET by SID, and a plain list, answer from the cache of encoded answers
// only what the database holds now: every write made through a second,
// independent store handle on the same database (as the CLI or another
// server process would make it, with no signal to this one) is in the very
// next GET and list, with no wait. Each answer is byte for byte, ETag and
// revision included, what a server without the cache answers, and
// If-None-Match works on it.
func TestAnswerCacheSeesOtherProcessesWrites(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		if f.api.answers == nil {
			t.Fatal("the server has no answer cache")
		}
		other := sqlstoretest.Open(t, f.dsn) // its own pools, its own change signal
		ref := httptest.NewServer((&Server{Store: other, AnswerCacheBytes: -1}).Handler())
		t.Cleanup(ref.Close)
		get := func(base, path string, header ...string) response {
			t.Helper()
			req, _ := http.NewRequest("GET", base+path, nil)
			req.Header.Set("Authorization", f.admin)
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return response{resp.StatusCode, resp.Header, string(body)}
		}
		same := func(when, path string) response {
			t.Helper()
			cached, plain := get(f.srv.URL, path), get(ref.URL, path)
			plain.body = strings.ReplaceAll(plain.body, ref.URL, f.srv.URL) // the lists' links
			if cached.status != plain.status || cached.body != plain.body ||
				cached.header.Get("ETag") != plain.header.Get("ETag") || cached.header.Get(revisionHeader) != plain.header.Get(revisionHeader) {
				t.Fatalf("%s: cached %d %s ETag %s revision %s; without the cache %d %s ETag %s revision %s", when,
					cached.status, cached.body, cached.header.Get("ETag"), cached.header.Get(revisionHeader),
					plain.status, plain.body, plain.header.Get("ETag"), plain.header.Get(revisionHeader))
			}
			return cached
		}

		created := f.create(f.admin, `{"type":"third_party","name":"first","attributes":{"region":"eu"},"addresses":[{"ip":"10.9.9.9"}]}`)
		sid := created["endpoint_sid"].(string)
		partner := created["partner_sid"].(string)
		path := "/core/v2/endpoints/" + sid
		// The lists hold it and a neighbour kept by a GET and another read
		// by the list alone.
		f.create(f.admin, `{"type":"conference","name":"second","attributes":{"region":"eu"}}`)
		lists := []string{"/core/v2/endpoints", "/core/v2/endpoints?limit=2&offset=1",
			"/core/v2/endpoints?filter=" + url.QueryEscape(`attributes.region eq eu`), "/core/v2/endpoints?filter=" + url.QueryEscape(`name ne nothing`)}
		sameLists := func(when string) {
			t.Helper()
			for _, l := range lists {
				same(when+": "+l, l)
			}
		}
		same("after the create", path)
		sameLists("after the create")
		listed := f.store.listed.Load()
		sameLists("listed again")
		if f.store.listed.Load() != listed {
			t.Fatalf("lists again with nothing changed read %d endpoints whole: the cache did not answer them", f.store.listed.Load()-listed)
		}
		reads := f.store.reads.Load()
		first := same("read again", path)
		if f.store.reads.Load() != reads {
			t.Fatal("a second GET with nothing changed read the endpoint again: the cache did not answer it")
		}
		if r := get(f.srv.URL, path, "If-None-Match", first.header.Get("ETag")); r.status != http.StatusNotModified || r.header.Get("ETag") != first.header.Get("ETag") {
			t.Fatalf("If-None-Match of the current tag: %d ETag %q", r.status, r.header.Get("ETag"))
		}

		// The SID spelled in upper case has no entry of its own (the cache
		// keys canonical SIDs only) and is answered as without the cache.
		same("in upper case", "/core/v2/endpoints/"+strings.ToUpper(sid))

		// Rename it through the other handle, then read through this
		// server at once, many times over.
		tag := first.header.Get("ETag")
		for i := range 30 {
			name := fmt.Sprintf("renamed elsewhere %d", i)
			if _, err := other.UpdateEndpoint(context.Background(), partner, sid, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
				next := *cur
				next.Name = name
				return &next, nil
			}); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 { // the lists first: no GET has caught the cache up
				sameLists(fmt.Sprintf("after write %d elsewhere", i))
			}
			r := same(fmt.Sprintf("after write %d elsewhere", i), path)
			if !strings.Contains(r.body, `"name":"`+name+`"`) || r.header.Get("ETag") == tag {
				t.Fatalf("after renaming to %q elsewhere the GET answered %s with ETag %s (before: %s)", name, r.body, r.header.Get("ETag"), tag)
			}
			if old := get(f.srv.URL, path, "If-None-Match", tag); old.status != http.StatusOK || old.body != r.body {
				t.Fatalf("If-None-Match of the tag before write %d: %d %s", i, old.status, old.body)
			}
			tag = r.header.Get("ETag")
			same(fmt.Sprintf("read again after write %d", i), path)
		}

		// A write of another endpoint of the partner leaves this answer
		// cached and right.
		e, err := sb.NewEndpoint(sb.Caller{PartnerSID: partner, Scopes: sb.AllScopes}, sb.Body{"type": "conference", "name": "neighbour"}, sb.NewEndpointParams{})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.CreateEndpoint(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		same("after a neighbour's create elsewhere", path)
		sameLists("after a neighbour's create elsewhere")
		reads = f.store.reads.Load()
		same("read again after the neighbour's create", path)
		if f.store.reads.Load() != reads {
			t.Fatal("a neighbour's change dropped this endpoint's answer")
		}

		// Deleted elsewhere: gone here at once.
		sameLists("before the delete elsewhere")
		if err := other.DeleteEndpoint(context.Background(), partner, sid); err != nil {
			t.Fatal(err)
		}
		sameLists("after the delete elsewhere")
		if r := same("after the delete elsewhere", path); r.status != http.StatusNotFound {
			t.Fatalf("after the delete elsewhere: %d %s", r.status, r.body)
		}
	})
}
