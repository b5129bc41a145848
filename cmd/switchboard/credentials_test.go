package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The CLI refuses Basic credentials HTTP cannot carry or that are easy to
// guess, with a message naming the rule.
func TestPartnerCredentialRules(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "rules.db")
	env := func(string) string { return "" }
	if err := run(context.Background(), []string{"migrate", "--db", dsn}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"partners", "create", "--db", dsn, "--name", "tokens-only"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var p struct {
		PartnerSID string `json:"partner_sid"`
	}
	json.Unmarshal(out.Bytes(), &p)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"partners", "create", "--name", "x", "--login", "short-pw", "--password", "eleven char"}, "at least 12 characters"},
		{[]string{"partners", "create", "--name", "x", "--login", "a:b", "--password", "twelve chars"}, "cannot contain ':'"},
		{[]string{"partners", "create", "--name", "x", "--login", "long-pw", "--password", strings.Repeat("x", 73)}, "at most 72 bytes"},
		{[]string{"partners", "set-password", "--partner", p.PartnerSID, "--password", "short"}, "at least 12 characters"},
		{[]string{"partners", "set-password", "--partner", p.PartnerSID, "--password", "twelve chars", "--login", "a:b"}, "cannot contain ':'"},
		{[]string{"partners", "set-password", "--partner", p.PartnerSID, "--password", "twelve chars"}, "has no login; give one with --login"},
		{[]string{"partners", "set-password", "--partner", "2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11", "--password", "twelve chars"}, "no partner has the SID"},
		{[]string{"partners", "set-password", "--partner", p.PartnerSID}, "--partner and --password are required"},
		{[]string{"partners", "disable"}, "--partner is required"},
		{[]string{"partners", "disable", "--partner", "2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11"}, "no partner has the SID"},
	} {
		err := run(context.Background(), append(tc.args, "--db", dsn), env, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("switchboard %s: %v, want an error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	// A token-only partner gets a first login with set-password --login;
	// a disabled partner gets no new tokens.
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append(args, "--db", dsn), env, &out, io.Discard); err != nil {
			t.Fatalf("switchboard %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	if got := cli("partners", "set-password", "--partner", p.PartnerSID, "--password", "twelve chars", "--login", "first-login", "--json"); got != `{"login":"first-login","partner_sid":"`+p.PartnerSID+`"}`+"\n" {
		t.Fatalf("set-password --json: %s", got)
	}
	if got := cli("partners", "disable", "--partner", p.PartnerSID); !strings.HasPrefix(got, "partner "+p.PartnerSID+" is disabled (since ") {
		t.Fatalf("disable: %s", got)
	}
	if table := cli("partners", "list"); !strings.Contains(table, "DISABLED") || !strings.Contains(table, "first-login") || strings.Contains(table, "  -\n") {
		t.Fatalf("partners list:\n%s", table)
	}
	if list := cli("partners", "list", "--json"); !strings.Contains(list, `"disabled_at":"`) {
		t.Fatalf("partners list --json: %s", list)
	}
	if err := run(context.Background(), []string{"tokens", "create", "--db", dsn, "--partner", p.PartnerSID}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "is disabled") {
		t.Fatalf("tokens create for a disabled partner: %v", err)
	}
}

// stopsWorkingWithin polls works until it fails, and fails the test if a
// request that started d or more after now still worked: the promise about
// staleness, not a latency bound (a slow machine only polls longer).
func stopsWorkingWithin(t *testing.T, d time.Duration, works func() bool) {
	t.Helper()
	changed := time.Now()
	for {
		started := time.Now()
		if !works() {
			return
		}
		if late := started.Sub(changed); late >= d {
			t.Fatalf("still works in a request started %v after the change", late.Round(time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The real binary: partners set-password and partners disable, run while
// two servers serve the same database, take effect on both within a second.
func TestPasswordChangeAndDisableReachEveryProcess(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		const boot = "credentials-boot-token"
		a := startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+boot)
		b := startProcess(t, bin, dsn)
		cli := func(args ...string) []byte {
			t.Helper()
			out, err := exec.Command(bin, append(args, "--db", dsn)...).Output()
			if err != nil {
				t.Fatalf("switchboard %s: %v %s", strings.Join(args, " "), err, stderrOf(err))
			}
			return out
		}
		// The binary itself refuses a short password, saying why.
		short := exec.Command(bin, "partners", "create", "--db", dsn, "--name", "weak", "--login", "weak", "--password", "short")
		if out, err := short.CombinedOutput(); err == nil || !strings.Contains(string(out), "at least 12 characters") {
			t.Fatalf("a short password: %v %s", err, out)
		}

		var p struct {
			PartnerSID string `json:"partner_sid"`
			Token      string `json:"token"`
		}
		if err := json.Unmarshal(cli("partners", "create", "--name", "acme", "--login", "acme-login", "--password", "first password"), &p); err != nil {
			t.Fatal(err)
		}
		works := func(s *process, auth string) func() bool {
			return func() bool {
				req, _ := http.NewRequest("GET", s.base+"/core/v2/endpoints?limit=1", nil)
				req.Header.Set("Authorization", auth)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode == 200
			}
		}
		basic := func(password string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte("acme-login:"+password))
		}
		token, first, second := "Bearer "+p.Token, basic("first password"), basic("second password")
		servers := []*process{a, b}
		for _, s := range servers {
			for _, auth := range []string{token, first} {
				if !works(s, auth)() {
					t.Fatalf("%s on %s before any change", auth, s.base)
				}
			}
		}

		cli("partners", "set-password", "--partner", p.PartnerSID, "--password", "second password")
		for _, s := range servers {
			stopsWorkingWithin(t, time.Second, works(s, first))
		}
		for _, s := range servers {
			if !works(s, second)() || !works(s, token)() {
				t.Fatalf("the new password and the token on %s", s.base)
			}
		}

		cli("partners", "disable", "--partner", p.PartnerSID)
		for _, s := range servers {
			stopsWorkingWithin(t, time.Second, works(s, token))
			stopsWorkingWithin(t, time.Second, works(s, second))
		}
		for _, s := range servers {
			if !works(s, "Bearer "+boot)() {
				t.Fatalf("another partner's token on %s after the disable", s.base)
			}
		}
	})
}

func stderrOf(err error) string {
	if e, ok := err.(*exec.ExitError); ok {
		return string(e.Stderr)
	}
	return ""
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.0.2.7 ,::1,2001:db8::/32,10.1.2.3/16,::ffff:192.0.2.9")
	want := "[10.0.0.0/8 192.0.2.7/32 ::1/128 2001:db8::/32 10.1.0.0/16 192.0.2.9/32]"
	if err != nil || fmt.Sprint(got) != want {
		t.Fatalf("parsePrefixes: %v %v, want %s", got, err, want)
	}
	if got, err := parsePrefixes(""); err != nil || got != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "10.0.0.0/8,,x"} {
		if _, err := parsePrefixes(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
	if err := run(context.Background(), []string{"serve", "--trusted-proxies", "nope"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--trusted-proxies") {
		t.Fatalf("serve --trusted-proxies nope: %v", err)
	}
}
