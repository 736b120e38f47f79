package query

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/query")

// goldenDir holds golden files shared with the rest of the repository's
// test data.
var goldenDir = filepath.Join("..", "testdata", "query")

// golden compares got with the named golden file, or rewrites the file
// under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cannot read golden file (run go test ./query -update to create it): %v", err)
	}
	if string(want) == got {
		return
	}
	wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			t.Fatalf("%s differs from the output at line %d (run go test ./query -update if the change is intended)\nwant: %s\ngot:  %s", path, i+1, w, g)
		}
	}
}

// goldenInput renders a query on one line: as written when that is
// unambiguous, Go-quoted otherwise (newlines, control characters, edges of
// white space).
func goldenInput(q string) string {
	plain := q == strings.TrimSpace(q) && q != ""
	for _, r := range q {
		if r < ' ' || r == 0x7f || r == '\u3000' {
			plain = false
		}
	}
	if plain && !strings.ContainsRune(q, '\uFFFD') && isValidUTF8(q) {
		return "in:  " + q
	}
	return fmt.Sprintf("inq: %q", q)
}

func isValidUTF8(s string) bool { _, ok := validUTF8(s); return ok }

// goldenOutput keeps each output on one line, quoting it when the text
// itself spans lines.
func goldenOutput(s string) string {
	if strings.ContainsAny(s, "\n\r") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func TestGoldenParse(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Canonical text of each query: Parse, then Expr.String().\n# Regenerate with: go test ./query -update\n\n")
	for _, q := range append(append(append([]string{}, designExamples...), checkQueries...), parseQueries...) {
		e, err := Parse(q, Options{})
		b.WriteString(goldenInput(q) + "\n")
		if err != nil {
			t.Errorf("Parse(%q): %v", q, err)
			fmt.Fprintf(&b, "err: %v\n\n", err)
			continue
		}
		fmt.Fprintf(&b, "out: %s\n\n", goldenOutput(e.String()))
	}
	golden(t, "parse.golden", b.String())
}

func TestGoldenCheck(t *testing.T) {
	s := newTestSchema()
	var b strings.Builder
	b.WriteString("# Checked query of each query against the test schema: Compile, then Checked.String().\n# Regenerate with: go test ./query -update\n\n")
	for _, q := range append(append([]string{}, designExamples...), checkQueries...) {
		c, err := Compile(q, s, testOptions(s))
		b.WriteString(goldenInput(q) + "\n")
		if err != nil {
			t.Errorf("Compile(%q): %v", q, err)
			fmt.Fprintf(&b, "err: %v\n\n", err)
			continue
		}
		fmt.Fprintf(&b, "out: %s\n", goldenOutput(c.String()))
		if len(c.Segments) > 0 {
			fmt.Fprintf(&b, "segments: %q\n", c.Segments)
		}
		b.WriteString("\n")
	}
	golden(t, "check.golden", b.String())
}

func TestGoldenErrors(t *testing.T) {
	s := newTestSchema()
	var b strings.Builder
	b.WriteString("# Exact error of each query, from Parse or Check against the test schema.\n# Regenerate with: go test ./query -update\n\n")
	for _, q := range errorQueries {
		_, err := Compile(q, s, testOptions(s))
		b.WriteString(goldenInput(q) + "\n")
		if err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", q)
			b.WriteString("ok\n\n")
			continue
		}
		checkError(t, q, err)
		fmt.Fprintf(&b, "err: %s\n\n", goldenOutput(err.Error()))
	}
	golden(t, "errors.golden", b.String())
}
