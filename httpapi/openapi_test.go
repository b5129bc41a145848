package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	sb "github.com/switchboard-sip/switchboard"
)

func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPIDocument)
	if err != nil {
		t.Fatalf("loading httpapi/openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("httpapi/openapi.json is not a valid OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document must be OpenAPI 3.1, is %s", doc.OpenAPI)
	}
	return doc
}

// Every route the server has is documented, and every documented
// operation is a route: adding either without the other fails here.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadDocument(t)
	var served, documented []string
	// "/{$}" is net/http's spelling of the path "/" alone.
	for _, r := range Routes {
		served = append(served, r.Method+" "+strings.TrimSuffix(r.Pattern, "{$}"))
	}
	optional := map[string]bool{}
	for _, r := range OptionalRoutes {
		served = append(served, r.Method+" "+r.Pattern)
		optional[r.Method+" "+r.Pattern] = true
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+path)
			// An optional route says when it exists; no other does.
			if _, says := op.Extensions["x-switchboard-optional"]; says != optional[method+" "+path] {
				t.Errorf("%s %s: x-switchboard-optional present: %v, optional route: %v", method, path, says, optional[method+" "+path])
			}
		}
	}
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("route %s is not in httpapi/openapi.json", s)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("httpapi/openapi.json documents %s, which the server does not serve", d)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/core/v2/openapi.json", "", "")
	if r.status != 200 || r.body != string(OpenAPIDocument) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /core/v2/openapi.json: %d %s %.80s", r.status, r.header.Get("Content-Type"), r.body)
	}
}

// validator checks real exchanges against the document.
type validator struct {
	t      *testing.T
	router routers.Router
}

func newValidator(t *testing.T, base string) *validator {
	doc := loadDocument(t)
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, router: router}
}

var acceptAnyCredential = &openapi3filter.Options{
	AuthenticationFunc:    func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
	IncludeResponseStatus: true,
}

// check validates a request (when checkRequest) and the response it got.
func (v *validator) check(method, url, body string, status int, header http.Header, respBody []byte, checkRequest bool) error {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: acceptAnyCredential}
	if checkRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			return err
		}
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(respBody)), Options: acceptAnyCredential,
	})
}

// The real handler stack's answers match the document: every request kind,
// list option and error class.
func TestResponsesMatchOpenAPI(t *testing.T) {
	f := newOpsFixture(t, 0, 0)
	v := newValidator(t, f.srv.URL)
	tp := f.create(f.admin, `{"type":"third_party","name":"t","addresses":[{"ip":"10.1.1.1","port":"5070"}],"attributes":{"a":"1"},"transformations":[{"action":"strip_plus"}]}`)
	vm := f.create(f.admin, `{"type":"voicemail","name":"v"}`)
	tpItem := "/core/v2/endpoints/" + tp["endpoint_sid"].(string)
	vmItem := "/core/v2/endpoints/" + vm["endpoint_sid"].(string)
	big := `{"name":"` + strings.Repeat("n", 1<<20) + `"}`
	cases := []struct {
		method, path, auth, body string
		status                   int
		validRequest             bool // the request itself matches the document
	}{
		{"POST", "/core/v2/endpoints", f.admin, `{"type":"conference","name":"c"}`, 200, true},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":"flexml"}`, 200, true},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":"third_party","auth_required":false,"addresses":[{"ip":"192.0.2.44"}]}`, 200, true},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":"third_party","auth_required":false,"addresses":[{"ip":"192.0.2.44"}]}`, 409, true},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":"conference","bogus":1}`, 422, false},
		{"POST", "/core/v2/endpoints", f.other, `{"type":"conference","auth_required":true}`, 422, true},
		{"POST", "/core/v2/endpoints", f.admin, `{"type":`, 400, false},
		{"POST", "/core/v2/endpoints", f.reader, `{"type":"conference"}`, 403, true},
		{"POST", "/core/v2/endpoints", f.admin, big, 413, false},
		{"GET", tpItem, f.admin, "", 200, true},
		{"GET", tpItem + "?with_related=true", f.admin, "", 200, true},
		{"GET", tpItem + "?include_fields=name,endpoint_sid", f.admin, "", 200, true},
		{"GET", "/core/v2/endpoints/2b1d3f64-7a1e-4c55-9a55-0d1f9c1c2f11", f.admin, "", 404, true},
		{"GET", tpItem, "", "", 401, true},
		{"GET", tpItem, "Bearer nope", "", 401, true},
		{"GET", "/core/v2/endpoints", f.admin, "", 200, true},
		{"GET", "/core/v2/endpoints?limit=1&order=name+desc&exclude_fields=properties", f.admin, "", 200, true},
		{"GET", "/core/v2/endpoints?limit=1&after=" + tp["endpoint_sid"].(string), f.admin, "", 200, true},
		{"GET", "/core/v2/endpoints?filter=type+eq+third_party&with_related=true", f.admin, "", 200, true},
		{"GET", "/core/v2/endpoints?filter=name+eq", f.admin, "", 400, true},
		{"GET", "/core/v2/endpoints?limit=abc", f.admin, "", 400, false},
		{"PATCH", tpItem, f.admin, `{"name":"t2","attributes":{"b":"2"}}`, 200, true},
		{"PATCH", tpItem + "?nested_objects=replace", f.admin, `{"addresses":[{"ip":"10.1.1.2"}]}`, 200, true},
		{"PATCH", vmItem, f.admin, `{"properties":{"callback_url":"https://x.test/cb","greeting":null}}`, 200, true},
		{"PUT", vmItem, f.admin, `{"name":"v2","capacity":3,"properties":{}}`, 200, true},
		{"PUT", vmItem, f.admin, `{}`, 422, true},
		{"DELETE", vmItem, f.admin, "", 204, true},
		{"DELETE", vmItem, f.admin, "", 404, true},
		{"GET", "/healthz", "", "", 200, true},
		{"GET", "/readyz", "", "", 200, true},
		{"GET", "/metrics", "", "", 200, true},
	}
	for _, c := range cases {
		r := f.do(c.method, c.path, c.auth, c.body)
		if r.status != c.status {
			t.Errorf("%s %s: status %d, want %d: %.200s", c.method, c.path, r.status, c.status, r.body)
			continue
		}
		if err := v.check(c.method, f.srv.URL+c.path, c.body, r.status, r.header, []byte(r.body), c.validRequest); err != nil {
			t.Errorf("%s %s (%d) does not match the document: %v", c.method, c.path, r.status, err)
		}
	}
	// The check can fail: an endpoint without its name is not a valid answer.
	bad := strings.Replace(f.do("GET", tpItem, f.admin, "").body, `"name":"t2",`, "", 1)
	if err := v.check("GET", f.srv.URL+tpItem, "", 200, http.Header{"Content-Type": {"application/json"}}, []byte(`{"addresses":[]}`), false); err != nil {
		t.Fatalf("a partial view (include_fields) must be valid: %v", err)
	}
	if err := v.check("PATCH", f.srv.URL+tpItem, `{}`, 200, http.Header{"Content-Type": {"application/json"}}, []byte(bad), true); err == nil {
		t.Fatal("a PATCH answer without name passed validation: the test proves nothing")
	}
	if err := v.check("POST", f.srv.URL+"/core/v2/endpoints", `{"type":"conference"}`, 409, http.Header{"Content-Type": {"application/json"}}, []byte(`{"message":"conflict error"}`), true); err == nil {
		t.Fatal("an error body without errors passed validation")
	}
}

