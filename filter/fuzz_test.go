package filter

import (
	"encoding/json"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	`name eq "my trunk"`,
	`type in (conference, flexml) and capacity gt 10`,
	`addresses.ip eq "1.1.2.13"`,
	`attributes.region eq eu and name ilike '%pbx%'`,
	`name eq 'it\'s here' and out_sip_username ne null`,
	`capacity notin (0,1,2) AND auth_required EQ false`,
	`properties.login like "a_%" and transformations.operands eq "+1"`,
	`addresses.port ge 5060 and addresses.location_sid eq null`,
	`name eq "quote\"d \\ name"`,
	`type in conference`,
	`name eq "abc`,
	`capacity eq abc`,
	`nmae eq x or y`,
	`attributes.k-1 notin ("a", 'b', c)`,
	"name eq \"\xff\"",
	`voip_token ne "2c95517b-a5e8-4415-b471-cdd81d5a6dcb"`,
}

// FuzzParse: no input panics; an error is a positioned *Error; a filter
// that parses prints a canonical form that parses to the same filter.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	sample := map[string]any{}
	json.Unmarshal([]byte(`{"addresses":[{"ip":"10.0.0.1","port":5060,"location_sid":null,"srtp":false}],"attributes":{"k":"v"},
		"auth_required":true,"capacity":3,"cps_limit":null,"name":"x","properties":{"login":null},"transformations":[{"action":"a","operands":["1"]}]}`), &sample)
	f.Fuzz(func(t *testing.T, text string) {
		x, err := Parse(text)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Msg == "" {
				t.Fatalf("Parse(%q): error %T %v is not a filter.Error with a message", text, err, err)
			}
			return
		}
		again, err := Parse(x.String())
		if err != nil || again.String() != x.String() {
			t.Fatalf("Parse(%q) = %s, which reparses to %v, %v", text, x, again, err)
		}
		x.Match(sample) // must not panic
	})
}

// FuzzSQL: for every filter that parses, the SQL has one placeholder per
// argument, and its text depends only on fields and operators: changing
// every value leaves it unchanged, so no value can reach the SQL text.
func FuzzSQL(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		x, err := Parse(text)
		if err != nil {
			return
		}
		other := &Expr{}
		for _, c := range x.Conds {
			vals := make([]Value, len(c.Values))
			for i, v := range c.Values {
				if !v.Null {
					v.Str, v.Int, v.Bool = "other'value\"?"+v.Str+"x", v.Int+7, !v.Bool
				}
				vals[i] = v
			}
			c.Values = vals
			other.Conds = append(other.Conds, c)
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			sql, args := x.SQL(d)
			if n := strings.Count(sql, "?"); n != len(args) {
				t.Fatalf("%s: %d placeholders but %d arguments in %s", x, n, len(args), sql)
			}
			if otherSQL, _ := other.SQL(d); otherSQL != sql {
				t.Fatalf("%s: the SQL text depends on the values:\n%s\n%s", x, sql, otherSQL)
			}
		}
	})
}
