package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	sb "github.com/switchboard-sip/switchboard"
)

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type runningServer struct {
	base   string
	stderr *syncBuffer
	stop   func() error
}

var listeningRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startServe runs `switchboard serve` through run and waits until it listens.
func startServe(t *testing.T, env map[string]string, args ...string) *runningServer {
	t.Helper()
	return startServeConfigured(t, nil, env, args...)
}

// startServeConfigured is startServe with configure changing serve's
// configuration after the flags (runConfigured).
func startServeConfigured(t *testing.T, configure func(*serveConfig), env map[string]string, args ...string) *runningServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runConfigured(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, io.Discard, stderr, configure)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			return &runningServer{base: "http://" + m[1], stderr: stderr, stop: func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(15 * time.Second):
					t.Fatal("serve did not stop within 15 s of its context ending")
					return nil
				}
			}}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not listen within 20 s:\n%s", stderr.String())
		}
	}
}

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestServeEndToEnd(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "e2e.db")
	env := map[string]string{"SWITCHBOARD_DB": dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN": "boot-token"}
	srv := startServe(t, env, "--public-url", "https://api.example.test/")
	if !strings.Contains(srv.stderr.String(), "sandbox token: boot-token\n") {
		t.Fatalf("first start must print the sandbox token line:\n%s", srv.stderr.String())
	}
	if res, err := http.Get(srv.base + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", res, err)
	}

	status, conf := call(t, "POST", srv.base+"/core/v2/endpoints", "boot-token", `{"type":"conference","name":"e2e"}`)
	if status != 200 || conf["properties"].(map[string]any)["api_url"] != "https://api.example.test/conference/v1" {
		t.Fatalf("create: %d %v", status, conf)
	}
	sid := conf["endpoint_sid"].(string)

	// The administration commands work on the database the server uses.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"partners", "create", "--name", "second", "--scopes", "endpoints.read"},
		func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var partner struct {
		Token  string   `json:"token"`
		Scopes []string `json:"scopes"`
	}
	if err := json.Unmarshal(out.Bytes(), &partner); err != nil || partner.Token == "" {
		t.Fatalf("partners create printed %q: %v", out.String(), err)
	}
	if status, _ := call(t, "GET", srv.base+"/core/v2/endpoints/"+sid, partner.Token, ""); status != 404 {
		t.Fatalf("another partner's endpoint: %d, want 404", status)
	}
	if status, _ := call(t, "POST", srv.base+"/core/v2/endpoints", partner.Token, `{"type":"conference"}`); status != 403 {
		t.Fatalf("a read-only partner creating: %d, want 403", status)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// A restart on the same database keeps the data and creates nothing.
	again := startServe(t, env)
	defer again.stop()
	if strings.Contains(again.stderr.String(), "sandbox token") {
		t.Fatal("a later start must not create the sandbox partner again")
	}
	status, got := call(t, "GET", again.base+"/core/v2/endpoints/"+sid, "boot-token", "")
	if status != 200 || got["name"] != "e2e" {
		t.Fatalf("after restart: %d %v", status, got)
	}
}

func TestCommandErrors(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
	env := func(string) string { return "" }
	if err := run(context.Background(), []string{"migrate", "--db", dsn}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"partners", "delete"},
		{"partners"},
		{"tokens", "create", "extra-argument"},
		{"serve", "--rate-limit", "ten"},
		{"partners", "create", "--db", dsn},
		{"partners", "create", "--db", dsn, "--name", "x", "--login", "only-login"},
		{"partners", "create", "--db", dsn, "--name", "x", "--scopes", "endpoints.everything"},
		{"tokens", "create", "--db", dsn, "--partner", "2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11"},
		{"serve", "--db", "mysql://nope"},
		{"serve", "--system-gateway", "not a host"},
	} {
		if err := run(context.Background(), args, env, io.Discard, io.Discard); err == nil {
			t.Errorf("switchboard %s: expected an error", strings.Join(args, " "))
		}
	}
	// A token may not carry more than its partner.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"partners", "create", "--db", dsn, "--name", "r", "--scopes", "endpoints.read"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var p struct {
		PartnerSID string `json:"partner_sid"`
	}
	json.Unmarshal(out.Bytes(), &p)
	if err := run(context.Background(), []string{"tokens", "create", "--db", dsn, "--partner", p.PartnerSID, "--scopes", "endpoints.manage"}, env, io.Discard, io.Discard); err == nil {
		t.Error("a token with more scopes than its partner must be refused")
	}
}

