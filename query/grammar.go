package query

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// This file holds only the participle grammar: plain structs whose tags are
// the productions of DESIGN §2. Precedence comes from nesting
// (OR → AND → unary), so no precedence climbing is needed. Grammar structs
// are converted to the AST in build.go; nothing outside that file sees them.

type gQuery struct {
	Pos  lexer.Position
	Expr *gOr `parser:"@@"`
}

type gOr struct {
	Pos   lexer.Position
	Terms []*gAnd `parser:"@@ ( 'OR' @@ )*"`
}

type gAnd struct {
	Pos   lexer.Position
	Terms []*gUnary `parser:"@@ ( 'AND' @@ )*"`
}

type gUnary struct {
	Pos   lexer.Position
	Not   *gUnary     `parser:"'NOT' @@"`
	Group *gOr        `parser:"| '(' @@ ')'"`
	Cond  *gCondition `parser:"| @@"`
}

type gCondition struct {
	Pos     lexer.Position
	All     bool        `parser:"@'ALL'"`
	Segment *gSegment   `parser:"| @@"`
	Field   *gFieldCond `parser:"| @@"`
}

type gSegment struct {
	Pos  lexer.Position
	Name *gValue `parser:"'SEGMENT' '(' @@ ')'"`
}

// gFieldCond is every condition that starts with a name: the name is read
// once and what follows decides the kind, which keeps lookahead small.
type gFieldCond struct {
	Pos    lexer.Position
	Field  string   `parser:"@Ident"`
	Event  *gEvent  `parser:"( @@"`
	Suffix *gSuffix `parser:"| @@ )?"`
}

type gEvent struct {
	Pos    lexer.Position
	Open   bool      `parser:"@'('"`
	Values []*gValue `parser:"( @@ ( ',' @@ )* )? ')'"`
	Freq   *gFreq    `parser:"@@?"`
	Window *gWindow  `parser:"@@?"`
}

type gFreq struct {
	Pos   lexer.Position
	Least bool  `parser:"'AT' ( @'LEAST'"`
	Most  bool  `parser:"| @'MOST' )"`
	N     *gNum `parser:"@@ ( 'TIMES' | 'TIME' )"`
}

type gNum struct {
	Pos  lexer.Position
	Text string `parser:"@Number"`
}

type gWindow struct {
	Pos     lexer.Position
	Last    *gNum   `parser:"'IN' 'LAST' @@ ( 'DAYS' | 'DAY' )"`
	Since   *gValue `parser:"| 'SINCE' @@"`
	Before  *gValue `parser:"| 'BEFORE' @@"`
	Between *gRange `parser:"| 'BETWEEN' @@"`
	On      *gValue `parser:"| 'ON' @@"`
}

type gRange struct {
	Pos lexer.Position
	Lo  *gValue `parser:"@@ 'AND'"`
	Hi  *gValue `parser:"@@"`
}

// gSuffix follows a field name. The date-window forms other than BETWEEN are
// listed here too; `field BETWEEN a AND b` is one shape for both a value
// range and a date window, and the checker tells them apart by field type.
type gSuffix struct {
	Pos     lexer.Position
	Cmp     *gCmp     `parser:"@@"`
	In      *gIn      `parser:"| @@"`
	Between *gBetween `parser:"| @@"`
	Has     *gHas     `parser:"| @@"`
	Is      *gIs      `parser:"| @@"`
	Window  *gWindow  `parser:"| @@"`
}

type gCmp struct {
	Pos   lexer.Position
	Op    string  `parser:"@Op"`
	Value *gValue `parser:"@@"`
}

type gIn struct {
	Pos    lexer.Position
	Not    bool      `parser:"@'NOT'? 'IN'"`
	Values []*gValue `parser:"'(' @@ ( ',' @@ )* ')'"`
}

type gBetween struct {
	Pos   lexer.Position
	Not   bool    `parser:"@'NOT'? 'BETWEEN'"`
	Range *gRange `parser:"@@"`
}

type gHas struct {
	Pos    lexer.Position
	List   *gHasList `parser:"'HAS' ( @@"`
	Single *gValue   `parser:"| @@ )"`
}

type gHasList struct {
	Pos    lexer.Position
	Mode   string    `parser:"@( 'ANY' | 'ALL' )"`
	Values []*gValue `parser:"'(' @@ ( ',' @@ )* ')'"`
}

type gIs struct {
	Pos lexer.Position
	Not bool `parser:"'IS' @'NOT'? 'NULL'"`
}

type gValue struct {
	Pos    lexer.Position
	String *string `parser:"@String"`
	Number *string `parser:"| @Number"`
	True   bool    `parser:"| @'TRUE'"`
	False  bool    `parser:"| @'FALSE'"`
}

// parser is built once and only read afterwards; participle parsers are safe
// for concurrent use. Lookahead 2 is enough for every decision the grammar
// makes (IN '(' versus IN LAST, NOT IN versus NOT BETWEEN), which keeps
// backtracking bounded on a public endpoint.
var parser = participle.MustBuild[gQuery](
	participle.Lexer(lexDef{}),
	participle.CaseInsensitive("Keyword"),
	participle.UseLookahead(2),
)
