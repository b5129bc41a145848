package sqlstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// The duplicate-IP rule is the database's: of many concurrent creates of
// one ip:port with auth_required=false exactly one succeeds.
func TestDuplicateIPUnderConcurrency(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			c := a
			if i%2 == 1 {
				c = b
			}
			e := newEndpoint(t, c, thirdParty(fmt.Sprint("race-", i), "192.0.2.7", 5060, false))
			wg.Go(func() { errs[i] = db.CreateEndpoint(ctx, e) })
		}
		wg.Wait()
		ok, dup := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, sb.ErrDuplicateIP):
				dup++
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 || dup != n-1 {
			t.Fatalf("%d concurrent creates: %d succeeded, %d conflicted; want 1 and %d", n, ok, dup, n-1)
		}

		// Updates race too: of many endpoints switched to auth_required=false
		// on one address at once, exactly one wins.
		var sids []string
		for i := range 10 {
			sids = append(sids, mustStore(t, db, a, thirdParty(fmt.Sprint("upd-", i), "192.0.2.8", 5060, true)).EndpointSID)
		}
		errs = make([]error, len(sids))
		for i, sid := range sids {
			wg.Go(func() {
				_, errs[i] = db.UpdateEndpoint(ctx, a.PartnerSID, sid, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
					return cur.Update(a, sb.Body{"auth_required": false}, sb.Merge)
				})
			})
		}
		wg.Wait()
		ok = 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, sb.ErrDuplicateIP) {
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent updates to auth_required=false on one address: %d succeeded, want 1", len(sids), ok)
		}
	})
}

// Concurrent PATCHes of one endpoint each apply in full: none is lost.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		tp := mustStore(t, db, a, thirdParty("t", "10.1.1.1", 5060, true))
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, err := db.UpdateEndpoint(ctx, a.PartnerSID, tp.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
					return cur.Update(a, sb.Body{"attributes": map[string]any{fmt.Sprint("k", i): "v"}}, sb.Merge)
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := db.Endpoint(ctx, a.PartnerSID, tp.EndpointSID)
		if len(got.Attributes) != n {
			t.Fatalf("after %d concurrent merges of one attribute each, %d attributes remain: an update was lost", n, len(got.Attributes))
		}
	})
}

// PATCH racing DELETE: the PATCH either lands before the delete (and is
// deleted with it) or finds nothing (404); it never brings the endpoint back.
// PUT racing PATCH: each applies whole, one after the other.
func TestUpdateRaces(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		for round := range 20 {
			e := mustStore(t, db, a, thirdParty(fmt.Sprint("race-", round), "10.3.3.3", 5060, true))
			var wg sync.WaitGroup
			var patchErr, delErr error
			wg.Go(func() {
				_, patchErr = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
					return cur.Update(a, sb.Body{"name": "patched"}, sb.Merge)
				})
			})
			wg.Go(func() { delErr = db.DeleteEndpoint(ctx, a.PartnerSID, e.EndpointSID) })
			wg.Wait()
			if delErr != nil {
				t.Fatalf("delete: %v", delErr)
			}
			if patchErr != nil && sb.ErrorKindOf(patchErr) != sb.KindNotFound {
				t.Fatalf("a PATCH racing a DELETE: %v", patchErr)
			}
			if _, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
				t.Fatalf("round %d: the deleted endpoint came back (%v)", round, err)
			}
		}

		e := mustStore(t, db, a, thirdParty("put-vs-patch", "10.4.4.4", 5060, true))
		put := sb.Body{"name": "put", "capacity": json.Number("1"), "attributes": map[string]any{"p": "1"},
			"addresses": []any{map[string]any{"ip": "10.4.4.5"}}, "transformations": []any{}, "out_sip_username": "pu", "out_sip_password": nil}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					_, err = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) { return cur.Update(a, put, sb.Put) })
				} else {
					_, err = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
						return cur.Update(a, sb.Body{"attributes": map[string]any{fmt.Sprint("k", i): "v"}, "capacity": json.Number(fmt.Sprint(100 + i))}, sb.Merge)
					})
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID)
		// Whatever ran last, the result is a whole PUT plus whole PATCHes after
		// it: the PUT's fields are all there, and every attribute a PATCH
		// added after the last PUT carries with it that PATCH's capacity or a
		// later one's.
		if got.Name != "put" || got.Attributes["p"] != "1" || len(got.Addresses) != 1 || got.Addresses[0].IP != "10.4.4.5" || *got.OutSIPUsername != "pu" {
			t.Fatalf("PUT fields lost: %+v", got)
		}
		if len(got.Attributes) > 1 && got.Capacity < 100 {
			t.Fatalf("attributes of a PATCH without its capacity: half-applied: %+v", got)
		}
	})
}
