package query

import (
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"
)

// Token types produced by the lexer. participle reserves -1 for EOF; the
// others only need to be distinct negative numbers.
const (
	tokKeyword lexer.TokenType = -(iota + 2)
	tokIdent
	tokString
	tokNumber
	tokOp
	tokPunct
)

// isKeyword reports whether an identifier spelling is a reserved word; a
// field with such a name must be written in back-quotes (`on`). Matching is
// ASCII-only and case-insensitive, so that a non-ASCII identifier can never
// turn into a keyword through Unicode case folding (ſince is an identifier,
// not SINCE).
func isKeyword(s string) bool {
	if len(s) > len("SEGMENT") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "IN", "BETWEEN", "HAS", "ANY", "ALL", "IS", "NULL",
		"AT", "LEAST", "MOST", "TIME", "TIMES", "LAST", "DAY", "DAYS",
		"SINCE", "BEFORE", "ON", "SEGMENT", "TRUE", "FALSE":
		return true
	}
	return false
}

// fullWidth maps characters an input method (Chinese, Japanese) produces in
// place of the ASCII punctuation the language expects, so the error can say
// which character to type instead.
func fullWidth(r rune) (string, bool) {
	switch r {
	case '（':
		return "(", true
	case '）':
		return ")", true
	case '，':
		return ",", true
	case '‘', '’':
		return "'", true
	case '“', '”':
		return `"`, true
	case '＝':
		return "=", true
	case '＜':
		return "<", true
	case '＞':
		return ">", true
	case '！':
		return "!", true
	case '－':
		return "-", true
	case '｀':
		return "`", true
	}
	return "", false
}

// lexDef is the participle lexer definition. The lexer is hand-written rather
// than regular-expression based because it must validate UTF-8 with a
// position, classify Unicode identifiers and keywords exactly, and explain
// malformed strings and numbers in words.
type lexDef struct{}

var _ lexer.StringDefinition = lexDef{}

func (lexDef) Symbols() map[string]lexer.TokenType {
	return map[string]lexer.TokenType{
		"EOF":     lexer.EOF,
		"Keyword": tokKeyword,
		"Ident":   tokIdent,
		"String":  tokString,
		"Number":  tokNumber,
		"Op":      tokOp,
		"Punct":   tokPunct,
	}
}

func (d lexDef) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return d.LexString(filename, string(b))
}

func (lexDef) LexString(_ string, s string) (lexer.Lexer, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	return &sliceLexer{toks: toks}, nil
}

// sliceLexer replays tokens lexed ahead of time: Parse lexes first so that it
// can enforce the limits before participle recurses.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	if l.i >= len(l.toks) {
		return l.toks[len(l.toks)-1], nil // the EOF token, again
	}
	t := l.toks[l.i]
	l.i++
	return t, nil
}

// scanner walks the text keeping line and column in step with the byte
// offset.
type scanner struct {
	src  string
	off  int
	line int
	col  int
}

func (s *scanner) pos() Pos { return Pos{Line: s.line, Column: s.col, Offset: s.off} }

func (s *scanner) lpos() lexer.Position {
	return lexer.Position{Offset: s.off, Line: s.line, Column: s.col}
}

// peek returns the rune at the current offset (utf8.RuneError, 0 at end).
func (s *scanner) peek() (rune, int) {
	if s.off >= len(s.src) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(s.src[s.off:])
}

func (s *scanner) advance(r rune, size int) {
	s.off += size
	if r == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
}

// validUTF8 returns the position of the first invalid byte, if any.
func validUTF8(src string) (Pos, bool) {
	if utf8.ValidString(src) {
		return Pos{}, true
	}
	s := scanner{src: src, line: 1, col: 1}
	for s.off < len(src) {
		r, size := s.peek()
		if r == utf8.RuneError && size == 1 {
			return s.pos(), false
		}
		s.advance(r, size)
	}
	return Pos{}, true
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }

// isIdentPart also admits combining marks, which scripts such as Thai or
// Devanagari need inside words.
func isIdentPart(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mark, r)
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }

