package switchboard

import "github.com/switchboard-sip/switchboard/filter"

// filterSchema is what list filters may name (§7), derived from the field
// table: its filterable scalars, the element fields of its lists, its
// objects' keys, and its secrets.
var filterSchema = func() *filter.Schema {
	kinds := map[FieldKind]filter.Kind{FieldText: filter.String, FieldInteger: filter.Integer, FieldBoolean: filter.Boolean}
	s := &filter.Schema{Fields: map[string]filter.Scalar{}, Lists: map[string]map[string]filter.Scalar{},
		Keyed: map[string]bool{}, Secrets: map[string]bool{}}
	for _, f := range fieldTable {
		if f.Secret {
			s.Secrets[f.Name] = true
			continue
		}
		if !f.Filterable {
			continue
		}
		for _, p := range f.Parts {
			if p.Secret {
				s.Secrets[f.Name+"."+p.Name] = true
			}
		}
		switch f.Kind {
		case FieldList:
			elements := map[string]filter.Scalar{}
			for _, p := range f.Parts {
				if p.Secret {
					continue
				}
				scalar := filter.Scalar{Kind: kinds[p.Kind], Nullable: p.Nullable, Canonical: p.Canonical}
				if p.Kind == FieldList {
					scalar = filter.Scalar{Kind: filter.String, Many: true}
				}
				elements[p.Name] = scalar
			}
			s.Lists[f.Name] = elements
		case FieldObject:
			s.Keyed[f.Name] = true
		default:
			s.Fields[f.Name] = filter.Scalar{Kind: kinds[f.Kind], Nullable: f.Nullable}
		}
	}
	return s
}()

// ParseFilter reads a list filter against the endpoint's fields.
func ParseFilter(text string) (*filter.Expr, error) { return filter.Parse(text, filterSchema) }

// canonicalOrAsWritten is CanonicalHost for a filter's value: text that is
// no address is kept as written (no stored address equals it).
func canonicalOrAsWritten(s string) string {
	if h, ok := CanonicalHost(s); ok {
		return h
	}
	return s
}
