package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/httpapi"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

// parseServe runs `switchboard serve args...` up to the configuration it
// would serve with.
func parseServe(args []string, env map[string]string) (serveConfig, error) {
	var got serveConfig
	root := newRootCommand(func(k string) string { return env[k] }, io.Discard, io.Discard, func(_ context.Context, c serveConfig) error {
		got = c
		return nil
	})
	root.SetArgs(append([]string{"serve"}, args...))
	err := root.Execute()
	return got, err
}

// serve's configuration: defaults, each variable, a flag winning over its
// variable, and values that do not parse or make no sense are errors.
func TestServeConfig(t *testing.T) {
	defaults := serveConfig{Addr: defaultAddr, DB: defaultDB, ShutdownTimeout: 10 * time.Second,
		WriteTimeout: defaultWriteTimeout, MaxConns: defaultMaxConns, MaxInFlight: defaultMaxInFlight, MaxRunning: httpapi.DefaultRunning(),
		StatementTimeout: sqlstore.DefaultStatementTimeout,
		MaxStreams:       httpapi.DefaultMaxStreams, StreamKeepAlive: httpapi.DefaultKeepAlive, ChangesRetention: defaultChangesRetention,
		AnswerCacheMiB: httpapi.DefaultAnswerCacheBytes >> 20}
	with := func(f func(c *serveConfig)) serveConfig { c := defaults; f(&c); return c }
	gw := func(ip string, port int64) sb.IPPort { return sb.IPPort{IP: ip, Port: port} }
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    serveConfig
		wantErr string
	}{
		{name: "defaults", want: defaults},
		{name: "every variable", env: map[string]string{
			"SWITCHBOARD_ADDR": "0.0.0.0:9000", "SWITCHBOARD_DB": "postgres://u@h/db", "SWITCHBOARD_PUBLIC_URL": "https://api.example.test",
			"SWITCHBOARD_SYSTEM_GATEWAYS": "192.0.2.1, 192.0.2.2:5070", "SWITCHBOARD_RATE_LIMIT": "2.5", "SWITCHBOARD_RATE_BURST": "7",
			"SWITCHBOARD_DEBUG_ADDR": "127.0.0.1:6060", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "3s", "SWITCHBOARD_BOOTSTRAP_TOKEN": "tok",
			"SWITCHBOARD_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7", "SWITCHBOARD_WRITE_TIMEOUT": "5m", "SWITCHBOARD_MAX_CONNS": "50",
			"SWITCHBOARD_MAX_IN_FLIGHT": "8", "SWITCHBOARD_MAX_RUNNING": "3", "SWITCHBOARD_STATEMENT_TIMEOUT": "250ms",
			"SWITCHBOARD_MAX_STREAMS": "5", "SWITCHBOARD_STREAM_KEEP_ALIVE": "2s", "SWITCHBOARD_CHANGES_RETENTION": "90s",
			"SWITCHBOARD_ANSWER_CACHE_MIB": "16",
		}, want: serveConfig{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, Addr: "0.0.0.0:9000", DB: "postgres://u@h/db", PublicURL: "https://api.example.test",
			SystemGateways: []sb.IPPort{gw("192.0.2.1", 5060), gw("192.0.2.2", 5070)}, RateLimit: 2.5, RateBurst: 7,
			DebugAddr: "127.0.0.1:6060", ShutdownTimeout: 3 * time.Second, BootstrapToken: "tok",
			WriteTimeout: 5 * time.Minute, MaxConns: 50, MaxInFlight: 8, MaxRunning: 3, StatementTimeout: 250 * time.Millisecond,
			MaxStreams: 5, StreamKeepAlive: 2 * time.Second, ChangesRetention: 90 * time.Second, AnswerCacheMiB: 16}},
		{name: "changes retention zero", args: []string{"--changes-retention", "0s"}, wantErr: "--changes-retention 0s"},
		{name: "answer cache off", args: []string{"--answer-cache-mib", "0"}, want: with(func(c *serveConfig) { c.AnswerCacheMiB = 0 })},
		{name: "in-flight cap off", args: []string{"--max-in-flight", "0"}, want: with(func(c *serveConfig) { c.MaxInFlight = 0 })},
		{name: "flags win over variables", args: []string{"--addr", "127.0.0.1:1", "--db", "sqlite:flag.db", "--rate-limit", "1", "--system-gateway", "198.51.100.1", "--system-gateway", "198.51.100.2:5080"},
			env: map[string]string{"SWITCHBOARD_ADDR": "127.0.0.1:2", "SWITCHBOARD_DB": "sqlite:env.db", "SWITCHBOARD_RATE_LIMIT": "9", "SWITCHBOARD_SYSTEM_GATEWAYS": "192.0.2.9"},
			want: with(func(c *serveConfig) {
				c.Addr, c.DB, c.RateLimit = "127.0.0.1:1", "sqlite:flag.db", 1
				c.SystemGateways = []sb.IPPort{gw("198.51.100.1", 5060), gw("198.51.100.2", 5080)}
			})},
		{name: "flag=value form", args: []string{"--addr=127.0.0.1:3"}, want: with(func(c *serveConfig) { c.Addr = "127.0.0.1:3" })},
		{name: "rate limit not a number", env: map[string]string{"SWITCHBOARD_RATE_LIMIT": "ten"}, wantErr: `$SWITCHBOARD_RATE_LIMIT="ten" (for --rate-limit): want a number`},
		{name: "rate limit flag not a number", args: []string{"--rate-limit", "ten"}, wantErr: `invalid argument "ten" for "--rate-limit"`},
		{name: "rate limit negative", env: map[string]string{"SWITCHBOARD_RATE_LIMIT": "-1"}, wantErr: "--rate-limit -1"},
		{name: "rate limit NaN", args: []string{"--rate-limit", "NaN"}, wantErr: "--rate-limit NaN"},
		{name: "burst not whole", env: map[string]string{"SWITCHBOARD_RATE_BURST": "1.5"}, wantErr: "want a whole number"},
		{name: "burst negative", args: []string{"--rate-burst", "-2"}, wantErr: "--rate-burst -2"},
		{name: "bad gateway in variable", env: map[string]string{"SWITCHBOARD_SYSTEM_GATEWAYS": "192.0.2.1,not a host"}, wantErr: `system gateway "not a host"`},
		{name: "bad addr", env: map[string]string{"SWITCHBOARD_ADDR": "8080"}, wantErr: `--addr: "8080": want host:port`},
		{name: "bad debug addr", args: []string{"--debug-addr", "localhost"}, wantErr: "--debug-addr"},
		{name: "bad trusted proxy", env: map[string]string{"SWITCHBOARD_TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, wantErr: `"proxy" is not an address or CIDR`},
		{name: "bad public url", env: map[string]string{"SWITCHBOARD_PUBLIC_URL": "api.example.test"}, wantErr: "--public-url"},
		{name: "shutdown timeout without unit", env: map[string]string{"SWITCHBOARD_SHUTDOWN_TIMEOUT": "5"}, wantErr: "SWITCHBOARD_SHUTDOWN_TIMEOUT"},
		{name: "shutdown timeout zero", args: []string{"--shutdown-timeout", "0s"}, wantErr: "--shutdown-timeout"},
		{name: "max conns zero", env: map[string]string{"SWITCHBOARD_MAX_CONNS": "0"}, wantErr: "--max-conns 0"},
		{name: "max conns not a number", env: map[string]string{"SWITCHBOARD_MAX_CONNS": "many"}, wantErr: "SWITCHBOARD_MAX_CONNS"},
		{name: "max in flight negative", args: []string{"--max-in-flight", "-1"}, wantErr: "--max-in-flight -1"},
		{name: "max running zero", args: []string{"--max-running", "0"}, wantErr: "--max-running 0"},
		{name: "statement timeout zero", args: []string{"--statement-timeout", "0s"}, wantErr: "--statement-timeout 0s"},
		{name: "statement timeout not a duration", env: map[string]string{"SWITCHBOARD_STATEMENT_TIMEOUT": "soon"}, wantErr: "SWITCHBOARD_STATEMENT_TIMEOUT"},
		{name: "write timeout zero", env: map[string]string{"SWITCHBOARD_WRITE_TIMEOUT": "0s"}, wantErr: "--write-timeout"},
		{name: "empty db", args: []string{"--db", ""}, wantErr: "--db: empty"},
		{name: "positional argument", args: []string{"extra"}, wantErr: `unknown command "extra"`},
		{name: "single-dash long flag", args: []string{"-db", "sqlite:x.db"}, wantErr: "long flags take two dashes: --db"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseServe(c.args, c.env)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("config\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}

func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVersionAndHelpForms(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "switchboard dev (go") {
			t.Errorf("switchboard %s: %q %v", strings.Join(args, " "), out, err)
		}
	}
	help, _, _ := runCLI(t, nil, "help", "tokens", "revoke")
	flagHelp, _, _ := runCLI(t, nil, "tokens", "revoke", "--help")
	if help != flagHelp || !strings.Contains(help, "--token-id id") {
		t.Errorf("help tokens revoke and tokens revoke --help differ or lack --token-id:\n%s\n---\n%s", help, flagHelp)
	}
	// A group without a command shows what it holds, on standard error,
	// and fails: nothing was done.
	out, stderr, err := runCLI(t, nil, "tokens")
	if err == nil || out != "" || !strings.Contains(stderr, "revoke") {
		t.Errorf("switchboard tokens: stdout %q, stderr %q, err %v", out, stderr, err)
	}
	if _, _, err := runCLI(t, nil); err == nil || !strings.Contains(err.Error(), "no command given") {
		t.Errorf("switchboard: %v", err)
	}
}

// The completion scripts complete commands, flags and scopes: bash for
// real (the script sourced in bash), zsh through the same __complete
// protocol its script calls (and its syntax when zsh is installed).
func TestCompletion(t *testing.T) {
	bashScript, _, err := runCLI(t, nil, "completion", "bash")
	if err != nil || !strings.Contains(bashScript, "__start_switchboard") {
		t.Fatalf("completion bash: %v\n%.200s", err, bashScript)
	}
	zshScript, _, err := runCLI(t, nil, "completion", "zsh")
	if err != nil || !strings.HasPrefix(zshScript, "#compdef switchboard") {
		t.Fatalf("completion zsh: %v\n%.200s", err, zshScript)
	}
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{"par"}, []string{"partners"}},
		{[]string{"tokens", ""}, []string{"create", "list", "revoke"}},
		{[]string{"serve", "--rate"}, []string{"--rate-burst", "--rate-limit"}},
		{[]string{"partners", "create", "--scopes", "endpoints.manage,endpoints.re"}, []string{"endpoints.manage,endpoints.read"}},
	} {
		out, _, err := runCLI(t, nil, append([]string{"__complete"}, c.words...)...)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w+"\t") && !strings.Contains(out, w+"\n") {
				t.Errorf("__complete %q: %q missing from\n%s", c.words, w, out)
			}
		}
	}

	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The bash script needs the bash-completion package, as every
	// completion script in Debian does (.ci/run installs it).
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if bash, err := exec.LookPath("bash"); err == nil && fileExists(bashCompletion) {
		script := filepath.Join(t.TempDir(), "switchboard.bash")
		os.WriteFile(script, []byte(bashScript), 0o600)
		cmd := exec.Command(bash, "-c", `source `+bashCompletion+`; source "$1"
COMP_WORDS=(switchboard tokens re); COMP_CWORD=2; COMP_LINE="switchboard tokens re"; COMP_POINT=${#COMP_LINE}
__start_switchboard switchboard re tokens
echo "${COMPREPLY[@]}"`, "bash", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		// (compopt complains on standard error outside a real completion)
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "revoke" {
			t.Errorf("bash completion of 'switchboard tokens re': %q %v", out, err)
		}
	} else {
		t.Log("bash or bash-completion not installed: the bash script was not run")
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		script := filepath.Join(t.TempDir(), "_switchboard")
		os.WriteFile(script, []byte(zshScript), 0o600)
		if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("zsh -n on the zsh completion script: %v\n%s", err, out)
		}
	} else {
		t.Log("zsh not installed: the zsh script's syntax was not checked")
	}
}

