// Package switchboard holds the domain of the CarrierX Endpoints API: the
// Endpoint and its parts, their validation, the rules of each endpoint type,
// and the semantics of create, PATCH and PUT. It knows nothing of HTTP or SQL;
// the packages below it (httpapi, sqlstore, filter) and cmd/switchboard do.
//
// Two tables hold what differs between fields and between types:
// fieldTable (fieldtable.go) has a row per top-level field, typeTable
// (typetable.go) a row per endpoint type. Validation, the store's columns,
// the orderable fields and the names include_fields accepts come from them;
// tests tie the filter's allow-list and httpapi/openapi.json to them.
package switchboard

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// Endpoint is a voice endpoint owned by a partner. Its fields are declared in
// alphabetical order of their JSON names because CarrierX writes object keys
// in that order and encoding/json follows declaration order.
type Endpoint struct {
	// ID is the store's creation sequence number: never shown to clients,
	// it orders lists and breaks ties.
	ID int64 `json:"-"`

	Addresses       []Address         `json:"addresses"`
	Attributes      map[string]string `json:"attributes"`
	AuthRequired    bool              `json:"auth_required"`
	Capacity        int64             `json:"capacity"`
	CPSLimit        *int64            `json:"cps_limit"`
	EndpointSID     string            `json:"endpoint_sid"`
	Name            string            `json:"name"`
	OutSIPPassword  *string           `json:"out_sip_password"`
	OutSIPUsername  *string           `json:"out_sip_username"`
	PartnerSID      string            `json:"partner_sid"`
	Properties      Properties        `json:"properties"`
	Transformations []Transformation  `json:"transformations"`
	Type            EndpointType      `json:"type"`
	VoIPToken       *string           `json:"voip_token"`
}

// Properties are the type-specific settings of an endpoint; every value is a
// string or null.
type Properties map[string]*string

// Login is the generated login of a hosted endpoint, or "" when it has none.
func (p Properties) Login() string {
	if v := p["login"]; v != nil {
		return *v
	}
	return ""
}

// Address is one SIP address of a third_party (or system_gateway) endpoint.
type Address struct {
	Direction   string  `json:"direction"`
	DstPort     int64   `json:"dst_port"`
	IP          string  `json:"ip"`
	LocationSID *string `json:"location_sid"`
	Port        int64   `json:"port"`
	Priority    int64   `json:"priority"`
	SIPPassword *string `json:"sip_password"`
	SIPUsername *string `json:"sip_username"`
	SRTP        bool    `json:"srtp"`
	Transport   string  `json:"transport"`
}

// Transformation is one number or header rewriting step of an endpoint.
type Transformation struct {
	Action    string   `json:"action"`
	Direction string   `json:"direction"`
	Operands  []string `json:"operands"`
}

// Equal reports whether two addresses are the same in every field.
func (a Address) Equal(b Address) bool {
	return a.Direction == b.Direction && a.DstPort == b.DstPort && a.IP == b.IP &&
		equalPtr(a.LocationSID, b.LocationSID) && a.Port == b.Port && a.Priority == b.Priority &&
		equalPtr(a.SIPPassword, b.SIPPassword) && equalPtr(a.SIPUsername, b.SIPUsername) &&
		a.SRTP == b.SRTP && a.Transport == b.Transport
}

// Equal reports whether two transformations are the same in every field.
func (t Transformation) Equal(u Transformation) bool {
	return t.Action == u.Action && t.Direction == u.Direction && slices.Equal(t.Operands, u.Operands)
}

// Equal reports whether two property sets hold the same keys and values.
func (p Properties) Equal(q Properties) bool {
	return maps.EqualFunc(p, q, equalPtr[string])
}

// Clone returns a deep copy, so that an update can be computed without
// touching the stored object.
func (e *Endpoint) Clone() *Endpoint {
	c := *e
	c.Addresses = slices.Clone(e.Addresses)
	c.Attributes = maps.Clone(e.Attributes)
	c.Properties = maps.Clone(e.Properties)
	c.Transformations = make([]Transformation, len(e.Transformations))
	for i, t := range e.Transformations {
		t.Operands = slices.Clone(t.Operands)
		c.Transformations[i] = t
	}
	return &c
}

// SIPClaims lists the distinct (ip, port) pairs that the endpoint holds
// exclusively under the duplicate-IP rule (§5): none unless it skips SIP
// authentication. They are sorted, so that concurrent writers take them in
// one order and cannot deadlock.
func (e *Endpoint) SIPClaims() []IPPort {
	if e.AuthRequired {
		return nil
	}
	var out []IPPort
	for _, a := range e.Addresses {
		c := IPPort{IP: a.IP, Port: a.Port}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b IPPort) int {
		return cmp.Or(strings.Compare(a.IP, b.IP), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// IPPort is an address's IP (canonical form) and port.
type IPPort struct {
	IP   string
	Port int64
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func ptr[T any](v T) *T { return &v }
