// Package filter is the CarrierX list filter language (§7 of the spec):
// Parse turns the text into a checked tree of conditions, SQL compiles the
// tree to a condition with bound parameters only, and Match evaluates it on
// an endpoint's JSON form (the reference meaning, used by tests).
package filter

import (
	"unicode"
	"unicode/utf8"
)

type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokWord             // bare word: field, keyword, number, true/false/null or value
	tokString           // quoted value, escapes resolved
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokenKind
	text string // the word or the string's value
	pos  int    // 1-based character position of its first character
}

// bareWordRune reports whether r may appear in a bare word (§11.6).
func bareWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.' || r == ':' || r == '@' || r == '+' || r == '/'
}

// lex splits the text into tokens. Inside quotes a backslash makes the next
// character literal (\" \' \\); any other use of it keeps that character.
func lex(text string) ([]token, error) {
	var toks []token
	pos := 0 // characters consumed
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		pos++
		start := pos
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '(' || r == ')' || r == ',':
			kind := map[rune]tokenKind{'(': tokLParen, ')': tokRParen, ',': tokComma}[r]
			toks = append(toks, token{kind: kind, text: string(r), pos: start})
			i += size
		case r == '"' || r == '\'':
			quote := r
			i += size
			var value []rune
			closed := false
			for i < len(text) {
				c, n := utf8.DecodeRuneInString(text[i:])
				i += n
				pos++
				if c == '\\' && i < len(text) {
					c, n = utf8.DecodeRuneInString(text[i:])
					i += n
					pos++
					value = append(value, c)
					continue
				}
				if c == quote {
					closed = true
					break
				}
				value = append(value, c)
			}
			if !closed {
				return nil, errorf(start, "unterminated string starting")
			}
			toks = append(toks, token{kind: tokString, text: string(value), pos: start})
		case bareWordRune(r):
			j := i + size
			for j < len(text) {
				c, n := utf8.DecodeRuneInString(text[j:])
				if !bareWordRune(c) {
					break
				}
				j += n
				pos++
			}
			toks = append(toks, token{kind: tokWord, text: text[i:j], pos: start})
			i = j
		default:
			if r == utf8.RuneError && size == 1 {
				return nil, errorf(start, "invalid UTF-8")
			}
			return nil, errorf(start, "unexpected character %q (quote values with special characters)", r)
		}
	}
	return append(toks, token{kind: tokEOF, pos: pos + 1}), nil
}
