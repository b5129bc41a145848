package switchboard

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// FieldKind is the JSON type of a field's values.
type FieldKind int

const (
	FieldText FieldKind = iota + 1
	FieldInteger
	FieldBoolean
	FieldList   // an array of objects (addresses, transformations)
	FieldObject // an object of keys to values (attributes, properties)
)

// EndpointField describes one top-level field of an Endpoint as written in
// JSON: everything the domain, the filter, the store and the API
// description need to know of it, so that a new field is one row of
// fieldTable (and a column, and its line in httpapi/openapi.json).
type EndpointField struct {
	Name     string
	Kind     FieldKind
	Nullable bool
	// Secret: never filtered or ordered on (§9).
	Secret bool
	// ReadOnly: the server sets it; a body may hold it only with the value
	// it has (or, on create, will have).
	ReadOnly  bool
	Orderable bool
	// Filterable: list filters may name it (§7); a list's element fields
	// and an object's keys are then filterable too (Parts says which and
	// how).
	Filterable bool
	// Parts are the fields inside a list's elements, or the keys of an
	// object that have rules of their own (a secret).
	Parts []FieldPart
	// Related: not stored; written with with_related=true (partner).
	Related bool
	// Scope, when set, is needed to send the field at all; PUT never
	// requires such a field.
	Scope Scope
	// Ptr returns the address of the field in e (nil for a Related field):
	// *string, **string, *int64, **int64, *bool, *EndpointType or the nested
	// type.
	Ptr func(e *Endpoint) any

	// changeableOn says on which types a partner may change the field; nil:
	// on none.
	changeableOn func(TypeRules) bool
	// read checks a body's value and writes it into in.next (fields that
	// are not ReadOnly).
	read func(p *problems, in *input, v any)
	// holds reports whether v is the value a ReadOnly field has.
	holds func(in *input, v any) bool
	// same reports whether the field is equal in a and b (fields that are
	// not ReadOnly), for §11.3.
	same func(a, b *Endpoint) bool
}

// FieldPart is a field inside a nested field: an element field of a list
// (addresses.ip), or a key of an object (properties.password).
type FieldPart struct {
	Name string
	// Kind is FieldText, FieldInteger or FieldBoolean, or FieldList for a
	// list of text (transformations.operands).
	Kind     FieldKind
	Nullable bool
	Secret   bool
	// Canonical writes a value the way it is stored, so that a filter's
	// value compares with the stored one (the host canonicaliser of
	// validation for addresses.ip).
	Canonical func(string) string
}

// input is what reading one body needs besides the value.
type input struct {
	next, cur *Endpoint // cur is the stored endpoint, or on create the defaults
	mode      UpdateMode
	creating  bool
}

// ChangeableOn reports whether a partner may change the field on an
// endpoint with the rules r.
func (f EndpointField) ChangeableOn(r TypeRules) bool {
	return f.changeableOn != nil && f.changeableOn(r)
}

// Changeable reports whether a partner may change the field on some type:
// an update rewrites only these.
func (f EndpointField) Changeable() bool {
	return slices.ContainsFunc(typeTable, f.ChangeableOn)
}

func everyType(TypeRules) bool       { return true }
func sipTrunks(r TypeRules) bool     { return r.SIPTrunk }
func settableProps(r TypeRules) bool { return r.Properties != nil }