// tokenize lexes the whole query. Token values keep the raw source text
// (quotes, escapes and the keyword's spelling) so that error messages can
// quote what the user wrote; decoding happens when the AST is built.
func tokenize(src string) ([]lexer.Token, error) {
	if p, ok := validUTF8(src); !ok {
		return nil, errorf(p, "the query is not valid UTF-8 (invalid byte 0x%02x)", src[p.Offset])
	}
	s := &scanner{src: src, line: 1, col: 1}
	var toks []lexer.Token
	for {
		// Skip white space (any Unicode space, including the ideographic
		// space an input method types) and comments.
		for {
			r, size := s.peek()
			if r == -1 {
				break
			}
			if unicode.IsSpace(r) {
				s.advance(r, size)
				continue
			}
			if strings.HasPrefix(src[s.off:], "--") {
				for s.off < len(src) && src[s.off] != '\n' {
					r, size := s.peek()
					s.advance(r, size)
				}
				continue
			}
			break
		}
		start, lpos := s.pos(), s.lpos()
		r, size := s.peek()
		if r == -1 {
			toks = append(toks, lexer.EOFToken(lpos))
			return toks, nil
		}
		var typ lexer.TokenType
		switch {
		case isIdentStart(r):
			for isIdentPart(r) {
				s.advance(r, size)
				r, size = s.peek()
			}
			typ = tokIdent
			if isKeyword(src[start.Offset:s.off]) {
				typ = tokKeyword
			}
		case r == '`':
			if err := s.quotedIdent(start); err != nil {
				return nil, err
			}
			typ = tokIdent
		case r == '\'' || r == '"':
			if err := s.stringLit(start, r); err != nil {
				return nil, err
			}
			typ = tokString
		case isASCIIDigit(r) || (r == '-' && s.off+1 < len(src) && isASCIIDigit(rune(src[s.off+1]))):
			if err := s.number(start); err != nil {
				return nil, err
			}
			typ = tokNumber
		case r == '(' || r == ')' || r == ',':
			s.advance(r, size)
			typ = tokPunct
		case r == '=' || r == '<' || r == '>' || r == '!':
			if err := s.operator(start, r); err != nil {
				return nil, err
			}
			typ = tokOp
		case r == '-':
			return nil, errorf(start, "unexpected '-'; a negative number is written like -5 and a comment starts with --")
		default:
			if ascii, ok := fullWidth(r); ok {
				want := "'" + ascii + "'"
				if ascii == "'" || ascii == `"` {
					want = "a plain " + ascii
				}
				return nil, errorf(start, "unexpected full-width character '%c'; type %s instead", r, want)
			}
			if unicode.IsPrint(r) {
				return nil, errorf(start, "unexpected character '%c'", r)
			}
			return nil, errorf(start, "unexpected character %U", r)
		}
		toks = append(toks, lexer.Token{Type: typ, Value: src[start.Offset:s.off], Pos: lpos})
	}
}

// quotedIdent scans `name`; a back-quote inside the name is doubled.
func (s *scanner) quotedIdent(start Pos) error {
	s.advance('`', 1)
	n := 0
	for {
		r, size := s.peek()
		if r == -1 {
			return errorf(start, "unterminated back-quoted name; add the closing `")
		}
		s.advance(r, size)
		if r == '`' {
			if strings.HasPrefix(s.src[s.off:], "`") {
				s.advance('`', 1)
				n++
				continue
			}
			break
		}
		n++
	}
	if n == 0 {
		return errorf(start, "empty back-quoted name")
	}
	return nil
}

// stringLit scans a string in single or double quotes. The only escapes are
// \', \" and \\: anything else after a backslash is more likely a mistake
// (a Windows path, a regular expression) than an intended escape.
func (s *scanner) stringLit(start Pos, quote rune) error {
	s.advance(quote, 1)
	for {
		r, size := s.peek()
		if r == -1 {
			return errorf(start, "unterminated string; add the closing %c", quote)
		}
		if r == '\\' {
			esc := s.pos()
			s.advance(r, size)
			r, size = s.peek()
			if r != '\'' && r != '"' && r != '\\' {
				if r == -1 {
					return errorf(start, "unterminated string; add the closing %c", quote)
				}
				return errorf(esc, "unknown escape '\\%s' in string; only \\', \\\" and \\\\ are allowed", clip(string(r)))
			}
			s.advance(r, size)
			continue
		}
		s.advance(r, size)
		if r == quote {
			return nil
		}
	}
}

// number scans -?[0-9]+(\.[0-9]+)? and rejects a number glued to letters,
// which is almost always a typo or a name that needs back-quotes.
func (s *scanner) number(start Pos) error {
	if r, size := s.peek(); r == '-' {
		s.advance(r, size)
	}
	digits := func() {
		for r, size := s.peek(); isASCIIDigit(r); r, size = s.peek() {
			s.advance(r, size)
		}
	}
	digits()
	if r, size := s.peek(); r == '.' {
		s.advance(r, size)
		if r, _ := s.peek(); !isASCIIDigit(r) {
			return errorf(start, "invalid number '%s'; write decimals like 5000.50", s.src[start.Offset:s.off])
		}
		digits()
	}
	if r, _ := s.peek(); r == '.' || isIdentPart(r) {
		for r, size := s.peek(); r == '.' || isIdentPart(r); r, size = s.peek() {
			s.advance(r, size)
		}
		text := clip(s.src[start.Offset:s.off])
		if r == '.' {
			return errorf(start, "invalid number '%s'", text)
		}
		return errorf(start, "invalid number '%s'; a name that starts with a digit must be back-quoted", text)
	}
	return nil
}

func (s *scanner) operator(start Pos, r rune) error {
	s.advance(r, 1)
	next, _ := s.peek()
	switch {
	case r == '=' && next == '=':
		return errorf(start, "'==' is not an operator; use =")
	case r == '<' && next == '>':
		return errorf(start, "'<>' is not an operator; use !=")
	case next == '=' && r != '=':
		s.advance(next, 1)
	case r == '!':
		return errorf(start, "unexpected '!'; use != for not equal, or NOT")
	}
	return nil
}
