package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/credential"
	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// FuzzDecodeObject: any body either decodes to one object or is refused
// with a 4xx; never a panic.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":1} {}`, `[]`, `{"a":{"b":[1,2,{"c":null}]}}`, `{"a":1,"a":2}`, "{\"a\":\"\xff\"}", `{"a":"\u0000","\u0000":1}`, `{"a":` + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]" + `}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := decodeObject(data)
		var apiErr *apiError
		switch {
		case err == nil && obj == nil:
			t.Fatal("no error and no object")
		case err != nil && (!errors.As(err, &apiErr) || apiErr.status != 400):
			t.Fatalf("decodeObject(%q): %v is not a 400", data, err)
		}
	})
}

// FuzzListQuery: any query string gives a valid list query or a 400 (an
// unparsable one included: never a query with an argument dropped).
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"limit=5&offset=2", "limit=-1", "limit=99999999999999999999", "order=name desc,capacity", "order=shuffle&after=x",
		"after=2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11&offset=1", "include_fields=name,nope", "includeFields=name&with_related=TRUE", "filter=name eq x and", "filter=%ff",
		"filter=name+eq+a;b", "limit=1;offset=2", "filter=name+eq+%zz", "x=%", "&;&", "filter=name+eq+%22a%3Bb%22", "filter=name+eq+%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		args, err := queryArgs(&http.Request{URL: &url.URL{RawQuery: raw}})
		if err != nil {
			if _, parseErr := url.ParseQuery(raw); parseErr == nil || sb.ErrorKindOf(err) != sb.KindBadRequest {
				t.Fatalf("%q: %v (url.ParseQuery: %v)", raw, err, parseErr)
			}
			return
		}
		q, err := parseListQuery(args)
		if err == nil {
			if q.Limit < 1 || q.Limit > maxLimit || q.Offset < 0 || (q.After != "" && q.Before != "") {
				t.Fatalf("%q gave an invalid query %+v", raw, q)
			}
		} else if sb.ErrorKindOf(err) != sb.KindBadRequest {
			t.Fatalf("%q: %v is not a 400", raw, err)
		}
		if _, err := parseView(args); err != nil && sb.ErrorKindOf(err) != sb.KindBadRequest {
			t.Fatalf("%q: %v is not a 400", raw, err)
		}
	})
}

// FuzzAuthorization: any Authorization header is a 401 unless it is the
// real credential; never a panic, never another error.
func FuzzAuthorization(f *testing.F) {
	db := sqlstoretest.Open(f, sqlstoretest.SQLiteDSN(f))
	p := sb.Partner{PartnerSID: sb.NewSID(), Name: "p", Login: "login", Scopes: sb.Scopes{sb.ScopeManage}}
	hash, _ := credential.HashPassword("password")
	db.CreatePartner(context.Background(), p, hash)
	db.CreateToken(context.Background(), credential.HashToken("the-token"), p.PartnerSID, p.Scopes)
	a := newAuthenticator(db)
	for _, s := range []string{"", "Bearer the-token", "bearer  the-token ", "Basic bG9naW46cGFzc3dvcmQ=", "Basic bG9naW46", "Basic !!!", "Basic", "Bearer", "Digest x", "Basic " + "Og=="} {
		f.Add(s)
	}
	client := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, header string) {
		c, _, err := a.authenticate(context.Background(), header, client)
		var later *retryLater
		switch {
		case err == nil && c.PartnerSID != p.PartnerSID:
			t.Fatalf("%q authenticated as %+v", header, c)
		case errors.As(err, &later) && (later.apiError == errTooManyFailures || later.apiError == errPasswordsBusy):
			// wrong passwords for "login" soon reach its limit
		case err != nil && err != errNoCredentials && err != errBadCredentials:
			t.Fatalf("%q: %v", header, err)
		}
	})
}
