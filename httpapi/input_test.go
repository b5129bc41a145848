package httpapi

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// onBackends runs test on a new SQLite file and, when PostgreSQL is
// configured, on a schema of its own there.
func onBackends(t *testing.T, test func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newFixture(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, newFixtureOn(t, sqlstoretest.PostgresDSN(t), "")) })
}

// errorsOf decodes a CarrierX error body.
func errorsOf(t *testing.T, r response) (entries []map[string]any, message string) {
	t.Helper()
	var body struct {
		Errors  []map[string]any `json:"errors"`
		Message string           `json:"message"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("not a CarrierX error body: %d %s", r.status, r.body)
	}
	return body.Errors, body.Message
}

// Every spelling of an IPv4 address, IPv4-mapped ones included, is the same
// address for the duplicate-IP rule (create, merge PATCH, replace PATCH and
// PUT) and for filters; answers show the canonical form.
func TestDuplicateIPSeesAddressesNotSpellings(t *testing.T) {
	spellings := []string{"192.0.2.44", "::ffff:192.0.2.44", "::FFFF:192.0.2.44", "::ffff:c000:22c", "::FFFF:C000:022C",
		"0:0:0:0:0:ffff:c000:22c", "0000:0000:0000:0000:0000:FFFF:C000:022C"}
	onBackends(t, func(t *testing.T, f *fixture) {
		for i, held := range spellings {
			// The first endpoint holds the address in one spelling ...
			port := strconv.Itoa(6000 + i)
			first := f.create(f.admin, `{"type":"third_party","auth_required":false,"addresses":[{"ip":"`+held+`","port":`+port+`}]}`)
			if ip := first["addresses"].([]any)[0].(map[string]any)["ip"]; ip != "192.0.2.44" {
				t.Fatalf("%s is answered as %v, want 192.0.2.44", held, ip)
			}
			for j, sent := range spellings {
				target := `{"type":"third_party","auth_required":false,"addresses":[{"ip":"203.0.113.` + strconv.Itoa(j) + `","port":` + port + `}]}`
				// ... and no spelling of it can be claimed again.
				addr := `{"ip":"` + sent + `","port":"` + port + `"}`
				for _, req := range []struct{ method, path, auth, body string }{
					{"POST", "/core/v2/endpoints", f.admin, `{"type":"third_party","auth_required":false,"addresses":[` + addr + `]}`},
					{"PATCH", "/core/v2/endpoints/" + f.create(f.admin, target)["endpoint_sid"].(string), f.admin, `{"addresses":[` + addr + `]}`},
				} {
					if r := f.do(req.method, req.path, req.auth, req.body); r.status != 409 {
						t.Errorf("%s holds it; %s with %s: %d %s", held, req.method, sent, r.status, r.body)
					}
				}
				open := f.create(f.admin, `{"type":"third_party","auth_required":true,"addresses":[{"ip":"203.0.113.10","port":`+port+`}]}`)
				openItem := "/core/v2/endpoints/" + open["endpoint_sid"].(string)
				for _, req := range []struct{ method, path, body string }{
					{"PATCH", openItem + "?nested_objects=replace", `{"auth_required":false,"addresses":[` + addr + `]}`},
					{"PUT", openItem, `{"name":"n","capacity":0,"auth_required":false,"attributes":{},"out_sip_password":null,"out_sip_username":null,"transformations":[],"addresses":[` + addr + `]}`},
				} {
					if r := f.do(req.method, req.path, f.admin, req.body); r.status != 409 {
						t.Errorf("%s holds it; %s with %s: %d %s", held, req.method, sent, r.status, r.body)
					}
				}
				// Filters find it in every spelling.
				filter := `addresses.ip eq "` + sent + `" and addresses.port eq ` + port + ` and auth_required eq false`
				r := f.do("GET", "/core/v2/endpoints?filter="+url.QueryEscape(filter), f.admin, "")
				if r.status != 200 || !strings.Contains(r.body, `"total":1}`) || !strings.Contains(r.body, first["endpoint_sid"].(string)) {
					t.Errorf("filter %s: %d %.300s", filter, r.status, r.body)
				}
			}
		}
	})
}

// Addresses no SIP peer can have are a 422 naming the field; loopback is
// accepted (a proxy and a PBX on one host).
func TestAddressesNoPeerCanHaveOverHTTP(t *testing.T) {
	f := newFixture(t)
	stored := f.create(f.admin, `{"type":"third_party","addresses":[{"ip":"10.0.0.1"}]}`)
	item := "/core/v2/endpoints/" + stored["endpoint_sid"].(string)
	for _, tt := range []struct {
		ip     string
		status int
	}{
		{"0.0.0.0", 422}, {"::", 422}, {"::ffff:0.0.0.0", 422}, {"255.255.255.255", 422}, {"::ffff:ffff:ffff", 422},
		{"224.0.0.1", 422}, {"::ffff:239.1.2.3", 422}, {"ff02::1", 422},
		{"127.0.0.1", 200}, {"127.0.0.7", 200}, {"::1", 200},
	} {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/core/v2/endpoints", `{"type":"third_party","addresses":[{"ip":"10.0.0.1"},{"ip":"` + tt.ip + `"}]}`},
			{"PATCH", item, `{"addresses":[{"ip":"10.0.0.1"},{"ip":"` + tt.ip + `"}]}`},
		} {
			r := f.do(req.method, req.path, f.admin, req.body)
			if r.status != tt.status {
				t.Errorf("%s %s: %d %s", req.method, tt.ip, r.status, r.body)
				continue
			}
			if tt.status == 422 {
				entries, _ := errorsOf(t, r)
				if len(entries) != 1 || entries[0]["field"] != "addresses[1].ip" || !strings.HasPrefix(entries[0]["message"].(string), "must not be ") {
					t.Errorf("%s %s: %s", req.method, tt.ip, r.body)
				}
			}
		}
	}
}

// A NUL character anywhere in a body is a 422 naming the field on both
// backends (PostgreSQL answered 500: it cannot store U+0000).
func TestNULIsRefusedOnEveryBackend(t *testing.T) {
	const nul = "must not contain the NUL character (U+0000)"
	onBackends(t, func(t *testing.T, f *fixture) {
		trunk := "/core/v2/endpoints/" + f.create(f.admin, `{"type":"third_party","addresses":[{"ip":"10.0.0.1"}]}`)["endpoint_sid"].(string)
		vm := "/core/v2/endpoints/" + f.create(f.admin, `{"type":"voicemail"}`)["endpoint_sid"].(string)
		const put = `{"name":"n","capacity":0,"attributes":{},"out_sip_username":null,"transformations":[],"addresses":[{"ip":"10.0.0.1"}],`
		tests := []struct {
			method, path, body string
			field, message     string
		}{
			{"POST", "/core/v2/endpoints", `{"type":"third_party","name":"a\u0000","addresses":[{"ip":"10.0.0.1"}]}`, "name", nul},
			{"POST", "/core/v2/endpoints", `{"type":"third_party","attributes":{"k\u0000":"v"},"addresses":[{"ip":"10.0.0.1"}]}`, "attributes", "keys " + nul},
			{"POST", "/core/v2/endpoints", `{"type":"third_party","attributes":{"k":"\u0000"},"addresses":[{"ip":"10.0.0.1"}]}`, "attributes.k", nul},
			{"POST", "/core/v2/endpoints", `{"type":"third_party","addresses":[{"ip":"10.0.0.1","sip_username":"\u0000"}]}`, "addresses[0].sip_username", nul},
			{"POST", "/core/v2/endpoints", `{"type":"conference","name":"\u0000"}`, "name", nul},
			{"PATCH", trunk, `{"out_sip_username":"u\u0000"}`, "out_sip_username", nul},
			{"PATCH", trunk, `{"attributes":{"\u0000":"v"}}`, "attributes", "keys " + nul},
			{"PATCH", trunk, `{"addresses":[{"ip":"10.0.0.2","location_sid":"\u0000"}]}`, "addresses[0].location_sid", nul},
			{"PATCH", trunk + "?nested_objects=replace", `{"transformations":[{"action":"strip_plus","operands":["\u0000"]}]}`, "transformations[0].operands[0]", nul},
			{"PUT", trunk, put + `"out_sip_password":"x\u0000"}`, "out_sip_password", nul},
			{"PATCH", vm, `{"properties":{"greeting":"\u0000"}}`, "properties.greeting", nul},
		}
		for _, tt := range tests {
			r := f.do(tt.method, tt.path, f.admin, tt.body)
			entries, message := errorsOf(t, r)
			if r.status != 422 || message != "object validation error" || len(entries) != 1 || entries[0]["field"] != tt.field || entries[0]["message"] != tt.message {
				t.Errorf("%s %s: %d %s", tt.method, tt.body, r.status, r.body)
			}
		}
		if r := f.do("PUT", trunk, f.admin, `{"name":"n","capacity":0,"attributes":{"x":"\u0000"},"out_sip_password":null,"out_sip_username":null,"transformations":[],"addresses":[{"ip":"10.0.0.1"}]}`); r.status != 422 || !strings.Contains(r.body, `"field":"attributes.x"`) {
			t.Errorf("PUT with a NUL attribute: %d %s", r.status, r.body)
		}
		// Nothing was stored.
		if r := f.do("GET", trunk, f.admin, ""); strings.Contains(r.body, `\u0000`) {
			t.Errorf("a NUL was stored: %s", r.body)
		}
	})
}

// A query string the server cannot parse is a 400 on every route that reads
// one, never a request run without the argument.
func TestUnparsableQueryIs400(t *testing.T) {
	f := newFixture(t)
	f.create(f.admin, `{"type":"conference","name":"a"}`)
	item := "/core/v2/endpoints/" + f.create(f.admin, `{"type":"conference","name":"b"}`)["endpoint_sid"].(string)
	const semicolon = "the query string holds a raw ';': separate arguments with '&' and write a ';' inside a value as %3B"
	const escape = "the query string holds a bad %-escape: write a '%' inside a value as %25"
	tests := []struct {
		method, path   string
		field, message string
	}{
		{"GET", "/core/v2/endpoints?filter=name+eq+%22a;b%22", "filter", semicolon},
		{"GET", "/core/v2/endpoints?filter=name+eq+a;name+eq+b", "filter", semicolon},
		{"GET", "/core/v2/endpoints?limit=1;offset=1", "limit", semicolon},
		{"GET", "/core/v2/endpoints?limit=1&;", "", semicolon},
		{"GET", "/core/v2/endpoints?filter=name+eq+%zz", "filter", escape},
		{"GET", "/core/v2/endpoints?filter=name+eq+100%", "filter", escape},
		{"GET", "/core/v2/endpoints?fil%zter=x", "", escape},
		{"GET", "/core/v2/endpoints?secret=%zz" + strings.Repeat("s", 500), "", escape}, // an unknown name is not echoed
		{"GET", item + "?include_fields=name;type", "include_fields", semicolon},
		{"GET", item + "?with_related=%", "with_related", escape},
		{"PATCH", item + "?nested_objects=replace;", "nested_objects", semicolon},
	}
	for _, tt := range tests {
		r := f.do(tt.method, tt.path, f.admin, map[string]string{"PATCH": `{"name":"c"}`}[tt.method])
		entries, message := errorsOf(t, r)
		var field any
		if tt.field != "" {
			field = tt.field
		}
		if r.status != 400 || message != "bad request" || len(entries) != 1 || entries[0]["field"] != field || entries[0]["message"] != tt.message {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, r.status, r.body)
		}
	}
	// Written as %3B and %25, the same characters are values like any other.
	if r := f.do("GET", "/core/v2/endpoints?filter=name+eq+%22a%3Bb%25%22", f.admin, ""); r.status != 200 || !strings.Contains(r.body, `"total":0}`) {
		t.Errorf("escaped ; and %%: %d %s", r.status, r.body)
	}
	// The refused PATCH changed nothing.
	if r := f.do("GET", item, f.admin, ""); !strings.Contains(r.body, `"name":"b"`) {
		t.Errorf("a refused PATCH was applied: %s", r.body)
	}
}

// A path SID is written back in reference_sid only up to 64 characters,
// whatever its length and on every method.
func TestLongPathSIDIsNotEchoed(t *testing.T) {
	f := newFixture(t)
	for _, sid := range []string{strings.Repeat("a", 65), strings.Repeat("x", 5000), strings.Repeat("é", 100), "2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11" + strings.Repeat("0", 40)} {
		for _, method := range []string{"GET", "PATCH", "PUT", "DELETE"} {
			body := map[string]string{"PATCH": `{}`, "PUT": `{"name":"n","capacity":0}`}[method]
			r := f.do(method, "/core/v2/endpoints/"+sid, f.admin, body)
			entries, _ := errorsOf(t, r)
			if r.status != 404 || len(entries) != 1 {
				t.Fatalf("%s: %d %s", method, r.status, r.body)
			}
			echoed, _ := entries[0]["reference_sid"].(string)
			if n := utf8.RuneCountInString(echoed); n != 64 || !strings.HasPrefix(sid, echoed) || strings.Contains(r.body, sid) {
				t.Errorf("%s of a %d-character SID: reference_sid has %d characters: %.200s", method, utf8.RuneCountInString(sid), n, r.body)
			}
		}
	}
	// Up to 64 characters the SID is echoed whole.
	sid := strings.Repeat("b", 64)
	if r := f.do("GET", "/core/v2/endpoints/"+sid, f.admin, ""); !strings.Contains(r.body, `"reference_sid":"`+sid+`"`) {
		t.Errorf("a 64-character SID: %s", r.body)
	}
}

// An answer lists at most the first 100 field errors, in the usual order,
// and a final entry says how many there were.
func TestErrorListIsBounded(t *testing.T) {
	f := newFixture(t)
	for _, n := range []int{99, 100, 101, 40000} {
		var b strings.Builder
		b.WriteString(`{"type":"conference"`)
		for i := range n {
			b.WriteString(`,"k` + strconv.Itoa(100000+i) + `":1`)
		}
		b.WriteString(`}`)
		r := f.do("POST", "/core/v2/endpoints", f.admin, b.String())
		entries, message := errorsOf(t, r)
		if r.status != 422 || message != "object validation error" {
			t.Fatalf("%d unknown fields: %d %.200s", n, r.status, r.body)
		}
		listed := min(n, 100)
		want := listed
		if n > 100 {
			want++
		}
		if len(entries) != want {
			t.Fatalf("%d unknown fields: %d entries", n, len(entries))
		}
		for i := range listed {
			if entries[i]["field"] != "k"+strconv.Itoa(100000+i) || entries[i]["message"] != "unknown field" {
				t.Fatalf("%d unknown fields: entry %d is %v", n, i, entries[i])
			}
		}
		if n > 100 {
			last := entries[100]
			if last["field"] != nil || last["reference_sid"] != nil || last["message"] != strconv.Itoa(n)+" errors in all; only the first 100 are listed" {
				t.Errorf("%d unknown fields: final entry %v", n, last)
			}
		}
	}
}
