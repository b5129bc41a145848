package sqlstore_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/sqlstore"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

func TestEndpointLifecycle(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a, b := newPartner(t, db, "a"), newPartner(t, db, "b")
		e := mustStore(t, db, a, sb.Body{"type": "third_party", "name": "trunk", "attributes": map[string]any{"k": "v"},
			"addresses": []any{map[string]any{"ip": "10.0.0.1", "sip_password": "pw"}}, "transformations": []any{map[string]any{"action": "strip_plus"}}})

		got, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID)
		if err != nil {
			t.Fatal(err)
		}
		if want := *e; !sameJSON(got, &want) {
			t.Fatalf("read back differs:\n got %+v\nwant %+v", got, e)
		}
		if _, err := db.Endpoint(ctx, b.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("another partner's endpoint must be not found, got %v", err)
		}
		if _, err := db.UpdateEndpoint(ctx, b.PartnerSID, e.EndpointSID, nil); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("another partner cannot update it, got %v", err)
		}
		if err := db.DeleteEndpoint(ctx, b.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("another partner cannot delete it, got %v", err)
		}

		upd, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return cur.Update(a, sb.Body{"name": "renamed", "attributes": map[string]any{"k": nil, "n": "1"}}, sb.Merge)
		})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = db.Endpoint(ctx, a.PartnerSID, e.EndpointSID)
		if got.Name != "renamed" || !sameJSON(got.Attributes, map[string]string{"n": "1"}) || !sameJSON(got, upd) {
			t.Fatalf("after update: %+v", got)
		}

		// A failing change writes nothing.
		_, err = db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
			return cur.Update(a, sb.Body{"name": "", "capacity": 3}, sb.Merge)
		})
		if sb.ErrorKindOf(err) != sb.KindInvalid {
			t.Fatalf("expected a validation error, got %v", err)
		}
		if again, _ := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); !sameJSON(again, got) {
			t.Fatal("a refused update changed the endpoint")
		}

		if err := db.DeleteEndpoint(ctx, a.PartnerSID, e.EndpointSID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Endpoint(ctx, a.PartnerSID, e.EndpointSID); sb.ErrorKindOf(err) != sb.KindNotFound {
			t.Fatalf("deleted endpoint: %v", err)
		}
		var rows int
		sqlstore.ReadPool(db).QueryRow(`SELECT (SELECT count(*) FROM endpoint_addresses) + (SELECT count(*) FROM endpoint_attributes) + (SELECT count(*) FROM ip_claims)`).Scan(&rows)
		if rows != 0 {
			t.Fatalf("a deleted endpoint left %d search rows", rows)
		}
	})
}

func TestLoginTakenIsRetried(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		first := mustStore(t, db, a, sb.Body{"type": "conference", "name": "same"})
		second := newEndpoint(t, a, sb.Body{"type": "conference", "name": "same"})
		second.Properties["login"] = first.Properties["login"]
		if err := db.CreateEndpoint(ctx, second); !errors.Is(err, sb.ErrLoginTaken) {
			t.Fatalf("a taken login must be refused by the database, got %v", err)
		}
		if err := sb.CreateEndpoint(ctx, db, second); err != nil {
			t.Fatal(err)
		}
		if second.Properties.Login() == first.Properties.Login() {
			t.Fatal("the retry must generate a new login")
		}
	})
}

// An update writes only the side-table rows whose data changed; whatever it
// skips or rewrites, the rows must end as a fresh write of the endpoint
// would leave them.
func TestUpdateKeepsSideRowsExact(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		cases := []struct {
			name   string
			change sb.Body
		}{
			{"name only", sb.Body{"name": "renamed"}},
			{"attributes", sb.Body{"attributes": map[string]any{"k": nil, "region": "eu"}}},
			{"address port", sb.Body{"addresses": []any{map[string]any{"ip": "10.9.0.1", "port": "5070"}}}},
			{"second address", sb.Body{"addresses": []any{map[string]any{"ip": "10.9.0.1"}, map[string]any{"ip": "10.9.0.2", "transport": "tcp"}}}},
			{"auth required on", sb.Body{"auth_required": true}},
			{"auth required off", sb.Body{"auth_required": false}},
			{"name and attributes", sb.Body{"name": "again", "attributes": map[string]any{"x": "1"}}},
		}
		e := mustStore(t, db, a, sb.Body{"type": "third_party", "name": "trunk", "auth_required": false,
			"attributes": map[string]any{"k": "v"}, "addresses": []any{map[string]any{"ip": "10.9.0.1"}}})
		for _, c := range cases {
			next, err := db.UpdateEndpoint(ctx, a.PartnerSID, e.EndpointSID, func(cur *sb.Endpoint) (*sb.Endpoint, error) {
				return cur.Update(a, c.change, sb.Merge)
			})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got, want := storedSideRows(t, db, next.ID), expectedSideRows(next); got != want {
				t.Fatalf("%s: side rows\n got %s\nwant %s", c.name, got, want)
			}
		}
	})
}

