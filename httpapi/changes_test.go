package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
)

type changePage struct {
	Count    int                 `json:"count"`
	HasMore  bool                `json:"has_more"`
	Items    []sb.EndpointChange `json:"items"`
	Revision int64               `json:"revision"`
}

func (f *fixture) changes(auth, query string) changePage {
	f.t.Helper()
	r := f.do("GET", "/core/v2/endpoints/changes"+query, auth, "")
	if r.status != 200 {
		f.t.Fatalf("changes%s: %d %s", query, r.status, r.body)
	}
	var p changePage
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) db() *sqlstore.DB { return f.store.Store.(*sqlstore.DB) }

// withServer serves the fixture's database with api's settings. When the
// test ends its streams end too (the test server's Close waits for them).
func (f *fixture) withServer(api *Server) *Server {
	api.Store, api.Logger = f.store, slog.New(slog.NewJSONHandler(f.logs, nil))
	if api.Stopping == nil {
		stop := make(chan struct{})
		api.Stopping = stop
		f.t.Cleanup(func() { close(stop) })
	}
	served, handler := api.handler()
	f.srv.Config.Handler = handler
	return served
}

func TestChangesAnswer(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		e := f.create(f.admin, `{"type":"conference","name":"one"}`)
		item := "/core/v2/endpoints/" + e["endpoint_sid"].(string)
		if r := f.do("PATCH", item, f.admin, `{"name":"two"}`); r.status != 200 {
			t.Fatal(r.body)
		}
		if r := f.do("PATCH", item, f.admin, `{"name":"two"}`); r.status != 200 { // no change
			t.Fatal(r.body)
		}
		if r := f.do("DELETE", item, f.admin, ""); r.status != 204 {
			t.Fatal(r.body)
		}
		p := f.changes(f.reader, "") // endpoints.read is enough
		if p.Count != 3 || p.HasMore || p.Revision != 3 {
			t.Fatalf("%+v", p)
		}
		for i, want := range []string{"created one", "updated two", "deleted two"} {
			c := p.Items[i]
			if got := c.Operation + " " + c.Endpoint.Name; got != want || c.Revision != int64(i+1) || c.EndpointSID != e["endpoint_sid"] {
				t.Fatalf("item %d: %+v, want %s", i, c, want)
			}
		}
		// Pages: revision is the last item's while has_more.
		if p := f.changes(f.admin, "?limit=2"); p.Count != 2 || !p.HasMore || p.Revision != 2 {
			t.Fatalf("limit 2: %+v", p)
		}
		if p := f.changes(f.admin, "?since=2&limit=2"); p.Count != 1 || p.HasMore || p.Revision != 3 {
			t.Fatalf("since 2: %+v", p)
		}
		if p := f.changes(f.admin, "?since=3&wait=0"); p.Count != 0 || p.HasMore || p.Revision != 3 || p.Items == nil {
			t.Fatalf("since the current revision: %+v", p)
		}
		// The other partner's feed is its own.
		if p := f.changes(f.other, ""); p.Count != 0 || p.Revision != 0 {
			t.Fatalf("the other partner's feed: %+v", p)
		}
		// The exact item, keys in alphabetical order.
		r := f.do("GET", "/core/v2/endpoints/changes?since=2", f.admin, "")
		get := f.do("GET", "/core/v2/endpoints?limit=1", f.admin, "")
		if !strings.HasPrefix(r.body, `{"count":1,"has_more":false,"items":[{"endpoint":{"addresses":[]`) ||
			!strings.Contains(r.body, `"endpoint_sid":"`+e["endpoint_sid"].(string)+`","occurred_at":"`) ||
			!strings.HasSuffix(r.body, `"operation":"deleted","revision":3}],"revision":3}`) {
			t.Fatalf("answer %s", r.body)
		}
		if at := p.Items[0].OccurredAt; at.Nanosecond()%int(time.Millisecond) != 0 || at.Location() != time.UTC {
			t.Fatalf("occurred_at %v: want UTC milliseconds", at)
		}
		if get.header.Get("Switchboard-Revision") != "3" {
			t.Fatalf("list Switchboard-Revision %q", get.header.Get("Switchboard-Revision"))
		}
	})
}

