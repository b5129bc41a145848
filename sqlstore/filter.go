package sqlstore

import (
	"strings"

	"github.com/switchboard-sip/switchboard/filter"
)

// The compiler of checked filters (package filter) to SQL over this
// package's schema (migrations/): which field is a column, a search row
// (endpoint_addresses, endpoint_attributes) or a JSON document is known
// here, not in the filter language.

// endpointColumn holds the columns of the endpoints table.
var endpointColumn = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range endpointTable {
		m[c.name] = true
	}
	return m
}()

// addressColumn holds the searchable columns of endpoint_addresses (the
// element fields of addresses that insertAddressRow writes).
var addressColumn = map[string]bool{"direction": true, "dst_port": true, "ip": true, "location_sid": true, "port": true,
	"priority": true, "sip_username": true, "srtp": true, "transport": true}

// flavour is the SQL dialect to compile a filter to.
type flavour int

const (
	SQLite flavour = iota
	Postgres
)

// idSet is a filter that is one condition on the partner's search rows:
// the filter holds for exactly the endpoints whose ids the query selects
// (the rows' partner_sid is their endpoint's, by their foreign key). A
// list can then count the rows and fetch the endpoints by id.
type idSet struct {
	from     string // the query after "SELECT a.endpoint_id FROM ": table a WHERE a.partner_sid = ? AND ...
	args     []any
	distinct bool // each endpoint at most once (attributes: one row per key)
	// counted is the query after "SELECT ... FROM " over the kept counts
	// whose rows' endpoints add up to the set's size (attributes:
	// attribute_value_counts, with the set's conditions and arguments);
	// "": the set's rows are counted.
	counted string
}

// filterSQL compiles the filter to a boolean condition over the endpoints
// table aliased "e" of the partner partnerSID, with "?" placeholders and
// their arguments in order. Every subquery that is not correlated with e is
// scoped to the partner (issue 11), so that its cost is bounded by the
// partner's own rows. Every value, JSON path and key is an argument; the
// text holds only names of the schema's fields, so no client text reaches
// it. Arguments are int64 for integers, bool (PostgreSQL) or int64 0/1
// (SQLite) for booleans, string otherwise.
// When the filter is one condition on search rows, set is that
// condition (else nil).
func filterSQL(x *filter.Expr, d flavour, partnerSID string) (cond string, args []any, set *idSet) {
	if len(x.Conds) == 0 {
		return "1 = 1", nil, nil
	}
	b := &builder{d: d, partner: partnerSID}
	parts := make([]string, len(x.Conds))
	for i, c := range x.Conds {
		parts[i] = b.cond(c)
	}
	if len(x.Conds) == 1 && b.set != nil {
		set = b.set
		set.args = b.args[b.setArgs:]
	}
	return strings.Join(parts, " AND "), b.args, set
}

// builder collects the arguments in the order their "?" appear; every
// method writes its own placeholders before it returns, left to right.
type builder struct {
	d       flavour
	partner string
	args    []any
	// set is the last condition compiled as "e.id IN (SELECT ... set.from)", whose
	// arguments begin at args[setArgs].
	set     *idSet
	setArgs int
}

// inSet compiles a condition as membership of the endpoint's id in a
// scoped query over the search rows of table, where writes the query's
// conditions after the partner's.
// countTable (or "") is the table of kept counts whose rows, selected by
// the same conditions, add up to the set's size.
func (b *builder) inSet(table string, distinct bool, countTable string, where func() string) string {
	start := len(b.args)
	conds := " a WHERE a.partner_sid = " + b.arg(b.partner) + " AND " + where()
	b.set, b.setArgs = &idSet{from: table + conds, distinct: distinct}, start
	if countTable != "" {
		b.set.counted = countTable + conds
	}
	return "e.id IN (SELECT a.endpoint_id FROM " + table + conds + ")"
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "?"
}

// text marks a text expression computed from JSON as compared by bytes on
// PostgreSQL, where it would otherwise take the database's collation (the
// columns are COLLATE "C" already).
func (b *builder) text(expr string) string {
	if b.d == Postgres {
		return "(" + expr + ") COLLATE \"C\""
	}
	return expr
}

const never = "1 = 0" // for an Expr that Parse could not have made, or a field not stored

