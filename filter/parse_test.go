package filter

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct{ in, want string }{
		{`name eq "my trunk"`, `name eq "my trunk"`},
		{`name eq alpha`, `name eq "alpha"`},
		{`NAME EQ alpha`, ``}, // field names are not keywords: case matters
		{`capacity GT 2 AND type EQ conference`, `capacity gt 2 and type eq "conference"`},
		{`type In (flexml, mediator) aNd capacity Le 5`, `type in ("flexml", "mediator") and capacity le 5`},
		{`out_sip_username eq NULL`, `out_sip_username eq null`},
		{`auth_required eq FALSE`, `auth_required eq false`},
		{`name eq 'it\'s here'`, `name eq "it's here"`},
		{`name eq "quote\"d name"`, `name eq "quote\"d name"`},
		{`name eq 'back\\slash'`, `name eq "back\\slash"`},
		{`name eq 5`, `name eq "5"`},
		{`name eq -1.5`, `name eq "-1.5"`},
		{`capacity eq -3`, `capacity eq -3`},
		{`addresses.ip eq "2001:DB8:0:0:0:0:0:1"`, `addresses.ip eq "2001:db8::1"`},
		{`addresses.ip in (PBX.Example.com, 10.0.0.1)`, `addresses.ip in ("pbx.example.com", "10.0.0.1")`},
		{`addresses.ip like "10.%"`, `addresses.ip like "10.%"`},
		{`attributes.region-1 eq eu`, `attributes.region-1 eq "eu"`},
		{`properties.api_url like "%/flexml/v1"`, `properties.api_url like "%/flexml/v1"`},
		{`transformations.operands eq "+1"`, `transformations.operands eq "+1"`},
		{`name eq user@example.com:5060/x+y`, `name eq "user@example.com:5060/x+y"`},
		{`name eq "ünïcode"`, `name eq "ünïcode"`},
		{`  name   eq   a  `, `name eq "a"`},
	}
	for _, tt := range tests {
		x, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want an error", tt.in, x)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := x.String(); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
		// The canonical form parses to the same tree.
		if again, err := Parse(x.String()); err != nil || again.String() != x.String() {
			t.Errorf("reparsing %s: %v %v", x, again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`nmae eq x`, `unknown field "nmae" at position 1`},
		{`addresses.nosuch eq x`, `unknown field "addresses.nosuch" at position 1`},
		{`partner.name eq x`, `unknown field "partner.name" at position 1`},
		{`name equals x`, `unknown operator "equals" (use eq, ne, gt, ge, lt, le, like, ilike, in or notin) at position 6`},
		{`name eq "abc`, `unterminated string starting at position 9`},
		{`name eq 'abc`, `unterminated string starting at position 9`},
		{`capacity eq abc`, `"capacity" needs an integer, got "abc" at position 13`},
		{`capacity eq 1.5`, `"capacity" needs an integer, got "1.5" at position 13`},
		{`capacity eq "5"`, `"capacity" needs an integer, got "5" at position 13`},
		{`capacity eq 99999999999999999999`, `"capacity" needs an integer, got "99999999999999999999" (out of range) at position 13`},
		{`auth_required eq maybe`, `"auth_required" needs true or false, got "maybe" at position 18`},
		{`auth_required gt false`, `"auth_required" is true or false: use eq, ne, in or notin at position 15`},
		{`capacity like 5`, `like works on text fields only; "capacity" holds an integer at position 10`},
		{`out_sip_password eq x`, `"out_sip_password" cannot be filtered on (it is a secret) at position 1`},
		{`addresses.sip_password eq x`, `"addresses.sip_password" cannot be filtered on (it is a secret) at position 1`},
		{`properties.password eq x`, `"properties.password" cannot be filtered on (it is a secret) at position 1`},
		{`name eq`, `expected a value after "eq", got the end of the filter at position 8`},
		{`name eq x and`, `expected a field name, got the end of the filter at position 14`},
		{`name`, `expected an operator after "name", got the end of the filter at position 5`},
		{`name eq x or name eq y`, `expected "and" or the end of the filter, got "or" at position 11`},
		{`type in conference`, `expected "(" after "in", got "conference" at position 9`},
		{`type in ()`, `expected a value after "in", got ")" at position 10`},
		{`type in (conference, flexml`, `expected "," or ")" in the in list, got the end of the filter at position 28`},
		{`capacity gt 5 5`, `expected "and" or the end of the filter, got "5" at position 15`},
		{`name eq a%b`, `unexpected character '%' (quote values with special characters) at position 10`},
		{`name gt null`, `null can only be compared with eq or ne at position 9`},
		{`name eq null`, `"name" is never null at position 9`},
		{`attributes.bad!key eq x`, `unexpected character '!' (quote values with special characters) at position 15`},
		{`attributes. eq x`, `attributes keys are 1 to 64 letters, digits, _ and -, got "" at position 1`},
		{`"name" eq x`, `expected a field name, got a quoted value at position 1`},
		{`ñame eq x`, `unknown field "ñame" at position 1`},
		{"name eq \xff", `invalid UTF-8 at position 9`},
		{`name eq "` + strings.Repeat("a", 5000) + `"`, `the filter is longer than 4096 characters`},
		{strings.Repeat("capacity ge 0 and ", 50) + "capacity ge 0", `too many conditions (at most 50) at position 901`},
		{"capacity in (" + numbers(101) + ")", `too many values in one in list (at most 100) at position 10`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%.60q) succeeded, want %s", tt.in, tt.want)
			continue
		}
		if _, ok := err.(*Error); !ok || err.Error() != tt.want {
			t.Errorf("Parse(%.60q):\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

// The limits themselves are accepted.
func TestParseLimitsAccepted(t *testing.T) {
	for _, in := range []string{
		`name ne "` + strings.Repeat("z", MaxLength-len(`name ne ""`)) + `"`,
		strings.TrimSuffix(strings.Repeat("capacity ge 0 and ", MaxConditions), " and "),
		"capacity in (" + numbers(MaxInValues) + ")",
	} {
		if _, err := Parse(in); err != nil {
			t.Errorf("Parse(%.60q...): %v", in, err)
		}
	}
}

func numbers(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Itoa(i)
	}
	return strings.Join(parts, ", ")
}

func TestSQLBindsEveryValue(t *testing.T) {
	x, err := Parse(`name eq "x'); DROP TABLE endpoints;--" and attributes.region ne eu and addresses.port in (5060, 5070) and properties.login like 'a%' and transformations.action ilike '%PLUS'`)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []Dialect{SQLite, Postgres} {
		sql, args := x.SQL(d)
		if strings.Contains(sql, "DROP") || strings.Contains(sql, "eu") || strings.Contains(sql, "5060") {
			t.Errorf("a value was spliced into the SQL: %s", sql)
		}
		if n := strings.Count(sql, "?"); n != len(args) {
			t.Errorf("%d placeholders, %d args: %s", n, len(args), sql)
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
		{"gamma_1", "gamma21", false, true},
		{"gamma_1", "gamma_1", false, true},
		{"_lpha%", "Alpha Two", false, true},
		{"%beta%", "BETA-3", false, false},
		{"%beta%", "BETA-3", true, true},
		{"%", "", false, true},
		{"_", "", false, false},
		{"a%b%c", "aXXbYYc", false, true},
		{"a%b%c", "aXXbYY", false, false},
		{"é_", "éa", false, true},
		{"É%", "é", true, false}, // folding is ASCII only, as in the databases
	}
	for _, tt := range tests {
		if got := likeMatch([]rune(tt.pattern), []rune(tt.s), tt.fold); got != tt.want {
			t.Errorf("likeMatch(%q, %q, %v) = %v", tt.pattern, tt.s, tt.fold, got)
		}
	}
	if got := likeToGlob("a*b?c[d%e_"); got != "a[*]b[?]c[[]d*e?" {
		t.Errorf("likeToGlob: %s", got)
	}
}
