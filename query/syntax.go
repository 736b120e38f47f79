package query

import (
	"errors"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// participle reports where parsing stopped but describes the expectation in
// grammar terms ("expected GValue"). Marketers read these errors, so the
// message is rebuilt here from the tokens before that point: what the
// language allows after them, said in its own words.

type parenKind int

const (
	parenGroup   parenKind = iota + 1 // ( condition )
	parenList                         // IN ( … ), HAS ANY ( … ), HAS ALL ( … )
	parenEvent                        // event( … )
	parenSegment                      // SEGMENT( … )
)

// syntaxError converts a participle error into the package's Error.
func syntaxError(toks []lexer.Token, err error) *Error {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &Error{Line: 1, Column: 1, Msg: "cannot parse the query: " + err.Error()}
	}
	at := perr.Position().Offset
	i := 0
	for i < len(toks)-1 && toks[i].Pos.Offset < at {
		i++
	}
	// After a ',' in a list participle gives up at the ',' itself, because
	// the repetition `( "," value )*` backs off as a whole. The mistake is
	// the token after it.
	if isPunct(toks[i], ",") && i > 0 && isValue(toks[i-1]) && i+1 < len(toks) {
		if k, ok := openParen(toks[:i]); ok && (k == parenList || k == parenEvent) {
			i++
		}
	}
	return describeAt(toks, i)
}

// describeAt explains why toks[i] cannot follow toks[:i].
func describeAt(toks []lexer.Token, i int) *Error {
	t := toks[i]
	pos := posOf(t.Pos)
	if t.EOF() && i > 0 {
		// Point just past the last token rather than at the very end, which
		// may be lines of comments and blank lines further down.
		end := toks[i-1].Pos
		end.Advance(toks[i-1].Value)
		pos = posOf(end)
	}
	if t.EOF() && i == 0 {
		return errorf(Pos{Line: 1, Column: 1}, "the query is empty; write a condition such as gender = 'female', or ALL")
	}
	open, inParen := openParen(toks[:i])
	if isPunct(t, ")") && !inParen {
		return errorf(pos, "')' has no matching '('")
	}
	found := describeToken(t)
	if i == 0 {
		return errorf(pos, "expected a condition, found %s%s", found, hint(t, lexer.Token{Type: lexer.EOF}, "a condition"))
	}
	want := expected(toks[:i], t, open, inParen)
	h := hint(t, toks[i-1], want)
	if prev := toks[i-1]; t.Type == tokString && prev.Type == tokString && prev.Pos.Offset+len(prev.Value) == t.Pos.Offset {
		// 'it''s': SQL's doubled quote, which this language spells \'.
		h = "; to put a quote inside text, escape it with a backslash: " + clip(quoteString(unquote(prev.Value)+prev.Value[:1]+unquote(t.Value)))
	}
	if d, ok := unquotedDate(toks, i); ok {
		// 2025-01-01 without quotes lexes as 2025, -01, -01.
		h = "; write dates in quotes: '" + d + "'"
	}
	return errorf(pos, "expected %s after %s, found %s%s", want, describeToken(toks[i-1]), found, h)
}

// unquotedDate recognises a date written without quotes around toks[i]:
// a four-digit number followed by -MM and -DD.
func unquotedDate(toks []lexer.Token, i int) (string, bool) {
	if i < 1 || i+1 >= len(toks) {
		return "", false
	}
	y, m, d := toks[i-1], toks[i], toks[i+1]
	if y.Type != tokNumber || len(y.Value) != 4 || m.Type != tokNumber || d.Type != tokNumber ||
		len(m.Value) != 3 || len(d.Value) != 3 || m.Value[0] != '-' || d.Value[0] != '-' {
		return "", false
	}
	return y.Value + m.Value + d.Value, true
}

