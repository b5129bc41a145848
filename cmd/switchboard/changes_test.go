package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// feedProofEnv set to "full" runs TestChangeFeedFollowers at the issue's
// size (32 writers for 20 s; .ci/run does), "latency" with one writer (for
// the followers' latency figures); otherwise a smaller run that fits
// `go test -race ./...`.
const feedProofEnv = "SWITCHBOARD_FEED_PROOF"

// ack is an acknowledged change: what the writer was answered.
type ack struct {
	partner, sid, op string
	at               time.Time // when the 2xx arrived
	via              int       // the process written through
}

// seen is a change as a follower received it.
type seen struct {
	change sb.EndpointChange
	at     time.Time
}

// TestChangeFeedFollowers is the change feed's proof: writers on every
// process, and three kinds of followers (long poll, SSE, and the CLI's
// `changes --follow`), each of which must see every acknowledged change
// exactly once, per partner in revision order, and replaying what it saw
// from empty must give the final lists. On PostgreSQL there are two server
// processes and the followers read from the one the writers use least.
func TestChangeFeedFollowers(t *testing.T) {
	writers, duration := 8, 3*time.Second
	switch os.Getenv(feedProofEnv) {
	case "full":
		writers, duration = 32, 20*time.Second
	case "latency": // one writer at a time: the followers' latency unloaded
		writers, duration = 1, 10*time.Second
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		const token = "feed-proof-token"
		servers := []*process{startProcess(t, bin, dsn, "SWITCHBOARD_BOOTSTRAP_TOKEN="+token)}
		if strings.HasPrefix(dsn, "postgres") {
			servers = append(servers, startProcess(t, bin, dsn))
		}
		follow := servers[len(servers)-1]
		var out bytes.Buffer
		if err := run(t.Context(), []string{"partners", "create", "--db", dsn, "--name", "second"}, func(string) string { return "" }, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		var second struct{ Token string }
		json.Unmarshal(out.Bytes(), &second)
		tokens := []string{token, second.Token}
		partnerOf := map[string]string{}
		for _, tok := range tokens {
			_, e := call(t, "POST", servers[0].base+"/core/v2/endpoints", tok, `{"type":"conference","name":"first"}`)
			partnerOf[tok] = e["partner_sid"].(string)
		}

		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		var followers sync.WaitGroup
		var mu sync.Mutex
		got := map[string][]seen{} // follower name -> changes in arrival order
		record := func(name string, c sb.EndpointChange) {
			mu.Lock()
			got[name] = append(got[name], seen{c, time.Now()})
			mu.Unlock()
		}
		for _, tok := range tokens {
			followers.Go(func() { longPoll(t, ctx, follow.base, tok, func(c sb.EndpointChange) { record("long poll", c) }) })
			followers.Go(func() { sse(t, ctx, follow.base, tok, func(c sb.EndpointChange) { record("sse", c) }) })
		}
		cli := exec.Command(bin, "changes", "--db", dsn, "--follow")
		cliOut, _ := cli.StdoutPipe()
		cliErr := &syncBuffer{}
		cli.Stderr = cliErr
		if err := cli.Start(); err != nil {
			t.Fatal(err)
		}
		defer cli.Process.Kill()
		cliDone := make(chan struct{})
		go func() {
			defer close(cliDone)
			lines := bufio.NewScanner(cliOut)
			lines.Buffer(nil, 1<<20)
			for lines.Scan() {
				var c sb.EndpointChange
				if err := json.Unmarshal(lines.Bytes(), &c); err != nil {
					t.Errorf("cli line %q: %v", lines.Text(), err)
					return
				}
				record("cli", c)
			}
		}()

		// The writers: create, rename, and delete one in three, through
		// every process in turn.
		var acks []ack
		var writing sync.WaitGroup
		until := time.Now().Add(duration)
		for w := range writers {
			writing.Go(func() {
				tok := tokens[w%len(tokens)]
				var mine []ack
				defer func() { mu.Lock(); acks = append(acks, mine...); mu.Unlock() }()
				for i := 0; time.Now().Before(until); i++ {
					via := (w + i) % len(servers)
					base := servers[via].base
					status, e := call(t, "POST", base+"/core/v2/endpoints", tok, fmt.Sprintf(`{"type":"conference","name":"w%d-%d"}`, w, i))
					if status != 200 {
						t.Errorf("create: %d %v", status, e)
						return
					}
					sid := e["endpoint_sid"].(string)
					mine = append(mine, ack{partnerOf[tok], sid, sb.ChangeCreated, time.Now(), via})
					via = (via + 1) % len(servers)
					if status, e := call(t, "PATCH", servers[via].base+"/core/v2/endpoints/"+sid, tok, `{"name":"renamed"}`); status != 200 {
						t.Errorf("patch: %d %v", status, e)
						return
					}
					mine = append(mine, ack{partnerOf[tok], sid, sb.ChangeUpdated, time.Now(), via})
					if i%3 == 0 {
						if status, _ := call(t, "DELETE", servers[via].base+"/core/v2/endpoints/"+sid, tok, ""); status != 204 {
							t.Errorf("delete: %d", status)
							return
						}
						mine = append(mine, ack{partnerOf[tok], sid, sb.ChangeDeleted, time.Now(), via})
					}
				}
			})
		}
		writing.Wait()
		if t.Failed() {
			return
		}
		// Every partner's final revision, and its final list.
		final := map[string]int64{}
		lists := map[string]map[string]string{}
		for _, tok := range tokens {
			rev, list := listAll(t, follow.base, tok)
			final[partnerOf[tok]], lists[partnerOf[tok]] = rev, list
		}
		caughtUp := func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, name := range []string{"long poll", "sse", "cli"} {
				last := map[string]int64{}
				for _, s := range got[name] {
					last[s.change.Endpoint.PartnerSID] = s.change.Revision
				}
				for p, rev := range final {
					if last[p] < rev {
						return false
					}
				}
			}
			return true
		}
		for deadline := time.Now().Add(60 * time.Second); !caughtUp(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the followers did not catch up with revisions %v", final)
			}
		}
		stop()
		followers.Wait()
		cli.Process.Signal(syscall.SIGTERM)
		<-cliDone
		if err := cli.Wait(); err != nil {
			t.Fatalf("changes --follow ended with %v on SIGTERM: %s", err, cliErr.String())
		}

		// Each follower's sequence: per partner, exactly the acknowledged
		// changes (the first endpoints' creates included), revisions 1, 2,
		// 3, ... in order, no duplicates; replayed from empty, the lists.
		want := map[string][]string{}
		for _, tok := range tokens {
			want[partnerOf[tok]] = append(want[partnerOf[tok]], "") // the first create, checked by count below
		}
		for _, a := range acks {
			want[a.partner] = append(want[a.partner], a.sid+" "+a.op)
		}
		for _, name := range []string{"long poll", "sse", "cli"} {
			perPartner := map[string][]string{}
			state := map[string]map[string]string{}
			next := map[string]int64{}
			for _, s := range got[name] {
				c := s.change
				p := c.Endpoint.PartnerSID
				if c.Revision != next[p]+1 {
					t.Fatalf("%s: partner %s revision %d after %d", name, p, c.Revision, next[p])
				}
				next[p] = c.Revision
				perPartner[p] = append(perPartner[p], c.EndpointSID+" "+c.Operation)
				if state[p] == nil {
					state[p] = map[string]string{}
				}
				if c.Operation == sb.ChangeDeleted {
					delete(state[p], c.EndpointSID)
				} else {
					state[p][c.EndpointSID] = c.Endpoint.Name
				}
			}
			for p, w := range want {
				gotOps := slices.Sorted(slices.Values(perPartner[p][1:]))
				wantOps := slices.Sorted(slices.Values(w[1:]))
				if len(perPartner[p]) != len(w) || !slices.Equal(gotOps, wantOps) {
					t.Fatalf("%s: partner %s: %d changes, %d acknowledged (or not the same ones)", name, p, len(perPartner[p]), len(w))
				}
				if fmt.Sprint(state[p]) != fmt.Sprint(lists[p]) {
					t.Fatalf("%s: partner %s: replaying gives %d endpoints, the list has %d", name, p, len(state[p]), len(lists[p]))
				}
			}
		}
		// Figures (reported, not asserted): commit (the writer's 200) to
		// follower, for changes written through the first process.
		ackAt := map[string]ack{}
		for _, a := range acks {
			ackAt[a.sid+" "+a.op] = a
		}
		for _, name := range []string{"long poll", "sse", "cli"} {
			var lat []time.Duration
			for _, s := range got[name] {
				if a, ok := ackAt[s.change.EndpointSID+" "+s.change.Operation]; ok && a.via == 0 {
					lat = append(lat, max(0, s.at.Sub(a.at)))
				}
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				t.Logf("%s follower on process %d of %d, %d writers for %v: %d changes, commit to follower p50 %v p99 %v",
					name, len(servers), len(servers), writers, duration, len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
			}
		}
	})
}

