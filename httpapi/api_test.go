package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// countingStore is the real store, counting Basic-credential look-ups.
type countingStore struct {
	sb.Store
	logins atomic.Int64
	reads  atomic.Int64 // EndpointAt
	listed atomic.Int64 // endpoints ListEndpoints yielded whole (not as a SID the caller holds)
}

func (c *countingStore) ListEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery, write func(sb.PageInfo, iter.Seq2[*sb.Endpoint, error]) error) error {
	return c.Store.ListEndpoints(ctx, partnerSID, q, func(info sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
		return write(info, func(yield func(*sb.Endpoint, error) bool) {
			for e, err := range items {
				if err == nil && e.ID != 0 {
					c.listed.Add(1)
				}
				if !yield(e, err) {
					return
				}
			}
		})
	})
}

func (c *countingStore) EndpointAt(ctx context.Context, partnerSID, endpointSID string) (*sb.Endpoint, int64, error) {
	c.reads.Add(1)
	return c.Store.EndpointAt(ctx, partnerSID, endpointSID)
}

func (c *countingStore) PartnerByLogin(ctx context.Context, login string) (sb.Partner, string, error) {
	c.logins.Add(1)
	return c.Store.PartnerByLogin(ctx, login)
}

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	api    *Server
	store  *countingStore
	dsn    string // the database's
	logs   *bytes.Buffer
	admin  string // Authorization of a partner with every scope
	other  string // another partner, endpoints.manage only
	reader string // a token of admin's partner with endpoints.read only
	basic  string
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, sqlstoretest.SQLiteDSN(t), "") }

// newFixtureOn serves the API on the database dsn names; publicURL "" takes
// links from each request.
func newFixtureOn(t *testing.T, dsn, publicURL string, configure ...func(*Server)) *fixture {
	t.Helper()
	db := sqlstoretest.Open(t, dsn)
	f := &fixture{t: t, store: &countingStore{Store: db}, dsn: dsn, logs: &bytes.Buffer{}}
	// f.api is the copy the handler serves with (its caches and limits).
	var handler http.Handler
	api := &Server{Store: f.store, PublicURL: publicURL, Logger: slog.New(slog.NewJSONHandler(f.logs, nil))}
	for _, c := range configure {
		c(api)
	}
	f.api, handler = api.handler()
	f.srv = httptest.NewServer(handler)
	t.Cleanup(f.srv.Close)

	hash, _ := credential.HashPassword("s3cret-pass")
	for _, p := range []struct {
		auth   *string
		scopes sb.Scopes
		login  string
	}{
		{&f.admin, sb.Scopes{sb.ScopeManage, sb.ScopeManageAuthRequired}, "admin-login"},
		{&f.other, sb.Scopes{sb.ScopeManage}, ""},
	} {
		partner := sb.Partner{PartnerSID: sb.NewSID(), Name: "partner " + p.login, Login: p.login, Scopes: p.scopes}
		if err := db.CreatePartner(context.Background(), partner, map[bool]string{true: hash}[p.login != ""]); err != nil {
			t.Fatal(err)
		}
		token := sb.NewSID()
		db.CreateToken(context.Background(), credential.HashToken(token), partner.PartnerSID, p.scopes)
		*p.auth = "Bearer " + token
		if p.login != "" {
			reader := sb.NewSID()
			db.CreateToken(context.Background(), credential.HashToken(reader), partner.PartnerSID, sb.Scopes{sb.ScopeRead})
			f.reader = "Bearer " + reader
		}
	}
	f.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin-login:s3cret-pass"))
	return f
}

type response struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(method, path, auth, body string, header ...string) response {
	f.t.Helper()
	return f.doWith(http.DefaultClient, method, path, auth, body, header...)
}

func (f *fixture) doWith(client *http.Client, method, path, auth, body string, header ...string) response {
	f.t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rdr)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(data)}
}

func (f *fixture) create(auth, body string) map[string]any {
	f.t.Helper()
	r := f.do("POST", "/core/v2/endpoints", auth, body)
	if r.status != 200 {
		f.t.Fatalf("create %s: %d %s", body, r.status, r.body)
	}
	var m map[string]any
	json.Unmarshal([]byte(r.body), &m)
	return m
}

