package sqlstore

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	sb "github.com/switchboard-sip/switchboard"
	"github.com/switchboard-sip/switchboard/filter"
)

// fuzzSeeds start FuzzSQL (the seeds of filter's FuzzParse); testdata/fuzz
// holds more, found by longer runs.
var fuzzSeeds = []string{
	`name eq "my trunk"`,
	`type in (conference, flexml) and capacity gt 10`,
	`addresses.ip eq "1.1.2.13"`,
	`attributes.region eq eu and name ilike '%pbx%'`,
	`name eq 'it\'s here' and out_sip_username ne null`,
	`capacity notin (0,1,2) AND auth_required EQ false`,
	`properties.login like "a_%" and transformations.operands eq "+1"`,
	`addresses.port ge 5060 and addresses.location_sid eq null`,
	`name eq "quote\"d \\ name" and name like "*?[%_"`,
	`addresses.ip in ("::FFFF:a:b", PBX.example.COM.)`,
	`attributes.k-1 notin ("a", 'b', c) and properties.greeting ne null`,
	`voip_token ne "2c95517b-a5e8-4415-b471-cdd81d5a6dcb" and cps_limit eq null`,
	`properties.login in ("", x) and capacity eq "-5"`,
	`type in conference`,
	`name eq "abc`,
	`capacity eq abc`,
	`nmae eq x or y`,
	`name like "100\%"`,
	"name eq \"\xff\"",
	"name eq \"a\x00\"",
}

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
			[]any{`$."operands"`, "+1"}, []any{"operands", "+1"}},
	}
	for _, tt := range tests {
		x, err := sb.ParseFilter(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		for _, c := range []struct {
			d    flavour
			sql  string
			args []any
		}{{SQLite, tt.sqlite, tt.sqliteArgs}, {Postgres, tt.postgres, tt.postgresArgs}} {
			sql, args, _ := filterSQL(x, c.d, "p-sid")
			if sql != c.sql || !reflect.DeepEqual(args, c.args) {
				t.Errorf("%s (dialect %d):\n got %s %#v\nwant %s %#v", tt.filter, c.d, sql, args, c.sql, c.args)
			}
		}
	}
}

func TestSQLBindsEveryValue(t *testing.T) {
	x, err := sb.ParseFilter(`name eq "x'); DROP TABLE endpoints;--" and attributes.region ne eu and addresses.port in (5060, 5070) and properties.login like 'a%' and transformations.action ilike '%PLUS'`)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []flavour{SQLite, Postgres} {
		sql, args, _ := filterSQL(x, d, "p-sid")
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

// FuzzSQL: for every filter that parses, on both dialects, SQL does not
// panic, has one placeholder per argument of a type the drivers bind, never
// holds a value as an SQL literal, and its text depends only on fields and
// operators: changing every value leaves it unchanged.
func FuzzSQL(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		x, err := sb.ParseFilter(text)
		if err != nil {
			return
		}
		for _, d := range []flavour{SQLite, Postgres} {
			sql, args, _ := filterSQL(x, d, "p-sid")
			if n := strings.Count(sql, "?"); n != len(args) {
				t.Fatalf("%s: %d placeholders but %d arguments in %s", x, n, len(args), sql)
			}
			if strings.Count(sql, "(") != strings.Count(sql, ")") {
				t.Fatalf("%s: unbalanced parentheses in %s", x, sql)
			}
			for _, a := range args {
				switch a.(type) {
				case string, int64:
				case bool:
					if d != Postgres {
						t.Fatalf("%s: a bool argument for SQLite", x)
					}
				default:
					t.Fatalf("%s: argument %#v of type %T", x, a, a)
				}
			}
			for _, c := range x.Conds {
				for _, v := range c.Values {
					if v.Str == "" {
						continue // '' is the ESCAPE clause
					}
					if lit := "'" + strings.ReplaceAll(v.Str, "'", "''") + "'"; strings.Contains(sql, lit) {
						t.Fatalf("%s: the value %s is in the SQL text: %s", x, lit, sql)
					}
				}
			}
			if otherSQL, _, _ := filterSQL(otherValues(x), d, "p-sid"); otherSQL != sql {
				t.Fatalf("%s: the SQL text depends on the values:\n%s\n%s", x, sql, otherSQL)
			}
		}
	})
}

// otherValues is x with every value changed (keeping null and "" as they
// are, since they select other SQL by design).
func otherValues(x *filter.Expr) *filter.Expr {
	other := &filter.Expr{}
	for _, c := range x.Conds {
		vals := make([]filter.Value, len(c.Values))
		for i, v := range c.Values {
			if !v.Null {
				if v.Str != "" {
					v.Str = "o'th\"er?" + v.Str
				}
				v.Int, v.Bool = v.Int^7, !v.Bool
			}
			vals[i] = v
		}
		c.Values = vals
		other.Conds = append(other.Conds, c)
	}
	return other
}

// The seed corpus files are in the format go test reads.
func TestFuzzSQLSeedCorpusFormat(t *testing.T) {
	dir := "testdata/fuzz/FuzzSQL"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 12 {
		t.Errorf("%s: only %d seed files", dir, len(entries))
	}
	for _, e := range entries {
		data, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte("go test fuzz v1\nstring(")) {
			t.Errorf("%s/%s is not a go test fuzz v1 string", dir, e.Name())
		}
	}
}

// Every field the domain lets filters name is stored where the compiler
// reads it: none compiles to the condition that selects nothing.
func TestEveryFilterableFieldCompiles(t *testing.T) {
	var names []string
	for _, f := range sb.Fields() {
		if !f.Filterable {
			continue
		}
		switch f.Kind {
		case sb.FieldList:
			for _, p := range f.Parts {
				if !p.Secret {
					names = append(names, f.Name+"."+p.Name)
				}
			}
		case sb.FieldObject:
			names = append(names, f.Name+".some_key")
		default:
			names = append(names, f.Name)
		}
	}
	if len(names) < 20 {
		t.Fatalf("only %d filterable fields: %v", len(names), names)
	}
	for _, name := range names {
		x, err := sb.ParseFilter(name + " ne null")
		if err != nil {
			x, err = sb.ParseFilter(name + " eq 1")
		}
		if err != nil {
			x, err = sb.ParseFilter(name + " eq true")
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, d := range []flavour{SQLite, Postgres} {
			if cond, _, _ := filterSQL(x, d, "p"); strings.Contains(cond, never) {
				t.Errorf("%s compiles to %s (dialect %d): the store does not hold it", name, cond, d)
			}
		}
	}
}
