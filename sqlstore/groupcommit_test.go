package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// Concurrent creates share commits, yet each has its own outcome: the
// conflicting ones fail alone and every other one is stored.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstoretest.SQLiteDSN(t))
	if !sqlstore.GroupCommits(db) {
		t.Fatal("SQLite must use group commit by default")
	}
	a := newPartner(t, db, "a")
	const n = 60
	errs := make([]error, n)
	sids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		ip := fmt.Sprintf("10.50.0.%d", i+1) // a third share one address
		if i%3 == 0 {
			ip = "10.50.1.1"
		}
		e := newEndpoint(t, a, thirdParty(fmt.Sprint("gc-", i), ip, 5060, false))
		sids[i] = e.EndpointSID
		wg.Go(func() { errs[i] = db.CreateEndpoint(ctx, e) })
	}
	wg.Wait()
	stored, conflicts := 0, 0
	for i, err := range errs {
		_, getErr := db.Endpoint(ctx, a.PartnerSID, sids[i])
		switch {
		case err == nil && getErr == nil:
			stored++
		case errors.Is(err, sb.ErrDuplicateIP) && sb.ErrorKindOf(getErr) == sb.KindNotFound:
			conflicts++
		default:
			t.Fatalf("create %d: %v (then read: %v)", i, err, getErr)
		}
	}
	if stored != n-n/3+1 || conflicts != n/3-1 {
		t.Fatalf("%d stored and %d conflicts; want %d and %d", stored, conflicts, n-n/3+1, n/3-1)
	}
}

// BenchmarkConcurrentCreates compares group commit with one commit per
// request, in the same run, at full durability with 32 concurrent writers.
func BenchmarkConcurrentCreates(b *testing.B) {
	for _, mode := range []struct {
		name string
		opt  sqlstore.Options
	}{{"group_commit", sqlstore.Options{}}, {"one_commit_per_request", sqlstore.Options{NoGroupCommit: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			db, err := sqlstore.Open(ctx, sqlstoretest.SQLiteDSN(b), mode.opt)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Scopes: sb.Scopes{sb.ScopeManage, sb.ScopeManageAuthRequired}}
			db.CreatePartner(ctx, p, "")
			c := sb.Caller{PartnerSID: p.PartnerSID, Scopes: p.Scopes}
			var seq atomic.Int64
			b.SetParallelism(16) // 2 cores × 16 = 32 writers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := seq.Add(1)
					e, err := sb.NewEndpoint(c, thirdParty(fmt.Sprint("b-", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), 5060, true), sb.NewEndpointParams{})
					if err == nil {
						err = db.CreateEndpoint(ctx, e)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// A batch whose last job fails still commits the jobs before it. On
// PostgreSQL the batch's end is sent prepared, and a fresh connection has
// nothing prepared yet: the failed job's savepoint must be rolled back
// before that (a transaction a failed statement aborted prepares nothing).
func TestGroupCommitBatchEndingInAFailure(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		first := newEndpoint(t, a, thirdParty("first", "192.0.2.8", 5060, false))
		second := newEndpoint(t, a, thirdParty("second", "192.0.2.8", 5060, false))
		errs := sqlstore.CreateInOneBatch(db, first, second)
		if errs[0] != nil || !errors.Is(errs[1], sb.ErrDuplicateIP) {
			t.Fatalf("batch of a create and a conflicting one: %v; want nil and %v", errs, sb.ErrDuplicateIP)
		}
		if _, err := db.Endpoint(ctx, a.PartnerSID, first.EndpointSID); err != nil {
			t.Fatalf("the first create is not stored: %v", err)
		}
		changes, _, err := db.PartnerChanges(ctx, a.PartnerSID, 0, 10)
		if err != nil || len(changes) != 1 || changes[0].EndpointSID != first.EndpointSID {
			t.Fatalf("changes: %+v, %v; want the first create's alone", changes, err)
		}
	})
}