func TestErrorResponses(t *testing.T) {
	f := newFixture(t)
	conf := f.create(f.admin, `{"type":"conference","name":"c"}`)
	item := "/core/v2/endpoints/" + conf["endpoint_sid"].(string)
	missing := "/core/v2/endpoints/2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11"
	tests := []struct {
		name         string
		method, path string
		auth, body   string
		header       []string
		status       int
		want         string // the exact body
	}{
		{"no credentials", "GET", "/core/v2/endpoints", "", "", nil, 401,
			`{"errors":[{"field":null,"message":"credentials are required (Authorization: Bearer or Basic)","reference_sid":null}],"message":"unauthorized"}`},
		{"unknown token", "GET", "/core/v2/endpoints", "Bearer nope", "", nil, 401,
			`{"errors":[{"field":null,"message":"bad credentials","reference_sid":null}],"message":"bad credentials"}`},
		{"unknown scheme", "GET", "/core/v2/endpoints", "Digest x", "", nil, 401,
			`{"errors":[{"field":null,"message":"bad credentials","reference_sid":null}],"message":"bad credentials"}`},
		{"wrong password", "GET", "/core/v2/endpoints", "Basic " + base64.StdEncoding.EncodeToString([]byte("admin-login:nope")), "", nil, 401,
			`{"errors":[{"field":null,"message":"bad credentials","reference_sid":null}],"message":"bad credentials"}`},
		{"missing scope", "DELETE", item, f.reader, "", nil, 403,
			`{"errors":[{"field":null,"message":"the delete operation requires one of the scopes endpoints.manage, endpoints.delete","reference_sid":null}],"message":"forbidden"}`},
		{"unknown sid", "GET", missing, f.admin, "", nil, 404,
			`{"errors":[{"field":"endpoint_sid","message":"endpoint not found","reference_sid":"2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11"}],"message":"not found"}`},
		{"foreign sid answers like an unknown one", "GET", item, f.other, "", nil, 404,
			`{"errors":[{"field":"endpoint_sid","message":"endpoint not found","reference_sid":"` + conf["endpoint_sid"].(string) + `"}],"message":"not found"}`},
		{"unknown route", "GET", "/core/v2/nothing", f.admin, "", nil, 404,
			`{"errors":[{"field":null,"message":"no such resource","reference_sid":null}],"message":"not found"}`},
		{"wrong method", "DELETE", "/core/v2/endpoints", f.admin, "", nil, 405,
			`{"errors":[{"field":null,"message":"DELETE is not allowed here; allowed: GET, POST","reference_sid":null}],"message":"method not allowed"}`},
		{"media type", "POST", "/core/v2/endpoints", f.admin, `{"type":"conference"}`, []string{"Content-Type", "text/plain"}, 415,
			`{"errors":[{"field":null,"message":"the body must be sent as Content-Type: application/json","reference_sid":null}],"message":"unsupported media type"}`},
		{"broken json", "POST", "/core/v2/endpoints", f.admin, `{"type":`, nil, 400,
			`{"errors":[{"field":null,"message":"no JSON object could be decoded","reference_sid":null}],"message":"bad request"}`},
		{"not an object", "PATCH", item, f.admin, `[1]`, nil, 400,
			`{"errors":[{"field":null,"message":"no JSON object could be decoded","reference_sid":null}],"message":"bad request"}`},
		{"data after the object", "POST", "/core/v2/endpoints", f.admin, `{"type":"conference"} {}`, nil, 400,
			`{"errors":[{"field":null,"message":"no JSON object could be decoded","reference_sid":null}],"message":"bad request"}`},
		{"invalid utf-8", "POST", "/core/v2/endpoints", f.admin, "{\"type\":\"conference\",\"name\":\"\xff\"}", nil, 400,
			`{"errors":[{"field":null,"message":"no JSON object could be decoded","reference_sid":null}],"message":"bad request"}`},
		{"duplicate keys", "POST", "/core/v2/endpoints", f.admin, `{"type":"conference","type":"flexml"}`, nil, 400,
			`{"errors":[{"field":null,"message":"the JSON body repeats a key in one object","reference_sid":null}],"message":"bad request"}`},
		{"deep nesting", "POST", "/core/v2/endpoints", f.admin, `{"attributes":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, nil, 400,
			`{"errors":[{"field":null,"message":"the JSON body is nested too deeply","reference_sid":null}],"message":"bad request"}`},
		{"too large", "POST", "/core/v2/endpoints", f.admin, `{"name":"` + strings.Repeat("n", 1<<20) + `"}`, nil, 413,
			`{"errors":[{"field":null,"message":"the body is larger than 1 MiB","reference_sid":null}],"message":"request entity too large"}`},
		{"validation", "POST", "/core/v2/endpoints", f.admin, `{"type":"conference","bogus":1,"capacity":-1}`, nil, 422,
			`{"errors":[{"field":"bogus","message":"unknown field","reference_sid":null},{"field":"capacity","message":"must be between 0 and 2147483647","reference_sid":null}],"message":"object validation error"}`},
		{"auth_required without the scope", "POST", "/core/v2/endpoints", f.other, `{"type":"conference","auth_required":true}`, nil, 422,
			`{"errors":[{"field":"auth_required","message":"partner does not have permissions to set this value","reference_sid":null}],"message":"object validation error"}`},
		{"nested_objects", "PATCH", item + "?nested_objects=merge", f.admin, `{}`, nil, 400,
			`{"errors":[{"field":"nested_objects","message":"nested_objects must be \"replace\" or absent","reference_sid":null}],"message":"bad request"}`},
		{"bad limit", "GET", "/core/v2/endpoints?limit=-1", f.admin, "", nil, 400,
			`{"errors":[{"field":"limit","message":"limit must be a whole number from 0 to 1000","reference_sid":null}],"message":"bad request"}`},
		{"secret order", "GET", "/core/v2/endpoints?order=out_sip_password", f.admin, "", nil, 400,
			`{"errors":[{"field":"order","message":"cannot order by \"out_sip_password\"","reference_sid":null}],"message":"bad request"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(tt.method, tt.path, tt.auth, tt.body, tt.header...)
			if r.status != tt.status || r.body != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, tt.status, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	if r := f.do("POST", item, f.admin, `{}`); r.header.Get("Allow") != "GET, PATCH, PUT, DELETE" {
		t.Fatalf("405 on an item must list its methods, got Allow %q", r.header.Get("Allow"))
	}
	// None of the refused requests changed anything.
	if r := f.do("GET", "/core/v2/endpoints", f.admin, ""); !strings.Contains(r.body, `"total":1}`) {
		t.Fatalf("refused requests created endpoints: %s", r.body)
	}
}

func TestDuplicateIPConflictBody(t *testing.T) {
	f := newFixture(t)
	body := `{"type":"third_party","auth_required":false,"addresses":[{"ip":"192.0.2.1","port":5070}]}`
	f.create(f.admin, body)
	r := f.do("POST", "/core/v2/endpoints", f.admin, body)
	want := `{"errors":[{"field":null,"message":"duplicate ip for auth_required=false","reference_sid":null}],"message":"conflict error"}`
	if r.status != 409 || r.body != want {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestEndpointLifecycleOverHTTP(t *testing.T) {
	f := newFixture(t)
	created := f.create(f.admin, `{"type":"third_party","name":"trunk","addresses":[{"ip":"10.0.0.1"}],"attributes":{"a":"1"}}`)
	item := "/core/v2/endpoints/" + created["endpoint_sid"].(string)

	get := f.do("GET", item, f.admin, "")
	if get.status != 200 || !strings.HasPrefix(get.body, `{"addresses":[{"direction":"any","dst_port":5060,"ip":"10.0.0.1"`) {
		t.Fatalf("GET: %d %s", get.status, get.body)
	}
	patch := f.do("PATCH", item, f.admin, `{"name":"renamed","attributes":{"b":"2"}}`)
	if patch.status != 200 || !strings.Contains(patch.body, `"attributes":{"a":"1","b":"2"}`) || !strings.Contains(patch.body, `"name":"renamed"`) {
		t.Fatalf("PATCH: %d %s", patch.status, patch.body)
	}
	replace := f.do("PATCH", item+"?nested_objects=replace", f.admin, `{"attributes":{"z":"9"}}`)
	if !strings.Contains(replace.body, `"attributes":{"z":"9"}`) {
		t.Fatalf("PATCH replace: %s", replace.body)
	}
	if put := f.do("PUT", item, f.admin, get.body); put.status != 200 || put.body != get.body {
		t.Fatalf("PUT of the object as first read must restore it:\n%d %s\n%s", put.status, put.body, get.body)
	}
	related := f.do("GET", item+"?with_related=true&include_fields=name,partner", f.admin, "")
	if related.body != `{"name":"trunk","partner":{"name":"partner admin-login","partner_sid":"`+created["partner_sid"].(string)+`"}}` {
		t.Fatalf("with_related and include_fields: %s", related.body)
	}
	if del := f.do("DELETE", item, f.admin, ""); del.status != 204 || del.body != "" {
		t.Fatalf("DELETE: %d %q", del.status, del.body)
	}
	if again := f.do("GET", item, f.admin, ""); again.status != 404 {
		t.Fatalf("GET after DELETE: %d", again.status)
	}
}

func TestListEnvelopeAndLinks(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		f.create(f.admin, `{"type":"conference","name":"c"}`)
	}
	host := strings.TrimPrefix(f.srv.URL, "http://")
	r := f.do("GET", "/core/v2/endpoints?limit=2&offset=2&order=name+desc&exclude_fields=properties", f.admin, "")
	var env struct {
		Count      int               `json:"count"`
		HasMore    bool              `json:"has_more"`
		Items      []map[string]any  `json:"items"`
		Limit      int               `json:"limit"`
		Offset     int               `json:"offset"`
		Pagination map[string]string `json:"pagination"`
		Total      int               `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.body), &env); err != nil {
		t.Fatal(err)
	}
	if env.Count != 2 || !env.HasMore || env.Limit != 2 || env.Offset != 2 || env.Total != 5 || env.Items[0]["properties"] != nil {
		t.Fatalf("envelope: %s", r.body)
	}
	want := map[string]string{
		"next":     "http://" + host + "/core/v2/endpoints?exclude_fields=properties&limit=2&offset=4&order=name+desc",
		"previous": "http://" + host + "/core/v2/endpoints?exclude_fields=properties&limit=2&offset=0&order=name+desc",
	}
	if len(env.Pagination) != 2 || env.Pagination["next"] != want["next"] || env.Pagination["previous"] != want["previous"] {
		t.Fatalf("pagination: %v\nwant %v", env.Pagination, want)
	}
	empty := f.do("GET", "/core/v2/endpoints", f.other, "")
	if empty.body != `{"count":0,"has_more":false,"items":[],"limit":10,"offset":0,"pagination":{},"total":0}` {
		t.Fatalf("empty list: %s", empty.body)
	}
}

// A verified Basic credential is cached: bcrypt runs once, however long
// the credential is used (the partner is looked up again at most once a
// second, to see a changed password or a disabled partner).
func TestBasicCredentialsAreCached(t *testing.T) {
	f := newFixture(t)
	for i := range 6 {
		if i == 3 {
			f.expireCache() // as if a second had passed
		}
		if r := f.do("GET", "/core/v2/endpoints", f.basic, ""); r.status != 200 {
			t.Fatalf("Basic: %d %s", r.status, r.body)
		}
	}
	if n := f.api.auth.passwords.Compares(); n != 1 {
		t.Fatalf("6 requests with the same Basic credentials ran %d bcrypt comparisons, want 1", n)
	}
	if n := f.store.logins.Load(); n < 2 {
		t.Fatalf("the cached credential was not rechecked after its second: %d look-ups", n)
	}
	// A wrong password is never served from the cache.
	bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin-login:s3cret-pasz"))
	if r := f.do("GET", "/core/v2/endpoints", bad, ""); r.status != 401 {
		t.Fatalf("wrong password: %d", r.status)
	}
}

// Secrets sent in requests never reach the logs, not even when a request
// fails inside the server.
func TestNoSecretsInLogs(t *testing.T) {
	f := newFixture(t)
	secret := "Sec-" + sb.NewSID()
	f.create(f.admin, `{"type":"third_party","out_sip_password":"`+secret+`","addresses":[{"ip":"10.0.0.2","sip_password":"`+secret+`"}]}`)
	f.do("POST", "/core/v2/endpoints", "Bearer "+secret, `{}`)
	f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"third_party","out_sip_password":"`+secret+`"}`)
	if strings.Contains(f.logs.String(), secret) || strings.Contains(f.logs.String(), "s3cret-pass") {
		t.Fatalf("a secret reached the logs: %s", f.logs.String())
	}
}
