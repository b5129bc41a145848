package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
)

var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// metricSeries returns the label sets of a metric family in a /metrics body.
func metricSeries(body, name string) []string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(l, name+"{"); ok {
			out = append(out, rest[:strings.Index(rest, "}")])
		}
	}
	return out
}

// Requests with made-up methods, from anyone, add no metric series and no
// log line beyond their one access-log line, which names the method OTHER.
func TestUnknownMethodsAreLabelledOther(t *testing.T) {
	f := newFixture(t)
	logs := &syncLog{}
	api := &Server{Store: f.store, Logger: slog.New(slog.NewJSONHandler(logs, nil)), AccessLog: true}
	f.srv.Config.Handler = api.Handler()
	const n = 40
	for i := range n {
		path := []string{"/core/v2/endpoints", "/healthz", fmt.Sprintf("/nothing/%d", i)}[i%3]
		if r := f.do(fmt.Sprintf("M%dX", i), path, "", ""); r.status != 405 && r.status != 404 {
			t.Fatalf("made-up method: %d %s", r.status, r.body)
		}
	}
	m := f.do("GET", "/metrics", "", "")
	for _, family := range []string{"switchboard_http_requests_total", "switchboard_http_request_duration_seconds_count"} {
		series := metricSeries(m.body, family)
		if len(series) == 0 || len(series) > 3 {
			t.Errorf("%s: %d series for %d made-up methods on 3 routes, want at most 3: %v", family, len(series), n, series)
		}
		for _, s := range series {
			if !strings.HasPrefix(s, `method="OTHER"`) {
				t.Errorf("%s: series %s: every made-up method must be labelled OTHER", family, s)
			}
		}
	}
	other := 0
	for _, l := range logs.lines("request") {
		if l["method"] == "OTHER" {
			other++
		} else if l["route"] != "GET /metrics" {
			t.Fatalf("access log names a made-up method: %v", l)
		}
	}
	if total := logs.count(); other != n || total != n+1 {
		t.Fatalf("want one access-log line per made-up request (%d), and the one of /metrics; got %d OTHER of %d lines", n, other, total)
	}
}

