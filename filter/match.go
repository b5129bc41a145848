package filter

import (
	"encoding/json"
	"math"
	"strconv"
)

// Match reports whether an endpoint, in its JSON form as json.Decoder with
// UseNumber decodes it (numbers are json.Number), satisfies the filter. It
// is the reference meaning of the language: the SQL must select exactly the
// endpoints Match selects.
func (x *Expr) Match(endpoint map[string]any) bool {
	for _, c := range x.Conds {
		if !c.match(endpoint) {
			return false
		}
	}
	return true
}

func (c Cond) match(e map[string]any) bool {
	if len(c.Values) == 0 {
		return false
	}
	f := c.Field
	switch f.Group {
	case TopLevel:
		return c.holds(e[f.Key])
	case KeyedValue:
		m, _ := e[f.List].(map[string]any)
		return c.holds(m[f.Key]) // absent is nil: null
	case Element, ElementItem:
		list, _ := e[f.List].([]any)
		for _, item := range list {
			m, _ := item.(map[string]any)
			if f.Group == Element {
				if m != nil && c.holds(m[f.Key]) {
					return true
				}
				continue
			}
			values, _ := m[f.Key].([]any)
			for _, v := range values {
				if c.holds(v) {
					return true
				}
			}
		}
	}
	return false
}

// holds applies the condition to one JSON value (nil is null). As in SQL,
// eq null and ne null test for null; ne and notin with values also hold for
// null on nullable fields; nothing else holds for null.
func (c Cond) holds(got any) bool {
	if got == nil {
		if c.Values[0].Null {
			return c.Op == Eq
		}
		return c.Field.Nullable && (c.Op == Ne || c.Op == NotIn)
	}
	if c.Values[0].Null {
		return c.Op == Ne
	}
	switch c.Op {
	case Like, ILike:
		s, ok := got.(string)
		return ok && likeMatch([]rune(c.Values[0].Str), []rune(s), c.Op == ILike)
	case In, NotIn:
		in := false
		for _, v := range c.Values {
			cmp, ok := compare(c.Field.Kind, got, v)
			if !ok {
				return false
			}
			in = in || cmp == 0
		}
		return in == (c.Op == In)
	}
	cmp, ok := compare(c.Field.Kind, got, c.Values[0])
	if !ok {
		return false
	}
	switch c.Op {
	case Eq:
		return cmp == 0
	case Ne:
		return cmp != 0
	case Gt:
		return cmp > 0
	case Ge:
		return cmp >= 0
	case Lt:
		return cmp < 0
	case Le:
		return cmp <= 0
	}
	return false
}

// compare orders a JSON value against a literal of the field's kind: bytes
// for text, numbers for integers, false before true. ok is false when the
// JSON value is not of that kind.
func compare(k Kind, got any, v Value) (cmp int, ok bool) {
	switch k {
	case Integer:
		n, ok := asInt(got)
		return cmpInt(n, v.Int), ok
	case Boolean:
		b, ok := got.(bool)
		return cmpInt(boolInt(b), boolInt(v.Bool)), ok
	}
	s, ok := got.(string)
	switch {
	case s < v.Str:
		return -1, ok
	case s > v.Str:
		return 1, ok
	}
	return 0, ok
}

// asInt reads an integral JSON number (json.Number, or float64 when the
// caller decoded without UseNumber).
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(x.String(), 10, 64)
		return n, err == nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
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
	// Iterative matching that backtracks to the last %: linear space, and
	// O(len(p)*len(s)) time at worst.
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
		a, b = lowerASCII(a), lowerASCII(b)
	}
	return a == b
}

func lowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
