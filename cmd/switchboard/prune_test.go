package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// serve prunes the records of expired idempotency keys: a round deletes
// batch after batch (never more than the batch) while whole batches are
// due, and keeps the live records. The test runs serve through its flags
// with its clock and its rounds in the test's hands (serveConfig's
// keyPruning), so nothing waits on a timer, and reads the table itself:
// through the API an expired record and a pruned one look alike.
func TestServePrunesExpiredKeys(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		const token = "prune-keys-token"
		start := time.UnixMilli(time.Now().UnixMilli())
		var clock atomic.Int64 // the server's time, Unix ms
		at := func(d time.Duration) { clock.Store(start.Add(d).UnixMilli()) }
		rounds := make(chan time.Time)
		pruned := make(chan []int)
		srv := startServeConfigured(t, func(c *serveConfig) {
			c.keyPruning = keyPruning{
				now:    func() time.Time { return time.UnixMilli(clock.Load()) },
				rounds: rounds, batch: 2,
				pruned: func(batches []int) { pruned <- batches },
			}
		}, map[string]string{"SWITCHBOARD_BOOTSTRAP_TOKEN": token}, "--db", dsn)
		defer srv.stop()

		body := func(key string) string { return fmt.Sprintf(`{"type":"conference","name":%q}`, key) }
		post := func(key string) bool { // whether the answer was a replay
			t.Helper()
			status, data, replayed, ok := keyedPost(http.DefaultClient, srv.base, token, key, body(key))
			if !ok || status != 200 {
				t.Fatalf("POST with key %s: %d %s", key, status, data)
			}
			return replayed
		}
		at(0)
		for i := range 5 {
			post(fmt.Sprint("old-", i))
		}
		at(time.Hour)
		post("fresh")

		for _, step := range []struct {
			at      time.Duration
			batches []int
			left    []string
		}{
			{sb.IdempotencyWindow - time.Millisecond, []int{0}, []string{"fresh", "old-0", "old-1", "old-2", "old-3", "old-4"}},
			{sb.IdempotencyWindow, []int{2, 2, 1}, []string{"fresh"}},
			{time.Hour + sb.IdempotencyWindow - time.Millisecond, []int{0}, []string{"fresh"}},
			{time.Hour + sb.IdempotencyWindow, []int{1}, nil},
		} {
			at(step.at)
			select { // a guard against a pruner that never runs, not a timing
			case rounds <- time.Time{}:
			case <-time.After(time.Minute):
				t.Fatal("serve's key pruner never took the round")
			}
			if got := <-pruned; !slices.Equal(got, step.batches) {
				t.Fatalf("at %v: batches %v, want %v", step.at, got, step.batches)
			}
			if got := storedKeys(t, dsn); !slices.Equal(got, step.left) {
				t.Fatalf("at %v: records of %v, want %v", step.at, got, step.left)
			}
			if slices.Contains(step.left, "fresh") && !post("fresh") {
				t.Fatalf("at %v: the live key was not replayed", step.at)
			}
		}
		// A pruned key is new: it creates anew.
		if post("fresh") {
			t.Fatal("a pruned key was replayed")
		}
	})
}

// storedKeys reads the idempotency keys recorded in the database, in order.
func storedKeys(t *testing.T, dsn string) []string {
	t.Helper()
	driver, source := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, source = "sqlite", path
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT idem_key FROM idempotency_keys ORDER BY idem_key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}