// Over 64 KiB of request line and headers is a 431 with the CarrierX body;
// past the hard bound net/http answers 431 itself, before any handler.
func TestHeaderCap(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewUnstartedServer((&Server{Store: f.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	srv.Config.MaxHeaderBytes = HardMaxHeaderBytes
	srv.Start()
	defer srv.Close()
	get := func(headerBytes int) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/core/v2/endpoints", nil)
		req.Header.Set("Authorization", f.admin)
		req.Header.Set("X-Padding", strings.Repeat("p", headerBytes))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if status, body := get(60 << 10); status != 200 {
		t.Fatalf("60 KiB of headers: %d %s", status, body)
	}
	want := `{"errors":[{"field":null,"message":"the request line and headers are larger than 64 KiB","reference_sid":null}],"message":"request header fields too large"}`
	if status, body := get(70 << 10); status != 431 || body != want {
		t.Fatalf("70 KiB of headers: %d %s", status, body)
	}
	if status, _ := get(HardMaxHeaderBytes + 8<<10); status != 431 {
		t.Fatalf("past the hard bound: %d", status)
	}
}

// blockingStore holds GET-by-SID look-ups until release is closed, counting
// those that reached it.
type blockingStore struct {
	sb.Store
	entered atomic.Int64
	release chan struct{}
}

func (s *blockingStore) EndpointAt(ctx context.Context, partnerSID, endpointSID string) (*sb.Endpoint, int64, error) {
	s.entered.Add(1)
	<-s.release
	return s.Store.EndpointAt(ctx, partnerSID, endpointSID)
}

// A credential holds at most MaxInFlight requests, MaxRunning of them
// running and the others waiting their turn; past it, 429 with Retry-After
// and the CarrierX body, without touching the store. Other credentials are
// not affected, and the places come back.
func TestInFlightCap(t *testing.T) {
	f := newFixture(t)
	sid := f.create(f.admin, `{"type":"conference"}`)["endpoint_sid"].(string)
	store := &blockingStore{Store: f.store, release: make(chan struct{})}
	const maxInFlight, maxRunning = 4, 2
	// No answer cache: every GET must reach the store to be counted.
	api := &Server{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxInFlight: maxInFlight, MaxRunning: maxRunning,
		AnswerCacheBytes: -1}
	served, handler := api.handler()
	f.srv.Config.Handler = handler
	released := false
	unblock := func() {
		if !released {
			released = true
			close(store.release)
		}
	}
	defer unblock()
	var wg sync.WaitGroup
	statuses := make([]int, maxInFlight)
	for i := range maxInFlight {
		wg.Go(func() { statuses[i] = f.do("GET", "/core/v2/endpoints/"+sid, f.admin, "").status })
	}
	waitFor(t, "the running requests and the waiting ones", func() bool {
		served.inFlight.mu.Lock()
		defer served.inFlight.mu.Unlock()
		l := served.inFlight.byKey["t:"+credential.HashToken(strings.TrimPrefix(f.admin, "Bearer "))]
		return store.entered.Load() == maxRunning && l != nil && len(l.waiting) == maxInFlight-maxRunning
	})
	// Past the cap: answered at once (a request that waited in the store
	// would never come back, so the client gives up after a while).
	req, _ := http.NewRequest("GET", f.srv.URL+"/core/v2/endpoints/"+sid, nil)
	req.Header.Set("Authorization", f.admin)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("over the cap: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := `{"errors":[{"field":null,"message":"this credential has as many requests in flight as it may; retry after the time in Retry-After","reference_sid":null}],"message":"too many requests"}`
	if res.StatusCode != 429 || string(body) != want || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the cap: %d Retry-After %q %s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if n := store.entered.Load(); n != maxRunning {
		t.Fatalf("%d requests reached the store, want the %d running ones only", n, maxRunning)
	}
	// Other credentials, the same partner's Basic one included, have their own.
	if r := f.do("GET", "/core/v2/endpoints", f.other, ""); r.status != 200 {
		t.Fatalf("another partner: %d", r.status)
	}
	if r := f.do("GET", "/core/v2/endpoints", f.basic, ""); r.status != 200 {
		t.Fatalf("another credential of the partner: %d", r.status)
	}
	unblock()
	wg.Wait()
	if !slices.Equal(statuses, []int{200, 200, 200, 200}) || store.entered.Load() != maxInFlight {
		t.Fatalf("the requests within the cap: %v, %d reached the store", statuses, store.entered.Load())
	}
	for i := range 2 * maxInFlight {
		if r := f.do("GET", "/core/v2/endpoints/"+sid, f.admin, ""); r.status != 200 {
			t.Fatalf("request %d after the others finished: %d (places not given back)", i, r.status)
		}
	}
}

// A request that gives up while waiting its turn leaves its place, and the
// turns go on in order.
func TestInFlightWaitingGivesUp(t *testing.T) {
	f := newInFlight(3, 1)
	release, ok, err := f.acquire(t.Context(), "k", false)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error)
	go func() {
		_, _, err := f.acquire(ctx, "k", false)
		gaveUp <- err
	}()
	next := make(chan func())
	go func() {
		for {
			f.mu.Lock()
			n := len(f.byKey["k"].waiting)
			f.mu.Unlock()
			if n == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		r, _, _ := f.acquire(t.Context(), "k", false) // waits behind the first waiter
		next <- r
	}()
	waitFor(t, "two waiting", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.byKey["k"].waiting) == 2
	})
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a waiter whose context ended must give up")
	}
	release()
	(<-next)()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.byKey) != 0 {
		t.Fatalf("places left after every request ended: %+v", f.byKey["k"])
	}
}

// The change feed's requests wait ahead of the credential's others, in
// their own order: a follower's next poll is not held up behind the writes
// it follows.
func TestInFlightFeedWaitsAhead(t *testing.T) {
	f := newInFlight(10, 1)
	release, ok, err := f.acquire(t.Context(), "k", false)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	ran := make(chan string, 3)
	waiting := func(n int) func() bool {
		return func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return len(f.byKey["k"].waiting) == n
		}
	}
	for i, w := range []struct {
		name string
		feed bool
	}{{"write", false}, {"first poll", true}, {"second poll", true}} {
		go func() {
			r, _, err := f.acquire(t.Context(), "k", w.feed)
			if err != nil {
				t.Error(err)
				return
			}
			ran <- w.name
			r()
		}()
		waitFor(t, w.name+" waiting", waiting(i+1))
	}
	release()
	var order []string
	for range 3 {
		order = append(order, <-ran)
	}
	if want := []string{"first poll", "second poll", "write"}; !slices.Equal(order, want) {
		t.Fatalf("turns went to %v, want %v", order, want)
	}
}

// Handler leaves its Server as it was, so it can be called twice; handlers
// on one registry share its metrics.
func TestHandlerTwice(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	s := &Server{Store: f.store, PublicURL: "https://api.example.test/", Registry: reg}
	first, second := s.Handler(), s.Handler()
	if s.Logger != nil || s.PublicURL != "https://api.example.test/" || s.auth != nil || s.metrics != nil || s.Registry != reg {
		t.Fatalf("Handler changed its Server: %+v", s)
	}
	for _, h := range []http.Handler{first, second} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/core/v2/endpoints?limit=1", nil)
		req.Header.Set("Authorization", f.admin)
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	second.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `switchboard_http_requests_total{method="GET",route="GET /core/v2/endpoints",status="200"} 2`) {
		t.Fatalf("the two handlers must count into the registry's metrics:\n%s", rec.Body)
	}
}

