package switchboardtest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
	"github.com/switchboard-sip/switchboard/switchboardtest"
)

var ctx = context.Background()

// do sends one request with an Authorization header and returns the status
// and the decoded body.
func do(t *testing.T, method, url, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rdr)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out
}

func bearer(token string) string { return "Bearer " + token }

// The server answers the API with the default partner's token, which has
// every scope (auth_required may be set), on each kind of database.
func TestStartServesTheAPI(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) []switchboardtest.Option
	}{
		{"memory", func(t *testing.T) []switchboardtest.Option { return nil }},
		{"sqlite file", func(t *testing.T) []switchboardtest.Option {
			return []switchboardtest.Option{switchboardtest.WithDatabase(sqlstoretest.SQLiteDSN(t))}
		}},
		{"postgres", func(t *testing.T) []switchboardtest.Option {
			return []switchboardtest.Option{switchboardtest.WithDatabase(sqlstoretest.PostgresDSN(t))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := switchboardtest.Start(t, tc.opts(t)...)
			status, _, e := do(t, "POST", srv.URL+"/core/v2/endpoints", bearer(srv.Token),
				`{"type":"third_party","auth_required":false,"addresses":[{"ip":"192.0.2.1"}]}`)
			if status != 200 || e["auth_required"] != false || e["partner_sid"] != srv.PartnerSID {
				t.Fatalf("create: %d %v", status, e)
			}
			status, _, list := do(t, "GET", srv.URL+"/core/v2/endpoints", bearer(srv.Token), "")
			if status != 200 || list["total"] != 1.0 {
				t.Fatalf("list: %d %v", status, list)
			}
			if status, _, _ := do(t, "GET", srv.URL+"/core/v2/endpoints", "", ""); status != 401 {
				t.Fatalf("no credentials: %d", status)
			}
		})
	}
}

// Partners get the scopes they are given, their tokens act for them alone,
// and a Basic login works.
func TestPartnersScopesAndLogins(t *testing.T) {
	srv := switchboardtest.Start(t)
	reader, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Name: "reader", Scopes: []string{"endpoints.read"}})
	if err != nil {
		t.Fatal(err)
	}
	basic, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Login: "pbx-team", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if basic.Name != "partner 2" || strings.Join(basic.Scopes, ",") != "endpoints.manage" {
		t.Fatalf("defaults: %+v", basic)
	}
	deleter, err := srv.CreateToken(ctx, basic.PartnerSID, "endpoints.delete")
	if err != nil {
		t.Fatal(err)
	}
	basicAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("pbx-team:s3cret"))
	_, _, own := do(t, "POST", srv.URL+"/core/v2/endpoints", basicAuth, `{"type":"conference"}`)
	ownURL := srv.URL + "/core/v2/endpoints/" + own["endpoint_sid"].(string)

	for _, tc := range []struct {
		name, method, url, auth, body string
		want                          int
	}{
		{"reader lists", "GET", srv.URL + "/core/v2/endpoints", bearer(reader.Token), "", 200},
		{"reader cannot create", "POST", srv.URL + "/core/v2/endpoints", bearer(reader.Token), `{"type":"conference"}`, 403},
		{"reader does not see another partner's endpoint", "GET", ownURL, bearer(reader.Token), "", 404},
		{"basic login reads its own", "GET", ownURL, basicAuth, "", 200},
		{"basic login has no manage_auth_required", "PATCH", ownURL, basicAuth, `{"auth_required":false}`, 422},
		{"wrong password", "GET", ownURL, "Basic " + base64.StdEncoding.EncodeToString([]byte("pbx-team:wrong")), "", 401},
		{"delete-only token cannot read", "GET", ownURL, bearer(deleter), "", 403},
		{"delete-only token deletes", "DELETE", ownURL, bearer(deleter), "", 204},
		{"the partner's own token sees it gone", "GET", ownURL, bearer(basic.Token), "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, body := do(t, tc.method, tc.url, tc.auth, tc.body); status != tc.want {
				t.Fatalf("%s %s: %d %v, want %d", tc.method, tc.url, status, body, tc.want)
			}
		})
	}
}

func TestCreateRefusesBadSpecs(t *testing.T) {
	srv := switchboardtest.Start(t)
	reader, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Scopes: []string{"endpoints.read"}})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"unknown scope": func() error {
			_, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Scopes: []string{"endpoints.fly"}})
			return err
		},
		"login without password": func() error {
			_, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Login: "x"})
			return err
		},
		"login taken": func() error {
			if _, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Login: "dup", Password: "p"}); err != nil {
				t.Fatal(err)
			}
			_, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{Login: "dup", Password: "p"})
			return err
		},
		"token beyond the partner's scopes": func() error {
			_, err := srv.CreateToken(ctx, reader.PartnerSID, "endpoints.manage")
			return err
		},
		"token of no partner": func() error {
			_, err := srv.CreateToken(ctx, "7d1f5b3e-0000-4000-8000-000000000000", "endpoints.read")
			return err
		},
	} {
		if call() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// WithToken fixes the default partner's token; WithRateLimit answers 429
// with Retry-After past the limit.
func TestOptions(t *testing.T) {
	srv := switchboardtest.Start(t, switchboardtest.WithToken("fixed-token"), switchboardtest.WithRateLimit(0.001, 1))
	if srv.Token != "fixed-token" {
		t.Fatalf("token %q", srv.Token)
	}
	if status, _, _ := do(t, "GET", srv.URL+"/core/v2/endpoints", bearer("fixed-token"), ""); status != 200 {
		t.Fatalf("first request: %d", status)
	}
	status, header, body := do(t, "GET", srv.URL+"/core/v2/endpoints", bearer("fixed-token"), "")
	if status != 429 || header.Get("Retry-After") == "" || body["message"] != "too many requests" {
		t.Fatalf("over the limit: %d %v %v", status, header, body)
	}
}

// The server and its database go when the test ends, and nothing of an
// in-memory server is left on disk.
func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var url string
	t.Run("inner", func(t *testing.T) {
		srv := switchboardtest.Start(t)
		url = srv.URL
		if status, _, _ := do(t, "GET", url+"/core/v2/endpoints", bearer(srv.Token), ""); status != 200 {
			t.Fatalf("while the test runs: %d", status)
		}
	})
	if res, err := http.Get(url + "/healthz"); err == nil {
		res.Body.Close()
		t.Fatalf("the server still answers after its test ended: %d", res.StatusCode)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("the working directory holds %v", entries)
	}
}

// New and Close serve outside a test's life; Close may be called twice, and
// a closed server creates nothing.
func TestNewAndClose(t *testing.T) {
	srv, err := switchboardtest.New(switchboardtest.WithDatabase("sqlite:" + filepath.Join(t.TempDir(), "new.db")))
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := do(t, "GET", srv.URL+"/readyz", "", ""); status != 200 {
		t.Fatalf("readyz: %d", status)
	}
	srv.Close()
	srv.Close()
	if _, err := srv.CreatePartner(ctx, switchboardtest.PartnerSpec{}); err == nil {
		t.Fatal("a closed server created a partner")
	}
	if _, err := switchboardtest.New(switchboardtest.WithDatabase("nosuch:db")); err == nil {
		t.Fatal("a bad DSN was accepted")
	}
}
