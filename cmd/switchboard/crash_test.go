package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// Crash durability: concurrent creates and PATCHes against the real binary,
// SIGKILL in the middle, restart on the same database. Every write that was
// answered 200 must be there with the acknowledged content, and nothing that
// was not acknowledged may be there half-written.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		bin, err := buildBinary()
		if err != nil {
			t.Fatal(err)
		}
		const token = "crash-token"
		srv := startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+token)
		client := &http.Client{Timeout: 5 * time.Second}

		// Each worker owns one endpoint it PATCHes with rising capacities,
		// and creates endpoints whose whole content derives from their name.
		type patchState struct{ acked, inFlight int64 }
		const workers = 16
		owned := make([]string, workers)
		for w := range workers {
			status, e := call(t, "POST", srv.base+"/core/v2/endpoints", token, `{"type":"conference","name":"owned"}`)
			if status != 200 {
				t.Fatalf("setup create: %d", status)
			}
			owned[w] = e["endpoint_sid"].(string)
		}
		var (
			mu       sync.Mutex
			acked    = map[string]string{} // sid -> name of acknowledged creates
			patches  = make([]patchState, workers)
			stopping atomic.Bool
			wg       sync.WaitGroup
		)
		body := func(name string) string {
			return fmt.Sprintf(`{"type":"third_party","name":%q,"attributes":{"copy":%q},"addresses":[{"ip":"10.20.30.40","port":%d}]}`,
				name, name, 1000+len(name))
		}
		for w := range workers {
			wg.Go(func() {
				for i := 1; !stopping.Load(); i++ {
					if i%2 == 0 {
						name := fmt.Sprintf("crash-w%d-%d", w, i)
						status, e, ok := tryCall(client, "POST", srv.base+"/core/v2/endpoints", token, body(name))
						if ok && status == 200 {
							mu.Lock()
							acked[e["endpoint_sid"].(string)] = name
							mu.Unlock()
						}
						continue
					}
					mu.Lock()
					patches[w].inFlight = int64(i)
					mu.Unlock()
					status, _, ok := tryCall(client, "PATCH", srv.base+"/core/v2/endpoints/"+owned[w], token, fmt.Sprintf(`{"capacity":%d,"name":"cap-%d"}`, i, i))
					if ok && status == 200 {
						mu.Lock()
						patches[w].acked = int64(i)
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(1500 * time.Millisecond)
		srv.cmd.Process.Kill() // SIGKILL: no graceful anything
		stopping.Store(true)
		wg.Wait()
		srv.cmd.Wait()
		if len(acked) < 10 {
			t.Fatalf("only %d creates were acknowledged before the kill: the test proves little", len(acked))
		}

		again := startProcess(t, bin, dsn)
		for sid, name := range acked {
			status, e := call(t, "GET", again.base+"/core/v2/endpoints/"+sid, token, "")
			if status != 200 || e["name"] != name || e["attributes"].(map[string]any)["copy"] != name {
				t.Fatalf("acknowledged create %s (%s) after the crash: %d %v", sid, name, status, e)
			}
		}
		for w, sid := range owned {
			_, e := call(t, "GET", again.base+"/core/v2/endpoints/"+sid, token, "")
			capacity := int64(e["capacity"].(float64))
			p := patches[w]
			if capacity != p.acked && capacity != p.inFlight {
				t.Fatalf("endpoint %s: capacity %d after the crash, but the last acknowledged PATCH set %d (in flight: %d)", sid, capacity, p.acked, p.inFlight)
			}
			if e["name"] != fmt.Sprintf("cap-%d", capacity) && capacity != 0 {
				t.Fatalf("endpoint %s is half-patched: name %v with capacity %d", sid, e["name"], capacity)
			}
		}
		// Whatever exists besides is whole: every stored endpoint's content
		// matches its name.
		for offset := 0; ; offset += 1000 {
			_, page := call(t, "GET", fmt.Sprintf("%s/core/v2/endpoints?limit=1000&offset=%d&filter=name+like+%%22crash-%%25%%22", again.base, offset), token, "")
			items := page["items"].([]any)
			for _, it := range items {
				e := it.(map[string]any)
				name := e["name"].(string)
				if e["attributes"].(map[string]any)["copy"] != name || len(e["addresses"].([]any)) != 1 {
					t.Fatalf("endpoint %s is half-written: %v", name, e)
				}
			}
			if len(items) < 1000 {
				break
			}
		}
		t.Logf("%d acknowledged creates and %d PATCHed endpoints checked after SIGKILL", len(acked), workers)
	})
}

// tryCall is call for a server that may die: ok is false without an answer.
func tryCall(client *http.Client, method, url, token, body string) (int, map[string]any, bool) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return res.StatusCode, nil, false // cut off mid-answer: not acknowledged
	}
	return res.StatusCode, out, true
}
