package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/client"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

var ctx = context.Background()

// recorder counts the requests a client sends (and their status), passing
// them on to the real transport.
type recorder struct {
	mu       sync.Mutex
	requests []string // "METHOD path?query status"
	next     http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	line := req.Method + " " + req.URL.RequestURI()
	if err == nil {
		line += fmt.Sprint(" ", res.StatusCode)
	}
	r.mu.Lock()
	r.requests = append(r.requests, line)
	r.mu.Unlock()
	return res, err
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// newClient starts a server and returns a client of its default partner
// (every scope) whose requests rec records.
func newClient(t *testing.T, opts ...switchboardtest.Option) (*switchboardtest.Server, *client.Client, *recorder) {
	t.Helper()
	srv := switchboardtest.Start(t, opts...)
	rec := &recorder{next: http.DefaultTransport}
	return srv, client.New(client.WithBaseURL(srv.URL), client.WithToken(srv.Token), client.WithHTTPClient(&http.Client{Transport: rec})), rec
}

func ptr[T any](v T) *T { return &v }

// The package pulls nothing but the standard library: no database driver,
// no part of the server.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/switchboard-sip/switchboard/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, []string{"github.com/switchboard-sip/switchboard/client"}) {
		t.Fatalf("github.com/switchboard-sip/switchboard/client depends on packages outside the standard library: %v", got)
	}
}

