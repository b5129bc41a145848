package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// vmHWM is the peak resident memory of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// Three pages of 1,000 endpoints of about 900 KB each (about 900 MB of JSON
// apiece), fetched at once from the real server on a real SQLite file,
// raise its peak memory by far less than 400 MB: list answers are written
// while their rows are read, never built whole.
func TestBigPagesAtOnceStayInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1 GB database")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc for the server's peak memory")
	}
	const (
		endpoints = 1000
		pages     = 3
		bound     = 400 << 20
	)
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "big.db")
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	const token = "big-pages-token"

	// The endpoints are created through the API by a first server: the
	// largest the API accepts are about this, 55 transformations of 16
	// operands of 1,000 characters (a body just under 1 MiB).
	seeder := startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+token)
	operands := make([]string, 16)
	for i := range operands {
		operands[i] = strconv.Quote(strings.Repeat(string(rune('a'+i)), 1000))
	}
	transformation := `{"action":"strip_plus","operands":[` + strings.Join(operands, ",") + `]}`
	body := `{"type":"third_party","addresses":[{"ip":"IP"}],"transformations":[` + strings.Repeat(transformation+",", 54) + transformation + `]}`
	start := time.Now()
	var seedWG sync.WaitGroup
	seedErrs := make(chan error, endpoints)
	for w := range 4 {
		seedWG.Go(func() {
			client := &http.Client{Timeout: time.Minute}
			for i := w; i < endpoints; i += 4 {
				req, _ := http.NewRequest("POST", seeder.base+"/core/v2/endpoints",
					strings.NewReader(strings.Replace(body, `"IP"`, fmt.Sprintf(`"10.88.%d.%d"`, i/250, 1+i%250), 1)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					seedErrs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					seedErrs <- fmt.Errorf("create %d: %d", i, res.StatusCode)
					return
				}
			}
		})
	}
	seedWG.Wait()
	close(seedErrs)
	for err := range seedErrs {
		t.Fatal(err)
	}
	seeder.cmd.Process.Signal(syscall.SIGTERM)
	seeder.cmd.Wait()
	t.Logf("%d endpoints of %d bytes created in %v", endpoints, len(body), time.Since(start).Round(time.Millisecond))

	// A fresh server, so that the peak memory is this test's alone. The
	// answers are 900 MB each: on a busy machine they take longer than the
	// default minute to send.
	srv := startProcess(t, bin, dsn, "SWITCHBOARD_WRITE_TIMEOUT=20m")
	pid := srv.cmd.Process.Pid
	get := func(ctx context.Context, query string) (int, []byte, []byte, int64, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.base+"/core/v2/endpoints?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, nil, 0, err
		}
		defer res.Body.Close()
		head := make([]byte, 64)
		n, _ := io.ReadFull(res.Body, head)
		// Only the last bytes are kept: the test holds no page either.
		var tail []byte
		buf := make([]byte, 256<<10)
		total := int64(n)
		for {
			m, err := res.Body.Read(buf)
			total += int64(m)
			if m > 0 {
				tail = append(tail[:0], buf[max(0, m-64):m]...)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return res.StatusCode, head[:n], tail, total, err
			}
		}
		return res.StatusCode, head[:n], tail, total, nil
	}
	if status, _, _, _, err := get(ctx, "limit=1"); status != 200 || err != nil {
		t.Fatalf("warm-up: %d %v", status, err)
	}
	before := vmHWM(t, pid)

	// Should memory grow past the bound, the server is stopped there rather
	// than let it take the machine's memory.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var overBound bool
	var watchMu sync.Mutex
	go func() {
		for watchCtx.Err() == nil {
			if vmHWM(t, pid)-before > bound {
				watchMu.Lock()
				overBound = true
				watchMu.Unlock()
				srv.cmd.Process.Kill()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, pages)
	for i := range pages {
		wg.Go(func() {
			status, head, tail, n, err := get(ctx, "limit=1000")
			switch {
			case err != nil:
				errs[i] = err
			case status != 200 || !bytes.HasPrefix(head, []byte(`{"count":1000,"has_more":false,"items":[{`)) || !bytes.HasSuffix(tail, []byte(`,"total":1000}`)):
				errs[i] = fmt.Errorf("answer %d: %.64s ... %s", status, head, tail)
			case n < endpoints*880_000:
				errs[i] = fmt.Errorf("answer of %d bytes, want about %d MB", n, endpoints*900/1000)
			default:
				t.Logf("page %d: %d bytes", i, n)
			}
		})
	}
	wg.Wait()
	stopWatch()
	watchMu.Lock()
	defer watchMu.Unlock()
	if overBound {
		t.Fatalf("the server's peak memory grew by over %d MB: stopped", bound>>20)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rise := vmHWM(t, pid) - before
	t.Logf("%d pages of %d endpoints at once in %v: peak RSS %d MB before, rose by %d MB", pages, endpoints,
		time.Since(start).Round(time.Millisecond), before>>20, rise>>20)
	if rise > bound/2 {
		t.Fatalf("peak RSS rose by %d MB, want well under %d MB", rise>>20, bound>>20)
	}
}

// serve wires the connection cap: a client holding many idle connections
// does not lock others out, and the metrics count the connections.
func TestServeConnectionCap(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "conns.db")
	srv := startServe(t, map[string]string{"SWITCHBOARD_DB": dsn, "SWITCHBOARD_MAX_CONNS": "4"})
	addr := strings.TrimPrefix(srv.base, "http://")
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	res, err := client.Get(srv.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`switchboard_http_connections_total{event="accepted"} 51`, `switchboard_http_connections_total{event="refused"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var open int
	fmt.Sscanf(string(body[bytes.Index(body, []byte("\nswitchboard_http_connections ")):]), "\nswitchboard_http_connections %d", &open)
	if open < 1 || open > 4 {
		t.Errorf("open connections %d, want at most 4", open)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
}