func storedSideRows(t *testing.T, db *sqlstore.DB, id int64) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'address ' || position || ' ' || ip || ':' || port || ' ' || transport FROM endpoint_addresses WHERE endpoint_id = ? ORDER BY position`,
		`SELECT 'attribute ' || key || '=' || value FROM endpoint_attributes WHERE endpoint_id = ? ORDER BY key`,
		`SELECT 'claim ' || ip || ':' || port FROM ip_claims WHERE endpoint_id = ? ORDER BY ip, port`,
	} {
		rows, err := sqlstore.ReadPool(db).Query(sqlstore.Rebind(db, q), id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		rows.Close()
	}
	return strings.Join(out, "; ")
}

func expectedSideRows(e *sb.Endpoint) string {
	var out []string
	for i, a := range e.Addresses {
		out = append(out, fmt.Sprintf("address %d %s:%d %s", i, a.IP, a.Port, a.Transport))
	}
	var attrs []string
	for k, v := range e.Attributes {
		attrs = append(attrs, "attribute "+k+"="+v)
	}
	slices.Sort(attrs)
	out = append(out, attrs...)
	for _, c := range e.SIPClaims() {
		out = append(out, fmt.Sprintf("claim %s:%d", c.IP, c.Port))
	}
	return strings.Join(out, "; ")
}

// Every field of an Endpoint is stored: one with a value of its own in every
// field (filled by reflection, so that a field added later is covered
// without being named here) reads back the same by SID and in a list; an
// update then writes every field a partner can change and keeps the others.
func TestEveryFieldIsStored(t *testing.T) {
	sqlstoretest.EachDB(t, func(t *testing.T, db *sqlstore.DB) {
		a := newPartner(t, db, "a")
		n := 0
		filled := func(prefix string) *sb.Endpoint {
			e := &sb.Endpoint{}
			fill(t, reflect.ValueOf(e).Elem(), prefix, &n)
			e.ID = 0
			e.PartnerSID = a.PartnerSID // a foreign key
			return e
		}
		want := filled("created")
		if err := db.CreateEndpoint(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := db.Endpoint(ctx, a.PartnerSID, want.EndpointSID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read back by SID:\n got %s\nwant %s", dump(got), dump(want))
		}
		page, err := sb.ListPage(ctx, db, a.PartnerSID, sb.ListQuery{Limit: 10})
		if err != nil || len(page.Items) != 1 || !reflect.DeepEqual(page.Items[0], want) {
			t.Fatalf("read back in a list (%v):\n got %s\nwant %s", err, dump(page), dump(want))
		}

		next := filled("updated")
		after := want.Clone()
		for _, f := range sb.Fields() {
			if !f.Related && f.Changeable() {
				reflect.ValueOf(f.Ptr(after)).Elem().Set(reflect.ValueOf(f.Ptr(next)).Elem())
			}
		}
		if _, err := db.UpdateEndpoint(ctx, a.PartnerSID, want.EndpointSID, func(*sb.Endpoint) (*sb.Endpoint, error) { return next, nil }); err != nil {
			t.Fatal(err)
		}
		got, err = db.Endpoint(ctx, a.PartnerSID, want.EndpointSID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, after) {
			t.Fatalf("read back after an update of every field:\n got %s\nwant %s", dump(got), dump(after))
		}
	})
}

// fill gives every field under v a value of its own that is not its zero
// value: strings and integers from a counter, true, one element per list and
// map.
func fill(t *testing.T, v reflect.Value, prefix string, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", prefix, *n))
	case reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), prefix, n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), prefix, n)
	case reflect.Map:
		key, elem := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, key, prefix, n)
		fill(t, elem, prefix, n)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(key, elem)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), prefix, n)
		}
	default:
		t.Fatalf("fill does not know the kind %s of %s", v.Kind(), v.Type())
	}
}
