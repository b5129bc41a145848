package switchboard

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard-sip/switchboard/filter"
)

// The table and the struct describe the same fields: a field added to one
// and not the other fails here, as does a row whose Ptr points elsewhere.
func TestFieldTableMatchesEndpoint(t *testing.T) {
	var e Endpoint
	v := reflect.ValueOf(&e).Elem()
	byTag := map[string]reflect.Value{}
	for i := range v.NumField() {
		if tag := v.Type().Field(i).Tag.Get("json"); tag != "-" {
			byTag[tag] = v.Field(i)
		}
	}
	seen := map[string]bool{}
	for _, f := range fieldTable {
		if seen[f.Name] {
			t.Errorf("%s: two rows", f.Name)
		}
		seen[f.Name] = true
		if _, inStruct := byTag[f.Name]; f.Related {
			if f.Ptr != nil || inStruct {
				t.Errorf("%s: a related field is not a field of Endpoint", f.Name)
			}
		} else if field, ok := byTag[f.Name]; !ok {
			t.Errorf("%s: no field of Endpoint has this JSON name", f.Name)
			continue
		} else if f.Ptr == nil || reflect.ValueOf(f.Ptr(&e)).Pointer() != field.Addr().Pointer() {
			t.Errorf("%s: Ptr does not point at the field", f.Name)
		} else if want := kindOfGoType(field.Type()); f.Kind != want || f.Nullable != (field.Kind() == reflect.Pointer) {
			t.Errorf("%s: kind %d nullable %v, but the Go type %s says kind %d", f.Name, f.Kind, f.Nullable, field.Type(), want)
		}
		switch {
		case f.ReadOnly && (f.holds == nil || f.read != nil || f.changeableOn != nil):
			t.Errorf("%s: a read-only field has holds, and no read or changeableOn", f.Name)
		case !f.ReadOnly && (f.read == nil || f.same == nil || f.holds != nil):
			t.Errorf("%s: a field partners send has read and same, and no holds", f.Name)
		case f.Secret && (f.Orderable || f.Filterable):
			t.Errorf("%s: a secret is never ordered or filtered on", f.Name)
		}
	}
	for tag := range byTag {
		if !seen[tag] {
			t.Errorf("the Endpoint field %q has no row in fieldTable", tag)
		}
	}
	if !slices.IsSortedFunc(fieldTable, func(a, b EndpointField) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("fieldTable is not in the order of the JSON names")
	}
}

func kindOfGoType(t reflect.Type) FieldKind {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return FieldText
	case reflect.Int64:
		return FieldInteger
	case reflect.Bool:
		return FieldBoolean
	case reflect.Slice:
		return FieldList
	case reflect.Map:
		return FieldObject
	}
	return 0
}

// The filter's schema is the table's: the same scalar fields, kinds and
// nullability, the lists' element fields and the objects' keys, and
// secrets refused as secrets.
func TestFilterAllowListMatchesFieldTable(t *testing.T) {
	kinds := map[FieldKind]filter.Kind{FieldText: filter.String, FieldInteger: filter.Integer, FieldBoolean: filter.Boolean}
	accepts := func(name string) (*filter.Field, []string) {
		var errs []string
		for _, value := range []string{"1", "true"} { // every kind takes one of them
			x, err := ParseFilter(name + " eq " + value)
			if err == nil {
				return &x.Conds[0].Field, nil
			}
			errs = append(errs, err.Error())
		}
		return nil, errs
	}
	for _, f := range fieldTable {
		got, errs := accepts(f.Name)
		nested := f.Kind == FieldList || f.Kind == FieldObject
		switch {
		case f.Filterable && !nested && got == nil:
			t.Errorf("%s is filterable but the filter refuses it: %v", f.Name, errs)
		case (!f.Filterable || nested) && got != nil:
			t.Errorf("%s is accepted as a scalar by the filter", f.Name)
		case f.Secret && !strings.Contains(errs[0], "(secret)"):
			t.Errorf("%s is a secret; the filter says %q", f.Name, errs[0])
		case got != nil && (got.Group != filter.TopLevel || got.Kind != kinds[f.Kind] || got.Nullable != f.Nullable):
			t.Errorf("%s: the filter has group %d kind %v nullable %v", f.Name, got.Group, got.Kind, got.Nullable)
		}
		for _, p := range f.Parts {
			name := f.Name + "." + p.Name
			got, errs := accepts(name)
			switch {
			case p.Secret && (got != nil || !strings.Contains(errs[0], "(secret)")):
				t.Errorf("%s is a secret; the filter says %v %v", name, got, errs)
			case !p.Secret && (got == nil || got.Nullable != p.Nullable):
				t.Errorf("%s: the filter has %+v, %v", name, got, errs)
			}
		}
		if f.Kind == FieldObject && f.Filterable {
			if got, errs := accepts(f.Name + ".any_key"); got == nil || got.Group != filter.KeyedValue {
				t.Errorf("%s.<key>: %+v, %v", f.Name, got, errs)
			}
		}
	}
}

