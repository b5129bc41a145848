package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// testClock is a clock the test moves forward.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// onBackendsWithClock is onBackends with the server's clock in the test's
// hands.
func onBackendsWithClock(t *testing.T, test func(t *testing.T, f *fixture, clock *testClock)) {
	for _, backend := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return sqlstoretest.SQLiteDSN(t) }},
		{"postgres", func(t *testing.T) string { return sqlstoretest.PostgresDSN(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			clock := &testClock{}
			test(t, newFixtureOn(t, backend.dsn(t), "", func(s *Server) { s.Now = clock.now }), clock)
		})
	}
}

func (f *fixture) count(auth string) float64 {
	f.t.Helper()
	var list map[string]any
	json.Unmarshal([]byte(f.do("GET", "/core/v2/endpoints?limit=0", auth, "").body), &list)
	return list["total"].(float64)
}

const (
	keyReusedBody   = `{"errors":[{"field":"Idempotency-Key","message":"this key was used with a different request","reference_sid":null}],"message":"object validation error"}`
	keyInFlightBody = `{"errors":[{"field":"Idempotency-Key","message":"a request with this key is in progress","reference_sid":null}],"message":"conflict error"}`
	badKeyBody      = `{"errors":[{"field":"Idempotency-Key","message":"Idempotency-Key must be 1 to 255 characters of A-Z a-z 0-9 _ - : .","reference_sid":null}],"message":"bad request"}`
)

