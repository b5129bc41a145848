package filter

import (
	"testing"
)

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
		x, err := Parse(tt.filter, testSchema)
		if err != nil {
			t.Fatalf("Parse(%q, testSchema): %v", tt.filter, err)
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
