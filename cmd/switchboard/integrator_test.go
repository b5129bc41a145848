package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

const exampleFixtures = "../../docs/fixtures.example.json"

// serveOnce runs serve until it returns (for starts that must fail); a
// serve that starts instead is stopped after a while and returns nil.
func serveOnce(t *testing.T, env map[string]string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	return run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, io.Discard, &stderr)
}

func post(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// serve --fixtures loads the file at start and again, changing nothing, at
// the next; --allow-reset serves the reset, which is absent without it.
func TestServeWithFixtures(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "fx.db")
	env := map[string]string{"SWITCHBOARD_DB": dsn, "SWITCHBOARD_FIXTURES": exampleFixtures}
	srv := startServe(t, env, "--allow-reset")
	logs := srv.stderr.String()
	if !sandboxTokenRE.MatchString(logs) || !strings.Contains(logs, `"msg":"fixtures applied"`) || !strings.Contains(logs, `"endpoints_created":4`) {
		t.Fatalf("first start:\n%s", logs)
	}
	if !strings.Contains(logs, "fixtures:       2 partners from "+exampleFixtures) || !strings.Contains(logs, "/core/v2/reset") {
		t.Fatalf("the banner must mention the fixtures and the reset:\n%s", logs)
	}
	status, list := call(t, "GET", srv.base+"/core/v2/endpoints", "acme-test-token", "")
	if status != 200 || list["count"] != float64(3) {
		t.Fatalf("acme's endpoints: %d %v", status, list)
	}
	call(t, "POST", srv.base+"/core/v2/endpoints", "acme-test-token", `{"type":"flexml","name":"extra"}`)
	if status, body := post(t, srv.base+"/core/v2/reset", "acme-test-token"); status != 200 || !strings.Contains(body, `"endpoints_created":3,"endpoints_deleted":4`) {
		t.Fatalf("reset: %d %s", status, body)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}

	// The same file again: nothing created, nothing changed, no reset route.
	srv = startServe(t, env)
	defer srv.stop()
	logs = srv.stderr.String()
	if sandboxTokenRE.MatchString(logs) || !strings.Contains(logs, `"partners_created":0,"tokens_created":0,"endpoints_created":0`) {
		t.Fatalf("second start:\n%s", logs)
	}
	if status, again := call(t, "GET", srv.base+"/core/v2/endpoints", "acme-test-token", ""); status != 200 || again["count"] != float64(3) {
		t.Fatalf("after the second start: %d %v", status, again)
	}
	if status, body := post(t, srv.base+"/core/v2/reset", "acme-test-token"); status != 404 {
		t.Fatalf("reset without --allow-reset: %d %s", status, body)
	}
}

// A bad file stops serve before any database is opened, with the file's
// line, column and field.
func TestServeRefusesBadFixtures(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.json")
	os.WriteFile(file, []byte("{\"partners\": [\n  {\"name\": \"a\", \"endpoints\": [\n    {\"type\": \"third_party\", \"addresses\": [{\"ip\": \"999.1.1.1\"}]}\n  ]}\n]}\n"), 0o644)
	db := filepath.Join(dir, "never.db")
	err := serveOnce(t, nil, "--db", "sqlite:"+db, "--fixtures", file)
	want := file + ":3:50: partners[0].endpoints[0].addresses[0].ip: "
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("serve: %v\nwant …%s…", err, want)
	}
	if _, statErr := os.Stat(db); !os.IsNotExist(statErr) {
		t.Fatalf("a refused fixtures file must not create the database (%v)", statErr)
	}
	if err := serveOnce(t, nil, "--db", "memory", "--fixtures", filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("a missing file: %v", err)
	}
}