// fieldTable describes every top-level field, in the order of their JSON
// names.
var fieldTable = []EndpointField{
	{
		Name: "addresses", Kind: FieldList, Filterable: true, changeableOn: sipTrunks,
		Parts: []FieldPart{
			{Name: "direction", Kind: FieldText}, {Name: "dst_port", Kind: FieldInteger},
			{Name: "ip", Kind: FieldText, Canonical: canonicalOrAsWritten}, {Name: "location_sid", Kind: FieldText, Nullable: true},
			{Name: "port", Kind: FieldInteger}, {Name: "priority", Kind: FieldInteger}, {Name: "sip_password", Kind: FieldText, Nullable: true, Secret: true},
			{Name: "sip_username", Kind: FieldText, Nullable: true}, {Name: "srtp", Kind: FieldBoolean}, {Name: "transport", Kind: FieldText},
		},
		Ptr:  func(e *Endpoint) any { return &e.Addresses },
		read: func(p *problems, in *input, v any) { applyAddresses(p, in.next, v, in.mode) },
		same: func(a, b *Endpoint) bool { return slices.EqualFunc(a.Addresses, b.Addresses, Address.Equal) },
	},
	{
		Name: "attributes", Kind: FieldObject, Filterable: true, changeableOn: sipTrunks,
		Ptr:  func(e *Endpoint) any { return &e.Attributes },
		read: func(p *problems, in *input, v any) { applyAttributes(p, in.next, v, in.mode) },
		same: func(a, b *Endpoint) bool { return maps.Equal(a.Attributes, b.Attributes) },
	},
	{
		Name: "auth_required", Kind: FieldBoolean, Orderable: true, Filterable: true,
		Scope: ScopeManageAuthRequired, changeableOn: everyType,
		Ptr: func(e *Endpoint) any { return &e.AuthRequired },
		read: func(p *problems, in *input, v any) {
			if b, ok := readBool(p, "auth_required", v); ok {
				in.next.AuthRequired = b
			}
		},
		same: func(a, b *Endpoint) bool { return a.AuthRequired == b.AuthRequired },
	},
	{
		Name: "capacity", Kind: FieldInteger, Orderable: true, Filterable: true, changeableOn: everyType,
		Ptr: func(e *Endpoint) any { return &e.Capacity },
		read: func(p *problems, in *input, v any) {
			if n, ok := readInt(p, "capacity", v, 0, maxCapacity); ok {
				in.next.Capacity = n
			}
		},
		same: func(a, b *Endpoint) bool { return a.Capacity == b.Capacity },
	},
	{
		// cps_limit may be sent as null on create.
		Name: "cps_limit", Kind: FieldInteger, Nullable: true, ReadOnly: true, Orderable: true, Filterable: true,
		Ptr: func(e *Endpoint) any { return &e.CPSLimit },
		holds: func(in *input, v any) bool {
			if in.cur.CPSLimit == nil {
				return v == nil
			}
			n, ok := v.(json.Number)
			return ok && n.String() == strconv.FormatInt(*in.cur.CPSLimit, 10)
		},
	},
	{
		Name: "endpoint_sid", Kind: FieldText, ReadOnly: true, Orderable: true, Filterable: true,
		Ptr:   func(e *Endpoint) any { return &e.EndpointSID },
		holds: func(in *input, v any) bool { return !in.creating && v == any(in.cur.EndpointSID) },
	},
	{
		Name: "name", Kind: FieldText, Orderable: true, Filterable: true, changeableOn: everyType,
		Ptr: func(e *Endpoint) any { return &e.Name },
		read: func(p *problems, in *input, v any) {
			if s, ok := readString(p, "name", v, 1, maxNameLen); ok {
				in.next.Name = s
			}
		},
		same: func(a, b *Endpoint) bool { return a.Name == b.Name },
	},
	{
		Name: "out_sip_password", Kind: FieldText, Nullable: true, Secret: true, changeableOn: sipTrunks,
		Ptr: func(e *Endpoint) any { return &e.OutSIPPassword },
		read: func(p *problems, in *input, v any) {
			if s, ok := readNullableString(p, "out_sip_password", v, maxSIPCredential); ok {
				in.next.OutSIPPassword = s
			}
		},
		same: func(a, b *Endpoint) bool { return equalPtr(a.OutSIPPassword, b.OutSIPPassword) },
	},
	{
		Name: "out_sip_username", Kind: FieldText, Nullable: true, Orderable: true, Filterable: true, changeableOn: sipTrunks,
		Ptr: func(e *Endpoint) any { return &e.OutSIPUsername },
		read: func(p *problems, in *input, v any) {
			if s, ok := readNullableString(p, "out_sip_username", v, maxSIPCredential); ok {
				in.next.OutSIPUsername = s
			}
		},
		same: func(a, b *Endpoint) bool { return equalPtr(a.OutSIPUsername, b.OutSIPUsername) },
	},
	{
		// Present in with_related=true answers; accepted back unchanged.
		Name: "partner", Kind: FieldObject, ReadOnly: true, Related: true,
		holds: func(in *input, v any) bool {
			m, ok := v.(map[string]any)
			return ok && m["partner_sid"] == any(in.cur.PartnerSID)
		},
	},
	{
		// partner_sid may be the caller's own on create.
		Name: "partner_sid", Kind: FieldText, ReadOnly: true, Orderable: true, Filterable: true,
		Ptr:   func(e *Endpoint) any { return &e.PartnerSID },
		holds: func(in *input, v any) bool { return v == any(in.cur.PartnerSID) },
	},
	{
		Name: "properties", Kind: FieldObject, Filterable: true, changeableOn: settableProps,
		Parts: []FieldPart{{Name: "password", Kind: FieldText, Nullable: true, Secret: true}},
		Ptr:   func(e *Endpoint) any { return &e.Properties },
		read:  func(p *problems, in *input, v any) { applyProperties(p, in.next, v, in.mode) },
		same:  func(a, b *Endpoint) bool { return a.Properties.Equal(b.Properties) },
	},
	{
		Name: "transformations", Kind: FieldList, Filterable: true, changeableOn: sipTrunks,
		Parts: []FieldPart{{Name: "action", Kind: FieldText}, {Name: "direction", Kind: FieldText}, {Name: "operands", Kind: FieldList}},
		Ptr:   func(e *Endpoint) any { return &e.Transformations },
		read:  func(p *problems, in *input, v any) { applyTransformations(p, in.next, v, in.mode) },
		same: func(a, b *Endpoint) bool {
			return slices.EqualFunc(a.Transformations, b.Transformations, Transformation.Equal)
		},
	},
	{
		// Set on create (NewEndpoint reads it first), read-only afterwards.
		Name: "type", Kind: FieldText, Orderable: true, Filterable: true,
		Ptr: func(e *Endpoint) any { return &e.Type },
		read: func(p *problems, in *input, v any) {
			if !in.creating && v != any(string(in.cur.Type)) {
				p.add("type", "field is read-only")
			}
		},
		same: func(a, b *Endpoint) bool { return a.Type == b.Type },
	},
	{
		// voip_token may be sent as null on create.
		Name: "voip_token", Kind: FieldText, Nullable: true, ReadOnly: true, Orderable: true, Filterable: true,
		Ptr: func(e *Endpoint) any { return &e.VoIPToken },
		holds: func(in *input, v any) bool {
			if in.creating || in.cur.VoIPToken == nil {
				return v == nil
			}
			return v == any(*in.cur.VoIPToken)
		},
	},
}

// fieldIndex finds a row of fieldTable by name.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, len(fieldTable))
	for i, f := range fieldTable {
		m[f.Name] = i
	}
	return m
}()

// Fields returns the field table.
func Fields() []EndpointField { return slices.Clone(fieldTable) }

// FieldByName returns the row of a top-level field.
func FieldByName(name string) (EndpointField, bool) {
	i, ok := fieldIndex[name]
	if !ok {
		return EndpointField{}, false
	}
	return fieldTable[i], true
}

// OrderFields are the fields a list may be ordered by.
var OrderFields = fieldNames(func(f EndpointField) bool { return f.Orderable })

// Orderable reports whether a list can be ordered by field.
func Orderable(field string) bool {
	f, ok := FieldByName(field)
	return ok && f.Orderable
}

func fieldNames(keep func(EndpointField) bool) []string {
	var out []string
	for _, f := range fieldTable {
		if keep(f) {
			out = append(out, f.Name)
		}
	}
	return out
}