func TestParseGateway(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":           "192.0.2.1:5060",
		"192.0.2.1:5080":      "192.0.2.1:5080",
		"[2001:DB8::1]:5070":  "[2001:db8::1]:5070",
		"2001:db8::1":         "[2001:db8::1]:5060",
		"GW.example.com:5061": "gw.example.com:5061",
		// One canonical form, as for endpoint addresses: the duplicate-IP
		// rule compares gateways' claims with the endpoints'.
		"::ffff:192.0.2.44":         "192.0.2.44:5060",
		"[::FFFF:C000:022C]:5070":   "192.0.2.44:5070",
		"[0:0:0:0:0:ffff:c000:22c]": "", // brackets need a port
		"127.0.0.1:5080":            "127.0.0.1:5080",
		"[::1]:5060":                "[::1]:5060",
		// No SIP peer has these addresses.
		"0.0.0.0": "", "[::]:5060": "", "255.255.255.255": "", "224.0.0.1:5060": "", "[::ffff:239.0.0.1]:5060": "", "ff02::1": "",
		"[fe80::1%eth0]:5060": "", "192.0.2.1:0": "",
	} {
		if want == "" {
			if g, err := parseGateway(in); err == nil {
				t.Errorf("parseGateway(%q) = %v, want refused", in, g)
			}
			continue
		}
		g, err := parseGateway(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		l := gatewayList{addrs: []sb.IPPort{g}}
		if got := l.String(); got != want {
			t.Errorf("parseGateway(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAdminCommands(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "admin.db")
	env := func(string) string { return "" }
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), args, env, &out, io.Discard); err != nil {
			t.Fatalf("switchboard %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	cli("migrate", "--db", dsn)
	var p struct {
		PartnerSID string `json:"partner_sid"`
		TokenID    string `json:"token_id"`
	}
	created := cli("partners", "create", "--db", dsn, "--name", "acme", "--login", "acme-login", "--password", "twelve chars")
	json.Unmarshal([]byte(created), &p)
	if !sb.IsSID(p.PartnerSID) || !sb.IsSID(p.TokenID) {
		t.Fatalf("partners create: %s", created)
	}
	if table := cli("partners", "list", "--db", dsn); !strings.Contains(table, "PARTNER_SID") || !strings.Contains(table, p.PartnerSID) || !strings.Contains(table, "acme-login") {
		t.Fatalf("partners list:\n%s", table)
	}
	var tokens struct {
		Tokens []struct {
			TokenID   string  `json:"token_id"`
			RevokedAt *string `json:"revoked_at"`
		}
	}
	list := cli("tokens", "list", "--db", dsn, "--json")
	if json.Unmarshal([]byte(list), &tokens); len(tokens.Tokens) != 1 || tokens.Tokens[0].TokenID != p.TokenID || tokens.Tokens[0].RevokedAt != nil {
		t.Fatalf("tokens list --json: %s", list)
	}
	if strings.Contains(list, `"token":`) || strings.Contains(cli("tokens", "list", "--db", dsn), "token\"") {
		t.Fatalf("tokens list must never show a token value: %s", list)
	}
	if out := cli("tokens", "revoke", "--db", dsn, "--token-id", p.TokenID); !strings.Contains(out, "revoked token "+p.TokenID) {
		t.Fatalf("tokens revoke: %s", out)
	}
	if err := run(context.Background(), []string{"tokens", "revoke", "--db", dsn, "--token-id", p.TokenID}, env, io.Discard, io.Discard); err == nil {
		t.Fatal("revoking a revoked token must fail")
	}
	if table := cli("tokens", "list", "--db", dsn); !strings.Contains(table, "REVOKED") || strings.Contains(table, "  -\n") {
		t.Fatalf("tokens list after revoke:\n%s", table)
	}
	if v := cli("version"); !strings.HasPrefix(v, "switchboard dev (go") {
		t.Fatalf("version: %q", v)
	}
}

// --help on every command and group explains it and each of its flags;
// help COMMAND says the same.
func TestHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			walk(sub)
		}
		path := strings.Fields(c.CommandPath())[1:]
		if len(path) == 1 && !strings.Contains(out.String(), "  "+path[0]+" ") {
			t.Errorf("switchboard --help does not list %q", path[0])
		}
		for _, form := range [][]string{append(append([]string{}, path...), "--help"), append([]string{"help"}, path...)} {
			var help bytes.Buffer
			if err := run(context.Background(), form, func(string) string { return "" }, &help, io.Discard); err != nil {
				t.Errorf("switchboard %s: %v", strings.Join(form, " "), err)
			}
			text := help.String()
			if !strings.Contains(text, "Usage:\n  "+c.CommandPath()) || !strings.Contains(text, "Flags:") || len(c.Long) > 0 && !strings.Contains(text, c.Long) {
				t.Errorf("switchboard %s:\n%s", strings.Join(form, " "), text)
			}
			// Every flag line ("  --name ...") has its explanation.
			for _, l := range strings.Split(text, "\n") {
				if f := strings.Fields(l); strings.HasPrefix(strings.TrimSpace(l), "-") && len(strings.Join(f[min(len(f), 2):], " ")) < 8 {
					t.Errorf("switchboard %s: flag %q has no explanation", strings.Join(form, " "), l)
				}
			}
		}
	}
	walk(newRootCommand(func(string) string { return "" }, io.Discard, io.Discard, nil))
}
