package query

import "fmt"

// Pos is a position in the query text. Line and Column are 1-based and
// Column counts characters (runes), not bytes, because that is what a
// marketer sees in an editor; Offset is the 0-based byte offset, which is
// what programs slicing the text need.
type Pos struct {
	Line, Column, Offset int
}

// String renders the position the way error messages do.
func (p Pos) String() string { return fmt.Sprintf("line %d, column %d", p.Line, p.Column) }

// Error is the one error type of the query front end. Lexing, parsing,
// limit and checking errors all use it, so an API can always answer with a
// line and a column next to the message.
type Error struct {
	Line, Column, Offset int
	Msg                  string
}

// Error implements error as "line L, column C: msg".
func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Pos returns the position the error points at.
func (e *Error) Pos() Pos { return Pos{Line: e.Line, Column: e.Column, Offset: e.Offset} }

// errorf builds a positioned error.
func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Line: pos.Line, Column: pos.Column, Offset: pos.Offset, Msg: fmt.Sprintf(format, args...)}
}
