package switchboard

import (
	"maps"
	"slices"
	"strconv"
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

// NewEndpointParams is what create needs besides the body.
type NewEndpointParams struct {
	PublicURL string // base of the api_url of hosted endpoints
}

// NewEndpoint validates a create body and returns the endpoint it describes,
// with every default filled and generated values set (§2–§4). Nothing is
// stored here.
func NewEndpoint(c Caller, body Body, params NewEndpointParams) (*Endpoint, error) {
	var p problems
	var rules TypeRules // of the type, once it is known and creatable
	switch raw, present := body["type"]; {
	case !present:
		p.add("type", "field is required")
	default:
		s, ok := raw.(string)
		r, known := EndpointType(s).Rules()
		switch {
		case !ok || !known:
			p.add("type", "must be one of: "+creatableTypes())
		case !r.Creatable:
			p.add("type", s+" endpoints cannot be created through the API")
		default:
			rules = r
		}
	}
	typ := rules.Type
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
		if rules.Hosted {
			refuseOnHosted(&p, e)
		}
		switch {
		case len(e.Properties) == 0:
		case rules.APIPath != "":
			p.add("properties", "field is read-only")
		case rules.Properties == nil:
			p.add("properties", string(typ)+" endpoints have no properties")
		}
		if rules.SIPTrunk && !p.has("addresses") && len(e.Addresses) == 0 {
			p.add("addresses", "at least one address is required")
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	e.EndpointSID = NewSID()
	if rules.VoIPToken {
		e.VoIPToken = ptr(NewSID())
	}
	if rules.APIPath != "" {
		e.Properties = rules.hostedAppProperties(e.Name, params)
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
	rules, _ := cur.Type.Rules()
	if rules.Fixed {
		return nil, Forbidden(string(cur.Type) + " endpoints cannot be changed or deleted")
	}
	var p problems
	next := cur.Clone()
	apply(&p, c, next, cur, body, mode, false)

	// A field the type does not let a partner change is accepted only when
	// the result is what is stored (§11.3), so GET-modify-PUT round trips work.
	msg := "field cannot be updated for " + string(cur.Type) + " endpoints"
	for _, f := range fieldTable {
		if f.ReadOnly {
			continue
		}
		_, present := body[f.Name]
		switch changeable := f.ChangeableOn(rules); {
		case mode == Put && changeable && f.Scope == "" && !present:
			p.add(f.Name, "field is required")
		case present && !changeable && !p.has(f.Name) && !f.same(next, cur):
			p.add(f.Name, msg)
		}
	}
	if rules.SIPTrunk && !p.has("addresses") && len(next.Addresses) == 0 {
		p.add("addresses", "at least one address is required")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return next, nil
}

// apply writes the body's fields into next, reading nested objects per mode;
// cur is the stored endpoint (or, on create, the defaults) that read-only
// fields are compared with.
func apply(p *problems, c Caller, next, cur *Endpoint, body Body, mode UpdateMode, creating bool) {
	in := &input{next: next, cur: cur, mode: mode, creating: creating}
	for key, v := range body {
		f, known := FieldByName(key)
		switch {
		case !known:
			p.add(key, "unknown field")
		case f.Scope != "" && !c.Scopes.Has(f.Scope):
			p.add(key, "partner does not have permissions to set this value")
		case f.ReadOnly:
			if !f.holds(in, v) {
				p.add(key, "field is read-only")
			}
		default:
			f.read(p, in, v)
		}
	}
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
