package query

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to the front end. It must never panic,
// every error must be a positioned *Error, and any query that parses must
// round-trip through String() to an equal AST. Queries are also checked
// against the test schema, which must not panic either; those that check
// must round-trip through Checked.String().
//
//	go test -run='^$' -fuzz=FuzzParse -fuzztime=60s ./query/
func FuzzParse(f *testing.F) {
	s := newTestSchema()
	for _, q := range tableInputs(s) {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := Parse(q, Options{})
		if err != nil {
			checkError(t, q, err)
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("%q: error spans lines: %q", q, err)
			}
			return
		}
		c, cerr := Check(e, s, testOptions(s))
		if cerr != nil {
			checkError(t, q, cerr)
		} else {
			text := c.String()
			c2, err := Compile(text, s, Options{Values: s, Limits: Limits{MaxLength: 1 << 30}})
			if err != nil {
				t.Fatalf("%q checks as %q, which does not compile: %v", q, text, err)
			}
			if c2.String() != text {
				t.Fatalf("%q: checked text not stable:\n first: %s\nsecond: %s", q, text, c2)
			}
		}
		roundTrip(t, q, e)
	})
}

// maxSeed keeps the limit-sized table inputs out of the seed corpus: a
// 64 KiB seed slows every mutation of it, and the limits are table-tested.
const maxSeed = 4 << 10

// tableInputs gathers the input of every table test and golden corpus.
func tableInputs(s *testSchema) []string {
	var in []string
	in = append(in, designExamples...)
	in = append(in, checkQueries...)
	in = append(in, parseQueries...)
	in = append(in, errorQueries...)
	for _, cs := range [][]textCase{parseCanonicalCases, parseErrorCases, checkErrorCases} {
		for _, c := range cs {
			in = append(in, c.in)
		}
	}
	for _, c := range parseASTCases() {
		in = append(in, c.in)
	}
	for _, c := range checkTypedCases(s) {
		in = append(in, c.in)
	}
	for _, c := range limitCases() {
		in = append(in, c.in)
	}
	for _, c := range hostileCases() {
		in = append(in, c.q)
	}
	out := in[:0]
	for _, q := range in {
		if len(q) <= maxSeed {
			out = append(out, q)
		}
	}
	return out
}
