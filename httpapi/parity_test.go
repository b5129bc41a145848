package httpapi

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/sqlstore/sqlstoretest"
)

// paritySteps is a session of requests covering every request kind, list
// option and error class. {sN} stands for the endpoint_sid the Nth create
// returned.
var paritySteps = []struct{ method, path, body string }{
	{"POST", "/core/v2/endpoints", `{"type":"third_party","name":"trunk B","capacity":"4","attributes":{"region":"eu"},"addresses":[{"ip":"2001:DB8::1","port":"5070"},{"ip":"PBX.example.com"}],"transformations":[{"action":"strip_plus","operands":["+1"]}],"out_sip_username":"u"}`},
	{"POST", "/core/v2/endpoints", `{"type":"conference","name":"conf a","capacity":2}`},
	{"POST", "/core/v2/endpoints", `{"type":"voicemail","name":"Alpha","properties":{"callback_url":"https://x.test/cb"}}`},
	{"POST", "/core/v2/endpoints", `{"type":"third_party","name":"open","auth_required":false,"addresses":[{"ip":"192.0.2.9"}]}`},
	{"POST", "/core/v2/endpoints", `{"type":"third_party","name":"clash","auth_required":false,"addresses":[{"ip":"192.0.2.9"}]}`},
	{"POST", "/core/v2/endpoints", `{"type":"flexml","name":"","capacity":-1,"bogus":1,"addresses":[{"ip":"999.1.1.1"}]}`},
	{"GET", "/core/v2/endpoints/{s0}", ""},
	{"GET", "/core/v2/endpoints/{s0}?with_related=true&exclude_fields=properties", ""},
	{"PATCH", "/core/v2/endpoints/{s0}", `{"name":"trunk b2","attributes":{"tier":"gold","region":null},"addresses":[{"ip":"10.0.0.1"}]}`},
	{"PATCH", "/core/v2/endpoints/{s0}?nested_objects=replace", `{"transformations":[]}`},
	{"PUT", "/core/v2/endpoints/{s1}", `{"name":"conf z","capacity":9}`},
	{"PATCH", "/core/v2/endpoints/{s1}", `{"attributes":{"k":"v"}}`},
	{"PATCH", "/core/v2/endpoints/{s2}", `{"properties":{"greeting":"hi","container_sid":null}}`},
	{"GET", "/core/v2/endpoints?limit=2", ""},
	{"GET", "/core/v2/endpoints?limit=2&offset=2&order=name+desc", ""},
	{"GET", "/core/v2/endpoints?order=capacity+desc,name&include_fields=name,capacity", ""},
	{"GET", "/core/v2/endpoints?limit=1&after={s1}", ""},
	{"GET", "/core/v2/endpoints?limit=1&before={s1}", ""},
	{"GET", "/core/v2/endpoints?filter=addresses.ip+eq+%222001:db8::1%22", ""},
	{"GET", "/core/v2/endpoints?filter=name+ilike+%27%25B%25%27+and+capacity+ge+2", ""},
	{"GET", "/core/v2/endpoints?filter=out_sip_username+ne+x", ""},
	{"GET", "/core/v2/endpoints?filter=name+eq", ""},
	{"GET", "/core/v2/endpoints?filter=out_sip_password+eq+x", ""},
	{"DELETE", "/core/v2/endpoints/{s3}", ""},
	{"GET", "/core/v2/endpoints/{s3}", ""},
	{"POST", "/core/v2/endpoints", `{"type":"third_party","name":"reuse","auth_required":false,"addresses":[{"ip":"192.0.2.9"}]}`},
	{"GET", "/core/v2/endpoints?limit=100", ""},
	// Input PostgreSQL cannot store or SQLite would take as another address.
	{"POST", "/core/v2/endpoints", `{"type":"third_party","name":"nul\u0000","attributes":{"k":"\u0000"},"addresses":[{"ip":"10.0.0.9"}]}`},
	{"POST", "/core/v2/endpoints", `{"type":"third_party","auth_required":false,"addresses":[{"ip":"::FFFF:C000:0209"}]}`},
	{"GET", "/core/v2/endpoints?filter=addresses.ip+eq+%22::ffff:192.0.2.9%22&include_fields=name,addresses", ""},
}

var (
	uuidRE     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	passwordRE = regexp.MustCompile(`"password":"[A-Za-z0-9]{12}"`)
	loginRE    = regexp.MustCompile(`"login":"([a-z0-9_]+)_[0-9]{4,}"`)
)

// runParity plays the session and returns every answer, generated values
// replaced by their order of first appearance.
func runParity(t *testing.T, dsn string) []string {
	f := newFixtureOn(t, dsn, "http://switchboard.test")
	var sids, out []string
	seen := map[string]string{}
	for _, step := range paritySteps {
		path := step.path
		for i, sid := range sids {
			path = strings.ReplaceAll(path, "{s"+string(rune('0'+i))+"}", sid)
		}
		r := f.do(step.method, path, f.admin, step.body)
		if step.method == "POST" && r.status == 200 {
			sids = append(sids, uuidRE.FindString(r.body[strings.Index(r.body, `"endpoint_sid"`):]))
		}
		body := uuidRE.ReplaceAllStringFunc(r.body, func(u string) string {
			if _, ok := seen[u]; !ok {
				seen[u] = "<uuid-" + string(rune('A'+len(seen))) + ">"
			}
			return seen[u]
		})
		body = passwordRE.ReplaceAllString(body, `"password":"<generated>"`)
		body = loginRE.ReplaceAllString(body, `"login":"${1}_<digits>"`)
		out = append(out, fmt.Sprintf("%s %s -> %d %s", step.method, step.path, r.status, body))
	}
	return out
}

// Every answer of the session is the same on SQLite and PostgreSQL, byte for
// byte, apart from generated ids and secrets.
func TestBackendsAnswerAlike(t *testing.T) {
	pg := sqlstoretest.PostgresDSN(t) // skips without PostgreSQL
	lite := runParity(t, sqlstoretest.SQLiteDSN(t))
	post := runParity(t, pg)
	for i := range lite {
		if lite[i] != post[i] {
			t.Errorf("step %d differs:\nsqlite:   %s\npostgres: %s", i, lite[i], post[i])
		}
	}
	if all := strings.Join(lite, "\n"); !strings.Contains(all, "-> 409") || !strings.Contains(all, "-> 422") || !strings.Contains(all, "-> 200") {
		t.Fatal("the session must hold both successes and errors")
	}
}
