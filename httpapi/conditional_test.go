package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

const preconditionFailedBody = `{"errors":[{"field":null,"message":"the endpoint was changed since it was read","reference_sid":null}],"message":"precondition failed"}`

// Every answer holding one endpoint carries a strong ETag that changes
// exactly when the stored endpoint does.
func TestETagFollowsTheStoredEndpoint(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		post, item, tag := f.createItem(`{"type":"third_party","name":"t","addresses":[{"ip":"10.1.1.1"}],"attributes":{"a":"1"}}`)
		if post.status != 200 || !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || len(tag) < 10 {
			t.Fatalf("POST: %d ETag %q", post.status, tag)
		}
		for _, path := range []string{item, item + "?include_fields=name", item + "?with_related=true"} {
			if get := f.do("GET", path, f.admin, ""); get.header.Get("ETag") != tag {
				t.Fatalf("GET %s: ETag %q, POST gave %q", path, get.header.Get("ETag"), tag)
			}
		}
		steps := []struct {
			method, path, body string
			changes            bool
		}{
			{"PATCH", item, `{"name":"t"}`, false},
			{"PATCH", item, `{"attributes":{"a":"1"}}`, false},
			{"PATCH", item, `{}`, false},
			{"PATCH", item, `{"name":"u"}`, true},
			{"PATCH", item, `{"attributes":{"b":"2"}}`, true},
			{"PATCH", item + "?nested_objects=replace", `{"attributes":{"b":"2"}}`, true},
			{"PUT", item, "", false}, // the object as GET answers it
			{"PUT", item, "v", true}, // the same, renamed v
		}
		for _, st := range steps {
			body := st.body
			if st.method == "PUT" {
				body = f.renamed(item, body)
			}
			r := f.do(st.method, st.path, f.admin, body)
			got := r.header.Get("ETag")
			if r.status != 200 || (got != tag) != st.changes {
				t.Fatalf("%s %s %s: %d ETag %q (before %q), want changed=%v", st.method, st.path, body, r.status, got, tag, st.changes)
			}
			if get := f.do("GET", item, f.admin, ""); get.header.Get("ETag") != got {
				t.Fatalf("%s answered ETag %q but GET then gives %q", st.method, got, get.header.Get("ETag"))
			}
			tag = got
		}
		// Answers without an endpoint carry none.
		for _, r := range []response{f.do("GET", "/core/v2/endpoints", f.admin, ""), f.do("PATCH", item, f.admin, `{"capacity":-1}`)} {
			if r.header.Get("ETag") != "" {
				t.Fatalf("%d %s carries ETag %q", r.status, r.body, r.header.Get("ETag"))
			}
		}
	})
}

func TestIfNoneMatch(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		_, item, tag := f.createItem(`{"type":"conference","name":"c"}`)
		tests := []struct {
			header string
			status int
		}{
			{tag, 304},
			{"W/" + tag, 304}, // If-None-Match compares weakly
			{`"other", ` + tag, 304},
			{"*", 304},
			{`"other"`, 200},
			{"", 200},
		}
		for _, tt := range tests {
			r := f.do("GET", item, f.admin, "", "If-None-Match", tt.header)
			if r.status != tt.status {
				t.Fatalf("If-None-Match %q: %d, want %d", tt.header, r.status, tt.status)
			}
			if tt.status == 304 && (r.body != "" || r.header.Get("ETag") != tag) {
				t.Fatalf("304 must have no body and the ETag: %q %q", r.body, r.header.Get("ETag"))
			}
		}
		missing := "/core/v2/endpoints/2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11"
		if r := f.do("GET", missing, f.admin, "", "If-None-Match", "*"); r.status != 404 {
			t.Fatalf("If-None-Match * on a missing endpoint: %d", r.status)
		}
	})
}

