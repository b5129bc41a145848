package filter

import "strings"

// Kind is the type of a field's values.
type Kind int

const (
	String Kind = iota
	Integer
	Boolean
)

func (k Kind) String() string {
	switch k {
	case Integer:
		return "an integer"
	case Boolean:
		return "true or false"
	}
	return "text"
}

// Schema is what a filter may name, given by the caller (the domain derives
// it from its field table): the language knows fields by the shape of the
// JSON they read, never by how or where they are stored.
type Schema struct {
	// Fields are the top-level scalar fields.
	Fields map[string]Scalar
	// Lists are the fields holding a list of objects: list.key holds when
	// the condition holds for some element's key.
	Lists map[string]map[string]Scalar
	// Keyed are the fields holding an object of text (or null) values
	// under keys of the caller's choosing: keyed.<key>; an absent key is
	// null.
	Keyed map[string]bool
	// Secrets cannot be filtered on (§9), top-level or dotted names; their
	// values never reach a message.
	Secrets map[string]bool
}

// Scalar describes the values of one field.
type Scalar struct {
	Kind     Kind
	Nullable bool
	// Many: the field of a list element is itself a list of values; the
	// condition holds when it holds for some value.
	Many bool
	// Canonical writes a value of eq, ne, in and notin the way stored
	// values are written (one spelling per value, e.g. of a host), keeping
	// text it cannot read as written. It must be idempotent, so that
	// String reparses the same.
	Canonical func(string) string
}

// Group says where in an endpoint's JSON a field lives, which decides how
// Match reaches it (and what a compiler reads).
type Group int

const (
	TopLevel    Group = iota // a top-level scalar: Key
	Element                  // Key of some element of the list List
	ElementItem              // some value of the list Key of some element of List
	KeyedValue               // the value under Key of the object List; absent is null
)

// Field is a filterable field, resolved from its dotted name.
type Field struct {
	Name      string // as written, e.g. "addresses.ip"
	Group     Group
	List      string // the list or keyed object holding it ("" at the top level)
	Key       string // the field, element key, or object key
	Kind      Kind
	Nullable  bool
	canonical func(string) string
}

// validKey reports whether s is a key of a keyed field the language
// accepts: 1 to 64 ASCII letters, digits, _ and -.
func validKey(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// resolve looks a dotted name up in the schema.
func (s *Schema) resolve(name string, pos int) (Field, error) {
	if s.Secrets[name] {
		return Field{}, errorf(pos, "%q cannot be filtered on (secret)", name)
	}
	head, key, dotted := strings.Cut(name, ".")
	if !dotted {
		if d, ok := s.Fields[name]; ok && !d.Many {
			return Field{Name: name, Group: TopLevel, Key: name, Kind: d.Kind, Nullable: d.Nullable, canonical: d.Canonical}, nil
		}
		if _, list := s.Lists[name]; list || s.Keyed[name] {
			return Field{}, errorf(pos, "unknown field %q (name one of its fields: %s.<field>)", name, name)
		}
		return Field{}, errorf(pos, "unknown field %s", quote(name))
	}
	if elements, ok := s.Lists[head]; ok {
		d, ok := elements[key]
		if !ok {
			return Field{}, errorf(pos, "unknown field %s", quote(name))
		}
		group := Element
		if d.Many {
			group = ElementItem
		}
		return Field{Name: name, Group: group, List: head, Key: key, Kind: d.Kind, Nullable: d.Nullable, canonical: d.Canonical}, nil
	}
	if s.Keyed[head] {
		if !validKey(key) {
			return Field{}, errorf(pos, "%s keys are 1 to 64 letters, digits, _ and -, got %s", head, quote(key))
		}
		return Field{Name: name, Group: KeyedValue, List: head, Key: key, Kind: String, Nullable: true}, nil
	}
	return Field{}, errorf(pos, "unknown field %s", quote(name))
}
