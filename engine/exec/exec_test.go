package exec_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/schema"
)

func smallDataset(t *testing.T) *engine.Snapshot {
	t.Helper()
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return now }}).Create("small", s)
	if err != nil {
		t.Fatal(err)
	}
	lines := `{"id":"p0","set":{"t":"上海","n":10,"b":true},"events":[{"field":"e","value":"m","time":"2026-11-20"},{"field":"e","value":"m","time":"2026-11-21"}]}
{"id":"p1","set":{"t":"杭州","n":20},"events":[{"field":"e","value":"n","time":"2026-11-01"}]}
{"id":"p2","set":{"n":30,"b":false}}
{"id":"p3"}`
	if res, err := ds.ApplyNDJSON(strings.NewReader(lines), engine.LoadOptions{}); err != nil || len(res.Errors) > 0 {
		t.Fatalf("%v %v", err, res.Errors)
	}
	return ds.Snapshot()
}

func count(t *testing.T, sn *engine.Snapshot, q string, opts exec.Options) uint64 {
	t.Helper()
	c, err := exec.Compile(sn, q, opts)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, err := c.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSemantics(t *testing.T) {
	sn := smallDataset(t)
	now, _ := schema.ParseDay("2026-11-22")
	opts := exec.Options{Now: &now}
	for _, c := range []struct {
		q    string
		want uint64
	}{
		{`t != '上海'`, 1},       // p1 only: p2, p3 have no t
		{`NOT t = '上海'`, 3},    // the complement keeps profiles without t
		{`t NOT IN ('上海')`, 1}, // like !=
		{`NOT t IN ('上海')`, 3}, // like NOT =
		{`b = FALSE`, 1},       // p2
		{`NOT b`, 3},           // p1, p2, p3
		{`b IS NULL`, 2},       // p1, p3
		{`e('m') AT LEAST 2 TIMES IN LAST 3 DAYS`, 1},
		{`e('m') AT LEAST 2 TIMES IN LAST 2 DAYS`, 0}, // Nov 21–22 holds one day
		{`e() AT MOST 0 TIMES IN LAST 30 DAYS`, 2},    // p2, p3: profiles with none count
		{`e() AT MOST 1 TIMES`, 3},
		{`e() BEFORE '2026-11-20'`, 1}, // strictly earlier: p1 only
		{`e() SINCE '2026-11-21'`, 1},  // inclusive
		{`e() BETWEEN '2026-11-01' AND '2026-11-20'`, 2},
		{`ALL`, 4},
		{`n BETWEEN 10 AND 20 AND n > 10`, 1},
	} {
		if got := count(t, sn, c.q, opts); got != c.want {
			t.Errorf("%s: %d, want %d", c.q, got, c.want)
		}
	}
}

func TestNowDefaultsToSnapshotToday(t *testing.T) {
	sn := smallDataset(t)
	q, err := exec.Compile(sn, `e() IN LAST 3 DAYS`, exec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if schema.FormatDay(q.Now()) != "2026-11-22" {
		t.Fatalf("now = %s", schema.FormatDay(q.Now()))
	}
}

func TestSegments(t *testing.T) {
	sn := smallDataset(t)
	members := roaring.BitmapOf(2, 3)
	segs := segments{
		"a":     {Query: "SEGMENT('b') OR b"},
		"b":     {Query: "SEGMENT('c')"},
		"c":     {Query: "SEGMENT('a')"},
		"hz":    {Query: "t = '杭州'"},
		"two":   {Members: members},
		"mixed": {Query: "SEGMENT('hz') OR SEGMENT('two')"},
		"stale": {Query: "gone = 1"},
	}
	opts := exec.Options{Segments: segs}
	if got := count(t, sn, `SEGMENT('mixed')`, opts); got != 3 {
		t.Fatalf("mixed = %d, want 3", got)
	}
	if got := count(t, sn, `SEGMENT('hz') AND SEGMENT('hz')`, opts); got != 1 {
		t.Fatalf("hz twice = %d", got)
	}
	for q, want := range map[string]string{
		`n > 1 AND SEGMENT('a')`: `line 1, column 11: segment 'a' refers to itself: a → b → c → a`,
		`SEGMENT('nope')`:        `line 1, column 1: unknown segment 'nope'`,
		`SEGMENT('stale')`:       `line 1, column 1: saved segment 'stale' no longer compiles: line 1, column 1: unknown field 'gone'`,
	} {
		_, err := exec.Compile(sn, q, opts)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s:\n got  %v\n want %s…", q, err, want)
		}
	}
}

func TestAnyValue(t *testing.T) {
	sn := smallDataset(t)
	if _, err := exec.Compile(sn, `t = 'Shanghia'`, exec.Options{}); err == nil || !strings.Contains(err.Error(), "unknown value 'Shanghia'") {
		t.Fatalf("want an unknown value error, got %v", err)
	}
	if got := count(t, sn, `t = 'Shanghia'`, exec.Options{AnyValue: true}); got != 0 {
		t.Fatalf("unknown value matched %d", got)
	}
}

func TestExplainAgreesWithCount(t *testing.T) {
	sn := smallDataset(t)
	q, err := exec.Compile(sn, `(t = '上海' OR n >= 20) AND NOT (b OR e('n'))`, exec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := q.Explain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := q.Count(context.Background())
	if e.Count != n || n != 1 {
		t.Fatalf("explain count %d, count %d, want 1", e.Count, n)
	}
	text := e.Text()
	for _, want := range []string{"- b", "- e('n')", "OR", "actual"} {
		if !strings.Contains(text, want) {
			t.Fatalf("explain lacks %q:\n%s", want, text)
		}
	}
}

// TestExplainKept: EXPLAIN marks a range or window read from what the
// view keeps: from a condition's second use on a snapshot, which builds
// and keeps it.
func TestExplainKept(t *testing.T) {
	sn := smallDataset(t)
	for _, text := range []string{`t = '上海' AND n BETWEEN 5 AND 15`, `e('m') IN LAST 30 DAYS`, `b AND t IN ('上海', '杭州')`} {
		q, err := exec.Compile(sn, text, exec.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for run := range 3 {
			e, err := q.Explain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			kept := strings.Contains(e.Text(), ", kept")
			if want := run >= 1; kept != want || e.Count != 1 {
				t.Fatalf("%s, run %d: kept %v (want %v), count %d:\n%s", text, run, kept, want, e.Count, e.Text())
			}
		}
	}
}

// TestFresh: a fresh query answers as a plain one and neither reads nor
// fills what the views keep.
func TestFresh(t *testing.T) {
	sn, plain := smallDataset(t), smallDataset(t)
	texts := []string{
		`t = '上海' AND n BETWEEN 5 AND 15`, `e('m') IN LAST 30 DAYS`, `n > 10`,
		`e() IN LAST 30 DAYS AND NOT e('m') IN LAST 7 DAYS AND n >= 10`,
		`e('m') AT LEAST 2 TIMES IN LAST 30 DAYS`,
		`b AND t IN ('上海', '杭州')`,
		// (Leaves no other text names: the loop below counts uses.)
		`e() IN LAST 20 DAYS AND NOT e('m') IN LAST 5 DAYS`,
	}
	for _, text := range texts {
		fresh, err := exec.Compile(sn, text, exec.Options{Fresh: true})
		if err != nil {
			t.Fatal(err)
		}
		want := count(t, plain, text, exec.Options{})
		for range 3 {
			if got, err := fresh.Count(context.Background()); err != nil || got != want {
				t.Fatalf("%s: fresh count %d (%v), want %d", text, got, err, want)
			}
			e, err := fresh.Explain(context.Background())
			if err != nil || e.Count != want || strings.Contains(e.Text(), ", kept") {
				t.Fatalf("%s: fresh explain read a kept result or miscounted (%v):\n%s", text, err, e.Text())
			}
		}
	}
	// Nothing was filled or even noted: a plain query's first run on the
	// same snapshot reads nothing kept (a noted use would make it the
	// second, which keeps).
	for _, text := range texts {
		q, err := exec.Compile(sn, text, exec.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := q.Explain(context.Background()); strings.Contains(e.Text(), ", kept") {
			t.Fatalf("%s: kept after fresh runs:\n%s", text, e.Text())
		}
	}
}

func TestCancelled(t *testing.T) {
	sn := smallDataset(t)
	q, err := exec.Compile(sn, `t = '上海' AND n > 1`, exec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Count(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

// TestRepeatedValues checks that a value named twice in an IN list counts
// once, on every counting path (a lone list, the last step of an AND of
// lookups, a negated list).
func TestRepeatedValues(t *testing.T) {
	sn := smallDataset(t)
	for q, want := range map[string]uint64{
		`t IN ('上海', '上海')`:                   1,
		`t IN ('上海', '杭州', '上海')`:             2,
		`NOT t IN ('上海', '上海')`:               3,
		`t NOT IN ('上海', '上海')`:               1,
		`b AND t IN ('上海', '上海')`:             1,
		`n > 0 AND t IN ('上海', '杭州', '杭州')`:   2,
		`t IS NOT NULL AND t IN ('杭州', '杭州')`: 1,
	} {
		if got := count(t, sn, q, exec.Options{}); got != want {
			t.Errorf("%s: %d, want %d", q, got, want)
		}
	}
}

// TestKeptWindowsStayIntact runs queries whose window or range is
// evaluated on its own (in an OR, under NOT, alone, first or inside an
// AND) many times on one snapshot: from the second use the view keeps the
// window's union or the range's profiles and hands them out shared, so
// nothing the executor does with them may write to them.
func TestKeptWindowsStayIntact(t *testing.T) {
	sn := smallDataset(t)
	for _, q := range []string{
		"e('m') IN LAST 7 DAYS OR t = '杭州'",
		"t = '杭州' OR e() IN LAST 30 DAYS",
		"NOT e() IN LAST 30 DAYS",
		"e() IN LAST 30 DAYS AND NOT e('m') IN LAST 7 DAYS",
		"e() AT LEAST 2 TIMES IN LAST 30 DAYS",
		"e('m') AT LEAST 1 TIMES IN LAST 7 DAYS",
		"e() AT LEAST 3 TIMES",
		"e() AT LEAST 2 TIMES IN LAST 30 DAYS OR b",
		"(e('m') IN LAST 7 DAYS OR b) AND n >= 10",
		"n BETWEEN 10 AND 20",
		"n > 10 OR t = '上海'",
		"NOT n BETWEEN 15 AND 25",
		"n <= 20 AND t = '杭州'",
		"t IN ('上海', '杭州') AND n >= 20 AND NOT n > 25",
		"b AND n < 30 AND n > 10",
		"t IN ('上海', '杭州') OR b",
		"NOT t IN ('上海', '杭州')",
		"t NOT IN ('上海', '杭州') OR n = 30",
		"n >= 10 AND t IN ('上海', '杭州')",
	} {
		c, err := exec.Compile(sn, q, exec.Options{})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var first []uint32
		for run := range 5 {
			b, err := c.Bitmap(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rows := b.ToArray()
			b.Add(999) // the caller's own
			if run == 0 {
				first = rows
			} else if !slices.Equal(rows, first) {
				t.Fatalf("%s: run %d gives %v, the first gave %v", q, run, rows, first)
			}
			if n, err := c.Count(context.Background()); err != nil || n != uint64(len(first)) {
				t.Fatalf("%s: run %d counts %d (%v), want %d", q, run, n, err, len(first))
			}
		}
	}
}
