package filter

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of §7.
const (
	MaxLength     = 4096
	MaxConditions = 50
	MaxInValues   = 100
)

// Op is a comparison operator.
type Op string

const (
	Eq    Op = "eq"
	Ne    Op = "ne"
	Gt    Op = "gt"
	Ge    Op = "ge"
	Lt    Op = "lt"
	Le    Op = "le"
	Like  Op = "like"
	ILike Op = "ilike"
	In    Op = "in"
	NotIn Op = "notin"
)

var operators = map[string]Op{"eq": Eq, "ne": Ne, "gt": Gt, "ge": Ge, "lt": Lt, "le": Le, "like": Like, "ilike": ILike, "in": In, "notin": NotIn}

// Value is a checked literal: Null, or a value of the field's kind.
type Value struct {
	Null bool
	Str  string
	Int  int64
	Bool bool
}

// Cond is one condition: Field Op Values (one value except for in/notin).
type Cond struct {
	Field  Field
	Op     Op
	Values []Value
	Pos    int
}

// Expr is a filter: every condition must hold.
type Expr struct {
	Conds []Cond
}

var (
	integerRE = regexp.MustCompile(`^-?[0-9]+$`)
)

// Parse reads a filter and checks it against the allow-list of fields and
// their types. Its errors are *Error values that say what and where.
func Parse(text string) (*Expr, error) {
	if n := utf8.RuneCountInString(text); n > MaxLength {
		return nil, &Error{Msg: "the filter is longer than " + strconv.Itoa(MaxLength) + " characters"}
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	x := &Expr{}
	for {
		c, err := p.cond()
		if err != nil {
			return nil, err
		}
		x.Conds = append(x.Conds, c)
		if len(x.Conds) > MaxConditions {
			return nil, errorf(c.Pos, "too many conditions (at most %d)", MaxConditions)
		}
		t := p.next()
		if t.kind == tokEOF {
			return x, nil
		}
		if t.kind != tokWord || !strings.EqualFold(t.text, "and") {
			return nil, errorf(t.pos, "expected \"and\" or the end of the filter, got %q", t.text)
		}
	}
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) cond() (Cond, error) {
	ft := p.next()
	if ft.kind != tokWord {
		return Cond{}, errorf(ft.pos, "expected a field name, got %s", describe(ft))
	}
	field, err := resolveField(ft.text, ft.pos)
	if err != nil {
		return Cond{}, err
	}
	c := Cond{Field: field, Pos: ft.pos}
	ot := p.next()
	if ot.kind != tokWord {
		return Cond{}, errorf(ot.pos, "expected an operator after %q, got %s", ft.text, describe(ot))
	}
	op, ok := operators[strings.ToLower(ot.text)]
	if !ok {
		return Cond{}, errorf(ot.pos, "unknown operator %q (use eq, ne, gt, ge, lt, le, like, ilike, in or notin)", ot.text)
	}
	c.Op = op
	if err := checkOperator(field, op, ot.pos); err != nil {
		return Cond{}, err
	}
	if op != In && op != NotIn {
		v, err := p.value(field, op, ot.text)
		if err != nil {
			return Cond{}, err
		}
		c.Values = []Value{v}
		return c, nil
	}
	if t := p.next(); t.kind != tokLParen {
		return Cond{}, errorf(t.pos, "expected \"(\" after %q, got %s", ot.text, describe(t))
	}
	for {
		v, err := p.value(field, op, ot.text)
		if err != nil {
			return Cond{}, err
		}
		c.Values = append(c.Values, v)
		if len(c.Values) > MaxInValues {
			return Cond{}, errorf(ot.pos, "too many values in one %s list (at most %d)", op, MaxInValues)
		}
		switch t := p.next(); t.kind {
		case tokComma:
		case tokRParen:
			return c, nil
		default:
			return Cond{}, errorf(t.pos, "expected \",\" or \")\" in the %s list, got %s", op, describe(t))
		}
	}
}

// checkOperator refuses operators that make no sense for the field's kind.
func checkOperator(f Field, op Op, pos int) error {
	switch {
	case (op == Like || op == ILike) && f.Kind != String:
		return errorf(pos, "%s works on text fields only; %q holds %s", op, f.Name, f.Kind)
	case f.Kind == Boolean && op != Eq && op != Ne && op != In && op != NotIn:
		return errorf(pos, "%q is true or false: use eq, ne, in or notin", f.Name)
	}
	return nil
}

// value reads one literal and checks it against the field.
func (p *parser) value(f Field, op Op, after string) (Value, error) {
	t := p.next()
	if t.kind != tokWord && t.kind != tokString {
		return Value{}, errorf(t.pos, "expected a value after %q, got %s", after, describe(t))
	}
	if t.kind == tokWord && strings.EqualFold(t.text, "null") {
		switch {
		case op != Eq && op != Ne:
			return Value{}, errorf(t.pos, "null can only be compared with eq or ne")
		case !f.Nullable:
			return Value{}, errorf(t.pos, "%q is never null", f.Name)
		}
		return Value{Null: true}, nil
	}
	switch f.Kind {
	case Integer:
		if t.kind != tokWord || !integerRE.MatchString(t.text) {
			return Value{}, errorf(t.pos, "%q needs an integer, got %q", f.Name, t.text)
		}
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return Value{}, errorf(t.pos, "%q needs an integer, got %q (out of range)", f.Name, t.text)
		}
		return Value{Int: n}, nil
	case Boolean:
		if t.kind == tokWord && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")) {
			return Value{Bool: strings.EqualFold(t.text, "true")}, nil
		}
		return Value{}, errorf(t.pos, "%q needs true or false, got %q", f.Name, t.text)
	}
	s := t.text
	if f.Group == Address && f.Key == "ip" && (op == Eq || op == Ne || op == In || op == NotIn) {
		s = canonicalHost(s) // addresses are stored canonical (§2)
	}
	return Value{Str: s}, nil
}

// canonicalHost writes an IP address as it is stored (IPv6 compressed,
// lower case) and a host name in lower case.
func canonicalHost(s string) string {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.String()
	}
	return strings.ToLower(s)
}

func describe(t token) string {
	switch t.kind {
	case tokEOF:
		return "the end of the filter"
	case tokString:
		return "a quoted value"
	}
	return strconv.Quote(t.text)
}

// String writes the filter in a canonical form that parses to the same tree.
func (x *Expr) String() string {
	parts := make([]string, len(x.Conds))
	for i, c := range x.Conds {
		parts[i] = c.String()
	}
	return strings.Join(parts, " and ")
}

func (c Cond) String() string {
	vals := make([]string, len(c.Values))
	for i, v := range c.Values {
		vals[i] = v.literal(c.Field.Kind)
	}
	if c.Op == In || c.Op == NotIn {
		return c.Field.Name + " " + string(c.Op) + " (" + strings.Join(vals, ", ") + ")"
	}
	return c.Field.Name + " " + string(c.Op) + " " + vals[0]
}

func (v Value) literal(k Kind) string {
	switch {
	case v.Null:
		return "null"
	case k == Integer:
		return strconv.FormatInt(v.Int, 10)
	case k == Boolean:
		return strconv.FormatBool(v.Bool)
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v.Str) + `"`
}
