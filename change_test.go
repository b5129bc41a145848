package switchboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

var (
	admin   = Caller{PartnerSID: "p-1", PartnerName: "one", Scopes: Scopes{ScopeManage, ScopeManageAuthRequired}}
	manager = Caller{PartnerSID: "p-1", PartnerName: "one", Scopes: Scopes{ScopeManage}}
)

// body decodes a JSON object the way the HTTP layer does (numbers as
// json.Number).
func body(t *testing.T, text string) Body {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var b Body
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("bad test body %s: %v", text, err)
	}
	return b
}

// fieldErrors returns "field: message" for each entry of a 422, or fails.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindInvalid {
		t.Fatalf("expected a validation error, got %v", err)
	}
	var out []string
	for _, f := range e.Errors {
		out = append(out, f.Field+": "+f.Message)
	}
	return out
}

func mustCreate(t *testing.T, c Caller, text string) *Endpoint {
	t.Helper()
	e, err := NewEndpoint(c, body(t, text), NewEndpointParams{PublicURL: "http://sb.test"})
	if err != nil {
		t.Fatalf("create %s: %v", text, err)
	}
	return e
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestNewEndpointDefaults(t *testing.T) {
	e := mustCreate(t, manager, `{"type":"third_party","addresses":[{"ip":"1.1.2.13","port":"5060"}]}`)
	got := jsonOf(t, e)
	// The CarrierX sample response, with this endpoint's generated values.
	want := `{"addresses":[{"direction":"any","dst_port":5060,"ip":"1.1.2.13","location_sid":null,"port":5060,"priority":0,` +
		`"sip_password":null,"sip_username":null,"srtp":false,"transport":"udp"}],"attributes":{},"auth_required":true,` +
		`"capacity":0,"cps_limit":null,"endpoint_sid":"` + e.EndpointSID + `","name":"N/A","out_sip_password":null,` +
		`"out_sip_username":null,"partner_sid":"p-1","properties":{},"transformations":[],"type":"third_party","voip_token":"` + *e.VoIPToken + `"}`
	if got != want {
		t.Fatalf("third_party defaults:\n got %s\nwant %s", got, want)
	}
	if !IsSID(e.EndpointSID) || !IsSID(*e.VoIPToken) {
		t.Fatalf("endpoint_sid and voip_token must be UUIDs: %s %s", e.EndpointSID, *e.VoIPToken)
	}
}

func TestNewEndpointHostedProperties(t *testing.T) {
	for _, r := range typeTable {
		if r.APIPath == "" {
			continue
		}
		typ, path := r.Type, r.APIPath
		e := mustCreate(t, manager, `{"type":"`+string(typ)+`","name":"My Conf!"}`)
		p := e.Properties
		if *p["api_url"] != "http://sb.test"+path || p["container_sid"] != nil || !IsSID(*p["account_sid"]) {
			t.Errorf("%s: unexpected properties %s", typ, jsonOf(t, p))
		}
		if login := p.Login(); !strings.HasPrefix(login, "my_conf_") || len(login) != len("my_conf_")+4 {
			t.Errorf("%s: login %q is not derived from the name", typ, login)
		}
		if pw := *p["password"]; len(pw) != 12 || strings.Trim(pw, alphanumerics) != "" {
			t.Errorf("%s: password %q is not 12 letters and digits", typ, pw)
		}
		if e.VoIPToken != nil || len(e.Addresses) != 0 {
			t.Errorf("%s: hosted endpoints have no voip_token or addresses", typ)
		}
	}
	vm := mustCreate(t, manager, `{"type":"voicemail","properties":{"callback_url":"https://x.test/cb"}}`)
	if jsonOf(t, vm.Properties) != `{"callback_url":"https://x.test/cb"}` {
		t.Errorf("voicemail properties: %s", jsonOf(t, vm.Properties))
	}
}

func TestNewEndpointCanonicalAddresses(t *testing.T) {
	e := mustCreate(t, manager, `{"type":"third_party","addresses":[{"ip":"2001:DB8:0:0:0:0:0:1"},{"ip":"PBX.Example.COM."},{"ip":"10.0.0.1","port":"5070","priority":"3"}]}`)
	var got []string
	for _, a := range e.Addresses {
		got = append(got, a.IP)
	}
	if want := []string{"2001:db8::1", "pbx.example.com", "10.0.0.1"}; !slices.Equal(got, want) {
		t.Fatalf("canonical ips: got %v, want %v", got, want)
	}
	if e.Addresses[2].Port != 5070 || e.Addresses[2].Priority != 3 {
		t.Fatalf("integer strings: got port %d priority %d", e.Addresses[2].Port, e.Addresses[2].Priority)
	}
}

func TestNewEndpointRejects(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		name   string
		caller Caller
		body   string
		want   []string // every "field: message" of the 422
	}{
		{"type missing", manager, `{"name":"x"}`, []string{"type: field is required"}},
		{"type unknown", manager, `{"type":"pbx"}`, []string{"type: must be one of: conference, conference_playback, conference_v2, flexml, mediator, third_party, voicemail"}},
		{"system gateway", manager, `{"type":"system_gateway"}`, []string{"type: system_gateway endpoints cannot be created through the API"}},
		{"third party without address", manager, `{"type":"third_party"}`, []string{"addresses: at least one address is required"}},
		{"address problems do not add the missing-address rule", manager, `{"type":"third_party","addresses":[{"ip":"1.1.1.1","bogus":1}]}`,
			[]string{"addresses[0].bogus: unknown field"}},
		{"every error at once", manager, `{"type":"third_party","name":"","capacity":-1,"bogus":"x","addresses":[{"ip":"999.1.1.1","port":0}]}`,
			[]string{"addresses[0].ip: must be an IPv4 address, an IPv6 address or a host name", "addresses[0].port: must be between 1 and 65535",
				"bogus: unknown field", "capacity: must be between 0 and 2147483647", "name: must be between 1 and 255 characters"}},
		{"name too long", manager, `{"type":"conference","name":"` + long + `"}`, []string{"name: must be between 1 and 255 characters"}},
		{"capacity fraction", manager, `{"type":"conference","capacity":1.5}`, []string{"capacity: must be an integer"}},
		{"capacity negative string", manager, `{"type":"conference","capacity":"-1"}`, []string{"capacity: must be an integer"}},
		{"capacity bool", manager, `{"type":"conference","capacity":true}`, []string{"capacity: must be an integer"}},
		{"auth_required without scope", manager, `{"type":"conference","auth_required":true}`,
			[]string{"auth_required: partner does not have permissions to set this value"}},
		{"hosted with sip fields", manager, `{"type":"flexml","addresses":[{"ip":"1.2.3.4"}],"out_sip_username":"u"}`,
			[]string{"addresses: field is not allowed for flexml endpoints", "out_sip_username: field is not allowed for flexml endpoints"}},
		{"third party properties", manager, `{"type":"third_party","addresses":[{"ip":"1.2.3.4"}],"properties":{"x":"y"}}`,
			[]string{"properties: third_party endpoints have no properties"}},
		{"generated properties are read-only", manager, `{"type":"conference","properties":{"login":"mine"}}`, []string{"properties: field is read-only"}},
		{"voicemail unknown property", manager, `{"type":"voicemail","properties":{"login":"x","callback_method":"PUT"}}`,
			[]string{"properties.callback_method: must be one of: GET, POST", "properties.login: unknown field"}},
		{"foreign partner", manager, `{"type":"conference","partner_sid":"p-2"}`, []string{"partner_sid: field is read-only"}},
		{"endpoint_sid", manager, `{"type":"conference","endpoint_sid":"7091e3a8-8a4c-4f4e-a8f3-3f64b2a4b9a1"}`, []string{"endpoint_sid: field is read-only"}},
		{"transformation", manager, `{"type":"third_party","addresses":[{"ip":"1.2.3.4"}],"transformations":[{"action":"Bad-Action","direction":"up"}]}`,
			[]string{"transformations[0].action: must be 1 to 64 characters of a-z, 0-9 and _", "transformations[0].direction: must be one of: any, inbound, outbound"}},
		{"attributes", manager, `{"type":"third_party","addresses":[{"ip":"1.2.3.4"}],"attributes":{"k":5}}`, []string{"attributes.k: must be a string"}},
		{"wrong json types", manager, `{"type":"third_party","addresses":{"ip":"1.2.3.4"},"attributes":"x","out_sip_username":5}`,
			[]string{"addresses: must be an array", "attributes: must be an object", "out_sip_username: must be a string or null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEndpoint(tt.caller, body(t, tt.body), NewEndpointParams{})
			if got := fieldErrors(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSecretsNeverInMessages(t *testing.T) {
	secret := "S3cret" + strings.Repeat("p", 300)
	_, err := NewEndpoint(manager, body(t, `{"type":"third_party","out_sip_password":"`+secret+`","addresses":[{"ip":"1.2.3.4","sip_password":"`+secret+`"}]}`), NewEndpointParams{})
	for _, m := range fieldErrors(t, err) {
		if strings.Contains(m, "S3cret") {
			t.Fatalf("an error message repeats a secret: %s", m)
		}
	}
}

// tp is a stored third_party endpoint used by the update tests.
func tp(t *testing.T) *Endpoint {
	return mustCreate(t, admin, `{"type":"third_party","name":"trunk","capacity":2,"attributes":{"a":"1","b":"2"},`+
		`"addresses":[{"ip":"10.0.0.1"}],"transformations":[{"action":"strip_plus"}],"out_sip_username":"u"}`)
}

func TestUpdateSemantics(t *testing.T) {
	tests := []struct {
		name  string
		mode  UpdateMode
		body  string
		check func(t *testing.T, before, after *Endpoint)
	}{
		{"merge attributes: add, overwrite, remove with null", Merge, `{"attributes":{"b":"3","c":"4","a":null}}`, func(t *testing.T, _, e *Endpoint) {
			if jsonOf(t, e.Attributes) != `{"b":"3","c":"4"}` {
				t.Errorf("attributes %s", jsonOf(t, e.Attributes))
			}
		}},
		{"replace attributes", Replace, `{"attributes":{"z":"9"}}`, func(t *testing.T, _, e *Endpoint) {
			if jsonOf(t, e.Attributes) != `{"z":"9"}` {
				t.Errorf("attributes %s", jsonOf(t, e.Attributes))
			}
		}},
		{"merge addresses appends new, skips equal", Merge, `{"addresses":[{"ip":"10.0.0.1"},{"ip":"10.0.0.2","port":5070},{"ip":"10.0.0.2","port":5070}]}`,
			func(t *testing.T, _, e *Endpoint) {
				if len(e.Addresses) != 2 || e.Addresses[1].IP != "10.0.0.2" || e.Addresses[1].Port != 5070 {
					t.Errorf("addresses %s", jsonOf(t, e.Addresses))
				}
			}},
		{"replace addresses", Replace, `{"addresses":[{"ip":"10.0.0.9","transport":"tcp"}]}`, func(t *testing.T, _, e *Endpoint) {
			if len(e.Addresses) != 1 || e.Addresses[0].IP != "10.0.0.9" || e.Addresses[0].Transport != "tcp" {
				t.Errorf("addresses %s", jsonOf(t, e.Addresses))
			}
		}},
		{"merge transformations", Merge, `{"transformations":[{"action":"strip_plus"},{"action":"add_prefix","operands":["1"]}]}`, func(t *testing.T, _, e *Endpoint) {
			if jsonOf(t, e.Transformations) != `[{"action":"strip_plus","direction":"any","operands":[]},{"action":"add_prefix","direction":"any","operands":["1"]}]` {
				t.Errorf("transformations %s", jsonOf(t, e.Transformations))
			}
		}},
		{"scalars replaced, null clears", Merge, `{"name":"new","capacity":"7","out_sip_username":null}`, func(t *testing.T, _, e *Endpoint) {
			if e.Name != "new" || e.Capacity != 7 || e.OutSIPUsername != nil {
				t.Errorf("got name %q capacity %d out_sip_username %v", e.Name, e.Capacity, e.OutSIPUsername)
			}
		}},
		{"read-only fields with their values", Merge, `{"type":"third_party","cps_limit":null,"partner_sid":"p-1"}`, func(t *testing.T, before, e *Endpoint) {
			if jsonOf(t, e) != jsonOf(t, before) {
				t.Errorf("changed: %s", jsonOf(t, e))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tp(t)
			snapshot := jsonOf(t, before)
			after, err := before.Update(admin, body(t, tt.body), tt.mode)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if jsonOf(t, before) != snapshot {
				t.Fatalf("Update modified the stored endpoint")
			}
			tt.check(t, before, after)
		})
	}
}

func TestUpdateRejects(t *testing.T) {
	conf := mustCreate(t, admin, `{"type":"conference","name":"c"}`)
	vm := mustCreate(t, admin, `{"type":"voicemail","name":"v"}`)
	tests := []struct {
		name   string
		target *Endpoint
		caller Caller
		mode   UpdateMode
		body   string
		want   []string
	}{
		{"read-only values", tp(t), admin, Merge, `{"endpoint_sid":"x","voip_token":null,"cps_limit":5,"type":"conference","partner_sid":"p-2"}`,
			[]string{"cps_limit: field is read-only", "endpoint_sid: field is read-only", "partner_sid: field is read-only", "type: field is read-only", "voip_token: field is read-only"}},
		{"put lists every missing field", tp(t), manager, Put, `{}`,
			[]string{"addresses: field is required", "attributes: field is required", "capacity: field is required", "name: field is required",
				"out_sip_password: field is required", "out_sip_username: field is required", "transformations: field is required"}},
		{"put on conference needs name and capacity", conf, manager, Put, `{}`, []string{"capacity: field is required", "name: field is required"}},
		{"put on voicemail needs properties too", vm, manager, Put, `{}`,
			[]string{"capacity: field is required", "name: field is required", "properties: field is required"}},
		{"hosted fields cannot change", conf, admin, Merge, `{"attributes":{"k":"v"},"addresses":[{"ip":"1.2.3.4"}],"properties":{"login":"x"}}`,
			[]string{"addresses: field cannot be updated for conference endpoints", "attributes: field cannot be updated for conference endpoints",
				"properties: field cannot be updated for conference endpoints"}},
		{"third party properties", tp(t), admin, Merge, `{"properties":{"callback_url":"https://x.test"}}`,
			[]string{"properties: field cannot be updated for third_party endpoints"}},
		{"replace with no addresses", tp(t), admin, Replace, `{"addresses":[]}`, []string{"addresses: at least one address is required"}},
		{"auth_required needs the scope, whatever its value", tp(t), manager, Merge, `{"auth_required":true}`,
			[]string{"auth_required: partner does not have permissions to set this value"}},
		{"voicemail property checks", vm, admin, Merge, `{"properties":{"callback_url":"ftp://x.test","greeting":"` + strings.Repeat("g", 1025) + `"}}`,
			[]string{"properties.callback_url: must be an absolute http or https URL", "properties.greeting: must be at most 1024 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.target.Update(tt.caller, body(t, tt.body), tt.mode)
			if got := fieldErrors(t, err); !slices.Equal(got, tt.want) {
				t.Fatalf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A GET-modify-PUT round trip of any type is accepted unchanged (§11.3).
func TestPutRoundTrip(t *testing.T) {
	for _, typ := range []string{"third_party", "conference", "conference_playback", "conference_v2", "flexml", "mediator", "voicemail"} {
		text := `{"type":"` + typ + `","name":"rt","capacity":3}`
		if typ == "third_party" {
			text = `{"type":"third_party","addresses":[{"ip":"10.0.0.1"}]}`
		}
		e := mustCreate(t, admin, text)
		got, err := e.Update(admin, body(t, jsonOf(t, e)), Put)
		if err != nil {
			t.Fatalf("%s: PUT of the object as read: %v", typ, err)
		}
		if !bytes.Equal([]byte(jsonOf(t, got)), []byte(jsonOf(t, e))) {
			t.Fatalf("%s: round trip changed the object:\n%s\n%s", typ, jsonOf(t, e), jsonOf(t, got))
		}
	}
}

func TestSystemGatewayIsReadOnly(t *testing.T) {
	g := NewSystemGateway("p-1", []IPPort{{IP: "192.0.2.1", Port: 5060}})
	_, err := g.Update(admin, body(t, `{"name":"mine"}`), Merge)
	if ErrorKindOf(err) != KindForbidden {
		t.Fatalf("updating a system gateway: expected 403, got %v", err)
	}
	if claims := g.SIPClaims(); len(claims) != 1 || claims[0] != (IPPort{"192.0.2.1", 5060}) {
		t.Fatalf("a system gateway claims its address: %v", claims)
	}
}

func TestSIPClaims(t *testing.T) {
	e := mustCreate(t, admin, `{"type":"third_party","auth_required":false,"addresses":[{"ip":"10.0.0.1"},{"ip":"10.0.0.1","transport":"tcp"},{"ip":"10.0.0.1","port":5070}]}`)
	if got := e.SIPClaims(); !slices.Equal(got, []IPPort{{"10.0.0.1", 5060}, {"10.0.0.1", 5070}}) {
		t.Fatalf("claims of an auth_required=false endpoint: %v", got)
	}
	e.AuthRequired = true
	if got := e.SIPClaims(); got != nil {
		t.Fatalf("an endpoint that authenticates claims nothing, got %v", got)
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"1.1.2.13", "1.1.2.13", true},
		{"2001:DB8:0:0:0:0:1:2", "2001:db8::1:2", true},
		{"PBX.example.COM.", "pbx.example.com", true},
		{"localhost", "localhost", true},
		{"999.1.1.1", "", false},
		{"not a host!", "", false},
		{"", "", false},
		{"2001:db8::g", "", false},
		{"fe80::1%eth0", "", false},
		{"-bad.example.com", "", false},
		{strings.Repeat("a", 64) + ".com", "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalHost(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalHost(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewLogin(t *testing.T) {
	for name, prefix := range map[string]string{"My Conf": "my_conf_", "N/A": "n_a_", "!!!": "endpoint_", "Ünïcode 9": "n_code_9_"} {
		if got := NewLogin(name, 0); !strings.HasPrefix(got, prefix) || len(got) != len(prefix)+4 {
			t.Errorf("NewLogin(%q) = %q, want %s and 4 digits", name, got, prefix)
		}
	}
	if got := NewLogin("x", 2); len(got) != len("x_")+8 {
		t.Errorf("a retry adds digits: %q", got)
	}
}

func TestScopes(t *testing.T) {
	s, err := ParseScopes("endpoints.manage, endpoints.read")
	if err != nil || !s.Allows(ScopeDelete) || s.Allows(ScopeManageAuthRequired) {
		t.Fatalf("manage allows every operation but auth_required: %v %v", s, err)
	}
	if _, err := ParseScopes("endpoints.everything"); err == nil {
		t.Fatal("an unknown scope must be refused")
	}
	read := Scopes{ScopeRead}
	if read.Covers(Scopes{ScopeManage}) || !s.Covers(read) {
		t.Fatal("Covers: a token never carries more than its partner")
	}
	err = Caller{Scopes: read}.Authorize(OpDelete)
	if ErrorKindOf(err) != KindForbidden || !strings.Contains(err.Error(), "endpoints.delete") {
		t.Fatalf("403 must name the scopes that allow the operation: %v", err)
	}
}
