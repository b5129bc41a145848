package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

func onceRequest(t *testing.T, c sb.Caller, key string, now time.Time) sb.IdempotentCreate {
	return sb.IdempotentCreate{
		PartnerSID: c.PartnerSID, Key: key, RequestHash: "h", Now: now,
		Endpoint: newEndpoint(t, c, sb.Body{"type": "conference", "name": key}),
		Answer: func(e *sb.Endpoint, err error) (sb.Answer, bool) {
			if err != nil {
				return sb.Answer{}, false
			}
			return sb.Answer{Status: 200, Body: []byte(e.EndpointSID)}, true
		},
	}
}

// On PostgreSQL a key is in flight exactly while a transaction holds its
// advisory lock, in any process: another session's lock makes the create
// answer ErrKeyInFlight and create nothing, and once that session is gone
// (as when its process is killed: the server ends the session and its
// locks) the key is free again.
func TestKeyInFlightAcrossSessions(t *testing.T) {
	dsn := sqlstoretest.PostgresDSN(t)
	db := sqlstoretest.Open(t, dsn)
	other := sqlstoretest.Open(t, dsn) // as another process would
	c := newPartner(t, db, "p")
	conn, err := sqlstore.WritePool(other).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var holder int
	if err := tx.QueryRow(`SELECT pg_backend_pid() FROM (SELECT pg_advisory_xact_lock($1)) l`, sqlstore.KeyLockID(c.PartnerSID, "held")).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateEndpointOnce(ctx, onceRequest(t, c, "held", time.Now())); !errors.Is(err, sb.ErrKeyInFlight) {
		t.Fatalf("while another session holds the key: %v", err)
	}
	// The lock names the partner's key only.
	if _, _, err := db.CreateEndpointOnce(ctx, onceRequest(t, c, "free", time.Now())); err != nil {
		t.Fatalf("another key: %v", err)
	}
	// The holder's session dies in its transaction, as when its process is
	// killed.
	if _, err := sqlstore.WritePool(db).Exec(`SELECT pg_terminate_backend($1)`, holder); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer tx.Rollback()
	for gone := false; !gone; { // pg_terminate_backend only signals the session
		var n int
		sqlstore.ReadPool(db).QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, holder).Scan(&n)
		gone = n == 0
		time.Sleep(10 * time.Millisecond)
	}
	ans, replayed, err := db.CreateEndpointOnce(ctx, onceRequest(t, c, "held", time.Now()))
	if err != nil || replayed || ans.Status != 200 {
		t.Fatalf("after the holder went away: %v %v %v", ans, replayed, err)
	}
	page, err := sb.ListPage(ctx, db, c.PartnerSID, sb.ListQuery{Limit: 10})
	if err != nil || page.Total != 2 {
		t.Fatalf("%v endpoints (%v), want 2", page.Total, err)
	}
}

