package httpapi

import (
	"bufio"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// The change feed's route (extensions.md §1): GET /core/v2/endpoints/changes
// answers a page of the partner's changes, holds it while nothing is new
// (wait, a long poll), or streams them (Accept: text/event-stream).

const changesPath = collectionPath + "/changes"

// revisionHeader carries the partner's revision on list and get answers.
const revisionHeader = "Switchboard-Revision"

const defaultChangesLimit = 100

// maxWait bounds a long poll's wait argument.
const maxWait = 60 * time.Second

// Defaults of the followers' settings (Server fields).
const (
	DefaultMaxStreams        = 100
	DefaultKeepAlive         = 15 * time.Second
	DefaultStreamWriteWindow = 10 * time.Second
)

type changesQuery struct {
	since int64
	limit int
	wait  time.Duration
}

func parseChangesQuery(args url.Values) (changesQuery, error) {
	var q changesQuery
	if v := args.Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return q, sb.BadRequest("since", "since must be a revision: a whole number, 0 or more")
		}
		q.since = n
	}
	// The rules of a list's limit (over 1000 is 1000, 0 the default), with
	// a default of its own.
	q.limit = defaultChangesLimit
	if v := args.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return q, sb.BadRequest("limit", "limit must be a whole number from 0 to 1000")
		}
		if n > 0 {
			q.limit = min(n, maxLimit)
		}
	}
	if v := args.Get("wait"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > maxWait.Seconds() {
			return q, sb.BadRequest("wait", "wait must be a number of seconds from 0 to 60")
		}
		q.wait = time.Duration(f * float64(time.Second))
	}
	return q, nil
}

// wantsStream reports whether the request asks for an SSE stream.
func wantsStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if t, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && t == "text/event-stream" {
			return true
		}
	}
	return false
}

func (s *Server) listChanges(w http.ResponseWriter, r *http.Request, c sb.Caller) error {
	if err := c.Authorize(sb.OpRead); err != nil {
		return err
	}
	args, err := queryArgs(r)
	if err != nil {
		return err
	}
	q, err := parseChangesQuery(args)
	if err != nil {
		return err
	}
	if wantsStream(r) {
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil || n < 0 {
				return sb.BadRequest("Last-Event-ID", "Last-Event-ID must be a revision: a whole number, 0 or more")
			}
			q.since = n
		}
		return s.streamChanges(w, r, c, q)
	}
	return s.pollChanges(w, r, c, q)
}

// changesPage is one read of the feed: up to limit changes and whether more
// follow.
func (s *Server) changesPage(r *http.Request, c sb.Caller, since int64, limit int) (changes []sb.EndpointChange, current int64, hasMore bool, err error) {
	changes, current, err = s.Store.PartnerChanges(r.Context(), c.PartnerSID, since, limit+1)
	if errors.Is(err, sb.ErrChangesPruned) {
		err = sb.ChangesGone()
	}
	if len(changes) > limit {
		changes, hasMore = changes[:limit], true
	}
	return changes, current, hasMore, err
}

// follower is a long poll or stream that waits: it leaves the credential's
// gate of requests in flight (it would hold a turn meant for work) and takes
// one of the credential's follower places instead.
//
// It also lifts the connection's deadlines, which are meant for ordinary
// requests: the server's read timeout would end a waiting request's context
// (Go's server reads on in the background), its write timeout would cut
// the answer. The answer's writes get windows of their own.
func (s *Server) follow(w http.ResponseWriter, r *http.Request) (done func(), err error) {
	info := infoOf(r.Context())
	if !s.streams.take(info.credential) {
		return nil, &retryLater{errTooManyStreams, time.Second}
	}
	if info.leaveGate != nil {
		info.leaveGate()
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	return func() {
		rc.SetWriteDeadline(time.Now().Add(s.streamWriteWindow()))
		s.streams.give(info.credential)
	}, nil
}

var errTooManyStreams = &apiError{http.StatusTooManyRequests, "too many requests", "this credential has as many change feed followers (long polls and streams) as it may; end one first"}

func (s *Server) pollChanges(w http.ResponseWriter, r *http.Request, c sb.Caller, q changesQuery) error {
	ctx := r.Context()
	deadline := time.Now().Add(q.wait)
	var wake <-chan struct{}
	answer := func(changes []sb.EndpointChange, current int64, hasMore bool) error {
		if wake != nil { // the deadlines were lifted: the answer gets its window
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.streamWriteWindow()))
		}
		return writeChanges(w, changes, current, hasMore)
	}
	for {
		changes, current, hasMore, err := s.changesPage(r, c, q.since, q.limit)
		if err != nil {
			return err
		}
		left := time.Until(deadline)
		if len(changes) > 0 || left <= 0 {
			return answer(changes, current, hasMore)
		}
		if wake == nil {
			// The first wait: become a follower, then take the signal
			// and read again, so no commit falls between read and wait.
			done, err := s.follow(w, r)
			if err != nil {
				return err
			}
			defer done()
			if wake, err = s.Store.ChangeNotify(ctx); err != nil {
				return err
			}
			continue
		}
		timer := time.NewTimer(left)
		select {
		case <-wake:
		case <-timer.C:
		case <-s.stopping():
			timer.Stop()
			return answer(nil, current, false)
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		timer.Stop()
		if wake, err = s.Store.ChangeNotify(ctx); err != nil {
			return err
		}
	}
}

