package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore"
)

// One check per TTL however many callers ask; each change is logged once.
func TestReadinessIsCachedAndLogsChanges(t *testing.T) {
	var checks atomic.Int64
	var failing atomic.Bool
	now := time.Unix(0, 0)
	var log bytes.Buffer
	r := newReadiness(func(context.Context) error {
		checks.Add(1)
		if failing.Load() {
			return errors.New("the database file x was removed")
		}
		return nil
	}, slog.New(slog.NewTextHandler(&log, nil)))
	r.now = func() time.Time { return now }

	flood := func() {
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() { r.ready() })
		}
		wg.Wait()
	}
	flood()
	if n := checks.Load(); n != 1 {
		t.Fatalf("1,000 concurrent calls within one TTL ran %d checks, want 1", n)
	}
	failing.Store(true)
	flood()
	if n := checks.Load(); n != 1 {
		t.Fatalf("still within the TTL: %d checks, want 1", n)
	}
	now = now.Add(readyTTL)
	flood()
	if n := checks.Load(); n != 2 {
		t.Fatalf("after the TTL: %d checks, want 2", n)
	}
	if err := r.ready(); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("cached answer: %v", err)
	}
	now = now.Add(readyTTL)
	r.ready() // same failure: not logged again
	failing.Store(false)
	now = now.Add(readyTTL)
	if err := r.ready(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(log.String(), "not ready"); got != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", got, log.String())
	}
	if !strings.Contains(log.String(), "ready again") {
		t.Errorf("recovery not logged:\n%s", log.String())
	}
	r.drain()
	if err := r.ready(); !errors.Is(err, errDraining) {
		t.Fatalf("draining: %v", err)
	}
}

// waitReady polls /readyz until it answers want (readiness is cached for a
// second) and returns the body.
func waitReady(t *testing.T, base string, want int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still answers %d %v, want %d", res.StatusCode, body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkNotReadyBody: the CarrierX error shape, without the reason (a path).
func checkNotReadyBody(t *testing.T, body map[string]any) {
	t.Helper()
	errs, _ := body["errors"].([]any)
	if body["message"] != "service unavailable" || len(errs) != 1 {
		t.Fatalf("503 body %v is not a CarrierX error", body)
	}
	e := errs[0].(map[string]any)
	if _, ok := e["field"]; !ok || e["message"] == "" || strings.Contains(e["message"].(string), "/") {
		t.Fatalf("503 body %v", body)
	}
}

func TestReadyzWhenTheFileIsRemovedOrReplaced(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(t *testing.T, path string)
		log    string
	}{
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "was removed"},
		{"replaced", func(t *testing.T, path string) {
			other := path + ".other"
			if err := sqlstore.Migrate(context.Background(), "sqlite:"+other); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, "was replaced"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sb.db")
			srv := startServe(t, nil, "--db", "sqlite:"+path)
			defer srv.stop()
			waitReady(t, srv.base, 200)
			c.change(t, path)
			checkNotReadyBody(t, waitReady(t, srv.base, 503))
			if !strings.Contains(srv.stderr.String(), c.log) {
				t.Fatalf("the log does not say the file %s:\n%s", c.log, srv.stderr.String())
			}
		})
	}
}

// Read-only, two ways: the file's permissions (the server running as
// another user than root, who may write anyway) and a read-only mount over
// the database's directory (root only).
func TestReadyzWhenReadOnly(t *testing.T) {
	t.Run("chmod", func(t *testing.T) {
		if os.Geteuid() != 0 {
			path := filepath.Join(t.TempDir(), "sb.db")
			srv := startServe(t, nil, "--db", "sqlite:"+path)
			defer srv.stop()
			waitReady(t, srv.base, 200)
			os.Chmod(path, 0o400)
			checkNotReadyBody(t, waitReady(t, srv.base, 503))
			return
		}
		const nobody = 65534
		bin, err := buildBinary()
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "switchboard-ro-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		data := filepath.Join(dir, "data")
		os.Mkdir(data, 0o700)
		if err := os.Chown(data, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(dir, "switchboard")
		if raw, err := os.ReadFile(bin); err != nil || os.WriteFile(exe, raw, 0o755) != nil {
			t.Fatal("copying the binary:", err)
		}
		path := filepath.Join(data, "sb.db")
		p := startProcessAs(t, exe, "sqlite:"+path, &syscall.Credential{Uid: nobody, Gid: nobody})
		os.Chmod(path, 0o400)
		checkNotReadyBody(t, waitReady(t, p.base, 503))
		os.Chmod(path, 0o600)
		waitReady(t, p.base, 200)
		if !strings.Contains(p.stderr.String(), "is read-only") {
			t.Fatalf("the log does not say why:\n%s", p.stderr.String())
		}
	})
	t.Run("read-only mount", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sb.db")
		srv := startServe(t, nil, "--db", "sqlite:"+path)
		defer srv.stop()
		waitReady(t, srv.base, 200)
		if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
			t.Skipf("cannot bind-mount (needs root): %v %s", err, out)
		}
		defer exec.Command("umount", dir).Run()
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v %s", err, out)
		}
		checkNotReadyBody(t, waitReady(t, srv.base, 503))
		if !strings.Contains(srv.stderr.String(), "read-only") {
			t.Fatalf("the log does not say why:\n%s", srv.stderr.String())
		}
	})
}

// A full disk: a small tmpfs (root only) filled up, then freed.
func TestReadyzWhenTheDiskIsFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	srv := startServe(t, nil, "--db", "sqlite:"+filepath.Join(dir, "sb.db"))
	defer srv.stop()
	waitReady(t, srv.base, 200)
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	checkNotReadyBody(t, waitReady(t, srv.base, 503))
	if !strings.Contains(srv.stderr.String(), "is full") {
		t.Fatalf("the log does not say the disk is full:\n%s", srv.stderr.String())
	}
	os.Remove(filler)
	waitReady(t, srv.base, 200)
}

// startProcessAs is startProcess for a server run as another user.
func startProcessAs(t *testing.T, bin, dsn string, cred *syscall.Credential) *process {
	t.Helper()
	p := &process{stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", dsn)
	p.cmd.Dir = filepath.Dir(bin)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
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
		if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
			p.base = "http://" + m[1]
			waitReady(t, p.base, 200)
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("switchboard serve did not listen:\n%s", p.stderr.String())
	return nil
}
