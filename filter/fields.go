package filter

import "strings"

// Kind is the type of a field's values.
type Kind int

const (
	String Kind = iota
	Integer
	Boolean
)

func (k Kind) String() string {
	switch k {
	case Integer:
		return "an integer"
	case Boolean:
		return "true or false"
	}
	return "text"
}

// Group says where a field lives in an endpoint, which decides how Match
// reaches it and what SQL reads it.
type Group int

const (
	TopLevel         Group = iota // a column of endpoints
	Address                       // some element of addresses
	Transformation                // some element of transformations
	TransformOperand              // some operand of some transformation
	Attribute                     // attributes.<key>; an absent key is null
	Property                      // properties.<key>; an absent key is null
)

// Field is a filterable field, resolved from its dotted name.
type Field struct {
	Name     string // as written, e.g. "addresses.ip"
	Group    Group
	Key      string // the column, element key, attribute or property name
	Kind     Kind
	Nullable bool
}

type fieldDef struct {
	kind     Kind
	nullable bool
}

// The allow-list (§7). Keys double as column names, so only these ever
// reach the SQL text.
var (
	topLevelFields = map[string]fieldDef{
		"endpoint_sid": {String, false}, "name": {String, false}, "type": {String, false},
		"capacity": {Integer, false}, "cps_limit": {Integer, true}, "partner_sid": {String, false},
		"voip_token": {String, true}, "auth_required": {Boolean, false}, "out_sip_username": {String, true},
	}
	addressFields = map[string]fieldDef{
		"direction": {String, false}, "dst_port": {Integer, false}, "ip": {String, false},
		"location_sid": {String, true}, "port": {Integer, false}, "priority": {Integer, false},
		"sip_username": {String, true}, "srtp": {Boolean, false}, "transport": {String, false},
	}
	transformationFields = map[string]fieldDef{
		"action": {String, false}, "direction": {String, false}, "operands": {String, false},
	}
	// secrets cannot be filtered on (§9); their values never reach a message.
	secrets = map[string]bool{"out_sip_password": true, "addresses.sip_password": true, "properties.password": true}
)

// validKey reports whether s is an attribute or property key the language
// accepts: 1 to 64 ASCII letters, digits, _ and -.
func validKey(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// resolveField looks a dotted name up in the allow-list.
func resolveField(name string, pos int) (Field, error) {
	if secrets[name] {
		return Field{}, errorf(pos, "%q cannot be filtered on (secret)", name)
	}
	head, key, dotted := strings.Cut(name, ".")
	if !dotted {
		if d, ok := topLevelFields[name]; ok {
			return Field{Name: name, Group: TopLevel, Key: name, Kind: d.kind, Nullable: d.nullable}, nil
		}
		switch name {
		case "addresses", "transformations", "attributes", "properties":
			return Field{}, errorf(pos, "unknown field %q (name one of its fields: %s.<field>)", name, name)
		}
		return Field{}, errorf(pos, "unknown field %s", quote(name))
	}
	var (
		d     fieldDef
		ok    bool
		group Group
	)
	switch head {
	case "addresses":
		d, ok = addressFields[key]
		group = Address
	case "transformations":
		d, ok = transformationFields[key]
		group = Transformation
		if key == "operands" {
			group = TransformOperand
		}
	case "attributes", "properties":
		if !validKey(key) {
			return Field{}, errorf(pos, "%s keys are 1 to 64 letters, digits, _ and -, got %s", head, quote(key))
		}
		d, ok, group = fieldDef{String, true}, true, Attribute
		if head == "properties" {
			group = Property
		}
	}
	if !ok {
		return Field{}, errorf(pos, "unknown field %s", quote(name))
	}
	return Field{Name: name, Group: group, Key: key, Kind: d.kind, Nullable: d.nullable}, nil
}
