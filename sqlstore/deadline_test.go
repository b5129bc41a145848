package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
)

// manualTimer replaces afterFunc: the test fires the deadline when it
// chooses, so that no test depends on how long a query takes.
type manualTimer struct {
	mu    sync.Mutex
	fires []func()
}

func (m *manualTimer) install(t *testing.T) {
	old := afterFunc
	afterFunc = func(_ time.Duration, f func()) interface{ Stop() bool } {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.fires = append(m.fires, f)
		return stopped{}
	}
	t.Cleanup(func() { afterFunc = old })
}

// fire runs every deadline started so far, as their timers would.
func (m *manualTimer) fire() {
	m.mu.Lock()
	fires := m.fires
	m.mu.Unlock()
	for _, f := range fires {
		f()
	}
}

type stopped struct{}

func (stopped) Stop() bool { return true }

// deadlineBackends opens a database of each backend with n endpoints of
// one partner, and the statement timeout limit.
func deadlineBackends(t *testing.T, n int, limit time.Duration, test func(t *testing.T, db *DB, partner string)) {
	dsns := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "deadline.db")}
	if pg := os.Getenv("SWITCHBOARD_TEST_POSTGRES"); pg != "" {
		dsns["postgres"] = postgresSchema(t, pg)
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			db, err := Open(ctx, dsn, Options{StatementTimeout: limit})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			partner := sb.NewSID()
			if err := db.CreatePartner(ctx, sb.Partner{PartnerSID: partner, Name: "p", Scopes: sb.Scopes{sb.ScopeManage}}, ""); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				e := &sb.Endpoint{EndpointSID: sb.NewSID(), PartnerSID: partner, Type: sb.TypeThirdParty, Name: fmt.Sprint("e", i),
					AuthRequired: true, Attributes: map[string]string{}, Properties: sb.Properties{}, Addresses: []sb.Address{},
					Transformations: []sb.Transformation{}}
				if err := db.CreateEndpoint(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			test(t, db, partner)
		})
	}
}

// A list whose deadline passes after its answer began is not cut: the
// deadline bounds the query until its first row, not a slow client's
// reading of the rest.
func TestStatementTimeoutEndsWhenTheAnswerBegins(t *testing.T) {
	timer := &manualTimer{}
	timer.install(t)
	deadlineBackends(t, 200, time.Hour, func(t *testing.T, db *DB, partner string) {
		read := 0
		err := db.ListEndpoints(ctx, partner, sb.ListQuery{Limit: 200}, func(_ sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
			for _, err := range items {
				if err != nil {
					return err
				}
				if read++; read == 1 {
					timer.fire() // the client is slower than the timeout
				}
			}
			return nil
		})
		if err != nil || read != 200 {
			t.Fatalf("a list whose deadline passed mid-answer: %d of 200 items, %v", read, err)
		}
	})
}

// A list whose deadline passes before its answer begins fails with
// ErrStatementTimeout, and gives its connection back.
func TestListPastItsStatementTimeoutFails(t *testing.T) {
	t.Run("timer fired", func(t *testing.T) {
		timer := &manualTimer{}
		timer.install(t)
		deadlineBackends(t, 50, time.Hour, func(t *testing.T, db *DB, partner string) {
			for _, q := range []sb.ListQuery{{Limit: 50}, {Limit: 50, Offset: 100}} { // a page of rows, an empty page
				err := db.ListEndpoints(ctx, partner, q, func(_ sb.PageInfo, items iter.Seq2[*sb.Endpoint, error]) error {
					timer.fire() // the page query is slower than the timeout
					for _, err := range items {
						if err != nil {
							return err
						}
					}
					return nil
				})
				if !errors.Is(err, sb.ErrStatementTimeout) {
					t.Fatalf("offset %d: %v, want ErrStatementTimeout", q.Offset, err)
				}
			}
			if n := connectionsInUse(db); n != 0 {
				t.Fatalf("%d connections still in use after the timed-out lists", n)
			}
		})
	})
	// With the real timer: whatever the timer's goroutine did, a list that
	// took longer than its (tiny) timeout before its first row fails.
	t.Run("tiny timeout", func(t *testing.T) {
		deadlineBackends(t, 50, time.Nanosecond, func(t *testing.T, db *DB, partner string) {
			_, err := sb.ListPage(ctx, db, partner, sb.ListQuery{Limit: 50})
			if !errors.Is(err, sb.ErrStatementTimeout) {
				t.Fatalf("%v, want ErrStatementTimeout", err)
			}
			if strings.Contains(fmt.Sprint(err), "SELECT") {
				t.Fatalf("the error shows SQL: %v", err)
			}
			if n := connectionsInUse(db); n != 0 {
				t.Fatalf("%d connections still in use after the timed-out list", n)
			}
		})
	})
}

// postgresSchema is a DSN for a schema of the test's own on pg, dropped
// when the test ends (sqlstoretest cannot be imported from inside
// package sqlstore).
func postgresSchema(t *testing.T, pg string) string {
	admin, err := sql.Open("pgx", pg)
	if err != nil {
		t.Fatal(err)
	}
	schema := "deadline_" + strings.ReplaceAll(sb.NewSID(), "-", "")
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(pg, "?") {
		sep = "&"
	}
	return pg + sep + "search_path=" + schema
}

// connectionsInUse is the read pool's connections in use once a cancelled
// statement has given its connection back: database/sql closes the rows of
// a cancelled context in a goroutine of its own, so the count drops a
// moment after the call returns. It waits up to 5 s for 0.
func connectionsInUse(db *DB) int {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n := db.read.Stats().InUse; n == 0 || time.Now().After(deadline) {
			return n
		}
	}
}