// If-Match on PATCH, PUT and DELETE, and where 412 stands among the checks:
// after authentication, scope, media type, size, JSON syntax and 404,
// before validation.
func TestIfMatch(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		post, item, tag := f.createItem(`{"type":"conference","name":"c"}`)
		missing := "/core/v2/endpoints/2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11"
		stale := `"stale"`
		tests := []struct {
			name         string
			method, path string
			auth, body   string
			header       []string
			status       int
			wantBody     string // "" when only the status is checked
		}{
			{"no credentials first", "PATCH", item, "", `{"name":"x"}`, []string{"If-Match", stale}, 401, ""},
			{"scope first", "PATCH", item, f.reader, `{"name":"x"}`, []string{"If-Match", stale}, 403, ""},
			{"media type first", "PATCH", item, f.admin, `{"name":"x"}`, []string{"If-Match", stale, "Content-Type", "text/plain"}, 415, ""},
			{"JSON syntax first", "PATCH", item, f.admin, `{"name":`, []string{"If-Match", stale}, 400, ""},
			{"size first", "PUT", item, f.admin, `{"name":"` + strings.Repeat("n", 1<<20) + `"}`, []string{"If-Match", stale}, 413, ""},
			{"404 first", "PATCH", missing, f.admin, `{"name":"x"}`, []string{"If-Match", stale}, 404, ""},
			{"404 first on DELETE", "DELETE", missing, f.admin, "", []string{"If-Match", stale}, 404, ""},
			{"412 before validation", "PATCH", item, f.admin, `{"capacity":-1,"bogus":1}`, []string{"If-Match", stale}, 412, preconditionFailedBody},
			{"412 on PUT", "PUT", item, f.admin, `{"type":"conference","name":"x"}`, []string{"If-Match", stale}, 412, preconditionFailedBody},
			{"412 on DELETE", "DELETE", item, f.admin, "", []string{"If-Match", stale}, 412, preconditionFailedBody},
			{"a weak tag never matches", "PATCH", item, f.admin, `{"name":"x"}`, []string{"If-Match", "W/" + tag}, 412, preconditionFailedBody},
			{"an empty list matches nothing", "PATCH", item, f.admin, `{"name":"x"}`, []string{"If-Match", ""}, 412, preconditionFailedBody},
			{"another partner's endpoint is missing", "PATCH", item, f.other, `{"name":"x"}`, []string{"If-Match", tag}, 404, ""},
			{"validation after a match", "PATCH", item, f.admin, `{"capacity":-1}`, []string{"If-Match", tag}, 422, ""},
		}
		for _, tt := range tests {
			r := f.do(tt.method, tt.path, tt.auth, tt.body, tt.header...)
			if r.status != tt.status || (tt.wantBody != "" && r.body != tt.wantBody) {
				t.Fatalf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.wantBody)
			}
		}
		if get := f.do("GET", item, f.admin, ""); get.header.Get("ETag") != tag || get.body != post.body {
			t.Fatalf("refused writes changed the endpoint: %s", get.body)
		}
		// A list naming the current tag passes; so does *.
		r := f.do("PATCH", item, f.admin, `{"name":"d"}`, "If-Match", `"a", `+tag)
		if r.status != 200 {
			t.Fatalf("If-Match list with the current tag: %d %s", r.status, r.body)
		}
		if again := f.do("PATCH", item, f.admin, `{"name":"e"}`, "If-Match", tag); again.status != 412 {
			t.Fatalf("the tag read before the change still passed: %d", again.status)
		}
		if r := f.do("PUT", item, f.admin, f.renamed(item, "p"), "If-Match", "*"); r.status != 200 {
			t.Fatalf("If-Match *: %d %s", r.status, r.body)
		}
		if r := f.do("PATCH", missing, f.admin, `{"name":"p"}`, "If-Match", "*"); r.status != 404 {
			t.Fatalf("If-Match * on a missing endpoint: %d", r.status)
		}
		cur := f.do("GET", item, f.admin, "").header.Get("ETag")
		if r := f.do("DELETE", item, f.admin, "", "If-Match", cur); r.status != 204 {
			t.Fatalf("DELETE with the current tag: %d %s", r.status, r.body)
		}
		if r := f.do("GET", item, f.admin, ""); r.status != 404 {
			t.Fatalf("after DELETE: %d", r.status)
		}
	})
}

// 20 PATCHes carrying the same If-Match at once: the comparison and the
// write are one step, so exactly one wins and the stored endpoint holds
// exactly the winner's change.
func TestConcurrentIfMatchHasOneWinner(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		_, item, tag := f.createItem(`{"type":"conference","name":"start","capacity":1}`)
		const n = 20
		statuses := make([]int, n)
		bodies := make([]string, n)
		concurrently(f, n, func(client *http.Client, i int) {
			r := f.doWith(client, "PATCH", item, f.admin, fmt.Sprintf(`{"name":"writer-%d","capacity":%d}`, i, 100+i), "If-Match", tag)
			statuses[i], bodies[i] = r.status, r.body
		})
		winner := -1
		for i, st := range statuses {
			switch {
			case st == 200 && winner == -1:
				winner = i
			case st == 200:
				t.Fatalf("two PATCHes with the same If-Match succeeded: %d and %d", winner, i)
			case st != 412 || bodies[i] != preconditionFailedBody:
				t.Fatalf("PATCH %d: %d %s", i, st, bodies[i])
			}
		}
		if winner == -1 {
			t.Fatal("no PATCH succeeded")
		}
		var stored map[string]any
		json.Unmarshal([]byte(f.do("GET", item, f.admin, "").body), &stored)
		if stored["name"] != fmt.Sprintf("writer-%d", winner) || stored["capacity"] != float64(100+winner) {
			t.Fatalf("stored %v %v, the winner was %d", stored["name"], stored["capacity"], winner)
		}
	})
}

