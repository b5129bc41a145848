package filter

import (
	"strings"
)

// Dialect is the SQL flavour to compile to.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

// SQL compiles the filter to a boolean condition over the endpoints table
// aliased "e" (schema: sqlstore/migrations). Every value is a "?" parameter
// in args; field names come from the allow-list, so no client text is ever
// part of the SQL.
func (x *Expr) SQL(d Dialect) (cond string, args []any) {
	c := compiler{d: d}
	parts := make([]string, len(x.Conds))
	for i, cd := range x.Conds {
		parts[i] = c.cond(cd)
	}
	return strings.Join(parts, " AND "), c.args
}

type compiler struct {
	d    Dialect
	args []any
}

func (c *compiler) arg(v any) string {
	c.args = append(c.args, v)
	return "?"
}

// text marks a text expression as compared by bytes on PostgreSQL, whose
// JSON operators return text in the database's default collation.
func (c *compiler) text(expr string) string {
	if c.d == Postgres {
		return "(" + expr + ") COLLATE \"C\""
	}
	return expr
}

func (c *compiler) cond(cd Cond) string {
	f := cd.Field
	switch f.Group {
	case TopLevel:
		return c.scalar("e."+f.Key, cd)
	case Property:
		if f.Key == "login" {
			return c.scalar("e.login", cd) // the unique column mirrors properties.login
		}
		if c.d == Postgres {
			return c.scalar(c.text("e.properties::jsonb ->> CAST("+c.arg(f.Key)+" AS text)"), cd)
		}
		return c.scalar("json_extract(e.properties, "+c.arg(`$."`+f.Key+`"`)+")", cd)
	case Address:
		// Some address satisfies the condition (§11.6).
		return "e.id IN (SELECT a.endpoint_id FROM endpoint_addresses a WHERE " + c.scalar("a."+f.Key, cd) + ")"
	case Attribute:
		// An absent attribute is null: eq null, ne and notin hold for the
		// endpoints that have no row with a matching value.
		key := "a.key = " + c.arg(f.Key)
		switch {
		case len(cd.Values) == 1 && cd.Values[0].Null && cd.Op == Eq:
			return "e.id NOT IN (SELECT a.endpoint_id FROM endpoint_attributes a WHERE " + key + ")"
		case len(cd.Values) == 1 && cd.Values[0].Null:
			return "e.id IN (SELECT a.endpoint_id FROM endpoint_attributes a WHERE " + key + ")"
		case cd.Op == Ne || cd.Op == NotIn:
			positive := cd
			positive.Op = map[Op]Op{Ne: Eq, NotIn: In}[cd.Op]
			return "e.id NOT IN (SELECT a.endpoint_id FROM endpoint_attributes a WHERE " + key + " AND " + c.scalar("a.value", positive) + ")"
		}
		return "e.id IN (SELECT a.endpoint_id FROM endpoint_attributes a WHERE " + key + " AND " + c.scalar("a.value", cd) + ")"
	case Transformation:
		if c.d == Postgres {
			return "EXISTS (SELECT 1 FROM jsonb_array_elements(e.transformations::jsonb) t WHERE " + c.scalar(c.text("t.value ->> '"+f.Key+"'"), cd) + ")"
		}
		return "EXISTS (SELECT 1 FROM json_each(e.transformations) t WHERE " + c.scalar("json_extract(t.value, '$."+f.Key+"')", cd) + ")"
	case TransformOperand:
		if c.d == Postgres {
			return "EXISTS (SELECT 1 FROM jsonb_array_elements(e.transformations::jsonb) t, jsonb_array_elements_text(t.value -> 'operands') o WHERE " +
				c.scalar(c.text("o.value"), cd) + ")"
		}
		return "EXISTS (SELECT 1 FROM json_each(e.transformations) t, json_each(t.value, '$.operands') o WHERE " + c.scalar("o.value", cd) + ")"
	}
	panic("filter: unknown field group") // resolveField only makes the groups above
}

// scalar compiles a condition on one SQL expression.
func (c *compiler) scalar(expr string, cd Cond) string {
	f := cd.Field
	v := cd.Values
	orNull := func(s string) string {
		if f.Nullable { // ne and notin also match null (§11.6); expr is written once
			return "COALESCE(" + s + ", TRUE)"
		}
		return s
	}
	switch cd.Op {
	case Eq:
		if v[0].Null {
			return expr + " IS NULL"
		}
		return expr + " = " + c.value(f, v[0])
	case Ne:
		if v[0].Null {
			return expr + " IS NOT NULL"
		}
		return orNull(expr + " <> " + c.value(f, v[0]))
	case Gt, Ge, Lt, Le:
		sym := map[Op]string{Gt: " > ", Ge: " >= ", Lt: " < ", Le: " <= "}[cd.Op]
		return expr + sym + c.value(f, v[0])
	case In, NotIn:
		list := make([]string, len(v))
		for i, val := range v {
			list[i] = c.value(f, val)
		}
		in := expr + " IN (" + strings.Join(list, ", ") + ")"
		if cd.Op == NotIn {
			return orNull("NOT " + in)
		}
		return in
	case Like:
		if c.d == Postgres {
			return expr + " LIKE " + c.arg(v[0].Str) + " ESCAPE ''"
		}
		return expr + " GLOB " + c.arg(likeToGlob(v[0].Str)) // SQLite's LIKE ignores case
	case ILike:
		// Case-insensitive for ASCII letters on both databases (SQLite's LIKE;
		// lower() under the byte collation on PostgreSQL).
		if c.d == Postgres {
			return "lower(" + expr + ") LIKE lower(CAST(" + c.arg(v[0].Str) + " AS text) COLLATE \"C\") ESCAPE ''"
		}
		return expr + " LIKE " + c.arg(v[0].Str)
	}
	panic("filter: unknown operator")
}

// value binds a literal as the Go type the column holds.
func (c *compiler) value(f Field, v Value) string {
	switch f.Kind {
	case Integer:
		return c.arg(v.Int)
	case Boolean:
		if c.d == SQLite {
			if v.Bool {
				return c.arg(int64(1))
			}
			return c.arg(int64(0))
		}
		return c.arg(v.Bool)
	}
	return c.arg(v.Str)
}

// likeToGlob turns a like pattern (% any run, _ one character) into a GLOB
// pattern, making GLOB's own wildcards literal.
func likeToGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[':
			b.WriteString("[" + string(r) + "]")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
