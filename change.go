package switchboard

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// UpdateMode says how an update treats the body (§3).
type UpdateMode int

const (
	// Merge is the default PATCH: attributes and properties merge key by
	// key, addresses and transformations are appended unless already there.
	Merge UpdateMode = iota
	// Replace is PATCH ?nested_objects=replace: nested objects become
	// exactly the body's.
	Replace
	// Put is a full update: like Replace, and every field the type lets a
	// partner change must be present.
	Put
)

// ParseUpdateMode reads the nested_objects query argument of a PATCH.
func ParseUpdateMode(nestedObjects string) (UpdateMode, error) {
	switch nestedObjects {
	case "":
		return Merge, nil
	case "replace":
		return Replace, nil
	}
	return 0, BadRequest("nested_objects", "nested_objects must be \"replace\" or absent")
}

// changeable lists the fields a partner may change on an endpoint of type t
// (auth_required aside: it depends on the credential's scope). They are also
// the fields a PUT must hold.
func changeable(t EndpointType) []string {
	switch {
	case t == TypeThirdParty:
		return []string{"addresses", "attributes", "capacity", "name", "out_sip_password", "out_sip_username", "transformations"}
	case t == TypeVoicemail:
		return []string{"capacity", "name", "properties"}
	default:
		return []string{"capacity", "name"}
	}
}

// NewEndpointParams is what create needs besides the body.
type NewEndpointParams struct {
	PublicURL string // base of the api_url of hosted endpoints
}

