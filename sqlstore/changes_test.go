package sqlstore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// ops lists a feed's changes as "operation revision name" lines.
func ops(changes []sb.EndpointChange) []string {
	var out []string
	for _, c := range changes {
		out = append(out, fmt.Sprintf("%s %d %s", c.Operation, c.Revision, c.Endpoint.Name))
	}
	return out
}

func partnerChanges(t *testing.T, db *sqlstore.DB, partnerSID string, since int64) ([]sb.EndpointChange, int64) {
	t.Helper()
	changes, current, err := db.PartnerChanges(ctx, partnerSID, since, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return changes, current
}

func TestChangesRecordedWithEachWrite(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		e := mustStore(t, db, a, thirdParty("one", "192.0.2.1", 5060, false))
		mustStore(t, db, b, thirdParty("other", "192.0.2.2", 5060, false))
		rename := func(name string) func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return func(cur *sb.Endpoint) (*sb.Endpoint, error) { return cur.Update(a, sb.Body{"name": name}, sb.Merge) }
		}
		if _, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, rename("two")); err != nil {
			t.Fatal(err)
		}
		// A no-op update and failed writes record nothing.
		if _, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, rename("two")); err != nil {
			t.Fatal(err)
		}
		taken := func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return cur.Update(a, sb.Body{"addresses": []any{map[string]any{"ip": "192.0.2.2", "port": "5060"}}}, sb.Merge)
		}
		if _, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, taken); !errors.Is(err, sb.ErrDuplicateIP) {
			t.Fatalf("update onto a taken address: %v", err)
		}
		if err := db.CreateEndpoint(ctx, newEndpoint(t, a, thirdParty("dup", "192.0.2.2", 5060, false))); !errors.Is(err, sb.ErrDuplicateIP) {
			t.Fatalf("create onto a taken address: %v", err)
		}
		if err := db.DeleteEndpoint(ctx, a.PartnerSID, e.EndpointSID); err != nil {
			t.Fatal(err)
		}

		changes, current := partnerChanges(t, db, a.PartnerSID, 0)
		want := []string{"created 1 one", "updated 2 two", "deleted 3 two"}
		if fmt.Sprint(ops(changes)) != fmt.Sprint(want) || current != 3 {
			t.Fatalf("partner a's feed %q (current %d), want %q (3)", ops(changes), current, want)
		}
		for _, c := range changes {
			if c.EndpointSID != e.EndpointSID || c.PartnerSID != a.PartnerSID || c.Cursor != "" || c.OccurredAt.IsZero() {
				t.Fatalf("change %+v", c)
			}
		}
		// b's revisions are its own.
		if changes, current := partnerChanges(t, db, b.PartnerSID, 0); fmt.Sprint(ops(changes)) != "[created 1 other]" || current != 1 {
			t.Fatalf("partner b's feed %q (current %d)", ops(changes), current)
		}
		// From a revision on: only what follows.
		if changes, _ := partnerChanges(t, db, a.PartnerSID, 2); fmt.Sprint(ops(changes)) != "[deleted 3 two]" {
			t.Fatalf("after 2: %q", ops(changes))
		}
		if changes, _ := partnerChanges(t, db, a.PartnerSID, 3); len(changes) != 0 {
			t.Fatalf("after the current revision: %q", ops(changes))
		}
		if _, _, err := db.PartnerChanges(ctx, a.PartnerSID, 4, 10); sb.ErrorKindOf(err) != sb.KindBadRequest {
			t.Fatalf("since above the current revision: %v", err)
		}

		// The operators' feed: every partner, each in revision order.
		all, err := db.OperatorChanges(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 4 {
			t.Fatalf("operators' feed %q", ops(all))
		}
		rest, err := db.OperatorChanges(ctx, all[1].Cursor, 1000)
		if err != nil || len(rest) != 2 || rest[0].Cursor != all[2].Cursor {
			t.Fatalf("after the second change's cursor: %q, %v", ops(rest), err)
		}
		if rest, err := db.OperatorChanges(ctx, all[3].Cursor, 1000); err != nil || len(rest) != 0 {
			t.Fatalf("after the last cursor: %q, %v", ops(rest), err)
		}
	})
}

func TestSystemGatewayChanges(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		gw := []sb.IPPort{{IP: "198.51.100.1", Port: 5060}}
		for range 2 { // the second time changes nothing
			if err := db.SetSystemGateways(ctx, gw); err != nil {
				t.Fatal(err)
			}
		}
		b := newPartner(t, db, "b") // gets its gateway at creation
		if err := db.SetSystemGateways(ctx, append(gw, sb.IPPort{IP: "198.51.100.2", Port: 5060})); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			partner sb.Caller
			want    string
		}{
			{a, "[created 1 System Gateway updated 2 System Gateway]"},
			{b, "[created 1 System Gateway updated 2 System Gateway]"},
		} {
			if changes, _ := partnerChanges(t, db, c.partner.PartnerSID, 0); fmt.Sprint(ops(changes)) != c.want {
				t.Fatalf("%s: %q, want %s", c.partner.PartnerName, ops(changes), c.want)
			}
		}
	})
}

