package httpapi

import (
	"net/url"
	"strings"
	"testing"
)

// Tenant isolation: for every request type and every way a partner can name
// another partner's data, the other partner sees nothing and changes nothing.
func TestTenantIsolationMatrix(t *testing.T) {
	f := newFixture(t)
	victim := f.create(f.admin, `{"type":"third_party","name":"victim","attributes":{"secret":"v"},"addresses":[{"ip":"10.7.7.7"}]}`)
	sid := victim["endpoint_sid"].(string)
	item := "/core/v2/endpoints/" + sid
	before := f.do("GET", item, f.admin, "").body
	mine := f.create(f.other, `{"type":"conference","name":"mine"}`)
	otherPartner := mine["partner_sid"].(string)
	victimPartner := victim["partner_sid"].(string)
	unknown := strings.Replace(f.do("GET", "/core/v2/endpoints/"+"00000000-0000-4000-8000-000000000000", f.other, "").body,
		"00000000-0000-4000-8000-000000000000", sid, 1)

	t.Run("sid in the path answers exactly like an unknown sid", func(t *testing.T) {
		for _, rq := range []struct{ method, path, body string }{
			{"GET", item, ""},
			{"GET", item + "?with_related=true", ""},
			{"GET", item + "?include_fields=attributes", ""},
			{"PATCH", item, `{"name":"stolen"}`},
			{"PATCH", item + "?nested_objects=replace", `{"attributes":{}}`},
			{"PUT", item, `{"name":"stolen","capacity":1,"attributes":{},"addresses":[{"ip":"10.7.7.8"}],"transformations":[],"out_sip_username":null,"out_sip_password":null}`},
			{"DELETE", item, ""},
		} {
			r := f.do(rq.method, rq.path, f.other, rq.body)
			if r.status != 404 || r.body != unknown {
				t.Errorf("%s %s by another partner: %d %s", rq.method, rq.path, r.status, r.body)
			}
		}
	})

	t.Run("lists never show it", func(t *testing.T) {
		for _, q := range []string{
			"filter=" + url.QueryEscape(`partner_sid eq "`+victimPartner+`"`),
			"filter=" + url.QueryEscape(`endpoint_sid eq "`+sid+`"`),
			"filter=" + url.QueryEscape(`attributes.secret eq v`),
			"filter=" + url.QueryEscape(`addresses.ip eq 10.7.7.7`),
			"filter=" + url.QueryEscape(`name eq victim`),
		} {
			r := f.do("GET", "/core/v2/endpoints?"+q, f.other, "")
			if r.status != 200 || !strings.Contains(r.body, `"total":0`) || strings.Contains(r.body, sid) {
				t.Errorf("?%s by another partner: %d %s", q, r.status, r.body)
			}
		}
		for _, q := range []string{"include_fields=endpoint_sid,partner_sid", "with_related=true", "order=name", "order=shuffle", "limit=1000"} {
			r := f.do("GET", "/core/v2/endpoints?"+q, f.other, "")
			if r.status != 200 || strings.Contains(r.body, sid) || strings.Contains(r.body, victimPartner) || !strings.Contains(r.body, `"total":1`) {
				t.Errorf("?%s by another partner: %d %s", q, r.status, r.body)
			}
		}
		related := f.do("GET", "/core/v2/endpoints?with_related=true", f.other, "").body
		if !strings.Contains(related, `"partner":{"name":"partner ","partner_sid":"`+otherPartner+`"}`) {
			t.Errorf("with_related shows another partner: %s", related)
		}
	})

	t.Run("cursors naming it are refused", func(t *testing.T) {
		for _, c := range []string{"after", "before"} {
			r := f.do("GET", "/core/v2/endpoints?"+c+"="+sid, f.other, "")
			if r.status != 400 || strings.Contains(r.body, "victim") {
				t.Errorf("%s=<another partner's sid>: %d %s", c, r.status, r.body)
			}
		}
	})

	t.Run("bodies cannot move endpoints between partners", func(t *testing.T) {
		r := f.do("POST", "/core/v2/endpoints", f.other, `{"type":"conference","partner_sid":"`+victimPartner+`"}`)
		if r.status != 422 || !strings.Contains(r.body, `"field":"partner_sid","message":"field is read-only"`) {
			t.Errorf("create into another partner: %d %s", r.status, r.body)
		}
		r = f.do("PATCH", "/core/v2/endpoints/"+mine["endpoint_sid"].(string), f.other, `{"partner_sid":"`+victimPartner+`"}`)
		if r.status != 422 {
			t.Errorf("moving one's endpoint to another partner: %d %s", r.status, r.body)
		}
	})

	if after := f.do("GET", item, f.admin, "").body; after != before {
		t.Fatalf("another partner's requests changed the endpoint:\n%s\n%s", before, after)
	}
}
