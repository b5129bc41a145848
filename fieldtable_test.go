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

// The filter's allow-list of top-level fields is the table's: the same
// fields, kinds and nullability, and secrets refused as secrets.
func TestFilterAllowListMatchesFieldTable(t *testing.T) {
	kinds := map[FieldKind]filter.Kind{FieldText: filter.String, FieldInteger: filter.Integer, FieldBoolean: filter.Boolean}
	for _, f := range fieldTable {
		var got *filter.Field
		var errs []string
		for _, value := range []string{"1", "true"} { // every kind takes one of them
			x, err := filter.Parse(f.Name + " eq " + value)
			if err == nil {
				got = &x.Conds[0].Field
				break
			}
			errs = append(errs, err.Error())
		}
		switch {
		case f.Filterable && got == nil:
			t.Errorf("%s is filterable but the filter refuses it: %v", f.Name, errs)
		case !f.Filterable && got != nil:
			t.Errorf("%s is not filterable but the filter accepts it", f.Name)
		case f.Secret && !strings.Contains(errs[0], "(secret)"):
			t.Errorf("%s is a secret; the filter says %q", f.Name, errs[0])
		case got != nil && (got.Group != filter.TopLevel || got.Kind != kinds[f.Kind] || got.Nullable != f.Nullable):
			t.Errorf("%s: the filter has group %d kind %v nullable %v", f.Name, got.Group, got.Kind, got.Nullable)
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
