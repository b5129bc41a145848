package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// listEnvelope is the list answer as encoding/json writes it whole: the
// reference the streamed answer must equal byte for byte.
type listEnvelope struct {
	Count      int               `json:"count"`
	HasMore    bool              `json:"has_more"`
	Items      []any             `json:"items"`
	Limit      int               `json:"limit"`
	Offset     int               `json:"offset"`
	Pagination map[string]string `json:"pagination"`
	Total      int               `json:"total"`
}

// A streamed list answer is exactly the encoding of the whole envelope, for
// offset and cursor pages (both directions, with and without more), empty
// pages, orders, filters and field selections.
func TestListAnswerIsTheWholeEnvelope(t *testing.T) {
	f := newFixture(t)
	var sids []string
	for i := range 7 {
		e := f.create(f.admin, fmt.Sprintf(`{"type":"third_party","name":"n%d","capacity":%d,"attributes":{"i":"%d","html":"<&>"},"addresses":[{"ip":"10.1.1.%d"}]}`, i%3, 7-i, i, i+1))
		sids = append(sids, e["endpoint_sid"].(string))
	}
	f.create(f.admin, `{"type":"conference","name":"conf"}`)
	caller, _, err := newAuthenticator(f.store).authenticate(t.Context(), f.admin, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	api := &Server{Store: f.store}
	queries := []string{
		"",
		"limit=3",
		"limit=3&offset=3",
		"limit=3&offset=6",
		"offset=100",
		"limit=2&after=" + sids[1],
		"limit=2&after=" + sids[5],
		"limit=2&after=" + sids[6] + "&filter=type+eq+third_party",
		"limit=2&before=" + sids[5],
		"limit=10&before=" + sids[2],
		"limit=3&before=" + sids[0],
		"limit=3&order=name+desc,capacity&after=" + sids[3],
		"limit=3&order=name+desc,capacity&before=" + sids[3],
		"limit=4&order=capacity",
		"include_fields=name,type&limit=2",
		"exclude_fields=addresses&with_related=true&limit=3&offset=1",
		"filter=type+eq+conference",
		"filter=name+eq+nobody",
	}
	for _, query := range queries {
		t.Run(query, func(t *testing.T) {
			r := f.do("GET", "/core/v2/endpoints?"+query, f.admin, "")
			if r.status != 200 || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			args, _ := url.ParseQuery(query)
			q, err := parseListQuery(args)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := parseView(args)
			page, err := sb.ListPage(t.Context(), f.store, caller.PartnerSID, q)
			if err != nil {
				t.Fatal(err)
			}
			env := listEnvelope{Count: len(page.Items), HasMore: page.HasMore, Items: []any{}, Limit: q.Limit, Offset: q.Offset,
				Pagination: map[string]string{}, Total: page.Total}
			var first, last string
			for _, e := range page.Items {
				item, _ := v.render(e, caller)
				env.Items = append(env.Items, item)
				if first == "" {
					first = e.EndpointSID
				}
				last = e.EndpointSID
			}
			req := httptest.NewRequest("GET", f.srv.URL+"/core/v2/endpoints?"+query, nil)
			api.paginate(req, args, q, page.PageInfo, first, last, env.Pagination)
			want, _ := marshal(env)
			if r.body != string(want) {
				t.Fatalf("streamed answer differs from the whole envelope:\n got %s\nwant %s", r.body, want)
			}
		})
	}
}

// bigPartner serves, with the access log on, a partner of n endpoints of
// about 900 KB each (sixteen operands of 1,000 characters in each of 55
// transformations), created through the store.
func bigPartner(t *testing.T, n int) (*fixture, *syncLog) {
	t.Helper()
	f := newFixture(t)
	caller, _, err := newAuthenticator(f.store).authenticate(t.Context(), f.admin, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	operands := make([]any, 16)
	for i := range operands {
		operands[i] = strings.Repeat(string(rune('a'+i)), 1000)
	}
	var transformations []any
	for range 55 {
		transformations = append(transformations, map[string]any{"action": "strip_plus", "operands": operands})
	}
	for i := range n {
		addresses := []any{map[string]any{"ip": fmt.Sprintf("10.77.%d.%d", i/250, 1+i%250)}}
		e, err := sb.NewEndpoint(caller, sb.Body{"type": "third_party", "addresses": addresses, "transformations": transformations}, sb.NewEndpointParams{PublicURL: "http://x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.CreateEndpoint(t.Context(), f.store, e); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncLog{}
	api := &Server{Store: f.store, Logger: slog.New(slog.NewJSONHandler(logs, nil)), AccessLog: true}
	f.srv.Config.Handler = api.Handler()
	return f, logs
}

// syncLog is a log sink safe for the server's goroutines and the test's.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the logged lines with msg, decoded.
func (l *syncLog) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// count is the number of lines logged.
func (l *syncLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), "\n")
}

// waitLines waits until n lines with msg are logged.
func (l *syncLog) waitLines(t *testing.T, msg string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := l.lines(msg); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d %q log lines within 20 s; have %v", n, msg, l.lines(msg))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that goes away in the middle of a list answer stops the read,
// and the access log records 499 (not 200), with a line saying how many
// items were sent.
func TestListClientGoneMidAnswer(t *testing.T) {
	const n = 25 // about 22 MB of answer
	f, logs := bigPartner(t, n)
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /core/v2/endpoints?limit=1000 HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n", f.admin)
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(conn, head); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 OK")) || !bytes.Contains(head, []byte(`{"count":25,"has_more":false,"items":[{`)) {
		t.Fatalf("answer start: %.300s", head)
	}
	conn.Close()

	access := logs.waitLines(t, "request", 1)[0]
	if access["status"] != float64(statusClientClosed) {
		t.Fatalf("the access log must record 499 for a client gone mid-answer, got %v", access)
	}
	gone := logs.lines("client went away")
	if len(gone) != 1 {
		t.Fatalf("want one 'client went away' line, got %v", gone)
	}
	if sent := gone[0]["items_sent"].(float64); sent >= n || gone[0]["method"] != "GET" || gone[0]["route"] != "GET /core/v2/endpoints" {
		t.Fatalf("the line must say how many of the %d items were sent before the client left: %v", n, gone[0])
	}
	// The server goes on answering.
	if r := f.do("GET", "/core/v2/endpoints?limit=1", f.admin, ""); r.status != 200 {
		t.Fatalf("after the cut answer: %d", r.status)
	}
}

// failingStore fails a list's read after a number of items.
type failingStore struct {
	sb.Store
	after int
}

func (s *failingStore) ListEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery, write func(sb.PageInfo, iter.Seq2[*sb.Endpoint, error]) error) error {
	return s.Store.ListEndpoints(ctx, partnerSID, q, func(page sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
		return write(page, func(yield func(*sb.Endpoint, error) bool) {
			n := 0
			for e, err := range items {
				if n == s.after {
					yield(nil, errors.New("disk on fire"))
					return
				}
				if !yield(e, err) {
					return
				}
				n++
			}
		})
	})
}

// A read that fails before any byte was sent is an ordinary 500 answer; one
// that fails after it cuts the connection (the client cannot take the
// answer for a whole one) and is logged as the 500 it is.
func TestListReadFailsMidAnswer(t *testing.T) {
	f, _ := bigPartner(t, 5)
	f.create(f.other, `{"type":"conference"}`)
	f.create(f.other, `{"type":"conference"}`)
	for _, tt := range []struct {
		name  string
		auth  string
		after int
		cut   bool
	}{
		{"before the first item", f.admin, 0, false},
		{"after small items, all still buffered", f.other, 1, false},
		{"after large items, partly sent", f.admin, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncLog{}
			api := &Server{Store: &failingStore{Store: f.store, after: tt.after}, Logger: slog.New(slog.NewJSONHandler(logs, nil)), AccessLog: true}
			f.srv.Config.Handler = api.Handler()
			req, _ := http.NewRequest("GET", f.srv.URL+"/core/v2/endpoints?limit=5", nil)
			req.Header.Set("Authorization", tt.auth)
			res, err := http.DefaultClient.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			if tt.cut {
				if err == nil {
					t.Fatalf("an answer cut off must not read as complete: %d %.200s", res.StatusCode, body)
				}
			} else if err != nil || res.StatusCode != 500 || !strings.Contains(string(body), `"message":"internal server error"`) {
				t.Fatalf("want a 500 answer: %v %.200s", err, body)
			}
			if access := logs.waitLines(t, "request", 1)[0]; access["status"] != float64(500) {
				t.Fatalf("access log: %v", access)
			}
			failed := logs.lines("request failed")
			if len(failed) != 1 || !strings.Contains(failed[0]["error"].(string), "disk on fire") {
				t.Fatalf("the failure must be logged once with its cause: %v", failed)
			}
		})
	}
}

// The answer is written while rows are read: the first bytes of a large
// page reach the client before the last row is read.
func TestListStreamsBeforeTheLastRow(t *testing.T) {
	f := newFixture(t)
	big := `{"type":"conference","attributes":{"a":"` + strings.Repeat("a", 1000) + `"` // items larger than the answer's buffer
	for i := range 60 {
		big += fmt.Sprintf(`,"k%d":"%s"`, i, strings.Repeat("b", 1000))
	}
	for range 3 {
		f.create(f.admin, big+"}}")
	}
	release := make(chan struct{})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	api := &Server{Store: &gatedStore{Store: f.store, before: 2, release: release}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.srv.Config.Handler = api.Handler()
	req, _ := http.NewRequest("GET", f.srv.URL+"/core/v2/endpoints", nil)
	req.Header.Set("Authorization", f.admin)
	client := &http.Client{Timeout: 10 * time.Second} // a server that holds the answer back fails the Peek
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// The status and the first items arrive while the store still holds
	// back the third row.
	br := bufio.NewReader(res.Body)
	start, err := br.Peek(len(`{"count":3,"has_more":false,"items":[{`))
	if err != nil || string(start) != `{"count":3,"has_more":false,"items":[{` {
		t.Fatalf("answer start %q %v", start, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(rest), `"total":3}`) {
		t.Fatalf("answer end: %s", rest)
	}
}

// gatedStore holds back a list's rows from the before-th on until release
// is closed, flushing what came before.
type gatedStore struct {
	sb.Store
	before  int
	release chan struct{}
}

func (s *gatedStore) ListEndpoints(ctx context.Context, partnerSID string, q sb.ListQuery, write func(sb.PageInfo, iter.Seq2[*sb.Endpoint, error]) error) error {
	return s.Store.ListEndpoints(ctx, partnerSID, q, func(page sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
		return write(page, func(yield func(*sb.Endpoint, error) bool) {
			n := 0
			for e, err := range items {
				if n == s.before {
					<-s.release
				}
				if !yield(e, err) {
					return
				}
				n++
			}
		})
	})
}
