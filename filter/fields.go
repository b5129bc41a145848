package filter

import (
	"regexp"
	"strings"
)

// Kind is the type of a field's values.
type Kind int

const (
	String Kind = iota
	Integer
	Boolean
)

func (k Kind) String() string { return [...]string{"a string", "an integer", "true or false"}[k] }

// Group says where a field lives in an endpoint.
type Group int

const (
	TopLevel         Group = iota // a column of endpoints
	Address                       // some element of addresses
	Transformation                // some element of transformations
	Attribute                     // attributes.<key>; absent is null
	Property                      // properties.<key>; absent is null
	TransformOperand              // some operand of some transformation
)

// Field is a filterable field, resolved from its dotted name.
type Field struct {
	Name     string // as written in the filter, e.g. "addresses.ip"
	Group    Group
	Key      string // the column, element key, attribute or property name
	Kind     Kind
	Nullable bool
}

type fieldDef struct {
	kind     Kind
	nullable bool
}

var topLevelFields = map[string]fieldDef{
	"endpoint_sid": {String, false}, "name": {String, false}, "type": {String, false},
	"capacity": {Integer, false}, "cps_limit": {Integer, true}, "partner_sid": {String, false},
	"voip_token": {String, true}, "auth_required": {Boolean, false}, "out_sip_username": {String, true},
}

var addressFields = map[string]fieldDef{
	"direction": {String, false}, "dst_port": {Integer, false}, "ip": {String, false},
	"location_sid": {String, true}, "port": {Integer, false}, "priority": {Integer, false},
	"sip_username": {String, true}, "srtp": {Boolean, false}, "transport": {String, false},
}

var transformationFields = map[string]fieldDef{"action": {String, false}, "direction": {String, false}, "operands": {String, false}}

// secrets cannot be filtered on (§9).
var secrets = map[string]bool{"out_sip_password": true, "addresses.sip_password": true, "properties.password": true}

var keyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// resolveField looks a dotted name up in the allow-list.
func resolveField(name string, pos int) (Field, error) {
	if secrets[name] {
		return Field{}, errorf(pos, "%q cannot be filtered on (it is a secret)", name)
	}
	head, rest, nested := strings.Cut(name, ".")
	unknown := errorf(pos, "unknown field %q", name)
	if !nested {
		d, ok := topLevelFields[name]
		if !ok {
			return Field{}, unknown
		}
		return Field{Name: name, Group: TopLevel, Key: name, Kind: d.kind, Nullable: d.nullable}, nil
	}
	switch head {
	case "addresses", "transformations":
		defs, group := addressFields, Address
		if head == "transformations" {
			defs, group = transformationFields, Transformation
		}
		d, ok := defs[rest]
		if !ok {
			return Field{}, unknown
		}
		if rest == "operands" {
			group = TransformOperand
		}
		return Field{Name: name, Group: group, Key: rest, Kind: d.kind, Nullable: d.nullable}, nil
	case "attributes", "properties":
		if !keyRE.MatchString(rest) {
			return Field{}, errorf(pos, "%s keys are 1 to 64 letters, digits, _ and -, got %q", head, rest)
		}
		group := Attribute
		if head == "properties" {
			group = Property
		}
		return Field{Name: name, Group: group, Key: rest, Kind: String, Nullable: true}, nil
	}
	return Field{}, unknown
}
