package switchboard

import (
	"slices"
	"strings"
	"testing"
)

// Every spelling of one IP address is one canonical string: the duplicate-IP
// rule and the filters compare these strings.
func TestCanonicalHostSpellings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.44", "192.0.2.44"},
		{"::ffff:192.0.2.44", "192.0.2.44"},
		{"::FFFF:192.0.2.44", "192.0.2.44"},
		{"::ffff:c000:22c", "192.0.2.44"},
		{"::FFFF:C000:022C", "192.0.2.44"},
		{"0:0:0:0:0:ffff:c000:022c", "192.0.2.44"},
		{"0000:0000:0000:0000:0000:FFFF:C000:022C", "192.0.2.44"},
		{"::ffff:127.0.0.1", "127.0.0.1"},
		{"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
		{"2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"}, // RFC 5952: the first longest run
		{"2001:db8::0:1", "2001:db8::1"},
		{"1::2:3:4:5:6:7", "1:0:2:3:4:5:6:7"}, // RFC 5952: one zero group is not compressed
		{"::c000:22c", "::c000:22c"},          // IPv4-compatible (deprecated) is an IPv6 address of its own
		{"64:ff9b::c000:22c", "64:ff9b::c000:22c"},
		{"PBX.Example.COM.", "pbx.example.com"},
	}
	for _, tt := range tests {
		got, ok := CanonicalHost(tt.in)
		if !ok || got != tt.want {
			t.Errorf("CanonicalHost(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	// Host names are ASCII labels (IDN as punycode): letters that Unicode
	// lowers to ASCII (the Kelvin sign, the dotless I's capital) are no
	// spelling of an ASCII name.
	for _, bad := range []string{"192.000.2.44", "::ffff:192.000.2.44", "::ffff:c000:22c%eth0", "::gfff:1",
		"\u212aexample.com", "\u0130nternal.example", "bücher.example"} {
		if got, ok := CanonicalHost(bad); ok {
			t.Errorf("CanonicalHost(%q) = %q, want refused", bad, got)
		}
	}
}

// Addresses no SIP peer can have are refused with a message naming what
// they are, in every spelling; loopback is a real development set-up.
func TestAddressesNoPeerCanHave(t *testing.T) {
	tests := []struct {
		ip   string
		want string // "" when accepted
	}{
		{"0.0.0.0", "must not be an unspecified address (0.0.0.0 or ::)"},
		{"::", "must not be an unspecified address (0.0.0.0 or ::)"},
		{"0:0:0:0:0:0:0:0", "must not be an unspecified address (0.0.0.0 or ::)"},
		{"::ffff:0.0.0.0", "must not be an unspecified address (0.0.0.0 or ::)"},
		{"::ffff:0:0", "must not be an unspecified address (0.0.0.0 or ::)"},
		{"255.255.255.255", "must not be the broadcast address 255.255.255.255"},
		{"::ffff:255.255.255.255", "must not be the broadcast address 255.255.255.255"},
		{"::FFFF:FFFF:FFFF", "must not be the broadcast address 255.255.255.255"},
		{"224.0.0.1", "must not be a multicast address (224.0.0.0/4, ff00::/8)"},
		{"239.255.255.250", "must not be a multicast address (224.0.0.0/4, ff00::/8)"},
		{"::ffff:224.0.0.1", "must not be a multicast address (224.0.0.0/4, ff00::/8)"},
		{"::ffff:e000:1", "must not be a multicast address (224.0.0.0/4, ff00::/8)"},
		{"ff02::1", "must not be a multicast address (224.0.0.0/4, ff00::/8)"},
		{"FF0E::1:2", "must not be a multicast address (224.0.0.0/4, ff00::/8)"},
		{"127.0.0.1", ""},
		{"127.0.0.5", ""},
		{"::ffff:127.0.0.2", ""},
		{"::1", ""},
		{"223.255.255.255", ""},
		{"240.0.0.1", ""},
		{"192.0.2.255", ""}, // a directed broadcast cannot be told from a host without the netmask
		{"fe80::1", ""},
	}
	for _, tt := range tests {
		text := `{"type":"third_party","addresses":[{"ip":"` + tt.ip + `"}]}`
		_, err := NewEndpoint(manager, body(t, text), NewEndpointParams{})
		stored := mustCreate(t, manager, `{"type":"third_party","addresses":[{"ip":"10.0.0.1"}]}`)
		_, updErr := stored.Update(manager, body(t, `{"addresses":[{"ip":"`+tt.ip+`"}]}`), Merge)
		for what, err := range map[string]error{"create": err, "update": updErr} {
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("%s %s: %v, want accepted", what, tt.ip, err)
			case tt.want != "" && !slices.Equal(fieldErrorsOf(err), []string{"addresses[0].ip: " + tt.want}):
				t.Errorf("%s %s: %v, want addresses[0].ip: %s", what, tt.ip, err, tt.want)
			}
		}
	}
}

// A NUL character (PostgreSQL cannot store it) is refused in every string a
// body can hold, named by its field, on create and on update.
func TestNULRefused(t *testing.T) {
	const nul = `must not contain the NUL character (U+0000)`
	tests := []struct {
		typ, body string
		want      string
	}{
		{"third_party", `{"name":"a\u0000b"}`, "name: " + nul},
		{"third_party", `{"out_sip_username":"\u0000"}`, "out_sip_username: " + nul},
		{"third_party", `{"out_sip_password":"pw\u0000"}`, "out_sip_password: " + nul},
		{"third_party", `{"attributes":{"k":"v\u0000"}}`, "attributes.k: " + nul},
		{"third_party", `{"attributes":{"k\u0000":"v"}}`, "attributes: keys " + nul},
		{"third_party", `{"attributes":{"\u0000":null}}`, "attributes: keys " + nul},
		{"third_party", `{"addresses":[{"ip":"10.0.0.2","sip_username":"u\u0000"}]}`, "addresses[0].sip_username: " + nul},
		{"third_party", `{"addresses":[{"ip":"10.0.0.2","sip_password":"\u0000"}]}`, "addresses[0].sip_password: " + nul},
		{"third_party", `{"addresses":[{"ip":"10.0.0.2","location_sid":"l\u0000"}]}`, "addresses[0].location_sid: " + nul},
		{"third_party", `{"addresses":[{"ip":"10.0.0.2","x\u0000":1}]}`, "addresses[0]: keys " + nul},
		{"third_party", `{"addresses":[{"ip":"10.0.0.2\u0000"}]}`, "addresses[0].ip: must be an IPv4 address, an IPv6 address or a host name"},
		{"third_party", `{"transformations":[{"action":"strip_plus","operands":["1","\u0000"]}]}`, "transformations[0].operands[1]: " + nul},
		{"third_party", `{"transformations":[{"action":"strip\u0000"}]}`, "transformations[0].action: " + nul},
		{"third_party", `{"transformations":[{"action":"a","\u0000":"x"}]}`, "transformations[0]: keys " + nul},
		{"voicemail", `{"properties":{"greeting":"hi\u0000"}}`, "properties.greeting: " + nul},
		{"voicemail", `{"properties":{"container_sid":"\u0000"}}`, "properties.container_sid: " + nul},
		{"voicemail", `{"properties":{"callback_url":"https://x.test/\u0000"}}`, "properties.callback_url: must be an absolute http or https URL"},
		{"voicemail", `{"properties":{"\u0000":"x"}}`, "properties: keys " + nul},
	}
	for _, tt := range tests {
		stored := mustCreate(t, admin, `{"type":"voicemail"}`)
		if tt.typ == "third_party" {
			stored = mustCreate(t, admin, `{"type":"third_party","addresses":[{"ip":"10.0.0.1"}]}`)
		}
		_, err := stored.Update(admin, body(t, tt.body), Merge)
		if got := fieldErrorsOf(err); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("update %s: %v, want %s", tt.body, got, tt.want)
		}
		// On create the same field is named the same way.
		create := body(t, tt.body)
		create["type"] = tt.typ
		if tt.typ == "third_party" {
			if _, has := create["addresses"]; !has {
				create["addresses"] = []any{map[string]any{"ip": "10.0.0.1"}}
			}
		}
		_, err = NewEndpoint(admin, create, NewEndpointParams{})
		if got := fieldErrorsOf(err); !slices.Contains(got, tt.want) {
			t.Errorf("create %s: %v, want %s among them", tt.body, got, tt.want)
		}
	}
	// The messages never hold the value (here: any NUL at all).
	_, err := NewEndpoint(admin, body(t, `{"type":"third_party","name":"\u0000","addresses":[{"ip":"10.0.0.1"}]}`), NewEndpointParams{})
	if strings.Contains(err.Error(), "\x00") {
		t.Errorf("message holds the value: %q", err.Error())
	}
}

// fieldErrorsOf is fieldErrors for an error that may be nil (nil: none).
func fieldErrorsOf(err error) []string {
	e, ok := err.(*Error)
	if !ok || e.Kind != KindInvalid {
		return nil
	}
	var out []string
	for _, f := range e.Errors {
		out = append(out, f.Field+": "+f.Message)
	}
	return out
}
