// Package query is the front end of Cohort's segment language (DESIGN §2):
// it turns the text a marketer writes into a query resolved against a
// dataset's schema. It never executes anything and imports nothing of
// Cohort; the engine plugs in through the Schema and Values interfaces.
//
// The pipeline has a seam at each stage, so each can be tested, cached or
// replaced on its own:
//
//	text ──Parse──▶ Expr (AST) ──Check──▶ *Checked ──(engine)──▶ plan ──▶ bitmaps
//
// The stages, file by file:
//
//   - Lexing (lexer.go) is hand-written: it validates UTF-8 with a position,
//     reads Unicode identifiers, back-quoted names, strings in either quote,
//     numbers and case-insensitive keywords, and skips -- comments.
//   - Limits (limits.go) are enforced on the text and the tokens before the
//     recursive-descent parser runs, so a hostile query costs little.
//   - Parsing uses a participle grammar (grammar.go) built once; its
//     structs are converted (build.go) into the AST (ast.go), whose nodes
//     carry positions and print as canonical text that parses back to an
//     equal AST. Syntax errors are rephrased for people (syntax.go).
//   - Checking (check.go) resolves field names case-insensitively, types
//     and scales constants (ints as int64, decimals scaled to the field,
//     dates as day numbers), rejects operators that do not fit a field's
//     type with the operator that does, and suggests the nearest field or
//     value (suggest.go) for misspellings.
//
// The checked query (checked.go) is where the planner takes over: it
// flattens, pushes NOT into AND-NOT, folds constants and orders children by
// cardinality, none of which happens here. Saved segments stay unresolved
// (PredSegment, listed in Checked.Segments) because only the engine knows
// them and can detect cycles; relative windows (IN LAST n DAYS) stay
// relative because "now" belongs to the request.
//
// Every error about the query text, from Parse, Check or Compile, is an
// *Error carrying the line, column and byte offset of the offending text.
package query