func writeChanges(w http.ResponseWriter, changes []sb.EndpointChange, current int64, hasMore bool) error {
	revision := current
	if hasMore {
		revision = changes[len(changes)-1].Revision
	}
	for i := range changes {
		changes[i].PartnerSID = "" // the partner's own feed: the endpoint names it
	}
	if changes == nil {
		changes = []sb.EndpointChange{}
	}
	writeJSON(w, http.StatusOK, struct {
		Count    int                 `json:"count"`
		HasMore  bool                `json:"has_more"`
		Items    []sb.EndpointChange `json:"items"`
		Revision int64               `json:"revision"`
	}{len(changes), hasMore, changes, revision})
	return nil
}

// streamChanges answers an SSE stream of the partner's changes. Errors
// before the stream starts (a pruned since, too many followers) are
// answered as usual; after, a failure ends the stream and the client
// resumes with Last-Event-ID. The server holds one page of changes at a
// time; a reader too slow to take an event within StreamWriteWindow is
// dropped.
func (s *Server) streamChanges(w http.ResponseWriter, r *http.Request, c sb.Caller, q changesQuery) error {
	ctx := r.Context()
	wake, err := s.Store.ChangeNotify(ctx)
	if err != nil {
		return err
	}
	changes, _, hasMore, err := s.changesPage(r, c, q.since, q.limit)
	if err != nil {
		return err
	}
	done, err := s.follow(w, r)
	if err != nil {
		return err
	}
	defer done()

	rc := http.NewResponseController(w)
	// However the stream ends, the server's closing of the answer gets a
	// window of its own: the stream ends cleanly, not cut.
	defer rc.SetWriteDeadline(time.Now().Add(s.streamWriteWindow()))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies: pass events on at once
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriter(w)
	// send writes what out holds within the write window: the server's
	// write timeout would cut a long stream, so each flush has its own.
	send := func() error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.streamWriteWindow())); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send(); err != nil {
		return nil // the client went away; nothing more can be said
	}
	keepAlive := time.NewTicker(s.keepAlive())
	defer keepAlive.Stop()
	since := q.since
	for {
		for _, ch := range changes {
			ch.PartnerSID = ""
			data, err := marshal(ch)
			if err != nil {
				s.Logger.Error("change stream", "error", err)
				return nil
			}
			out.WriteString("id: " + strconv.FormatInt(ch.Revision, 10) + "\nevent: " + ch.Operation + "\ndata: ")
			out.Write(data)
			out.WriteString("\n\n")
			since = ch.Revision
		}
		sent := len(changes) > 0
		changes = nil
		if sent {
			if err := send(); err != nil {
				return nil
			}
			keepAlive.Reset(s.keepAlive())
		}
		if !hasMore {
			select {
			case <-wake:
			case <-keepAlive.C:
				out.WriteString(": keep-alive\n\n")
				if err := send(); err != nil {
					return nil
				}
				continue
			case <-s.stopping():
				return nil // the server is shutting down: the client resumes elsewhere
			case <-ctx.Done():
				return nil
			}
			if wake, err = s.Store.ChangeNotify(ctx); err != nil {
				return nil
			}
		}
		if changes, _, hasMore, err = s.changesPage(r, c, since, q.limit); err != nil {
			// Pruned past the reader (or the database failed): end the
			// stream; resuming answers the error as JSON.
			return nil
		}
	}
}

func (s *Server) keepAlive() time.Duration {
	if s.KeepAlive > 0 {
		return s.KeepAlive
	}
	return DefaultKeepAlive
}

func (s *Server) streamWriteWindow() time.Duration {
	if s.StreamWriteWindow > 0 {
		return s.StreamWriteWindow
	}
	return DefaultStreamWriteWindow
}

// stopping is closed when the server shuts down (nil: never).
func (s *Server) stopping() <-chan struct{} { return s.Stopping }

// followers counts each credential's followers (long polls waiting and
// streams) against a cap; only credentials with followers have an entry.
type followers struct {
	max   int
	mu    sync.Mutex
	byKey map[string]int
}

func newFollowers(n int) *followers {
	if n <= 0 {
		n = DefaultMaxStreams
	}
	return &followers{max: n, byKey: map[string]int{}}
}

func (f *followers) take(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byKey[key] >= f.max {
		return false
	}
	f.byKey[key]++
	return true
}

func (f *followers) give(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byKey[key]--; f.byKey[key] <= 0 {
		delete(f.byKey, key)
	}
}