// Administration commands never create a database: a mistyped path is an
// error that says so, and leaves nothing behind. migrate creates one.
func TestAdminCommandsNeverCreateADatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.db")
	dsn := "sqlite:" + path
	for _, args := range [][]string{
		{"partners", "create", "--db", dsn, "--name", "x"},
		{"partners", "list", "--db", dsn},
		{"tokens", "create", "--db", dsn, "--partner", sb.NewSID()},
		{"tokens", "list"},
		{"tokens", "revoke", "--db", dsn, "--token-id", sb.NewSID()},
	} {
		_, _, err := runCLI(t, map[string]string{"SWITCHBOARD_DB": dsn}, args...)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "never create") {
			t.Errorf("switchboard %s: %v", strings.Join(args, " "), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Fatalf("switchboard %s left %v behind", strings.Join(args, " "), entries)
		}
	}
	if _, _, err := runCLI(t, nil, "migrate", "--db", dsn); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, nil, "partners", "list", "--db", dsn); err != nil {
		t.Fatalf("after migrate: %v", err)
	}
}

// serve creates a database only when there was none (and says so); the
// file is its owner's only; when the file is gone but its WAL is still
// there, the database was removed, and serve refuses to start afresh.
func TestServeCreatesADatabaseOnlyOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sb.db")
	srv := startServe(t, nil, "--db", "sqlite:"+path)
	if !strings.Contains(srv.stderr.String(), `"msg":"created a new database","path":"`+path+`"`) {
		t.Errorf("first start must log that it created the database:\n%s", srv.stderr.String())
	}
	call(t, "POST", srv.base+"/core/v2/endpoints", "no-token", `{}`) // any request; the sandbox partner was written
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode -rw-------", f, fi.Mode(), err)
		}
	}
	// The server's directory holds the WAL (the server runs, or crashed):
	// the database file vanishing is not a first start.
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // in case it serves
	defer cancel()
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", "sqlite:" + path}, func(string) string { return "" }, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), path+"-wal exists") || !strings.Contains(err.Error(), "refusing to create") {
		t.Fatalf("serve with the database gone but its WAL there: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("serve recreated the database: %v", err)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	os.Rename(path+".moved", path)
	again := startServe(t, nil, "--db", "sqlite:"+path)
	defer again.stop()
	if strings.Contains(again.stderr.String(), "created a new database") {
		t.Fatal("a later start must not say it created the database")
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