// listAll reads the partner's whole list and its Switchboard-Revision
// (the list must fit one answer of 1000... or many: pages by offset are
// fine here, nothing writes any more).
func listAll(t *testing.T, base, token string) (int64, map[string]string) {
	t.Helper()
	out := map[string]string{}
	var rev int64
	for offset := 0; ; offset += 1000 {
		req, _ := http.NewRequest("GET", base+"/core/v2/endpoints?limit=1000&offset="+strconv.Itoa(offset), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			HasMore bool          `json:"has_more"`
			Items   []sb.Endpoint `json:"items"`
		}
		json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		rev, _ = strconv.ParseInt(res.Header.Get("Switchboard-Revision"), 10, 64)
		for _, e := range page.Items {
			out[e.EndpointSID] = e.Name
		}
		if !page.HasMore {
			return rev, out
		}
	}
}

// longPoll follows the partner's feed with wait=30 until ctx ends.
func longPoll(t *testing.T, ctx context.Context, base, token string, got func(sb.EndpointChange)) {
	var since int64
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/core/v2/endpoints/changes?since=%d&wait=30&limit=1000", base, since), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("long poll: %v", err)
			}
			return
		}
		var page struct {
			Items    []sb.EndpointChange `json:"items"`
			Revision int64               `json:"revision"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if res.StatusCode != 200 || err != nil {
			if ctx.Err() == nil {
				t.Errorf("long poll: %d %v", res.StatusCode, err)
			}
			return
		}
		for _, c := range page.Items {
			got(c)
		}
		since = page.Revision
	}
}

// sse follows the partner's feed as a stream, resuming with Last-Event-ID
// when it ends, until ctx ends.
func sse(t *testing.T, ctx context.Context, base, token string, got func(sb.EndpointChange)) {
	last := ""
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/core/v2/endpoints/changes", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/event-stream")
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("sse: %v", err)
			}
			return
		}
		if res.StatusCode != 200 {
			t.Errorf("sse: %d", res.StatusCode)
			res.Body.Close()
			return
		}
		lines := bufio.NewScanner(res.Body)
		lines.Buffer(nil, 1<<20)
		var id string
		for lines.Scan() {
			line := lines.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				var c sb.EndpointChange
				if err := json.Unmarshal([]byte(line[6:]), &c); err != nil {
					t.Errorf("sse data %q: %v", line, err)
					return
				}
				got(c)
				last = id
			}
		}
		res.Body.Close()
	}
}

// `switchboard changes`: JSON lines with partner_sid and cursor, --since,
// exit code 3 once the cursor's next change was pruned, and never a new
// database.
func TestChangesCommand(t *testing.T) {
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "feed.db")
	missing := "sqlite:" + filepath.Join(dir, "missing.db")
	if _, _, err := runCLI(t, nil, "changes", "--db", missing); err == nil || fileExists(filepath.Join(dir, "missing.db")) {
		t.Fatalf("changes on a missing database: %v", err)
	}
	db := sqlstoretest.Open(t, dsn)
	caller := sb.Caller{PartnerSID: sb.NewSID(), Scopes: sb.Scopes{sb.ScopeManage}}
	if err := db.CreatePartner(t.Context(), sb.Partner{PartnerSID: caller.PartnerSID, Name: "p", Scopes: caller.Scopes}, ""); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e, err := sb.NewEndpoint(caller, sb.Body{"type": "conference", "name": fmt.Sprint("c", i)}, sb.NewEndpointParams{PublicURL: "http://x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEndpoint(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	stdout, _, err := runCLI(t, nil, "changes", "--db", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[0]["partner_sid"] != caller.PartnerSID || lines[0]["cursor"] == "" || lines[2]["revision"] != 3.0 ||
		lines[0]["operation"] != "created" || lines[0]["endpoint"].(map[string]any)["name"] != "c0" {
		t.Fatalf("changes printed %s", stdout)
	}
	if stdout, _, err := runCLI(t, nil, "changes", "--db", dsn, "--since", lines[1]["cursor"].(string)); err != nil || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, `"c2"`) {
		t.Fatalf("--since the second cursor: %v %s", err, stdout)
	}
	if _, _, err := runCLI(t, nil, "changes", "--db", dsn, "--since", "bogus"); err == nil {
		t.Fatal("a bogus cursor was taken")
	}
	if _, err := db.PruneChanges(t.Context(), time.Now().Add(time.Second), 2); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCLI(t, nil, "changes", "--db", dsn, "--since", lines[0]["cursor"].(string))
	var exit *exitError
	if !errors.As(err, &exit) || exit.code != exitPruned || !strings.Contains(err.Error(), "rebuild") {
		t.Fatalf("--since a pruned cursor: %v", err)
	}
	if stdout, _, err := runCLI(t, nil, "changes", "--db", dsn, "--since", lines[1]["cursor"].(string)); err != nil || !strings.Contains(stdout, `"c2"`) {
		t.Fatalf("--since the last pruned cursor: %v %s", err, stdout)
	}
}