func TestResetRecordsDeletesAndCreates(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		mustStore(t, db, a, thirdParty("old", "192.0.2.1", 5060, true))
		if _, err := db.ResetEndpoints(ctx, a.PartnerSID, []*sb.Endpoint{newEndpoint(t, a, thirdParty("new", "192.0.2.1", 5060, true))}); err != nil {
			t.Fatal(err)
		}
		if changes, _ := partnerChanges(t, db, a.PartnerSID, 0); fmt.Sprint(ops(changes)) != "[created 1 old deleted 2 old created 3 new]" {
			t.Fatalf("%q", ops(changes))
		}
	})
}

// A transaction's changes are written in chunks of rows (SQLite) or one
// statement (PostgreSQL): whatever their number, each takes the next
// revision and position, in order.
func TestManyChangesInOneTransaction(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		var revision int64
		var previous []*sb.Endpoint // deleted by the next reset, in order
		for _, n := range []int{1, 3, 4, 5, 21, 64, 65, 150} {
			endpoints := make([]*sb.Endpoint, n)
			for i := range endpoints {
				endpoints[i] = newEndpoint(t, a, thirdParty(fmt.Sprintf("%d-%d", n, i), fmt.Sprintf("10.%d.%d.%d", n, i/250, i%250+1), 5060, false))
			}
			if _, err := db.ResetEndpoints(ctx, a.PartnerSID, endpoints); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, e := range previous {
				want = append(want, fmt.Sprintf("deleted %d %s", revision+int64(len(want))+1, e.Name))
			}
			for _, e := range endpoints {
				want = append(want, fmt.Sprintf("created %d %s", revision+int64(len(want))+1, e.Name))
			}
			changes, current := partnerChanges(t, db, a.PartnerSID, revision)
			if fmt.Sprint(ops(changes)) != fmt.Sprint(want) || current != revision+int64(len(want)) {
				t.Fatalf("%d endpoints: after %d %q (current %d), want %q", n, revision, ops(changes), current, want)
			}
			revision, previous = current, endpoints
		}
		// The operators' feed holds every change once, in revision order.
		all, err := db.OperatorChanges(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range all {
			if c.Revision != int64(i)+1 {
				t.Fatalf("operators' feed: change %d has revision %d", i, c.Revision)
			}
		}
		if int64(len(all)) != revision {
			t.Fatalf("operators' feed: %d changes, want %d", len(all), revision)
		}
	})
}

func TestPrunedChangesAreGone(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		for i := range 5 {
			mustStore(t, db, a, thirdParty(fmt.Sprint(i), "192.0.2.1", 5060, true))
		}
		all, err := db.OperatorChanges(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		// Batches of two, up to now: everything goes, oldest first.
		total := 0
		for {
			n, err := db.PruneChanges(ctx, time.Now().Add(time.Second), 2)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if n > 2 {
				t.Fatalf("a batch of 2 pruned %d", n)
			}
			total += n
		}
		if total != 5 {
			t.Fatalf("pruned %d of 5", total)
		}
		for since := range int64(5) {
			if _, _, err := db.PartnerChanges(ctx, a.PartnerSID, since, 10); !errors.Is(err, sb.ErrChangesPruned) {
				t.Fatalf("since %d after pruning: %v", since, err)
			}
		}
		if changes, current := partnerChanges(t, db, a.PartnerSID, 5); len(changes) != 0 || current != 5 {
			t.Fatalf("since the current revision: %d changes, current %d", len(changes), current)
		}
		if _, err := db.OperatorChanges(ctx, all[2].Cursor, 10); !errors.Is(err, sb.ErrChangesPruned) {
			t.Fatalf("operators' cursor after pruning: %v", err)
		}
		if rest, err := db.OperatorChanges(ctx, all[4].Cursor, 10); err != nil || len(rest) != 0 {
			t.Fatalf("the last cursor after pruning: %q, %v", ops(rest), err)
		}
		// Nothing due: nothing pruned.
		mustStore(t, db, a, thirdParty("new", "192.0.2.1", 5060, true))
		if n, err := db.PruneChanges(ctx, time.Now().Add(-time.Hour), 100); n != 0 || err != nil {
			t.Fatalf("pruned %d changes not due (%v)", n, err)
		}
	})
}

