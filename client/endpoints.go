package client

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"maps"
	"net/url"
	"slices"
	"strconv"
)

// EndpointType is the kind of an endpoint.
type EndpointType string

const (
	TypeThirdParty         EndpointType = "third_party" // a SIP trunk: addresses of its own
	TypeConference         EndpointType = "conference"
	TypeConferencePlayback EndpointType = "conference_playback"
	TypeConferenceV2       EndpointType = "conference_v2"
	TypeFlexML             EndpointType = "flexml"
	TypeMediator           EndpointType = "mediator"
	TypeVoicemail          EndpointType = "voicemail"
	TypeSystemGateway      EndpointType = "system_gateway" // read-only; the platform creates it
)

// Endpoint is an endpoint as the API answers it. Its fields mirror the
// JSON object; the comments note what the server decides.
type Endpoint struct {
	Addresses       []Address          `json:"addresses"`
	Attributes      map[string]string  `json:"attributes"`
	AuthRequired    bool               `json:"auth_required"`
	Capacity        int64              `json:"capacity"`  // 0: unlimited
	CPSLimit        *int64             `json:"cps_limit"` // read-only; nil: unlimited
	EndpointSID     string             `json:"endpoint_sid"`
	Name            string             `json:"name"`
	OutSIPPassword  *string            `json:"out_sip_password"`
	OutSIPUsername  *string            `json:"out_sip_username"`
	Partner         *Partner           `json:"partner,omitempty"` // only with WithRelated
	PartnerSID      string             `json:"partner_sid"`
	Properties      map[string]*string `json:"properties"` // by type: generated (login, password, api_url, …) or voicemail settings
	Transformations []Transformation   `json:"transformations"`
	Type            EndpointType       `json:"type"`
	VoIPToken       *string            `json:"voip_token"` // third_party only
}

// Partner is the owner of an endpoint, as WithRelated adds it.
type Partner struct {
	Name       string `json:"name"`
	PartnerSID string `json:"partner_sid"`
}

// Address is one SIP address of a third_party endpoint. A zero field is
// not sent, so the server's default applies: direction "any", port and
// dst_port 5060, priority 0, transport "udp", srtp false.
type Address struct {
	Direction   string  `json:"direction,omitempty"` // any, inbound, outbound
	DstPort     int64   `json:"dst_port,omitempty"`
	IP          string  `json:"ip"` // IPv4, IPv6 or host name (required)
	LocationSID *string `json:"location_sid,omitempty"`
	Port        int64   `json:"port,omitempty"`
	Priority    int64   `json:"priority,omitempty"`
	SIPPassword *string `json:"sip_password,omitempty"`
	SIPUsername *string `json:"sip_username,omitempty"`
	SRTP        bool    `json:"srtp,omitempty"`
	Transport   string  `json:"transport,omitempty"` // udp, tcp, tls
}

// Transformation is one rewriting step of an endpoint. A zero Direction is
// "any".
type Transformation struct {
	Action    string   `json:"action"`
	Direction string   `json:"direction,omitempty"`
	Operands  []string `json:"operands,omitempty"`
}

// EndpointParams is the body of Create and Replace: the fields a partner
// sets. Nil slices and maps are sent as empty ([] and {}); nil pointers as
// null; a zero Name is not sent (Create then names the endpoint "N/A").
type EndpointParams struct {
	Addresses  []Address
	Attributes map[string]string
	// AuthRequired is sent only when not nil; sending it at all needs a
	// credential with the endpoints.manage_auth_required scope. The
	// default on create is true.
	AuthRequired    *bool
	Capacity        int64
	Name            string
	OutSIPPassword  *string
	OutSIPUsername  *string
	Properties      map[string]*string // sent only when not nil (voicemail settings)
	Transformations []Transformation
	Type            EndpointType // required by Create; Replace may send the endpoint's own
}

// MarshalJSON writes the body with the empty values described above.
func (p EndpointParams) MarshalJSON() ([]byte, error) {
	type body struct {
		Addresses       []Address          `json:"addresses"`
		Attributes      map[string]string  `json:"attributes"`
		AuthRequired    *bool              `json:"auth_required,omitempty"`
		Capacity        int64              `json:"capacity"`
		Name            string             `json:"name,omitempty"`
		OutSIPPassword  *string            `json:"out_sip_password"`
		OutSIPUsername  *string            `json:"out_sip_username"`
		Properties      map[string]*string `json:"properties,omitzero"`
		Transformations []Transformation   `json:"transformations"`
		Type            EndpointType       `json:"type,omitempty"`
	}
	return json.Marshal(body{
		Addresses: orEmpty(p.Addresses), Attributes: orEmptyMap(p.Attributes), AuthRequired: p.AuthRequired,
		Capacity: p.Capacity, Name: p.Name, OutSIPPassword: p.OutSIPPassword, OutSIPUsername: p.OutSIPUsername,
		Properties: p.Properties, Transformations: orEmpty(p.Transformations), Type: p.Type,
	})
}

// Params returns the endpoint's settable fields as a body for Replace (a
// copy: changing it leaves e alone). AuthRequired is left nil, so that a
// credential without endpoints.manage_auth_required can replace too; set it
// to change auth_required.
func (e *Endpoint) Params() EndpointParams {
	p := EndpointParams{
		Addresses: slices.Clone(e.Addresses), Attributes: maps.Clone(e.Attributes), Capacity: e.Capacity,
		Name: e.Name, OutSIPPassword: clonePtr(e.OutSIPPassword), OutSIPUsername: clonePtr(e.OutSIPUsername),
		Properties: maps.Clone(e.Properties), Type: e.Type,
	}
	for _, t := range e.Transformations {
		t.Operands = slices.Clone(t.Operands)
		p.Transformations = append(p.Transformations, t)
	}
	return p
}

