package filter

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	tests := []struct{ in, want string }{
		// The examples of §7 and the conformance suite's filters.
		{`name eq "my trunk"`, `name eq "my trunk"`},
		{`type in (conference, flexml) and capacity gt 10`, `type in ("conference", "flexml") and capacity gt 10`},
		{`addresses.ip eq "1.1.2.13"`, `addresses.ip eq "1.1.2.13"`},
		{`attributes.region eq eu and name ilike '%pbx%'`, `attributes.region eq "eu" and name ilike "%pbx%"`},
		{`name eq alpha`, `name eq "alpha"`},
		{`name ne alpha`, `name ne "alpha"`},
		{`name le "my trunk"`, `name le "my trunk"`},
		{`name like "_lpha%"`, `name like "_lpha%"`},
		{`name in ("my trunk", 'alpha', beta)`, `name in ("my trunk", "alpha", "beta")`},
		{`type notin (third_party, conference)`, `type notin ("third_party", "conference")`},
		{`capacity notin (0,1,2)`, `capacity notin (0, 1, 2)`},
		{`out_sip_username eq null`, `out_sip_username eq null`},
		{`out_sip_username ne null`, `out_sip_username ne null`},
		{`auth_required eq false`, `auth_required eq false`},
		{`addresses.port eq 5070 and addresses.transport eq tcp and addresses.direction eq inbound`,
			`addresses.port eq 5070 and addresses.transport eq "tcp" and addresses.direction eq "inbound"`},
		{`attributes.tier in (gold, silver)`, `attributes.tier in ("gold", "silver")`},
		{`properties.api_url like "%/flexml/v1"`, `properties.api_url like "%/flexml/v1"`},
		{`transformations.action eq strip_plus and transformations.direction eq inbound`,
			`transformations.action eq "strip_plus" and transformations.direction eq "inbound"`},
		{`endpoint_sid eq "2c95517b-a5e8-4415-b471-cdd81d5a6dcb"`, `endpoint_sid eq "2c95517b-a5e8-4415-b471-cdd81d5a6dcb"`},
		{`voip_token eq null and cps_limit eq null and partner_sid eq p-1`, `voip_token eq null and cps_limit eq null and partner_sid eq "p-1"`},
		// Keywords in any case; field names as written.
		{`capacity GT 2 AND type EQ conference`, `capacity gt 2 and type eq "conference"`},
		{`type In (flexml, mediator) aNd capacity Le 5`, `type in ("flexml", "mediator") and capacity le 5`},
		{`type NOTIN (third_party)`, `type notin ("third_party")`},
		{`name ILIKE '%pbx%'`, `name ilike "%pbx%"`},
		{`out_sip_username eq NULL and auth_required ne TRUE`, `out_sip_username eq null and auth_required ne true`},
		// Quotes and escapes.
		{`name eq "quote\"d name"`, `name eq "quote\"d name"`},
		{`name eq 'it\'s here'`, `name eq "it's here"`},
		{`name eq 'quote"d name'`, `name eq "quote\"d name"`},
		{`name eq "it\'s"`, `name eq "it's"`},
		{`name eq 'back\\slash'`, `name eq "back\\slash"`},
		{`name eq ""`, `name eq ""`},
		{`name eq "null"`, `name eq "null"`},
		{`name eq "and" and name ne and`, `name eq "and" and name ne "and"`},
		{`name eq "ünïcode ☎"`, `name eq "ünïcode ☎"`},
		{"name eq \"tab\there\"", "name eq \"tab\there\""},
		// Numbers and words on text fields are their text.
		{`name eq 5`, `name eq "5"`},
		{`name eq -1.5e3`, `name eq "-1.5e3"`},
		{`name eq true`, `name eq "true"`},
		{`name eq user@example.com:5060/x+y`, `name eq "user@example.com:5060/x+y"`},
		{`name eq Ünïcode`, `name eq "Ünïcode"`},
		// Integers and booleans: the field decides, quotes only delimit.
		{`capacity eq -3`, `capacity eq -3`},
		{`capacity eq +3`, `capacity eq 3`},
		{`capacity eq 007`, `capacity eq 7`},
		{`capacity eq "5"`, `capacity eq 5`},
		{`capacity eq 9223372036854775807`, `capacity eq 9223372036854775807`},
		{`cps_limit ne null`, `cps_limit ne null`},
		{`auth_required in (true, 'FALSE')`, `auth_required in (true, false)`},
		{`addresses.srtp eq true and addresses.priority ge 0 and addresses.dst_port lt 5061`,
			`addresses.srtp eq true and addresses.priority ge 0 and addresses.dst_port lt 5061`},
		{`addresses.location_sid eq null and addresses.sip_username ne null`, `addresses.location_sid eq null and addresses.sip_username ne null`},
		// The schema's canonical form of addresses.ip (here: lower case)
		// applies to eq, ne, in and notin only.
		{`addresses.ip eq "PBX.Example"`, `addresses.ip eq "pbx.example"`},
		{`addresses.ip in (A, b)`, `addresses.ip in ("a", "b")`},
		{`addresses.ip like "PBX.%"`, `addresses.ip like "PBX.%"`},
		{`addresses.ip gt FD00::`, `addresses.ip gt "FD00::"`},
		// Attribute and property keys.
		{`attributes.region-1 eq eu`, `attributes.region-1 eq "eu"`},
		{`attributes.Region eq EU`, `attributes.Region eq "EU"`},
		{`properties.login ne null`, `properties.login ne null`},
		{`properties.PASSWORD eq x`, `properties.PASSWORD eq "x"`}, // keys are case-sensitive; only "password" is the secret
		{`attributes.` + strings.Repeat("k", 64) + ` eq v`, `attributes.` + strings.Repeat("k", 64) + ` eq "v"`},
		{`transformations.operands eq "+1"`, `transformations.operands eq "+1"`},
		// Spacing.
		{"  name   eq   a  ", `name eq "a"`},
		{"name\teq\n'a'", `name eq "a"`},
		{`type in(a,b)and name eq"x"`, `type in ("a", "b") and name eq "x"`},
	}
	for _, tt := range tests {
		x, err := Parse(tt.in, testSchema)
		if err != nil {
			t.Errorf("Parse(%q, testSchema): %v", tt.in, err)
			continue
		}
		if got := x.String(); got != tt.want {
			t.Errorf("Parse(%q, testSchema)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		again, err := Parse(x.String(), testSchema)
		if err != nil || !sameTree(x, again) {
			t.Errorf("the canonical form %s does not reparse to the same tree: %v %v", x, again, err)
		}
	}
}

// sameTree compares two filters, positions (and the schema's canonical
// functions, which reflect cannot compare) aside.
func sameTree(a, b *Expr) bool {
	strip := func(x *Expr) []Cond {
		out := make([]Cond, len(x.Conds))
		for i, c := range x.Conds {
			c.Pos = 0
			c.Field.canonical = nil
			out[i] = c
		}
		return out
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func TestParseTree(t *testing.T) {
	x, err := Parse(`name eq x and  attributes.k IN (a, "b") AND addresses.port ge 5060`, testSchema)
	if err != nil {
		t.Fatal(err)
	}
	want := []Cond{
		{Field: Field{Name: "name", Group: TopLevel, Key: "name", Kind: String}, Op: Eq, Values: []Value{{Str: "x"}}, Pos: 1},
		{Field: Field{Name: "attributes.k", Group: KeyedValue, List: "attributes", Key: "k", Kind: String, Nullable: true}, Op: In, Values: []Value{{Str: "a"}, {Str: "b"}}, Pos: 16},
		{Field: Field{Name: "addresses.port", Group: Element, List: "addresses", Key: "port", Kind: Integer}, Op: Ge, Values: []Value{{Int: 5060}}, Pos: 45},
	}
	if !reflect.DeepEqual(x.Conds, want) {
		t.Errorf("got  %+v\nwant %+v", x.Conds, want)
	}
}

func TestParseErrors(t *testing.T) {
	tooManyValues := "capacity in (" + numbers(MaxInValues) + ", 100)"
	tests := []struct{ in, want string }{
		// The conformance suite's filterErrors, in its order.
		{`nmae eq x`, `unknown field "nmae" at position 1`},
		{`addresses.nosuch eq x`, `unknown field "addresses.nosuch" at position 1`},
		{`name equals x`, `unknown operator "equals" (use eq, ne, gt, ge, lt, le, like, ilike, in or notin) at position 6`},
		{`name eq "abc`, `unterminated string starting at position 9`},
		{`name eq 'abc`, `unterminated string starting at position 9`},
		{`capacity eq abc`, `"capacity" needs an integer, got "abc" at position 13`},
		{`auth_required eq maybe`, `"auth_required" needs true or false, got "maybe" at position 18`},
		{`out_sip_password eq x`, `"out_sip_password" cannot be filtered on (secret) at position 1`},
		{`addresses.sip_password eq x`, `"addresses.sip_password" cannot be filtered on (secret) at position 1`},
		{`properties.password eq x`, `"properties.password" cannot be filtered on (secret) at position 1`},
		{`name eq`, `expected a value after "eq" at position 8`},
		{`name eq x and`, `expected a field name after "and" at position 14`},
		{`name eq x or name eq y`, `"or" is not supported: conditions can only be joined with "and" at position 11`},
		{`type in conference`, `expected "(" after "in" at position 9`},
		{`type in ()`, `expected a value after "(" at position 10`},
		{`type in (conference, flexml`, `expected "," or ")" in the in list at position 28`},
		{`capacity gt 5 5`, `unexpected "5" after the end of the filter at position 15`},
		{`name eq "` + strings.Repeat("a", 5000-len(`name eq ""`)) + `"`, `the filter is too long (at most 4096 characters)`},
		{conditions(MaxConditions + 1), `too many conditions (at most 50)`},
		{tooManyValues, `too many values in the in list (at most 100) at position ` + strconv.Itoa(len(tooManyValues)-3)},

		// Lexical errors.
		{`name eq a%b`, `unexpected character "%" (values with characters other than letters, digits and _ - . : @ + / need quotes) at position 10`},
		{`attributes.bad!key eq x`, `unexpected character "!" (values with characters other than letters, digits and _ - . : @ + / need quotes) at position 15`},
		{`name eq "a\"`, `unterminated string starting at position 9`},
		{`name eq "abc\`, `unterminated string starting at position 9`},
		{`name eq "a\nb"`, `unknown escape \n in a quoted value (a backslash escapes only ", ' and \) at position 11`},
		{`name like "100\%"`, `unknown escape \% in a quoted value (a backslash escapes only ", ' and \) at position 15`},
		{"name eq \"a\\\x01\"", `unknown escape \ followed by U+0001 in a quoted value (a backslash escapes only ", ' and \) at position 11`},
		{"name eq \"a\x00\"", `the filter cannot contain the NUL character at position 11`},
		{"name eq \x00", `the filter cannot contain the NUL character at position 9`},
		{"name eq \xff", `the filter is not valid UTF-8 at position 9`},
		{"name eq \"é\xff\"", `the filter is not valid UTF-8 at position 11`},
		{`name eq "é" and nöme eq x`, `unknown field "nöme" at position 17`}, // positions count characters
		{`name eq 'é' and type eq "☎`, `unterminated string starting at position 25`},
		// The leftmost fault wins.
		{`nmae eq "abc`, `unknown field "nmae" at position 1`},

		// Structure.
		{``, `the filter is empty at position 1`},
		{`   `, `the filter is empty at position 4`},
		{`name`, `expected an operator after "name" at position 5`},
		{`name "eq" x`, `expected an operator after "name" at position 6`},
		{`"name" eq x`, `expected a field name, got quoted value "name" at position 1`},
		{`(name eq x)`, `expected a field name, got "(" at position 1`},
		{`name eq x and and`, `unknown field "and" at position 15`},
		{`name eq x AND`, `expected a field name after "AND" at position 14`},
		{`name eq x, type eq y`, `unexpected "," after the end of the filter at position 10`},
		{`name eq x "y"`, `unexpected quoted value "y" after the end of the filter at position 11`},
		{`name eq x OR type eq y`, `"OR" is not supported: conditions can only be joined with "and" at position 11`},
		{`name eq (x)`, `expected a value after "eq" at position 9`},
		{`type in (a,)`, `expected a value after "," at position 12`},
		{`type in (a b)`, `expected "," or ")" in the in list at position 12`},
		{`type notin (a`, `expected "," or ")" in the notin list at position 14`},
		{`type in a, b`, `expected "(" after "in" at position 9`},

		// Fields.
		{`partner.name eq x`, `unknown field "partner.name" at position 1`},
		{`NAME eq x`, `unknown field "NAME" at position 1`},
		{`login eq x`, `unknown field "login" at position 1`},
		{`out_sip_username.x eq y`, `unknown field "out_sip_username.x" at position 1`},
		{`addresses eq x`, `unknown field "addresses" (name one of its fields: addresses.<field>) at position 1`},
		{`attributes eq x`, `unknown field "attributes" (name one of its fields: attributes.<field>) at position 1`},
		{`transformations.operands.x eq y`, `unknown field "transformations.operands.x" at position 1`},
		{`attributes. eq x`, `attributes keys are 1 to 64 letters, digits, _ and -, got "" at position 1`},
		{`properties.a.b eq x`, `properties keys are 1 to 64 letters, digits, _ and -, got "a.b" at position 1`},
		{`attributes.é eq x`, `attributes keys are 1 to 64 letters, digits, _ and -, got "é" at position 1`},
		{`attributes.` + strings.Repeat("k", 65) + ` eq v`, `attributes keys are 1 to 64 letters, digits, _ and -, got "` + strings.Repeat("k", 40) + `"... at position 1`},
		{`out_sip_password equals S3cret`, `"out_sip_password" cannot be filtered on (secret) at position 1`},

		// Types.
		{`capacity eq 1.5`, `"capacity" needs an integer, got "1.5" at position 13`},
		{`capacity eq 0x10`, `"capacity" needs an integer, got "0x10" at position 13`},
		{`capacity eq +-1`, `"capacity" needs an integer, got "+-1" at position 13`},
		{`capacity eq -`, `"capacity" needs an integer, got "-" at position 13`},
		{`capacity eq ""`, `"capacity" needs an integer, got "" at position 13`},
		{`capacity eq "null"`, `"capacity" needs an integer, got "null" at position 13`},
		{`capacity eq 9223372036854775808`, `"capacity" needs an integer, got "9223372036854775808" (out of range) at position 13`},
		{`addresses.port in (5060, x)`, `"addresses.port" needs an integer, got "x" at position 26`},
		{`auth_required eq 1`, `"auth_required" needs true or false, got "1" at position 18`},
		{`auth_required gt false`, `"auth_required" is true or false: use eq, ne, in or notin at position 15`},
		{`addresses.srtp like true`, `like works only on text fields, and "addresses.srtp" holds true or false at position 16`},
		{`capacity ilike 5`, `ilike works only on text fields, and "capacity" holds an integer at position 10`},
		{`capacity eq null`, `"capacity" is never null at position 13`},
		{`name eq null`, `"name" is never null at position 9`},
		{`addresses.ip ne null`, `"addresses.ip" is never null at position 17`},
		{`name gt null`, `null can only be used with eq or ne at position 9`},
		{`out_sip_username in (a, null)`, `null can only be used with eq or ne at position 25`},
		{`attributes.k like NULL`, `null can only be used with eq or ne at position 19`},
		{`name eq "` + strings.Repeat("x", 60) + `" and capacity eq "` + strings.Repeat("9", 60) + `"`,
			`"capacity" needs an integer, got "` + strings.Repeat("9", 40) + `"... (out of range) at position 88`},
	}
	for _, tt := range tests {
		x, err := Parse(tt.in, testSchema)
		if err == nil {
			t.Errorf("Parse(%.80q, testSchema) = %s, want the error %s", tt.in, x, tt.want)
			continue
		}
		var fe *Error
		if !errors.As(err, &fe) || err.Error() != tt.want {
			t.Errorf("Parse(%.80q, testSchema):\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

// Exactly at each limit a filter is accepted; one past it, refused.
func TestParseLimits(t *testing.T) {
	long := `name ne "` + strings.Repeat("z", MaxLength-len(`name ne ""`)) + `"`
	longUnicode := `name ne "` + strings.Repeat("☎", MaxLength-len(`name ne ""`)) + `"` // characters, not bytes
	for _, tt := range []struct {
		name     string
		at, past string
	}{
		{"length", long, long + " "},
		{"length in characters", longUnicode, strings.Replace(longUnicode, `"`, `"☎`, 1)},
		{"conditions", conditions(MaxConditions), conditions(MaxConditions + 1)},
		{"in values", "capacity in (" + numbers(MaxInValues) + ")", "capacity in (" + numbers(MaxInValues+1) + ")"},
		{"notin values", "name notin (" + numbers(MaxInValues) + ")", "name notin (" + numbers(MaxInValues+1) + ")"},
	} {
		x, err := Parse(tt.at, testSchema)
		if err != nil {
			t.Errorf("%s: at the limit: %v", tt.name, err)
		} else if again, err := Parse(x.String(), testSchema); err != nil || !sameTree(x, again) {
			t.Errorf("%s: the canonical form does not reparse: %v", tt.name, err)
		}
		if _, err := Parse(tt.past, testSchema); err == nil {
			t.Errorf("%s: one past the limit was accepted", tt.name)
		}
	}
}

func conditions(n int) string {
	return strings.TrimSuffix(strings.Repeat("capacity ge 0 and ", n), " and ")
}

func numbers(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Itoa(i)
	}
	return strings.Join(parts, ", ")
}

// A secret's value never reaches an error message (§9).
func TestSecretNeverInMessage(t *testing.T) {
	const secret = "S3cr3tValue"
	for _, in := range []string{
		`out_sip_password eq ` + secret,
		`out_sip_password eq "` + secret,
		`out_sip_password equals ` + secret,
		`addresses.sip_password in (` + secret + `)`,
		`properties.password like '%` + secret + `%'`,
		`name eq x and out_sip_password eq ` + secret,
	} {
		_, err := Parse(in, testSchema)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("Parse(%q, testSchema): %v", in, err)
		}
	}
}
