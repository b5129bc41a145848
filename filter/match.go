package filter

import (
	"encoding/json"
	"strconv"
)

// Match reports whether an endpoint, in its JSON form as decoded with
// json.Decoder.UseNumber, satisfies the filter. It is the reference meaning
// of the language; the SQL must select exactly the endpoints Match selects.
func (x *Expr) Match(endpoint map[string]any) bool {
	for _, c := range x.Conds {
		if !c.match(endpoint) {
			return false
		}
	}
	return true
}

func (c Cond) match(e map[string]any) bool {
	f := c.Field
	switch f.Group {
	case TopLevel:
		return c.holds(e[f.Key])
	case Attribute, Property:
		m, _ := e[map[Group]string{Attribute: "attributes", Property: "properties"}[f.Group]].(map[string]any)
		return c.holds(m[f.Key]) // absent is nil: null
	case Address, Transformation:
		list, _ := e[map[Group]string{Address: "addresses", Transformation: "transformations"}[f.Group]].([]any)
		for _, item := range list {
			if m, ok := item.(map[string]any); ok && c.holds(m[f.Key]) {
				return true
			}
		}
	case TransformOperand:
		list, _ := e["transformations"].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			operands, _ := m["operands"].([]any)
			for _, o := range operands {
				if c.holds(o) {
					return true
				}
			}
		}
	}
	return false
}

// holds applies the condition to one value (nil is null).
func (c Cond) holds(got any) bool {
	if got == nil {
		switch c.Op {
		case Eq:
			return c.Values[0].Null
		case Ne, NotIn:
			return !c.Values[0].Null // ne and notin match null (§11.6)
		}
		return false
	}
	switch c.Op {
	case Eq:
		return !c.Values[0].Null && compare(c.Field.Kind, got, c.Values[0]) == 0
	case Ne:
		return c.Values[0].Null || compare(c.Field.Kind, got, c.Values[0]) != 0
	case Gt:
		return compare(c.Field.Kind, got, c.Values[0]) > 0
	case Ge:
		return compare(c.Field.Kind, got, c.Values[0]) >= 0
	case Lt:
		return compare(c.Field.Kind, got, c.Values[0]) < 0
	case Le:
		return compare(c.Field.Kind, got, c.Values[0]) <= 0
	case In, NotIn:
		in := false
		for _, v := range c.Values {
			in = in || compare(c.Field.Kind, got, v) == 0
		}
		return in == (c.Op == In)
	case Like, ILike:
		s, _ := got.(string)
		return likeMatch([]rune(c.Values[0].Str), []rune(s), c.Op == ILike)
	}
	return false
}

// compare orders a JSON value against a literal of the field's kind: bytes
// for text, numbers for integers, false < true.
func compare(k Kind, got any, v Value) int {
	switch k {
	case Integer:
		var n int64
		switch x := got.(type) {
		case json.Number:
			n, _ = strconv.ParseInt(x.String(), 10, 64)
		case float64:
			n = int64(x)
		}
		return cmpInt(n, v.Int)
	case Boolean:
		b, _ := got.(bool)
		return cmpInt(boolInt(b), boolInt(v.Bool))
	}
	s, _ := got.(string)
	switch {
	case s < v.Str:
		return -1
	case s > v.Str:
		return 1
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// likeMatch matches s against a like pattern (% any run, _ one character);
// fold makes ASCII letters match either case, as ilike does in SQL.
func likeMatch(p, s []rune, fold bool) bool {
	// Iterative wildcard matching with backtracking to the last %.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '%':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '_' || sameRune(p[pi], s[si], fold)):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

func sameRune(a, b rune, fold bool) bool {
	if fold {
		a, b = asciiLower(a), asciiLower(b)
	}
	return a == b
}

func asciiLower(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
