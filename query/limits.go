package query

import "github.com/alecthomas/participle/v2/lexer"

// Limits bound the work one query can cause. The segment language is exposed
// on a public endpoint, so every dimension that drives memory or recursion
// has a ceiling and a clear error past it. A zero field means "use the
// default", so Options{} is safe.
type Limits struct {
	// MaxLength is the longest query text, in bytes.
	MaxLength int
	// MaxDepth bounds nesting: every '(' that groups conditions and every
	// prefix NOT counts one level. It is checked on the tokens, before the
	// recursive-descent parser runs, so deep nesting cannot exhaust the stack.
	MaxDepth int
	// MaxListValues bounds the values of one IN, HAS ANY, HAS ALL or event
	// list.
	MaxListValues int
	// MaxNodes bounds the number of expression nodes: conditions plus the
	// AND, OR and NOT nodes joining them (list values are bounded separately).
	MaxNodes int
}

// DefaultLimits returns the limits used for zero fields of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxLength:     64 << 10,
		MaxDepth:      64,
		MaxListValues: 10_000,
		MaxNodes:      10_000,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxLength <= 0 {
		l.MaxLength = d.MaxLength
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxListValues <= 0 {
		l.MaxListValues = d.MaxListValues
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = d.MaxNodes
	}
	return l
}

// checkDepth measures nesting on the token stream. A '(' opens a group
// unless it follows IN, ANY, ALL, SEGMENT or a name (then it opens a value
// list or an event's values, which cannot nest). A prefix NOT (one at the
// start of a unary: after the start, '(', AND, OR or another NOT) adds a
// level that lasts until the AND or OR or ')' that ends its operand at the
// same group level.
func checkDepth(toks []lexer.Token, max int) error {
	type frame struct {
		group bool // a grouping '(' rather than a list
		nots  int  // prefix NOTs active at this level
	}
	stack := []frame{{group: true}}
	depth := 0 // groups opened + active NOTs, over the whole stack
	prev := lexer.Token{Type: lexer.EOF}
	for _, t := range toks {
		top := &stack[len(stack)-1]
		switch {
		case t.Type == tokPunct && t.Value == "(":
			group := !(prev.Type == tokIdent || prev.Type == tokKeyword && isListKeyword(prev.Value))
			stack = append(stack, frame{group: group})
			if group {
				depth++
				if depth > max {
					return errorf(posOf(t.Pos), "the query nests more than %d levels deep; simplify the parentheses", max)
				}
			}
		case t.Type == tokPunct && t.Value == ")":
			if len(stack) > 1 {
				depth -= top.nots
				if top.group {
					depth--
				}
				stack = stack[:len(stack)-1]
			}
		case t.Type == tokKeyword && (equalFold(t.Value, "AND") || equalFold(t.Value, "OR")):
			depth -= top.nots
			top.nots = 0
		case t.Type == tokKeyword && equalFold(t.Value, "NOT") && startsUnary(prev):
			top.nots++
			depth++
			if depth > max {
				return errorf(posOf(t.Pos), "the query nests more than %d levels deep (NOT and parentheses); simplify it", max)
			}
		}
		prev = t
	}
	return nil
}

func isListKeyword(s string) bool {
	return equalFold(s, "IN") || equalFold(s, "ANY") || equalFold(s, "ALL") || equalFold(s, "SEGMENT")
}

// startsUnary reports whether a NOT after prev is a prefix NOT (and not the
// NOT of `field NOT IN` or `IS NOT NULL`).
func startsUnary(prev lexer.Token) bool {
	switch prev.Type {
	case lexer.EOF:
		return true
	case tokPunct:
		return prev.Value == "("
	case tokKeyword:
		return equalFold(prev.Value, "AND") || equalFold(prev.Value, "OR") || equalFold(prev.Value, "NOT")
	}
	return false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'a' <= ca && ca <= 'z' {
			ca -= 'a' - 'A'
		}
		if 'a' <= cb && cb <= 'z' {
			cb -= 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

func posOf(p lexer.Position) Pos { return Pos{Line: p.Line, Column: p.Column, Offset: p.Offset} }
