package filter

import (
	"reflect"
	"strings"
	"testing"
)

// The SQL each kind of condition compiles to; the differential tests prove
// what it selects, this table shows its shape (and the planner-friendly
// choices: IN for indexed lookups, NOT EXISTS for negations).
func TestSQLShape(t *testing.T) {
	tests := []struct {
		filter           string
		sqlite, postgres string
		sqliteArgs       []any
		postgresArgs     []any
	}{
		{`name eq x and capacity gt 5`,
			`e.name = ? AND e.capacity > ?`, `e.name = ? AND e.capacity > CAST(? AS bigint)`,
			[]any{"x", int64(5)}, []any{"x", int64(5)}},
		{`auth_required in (true, false)`,
			`e.auth_required IN (?, ?)`, `e.auth_required IN (?, ?)`,
			[]any{int64(1), int64(0)}, []any{true, false}},
		{`out_sip_username ne x`,
			`COALESCE(e.out_sip_username <> ?, TRUE)`, `COALESCE(e.out_sip_username <> ?, TRUE)`,
			[]any{"x"}, []any{"x"}},
		{`cps_limit notin (1, 2) and voip_token eq null`,
			`COALESCE(e.cps_limit NOT IN (?, ?), TRUE) AND e.voip_token IS NULL`,
			`COALESCE(e.cps_limit NOT IN (CAST(? AS bigint), CAST(? AS bigint)), TRUE) AND e.voip_token IS NULL`,
			[]any{int64(1), int64(2)}, []any{int64(1), int64(2)}},
		{`name like "a_%*"`,
			`e.name GLOB ?`, `e.name LIKE ? ESCAPE ''`,
			[]any{"a?*[*]"}, []any{"a_%*"}},
		{`name ilike "A[%"`,
			`lower(e.name) GLOB ?`, `e.name ILIKE ? ESCAPE ''`,
			[]any{"a[[]*"}, []any{"A[%"}},
		{`addresses.ip eq "2001:DB8::1"`,
			`e.id IN (SELECT a.endpoint_id FROM endpoint_addresses a WHERE a.partner_sid = ? AND a.ip = ?)`,
			`e.id IN (SELECT a.endpoint_id FROM endpoint_addresses a WHERE a.partner_sid = ? AND a.ip = ?)`,
			[]any{"p-sid", "2001:db8::1"}, []any{"p-sid", "2001:db8::1"}},
		{`addresses.srtp eq true`,
			`EXISTS (SELECT 1 FROM endpoint_addresses a WHERE a.endpoint_id = e.id AND a.srtp = ?)`,
			`EXISTS (SELECT 1 FROM endpoint_addresses a WHERE a.endpoint_id = e.id AND a.srtp = ?)`,
			[]any{int64(1)}, []any{true}},
		{`addresses.location_sid ne x`,
			`EXISTS (SELECT 1 FROM endpoint_addresses a WHERE a.endpoint_id = e.id AND COALESCE(a.location_sid <> ?, TRUE))`,
			`EXISTS (SELECT 1 FROM endpoint_addresses a WHERE a.endpoint_id = e.id AND COALESCE(a.location_sid <> ?, TRUE))`,
			[]any{"x"}, []any{"x"}},
		{`attributes.region in (eu, us)`,
			`e.id IN (SELECT a.endpoint_id FROM endpoint_attributes a WHERE a.partner_sid = ? AND a.key = ? AND a.value IN (?, ?))`,
			`e.id IN (SELECT a.endpoint_id FROM endpoint_attributes a WHERE a.partner_sid = ? AND a.key = ? AND a.value IN (?, ?))`,
			[]any{"p-sid", "region", "eu", "us"}, []any{"p-sid", "region", "eu", "us"}},
		{`attributes.region ne eu`,
			`NOT EXISTS (SELECT 1 FROM endpoint_attributes a WHERE a.endpoint_id = e.id AND a.key = ? AND a.value = ?)`,
			`NOT EXISTS (SELECT 1 FROM endpoint_attributes a WHERE a.endpoint_id = e.id AND a.key = ? AND a.value = ?)`,
			[]any{"region", "eu"}, []any{"region", "eu"}},
		{`attributes.region eq null`,
			`NOT EXISTS (SELECT 1 FROM endpoint_attributes a WHERE a.endpoint_id = e.id AND a.key = ?)`,
			`NOT EXISTS (SELECT 1 FROM endpoint_attributes a WHERE a.endpoint_id = e.id AND a.key = ?)`,
			[]any{"region"}, []any{"region"}},
		{`properties.login in (a, b)`,
			`e.login IN (?, ?)`, `e.login IN (?, ?)`,
			[]any{"a", "b"}, []any{"a", "b"}},
		{`properties.login ne a`,
			`COALESCE(json_extract(e.properties, ?) <> ?, TRUE)`,
			`COALESCE((e.properties::jsonb ->> CAST(? AS text)) COLLATE "C" <> ?, TRUE)`,
			[]any{`$."login"`, "a"}, []any{"login", "a"}},
		{`properties.api_url like "%/v1"`,
			`json_extract(e.properties, ?) GLOB ?`,
			`(e.properties::jsonb ->> CAST(? AS text)) COLLATE "C" LIKE ? ESCAPE ''`,
			[]any{`$."api_url"`, "*/v1"}, []any{"api_url", "%/v1"}},
		{`transformations.action eq strip_plus`,
			`EXISTS (SELECT 1 FROM json_each(e.transformations) t WHERE json_extract(t.value, ?) = ?)`,
			`EXISTS (SELECT 1 FROM jsonb_array_elements(e.transformations::jsonb) t WHERE (t.value::jsonb ->> CAST(? AS text)) COLLATE "C" = ?)`,
			[]any{`$."action"`, "strip_plus"}, []any{"action", "strip_plus"}},
		{`transformations.operands ne "+1"`,
			`EXISTS (SELECT 1 FROM json_each(e.transformations) t, json_each(t.value, ?) o WHERE o.value <> ?)`,
			`EXISTS (SELECT 1 FROM jsonb_array_elements(e.transformations::jsonb) t, jsonb_array_elements_text(t.value -> CAST(? AS text)) o WHERE (o.value) COLLATE "C" <> ?)`,
			[]any{"$.operands", "+1"}, []any{"operands", "+1"}},
	}
	for _, tt := range tests {
		x, err := Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		for _, c := range []struct {
			d    Dialect
			sql  string
			args []any
		}{{SQLite, tt.sqlite, tt.sqliteArgs}, {Postgres, tt.postgres, tt.postgresArgs}} {
			sql, args := x.SQL(c.d, "p-sid")
			if sql != c.sql || !reflect.DeepEqual(args, c.args) {
				t.Errorf("%s (dialect %d):\n got %s %#v\nwant %s %#v", tt.filter, c.d, sql, args, c.sql, c.args)
			}
		}
	}
}