func (b *builder) cond(c filter.Cond) string {
	if len(c.Values) == 0 {
		return never
	}
	f := c.Field
	switch {
	case f.Group == filter.TopLevel:
		if !endpointColumn[f.Key] {
			return never
		}
		return b.scalar("e."+f.Key, c)
	case f.Group == filter.KeyedValue && f.List == "properties":
		if f.Key == "login" && b.loginColumn(c) {
			// The unique column holds properties.login, NULL when it is
			// null or "": exact for eq and in with non-empty values.
			return b.scalar("e.login", c)
		}
		return b.scalar(b.jsonKey("e.properties", f.Key), c)
	case f.Group == filter.KeyedValue && f.List == "attributes":
		return b.attribute(c)
	case f.Group == filter.Element && f.List == "addresses":
		if !addressColumn[f.Key] {
			return never
		}
		if f.Key == "ip" {
			// Uncorrelated, so that the planner can start from the index
			// on (partner_sid, ip, endpoint_id). An endpoint may have an
			// address twice.
			return b.inSet("endpoint_addresses", false, "", func() string { return b.scalar("a.ip", c) })
		}
		// Correlated: the primary key (endpoint_id, position) bounds the
		// work by the endpoints the outer query looks at.
		return "EXISTS (SELECT 1 FROM endpoint_addresses a WHERE a.endpoint_id = e.id AND " + b.scalar("a."+f.Key, c) + ")"
	case f.Group == filter.Element && f.List == "transformations":
		if b.d == Postgres {
			return "EXISTS (SELECT 1 FROM jsonb_array_elements(e.transformations::jsonb) t WHERE " + b.scalar(b.jsonKey("t.value", f.Key), c) + ")"
		}
		return "EXISTS (SELECT 1 FROM json_each(e.transformations) t WHERE " + b.scalar(b.jsonKey("t.value", f.Key), c) + ")"
	case f.Group == filter.ElementItem && f.List == "transformations":
		if b.d == Postgres {
			from := "jsonb_array_elements(e.transformations::jsonb) t, jsonb_array_elements_text(t.value -> CAST(" + b.arg(f.Key) + " AS text)) o"
			return "EXISTS (SELECT 1 FROM " + from + " WHERE " + b.scalar(b.text("o.value"), c) + ")"
		}
		from := "json_each(e.transformations) t, json_each(t.value, " + b.arg(`$."`+f.Key+`"`) + ") o"
		return "EXISTS (SELECT 1 FROM " + from + " WHERE " + b.scalar("o.value", c) + ")"
	}
	return never
}

// jsonKey is the text of key in the JSON object doc, SQL NULL when the key
// is absent or null. The key is bound, never written into the SQL.
func (b *builder) jsonKey(doc, key string) string {
	if b.d == Postgres {
		return b.text(doc + "::jsonb ->> CAST(" + b.arg(key) + " AS text)")
	}
	return "json_extract(" + doc + ", " + b.arg(`$."`+key+`"`) + ")"
}

// loginColumn reports whether a properties.login condition can use e.login.
func (b *builder) loginColumn(c filter.Cond) bool {
	if c.Op != filter.Eq && c.Op != filter.In {
		return false
	}
	for _, v := range c.Values {
		if v.Null || v.Str == "" {
			return false
		}
	}
	return true
}

// attribute compiles attributes.<key>, whose rows live in
// endpoint_attributes; an absent key is null, so eq null, ne and notin hold
// for the endpoints without a row that says otherwise.
func (b *builder) attribute(c filter.Cond) string {
	const rows = "FROM endpoint_attributes a WHERE a.endpoint_id = e.id AND a.key = "
	v := c.Values[0]
	switch {
	case c.Op == filter.Eq && v.Null:
		return "NOT EXISTS (SELECT 1 " + rows + b.arg(c.Field.Key) + ")"
	case c.Op == filter.Ne && v.Null:
		return "EXISTS (SELECT 1 " + rows + b.arg(c.Field.Key) + ")"
	case c.Op == filter.Ne || c.Op == filter.NotIn:
		// NOT EXISTS rather than NOT IN: PostgreSQL plans it as an anti-join.
		positive := c
		positive.Op = map[filter.Op]filter.Op{filter.Ne: filter.Eq, filter.NotIn: filter.In}[c.Op]
		positive.Field.Nullable = false // a.value is NOT NULL
		key := b.arg(c.Field.Key)
		return "NOT EXISTS (SELECT 1 " + rows + key + " AND " + b.scalar("a.value", positive) + ")"
	}
	c.Field.Nullable = false
	// Uncorrelated, so that the index on (partner_sid, key, value,
	// endpoint_id) can serve it; the primary key (endpoint_id, key) holds
	// each endpoint once, so the kept counts of the values it selects add up
	// to its size.
	return b.inSet("endpoint_attributes", true, "attribute_value_counts", func() string {
		key := b.arg(c.Field.Key)
		return "a.key = " + key + " AND " + b.scalar("a.value", c)
	})
}