// renamed is the endpoint at path as GET answers it, named name ("": as it
// is), for a PUT.
func (f *fixture) renamed(path, name string) string {
	f.t.Helper()
	body := f.do("GET", path, f.admin, "").body
	if name == "" {
		return body
	}
	var e map[string]any
	json.Unmarshal([]byte(body), &e)
	e["name"] = name
	data, _ := json.Marshal(e)
	return string(data)
}

// concurrently runs n requests at once, each on a connection of its own
// opened beforehand, so that they reach the server together.
func concurrently(f *fixture, n int, request func(client *http.Client, i int)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	defer client.CloseIdleConnections()
	var warm, wg sync.WaitGroup
	warm.Add(n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			f.doWith(client, "GET", "/healthz", "", "")
			warm.Done()
			<-start
			request(client, i)
		})
	}
	warm.Wait()
	close(start)
	wg.Wait()
}

// The answers of conditional and keyed requests match the OpenAPI
// document, which names their headers.
func TestConditionalAnswersMatchOpenAPI(t *testing.T) {
	f := newFixture(t)
	v := newValidator(t, f.srv.URL)
	_, item, tag := f.createItem(`{"type":"conference","name":"c"}`, "Idempotency-Key", "doc")
	cases := []struct {
		method, path, body string
		header             []string
		status             int
	}{
		{"POST", "/core/v2/endpoints", `{"type":"conference","name":"c"}`, []string{"Idempotency-Key", "doc"}, 200},
		{"POST", "/core/v2/endpoints", `{"type":"conference","name":"d"}`, []string{"Idempotency-Key", "doc"}, 422},
		{"POST", "/core/v2/endpoints", `{"type":"conference"}`, []string{"Idempotency-Key", "bad key"}, 400},
		{"POST", "/core/v2/endpoints", `{"type":"conference","capacity":-1}`, []string{"Idempotency-Key", "invalid"}, 422},
		{"POST", "/core/v2/endpoints", `{"type":"conference","capacity":-1}`, []string{"Idempotency-Key", "invalid"}, 422},
		{"GET", item, "", []string{"If-None-Match", tag}, 304},
		{"GET", item, "", []string{"If-None-Match", `"x"`}, 200},
		{"PATCH", item, `{"name":"x"}`, []string{"If-Match", `"x"`}, 412},
		{"PUT", item, `{"name":"x"}`, []string{"If-Match", `"x"`}, 412},
		{"DELETE", item, "", []string{"If-Match", `"x"`}, 412},
		{"PATCH", item, `{"name":"x"}`, []string{"If-Match", tag}, 200},
	}
	for _, c := range cases {
		r := f.do(c.method, c.path, f.admin, c.body, c.header...)
		if r.status != c.status {
			t.Fatalf("%s %s %v: %d, want %d: %s", c.method, c.path, c.header, r.status, c.status, r.body)
		}
		if err := v.check(c.method, f.srv.URL+c.path, c.body, r.status, r.header, []byte(r.body), !strings.Contains(c.body, "-1") && c.status != 400); err != nil {
			t.Errorf("%s %s %v (%d) does not match the document: %v", c.method, c.path, c.header, r.status, err)
		}
	}
}

// createItem creates an endpoint (header: more request headers) and
// returns the answer, the endpoint's path and its ETag.
func (f *fixture) createItem(body string, header ...string) (post response, item, etag string) {
	f.t.Helper()
	post = f.do("POST", "/core/v2/endpoints", f.admin, body, header...)
	var e map[string]any
	if err := json.Unmarshal([]byte(post.body), &e); err != nil || post.status != 200 {
		f.t.Fatalf("create %s: %d %s", body, post.status, post.body)
	}
	return post, "/core/v2/endpoints/" + e["endpoint_sid"].(string), post.header.Get("ETag")
}