// --allow-reset is refused on PostgreSQL without --force-reset-on-postgres,
// before the database is reached; the flags' settings are checked.
func TestResetFlags(t *testing.T) {
	unreachable := "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"postgres", nil, []string{"--db", unreachable, "--allow-reset"}, "--allow-reset is refused on PostgreSQL"},
		{"postgres from the environment", map[string]string{"SWITCHBOARD_DB": "postgresql://x@127.0.0.1:1/y", "SWITCHBOARD_ALLOW_RESET": "true"}, nil, "--allow-reset is refused on PostgreSQL"},
		{"force alone", nil, []string{"--db", "memory", "--force-reset-on-postgres"}, "--force-reset-on-postgres goes only with --allow-reset"},
		{"bad variable", map[string]string{"SWITCHBOARD_ALLOW_RESET": "maybe"}, []string{"--db", "memory"}, `$SWITCHBOARD_ALLOW_RESET="maybe" (for --allow-reset)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := serveOnce(t, c.env, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("serve: %v, want %q", err, c.want)
			}
		})
	}
	t.Run("forced on postgres", func(t *testing.T) {
		dsn := sqlstoretest.PostgresDSN(t)
		srv := startServe(t, map[string]string{"SWITCHBOARD_BOOTSTRAP_TOKEN": "pg-token"}, "--db", dsn, "--allow-reset", "--force-reset-on-postgres")
		defer srv.stop()
		call(t, "POST", srv.base+"/core/v2/endpoints", "pg-token", `{"type":"conference"}`)
		if status, body := post(t, srv.base+"/core/v2/reset", "pg-token"); status != 200 || !strings.Contains(body, `"endpoints_deleted":1`) {
			t.Fatalf("reset: %d %s", status, body)
		}
	})
}

var (
	curlRE   = regexp.MustCompile(`try it: +curl -s (\S+) -H 'Authorization: Bearer (\S+)'`)
	tokensRE = regexp.MustCompile(`a token: +TOKEN=\$\(switchboard (tokens create .*) \| jq -r \.token\)`)
	docsRE   = regexp.MustCompile(`API reference: +(\S+) `)
)

// The first start says where the server listens, its token, a curl that
// works as printed and where the reference is; a later start says how to
// get a token again, with a command that works as printed.
func TestStartBanner(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "banner.db")
	srv := startServe(t, nil, "--db", dsn)
	logs := srv.stderr.String()
	m := curlRE.FindStringSubmatch(logs)
	tok := sandboxTokenRE.FindStringSubmatch(logs)
	if m == nil || tok == nil || m[2] != tok[1] || m[1] != srv.base+"/core/v2/endpoints" {
		t.Fatalf("first start banner (want a curl with the sandbox token):\n%s", logs)
	}
	if !strings.Contains(logs, "Switchboard is serving the CarrierX Core API v2 Endpoints resource at "+srv.base+"/core/v2/endpoints\n") {
		t.Fatalf("the banner must say where it listens:\n%s", logs)
	}
	if status, list := call(t, "GET", m[1], m[2], ""); status != 200 {
		t.Fatalf("the banner's curl: %d %v", status, list)
	}
	d := docsRE.FindStringSubmatch(logs)
	if d == nil || d[1] != srv.base+"/core/v2/docs" {
		t.Fatalf("the banner must say where the reference is:\n%s", logs)
	}
	if res, err := http.Get(d[1]); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", d[1], res, err)
	}
	srv.stop()

	srv = startServe(t, nil, "--db", dsn)
	logs = srv.stderr.String()
	srv.stop()
	if sandboxTokenRE.MatchString(logs) || strings.Contains(logs, tok[1]) {
		t.Fatalf("a later start must not print the token again:\n%s", logs)
	}
	h := tokensRE.FindStringSubmatch(logs)
	if h == nil {
		t.Fatalf("a later start must say how to get a token:\n%s", logs)
	}
	var out bytes.Buffer
	args := strings.Fields(strings.ReplaceAll(h[1], "'", ""))
	if err := run(context.Background(), args, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("switchboard %s: %v", h[1], err)
	}
	var created struct{ Token string }
	json.Unmarshal(out.Bytes(), &created)
	if created.Token == "" {
		t.Fatalf("the banner's command printed %s", out.String())
	}
}

// A listener on every interface is shown at 127.0.0.1, and a password in
// the DSN is never shown.
func TestBannerAddresses(t *testing.T) {
	in := &integrator{}
	var b bytes.Buffer
	in.printBanner(&b, "postgres://user:s3cret@db.example:5432/sb?sslmode=disable", humanURL("", &fakeAddr{"[::]:8080"}))
	if strings.Contains(b.String(), "s3cret") || !strings.Contains(b.String(), "http://127.0.0.1:8080/core/v2/endpoints") ||
		!strings.Contains(b.String(), "--db 'postgres://user:xxxxx@db.example:5432/sb?sslmode=disable'") {
		t.Fatalf("banner:\n%s", b.String())
	}
	if got := humanURL("https://api.example.test/", &fakeAddr{"0.0.0.0:80"}); got != "https://api.example.test" {
		t.Fatalf("humanURL with --public-url: %s", got)
	}
}

type fakeAddr struct{ s string }

func (a *fakeAddr) Network() string { return "tcp" }
func (a *fakeAddr) String() string  { return a.s }

// The Dockerfile names its base images with their registries, so a build
// does not depend on a machine's default registry.
func TestDockerfileNamesImagesFully(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var images int
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.EqualFold(f[0], "FROM") {
			continue
		}
		images++
		// The first part of the name is a registry when it has a dot.
		if host, _, hasPath := strings.Cut(f[1], "/"); !hasPath || !strings.Contains(host, ".") {
			t.Errorf("Dockerfile: %q does not name its registry (docker.io/library/…, gcr.io/…)", line)
		}
	}
	if images == 0 {
		t.Fatal("no FROM line in the Dockerfile")
	}
}