// openAPISchema is the part of a JSON Schema the table checks read.
type openAPISchema struct {
	Type       any                      `json:"type"` // a name, or a list of names
	Ref        string                   `json:"$ref"`
	ReadOnly   bool                     `json:"readOnly"`
	Enum       []string                 `json:"enum"`
	Required   []string                 `json:"required"`
	Properties map[string]openAPISchema `json:"properties"`
}

func (s openAPISchema) types() []string {
	switch t := s.Type.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			out = append(out, v.(string))
		}
		return out
	}
	return nil
}

func documentSchemas(t *testing.T) map[string]openAPISchema {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas map[string]openAPISchema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Components.Schemas
}

// The document describes the fields of the domain's table: the same names
// in every endpoint schema, with the table's kind, nullability and
// read-only flag, and every stored field required in an answer.
func TestOpenAPIMatchesFieldTable(t *testing.T) {
	schemas := documentSchemas(t)
	var names, stored []string
	for _, f := range sb.Fields() {
		names = append(names, f.Name)
		if !f.Related {
			stored = append(stored, f.Name)
		}
	}
	for _, name := range []string{"EndpointFields", "EndpointCreate", "EndpointPatch", "EndpointPut"} {
		got := slices.Sorted(maps.Keys(schemas[name].Properties))
		if !slices.Equal(got, names) {
			t.Errorf("%s has the fields %v; the field table has %v", name, got, names)
		}
	}
	jsonTypes := map[sb.FieldKind]string{sb.FieldText: "string", sb.FieldInteger: "integer", sb.FieldBoolean: "boolean", sb.FieldList: "array", sb.FieldObject: "object"}
	for _, f := range sb.Fields() {
		s := schemas["EndpointFields"].Properties[f.Name]
		if s.ReadOnly != f.ReadOnly {
			t.Errorf("EndpointFields.%s: readOnly %v, the table says %v", f.Name, s.ReadOnly, f.ReadOnly)
		}
		if s.Ref != "" {
			continue // the partner object
		}
		want := []string{jsonTypes[f.Kind]}
		if f.Nullable {
			want = append(want, "null")
		}
		if got := s.types(); !slices.Equal(got, want) {
			t.Errorf("EndpointFields.%s: type %v, the table says %v", f.Name, got, want)
		}
	}
	if got := slices.Sorted(slices.Values(schemas["Endpoint"].Required)); !slices.Equal(got, stored) {
		t.Errorf("Endpoint requires %v; the stored fields are %v", got, stored)
	}
}

// Every type of the domain's table is in every type enum of the document,
// and nothing else is.
func TestOpenAPINamesEveryType(t *testing.T) {
	schemas := documentSchemas(t)
	var want []string
	for _, r := range sb.Types() {
		want = append(want, string(r.Type))
	}
	slices.Sort(want)
	for _, name := range []string{"EndpointFields", "EndpointCreate", "EndpointPatch", "EndpointPut"} {
		if got := slices.Sorted(slices.Values(schemas[name].Properties["type"].Enum)); !slices.Equal(got, want) {
			t.Errorf("%s.type enum %v, the type table has %v", name, got, want)
		}
	}
}