// scalar compiles a condition on one SQL expression, written once (it may
// hold placeholders of its own, which precede the values').
func (b *builder) scalar(expr string, c filter.Cond) string {
	v := c.Values
	orNull := func(s string) string {
		if c.Field.Nullable { // ne and notin also match null (§11.6)
			return "COALESCE(" + s + ", TRUE)"
		}
		return s
	}
	switch c.Op {
	case filter.Eq:
		if v[0].Null {
			return expr + " IS NULL"
		}
		return expr + " = " + b.value(c.Field, v[0])
	case filter.Ne:
		if v[0].Null {
			return expr + " IS NOT NULL"
		}
		return orNull(expr + " <> " + b.value(c.Field, v[0]))
	case filter.Gt:
		return expr + " > " + b.value(c.Field, v[0])
	case filter.Ge:
		return expr + " >= " + b.value(c.Field, v[0])
	case filter.Lt:
		return expr + " < " + b.value(c.Field, v[0])
	case filter.Le:
		return expr + " <= " + b.value(c.Field, v[0])
	case filter.In, filter.NotIn:
		list := make([]string, len(v))
		for i, val := range v {
			list[i] = b.value(c.Field, val)
		}
		if c.Op == filter.NotIn {
			return orNull(expr + " NOT IN (" + strings.Join(list, ", ") + ")")
		}
		return expr + " IN (" + strings.Join(list, ", ") + ")"
	case filter.Like:
		if b.d == Postgres {
			return expr + " LIKE " + b.arg(v[0].Str) + " ESCAPE ''"
		}
		// SQLite's LIKE ignores ASCII case; GLOB does not.
		return expr + " GLOB " + b.arg(likeToGlob(v[0].Str))
	case filter.ILike:
		if b.d == Postgres {
			// Under COLLATE "C", ILIKE folds ASCII letters only, as Match does.
			return expr + " ILIKE " + b.arg(v[0].Str) + " ESCAPE ''"
		}
		// SQLite's lower() folds ASCII letters only; the pattern is folded
		// the same way here.
		return "lower(" + expr + ") GLOB " + b.arg(likeToGlob(asciiLower(v[0].Str)))
	}
	return never
}

// value binds a literal as the Go type the column holds.
func (b *builder) value(f filter.Field, v filter.Value) string {
	switch f.Kind {
	case filter.Integer:
		if b.d == Postgres {
			// The columns are INTEGER; a bigint parameter lets any int64
			// compare (the driver refuses to send 2^31 as an INTEGER), and
			// integer = bigint still uses an index.
			return "CAST(" + b.arg(v.Int) + " AS bigint)"
		}
		return b.arg(v.Int)
	case filter.Boolean:
		if b.d == Postgres {
			return b.arg(v.Bool)
		}
		if v.Bool {
			return b.arg(int64(1))
		}
		return b.arg(int64(0))
	}
	return b.arg(v.Str)
}

// likeToGlob turns a like pattern (% any run, _ one character) into a GLOB
// pattern, making GLOB's own wildcards literal.
func likeToGlob(p string) string {
	var s strings.Builder
	for _, r := range p {
		switch r {
		case '%':
			s.WriteByte('*')
		case '_':
			s.WriteByte('?')
		case '*', '?', '[':
			s.WriteString("[" + string(r) + "]")
		default:
			s.WriteRune(r)
		}
	}
	return s.String()
}

// asciiLower lowers ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