// Expired records are pruned a batch per call, oldest first, never more
// than the batch; live ones stay.
func TestPruneIdempotencyKeys(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		c := newPartner(t, db, "p")
		start := time.Now()
		const old, batch = 7, 3
		insert := sqlstore.Rebind(db, `INSERT INTO idempotency_keys (partner_sid, idem_key, request_hash, status, body, created_at) VALUES (?, ?, 'h', 200, '{}', ?)`)
		// Inserted newest first, so that insertion order is not age order.
		for i := old - 1; i >= 0; i-- {
			if _, err := sqlstore.WritePool(db).Exec(insert, c.PartnerSID, fmt.Sprint("old-", i), start.Add(time.Duration(i)*time.Millisecond).UnixMilli()); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := db.CreateEndpointOnce(ctx, onceRequest(t, c, "young", start.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		keys := func() []string {
			rows, err := sqlstore.ReadPool(db).Query(`SELECT idem_key FROM idempotency_keys ORDER BY created_at`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var k string
				rows.Scan(&k)
				out = append(out, k)
			}
			return out
		}
		now := start.Add(sb.IdempotencyWindow + old*time.Millisecond)
		for _, step := range []struct {
			pruned int
			left   []string
		}{
			{3, []string{"old-3", "old-4", "old-5", "old-6", "young"}},
			{3, []string{"old-6", "young"}},
			{1, []string{"young"}},
			{0, []string{"young"}},
		} {
			n, err := db.PruneIdempotencyKeys(ctx, now, batch)
			if err != nil || n != step.pruned {
				t.Fatalf("pruned %d (%v), want %d", n, err, step.pruned)
			}
			if got := keys(); !slices.Equal(got, step.left) {
				t.Fatalf("after pruning %d: %v left, want %v", n, got, step.left)
			}
		}
		ans, replayed, err := db.CreateEndpointOnce(ctx, onceRequest(t, c, "young", start.Add(2*time.Hour)))
		if err != nil || !replayed || ans.Status != 200 {
			t.Fatalf("the young key after pruning: %v %v %v", ans, replayed, err)
		}
	})
}

// A keyed create writes the endpoint's search rows and claims under the
// row it inserted (on PostgreSQL the row is inserted by the key's claim
// statement), so the address is claimed: a second create of it is
// refused, and that refusal is the second key's answer. A taken login is
// retried with a new one, under the same key.
func TestKeyedCreateRowsClaimsAndLogins(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		c := newPartner(t, db, "p")
		now := time.Now()
		request := func(key string, body sb.Body) sb.IdempotentCreate {
			req := onceRequest(t, c, key, now)
			req.Endpoint = newEndpoint(t, c, body)
			return req
		}
		trunk := request("trunk", thirdParty("trunk", "192.0.2.44", 5060, false))
		if _, replayed, err := db.CreateEndpointOnce(ctx, trunk); err != nil || replayed {
			t.Fatalf("keyed create: %v %v", replayed, err)
		}
		var rows int
		sqlstore.ReadPool(db).QueryRow(sqlstore.Rebind(db, `SELECT (SELECT count(*) FROM endpoint_addresses a JOIN endpoints e ON e.id = a.endpoint_id WHERE e.endpoint_sid = ?)
			+ (SELECT count(*) FROM ip_claims a JOIN endpoints e ON e.id = a.endpoint_id WHERE e.endpoint_sid = ?)`), trunk.Endpoint.EndpointSID, trunk.Endpoint.EndpointSID).Scan(&rows)
		if rows != 2 {
			t.Fatalf("%d address and claim rows under the created endpoint, want 2", rows)
		}
		if err := sb.CreateEndpoint(ctx, db, newEndpoint(t, c, thirdParty("again", "192.0.2.44", 5060, false))); sb.ErrorKindOf(err) != sb.KindConflict {
			t.Fatalf("a second claim of the keyed create's address: %v", err)
		}

		first := mustStore(t, db, c, sb.Body{"type": "conference", "name": "same"})
		taken := request("taken", sb.Body{"type": "conference", "name": "same"})
		taken.Endpoint.Properties["login"] = first.Properties["login"]
		ans, replayed, err := db.CreateEndpointOnce(ctx, taken)
		if err != nil || replayed || ans.Status != 200 || taken.Endpoint.Properties.Login() == first.Properties.Login() {
			t.Fatalf("keyed create with a taken login: %v %v %v, login %v", ans, replayed, err, taken.Endpoint.Properties.Login())
		}
		if again, replayed, err := db.CreateEndpointOnce(ctx, request("taken", sb.Body{"type": "conference", "name": "same"})); err != nil || !replayed || string(again.Body) != string(ans.Body) {
			t.Fatalf("its replay: %s %v %v", again.Body, replayed, err)
		}
		page, err := sb.ListPage(ctx, db, c.PartnerSID, sb.ListQuery{Limit: 10})
		if err != nil || page.Total != 3 {
			t.Fatalf("%v endpoints (%v), want 3", page.Total, err)
		}
	})
}
