package filter

import "strings"

// testSchema is an endpoint-like schema for the language's own tests (the
// domain's, which switchboard derives from its field table, is tested
// there): scalars of each kind, nullable or not, two lists, two keyed
// objects and secrets at each level.
var testSchema = &Schema{
	Fields: map[string]Scalar{
		"endpoint_sid": {Kind: String}, "name": {Kind: String}, "type": {Kind: String},
		"capacity": {Kind: Integer}, "cps_limit": {Kind: Integer, Nullable: true}, "partner_sid": {Kind: String},
		"voip_token": {Kind: String, Nullable: true}, "auth_required": {Kind: Boolean}, "out_sip_username": {Kind: String, Nullable: true},
	},
	Lists: map[string]map[string]Scalar{
		"addresses": {
			"direction": {Kind: String}, "dst_port": {Kind: Integer}, "ip": {Kind: String, Canonical: strings.ToLower},
			"location_sid": {Kind: String, Nullable: true}, "port": {Kind: Integer}, "priority": {Kind: Integer},
			"sip_username": {Kind: String, Nullable: true}, "srtp": {Kind: Boolean}, "transport": {Kind: String},
		},
		"transformations": {"action": {Kind: String}, "direction": {Kind: String}, "operands": {Kind: String, Many: true}},
	},
	Keyed:   map[string]bool{"attributes": true, "properties": true},
	Secrets: map[string]bool{"out_sip_password": true, "addresses.sip_password": true, "properties.password": true},
}