// NewEndpoint validates a create body and returns the endpoint it describes,
// with every default filled and generated values set (§2–§4). Nothing is
// stored here.
func NewEndpoint(c Caller, body Body, params NewEndpointParams) (*Endpoint, error) {
	var p problems
	typ := EndpointType("")
	switch raw, present := body["type"]; {
	case !present:
		p.add("type", "field is required")
	default:
		s, ok := raw.(string)
		typ = EndpointType(s)
		switch {
		case !ok || !typ.Known():
			p.add("type", "must be one of: "+typeList())
			typ = ""
		case typ == TypeSystemGateway:
			p.add("type", "system_gateway endpoints cannot be created through the API")
			typ = ""
		}
	}
	e := &Endpoint{
		Addresses:       []Address{},
		Attributes:      map[string]string{},
		AuthRequired:    true,
		Name:            "N/A",
		PartnerSID:      c.PartnerSID,
		Properties:      Properties{},
		Transformations: []Transformation{},
		Type:            typ,
	}
	apply(&p, c, e, e.Clone(), body, Replace, true)
	if typ != "" {
		if typ.Hosted() {
			refuseOnHosted(&p, e)
		}
		if typ == TypeThirdParty && len(e.Properties) > 0 {
			p.add("properties", "third_party endpoints have no properties")
		}
		if _, generated := hostedAPIPaths[typ]; generated && len(e.Properties) > 0 {
			p.add("properties", "field is read-only")
		}
		if typ == TypeThirdParty && !p.has("addresses") && len(e.Addresses) == 0 {
			p.add("addresses", "at least one address is required")
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	e.EndpointSID = NewSID()
	if typ == TypeThirdParty {
		e.VoIPToken = ptr(NewSID())
	}
	if path, generated := hostedAPIPaths[typ]; generated {
		e.Properties = Properties{
			"account_sid":   ptr(NewSID()),
			"api_url":       ptr(params.PublicURL + path),
			"container_sid": nil,
			"login":         ptr(NewLogin(e.Name, 0)),
			"password":      ptr(NewPassword()),
		}
	}
	return e, nil
}

// refuseOnHosted reports the SIP fields a hosted endpoint cannot have.
func refuseOnHosted(p *problems, e *Endpoint) {
	msg := "field is not allowed for " + string(e.Type) + " endpoints"
	if len(e.Addresses) > 0 {
		p.add("addresses", msg)
	}
	if e.OutSIPUsername != nil && *e.OutSIPUsername != "" {
		p.add("out_sip_username", msg)
	}
	if e.OutSIPPassword != nil && *e.OutSIPPassword != "" {
		p.add("out_sip_password", msg)
	}
	// An empty string counts as "not given": keep it null.
	e.OutSIPUsername, e.OutSIPPassword = nil, nil
}

// Update validates an update body against the stored endpoint cur and
// returns the endpoint as it would be afterwards; cur is not modified.
func (cur *Endpoint) Update(c Caller, body Body, mode UpdateMode) (*Endpoint, error) {
	if cur.Type == TypeSystemGateway {
		return nil, Forbidden("system_gateway endpoints cannot be changed or deleted")
	}
	var p problems
	next := cur.Clone()
	apply(&p, c, next, cur, body, mode, false)

	allowed := changeable(cur.Type)
	if mode == Put {
		for _, f := range allowed {
			if _, present := body[f]; !present {
				p.add(f, "field is required")
			}
		}
	}
	// A field the type does not let a partner change is accepted only when
	// the result is what is stored (§11.3), so GET-modify-PUT round trips work.
	msg := "field cannot be updated for " + string(cur.Type) + " endpoints"
	for _, f := range []string{"addresses", "attributes", "out_sip_password", "out_sip_username", "properties", "transformations"} {
		if _, present := body[f]; present && !slices.Contains(allowed, f) && !p.has(f) && !sameField(f, next, cur) {
			p.add(f, msg)
		}
	}
	if cur.Type == TypeThirdParty && !p.has("addresses") && len(next.Addresses) == 0 {
		p.add("addresses", "at least one address is required")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return next, nil
}

func sameField(field string, a, b *Endpoint) bool {
	switch field {
	case "addresses":
		return slices.EqualFunc(a.Addresses, b.Addresses, Address.Equal)
	case "attributes":
		return maps.Equal(a.Attributes, b.Attributes)
	case "out_sip_password":
		return equalPtr(a.OutSIPPassword, b.OutSIPPassword)
	case "out_sip_username":
		return equalPtr(a.OutSIPUsername, b.OutSIPUsername)
	case "properties":
		return a.Properties.Equal(b.Properties)
	case "transformations":
		return slices.EqualFunc(a.Transformations, b.Transformations, Transformation.Equal)
	}
	return false
}

// apply writes the body's fields into next, reading nested objects per mode;
// cur is the stored endpoint (or, on create, the defaults) that read-only
// fields are compared with.
func apply(p *problems, c Caller, next, cur *Endpoint, body Body, mode UpdateMode, creating bool) {
	for key, v := range body {
		switch key {
		case "name":
			if s, ok := readString(p, key, v, 1, maxNameLen); ok {
				next.Name = s
			}
		case "capacity":
			if n, ok := readInt(p, key, v, 0, maxCapacity); ok {
				next.Capacity = n
			}
		case "auth_required":
			if !c.Scopes.Has(ScopeManageAuthRequired) {
				p.add(key, "partner does not have permissions to set this value")
			} else if b, ok := readBool(p, key, v); ok {
				next.AuthRequired = b
			}
		case "out_sip_username":
			if s, ok := readNullableString(p, key, v, maxSIPCredential); ok {
				next.OutSIPUsername = s
			}
		case "out_sip_password":
			if s, ok := readNullableString(p, key, v, maxSIPCredential); ok {
				next.OutSIPPassword = s
			}
		case "attributes":
			applyAttributes(p, next, v, mode)
		case "properties":
			applyProperties(p, next, v, mode)
		case "addresses":
			applyAddresses(p, next, v, mode)
		case "transformations":
			applyTransformations(p, next, v, mode)
		case "type":
			if !creating && v != string(cur.Type) {
				p.add(key, "field is read-only")
			}
		case "endpoint_sid", "partner_sid", "voip_token", "cps_limit":
			if !sameReadOnly(key, v, cur, creating) {
				p.add(key, "field is read-only")
			}
		case "partner":
			// Present in with_related=true answers; accepted back unchanged.
			if m, ok := v.(map[string]any); !ok || m["partner_sid"] != cur.PartnerSID {
				p.add(key, "field is read-only")
			}
		default:
			p.add(key, "unknown field")
		}
	}
}

// sameReadOnly reports whether v is the value the read-only field has (or,
// on create, will have: cps_limit and voip_token may be sent as null).
func sameReadOnly(field string, v any, cur *Endpoint, creating bool) bool {
	switch field {
	case "endpoint_sid":
		return !creating && v == cur.EndpointSID
	case "partner_sid":
		return v == cur.PartnerSID
	case "voip_token":
		if creating || cur.VoIPToken == nil {
			return v == nil
		}
		return v == *cur.VoIPToken
	case "cps_limit":
		if cur.CPSLimit == nil {
			return v == nil
		}
		n, ok := v.(json.Number)
		return ok && n.String() == strconv.FormatInt(*cur.CPSLimit, 10)
	}
	return false
}

func applyAttributes(p *problems, next *Endpoint, v any, mode UpdateMode) {
	set, removed, ok := readAttributes(p, v)
	if !ok {
		return
	}
	if mode == Merge {
		for _, k := range removed {
			delete(next.Attributes, k)
		}
		maps.Copy(next.Attributes, set)
	} else {
		next.Attributes = set
	}
	if len(next.Attributes) > maxAttributes {
		p.add("attributes", "at most "+strconv.Itoa(maxAttributes)+" attributes")
	}
}

func applyProperties(p *problems, next *Endpoint, v any, mode UpdateMode) {
	props, ok := readProperties(p, next.Type, v)
	if !ok {
		return
	}
	if mode == Merge {
		maps.Copy(next.Properties, props)
	} else {
		next.Properties = props
	}
}

func applyAddresses(p *problems, next *Endpoint, v any, mode UpdateMode) {
	if list, ok := applyList(p, "addresses", v, mode, maxAddresses, readAddress, Address.Equal, next.Addresses); ok {
		next.Addresses = list
	}
}

func applyTransformations(p *problems, next *Endpoint, v any, mode UpdateMode) {
	if list, ok := applyList(p, "transformations", v, mode, maxTransforms, readTransformation, Transformation.Equal, next.Transformations); ok {
		next.Transformations = list
	}
}

// applyList reads a nested array and returns the new list: the body's
// elements appended to cur unless an equal one is there (merge), or exactly
// the body's (replace).
func applyList[T any](p *problems, field string, v any, mode UpdateMode, maxLen int,
	read func(*problems, string, any) (T, bool), equal func(T, T) bool, cur []T) ([]T, bool) {
	items, ok := readArray(p, field, v, maxLen, field)
	if !ok {
		return nil, false
	}
	got := make([]T, 0, len(items))
	good := true
	for i, item := range items {
		x, ok := read(p, field+"["+strconv.Itoa(i)+"]", item)
		good = good && ok
		got = append(got, x)
	}
	if !good {
		return nil, false
	}
	if mode == Merge {
		merged := slices.Clone(cur)
		for _, x := range got {
			if !slices.ContainsFunc(merged, func(y T) bool { return equal(x, y) }) {
				merged = append(merged, x)
			}
		}
		got = merged
	}
	if len(got) > maxLen {
		p.add(field, "at most "+strconv.Itoa(maxLen)+" "+field)
		return nil, false
	}
	return got, true
}

// typeList names the types a partner can create, for error messages.
func typeList() string {
	var names []string
	for _, t := range EndpointTypes {
		if t != TypeSystemGateway {
			names = append(names, string(t))
		}
	}
	return strings.Join(names, ", ")
}
