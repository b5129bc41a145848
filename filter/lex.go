package filter

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokWord             // bare word: field, keyword, number or value
	tokString           // quoted value, escapes resolved
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokenKind
	text string // the word, the string's value, or the punctuation
	pos  int    // 1-based character position of its first character
}

// describe names a token in an error message.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end of the filter"
	case tokString:
		return "quoted value " + quote(t.text)
	}
	return quote(t.text)
}

// bareWordRune reports whether r may appear in an unquoted word (§11.6).
func bareWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.:@+/", r)
}

// lexer hands out tokens one at a time, so that the first error the parser
// meets is the leftmost one. The text is valid UTF-8 (Parse checks).
type lexer struct {
	text string
	i    int // byte offset
	pos  int // characters consumed
}

// rune reads the next character.
func (l *lexer) rune() rune {
	r, n := utf8.DecodeRuneInString(l.text[l.i:])
	l.i += n
	l.pos++
	return r
}

func (l *lexer) peekRune() rune {
	r, _ := utf8.DecodeRuneInString(l.text[l.i:])
	return r
}

func (l *lexer) next() (token, error) {
	for l.i < len(l.text) && unicode.IsSpace(l.peekRune()) {
		l.rune()
	}
	start := l.pos + 1
	if l.i == len(l.text) {
		return token{kind: tokEOF, pos: start}, nil
	}
	from := l.i
	switch r := l.rune(); {
	case r == '(':
		return token{tokLParen, "(", start}, nil
	case r == ')':
		return token{tokRParen, ")", start}, nil
	case r == ',':
		return token{tokComma, ",", start}, nil
	case r == '"' || r == '\'':
		return l.quoted(r, start)
	case bareWordRune(r):
		for l.i < len(l.text) && bareWordRune(l.peekRune()) {
			l.rune()
		}
		return token{tokWord, l.text[from:l.i], start}, nil
	case r == 0:
		return token{}, errorf(start, "the filter cannot contain the NUL character")
	default:
		return token{}, errorf(start, "unexpected character %q (values with characters other than letters, digits and _ - . : @ + / need quotes)", string(r))
	}
}

// quoted reads a quoted value after its opening quote q. A backslash
// escapes either quote or itself; any other escape is refused.
func (l *lexer) quoted(q rune, start int) (token, error) {
	var b strings.Builder
	for l.i < len(l.text) {
		at := l.pos + 1
		r := l.rune()
		switch {
		case r == q:
			return token{tokString, b.String(), start}, nil
		case r == 0:
			return token{}, errorf(at, "the filter cannot contain the NUL character")
		case r == '\\':
			if l.i == len(l.text) {
				break // unterminated; reported below
			}
			e := l.rune()
			if e != '"' && e != '\'' && e != '\\' {
				return token{}, errorf(at, "unknown escape %s in a quoted value (a backslash escapes only \", ' and \\)", escapeName(e))
			}
			r = e
		}
		b.WriteRune(r)
	}
	return token{}, errorf(start, "unterminated string starting")
}

func escapeName(r rune) string {
	if unicode.IsPrint(r) {
		return `\` + string(r)
	}
	return fmt.Sprintf(`\ followed by %U`, r)
}
