package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/schema"
)

// shopCSV uses Chinese values, a quoted comma, set and event columns, a
// mixed-case header, a BOM, the generic events column and an empty cell.
const shopCSV = "\uFEFFid,City,age,is_vip,ltv,registered_at,channels,purchase,events\r\n" +
	"c1,上海,31,yes,1234.50,2025-03-02,wechat|app,milk_powder@2026-11-01|coffee@2026-11-20T09:00:00+08:00,view:diapers@2026-11-02\r\n" +
	"c2,\"北京, 朝阳\",45,no,,2024-01-15,=jd,coffee@2026-11-21,\r\n" +
	"c3,上海,,1,10,,app,,add_to_cart:coffee@2026-11-03|view:tea@2026-11-04\r\n"

// shopNDJSON holds the same records as shopCSV.
const shopNDJSON = `{"id":"c1","set":{"city":"上海","age":31,"is_vip":true,"ltv":1234.50,"registered_at":"2025-03-02"},"add":{"channels":["wechat","app"]},"events":[{"field":"purchase","value":"milk_powder","time":"2026-11-01"},{"field":"purchase","value":"coffee","time":"2026-11-20T09:00:00+08:00"},{"field":"view","value":"diapers","time":"2026-11-02"}]}
{"id":"c2","set":{"city":"北京, 朝阳","age":45,"is_vip":false,"registered_at":"2024-01-15","channels":["jd"]},"events":[{"field":"purchase","value":"coffee","time":"2026-11-21"}]}
{"id":"c3","set":{"city":"上海","is_vip":true,"ltv":10},"add":{"channels":["app"]},"events":[{"field":"add_to_cart","value":"coffee","time":"2026-11-03"},{"field":"view","value":"tea","time":"2026-11-04"}]}
`

func TestLoadCSV(t *testing.T) {
	tmp := t.TempDir()
	schemaPath := writeFile(t, filepath.Join(tmp, "schema.json"), string(gen.SchemaJSON()))
	csvData, ndData := filepath.Join(tmp, "csvdata"), filepath.Join(tmp, "nddata")
	load := func(data string, args ...string) (int, string, string) {
		t.Helper()
		return cli(t, append([]string{"load", "--data", data, "--dataset", "shop", "--schema", schemaPath}, args...)...)
	}
	count := func(data, q string) string {
		t.Helper()
		rc, out, errs := cli(t, "query", "--data", data, "--dataset", "shop", "--now", "2026-11-22", q)
		if rc != 0 {
			t.Fatalf("query %s: rc %d\n%s", q, rc, errs)
		}
		return strings.TrimSpace(out)
	}

	csvPath := writeFile(t, filepath.Join(tmp, "shop.csv"), shopCSV)
	if rc, out, errs := load(csvData, csvPath); rc != 0 || !strings.Contains(out, "3 records applied (3 new profiles), 0 rejected") {
		t.Fatalf("csv load: rc %d\n%s\n%s", rc, out, errs)
	}
	ndPath := writeFile(t, filepath.Join(tmp, "shop.ndjson"), shopNDJSON)
	if rc, out, errs := load(ndData, ndPath); rc != 0 || !strings.Contains(out, "3 records applied (3 new profiles), 0 rejected") {
		t.Fatalf("ndjson load: rc %d\n%s\n%s", rc, out, errs)
	}
	queries := map[string]string{
		"ALL":                               "3",
		"city = '上海'":                       "2",
		"city = '北京, 朝阳'":                   "1",
		"age >= 40":                         "1",
		"age IS NULL":                       "1",
		"is_vip":                            "2",
		"ltv > 100":                         "1",
		"ltv IS NULL":                       "1",
		"registered_at < '2025-01-01'":      "1",
		"channels HAS 'app'":                "2",
		"channels HAS 'jd'":                 "1",
		"purchase('coffee') IN LAST 7 DAYS": "2",
		"purchase('milk_powder')":           "1",
		"view()":                            "2",
		"add_to_cart('coffee')":             "1",
	}
	for q, want := range queries {
		if got := count(csvData, q); got != want {
			t.Errorf("csv: %s = %s, want %s", q, got, want)
		}
		if got := count(ndData, q); got != want {
			t.Errorf("ndjson: %s = %s, want %s", q, got, want)
		}
	}

	// A bad cell is rejected with file:line, the other rows apply; an
	// empty cell leaves the field unchanged; '=' replaces a set.
	bad := writeFile(t, filepath.Join(tmp, "bad.csv"), "id,age,channels\nc1,abc,jd\nc2,,=app\n\"c3\",50,\n")
	rc, out, errs := load(csvData, bad)
	if rc != 0 || !strings.Contains(out, "2 records applied (0 new profiles), 1 rejected") ||
		!strings.Contains(out, `bad.csv:2: set: field age: an int takes a whole number, found "abc"`) {
		t.Fatalf("bad row: rc %d\n%s\n%s", rc, out, errs)
	}
	for q, want := range map[string]string{"age = 31": "1", "age = 50": "1", "channels HAS 'jd'": "0", "channels HAS 'app'": "3"} {
		if got := count(csvData, q); got != want {
			t.Errorf("after bad.csv: %s = %s, want %s", q, got, want)
		}
	}

	// An unknown column refuses the file before anything loads, even when
	// it is not the first file.
	good := writeFile(t, filepath.Join(tmp, "good.csv"), "id,age\nc9,20\n")
	unknown := writeFile(t, filepath.Join(tmp, "unknown.csv"), "id,age,cty\nc10,20,上海\n")
	rc, _, errs = load(csvData, good, unknown)
	if rc != 1 || !strings.Contains(errs, `unknown.csv: column 3 "cty" is not a field of dataset shop — did you mean city?`) {
		t.Fatalf("unknown column: rc %d\n%s", rc, errs)
	}
	if got := count(csvData, "ALL"); got != "3" {
		t.Fatalf("after a refused file: ALL = %s", got)
	}
	noID := writeFile(t, filepath.Join(tmp, "noid.csv"), "age\n20\n")
	if rc, _, errs := load(csvData, noID); rc != 1 || !strings.Contains(errs, "no id column") {
		t.Fatalf("no id: rc %d\n%s", rc, errs)
	}
	if rc, _, errs := load(csvData, "--format", "xml", good); rc != 1 || !strings.Contains(errs, "want csv or ndjson") {
		t.Fatalf("bad format: rc %d\n%s", rc, errs)
	}

	// Invalid UTF-8 and a short row are rejected by line.
	broken := writeFile(t, filepath.Join(tmp, "broken.csv"), "external_id,city\nc20,\xff\nc21\nc22,深圳\n")
	rc, out, errs = load(csvData, broken)
	if rc != 0 || !strings.Contains(out, "1 records applied (1 new profiles), 2 rejected") ||
		!strings.Contains(out, "broken.csv:2: column 2: invalid UTF-8") || !strings.Contains(out, "broken.csv:3: 1 columns, the header has 2") {
		t.Fatalf("broken rows: rc %d\n%s\n%s", rc, out, errs)
	}

	// Standard input with --format csv; a bare quote is a rejected row;
	// '=' alone empties a set.
	rc, out, errs = withStdin(t, "id,channels\nc22,=\nc23,a\"b\nc1,=\n", func() (int, string, string) {
		return load(csvData, "--format", "csv", "-")
	})
	if rc != 0 || !strings.Contains(out, "2 records applied (0 new profiles), 1 rejected") || !strings.Contains(out, "stdin:3: ") {
		t.Fatalf("stdin: rc %d\n%s\n%s", rc, out, errs)
	}
	if got := count(csvData, "channels HAS 'app'"); got != "2" {
		t.Fatalf("after emptying c1's channels: %s have app, want 2", got)
	}
}

