package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

type options struct {
	base, token, scenarios string
	seed, concurrency      int
	duration               time.Duration
	ceiling                bool
	serverPID              int
	dbPath                 string
	floodBasic             int
	floodLogin             string
	floodToken, floodPath  string
	flood                  int
	floodIgnoreRetryAfter  bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("switchboard-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.base, "url", "http://127.0.0.1:8080", "base `URL` of the Switchboard server under test; several, comma-separated, share the clients (servers on one database)")
	fs.StringVar(&o.token, "token", os.Getenv("SWITCHBOARD_BENCH_TOKEN"), "API `token` with endpoints.manage [$SWITCHBOARD_BENCH_TOKEN]")
	fs.IntVar(&o.seed, "seed", 10000, "`endpoints` to create through the API before the scenarios; 0 uses the endpoints the token's partner already has")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent `clients`")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.StringVar(&o.scenarios, "scenarios", "get,create,patch,list,list_ip,list_region,first_page,deep_page,mixed", "comma-separated `scenarios` to run (also create_key, patch_seq, patch_if_match: conditional.go)")
	fs.BoolVar(&o.ceiling, "ceiling", true, "also drive each scenario against a bare net/http server with canned answers of the same size")
	fs.IntVar(&o.serverPID, "server-pid", 0, "`pid` of the server, to report its peak memory (VmHWM)")
	fs.StringVar(&o.dbPath, "db-file", "", "`path` of the server's SQLite file, to report the database size per endpoint")
	fs.IntVar(&o.floodBasic, "flood-basic", 0, "after each scenario, run it again while this many `clients` send wrong Basic passwords (0: no flood)")
	fs.StringVar(&o.floodLogin, "flood-login", "", "a `login` the flood tries half its wrong passwords on (default: random logins only)")
	fs.StringVar(&o.floodToken, "flood-token", "", "API `token` of another partner whose clients flood the server during each scenario (the scenario's figures are then the other partner's latency under that flood)")
	fs.IntVar(&o.flood, "flood-clients", 500, "clients of --flood-token: `N` clients, each sending its next request as soon as the last is answered (after a 429, once its Retry-After has passed)")
	fs.BoolVar(&o.floodIgnoreRetryAfter, "flood-ignore-retry-after", false, "flooding clients send again at once after a 429")
	fs.StringVar(&o.floodPath, "flood-path", "/core/v2/endpoints?limit=10", "`path` the flooding clients GET")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.token == "" {
		return errors.New("--token is required")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2, DisableCompression: true}, Timeout: 30 * time.Second}
	b := &bench{o: o, client: client, servers: strings.Split(o.base, ",")}
	b.o.base = b.servers[0] // seeding, listing and the ceiling's recorded answers
	seed := b.seedEndpoints
	if o.seed == 0 {
		seed = b.loadEndpoints
	}
	if err := seed(ctx, stderr); err != nil {
		return err
	}
	if err := b.prefetchETags(ctx, o.scenarios); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-12s %10s %9s %9s %9s %8s %8s | %12s %8s %9s %9s\n", "scenario", "req/s", "p50", "p99", "p99.9", "4xx/5xx", "rss", "ceiling req/s", "ratio", "ceil p50", "ceil p99")
	for _, name := range strings.Split(o.scenarios, ",") {
		sc, ok := b.scenarios()[strings.TrimSpace(name)]
		if !ok {
			sc, ok = b.conditionalScenarios()[strings.TrimSpace(name)]
		}
		if !ok {
			return fmt.Errorf("unknown scenario %q", name)
		}
		var stopFlood func() string
		if o.floodToken != "" {
			stopFlood = b.startTokenFlood(ctx)
		}
		real := b.drive(ctx, b.servers, sc)
		if stopFlood != nil {
			fmt.Fprintln(stderr, stopFlood())
		}
		rss := "-"
		if o.serverPID != 0 {
			rss, _ = procStatus(o.serverPID, "VmRSS:")
		}
		line := fmt.Sprintf("%-12s %10.0f %9s %9s %9s %8s %8s |", name, real.rps, ms(real.p50), ms(real.p99), ms(real.p999),
			fmt.Sprintf("%d/%d", real.clientErrors, real.serverErrors), strings.TrimSuffix(rss, " kB")+"k")
		if o.ceiling {
			ceil, err := b.ceilingRun(ctx, sc)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %12.0f %7.0f%% %9s %9s", ceil.rps, 100*real.rps/ceil.rps, ms(ceil.p50), ms(ceil.p99))
		}
		fmt.Fprintln(stdout, line)
		if o.floodBasic > 0 {
			stop := b.startFlood(ctx, o.floodBasic, o.floodLogin)
			flooded := b.drive(ctx, b.servers, sc)
			summary := stop()
			fmt.Fprintf(stdout, "%-12s %10.0f %9s %9s %9s %8s\n  %s\n", name+"+flood", flooded.rps, ms(flooded.p50), ms(flooded.p99), ms(flooded.p999),
				fmt.Sprintf("%d/%d", flooded.clientErrors, flooded.serverErrors), summary)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if o.serverPID != 0 {
		if hwm, err := procStatus(o.serverPID, "VmHWM:"); err == nil {
			fmt.Fprintf(stdout, "server peak memory (VmHWM): %s\n", hwm)
		}
	}
	if o.dbPath != "" {
		var size int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(o.dbPath + suffix); err == nil {
				size += fi.Size()
			}
		}
		fmt.Fprintf(stdout, "database: %d bytes for %d+ endpoints = %d bytes per endpoint\n", size, len(b.sids), size/int64(max(1, len(b.sids))))
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// procStatus reads one field of /proc/PID/status (VmRSS:, VmHWM:, ...).
func procStatus(pid int, field string) (string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field) {
			return strings.TrimSpace(strings.TrimPrefix(l, field)), nil
		}
	}
	return "", errors.New("no " + field)
}

type bench struct {
	o       options
	client  *http.Client
	servers []string // base URLs of the servers under test
	sids    []string // seeded endpoints
	names   []string
	ips     []string // their first addresses' IPs
	mu      sync.Mutex
	// conditional holds the state of the conditional scenarios.
	conditional *conditionalScenarios
}

// request is one request of a scenario; pick gives a fresh one each time.
type request struct {
	method, path, body string
	header             [][2]string
	// etag, when set, receives the ETag of a 200 answer.
	etag *atomic.Pointer[string]
}

type scenario func(r *rand.Rand) request

func (b *bench) scenarios() map[string]scenario {
	pick := func(r *rand.Rand) int { return r.IntN(len(b.sids)) }
	create := func(r *rand.Rand) request {
		return request{method: "POST", path: "/core/v2/endpoints", body: fmt.Sprintf(`{"type":"third_party","name":"bench-%d","addresses":[{"ip":"10.%d.%d.%d"}]}`,
			r.Uint64(), r.IntN(256), r.IntN(256), 1+r.IntN(254))}
	}
	get := func(r *rand.Rand) request {
		return request{method: "GET", path: "/core/v2/endpoints/" + b.sids[pick(r)]}
	}
	patch := func(r *rand.Rand) request {
		return request{method: "PATCH", path: "/core/v2/endpoints/" + b.sids[pick(r)], body: fmt.Sprintf(`{"name":"renamed-%d"}`, r.Uint64())}
	}
	list := func(r *rand.Rand) request {
		return request{method: "GET", path: "/core/v2/endpoints?limit=100&filter=" + url.QueryEscape(`name eq "`+b.names[pick(r)]+`"`)}
	}
	listIP := func(r *rand.Rand) request {
		return request{method: "GET", path: "/core/v2/endpoints?limit=100&filter=" + url.QueryEscape(`addresses.ip eq "`+b.ips[pick(r)]+`"`)}
	}
	// A fifth of the seeded endpoints are in region eu (seedRegion).
	listRegion := func(*rand.Rand) request {
		return request{method: "GET", path: "/core/v2/endpoints?limit=100&filter=" + url.QueryEscape(`attributes.region eq "eu"`)}
	}
	deepCursor := b.sids[min(len(b.sids)-1, 10_000-1)]
	return map[string]scenario{
		"get":         get,
		"create":      create,
		"patch":       patch,
		"list":        list,
		"list_ip":     listIP,
		"list_region": listRegion,
		"first_page":  func(*rand.Rand) request { return request{method: "GET", path: "/core/v2/endpoints?limit=10"} },
		"deep_page": func(*rand.Rand) request {
			return request{method: "GET", path: "/core/v2/endpoints?limit=10&after=" + deepCursor}
		},
		// issue 17's mix: 80% get, 10% the region list, 5% patch, 5% create
		"mixed": func(r *rand.Rand) request {
			switch n := r.IntN(100); {
			case n < 80:
				return get(r)
			case n < 90:
				return listRegion(r)
			case n < 95:
				return patch(r)
			default:
				return create(r)
			}
		},
	}
}

// seedEndpoints creates the data set through the API, showing progress.
func (b *bench) seedEndpoints(ctx context.Context, stderr io.Writer) error {
	var done atomic.Int64
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := done.Load()
				fmt.Fprintf(stderr, "\rseeding: %d/%d endpoints (%.0f/s)   ", n, b.o.seed, float64(n)/time.Since(start).Seconds())
			}
		}
	}()
	defer close(stop)
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := range b.o.concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.o.seed) || ctx.Err() != nil {
					return
				}
				name := fmt.Sprintf("seed-%d-%07d", w, i)
				ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
				body := fmt.Sprintf(`{"type":"third_party","name":%q,"attributes":{"region":%q},"addresses":[{"ip":%q}]}`, name, seedRegion(i), ip)
				status, resp, err := b.send(ctx, b.servers[w%len(b.servers)], request{method: "POST", path: "/core/v2/endpoints", body: body})
				if err != nil || status != 200 {
					errOnce.Do(func() { firstErr = fmt.Errorf("seeding: status %d %s %v", status, trim(resp), err) })
					return
				}
				var e struct {
					SID string `json:"endpoint_sid"`
				}
				json.Unmarshal(resp, &e)
				b.mu.Lock()
				b.sids, b.names, b.ips = append(b.sids, e.SID), append(b.names, name), append(b.ips, ip)
				b.mu.Unlock()
				done.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(stderr, "\rseeded %d endpoints in %s (%.0f/s)\n", done.Load(), time.Since(start).Round(time.Millisecond), float64(done.Load())/time.Since(start).Seconds())
	if firstErr != nil {
		return firstErr
	}
	if len(b.sids) == 0 {
		return errors.New("nothing seeded")
	}
	return ctx.Err()
}