func TestChangesErrors(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		f.create(f.admin, fmt.Sprintf(`{"type":"conference","name":"c%d"}`, i))
	}
	for _, c := range []struct {
		query, field string
		status       int
		header       []string
	}{
		{"?since=4", "since", 400, nil},
		{"?since=-1", "since", 400, nil},
		{"?since=abc", "since", 400, nil},
		{"?limit=x", "limit", 400, nil},
		{"?wait=61", "wait", 400, nil},
		{"?wait=-1", "wait", 400, nil},
		{"?wait=NaN", "wait", 400, nil},
		{"", "Last-Event-ID", 400, []string{"Accept", "text/event-stream", "Last-Event-ID", "x"}},
		{"?since=9", "since", 400, []string{"Accept", "text/event-stream"}},
	} {
		r := f.do("GET", "/core/v2/endpoints/changes"+c.query, f.admin, "", c.header...)
		entries, message := errorsOf(t, r)
		if r.status != c.status || message != "bad request" || entries[0]["field"] != c.field {
			t.Errorf("%s %v: %d %s", c.query, c.header, r.status, r.body)
		}
	}
	if r := f.do("GET", "/core/v2/endpoints/changes", "", ""); r.status != 401 {
		t.Errorf("no credentials: %d", r.status)
	}
	if r := f.do("POST", "/core/v2/endpoints/changes", f.admin, "{}"); r.status != 405 || r.header.Get("Allow") != "GET" {
		t.Errorf("POST: %d %v", r.status, r.header)
	}

	// Pruned: 410, for JSON and for a stream, until since is the current
	// revision.
	if _, err := f.db().PruneChanges(context.Background(), time.Now().Add(time.Second), 2); err != nil {
		t.Fatal(err)
	}
	want := `{"errors":[{"field":"since","message":"changes after this revision were pruned; list the endpoints again and follow from the list's Switchboard-Revision","reference_sid":null}],"message":"gone"}`
	for _, h := range [][]string{nil, {"Accept", "text/event-stream"}} {
		if r := f.do("GET", "/core/v2/endpoints/changes?since=1", f.admin, "", h...); r.status != 410 || r.body != want {
			t.Errorf("pruned %v: %d %s", h, r.status, r.body)
		}
	}
	if p := f.changes(f.admin, "?since=2"); p.Count != 1 || p.Revision != 3 {
		t.Errorf("after the pruned ones: %+v", p)
	}
}

// A long poll waits for the next commit and answers it; waiting, it holds
// no place among its credential's requests in flight.
func TestLongPoll(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		f.withServer(&Server{MaxInFlight: 1, MaxRunning: 1})
		polled := make(chan changePage, 1)
		go func() { polled <- f.changes(f.admin, "?wait=60") }()
		// The poll holds nothing a write needs: with one request in
		// flight allowed, the create still runs (and wakes the poll).
		waitFor(t, "the poll to wait", func() bool {
			r := f.do("POST", "/core/v2/endpoints", f.admin, `{"type":"conference","name":"woken"}`)
			return r.status == 200
		})
		p := <-polled
		if p.Count < 1 || p.Items[0].Endpoint.Name != "woken" || p.Items[0].Revision != 1 {
			t.Fatalf("%+v", p)
		}
	})
}

// sseEvent is one event of a stream.
type sseEvent struct {
	id, event, data string
	comment         bool
}

func readEvent(t *testing.T, r *bufio.Reader) (sseEvent, error) {
	t.Helper()
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			return ev, nil
		case strings.HasPrefix(line, ":"):
			ev.comment = true
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func (f *fixture) stream(auth string, header ...string) (*http.Response, *bufio.Reader) {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+"/core/v2/endpoints/changes", nil)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { res.Body.Close() })
	return res, bufio.NewReader(res.Body)
}

