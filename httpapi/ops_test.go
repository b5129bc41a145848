package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// newOpsFixture is newFixture with the access log on and a rate limit.
func newOpsFixture(t *testing.T, perSecond float64, burst int) *fixture {
	f := newFixture(t)
	api := &Server{Store: f.store, Logger: slog.New(slog.NewJSONHandler(f.logs, nil)), AccessLog: true, RateLimit: perSecond, RateBurst: burst}
	f.srv.Config.Handler = api.Handler()
	return f
}

func TestAccessLogLine(t *testing.T) {
	f := newOpsFixture(t, 0, 0)
	r := f.do("GET", "/core/v2/endpoints?limit=3", f.admin, "", "X-Request-Id", "client-id-42")
	if r.header.Get("X-Request-Id") != "client-id-42" {
		t.Fatalf("the client's request id must be kept, got %q", r.header.Get("X-Request-Id"))
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		json.Unmarshal([]byte(l), &line)
	}
	want := map[string]any{"msg": "request", "method": "GET", "route": "GET /core/v2/endpoints", "status": float64(200), "request_id": "client-id-42"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if sid, _ := line["partner_sid"].(string); !sb.IsSID(sid) || line["bytes"].(float64) < 10 || line["duration_ms"] == nil {
		t.Errorf("access log line lacks partner_sid, bytes or duration: %v", line)
	}
	if g := f.do("GET", "/healthz", "", ""); len(g.header.Get("X-Request-Id")) != 32 {
		t.Errorf("a request without an id gets a generated one, got %q", g.header.Get("X-Request-Id"))
	}
	if g := f.do("GET", "/healthz", "", "", "X-Request-Id", strings.Repeat("x", 200)); g.header.Get("X-Request-Id") == strings.Repeat("x", 200) {
		t.Error("an oversized client id must be replaced")
	}
}

// A token, a partner password, a sip_password and an out_sip_password sent in
// any part of any request never appear in the logs, with the access log on
// and when requests fail.
func TestSecretsNeverLogged(t *testing.T) {
	f := newOpsFixture(t, 0, 0)
	secret := "S3cr3t" + strings.ReplaceAll(sb.NewSID(), "-", "")
	token := strings.TrimPrefix(f.admin, "Bearer ")
	basicBad := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin-login:"+secret))
	created := f.create(f.admin, `{"type":"third_party","out_sip_password":"`+secret+`","addresses":[{"ip":"10.9.9.9","sip_password":"`+secret+`"}]}`)
	item := "/core/v2/endpoints/" + created["endpoint_sid"].(string)
	for _, rq := range []struct{ method, path, auth, body string }{
		{"GET", "/core/v2/endpoints?filter=out_sip_password+eq+" + secret, f.admin, ""},
		{"GET", "/core/v2/endpoints?filter=name+eq+" + secret, f.admin, ""},
		{"GET", "/core/v2/" + secret, f.admin, ""},
		{"PATCH", item, f.admin, `{"out_sip_password":"` + secret + `","addresses":[{"ip":"10.9.9.8","sip_password":"` + secret + `"}]}`},
		{"PATCH", item, f.admin, `{"out_sip_password":"` + secret + strings.Repeat("x", 300) + `"}`},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":"conference","bogus":"` + secret + `"}`},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":` + secret},
		{"GET", "/core/v2/endpoints", "Bearer " + secret, ""},
		{"GET", "/core/v2/endpoints", basicBad, ""},
		{"GET", "/core/v2/endpoints", f.basic, ""},
		{"GET", item, f.admin, ""},
	} {
		r := f.do(rq.method, rq.path, rq.auth, rq.body)
		// Error bodies never repeat a secret either (successful answers
		// return SIP passwords, as CarrierX does).
		if r.status >= 400 && (strings.Contains(r.body, secret) || strings.Contains(r.body, token)) {
			t.Errorf("%s %s: the error body repeats a secret: %s", rq.method, rq.path, r.body)
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatal("the access log is not on: the test would prove nothing")
	}
	for _, s := range []string{secret, token, "s3cret-pass"} {
		if strings.Contains(logs, s) {
			t.Fatalf("a secret reached the logs:\n%s", logs)
		}
	}
}

func TestMetricsAfterRequests(t *testing.T) {
	f := newOpsFixture(t, 0, 0)
	f.create(f.admin, `{"type":"conference"}`)
	f.do("GET", "/core/v2/endpoints", f.admin, "")
	f.do("GET", "/core/v2/endpoints", "", "")
	m := f.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`switchboard_http_requests_total{method="POST",route="POST /core/v2/endpoints",status="200"} 1`,
		`switchboard_http_requests_total{method="GET",route="GET /core/v2/endpoints",status="401"} 1`,
		`switchboard_http_request_duration_seconds_bucket{method="GET",route="GET /core/v2/endpoints",status="200",le="+Inf"} 1`,
	} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	f := newOpsFixture(t, 0.5, 2) // 2 at once, then one every 2 s
	body := `{"type":"conference","name":"limited"}`
	for i := range 2 {
		if r := f.do("POST", "/core/v2/endpoints", f.admin, body); r.status != 200 {
			t.Fatalf("request %d within the burst: %d", i, r.status)
		}
	}
	r := f.do("POST", "/core/v2/endpoints", f.admin, body)
	want := `{"errors":[{"field":null,"message":"the rate limit of this credential is exceeded; retry after the time in Retry-After","reference_sid":null}],"message":"too many requests"}`
	if r.status != 429 || r.body != want || r.header.Get("Retry-After") != "2" {
		t.Fatalf("over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Another credential has its own bucket; the refused request did nothing.
	list := f.do("GET", "/core/v2/endpoints", f.basic, "")
	if list.status != 200 || !strings.Contains(list.body, `"total":2`) {
		t.Fatalf("the refused create must not have run: %d %s", list.status, list.body)
	}
}

// A revoked token stops working within a second (the token cache's life).
func TestRevokedTokenStopsWorking(t *testing.T) {
	dsn := sqlstoretest.SQLiteDSN(t)
	db := sqlstoretest.Open(t, dsn)
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Scopes: sb.Scopes{sb.ScopeManage}}
	db.CreatePartner(t.Context(), p, "")
	id, _ := db.CreateTokenWithID(t.Context(), credential.HashToken("tok"), p.PartnerSID, p.Scopes)
	srv := httptest.NewServer((&Server{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	get := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/core/v2/endpoints", nil)
		req.Header.Set("Authorization", "Bearer tok")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("before revocation: %d", s)
	}
	if err := db.RevokeToken(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	stopsWorkingWithin(t, freshFor, func() bool { return get() == 200 })
}