// The whole life of an endpoint, on each kind of database.
func TestEndpointLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) []switchboardtest.Option
	}{
		{"memory", func(*testing.T) []switchboardtest.Option { return nil }},
		{"postgres", func(t *testing.T) []switchboardtest.Option {
			return []switchboardtest.Option{switchboardtest.WithDatabase(sqlstoretest.PostgresDSN(t))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, _ := newClient(t, tc.opts(t)...)
			e, err := c.Create(ctx, client.EndpointParams{
				Type: client.TypeThirdParty, Name: "trunk", Capacity: 5,
				Addresses:  []client.Address{{IP: "203.0.113.10", Port: 5061, SIPPassword: ptr("pw")}},
				Attributes: map[string]string{"region": "eu", "tier": "gold"},
			})
			if err != nil {
				t.Fatal(err)
			}
			a := e.Addresses[0]
			if e.Name != "trunk" || e.Capacity != 5 || !e.AuthRequired || e.PartnerSID != srv.PartnerSID || e.VoIPToken == nil ||
				a.Port != 5061 || a.DstPort != 5060 || a.Transport != "udp" || a.Direction != "any" || *a.SIPPassword != "pw" {
				t.Fatalf("created: %+v %+v", e, a)
			}
			got, err := c.Get(ctx, e.EndpointSID)
			if err != nil || got.Name != "trunk" || got.EndpointSID != e.EndpointSID {
				t.Fatalf("get: %+v %v", got, err)
			}

			// PATCH merges: a key sent null goes, the others stay.
			u, err := c.Update(ctx, e.EndpointSID, map[string]any{"name": "renamed", "attributes": map[string]any{"tier": nil, "owner": "ops"}})
			if err != nil || u.Name != "renamed" || fmt.Sprint(u.Attributes) != "map[owner:ops region:eu]" {
				t.Fatalf("merge patch: %+v %v", u, err)
			}
			// ?nested_objects=replace replaces.
			u, err = c.Update(ctx, e.EndpointSID, map[string]any{"attributes": map[string]any{"only": "this"}}, client.ReplaceNestedObjects())
			if err != nil || fmt.Sprint(u.Attributes) != "map[only:this]" || u.Name != "renamed" {
				t.Fatalf("replace patch: %+v %v", u, err)
			}

			// PUT from the object read back, with some changes.
			p := u.Params()
			p.Name = "put"
			p.Addresses = []client.Address{{IP: "198.51.100.7", Transport: "tcp"}}
			p.Attributes = nil
			r, err := c.Replace(ctx, e.EndpointSID, p)
			if err != nil || r.Name != "put" || len(r.Addresses) != 1 || r.Addresses[0].IP != "198.51.100.7" || len(r.Attributes) != 0 || r.Capacity != 5 {
				t.Fatalf("replace: %+v %v", r, err)
			}
			if len(u.Addresses) != 1 || u.Addresses[0].IP != "203.0.113.10" {
				t.Fatalf("changing the params changed the endpoint they came from: %+v", u.Addresses)
			}

			if err := c.Delete(ctx, e.EndpointSID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(ctx, e.EndpointSID); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}

// Create with only a type, then a GET-Params-Replace round trip, works for
// every type a partner can create, with a credential that may not set
// auth_required.
func TestCreateAndReplaceEveryType(t *testing.T) {
	srv, _, _ := newClient(t)
	p, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Scopes: []string{"endpoints.manage"}})
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(client.WithBaseURL(srv.URL+"/core/v2/"), client.WithToken(p.Token))
	for _, typ := range []client.EndpointType{client.TypeThirdParty, client.TypeConference, client.TypeConferencePlayback,
		client.TypeConferenceV2, client.TypeFlexML, client.TypeMediator, client.TypeVoicemail} {
		t.Run(string(typ), func(t *testing.T) {
			params := client.EndpointParams{Type: typ}
			if typ == client.TypeThirdParty {
				params.Addresses = []client.Address{{IP: "192.0.2.44"}}
			}
			e, err := c.Create(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != "N/A" || e.Type != typ {
				t.Fatalf("created: %+v", e)
			}
			back := e.Params()
			back.Capacity = 7
			r, err := c.Replace(ctx, e.EndpointSID, back)
			if err != nil {
				t.Fatal(err)
			}
			if r.Capacity != 7 || !reflect.DeepEqual(r.Properties, e.Properties) {
				t.Fatalf("replaced: %+v", r)
			}
		})
	}
}

// Each failure is an *Error with the CarrierX body, matching its sentinel.
func TestErrors(t *testing.T) {
	srv, c, _ := newClient(t)
	reader, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Scopes: []string{"endpoints.read"}})
	if err != nil {
		t.Fatal(err)
	}
	manager, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Scopes: []string{"endpoints.manage"}})
	if err != nil {
		t.Fatal(err)
	}
	asReader := client.New(client.WithBaseURL(srv.URL), client.WithToken(reader.Token))
	asManager := client.New(client.WithBaseURL(srv.URL), client.WithToken(manager.Token))
	open := client.EndpointParams{Type: client.TypeThirdParty, AuthRequired: ptr(false), Addresses: []client.Address{{IP: "192.0.2.9"}}}
	if _, err := c.Create(ctx, open); err != nil {
		t.Fatal(err)
	}
	missing := "7d1f5b3e-0000-4000-8000-000000000000"

	for _, tc := range []struct {
		name   string
		call   func() error
		is     error
		status int
		fields map[string]string // field → message (a subset)
	}{
		{"validation names every field", func() error {
			_, err := c.Create(ctx, client.EndpointParams{Name: strings.Repeat("x", 300)})
			return err
		}, client.ErrValidation, 422, map[string]string{"type": "field is required", "name": ""}},
		{"nested field", func() error {
			_, err := c.Create(ctx, client.EndpointParams{Type: client.TypeThirdParty, Addresses: []client.Address{{IP: "not an ip"}}})
			return err
		}, client.ErrValidation, 422, map[string]string{"addresses[0].ip": ""}},
		{"auth_required without its scope", func() error {
			_, err := asManager.Create(ctx, client.EndpointParams{Type: client.TypeConference, AuthRequired: ptr(true)})
			return err
		}, client.ErrValidation, 422, map[string]string{"auth_required": "partner does not have permissions to set this value"}},
		{"duplicate ip", func() error {
			_, err := c.Create(ctx, open)
			return err
		}, client.ErrConflict, 409, map[string]string{"": "duplicate ip for auth_required=false"}},
		{"not found", func() error {
			_, err := c.Get(ctx, missing)
			return err
		}, client.ErrNotFound, 404, map[string]string{"endpoint_sid": "endpoint not found"}},
		{"missing scope", func() error {
			_, err := asReader.Create(ctx, client.EndpointParams{Type: client.TypeConference})
			return err
		}, client.ErrForbidden, 403, nil},
		{"bad token", func() error {
			_, err := client.New(client.WithBaseURL(srv.URL), client.WithToken("nope")).Get(ctx, missing)
			return err
		}, client.ErrUnauthorized, 401, nil},
		{"bad filter", func() error {
			_, err := c.ListPage(ctx, client.ListOptions{Filter: "name eq"})
			return err
		}, client.ErrBadRequest, 400, map[string]string{"filter": ""}},
		{"bad filter through the iterator", func() error {
			for _, err := range c.List(ctx, client.ListOptions{Filter: "nosuchfield eq 1"}) {
				return err
			}
			return nil
		}, client.ErrBadRequest, 400, map[string]string{"filter": ""}},
		{"update of a missing endpoint", func() error {
			_, err := c.Update(ctx, missing, map[string]any{"name": "x"}, client.ReplaceNestedObjects())
			return err
		}, client.ErrNotFound, 404, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var apiErr *client.Error
			if !errors.Is(err, tc.is) || !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status {
				t.Fatalf("got %v, want %v (%d)", err, tc.is, tc.status)
			}
			if apiErr.RequestID == "" || apiErr.Message == "" {
				t.Fatalf("incomplete error: %+v", apiErr)
			}
			for _, other := range []error{client.ErrNotFound, client.ErrValidation, client.ErrConflict, client.ErrForbidden, client.ErrUnauthorized, client.ErrBadRequest, client.ErrRateLimited} {
				if other != tc.is && errors.Is(err, other) {
					t.Fatalf("%v also matches %v", err, other)
				}
			}
			for field, msg := range tc.fields {
				found := slices.ContainsFunc(apiErr.Errors, func(fe client.FieldError) bool { return fe.Field == field })
				if !found || (msg != "" && apiErr.Field(field) != msg) {
					t.Fatalf("field %q: want %q in %+v", field, msg, apiErr.Errors)
				}
			}
		})
	}
}

