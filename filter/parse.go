package filter

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of §7; past them a filter is refused.
const (
	MaxLength     = 4096 // characters
	MaxConditions = 50
	MaxInValues   = 100
)

// Op is a comparison operator, in its canonical (lower case) spelling.
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

var operators = map[string]Op{"eq": Eq, "ne": Ne, "gt": Gt, "ge": Ge, "lt": Lt, "le": Le,
	"like": Like, "ilike": ILike, "in": In, "notin": NotIn}

// Value is a checked literal: null, or a value of its field's kind (Str for
// text, Int for integers, Bool for booleans).
type Value struct {
	Null bool
	Str  string
	Int  int64
	Bool bool
}

// Cond is one condition: Field Op Values, with one value except for in and
// notin. Pos is the position of the field name.
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

// Parse reads a filter and checks it against the schema's fields, their
// types and the limits. Its errors are *Error values that say what and where.
func Parse(text string, s *Schema) (*Expr, error) { return parse(text, s, MaxLength) }

// parse is Parse with a length limit of maxLength characters.
func parse(text string, s *Schema, maxLength int) (*Expr, error) {
	if !utf8.ValidString(text) {
		return nil, errorf(invalidUTF8At(text), "the filter is not valid UTF-8")
	}
	if utf8.RuneCountInString(text) > maxLength {
		return nil, &Error{Msg: "the filter is too long (at most " + strconv.Itoa(maxLength) + " characters)"}
	}
	p := &parser{lex: lexer{text: text}, schema: s}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, errorf(p.tok.pos, "the filter is empty")
	}
	x := &Expr{}
	after := "" // the "and" before the condition, as written
	for {
		c, err := p.cond(after)
		if err != nil {
			return nil, err
		}
		x.Conds = append(x.Conds, c)
		t := p.tok
		switch {
		case t.kind == tokEOF:
			return x, nil
		case t.kind == tokWord && strings.EqualFold(t.text, "and"):
			if len(x.Conds) == MaxConditions {
				return nil, &Error{Msg: "too many conditions (at most " + strconv.Itoa(MaxConditions) + ")"}
			}
			after = t.text
			if err := p.advance(); err != nil {
				return nil, err
			}
		case t.kind == tokWord && strings.EqualFold(t.text, "or"):
			return nil, errorf(t.pos, "%q is not supported: conditions can only be joined with \"and\"", t.text)
		default:
			return nil, errorf(t.pos, "unexpected %s after the end of the filter", t.describe())
		}
	}
}

// invalidUTF8At is the character position of the first invalid byte.
func invalidUTF8At(s string) int {
	pos := 1
	for i := 0; i < len(s); pos++ {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return pos
		}
		i += n
	}
	return pos
}

// parser reads tokens with one token of lookahead (tok).
type parser struct {
	lex    lexer
	tok    token
	schema *Schema
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	p.tok = t
	return err
}

