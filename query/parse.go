package query

import (
	"github.com/alecthomas/participle/v2/lexer"
)

// Options configure Parse, Check and Compile. The zero value is ready to
// use: default limits, no value checking.
type Options struct {
	// Limits bound the query; zero fields take DefaultLimits. Used by Parse.
	Limits Limits
	// Values, when set, lets Check reject unknown values of tag, set and
	// event fields and suggest the nearest known ones.
	Values Values
}

// Parse parses a segment query into its AST. Every error, whatever the
// stage (UTF-8, tokens, limits, grammar), is an *Error with a position.
func Parse(src string, opts Options) (Expr, error) {
	lim := opts.Limits.withDefaults()
	if len(src) > lim.MaxLength {
		return nil, errorf(Pos{Line: 1, Column: 1}, "the query is %d bytes long; the limit is %d bytes", len(src), lim.MaxLength)
	}
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	if err := checkDepth(toks, lim.MaxDepth); err != nil {
		return nil, err
	}
	peek, err := lexer.Upgrade(&sliceLexer{toks: toks})
	if err != nil {
		return nil, err
	}
	g, err := parser.ParseFromLexer(peek)
	if err != nil {
		return nil, syntaxError(toks, err)
	}
	b := &builder{lim: lim}
	return b.or(g.Expr)
}