// TestConcurrentWritersFollowed: followers reading while writers commit
// concurrently (out of order, on PostgreSQL) see every acknowledged change
// once, per partner in revision order, and the operators' feed replayed
// from empty ends in the final state.
func TestConcurrentWritersFollowed(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		db := sqlstoretest.Open(t, dsn)
		other := sqlstoretest.Open(t, dsn) // a second handle: another "process" writing
		partners := []sb.Caller{newPartner(t, db, "a"), newPartner(t, db, "b")}
		const writers, perWriter = 8, 15
		var wg sync.WaitGroup
		acked := make(chan sb.Caller, writers*perWriter*2)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				store := []*sqlstore.DB{db, other}[w%2]
				c := partners[w%len(partners)]
				for i := range perWriter {
					e := newEndpoint(t, c, thirdParty(fmt.Sprintf("w%d-%d", w, i), "192.0.2.1", 5060, true))
					if err := store.CreateEndpoint(ctx, e); err != nil {
						t.Error(err)
						return
					}
					acked <- c
					if _, err := store.UpdateEndpoint(ctx, c.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
						return cur.Update(c, sb.Body{"name": cur.Name + "!"}, sb.Merge)
					}); err != nil {
						t.Error(err)
						return
					}
					acked <- c
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		// Followers poll as fast as they can while the writers run.
		seen := map[string][]int64{}
		since := map[string]int64{}
		cursor := ""
		var replay []sb.EndpointChange
		follow := func() {
			for _, c := range partners {
				changes, _, err := db.PartnerChanges(ctx, c.PartnerSID, since[c.PartnerSID], 7)
				if err != nil {
					t.Fatal(err)
				}
				for _, ch := range changes {
					seen[c.PartnerSID] = append(seen[c.PartnerSID], ch.Revision)
					since[c.PartnerSID] = ch.Revision
				}
			}
			changes, err := db.OperatorChanges(ctx, cursor, 11)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range changes {
				replay = append(replay, ch)
				cursor = ch.Cursor
			}
		}
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
				follow()
			}
		}
		for range 100 { // the rest, now that writing ended
			follow()
		}
		close(acked)
		ackedPer := map[string]int64{}
		for c := range acked {
			ackedPer[c.PartnerSID]++
		}
		for _, c := range partners {
			revs := seen[c.PartnerSID]
			if int64(len(revs)) != ackedPer[c.PartnerSID] {
				t.Fatalf("partner %s: followed %d changes, %d acknowledged", c.PartnerName, len(revs), ackedPer[c.PartnerSID])
			}
			for i, r := range revs {
				if r != int64(i+1) {
					t.Fatalf("partner %s: revisions %v", c.PartnerName, revs)
				}
			}
		}
		// The operators' feed: each partner's revisions in order, and
		// replaying it reproduces every partner's list.
		last := map[string]int64{}
		state := map[string]*sb.Endpoint{}
		for _, ch := range replay {
			if ch.Revision != last[ch.PartnerSID]+1 {
				t.Fatalf("operators' feed: partner %s revision %d after %d", ch.PartnerSID, ch.Revision, last[ch.PartnerSID])
			}
			last[ch.PartnerSID] = ch.Revision
			if ch.Operation == sb.ChangeDeleted {
				delete(state, ch.EndpointSID)
			} else {
				state[ch.EndpointSID] = ch.Endpoint
			}
		}
		n := 0
		for _, c := range partners {
			page, err := sb.ListPage(ctx, db, c.PartnerSID, sb.ListQuery{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Items {
				if !sameJSON(state[e.EndpointSID], e) {
					t.Fatalf("replayed %s, listed %s", dump(state[e.EndpointSID]), dump(e))
				}
				n++
			}
		}
		if n != len(state) {
			t.Fatalf("replayed %d endpoints, listed %d", len(state), n)
		}
	})
}