// Create creates an endpoint; Type is required.
func (c *Client) Create(ctx context.Context, p EndpointParams) (*Endpoint, error) {
	var e Endpoint
	if err := c.do(ctx, "POST", endpointsPath, nil, p, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Get reads one endpoint.
func (c *Client) Get(ctx context.Context, endpointSID string) (*Endpoint, error) {
	path, err := endpointPath(endpointSID)
	if err != nil {
		return nil, err
	}
	var e Endpoint
	if err := c.do(ctx, "GET", path, nil, nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// UpdateOption changes how Update applies its body.
type UpdateOption func(url.Values)

// ReplaceNestedObjects makes Update replace the nested objects it is given
// (addresses, attributes, properties, transformations) with exactly the
// body's, instead of merging them into the stored ones
// (?nested_objects=replace).
func ReplaceNestedObjects() UpdateOption {
	return func(q url.Values) { q.Set("nested_objects", "replace") }
}

// Update changes the fields that patch holds and nothing else (PATCH).
// patch is anything that encodes to a JSON object with only those fields,
// usually a map[string]any:
//
//	c.Update(ctx, sid, map[string]any{"name": "renamed", "attributes": map[string]any{"region": "eu"}})
//
// By default attributes and properties are merged (a key given null is
// removed) and the addresses and transformations given are appended unless
// already there; ReplaceNestedObjects replaces them instead.
func (c *Client) Update(ctx context.Context, endpointSID string, patch any, opts ...UpdateOption) (*Endpoint, error) {
	path, err := endpointPath(endpointSID)
	if err != nil {
		return nil, err
	}
	if patch == nil {
		patch = struct{}{}
	}
	q := url.Values{}
	for _, o := range opts {
		o(q)
	}
	var e Endpoint
	if err := c.do(ctx, "PATCH", path, q, patch, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Replace sets every settable field of the endpoint to p's (PUT). A
// GET-change-Replace round trip through Endpoint.Params works for every
// type.
func (c *Client) Replace(ctx context.Context, endpointSID string, p EndpointParams) (*Endpoint, error) {
	path, err := endpointPath(endpointSID)
	if err != nil {
		return nil, err
	}
	var e Endpoint
	if err := c.do(ctx, "PUT", path, nil, p, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Delete deletes an endpoint.
func (c *Client) Delete(ctx context.Context, endpointSID string) error {
	path, err := endpointPath(endpointSID)
	if err != nil {
		return err
	}
	return c.do(ctx, "DELETE", path, nil, nil, nil)
}

// ListOptions select and order the endpoints of a list.
type ListOptions struct {
	// Filter is an expression of the filter language, e.g.
	// `type eq third_party and name ilike '%pbx%'`.
	Filter string
	// Order is "field", "field desc", or several such keys separated by
	// commas; "" is creation order. ("shuffle" cannot be paged through: use
	// ListPage.)
	Order string
	// PageSize is the number of items asked for per request, 1 to 1000
	// (0: the server's default, 10).
	PageSize int
	// After starts the list after the endpoint with that SID (keyset
	// paging).
	After string
	// WithRelated adds each endpoint's Partner.
	WithRelated bool
}

// Page is one page of a list.
type Page struct {
	Items []*Endpoint
	// Total is how many endpoints the filter selects, in all pages.
	Total int
	// HasMore reports whether more items follow this page.
	HasMore bool
}

// ListPage reads one page of the list.
func (c *Client) ListPage(ctx context.Context, opts ListOptions) (*Page, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("filter", opts.Filter)
	set("order", opts.Order)
	set("after", opts.After)
	if opts.PageSize != 0 {
		q.Set("limit", strconv.Itoa(opts.PageSize))
	}
	if opts.WithRelated {
		q.Set("with_related", "true")
	}
	var env struct {
		HasMore bool        `json:"has_more"`
		Items   []*Endpoint `json:"items"`
		Total   int         `json:"total"`
	}
	if err := c.do(ctx, "GET", endpointsPath, q, nil, &env); err != nil {
		return nil, err
	}
	return &Page{Items: env.Items, Total: env.Total, HasMore: env.HasMore}, nil
}

// List iterates over every endpoint the options select, page after page
// (each next page is asked for after the last item of the one before, so
// deep pages cost no more than the first). It stops at the first error,
// which it yields.
//
// The next page is read before the items of the current one are yielded, so
// deleting or changing the endpoints while iterating (e.g. deleting all of
// them) does not break the paging.
func (c *Client) List(ctx context.Context, opts ListOptions) iter.Seq2[*Endpoint, error] {
	return func(yield func(*Endpoint, error) bool) {
		page, err := c.ListPage(ctx, opts)
		for {
			if err != nil {
				yield(nil, err)
				return
			}
			var next *Page
			var nextErr error
			more := page.HasMore && len(page.Items) > 0
			if more {
				o := opts
				o.After = page.Items[len(page.Items)-1].EndpointSID
				next, nextErr = c.ListPage(ctx, o)
			}
			for _, e := range page.Items {
				if !yield(e, nil) {
					return
				}
			}
			if !more {
				return
			}
			page, err = next, nextErr
		}
	}
}

// errEmptySID is returned for a call given no endpoint SID, which would
// otherwise name the collection.
var errEmptySID = errors.New("client: empty endpoint SID")

func endpointPath(sid string) (string, error) {
	if sid == "" {
		return "", errEmptySID
	}
	return endpointsPath + "/" + url.PathEscape(sid), nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func orEmptyMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