// loadEndpoints pages through the partner's endpoints instead of seeding,
// so that a data set seeded once serves many runs.
func (b *bench) loadEndpoints(ctx context.Context, stderr io.Writer) error {
	path := "/core/v2/endpoints?limit=1000"
	for {
		status, resp, err := b.send(ctx, b.o.base, request{method: "GET", path: path})
		if err != nil || status != 200 {
			return fmt.Errorf("listing: status %d %s %v", status, trim(resp), err)
		}
		var page struct {
			Items []struct {
				SID       string `json:"endpoint_sid"`
				Name      string `json:"name"`
				Type      string `json:"type"`
				Addresses []struct {
					IP string `json:"ip"`
				} `json:"addresses"`
			} `json:"items"`
			HasMore bool `json:"has_more"`
		}
		if err := json.Unmarshal(resp, &page); err != nil {
			return err
		}
		for _, e := range page.Items {
			if r, _ := sb.EndpointType(e.Type).Rules(); !r.Fixed { // patching a fixed one is a 403
				ip := "192.0.2.1" // none: the filter then matches nothing, at the same cost
				if len(e.Addresses) > 0 {
					ip = e.Addresses[0].IP
				}
				b.sids, b.names, b.ips = append(b.sids, e.SID), append(b.names, e.Name), append(b.ips, ip)
			}
		}
		fmt.Fprintf(stderr, "\rloaded %d endpoints   ", len(b.sids))
		if !page.HasMore || len(page.Items) == 0 {
			break
		}
		path = "/core/v2/endpoints?limit=1000&after=" + page.Items[len(page.Items)-1].SID
	}
	fmt.Fprintln(stderr)
	if len(b.sids) == 0 {
		return errors.New("the partner has no endpoints: seed some with --seed N")
	}
	return nil
}