// List walks every page with keyset cursors (after=the last SID), in the
// order asked, and keeps working while the caller deletes what it is given.
func TestListIteratesEveryPage(t *testing.T) {
	_, c, rec := newClient(t)
	var want []string
	for i := range 23 {
		e, err := c.Create(ctx, client.EndpointParams{Type: client.TypeConference, Name: fmt.Sprintf("conf-%02d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e.Name)
	}
	names := func(opts client.ListOptions) []string {
		var got []string
		for e, err := range c.List(ctx, opts) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Name)
		}
		return got
	}

	before := len(rec.lines())
	if got := names(client.ListOptions{PageSize: 5}); !slices.Equal(got, want) {
		t.Fatalf("creation order: %v", got)
	}
	pages := rec.lines()[before:]
	if len(pages) != 5 || strings.Contains(pages[0], "after=") || !strings.Contains(pages[1], "after=") || strings.Contains(pages[1], "offset") {
		t.Fatalf("want 5 pages, the later ones by cursor: %v", pages)
	}

	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	if got := names(client.ListOptions{PageSize: 4, Order: "name desc"}); !slices.Equal(got, reversed) {
		t.Fatalf("name desc: %v", got)
	}
	if got := names(client.ListOptions{PageSize: 2, Filter: `name like "conf-1%"`}); len(got) != 10 || got[0] != "conf-10" {
		t.Fatalf("filtered: %v", got)
	}
	for _, err := range c.List(ctx, client.ListOptions{After: "conf-01"}) {
		if !errors.Is(err, client.ErrBadRequest) {
			t.Fatalf("a cursor that is no SID of the list: %v", err)
		}
	}

	// Breaking out early stops asking for pages.
	before = len(rec.lines())
	for range c.List(ctx, client.ListOptions{PageSize: 3}) {
		break
	}
	if n := len(rec.lines()) - before; n > 2 {
		t.Fatalf("%d requests for one item", n)
	}

	// Deleting every endpoint while iterating.
	deleted := 0
	for e, err := range c.List(ctx, client.ListOptions{PageSize: 4}) {
		if err != nil {
			t.Fatalf("after %d deletes: %v", deleted, err)
		}
		if err := c.Delete(ctx, e.EndpointSID); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	page, err := c.ListPage(ctx, client.ListOptions{})
	if deleted != len(want) || err != nil || page.Total != 0 {
		t.Fatalf("deleted %d of %d; left %+v %v", deleted, len(want), page, err)
	}
}

func TestListPageAndWithRelated(t *testing.T) {
	srv, c, _ := newClient(t)
	for range 3 {
		if _, err := c.Create(ctx, client.EndpointParams{Type: client.TypeFlexML}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.ListPage(ctx, client.ListOptions{PageSize: 2, WithRelated: true})
	if err != nil || len(page.Items) != 2 || page.Total != 3 || !page.HasMore {
		t.Fatalf("page: %+v %v", page, err)
	}
	if p := page.Items[0].Partner; p == nil || p.PartnerSID != srv.PartnerSID || p.Name != "sandbox" {
		t.Fatalf("with_related partner: %+v", p)
	}
	last, err := c.ListPage(ctx, client.ListOptions{PageSize: 2, After: page.Items[1].EndpointSID})
	if err != nil || len(last.Items) != 1 || last.HasMore || last.Items[0].Partner != nil {
		t.Fatalf("last page: %+v %v", last, err)
	}
}

func TestBasicAuth(t *testing.T) {
	srv, _, _ := newClient(t)
	if _, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Login: "pbx", Password: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	c := client.New(client.WithBaseURL(srv.URL), client.WithBasicAuth("pbx", "s3cret"))
	if _, err := c.Create(ctx, client.EndpointParams{Type: client.TypeMediator}); err != nil {
		t.Fatal(err)
	}
	_, err := client.New(client.WithBaseURL(srv.URL), client.WithBasicAuth("pbx", "wrong")).ListPage(ctx, client.ListOptions{})
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := client.New(client.WithBaseURL(srv.URL)).ListPage(ctx, client.ListOptions{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("no credentials: %v", err)
	}
}

// A 429 is sent again after its Retry-After, within the bounds.
func TestRetriesTooManyRequests(t *testing.T) {
	t.Run("waits Retry-After and succeeds", func(t *testing.T) {
		_, c, rec := newClient(t, switchboardtest.WithRateLimit(1, 1))
		for range 2 {
			if _, err := c.ListPage(ctx, client.ListOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		got := rec.lines()
		if len(got) != 3 || !strings.HasSuffix(got[1], " 429") || !strings.HasSuffix(got[2], " 200") {
			t.Fatalf("requests: %v", got)
		}
	})
	t.Run("a wait over the bound is returned", func(t *testing.T) {
		_, c, rec := newClient(t, switchboardtest.WithRateLimit(0.001, 1)) // Retry-After: 1000
		c.ListPage(ctx, client.ListOptions{})
		_, err := c.ListPage(ctx, client.ListOptions{})
		var apiErr *client.Error
		if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter < 900*time.Second {
			t.Fatalf("got %v", err)
		}
		if n := len(rec.lines()); n != 2 {
			t.Fatalf("%d requests; the refused one must not be retried", n)
		}
	})
	t.Run("a wait past the context's deadline is returned", func(t *testing.T) {
		_, c, rec := newClient(t, switchboardtest.WithRateLimit(0.5, 1)) // Retry-After: 2
		c.ListPage(ctx, client.ListOptions{})
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.ListPage(short, client.ListOptions{}); !errors.Is(err, client.ErrRateLimited) {
			t.Fatalf("got %v", err)
		}
		if n := len(rec.lines()); n != 2 {
			t.Fatalf("%d requests", n)
		}
	})
	t.Run("retries are bounded", func(t *testing.T) {
		n := 0
		var mu sync.Mutex
		always429 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			mu.Unlock()
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			w.Write([]byte(`{"errors":[{"field":null,"message":"slow down","reference_sid":null}],"message":"too many requests"}`))
		}))
		defer always429.Close()
		c := client.New(client.WithBaseURL(always429.URL), client.WithToken("t"), client.WithRetries(2, time.Second))
		if err := c.Delete(ctx, "x"); !errors.Is(err, client.ErrRateLimited) {
			t.Fatalf("got %v", err)
		}
		if n != 3 {
			t.Fatalf("%d requests, want 1 + 2 retries", n)
		}
	})
}

// Without options the client talks to the real CarrierX API.
func TestDefaultBaseURL(t *testing.T) {
	var seen string
	c := client.New(client.WithToken("t"), client.WithHTTPClient(&http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Method + " " + r.URL.String() + " " + r.Header.Get("Authorization")
		return nil, errors.New("offline")
	})}))
	if _, err := c.Get(ctx, "a b"); err == nil {
		t.Fatal("no error")
	}
	if want := "GET https://api.carrierx.com/core/v2/endpoints/a%20b Bearer t"; seen != want {
		t.Fatalf("sent %q, want %q", seen, want)
	}
	if client.DefaultBaseURL != "https://api.carrierx.com" {
		t.Fatal(client.DefaultBaseURL)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestContextAndEmptySID(t *testing.T) {
	_, c, rec := newClient(t)
	for name, call := range map[string]func() error{
		"get":    func() error { _, err := c.Get(ctx, ""); return err },
		"update": func() error { _, err := c.Update(ctx, "", nil); return err },
		"put":    func() error { _, err := c.Replace(ctx, "", client.EndpointParams{}); return err },
		"delete": func() error { return c.Delete(ctx, "") },
	} {
		if err := call(); err == nil || errors.Is(err, client.ErrNotFound) {
			t.Errorf("%s with no SID: %v", name, err)
		}
	}
	if n := len(rec.lines()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Create(cancelled, client.EndpointParams{Type: client.TypeConference}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}