func TestIdempotencyKeyReplays(t *testing.T) {
	onBackendsWithClock(t, func(t *testing.T, f *fixture, clock *testClock) {
		body := `{"type":"conference","name":"once","attributes":{"a":"1","b":"2"}}`
		first := f.do("POST", "/core/v2/endpoints", f.admin, body, "Idempotency-Key", "key-1")
		if first.status != 200 || first.header.Get("Idempotent-Replayed") != "" || first.header.Get("ETag") == "" {
			t.Fatalf("first: %d %v %s", first.status, first.header, first.body)
		}
		// The same body, spelt otherwise: whitespace and key order do not
		// count.
		for _, again := range []string{body, ` { "name" : "once", "attributes":{"b":"2","a":"1"},"type":"conference"}` + "\n"} {
			r := f.do("POST", "/core/v2/endpoints", f.admin, again, "Idempotency-Key", "key-1")
			if r.status != 200 || r.body != first.body || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("ETag") != first.header.Get("ETag") {
				t.Fatalf("replay of %s: %d %v %s\nfirst: %s", again, r.status, r.header, r.body, first.body)
			}
		}
		if n := f.count(f.admin); n != 1 {
			t.Fatalf("%v endpoints after replays", n)
		}
		if r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"conference","name":"other"}`, "Idempotency-Key", "key-1"); r.status != 422 || r.body != keyReusedBody {
			t.Fatalf("another body with the key: %d %s", r.status, r.body)
		}
		// The replay outlives changes to the endpoint: it is the first answer.
		var e map[string]any
		json.Unmarshal([]byte(first.body), &e)
		f.do("PATCH", "/core/v2/endpoints/"+e["endpoint_sid"].(string), f.admin, `{"name":"changed"}`)
		if r := f.do("POST", "/core/v2/endpoints", f.admin, body, "Idempotency-Key", "key-1"); r.body != first.body {
			t.Fatalf("replay after a PATCH: %s", r.body)
		}
		// Keys are the partner's own: the other partner's key-1 is new.
		if r := f.do("POST", "/core/v2/endpoints", f.other, body, "Idempotency-Key", "key-1"); r.status != 200 || r.header.Get("Idempotent-Replayed") != "" || r.body == first.body {
			t.Fatalf("another partner's same key: %d %v %s", r.status, r.header, r.body)
		}
		// A request without a key is not affected by keys.
		if r := f.do("POST", "/core/v2/endpoints", f.admin, body); r.status != 200 || r.body == first.body {
			t.Fatalf("without a key: %d %s", r.status, r.body)
		}
		// Just before 24 hours the answer is replayed; at 24 hours the key
		// is new again (the record was not pruned, it has expired).
		clock.advance(24*time.Hour - time.Minute)
		if r := f.do("POST", "/core/v2/endpoints", f.admin, body, "Idempotency-Key", "key-1"); r.body != first.body {
			t.Fatalf("replay before 24 h: %d %s", r.status, r.body)
		}
		clock.advance(time.Minute)
		anew := f.do("POST", "/core/v2/endpoints", f.admin, body, "Idempotency-Key", "key-1")
		if anew.status != 200 || anew.header.Get("Idempotent-Replayed") != "" || anew.body == first.body {
			t.Fatalf("the key after 24 h: %d %v %s", anew.status, anew.header, anew.body)
		}
		if n := f.count(f.admin); n != 3 {
			t.Fatalf("%v endpoints, want 3 (the first, the one without a key, the one after 24 h)", n)
		}
		// The new answer is the key's from now on, with its own body check.
		if r := f.do("POST", "/core/v2/endpoints", f.admin, body, "Idempotency-Key", "key-1"); r.body != anew.body || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay of the renewed key: %s", r.body)
		}
	})
}

// 400, 409 and 422 answers are kept under the key (nothing was created);
// 401, 403 and 5xx are not, so the key may be retried.
func TestIdempotencyKeyKeepsClientErrors(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		invalid := `{"type":"conference","capacity":-1}`
		first := f.do("POST", "/core/v2/endpoints", f.admin, invalid, "Idempotency-Key", "bad")
		again := f.do("POST", "/core/v2/endpoints", f.admin, invalid, "Idempotency-Key", "bad")
		if first.status != 422 || again.status != 422 || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("422 then its replay: %d %s / %d %v %s", first.status, first.body, again.status, again.header, again.body)
		}
		claim := `{"type":"third_party","auth_required":false,"addresses":[{"ip":"192.0.2.9","port":5070}]}`
		f.create(f.admin, claim)
		conflict := f.do("POST", "/core/v2/endpoints", f.admin, claim, "Idempotency-Key", "dup")
		replay := f.do("POST", "/core/v2/endpoints", f.admin, claim, "Idempotency-Key", "dup")
		if conflict.status != 409 || replay.status != 409 || replay.body != conflict.body || replay.header.Get("Idempotent-Replayed") != "true" ||
			conflict.body != `{"errors":[{"field":null,"message":"duplicate ip for auth_required=false","reference_sid":null}],"message":"conflict error"}` {
			t.Fatalf("409 then its replay: %d %s / %d %v %s", conflict.status, conflict.body, replay.status, replay.header, replay.body)
		}
		if conflict.header.Get("Retry-After") != "" || replay.header.Get("Retry-After") != "" {
			t.Fatal("a taken address's 409 carries Retry-After: retrying cannot help it")
		}
		if n := f.count(f.admin); n != 1 {
			t.Fatalf("%v endpoints: a refused request created one", n)
		}
		// A caller without the scope is refused before the key is taken.
		if r := f.do("POST", "/core/v2/endpoints", f.reader, `{"type":"conference"}`, "Idempotency-Key", "scoped"); r.status != 403 {
			t.Fatalf("reader: %d", r.status)
		}
		if r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"conference"}`, "Idempotency-Key", "scoped"); r.status != 200 || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("the key after a 403: %d %v", r.status, r.header)
		}
		// Body syntax errors come before the key and are not kept.
		if r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":`, "Idempotency-Key", "syntax"); r.status != 400 {
			t.Fatalf("broken JSON: %d", r.status)
		}
		if r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"conference"}`, "Idempotency-Key", "syntax"); r.status != 200 || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("the key after a broken body: %d %v", r.status, r.header)
		}
	})
}

func TestIdempotencyKeySyntax(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		keys   []string
		status int
	}{
		{[]string{""}, 400},
		{[]string{strings.Repeat("k", 256)}, 400},
		{[]string{"has space"}, 400},
		{[]string{"slash/"}, 400},
		{[]string{"é"}, 400},
		{[]string{"a", "b"}, 400}, // two headers: which one?
		{[]string{strings.Repeat("k", 255)}, 200},
		{[]string{"AZaz09_-:."}, 200},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("POST", f.srv.URL+"/core/v2/endpoints", strings.NewReader(`{"type":"conference"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", f.admin)
		req.Header["Idempotency-Key"] = tt.keys
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(res.Body).Decode(new(any))
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Fatalf("keys %q: %d, want %d", tt.keys, res.StatusCode, tt.status)
		}
	}
	r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"conference"}`, "Idempotency-Key", "bad key")
	if r.body != badKeyBody {
		t.Fatalf("bad key body: %s", r.body)
	}
	if n := f.count(f.admin); n != 2 {
		t.Fatalf("%v endpoints, want the 2 with good keys", n)
	}
}

// 20 POSTs with one key and one body at once: one endpoint, and every
// answer is the same 200 (first or replayed), but for those answered while
// the first was still running (409).
func TestConcurrentIdempotentCreates(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		const n = 20
		answers := make([]response, n)
		concurrently(f, n, func(client *http.Client, i int) {
			answers[i] = f.doWith(client, "POST", "/core/v2/endpoints", f.admin, `{"type":"conference","name":"racing"}`, "Idempotency-Key", "race")
		})
		var created string
		firsts, inFlight := 0, 0
		for _, a := range answers {
			switch {
			case a.status == 409 && a.body == keyInFlightBody:
				if got := a.header.Get("Retry-After"); got != "1" {
					t.Fatalf("409 for a key in flight with Retry-After %q, want 1", got)
				}
				inFlight++
				continue
			case a.status != 200:
				t.Fatalf("answer %d %s", a.status, a.body)
			case a.header.Get("Idempotent-Replayed") == "":
				firsts++
			}
			if created == "" {
				created = a.body
			}
			if a.body != created {
				t.Fatalf("two different answers:\n%s\n%s", created, a.body)
			}
		}
		if firsts != 1 {
			t.Fatalf("%d answers were not replays, want exactly 1", firsts)
		}
		if c := f.count(f.admin); c != 1 {
			t.Fatalf("%v endpoints after %d POSTs with one key", c, n)
		}
		t.Logf("%d first, %d replayed, %d in flight", firsts, n-firsts-inFlight, inFlight)
	})
}

// keyInFlightStore answers every keyed create as the store does while
// another request holds the key (TestKeyInFlightAcrossSessions proves the
// store's side on PostgreSQL; on SQLite no key is ever in flight).
type keyInFlightStore struct{ sb.Store }

func (keyInFlightStore) CreateEndpointOnce(context.Context, sb.IdempotentCreate) (sb.Answer, bool, error) {
	return sb.Answer{}, false, sb.ErrKeyInFlight
}

// The 409 for a key in flight says, in Retry-After, that a retry may
// succeed (a second later); it is not a replay and records nothing.
func TestKeyInFlightAnswer(t *testing.T) {
	f := newFixtureOn(t, sqlstoretest.SQLiteDSN(t), "", func(s *Server) { s.Store = keyInFlightStore{s.Store} })
	r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"conference"}`, "Idempotency-Key", "busy")
	if r.status != 409 || r.body != keyInFlightBody || r.header.Get("Retry-After") != "1" || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("key in flight: %d %v %s", r.status, r.header, r.body)
	}
}