func trim(b []byte) string { return string(b[:min(len(b), 200)]) }

func (b *bench) send(ctx context.Context, base string, rq request) (int, []byte, error) {
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, base+rq.path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.o.token)
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range rq.header {
		req.Header.Set(h[0], h[1])
	}
	res, err := b.client.Do(req)
	if err != nil {
		if rq.etag != nil {
			rq.etag.Store(nil) // the server may have written: the tag is unknown
		}
		return 0, nil, err
	}
	defer res.Body.Close()
	if tag := res.Header.Get("ETag"); rq.etag != nil && res.StatusCode == http.StatusOK && tag != "" {
		rq.etag.Store(&tag)
	}
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

type result struct {
	rps                        float64
	p50, p99, p999             time.Duration
	clientErrors, serverErrors int // 4xx, and 5xx or no answer
}

// drive runs a scenario against the servers with the configured clients
// (client w on servers[w mod len]) for the configured duration.
func (b *bench) drive(ctx context.Context, servers []string, sc scenario) result {
	ctx, cancel := context.WithTimeout(ctx, b.o.duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs4, errs5 int
	start := time.Now()
	var wg sync.WaitGroup
	for w := range b.o.concurrency {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []time.Duration
			bad4, bad5 := 0, 0
			for ctx.Err() == nil {
				rq := sc(r)
				t0 := time.Now()
				status, _, err := b.send(ctx, servers[w%len(servers)], rq)
				if ctx.Err() != nil {
					break
				}
				mine = append(mine, time.Since(t0))
				switch {
				case err != nil || status >= 500:
					bad5++
				case status >= 400:
					bad4++
				}
			}
			mu.Lock()
			lat, errs4, errs5 = append(lat, mine...), errs4+bad4, errs5+bad5
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return result{rps: float64(len(lat)) / elapsed.Seconds(), p50: q(0.50), p99: q(0.99), p999: q(0.999), clientErrors: errs4, serverErrors: errs5}
}

// startTokenFlood starts the clients of --flood-token; the function it
// returns stops them and describes what they got.
func (b *bench) startTokenFlood(ctx context.Context) func() string {
	ctx, cancel := context.WithCancel(ctx)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.o.flood, DisableCompression: true}, Timeout: 30 * time.Second}
	var answered, refused, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range b.o.flood {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", b.o.base+b.o.floodPath, nil)
				req.Header.Set("Authorization", "Bearer "+b.o.floodToken)
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				switch {
				case res.StatusCode == http.StatusTooManyRequests:
					refused.Add(1)
					if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && !b.o.floodIgnoreRetryAfter {
						select {
						case <-ctx.Done():
						case <-time.After(time.Duration(secs) * time.Second):
						}
					}
				case res.StatusCode >= 400:
					failed.Add(1)
				default:
					answered.Add(1)
				}
			}
		})
	}
	return func() string {
		cancel()
		wg.Wait()
		secs := time.Since(start).Seconds()
		return fmt.Sprintf("flood: %d clients, %.0f answered/s, %.0f refused (429)/s, %d failed", b.o.flood,
			float64(answered.Load())/secs, float64(refused.Load())/secs, failed.Load())
	}
}

// ceilingRun records one real answer of the scenario, serves it canned from
// a bare net/http server (same status, headers and size), and drives the
// scenario against that.
func (b *bench) ceilingRun(ctx context.Context, sc scenario) (result, error) {
	r := rand.New(rand.NewPCG(1, 2))
	rq := sc(r)
	status, body, err := b.send(ctx, b.o.base, rq)
	if err != nil {
		return result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write(bytes.Clone(body))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	return b.drive(ctx, []string{"http://" + ln.Addr().String()}, sc), nil
}

// seedRegion is the region of the i-th seeded endpoint: one in five is eu.
func seedRegion(i int64) string {
	return [...]string{"eu", "us", "apac", "latam", "africa"}[i%5]
}
