package filter

import (
	"fmt"
	"strconv"
)

// Error is a filter the language refuses. Pos is the 1-based character (not
// byte) position of the offending token; it is 0 when the fault lies with the
// filter as a whole (too long, too many conditions).
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string {
	if e.Pos == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%s at position %d", e.Msg, e.Pos)
}

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// quote writes client text into a message, cut short so that a 4 KiB value
// does not make a 4 KiB error.
func quote(s string) string {
	const max = 40
	if r := []rune(s); len(r) > max {
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}