// Every path of the route table answers its other methods 405 with the
// table's methods in Allow, through the one error writer.
func TestMethodNotAllowedFromRouteTable(t *testing.T) {
	f := newFixture(t)
	methods := map[string][]string{}
	var paths []string
	for _, r := range Routes {
		if methods[r.Pattern] == nil {
			paths = append(paths, r.Pattern)
		}
		methods[r.Pattern] = append(methods[r.Pattern], r.Method)
	}
	for _, p := range paths {
		path := strings.NewReplacer("{endpoint_sid}", sb.NewSID(), "{asset}", "index.css", "{$}", "").Replace(p)
		allow := strings.Join(methods[p], ", ")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods[p], m) {
				continue
			}
			r := f.do(m, path, f.admin, "")
			want := `{"errors":[{"field":null,"message":"` + m + ` is not allowed here; allowed: ` + allow + `","reference_sid":null}],"message":"method not allowed"}`
			if r.status != 405 || r.header.Get("Allow") != allow || r.body != want {
				t.Errorf("%s %s: %d Allow %q %s", m, p, r.status, r.header.Get("Allow"), r.body)
			}
		}
	}
	// A made-up method is not echoed.
	if r := f.do("BREW", "/core/v2/endpoints", f.admin, ""); !strings.Contains(r.body, `"this method is not allowed here; allowed: GET, POST"`) {
		t.Errorf("made-up method: %s", r.body)
	}
}

// The gate's 503 is a CarrierX error body.
func TestGateAnswersCarrierXBody(t *testing.T) {
	rec := httptest.NewRecorder()
	(&Gate{}).ServeHTTP(rec, httptest.NewRequest("GET", "/core/v2/endpoints", nil))
	want := `{"errors":[{"field":null,"message":"the database is not reachable yet; retry shortly","reference_sid":null}],"message":"service unavailable"}`
	if rec.Code != 503 || rec.Body.String() != want || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// serveLimited serves handler with the connection cap on a real listener.
func serveLimited(t *testing.T, n int, handler http.Handler) (*ConnLimit, string) {
	t.Helper()
	limit := NewConnLimit(n)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ConnState: limit.ConnState, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(limit.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return limit, ln.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A client holding many idle connections (some that never send a byte,
// some kept alive after a request) cannot lock others out: each new
// connection takes the place of the longest-idle one.
func TestConnLimitClosesIdleFirst(t *testing.T) {
	const maxConns = 8
	limit, addr := serveLimited(t, maxConns, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		return c
	}
	for i := range 100 { // connected, never a byte
		dial()
		waitFor(t, "the server to accept", func() bool { return limit.Stats().Accepted == int64(i+1) })
	}
	for range 100 { // one request each, then idle
		c := dial()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("keep-alive request: %v %v", res, err)
		}
		res.Body.Close()
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		res, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("request %d of another client: %v", i, err)
		}
		res.Body.Close()
	}
	// Every connection was accepted and none refused: the idle ones beyond
	// the cap made room (all 192 of the first 200, and those of the 20
	// others that arrived before the previous one was seen closed).
	s := limit.Stats()
	if s.Accepted != 220 || s.Refused != 0 || s.Evicted < 200-maxConns || s.Evicted > 220-maxConns || s.Open > maxConns {
		t.Fatalf("connections: %+v, want 220 accepted, none refused, %d to %d evicted, at most %d open", s, 200-maxConns, 220-maxConns, maxConns)
	}
}

// When every connection is in a request, a new one is closed at once, and
// counted; once the requests finish, new connections are served again.
func TestConnLimitRefusesWhenAllBusy(t *testing.T) {
	const maxConns = 2
	release := make(chan struct{})
	var inHandler atomic.Int64
	limit, addr := serveLimited(t, maxConns, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			inHandler.Add(1)
			<-release
		}
		io.WriteString(w, "ok")
	}))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range maxConns {
		wg.Go(func() {
			if res, err := client.Get("http://" + addr + "/block"); err == nil {
				res.Body.Close()
			}
		})
	}
	waitFor(t, "the blocking requests", func() bool { return inHandler.Load() == maxConns })
	if res, err := client.Get("http://" + addr + "/"); err == nil {
		res.Body.Close()
		t.Fatalf("a connection past the cap, with every connection busy, was served: %d", res.StatusCode)
	}
	if s := limit.Stats(); s.Refused != 1 || s.Evicted != 0 {
		t.Fatalf("connections: %+v, want one refused, none evicted", s)
	}
	close(release)
	wg.Wait()
	// A client has its answer before the server has closed that
	// connection: wait until the cap has room again.
	waitFor(t, "the blocking connections to close", func() bool { return limit.Stats().Open == 0 })
	res, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}