// withStdin runs f with standard input reading input.
func withStdin(t *testing.T, input string, f func() (int, string, string)) (int, string, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.WriteString(input)
		w.Close()
	}()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	return f()
}

func TestRowRecord(t *testing.T) {
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseCSVHeader([]string{"id", "age", "ltv", "is_vip", "interests", "purchase"}, sc, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cells []string
		want  string
	}{
		{[]string{"a", "31", "1.50", "TRUE", "x| y ||z", "@2026-01-01|a@b@2026-01-02"},
			`{"id":"a","set":{"age":31,"is_vip":true,"ltv":1.50},"add":{"interests":["x","y","z"]},"events":[{"field":"purchase","time":"2026-01-01"},{"field":"purchase","value":"a@b","time":"2026-01-02"}]}`},
		{[]string{"b", "3x", "1e2", "maybe", "=", ""},
			`{"id":"b","set":{"age":"3x","interests":[],"is_vip":"maybe","ltv":1e2}}`},
		{[]string{"\"q\"", "", "", "", "", ""}, `{"id":"\"q\""}`},
	} {
		got, err := h.rowRecord(c.cells)
		if err != nil || string(got) != c.want {
			t.Errorf("%q: %s, %v\nwant %s", c.cells, got, err, c.want)
		}
	}
	if _, err := h.rowRecord([]string{"a", "", "", "", "", "coffee"}); err == nil || !strings.Contains(err.Error(), "has no @time") {
		t.Errorf("event without time: %v", err)
	}
}

// TestRowRecordIdentifiers: ids.<type> columns become the record's ids;
// they can stand in for the id column.
func TestRowRecordIdentifiers(t *testing.T) {
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseCSVHeader([]string{"ids.phone", "IDS.Email", "age"}, sc, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cells []string
		want  string
	}{
		{[]string{"+8613800000000", "a@b.cn", "31"}, `{"ids":{"email":"a@b.cn","phone":"+8613800000000"},"set":{"age":31}}`},
		{[]string{"", "a@b.cn", ""}, `{"ids":{"email":"a@b.cn"}}`},
		{[]string{"", "", "31"}, `{"set":{"age":31}}`}, // refused by the decoder: no id
	} {
		got, err := h.rowRecord(c.cells)
		if err != nil || string(got) != c.want {
			t.Errorf("%q: %s, %v\nwant %s", c.cells, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"age"}, {"id", "ids.Bad-Type"}, {"id", "ids.external"}, {"ids.phone", "ids.PHONE"}} {
		if _, err := parseCSVHeader(bad, sc, "shop"); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}