func TestSQLBindsEveryValue(t *testing.T) {
	x, err := Parse(`name eq "x'); DROP TABLE endpoints;--" and attributes.region ne eu and addresses.port in (5060, 5070) and properties.login like 'a%' and transformations.action ilike '%PLUS'`)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Dialect{SQLite, Postgres} {
		sql, args := x.SQL(d, "p-sid")
		for _, v := range []string{"DROP", "eu", "5060", "PLUS", "region", "login"} {
			if strings.Contains(sql, v) {
				t.Errorf("%q is in the SQL: %s", v, sql)
			}
		}
		if n := strings.Count(sql, "?"); n != len(args) {
			t.Errorf("%d placeholders, %d args: %s", n, len(args), sql)
		}
	}
}

func TestMatch(t *testing.T) {
	e := decode(t, `{"name":"Alpha","capacity":3,"cps_limit":null,"out_sip_username":null,"voip_token":"t","auth_required":true,
		"addresses":[{"ip":"10.0.0.1","port":5060,"location_sid":null,"srtp":false},{"ip":"10.0.0.2","port":5070,"location_sid":"l","srtp":true}],
		"attributes":{"region":"eu"},"properties":{"login":null,"api_url":"https://x/v1"},
		"transformations":[{"action":"strip_plus","direction":"any","operands":[]},{"action":"add","direction":"in","operands":["+1","2"]}]}`)
	empty := map[string]any{"addresses": []any{}, "transformations": []any{}, "attributes": map[string]any{}, "properties": map[string]any{},
		"capacity": "3", "name": 5, "auth_required": "true"} // wrong types match nothing
	tests := []struct {
		filter        string
		sample, empty bool
	}{
		{`name eq Alpha`, true, false},
		{`name ne alpha`, true, false},
		{`name lt a`, true, false}, // bytes: "A" < "a"
		{`name like "A%"`, true, false},
		{`name like "a%"`, false, false},
		{`name ilike "a%"`, true, false},
		{`name like "_lph_"`, true, false},
		{`capacity ne 4`, true, false},
		{`capacity in (1, 3)`, true, false},
		{`capacity notin (1, 3)`, false, false},
		{`auth_required eq true`, true, false},
		{`auth_required ne false`, true, false},
		// Null: eq null / ne null test it; ne and notin with values match it.
		{`out_sip_username eq null`, true, true},
		{`out_sip_username ne null`, false, false},
		{`out_sip_username ne x`, true, true},
		{`out_sip_username notin (x, y)`, true, true},
		{`out_sip_username eq x`, false, false},
		{`out_sip_username lt x`, false, false},
		{`out_sip_username like "%"`, false, false},
		{`cps_limit ne 1`, true, true},
		{`cps_limit gt 0`, false, false},
		{`voip_token ne null and voip_token eq t`, true, false},
		// Absent attributes and properties are null.
		{`attributes.region eq eu`, true, false},
		{`attributes.region ne eu`, false, true},
		{`attributes.nokey eq null`, true, true},
		{`attributes.nokey ne x`, true, true},
		{`attributes.nokey notin (x)`, true, true},
		{`attributes.nokey ne null`, false, false},
		{`attributes.nokey like "%"`, false, false},
		{`properties.login eq null`, true, true},
		{`properties.login ne x`, true, true},
		{`properties.api_url like "%/v1"`, true, false},
		// Some element satisfies it; no elements, nothing does.
		{`addresses.port eq 5070`, true, false},
		{`addresses.port ne 5060`, true, false},
		{`addresses.port notin (5060)`, true, false},
		{`addresses.port notin (5060, 5070)`, false, false},
		{`addresses.ip eq 10.0.0.2 and addresses.port eq 5060`, true, false}, // not necessarily the same element
		{`addresses.location_sid eq null`, true, false},
		{`addresses.location_sid ne l`, true, false},
		{`addresses.srtp eq true`, true, false},
		{`transformations.action eq add`, true, false},
		{`transformations.operands eq "+1"`, true, false},
		{`transformations.operands ne "+1"`, true, false},
		{`transformations.operands notin ("+1", "2")`, false, false},
	}
	for _, tt := range tests {
		x, err := Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		if got := x.Match(e); got != tt.sample {
			t.Errorf("%s on the sample: %v, want %v", tt.filter, got, tt.sample)
		}
		if got := x.Match(empty); got != tt.empty {
			t.Errorf("%s on the empty endpoint: %v, want %v", tt.filter, got, tt.empty)
		}
	}
}

func TestLikeMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		fold, want bool
	}{
		{"gamma%", "gamma ray", false, true},
		{"gamma_1", "gammab1", false, true},
		{"gamma_1", "gamma_1", false, true},
		{"_lpha%", "Alpha Two", false, true},
		{"%beta%", "BETA-3", false, false},
		{"%beta%", "BETA-3", true, true},
		{"%", "", false, true},
		{"", "", false, true},
		{"_", "", false, false},
		{"a%b%c", "aXXbYYc", false, true},
		{"a%b%c", "aXXbYY", false, false},
		{"%%a", "ba", false, true},
		{"é_", "éa", false, true}, // _ is one character, not one byte
		{"É%", "é", true, false},  // folding is ASCII only, as in the databases
		{"*?[", "*?[", false, true},
		{"*", "x", false, false},
	}
	for _, tt := range tests {
		if got := likeMatch([]rune(tt.pattern), []rune(tt.s), tt.fold); got != tt.want {
			t.Errorf("likeMatch(%q, %q, %v) = %v", tt.pattern, tt.s, tt.fold, got)
		}
	}
}
