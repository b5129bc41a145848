package switchboard

import (
	"slices"
	"strings"
)

// EndpointType is the kind of an endpoint (§4 of the spec).
type EndpointType string

const (
	TypeThirdParty         EndpointType = "third_party"
	TypeSystemGateway      EndpointType = "system_gateway"
	TypeConference         EndpointType = "conference"
	TypeConferencePlayback EndpointType = "conference_playback"
	TypeConferenceV2       EndpointType = "conference_v2"
	TypeFlexML             EndpointType = "flexml"
	TypeMediator           EndpointType = "mediator"
	TypeVoicemail          EndpointType = "voicemail"
)

// TypeRules are the rules of one endpoint type (§4). Every way in which
// types differ is a field here, so that a new type is one row of typeTable
// and code asks the row, never `typ == ...`.
type TypeRules struct {
	Type EndpointType
	// Creatable: partners create endpoints of this type through the API.
	Creatable bool
	// Fixed: no partner may change or delete an endpoint of this type.
	Fixed bool
	// Hosted: an application hosted by the platform, without SIP addresses
	// or outbound credentials of its own.
	Hosted bool
	// SIPTrunk: the partner configures its SIP side (addresses, of which it
	// needs at least one, outbound credentials, transformations, attributes).
	SIPTrunk bool
	// VoIPToken: create gives it a voip_token.
	VoIPToken bool
	// APIPath, when set, makes create generate the hosted application's
	// properties (hostedAppProperties), read-only afterwards, with api_url
	// at this path under the public URL.
	APIPath string
	// Properties are the properties a partner may set, with their checks;
	// nil: none (besides generated ones).
	Properties map[string]propertyReader
	// SharedClaims: every partner's endpoint of this type holds the same
	// addresses, so they share their claims under the duplicate-IP rule
	// instead of conflicting with each other.
	SharedClaims bool
}

// propertyReader checks one settable property's value.
type propertyReader func(p *problems, field string, v any) (*string, bool)

// typeTable has one row per type, in the order error messages name them.
var typeTable = []TypeRules{
	{Type: TypeConference, Creatable: true, Hosted: true, APIPath: "/conference/v1"},
	{Type: TypeConferencePlayback, Creatable: true, Hosted: true, APIPath: "/conference/v1"},
	{Type: TypeConferenceV2, Creatable: true, Hosted: true, APIPath: "/conference/v2"},
	{Type: TypeFlexML, Creatable: true, Hosted: true, APIPath: "/flexml/v1"},
	{Type: TypeMediator, Creatable: true, Hosted: true, APIPath: "/mediator/v1"},
	{Type: TypeSystemGateway, Fixed: true, SharedClaims: true},
	{Type: TypeThirdParty, Creatable: true, SIPTrunk: true, VoIPToken: true},
	{Type: TypeVoicemail, Creatable: true, Hosted: true, Properties: voicemailProperties},
}

// EndpointTypes lists every type, in the order error messages name them.
var EndpointTypes = typeNames()

func typeNames() []EndpointType {
	out := make([]EndpointType, len(typeTable))
	for i, r := range typeTable {
		out[i] = r.Type
	}
	return out
}

// Types returns the type table.
func Types() []TypeRules { return slices.Clone(typeTable) }

// Rules returns the rules of type t; ok is false for a type §4 does not know.
func (t EndpointType) Rules() (r TypeRules, ok bool) {
	for _, r := range typeTable {
		if r.Type == t {
			return r, true
		}
	}
	return TypeRules{}, false
}

// Known reports whether t is one of the types of §4.
func (t EndpointType) Known() bool {
	_, ok := t.Rules()
	return ok
}

// Hosted reports whether the type is an application hosted by the platform
// (no SIP addresses or outbound credentials of its own).
func (t EndpointType) Hosted() bool {
	r, _ := t.Rules()
	return r.Hosted
}

// Changeable lists the fields a partner may change on an endpoint of this
// type (from the field table); those needing no scope of their own are the
// fields a PUT must hold.
func (r TypeRules) Changeable() []string {
	var out []string
	for _, f := range fieldTable {
		if f.ChangeableOn(r) {
			out = append(out, f.Name)
		}
	}
	return out
}

// hostedAppProperties are the generated properties of a hosted application
// endpoint named name.
func (r TypeRules) hostedAppProperties(name string, params NewEndpointParams) Properties {
	return Properties{
		"account_sid":   ptr(NewSID()),
		"api_url":       ptr(params.PublicURL + r.APIPath),
		"container_sid": nil,
		"login":         ptr(NewLogin(name, 0)),
		"password":      ptr(NewPassword()),
	}
}

// CheckDelete returns the refusal to delete e, or nil when a partner may.
func (e *Endpoint) CheckDelete() error {
	if r, _ := e.Type.Rules(); r.Fixed {
		return Forbidden(string(e.Type) + " endpoints cannot be changed or deleted")
	}
	return nil
}

// creatableTypes names the types a partner can create, for error messages.
func creatableTypes() string {
	var names []string
	for _, r := range typeTable {
		if r.Creatable {
			names = append(names, string(r.Type))
		}
	}
	return strings.Join(names, ", ")
}
