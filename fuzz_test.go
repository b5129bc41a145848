package switchboard

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// FuzzCanonicalHost: never panics; an accepted address is canonical (stable
// under a second pass), lower case, and never IPv4-mapped; SIPHost accepts a
// subset of it, unchanged.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"1.1.2.13", "2001:DB8::1", "::ffff:1.2.3.4", "PBX.example.COM.", "999.1.1.1", "fe80::1%eth0", "a..b", "-a.b", "xn--bcher-kva.example", "",
		"::FFFF:C000:022C", "0000:0000:0000:0000:0000:ffff:c000:22c", "::ffff:0:0", "0.0.0.0", "::", "255.255.255.255", "::ffff:e000:1", "ff02::1", "127.0.0.1", "a\x00b", "1.2.3.4\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := CanonicalHost(s)
		if sip, err := SIPHost(s); err == nil && (!ok || sip != h) {
			t.Fatalf("SIPHost(%q) = %q but CanonicalHost = %q, %v", s, sip, h, ok)
		}
		if !ok {
			return
		}
		if again, ok2 := CanonicalHost(h); !ok2 || again != h || h != strings.ToLower(h) {
			t.Fatalf("CanonicalHost(%q) = %q, which is not canonical (%q, %v)", s, h, again, ok2)
		}
		if a, err := netip.ParseAddr(h); err == nil && a.Is4In6() {
			t.Fatalf("CanonicalHost(%q) = %q, an IPv4-mapped spelling", s, h)
		}
	})
}

// FuzzEndpointBody: any JSON body, as create, merge PATCH, replace PATCH and
// PUT of a stored endpoint: never a panic; either a 4xx-kind domain error or
// an endpoint whose every field is within the rules (it validates again as a
// PUT of itself).
func FuzzEndpointBody(f *testing.F) {
	for _, s := range []string{
		`{"type":"third_party","addresses":[{"ip":"1.2.3.4","port":"5060"}]}`,
		`{"type":"conference","name":"c","capacity":3}`,
		`{"type":"voicemail","properties":{"callback_url":"https://x.test","greeting":null}}`,
		`{"attributes":{"a":null,"b":"2"},"addresses":[{"ip":"::1","transport":"tls","srtp":true}]}`,
		`{"transformations":[{"action":"strip_plus","operands":["1"]}],"auth_required":false}`,
		`{"name":"","capacity":-1,"bogus":1}`,
		`{"endpoint_sid":null,"partner_sid":"p-1","cps_limit":null,"type":"third_party"}`,
		`{"type":"third_party","addresses":[{"ip":"::FFFF:C000:022C"},{"ip":"224.0.0.1"},{"ip":"::"}]}`,
		`{"name":"a\u0000","attributes":{"k\u0000":"v"},"transformations":[{"action":"a","operands":["\u0000"]}]}`,
		`{"type":"voicemail","properties":{"greeting":"\u0000","\u0000":null}}`,
	} {
		f.Add([]byte(s))
	}
	stored, err := NewEndpoint(admin, Body{"type": "third_party", "addresses": []any{map[string]any{"ip": "10.0.0.1"}}}, NewEndpointParams{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.UseNumber()
		var b Body
		if dec.Decode(&b) != nil || b == nil {
			return
		}
		check := func(e *Endpoint, err error) {
			if err != nil {
				if k := ErrorKindOf(err); k != KindInvalid && k != KindForbidden {
					t.Fatalf("unexpected error kind %d: %v", k, err)
				}
				return
			}
			again, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(strings.NewReader(string(again)))
			dec.UseNumber()
			var round Body
			dec.Decode(&round)
			if _, err := e.Update(admin, round, Put); err != nil {
				t.Fatalf("an accepted endpoint does not validate as a PUT of itself: %v\n%s", err, again)
			}
		}
		check(NewEndpoint(admin, b, NewEndpointParams{PublicURL: "http://x"}))
		for _, mode := range []UpdateMode{Merge, Replace, Put} {
			check(stored.Update(admin, b, mode))
		}
	})
}