// cond reads one condition; afterAnd is the "and" before it ("" for the first).
func (p *parser) cond(afterAnd string) (Cond, error) {
	ft := p.tok
	if ft.kind != tokWord {
		if afterAnd != "" {
			return Cond{}, errorf(ft.pos, "expected a field name after %q", afterAnd)
		}
		return Cond{}, errorf(ft.pos, "expected a field name, got %s", ft.describe())
	}
	field, err := p.schema.resolve(ft.text, ft.pos)
	if err != nil {
		return Cond{}, err
	}
	if err := p.advance(); err != nil {
		return Cond{}, err
	}
	ot := p.tok
	if ot.kind != tokWord {
		return Cond{}, errorf(ot.pos, "expected an operator after %q", ft.text)
	}
	op, ok := operators[strings.ToLower(ot.text)]
	if !ok {
		return Cond{}, errorf(ot.pos, "unknown operator %s (use eq, ne, gt, ge, lt, le, like, ilike, in or notin)", quote(ot.text))
	}
	if err := checkOperator(field, op, ot.pos); err != nil {
		return Cond{}, err
	}
	if err := p.advance(); err != nil {
		return Cond{}, err
	}
	c := Cond{Field: field, Op: op, Pos: ft.pos}
	if op != In && op != NotIn {
		v, err := p.value(field, op, ot.text)
		if err != nil {
			return Cond{}, err
		}
		c.Values = []Value{v}
		return c, nil
	}
	if p.tok.kind != tokLParen {
		return Cond{}, errorf(p.tok.pos, "expected \"(\" after %q", ot.text)
	}
	for {
		if err := p.advance(); err != nil { // past "(" or ","
			return Cond{}, err
		}
		if len(c.Values) == MaxInValues && (p.tok.kind == tokWord || p.tok.kind == tokString) {
			return Cond{}, errorf(p.tok.pos, "too many values in the %s list (at most %d)", op, MaxInValues)
		}
		after := "("
		if len(c.Values) > 0 {
			after = ","
		}
		v, err := p.value(field, op, after)
		if err != nil {
			return Cond{}, err
		}
		c.Values = append(c.Values, v)
		switch p.tok.kind {
		case tokComma:
		case tokRParen:
			return c, p.advance()
		default:
			return Cond{}, errorf(p.tok.pos, "expected \",\" or \")\" in the %s list", op)
		}
	}
}

// checkOperator refuses operators that make no sense for the field's kind.
func checkOperator(f Field, op Op, pos int) error {
	switch {
	case (op == Like || op == ILike) && f.Kind != String:
		return errorf(pos, "%s works only on text fields, and %q holds %s", op, f.Name, f.Kind)
	case f.Kind == Boolean && op != Eq && op != Ne && op != In && op != NotIn:
		return errorf(pos, "%q is true or false: use eq, ne, in or notin", f.Name)
	}
	return nil
}

// value reads the literal at the current token, checks it against the field
// and moves past it; after names what precedes it, for messages.
func (p *parser) value(f Field, op Op, after string) (Value, error) {
	t := p.tok
	if t.kind != tokWord && t.kind != tokString {
		return Value{}, errorf(t.pos, "expected a value after %q", after)
	}
	v, err := checkValue(f, op, t)
	if err != nil {
		return Value{}, err
	}
	return v, p.advance()
}

func checkValue(f Field, op Op, t token) (Value, error) {
	if t.kind == tokWord && strings.EqualFold(t.text, "null") {
		switch {
		case op != Eq && op != Ne:
			return Value{}, errorf(t.pos, "null can only be used with eq or ne")
		case !f.Nullable:
			return Value{}, errorf(t.pos, "%q is never null", f.Name)
		}
		return Value{Null: true}, nil
	}
	switch f.Kind {
	case Integer:
		if !isInteger(t.text) {
			return Value{}, errorf(t.pos, "%q needs an integer, got %s", f.Name, quote(t.text))
		}
		n, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return Value{}, errorf(t.pos, "%q needs an integer, got %s (out of range)", f.Name, quote(t.text))
		}
		return Value{Int: n}, nil
	case Boolean:
		switch {
		case strings.EqualFold(t.text, "true"):
			return Value{Bool: true}, nil
		case strings.EqualFold(t.text, "false"):
			return Value{Bool: false}, nil
		}
		return Value{}, errorf(t.pos, "%q needs true or false, got %s", f.Name, quote(t.text))
	}
	s := t.text
	if f.canonical != nil && (op == Eq || op == Ne || op == In || op == NotIn) {
		s = f.canonical(s)
	}
	return Value{Str: s}, nil
}

// isInteger reports whether s is a decimal integer with an optional sign.
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// String writes the filter in a canonical form that parses to the same tree:
// lower-case operators, strings always double-quoted, single spaces. It can
// be longer than the text it was parsed from (spacing, quotes, IPv6
// addresses in canonical form), so near MaxLength only the length limit may
// refuse it.
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
	return c.Field.Name + " " + string(c.Op) + " " + strings.Join(vals, ", ")
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