// A filter's host values are canonical as validation writes them: one
// canonicaliser (CanonicalHost) serves both.
func TestFilterCanonicalHosts(t *testing.T) {
	tests := []struct{ in, want string }{
		{`addresses.ip eq "2001:DB8:0:0:0:0:0:1"`, `addresses.ip eq "2001:db8::1"`},
		{`addresses.ip in (PBX.Example.com., 10.0.0.1)`, `addresses.ip in ("pbx.example.com", "10.0.0.1")`},
		// An IPv4 address written IPv4-mapped is the IPv4 address, in any spelling.
		{`addresses.ip eq "::ffff:192.0.2.44"`, `addresses.ip eq "192.0.2.44"`},
		{`addresses.ip eq "::FFFF:C000:022C"`, `addresses.ip eq "192.0.2.44"`},
		{`addresses.ip ne "0:0:0:0:0:ffff:c000:22c"`, `addresses.ip ne "192.0.2.44"`},
		{`addresses.ip in (::ffff:c000:22c, "::ffff:10.0.0.1")`, `addresses.ip in ("192.0.2.44", "10.0.0.1")`},
		{`addresses.ip notin ("::ffff:0a00:0001")`, `addresses.ip notin ("10.0.0.1")`},
		{`addresses.ip eq "::c000:22c"`, `addresses.ip eq "::c000:22c"`}, // IPv4-compatible is another address
		{`addresses.ip ne "A.."`, `addresses.ip ne "A.."`},               // no address: kept as written
		{`addresses.ip eq "::0."`, `addresses.ip eq "::0."`},
		{`addresses.ip eq "999.1.1.1"`, `addresses.ip eq "999.1.1.1"`},
		{`addresses.ip eq "FE80::1%ETH0"`, `addresses.ip eq "FE80::1%ETH0"`},
		// Host names are ASCII: the Kelvin sign is no "k", as on create.
		{"addresses.ip eq \"\u212aexample.com\"", "addresses.ip eq \"\u212aexample.com\""},
		{`addresses.ip eq "KEXAMPLE.com"`, `addresses.ip eq "kexample.com"`},
	}
	for _, tt := range tests {
		x, err := ParseFilter(tt.in)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tt.in, err)
			continue
		}
		if got := x.String(); got != tt.want {
			t.Errorf("ParseFilter(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
		for _, c := range x.Conds {
			for _, v := range c.Values {
				if h, ok := CanonicalHost(v.Str); ok && h != v.Str {
					t.Errorf("%s: %q is not in the form validation stores (%q)", tt.in, v.Str, h)
				}
			}
		}
	}
}

// OrderFields are the decision of docs/decisions.md (Lists).
func TestOrderFields(t *testing.T) {
	want := []string{"auth_required", "capacity", "cps_limit", "endpoint_sid", "name", "out_sip_username", "partner_sid", "type", "voip_token"}
	if !slices.Equal(OrderFields, want) {
		t.Fatalf("OrderFields %v, want %v", OrderFields, want)
	}
	for _, f := range []string{"addresses", "out_sip_password", "partner", "nope"} {
		if Orderable(f) {
			t.Errorf("%s must not be orderable", f)
		}
	}
}