func TestStream(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		stop := make(chan struct{})
		var stopOnce sync.Once
		shutDown := func() { stopOnce.Do(func() { close(stop) }) }
		t.Cleanup(shutDown)
		served := f.withServer(&Server{KeepAlive: 20 * time.Millisecond, MaxStreams: 2, Stopping: stop})
		for i := range 3 {
			f.create(f.admin, fmt.Sprintf(`{"type":"conference","name":"c%d"}`, i))
		}
		res, events := f.stream(f.admin, "Last-Event-ID", "1")
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %v", res.StatusCode, res.Header)
		}
		next := func() sseEvent {
			t.Helper()
			for {
				ev, err := readEvent(t, events)
				if err != nil {
					t.Fatal(err)
				}
				if !ev.comment {
					return ev
				}
			}
		}
		for _, want := range []string{"2 c1", "3 c2"} {
			ev := next()
			var c sb.EndpointChange
			if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
				t.Fatal(err)
			}
			if got := ev.id + " " + c.Endpoint.Name; got != want || ev.event != "created" || strconv.FormatInt(c.Revision, 10) != ev.id {
				t.Fatalf("event %+v, want %s", ev, want)
			}
		}
		// Idle: keep-alive comments.
		if ev, err := readEvent(t, events); err != nil || !ev.comment {
			t.Fatalf("idle: %+v %v", ev, err)
		}
		// A commit reaches the stream.
		f.create(f.admin, `{"type":"conference","name":"live"}`)
		if ev := next(); ev.id != "4" {
			t.Fatalf("live event %+v", ev)
		}
		// The credential's followers are capped (this one has 2).
		f.stream(f.admin)
		if r := f.do("GET", "/core/v2/endpoints/changes?since=4&wait=1", f.admin, ""); r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("a third follower: %d %s", r.status, r.body)
		}
		if res, _ := f.stream(f.other); res.StatusCode != 200 {
			t.Fatalf("another credential's stream: %d", res.StatusCode)
		}
		// Shutting down ends the stream cleanly: the body ends (EOF), no
		// cut-off chunk.
		shutDown()
		for {
			_, err := readEvent(t, events)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("the stream ended with %v, want a clean end", err)
			}
		}
		waitFor(t, "the followers to be let go", func() bool {
			served.streams.mu.Lock()
			defer served.streams.mu.Unlock()
			return len(served.streams.byKey) == 0
		})
	})
}

// A reader that stops reading is dropped once its connection's buffers are
// full, instead of the server buffering for it.
func TestSlowStreamReaderDropped(t *testing.T) {
	f := newFixture(t)
	served := f.withServer(&Server{StreamWriteWindow: 100 * time.Millisecond})
	// A client with a tiny receive buffer that reads nothing.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /core/v2/endpoints/changes HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nAccept: text/event-stream\r\n\r\n", f.admin)
	waitFor(t, "the stream to start", func() bool {
		served.streams.mu.Lock()
		defer served.streams.mu.Unlock()
		return len(served.streams.byKey) == 1
	})
	attrs := map[string]string{}
	for i := range 60 {
		attrs[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", 250)
	}
	body, _ := json.Marshal(map[string]any{"type": "conference", "attributes": attrs})
	dropped := func() bool {
		served.streams.mu.Lock()
		defer served.streams.mu.Unlock()
		return len(served.streams.byKey) == 0
	}
	for i := 0; !dropped(); i++ {
		if i == 5000 {
			t.Fatal("a reader that reads nothing was never dropped")
		}
		f.create(f.admin, string(body))
	}
}

// List, then follow from its Switchboard-Revision while writers run:
// nothing is missed or seen twice.
func TestListThenFollow(t *testing.T) {
	onBackends(t, func(t *testing.T, f *fixture) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 15 {
					f.create(f.admin, fmt.Sprintf(`{"type":"conference","name":"w%d-%d"}`, w, i))
				}
			})
		}
		time.Sleep(10 * time.Millisecond) // list while they write (any moment will do)
		r := f.do("GET", "/core/v2/endpoints?limit=1000", f.admin, "")
		var list struct {
			Items []map[string]any `json:"items"`
		}
		json.Unmarshal([]byte(r.body), &list)
		rev := r.header.Get("Switchboard-Revision")
		wg.Wait()
		seen := map[string]bool{}
		for _, e := range list.Items {
			seen[e["endpoint_sid"].(string)] = true
		}
		p := f.changes(f.admin, "?limit=1000&since="+rev)
		for _, c := range p.Items {
			if seen[c.EndpointSID] {
				t.Fatalf("revision %s: the list already held %s, created at revision %d", rev, c.EndpointSID, c.Revision)
			}
			seen[c.EndpointSID] = true
		}
		if len(seen) != 60 {
			t.Fatalf("list (%d at revision %s) and changes after it: %d endpoints, want 60", len(list.Items), rev, len(seen))
		}
	})
}