// TestSnapshotThenFollow: a snapshot taken while writers run, then the
// operators' feed from its cursor, ends in the final state.
func TestSnapshotThenFollow(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		db := sqlstoretest.Open(t, dsn)
		a := newPartner(t, db, "a")
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 20 {
					e := newEndpoint(t, a, thirdParty(fmt.Sprintf("w%d-%d", w, i), "192.0.2.1", 5060, true))
					if err := db.CreateEndpoint(ctx, e); err != nil {
						t.Error(err)
						return
					}
					if i%3 == 0 {
						if err := db.DeleteEndpoint(ctx, a.PartnerSID, e.EndpointSID); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		time.Sleep(20 * time.Millisecond) // let the writers start (any interleaving is fine)
		state := map[string]*sb.Endpoint{}
		cursor, err := db.OperatorSnapshot(ctx, func(e *sb.Endpoint) error { state[e.EndpointSID] = e; return nil })
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		changes, err := db.OperatorChanges(ctx, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range changes {
			if ch.Operation == sb.ChangeDeleted {
				delete(state, ch.EndpointSID)
			} else {
				state[ch.EndpointSID] = ch.Endpoint
			}
		}
		page, err := sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != len(state) {
			t.Fatalf("snapshot and changes: %d endpoints, listed %d", len(state), len(page.Items))
		}
		for _, e := range page.Items {
			if !sameJSON(state[e.EndpointSID], e) {
				t.Fatalf("rebuilt %s, listed %s", dump(state[e.EndpointSID]), dump(e))
			}
		}
	})
}

// TestChangeNotifyAcrossHandles: a commit through another handle on the
// same database (another process) wakes a follower.
func TestChangeNotifyAcrossHandles(t *testing.T) {
	sqlstoretest.Backends(t, func(t *testing.T, dsn string) {
		follower, writer := sqlstoretest.Open(t, dsn), sqlstoretest.Open(t, dsn)
		a := newPartner(t, writer, "a")
		for _, db := range []*sqlstore.DB{follower, writer} { // woken from elsewhere, then from itself
			ch, err := db.ChangeNotify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
				// Woken early (a reconnection, another schema's
				// notification): legal, but then a new channel must
				// still be woken by the write.
				if ch, err = db.ChangeNotify(ctx); err != nil {
					t.Fatal(err)
				}
			default:
			}
			mustStore(t, writer, a, thirdParty("x", "192.0.2.1", 5060, true))
			select {
			case <-ch:
			case <-time.After(30 * time.Second):
				t.Fatal("not woken by a commit")
			}
		}
	})
}

// TestOperatorAdmissionSnapshot: the admission read gives, in the same
// order and with the same cursor, what the full snapshot gives of the
// fields it promises, and zero values for the others; the endpoint it
// reuses from row to row carries nothing of the previous one.
func TestOperatorAdmissionSnapshot(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		if err := db.SetSystemGateways(ctx, []sb.IPPort{{IP: "198.51.100.1", Port: 5060}}); err != nil {
			t.Fatal(err)
		}
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		address := func(ip string, port int, more ...string) map[string]any {
			m := map[string]any{"ip": ip, "port": fmt.Sprint(port)}
			for i := 0; i+1 < len(more); i += 2 {
				m[more[i]] = more[i+1]
			}
			return m
		}
		for _, c := range []struct {
			caller sb.Caller
			body   sb.Body
		}{
			{a, sb.Body{"type": "third_party", "auth_required": true, "addresses": []any{
				address("192.0.2.1", 5060, "sip_username", "alice", "sip_password", "pw1"),
				address("2001:db8::1", 5070, "transport", "tcp", "sip_username", "bob", "sip_password", "pw2"),
			}}},
			{a, sb.Body{"type": "third_party", "auth_required": false, "addresses": []any{address("192.0.2.2", 5060)}}},
			{b, sb.Body{"type": "third_party", "auth_required": true, "addresses": []any{address("192.0.2.3", 5060, "sip_username", "carol")}}},
			{b, sb.Body{"type": "third_party", "auth_required": false, "addresses": []any{
				address("pbx.example.com", 5061, "transport", "tls", "direction", "outbound"),
				address("192.0.2.4", 5062, "transport", "udp", "priority", "3"),
			}}},
			{a, sb.Body{"type": "conference"}},
		} {
			mustStore(t, db, c.caller, c.body)
		}
		var full []*sb.Endpoint
		fullCursor, err := db.OperatorSnapshot(ctx, func(e *sb.Endpoint) error { full = append(full, e); return nil })
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		cursor, err := db.OperatorAdmissionSnapshot(ctx, func(e *sb.Endpoint) error { got = append(got, dump(e)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if cursor != fullCursor {
			t.Fatalf("cursor %s, the full snapshot's %s", cursor, fullCursor)
		}
		if len(got) != len(full) || len(full) != 7 {
			t.Fatalf("%d endpoints, the full snapshot %d (want 7: 2 gateways and 5 endpoints)", len(got), len(full))
		}
		for i, e := range full {
			want := &sb.Endpoint{EndpointSID: e.EndpointSID, PartnerSID: e.PartnerSID, Type: e.Type, AuthRequired: e.AuthRequired, Addresses: []sb.Address{}}
			for _, a := range e.Addresses {
				want.Addresses = append(want.Addresses, sb.Address{IP: a.IP, Port: a.Port, Transport: a.Transport, SIPUsername: a.SIPUsername, SIPPassword: a.SIPPassword})
			}
			if got[i] != dump(want) {
				t.Errorf("endpoint %d:\n got %s\nwant %s", i, got[i], dump(want))
			}
		}
	})
}