// expected says what may follow the tokens seen so far.
func expected(seen []lexer.Token, found lexer.Token, open parenKind, inParen bool) string {
	p := seen[len(seen)-1]
	var pp lexer.Token // the token before p, EOF-typed when there is none
	pp.Type = lexer.EOF
	if len(seen) > 1 {
		pp = seen[len(seen)-2]
	}
	complete := "AND, OR or the end of the query"
	if inParen && open == parenGroup {
		complete = "AND, OR or ')'"
	}
	switch p.Type {
	case tokOp:
		return "a value"
	case tokPunct:
		switch p.Value {
		case ",":
			return "a value"
		case "(":
			switch open {
			case parenList:
				return "a value"
			case parenEvent:
				return "a value or ')'"
			case parenSegment:
				return "a segment name in quotes"
			}
			return "a condition"
		}
		return complete // ')'
	case tokIdent:
		// A name alone is a complete bool condition; a value or another
		// name after it means an operator was left out.
		if found.Type == tokIdent || isValue(found) {
			return "an operator such as =, IN or HAS"
		}
		return complete
	case tokKeyword:
		switch kw := strings.ToUpper(p.Value); kw {
		case "AND":
			if len(seen) >= 3 && isKeyword(seen[len(seen)-3].Value) && equalFold(seen[len(seen)-3].Value, "BETWEEN") && isValue(pp) {
				return "a value"
			}
			return "a condition"
		case "OR":
			return "a condition"
		case "NOT":
			switch {
			case pp.Type == tokIdent:
				return "IN or BETWEEN"
			case pp.Type == tokKeyword && equalFold(pp.Value, "IS"):
				return "NULL"
			}
			return "a condition"
		case "IN":
			switch {
			case pp.Type == tokKeyword && equalFold(pp.Value, "NOT"):
				return "'('"
			case isPunct(pp, ")"):
				return "LAST"
			}
			return "'(' or LAST"
		case "LAST":
			return "a number of days"
		case "BETWEEN":
			if isPunct(pp, ")") {
				return dateExample
			}
			return "a value"
		case "HAS":
			return "a value, ANY or ALL"
		case "ANY":
			return "'('"
		case "ALL":
			if pp.Type == tokKeyword && equalFold(pp.Value, "HAS") {
				return "'('"
			}
			return complete
		case "IS":
			return "NULL or NOT NULL"
		case "AT":
			return "LEAST or MOST"
		case "LEAST", "MOST":
			return "a number"
		case "SINCE", "BEFORE", "ON":
			return dateExample
		case "SEGMENT":
			return "'('"
		case "TRUE", "FALSE":
			return afterValue(pp, open, inParen, complete)
		}
		return complete // DAYS, TIMES, NULL
	}
	return afterValue(pp, open, inParen, complete) // a string or number
}

const dateExample = "a date like '2026-01-31'"

// afterValue says what may follow a value whose predecessor is pp.
func afterValue(pp lexer.Token, open parenKind, inParen bool, complete string) string {
	if inParen {
		switch open {
		case parenList, parenEvent:
			return "',' or ')'"
		case parenSegment:
			return "')'"
		}
	}
	if pp.Type == tokKeyword {
		switch strings.ToUpper(pp.Value) {
		case "LAST":
			return "DAYS"
		case "LEAST", "MOST":
			return "TIMES"
		case "BETWEEN":
			return "AND"
		}
	}
	return complete
}

// hint adds advice for the two mistakes newcomers make most: text without
// quotes, and a field named like a keyword.
func hint(t, prev lexer.Token, want string) string {
	kw := ""
	if t.Type == tokKeyword {
		kw = strings.ToUpper(t.Value)
	}
	switch {
	case kw == "AT" && prev.Type == tokIdent:
		return "; AT LEAST and AT MOST follow an event condition such as purchase() or purchase('coffee')"
	case kw == "AT" && strings.HasPrefix(want, "AND, OR") && !(prev.Type == tokKeyword && (equalFold(prev.Value, "TIMES") || equalFold(prev.Value, "TIME"))):
		return "; AT LEAST and AT MOST go before the time window, as in purchase() AT LEAST 2 TIMES IN LAST 30 DAYS"
	case t.Type == tokIdent && (strings.HasPrefix(want, "a value") || strings.HasPrefix(want, "a segment name")):
		return "; write text in quotes: " + clip(quoteString(identName(t.Value)))
	case want != "a condition":
		return ""
	case isValue(t):
		return "; a condition starts with a field name, as in age > 30"
	case kw != "" && kw != "AND" && kw != "OR" && kw != "TRUE" && kw != "FALSE" && kw != "NULL":
		return "; " + kw + " is a reserved word, so a field with that name is written `" + t.Value + "`"
	}
	return ""
}

// openParen returns the kind of the innermost '(' still open after toks.
func openParen(toks []lexer.Token) (parenKind, bool) {
	var stack []parenKind
	for j, t := range toks {
		switch {
		case isPunct(t, "("):
			k := parenGroup
			if j > 0 {
				switch p := toks[j-1]; {
				case p.Type == tokIdent:
					k = parenEvent
				case p.Type == tokKeyword && equalFold(p.Value, "SEGMENT"):
					k = parenSegment
				case p.Type == tokKeyword && isListKeyword(p.Value):
					k = parenList
				}
			}
			stack = append(stack, k)
		case isPunct(t, ")") && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return 0, false
	}
	return stack[len(stack)-1], true
}

func isPunct(t lexer.Token, s string) bool { return t.Type == tokPunct && t.Value == s }

func isValue(t lexer.Token) bool {
	return t.Type == tokString || t.Type == tokNumber ||
		t.Type == tokKeyword && (equalFold(t.Value, "TRUE") || equalFold(t.Value, "FALSE"))
}

// describeToken names a token the way the user wrote it.
func describeToken(t lexer.Token) string {
	switch t.Type {
	case lexer.EOF:
		return "end of query"
	case tokKeyword:
		return strings.ToUpper(t.Value)
	case tokOp, tokPunct:
		return "'" + t.Value + "'"
	}
	return clip(t.Value)
}
