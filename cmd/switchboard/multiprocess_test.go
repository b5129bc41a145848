package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// buildBinary builds the real program once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "switchboard-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "switchboard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

type process struct {
	base   string
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// startProcess starts `switchboard serve` as a real process and waits until
// it is ready.
func startProcess(t *testing.T, bin, dsn string, env ...string) *process {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &process{base: "http://" + addr, stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "serve", "--addr", addr, "--db", dsn)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(p.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("switchboard serve did not become ready:\n%s", p.stderr.String())
	return nil
}

// Several Switchboard processes over one PostgreSQL behave as one server.
func TestProcessesShareOnePostgres(t *testing.T) {
	dsn := sqlstoretest.PostgresDSN(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	const token = "multi-process-token"
	a := startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+token)
	b := startProcess(t, bin, dsn)
	servers := []*process{a, b}

	t.Run("duplicate ip across processes", func(t *testing.T) {
		const n = 50
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				statuses[i], _ = call(t, "POST", servers[i%2].base+"/core/v2/endpoints", token,
					`{"type":"third_party","auth_required":false,"addresses":[{"ip":"198.51.100.7","port":5090}]}`)
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[200] != 1 || count[409] != n-1 {
			t.Fatalf("%d concurrent creates of one ip:port over two processes: statuses %v; want one 200 and %d 409", n, count, n-1)
		}
	})

	t.Run("concurrent patches lose nothing and are never half-applied", func(t *testing.T) {
		_, e := call(t, "POST", a.base+"/core/v2/endpoints", token, `{"type":"third_party","addresses":[{"ip":"198.51.100.8"}]}`)
		item := "/core/v2/endpoints/" + e["endpoint_sid"].(string)
		const n = 40
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body := fmt.Sprintf(`{"name":"n-%d","capacity":%d,"attributes":{"k%d":"v"}}`, i, i, i)
				if status, out := call(t, "PATCH", servers[i%2].base+item, token, body); status != 200 {
					t.Errorf("PATCH: %d %v", status, out)
				}
			})
		}
		wg.Wait()
		for _, s := range servers {
			_, got := call(t, "GET", s.base+item, token, "")
			if attrs := got["attributes"].(map[string]any); len(attrs) != n {
				t.Fatalf("after %d concurrent PATCHes each adding one attribute, %d remain: an update was lost", n, len(attrs))
			}
			if got["name"] != fmt.Sprintf("n-%v", got["capacity"]) {
				t.Fatalf("name %v and capacity %v come from different PATCHes: one was half-applied", got["name"], got["capacity"])
			}
		}
	})

	t.Run("a new token works at once on every process", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(t.Context(), []string{"partners", "create", "--db", dsn, "--name", "late"}, func(string) string { return "" }, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		var p struct{ Token string }
		json.Unmarshal(out.Bytes(), &p)
		for _, s := range []*process{b, a} {
			if status, body := call(t, "GET", s.base+"/core/v2/endpoints", p.Token, ""); status != 200 {
				t.Fatalf("new token on %s: %d %v", s.base, status, body)
			}
		}
	})

	t.Run("a write through one process is in the other's next GET", func(t *testing.T) { nextGETSeesTheOthersWrites(t, a, b, token) })

	t.Run("a delete is seen by every process", func(t *testing.T) {
		_, e := call(t, "POST", a.base+"/core/v2/endpoints", token, `{"type":"conference"}`)
		item := "/core/v2/endpoints/" + e["endpoint_sid"].(string)
		if status, _ := call(t, "GET", b.base+item, token, ""); status != 200 {
			t.Fatalf("created on one process, read on the other: %d", status)
		}
		if status, _ := call(t, "DELETE", b.base+item, token, ""); status != 204 {
			t.Fatalf("DELETE: %d", status)
		}
		for _, s := range servers {
			if status, _ := call(t, "GET", s.base+item, token, ""); status != 404 {
				t.Fatalf("deleted endpoint on %s: %d", s.base, status)
			}
		}
	})
}

// Two Switchboard processes on one SQLite file: each answers GETs from its
// answer cache, and without a statement while nothing commits (the WAL
// index, sqlstore/walindex.go); the other's commits must still show at
// once.
func TestProcessesShareOneSQLiteFile(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	const token = "sqlite-processes-token"
	a := startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+token)
	b := startProcess(t, bin, dsn)
	nextGETSeesTheOthersWrites(t, a, b, token)
	nextGETSeesTheOthersWrites(t, b, a, token)
}

// nextGETSeesTheOthersWrites: a answers GETs from its answer cache; b's
// writes reach it through the database alone, and the GET right after
// each (with no wait between) must show them.
func nextGETSeesTheOthersWrites(t *testing.T, a, b *process, token string) {
	t.Helper()
	_, e := call(t, "POST", a.base+"/core/v2/endpoints", token, `{"type":"conference","name":"cached"}`)
	item := "/core/v2/endpoints/" + e["endpoint_sid"].(string)
	for i := range 20 {
		call(t, "GET", a.base+item, token, "") // kept, or answered from the cache
		call(t, "GET", a.base+item, token, "") // from the cache
		name := fmt.Sprintf("written through b %d", i)
		if status, _ := call(t, "PATCH", b.base+item, token, `{"name":"`+name+`"}`); status != 200 {
			t.Fatalf("PATCH through b: %d", status)
		}
		if _, got := call(t, "GET", a.base+item, token, ""); got["name"] != name {
			t.Fatalf("after b renamed it to %q, a answered name %v: a stale answer", name, got["name"])
		}
	}
	if status, _ := call(t, "DELETE", b.base+item, token, ""); status != 204 {
		t.Fatalf("DELETE through b: %d", status)
	}
	if status, _ := call(t, "GET", a.base+item, token, ""); status != 404 {
		t.Fatalf("after b deleted it, a answered %d", status)
	}
}
