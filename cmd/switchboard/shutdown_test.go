package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// SIGTERM under load, with one request that outlives the shutdown timeout
// (its body never finishes arriving): every answer is complete and none is
// a 500; a request is either answered or its connection closes before any
// byte; the process exits 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		bin, err := buildBinary()
		if err != nil {
			t.Fatal(err)
		}
		const token = "shutdown-token"
		p := startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+token, "SWITCHBOARD_SHUTDOWN_TIMEOUT=1s")

		var (
			mu       sync.Mutex
			statuses = map[int]int{}
			problems []string
			refused  atomic.Int64
			stop     atomic.Bool
			wg       sync.WaitGroup
		)
		problem := func(format string, args ...any) {
			mu.Lock()
			problems = append(problems, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		request := func(client *http.Client, method, path, body string) (sid string, answered bool) {
			req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				refused.Add(1) // no answer at all: the connection closed before any byte
				return "", false
			}
			defer res.Body.Close()
			data, err := io.ReadAll(res.Body)
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
			if err != nil {
				problem("%s %s: %d answer cut off: %v", method, path, res.StatusCode, err)
				return "", true
			}
			if res.StatusCode >= 500 && res.StatusCode != 503 {
				problem("%s %s: %d %s", method, path, res.StatusCode, data)
			}
			if res.StatusCode == 204 {
				return "", true
			}
			var v map[string]any
			if err := json.Unmarshal(data, &v); err != nil {
				problem("%s %s: %d with a body that is not JSON: %q", method, path, res.StatusCode, data)
			} else if res.StatusCode >= 400 && (v["message"] == nil || v["errors"] == nil) {
				problem("%s %s: %d without the CarrierX error shape: %s", method, path, res.StatusCode, data)
			}
			sid, _ = v["endpoint_sid"].(string)
			return sid, true
		}
		for w := range 12 {
			wg.Go(func() {
				client := &http.Client{Timeout: 20 * time.Second}
				for i := 0; !stop.Load(); i++ {
					sid, answered := request(client, "POST", "/core/v2/endpoints", fmt.Sprintf(`{"type":"third_party","name":"w%d-%d","addresses":[{"ip":"10.9.%d.%d"}]}`, w, i, w, i%250))
					if !answered {
						if stop.Load() {
							return
						}
						time.Sleep(5 * time.Millisecond) // the listener is closed: try again until told to stop
						continue
					}
					if sid != "" {
						request(client, "PATCH", "/core/v2/endpoints/"+sid, `{"capacity":3}`)
						request(client, "GET", "/core/v2/endpoints/"+sid, "")
					}
					request(client, "GET", "/core/v2/endpoints?limit=50", "")
				}
			})
		}

		// A request whose body never completes stays in flight past the
		// shutdown timeout.
		slow, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		fmt.Fprintf(slow, "POST /core/v2/endpoints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"type\":", token)

		// SIGTERM once the load is well under way (counted, not timed).
		answered := func() int {
			mu.Lock()
			defer mu.Unlock()
			total := 0
			for _, n := range statuses {
				total += n
			}
			return total
		}
		for deadline := time.Now().Add(60 * time.Second); answered() < 100; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d answers in 60 s", answered())
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- p.cmd.Wait() }()
		var exitErr error
		select {
		case exitErr = <-exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("no exit within 30 s of SIGTERM:\n%s", p.stderr.String())
		}
		stop.Store(true)
		wg.Wait()

		slow.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := slow.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("the request cut off at the timeout: read %d bytes (%v), want its connection closed before any byte", n, err)
		}
		if exitErr != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0\n%s", exitErr, p.stderr.String())
		}
		for _, pr := range problems {
			t.Error(pr)
		}
		if !strings.Contains(p.stderr.String(), "requests still in flight at the shutdown timeout") {
			t.Errorf("the cut-off request was not logged:\n%s", p.stderr.String())
		}
		t.Logf("answers by status %v; %d requests found no listener", statuses, refused.Load())
	})
}
