package main

import (
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/storage"
)

// cli runs the command in-process and returns its exit code and output.
func cli(t *testing.T, args ...string) (rc int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	rc = run(context.Background(), args, &out, &errb)
	return rc, out.String(), errb.String()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadThenQueryAndSegments(t *testing.T) {
	tmp := t.TempDir()
	src, data := filepath.Join(tmp, "gen"), filepath.Join(tmp, "data")
	if rc, _, errs := cli(t, "gen", "--profiles", "300", "--seed", "5", "--now", "2026-11-22", "--out", src); rc != 0 {
		t.Fatalf("gen: %s", errs)
	}
	schemaPath, profiles := filepath.Join(src, gen.SchemaFile), filepath.Join(src, gen.ProfilesFile)
	mustQuery := func(q, want string) {
		t.Helper()
		rc, out, errs := cli(t, "query", "--data", data, "--dataset", "shop", "--now", "2026-11-22", q)
		if rc != 0 || strings.TrimSpace(out) != want {
			t.Fatalf("query %s: rc %d, %q, want %s\n%s", q, rc, out, want, errs)
		}
	}

	// A dataset that does not exist needs a schema.
	rc, _, errs := cli(t, "load", "--data", data, "--dataset", "shop", profiles)
	if rc != 1 || !strings.Contains(errs, "give --schema FILE to create it") {
		t.Fatalf("load without a schema: rc %d\n%s", rc, errs)
	}
	rc, out, errs := cli(t, "load", "--data", data, "--dataset", "shop", "--schema", schemaPath, "--batch", "64", "--ack", profiles)
	if rc != 0 || !strings.Contains(out, "shop: 300 records applied (300 new profiles), 0 rejected") {
		t.Fatalf("load: rc %d\n%s\n%s", rc, out, errs)
	}
	if !strings.Contains(out, "ACK 64\n") || !strings.Contains(out, "ACK 300\n") || strings.Count(out, "ACK ") != 5 {
		t.Fatalf("acknowledgements:\n%s", out)
	}
	mustQuery("ALL", "300")

	// Rejected lines are reported by file and line; the rest applies.
	bad := writeFile(t, filepath.Join(tmp, "bad.ndjson"), strings.Join([]string{
		`{"id":"x1","set":{"age":31}}`,
		`{"id":"x2","set":{"age":300}}`,
		``,
		`not json`,
		`{"id":"x3","set":{"nope":1}}`,
	}, "\n"))
	rc, out, errs = cli(t, "load", "--data", data, "--dataset", "shop", bad)
	if rc != 0 || !strings.Contains(out, "1 records applied (1 new profiles), 3 rejected") ||
		!strings.Contains(out, "bad.ndjson:2: set: field age: 300 is outside the declared range 0..120") ||
		!strings.Contains(out, "bad.ndjson:4: ") || !strings.Contains(out, "bad.ndjson:5: ") {
		t.Fatalf("load with rejections: rc %d\n%s\n%s", rc, out, errs)
	}
	mustQuery("ALL", "301")
	allBad := writeFile(t, filepath.Join(tmp, "allbad.ndjson"), "{}\n")
	if rc, _, errs := cli(t, "load", "--data", data, "--dataset", "shop", allBad); rc != 1 || !strings.Contains(errs, "no record applied") {
		t.Fatalf("all rejected: rc %d\n%s", rc, errs)
	}
	if rc, _, errs := cli(t, "load", "--data", data, "--dataset", "shop", "x.csv"); rc != 1 || !strings.Contains(errs, "open x.csv: no such file") {
		t.Fatalf("csv: rc %d\n%s", rc, errs)
	}

	// A schema file with a field more adds it; one that changes a field
	// is refused.
	grown := strings.Replace(string(gen.SchemaJSON()), `"fields": [`, `"fields": [`+"\n", 1)
	grown = strings.Replace(grown, "\n  ]\n}", ",\n    {\"name\": \"tier\", \"type\": \"tag\"}\n  ]\n}", 1)
	grownPath := writeFile(t, filepath.Join(tmp, "grown.json"), grown)
	tiers := writeFile(t, filepath.Join(tmp, "tiers.ndjson"), `{"id":"u000000001","set":{"tier":"gold"}}`+"\n")
	rc, _, errs = cli(t, "load", "--data", data, "--dataset", "shop", "--schema", grownPath, tiers)
	if rc != 0 || !strings.Contains(errs, "added field tier (tag) to shop") {
		t.Fatalf("load with a grown schema: rc %d\n%s", rc, errs)
	}
	mustQuery("tier = 'gold'", "1")
	changed := writeFile(t, filepath.Join(tmp, "changed.json"), strings.Replace(string(gen.SchemaJSON()), `"max": 120`, `"max": 130`, 1))
	if rc, _, errs := cli(t, "load", "--data", data, "--dataset", "shop", "--schema", changed, tiers); rc != 1 || !strings.Contains(errs, "never changed or reordered") {
		t.Fatalf("load with a changed schema: rc %d\n%s", rc, errs)
	}

	// Saved segments: checked against the data, usable in queries.
	rc, out, errs = cli(t, "segment", "save", "--data", data, "--dataset", "shop", "--description", "gold members", "gold", "tier = 'gold'")
	if rc != 0 || !strings.Contains(out, "saved segment gold of shop: 1 profiles now") {
		t.Fatalf("segment save: rc %d\n%s\n%s", rc, out, errs)
	}
	if rc, _, errs := cli(t, "segment", "save", "--data", data, "--dataset", "shop", "typo", "city = 'Shanghia'"); rc != 1 || !strings.Contains(errs, "unknown value 'Shanghia'") {
		t.Fatalf("segment save with a typo: rc %d\n%s", rc, errs)
	}
	if rc, _, errs := cli(t, "segment", "save", "--data", data, "--dataset", "shop", "both", "SEGMENT('gold') OR SEGMENT('both')"); rc != 1 || !strings.Contains(errs, "refers to itself") {
		t.Fatalf("segment save with a cycle: rc %d\n%s", rc, errs)
	}
	mustQuery("SEGMENT('gold') AND tier IS NOT NULL", "1")
	rc, out, errs = cli(t, "segment", "list", "--data", data, "--dataset", "shop")
	if rc != 0 || !strings.Contains(out, "gold") || !strings.Contains(out, "tier = 'gold'") || !strings.Contains(out, "gold members") {
		t.Fatalf("segment list: rc %d\n%s\n%s", rc, out, errs)
	}
	if rc, out, _ := cli(t, "segment", "delete", "--data", data, "--dataset", "shop", "gold"); rc != 0 || !strings.Contains(out, "deleted segment gold") {
		t.Fatalf("segment delete: rc %d\n%s", rc, out)
	}
	if rc, _, errs := cli(t, "segment", "delete", "--data", data, "--dataset", "shop", "gold"); rc != 1 || !strings.Contains(errs, "segment not found") {
		t.Fatalf("second delete: rc %d\n%s", rc, errs)
	}
	if rc, out, _ := cli(t, "segment", "list", "--data", data, "--dataset", "shop"); rc != 0 || !strings.Contains(out, "no saved segments") {
		t.Fatalf("list after delete: rc %d\n%s", rc, out)
	}

	// A second process on the same directory is refused.
	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rc, _, errs := cli(t, "load", "--data", data, "--dataset", "shop", tiers); rc != 1 || !strings.Contains(errs, "is in use by another cohort process") {
		t.Fatalf("load while the directory is open: rc %d\n%s", rc, errs)
	}
}

func TestReadLinesSkipsBlankAndOverlongLines(t *testing.T) {
	long := strings.Repeat("x", 1<<20+1)
	input := "a\r\n\n  \n" + long + "\nb\n" + "c"
	type got struct {
		no      int
		line    string
		tooLong bool
	}
	var lines []got
	err := readLines(strings.NewReader(input), func(no int, line []byte, tooLong bool) bool {
		lines = append(lines, got{no, string(line), tooLong})
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{1, "a", false}, {4, "", true}, {5, "b", false}, {6, "c", false}}
	if len(lines) != len(want) {
		t.Fatalf("lines %v", lines)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("line %d: %+v, want %+v", i, lines[i], want[i])
		}
	}
}

// TestReadLinesAgainstASplit compares readLines with a plain split on
// inputs that cross its 4 MiB blocks, read in pieces of random sizes.
// The lines are kept as handed out, not copied: they must stay valid.
func TestReadLinesAgainstASplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 1))
	for round := range 6 {
		var in strings.Builder
		for in.Len() < 9<<20 {
			var n int
			switch rng.IntN(20) {
			case 0:
				n = record.MaxLineBytes - 2 + rng.IntN(5) // around the limit
			case 1:
				n = 0
			default:
				n = rng.IntN(3000)
			}
			line := make([]byte, n)
			for i := range line {
				line[i] = "abc xyz{}\":,"[rng.IntN(12)]
			}
			in.Write(line)
			for range rng.IntN(3) * rng.IntN(2) {
				in.WriteString("\r")
			}
			in.WriteString("\n")
		}
		if round%2 == 1 {
			in.WriteString("tail without a newline")
		}
		type got struct {
			no      int
			line    []byte
			tooLong bool
		}
		var lines []got
		err := readLines(&pieces{s: in.String(), rng: rng}, func(no int, line []byte, tooLong bool) bool {
			lines = append(lines, got{no, line, tooLong})
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []got
		parts := strings.Split(in.String(), "\n")
		if parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		for i, p := range parts {
			p = strings.TrimRight(p, "\r")
			switch {
			case len(strings.TrimRight(parts[i], "\r\n")) > record.MaxLineBytes:
				want = append(want, got{i + 1, nil, true})
			case strings.TrimSpace(p) != "":
				want = append(want, got{i + 1, []byte(p), false})
			}
		}
		if len(lines) != len(want) {
			t.Fatalf("round %d: %d lines, want %d", round, len(lines), len(want))
		}
		for i := range want {
			if lines[i].no != want[i].no || lines[i].tooLong != want[i].tooLong || string(lines[i].line) != string(want[i].line) {
				t.Fatalf("round %d: line %d is %d/%v/%d bytes, want %d/%v/%d bytes", round, i,
					lines[i].no, lines[i].tooLong, len(lines[i].line), want[i].no, want[i].tooLong, len(want[i].line))
			}
		}
	}
}

// pieces reads a string in pieces of random sizes.
type pieces struct {
	s   string
	rng *rand.Rand
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.s) == 0 {
		return 0, io.EOF
	}
	n := min(len(b), len(p.s), 1+p.rng.IntN(256<<10))
	copy(b, p.s[:n])
	p.s = p.s[n:]
	return n, nil
}
