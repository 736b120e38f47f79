package exec_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/query"
)

// queryGen writes random segment queries over testgen's schema.
type queryGen struct {
	r       *rand.Rand
	today   schema.Day
	unknown bool // may use values the data never held
}

func (g *queryGen) pick(vals []string) string {
	if g.unknown && g.r.IntN(12) == 0 {
		return "nope"
	}
	return vals[g.r.IntN(len(vals))]
}

func (g *queryGen) list(vals []string, quote bool) string {
	n := 1 + g.r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.pick(vals)
		if quote {
			parts[i] = "'" + parts[i] + "'"
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (g *queryGen) date(spread int) string {
	return "'" + schema.FormatDay(g.today-schema.Day(g.r.IntN(spread))+schema.Day(spread/10)) + "'"
}

func (g *queryGen) window(spread int) string {
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprintf("IN LAST %d DAYS", 1+g.r.IntN(spread))
	case 1:
		return "SINCE " + g.date(spread)
	case 2:
		return "BEFORE " + g.date(spread)
	case 3:
		a, b := g.date(spread), g.date(spread)
		if a > b {
			a, b = b, a
		}
		return "BETWEEN " + a + " AND " + b
	default:
		return "ON " + g.date(spread)
	}
}

var cmpOps = []string{"=", "!=", "<", "<=", ">", ">="}

func (g *queryGen) cond() string {
	r := g.r
	switch r.IntN(14) {
	case 0:
		return fmt.Sprintf("t %s '%s'", []string{"=", "!="}[r.IntN(2)], g.pick(testgen.TagVals))
	case 1:
		return fmt.Sprintf("t %sIN %s", []string{"", "NOT "}[r.IntN(2)], g.list(testgen.TagVals, true))
	case 2:
		f := []string{"t", "s", "b", "n", "d", "dt"}[r.IntN(6)]
		return f + []string{" IS NULL", " IS NOT NULL"}[r.IntN(2)]
	case 3:
		if r.IntN(2) == 0 {
			return fmt.Sprintf("s HAS '%s'", g.pick(testgen.SetVals))
		}
		return fmt.Sprintf("s HAS %s %s", []string{"ANY", "ALL"}[r.IntN(2)], g.list(testgen.SetVals, true))
	case 4:
		return []string{"b", "b = TRUE", "b = FALSE"}[r.IntN(3)]
	case 5:
		op := cmpOps[r.IntN(6)]
		if op == "=" || op == "!=" {
			return fmt.Sprintf("n %s %d", op, r.IntN(306)-5)
		}
		return fmt.Sprintf("n %s %d", op, r.IntN(320)-12)
	case 6:
		lo := r.IntN(320) - 12
		return fmt.Sprintf("n %sBETWEEN %d AND %d", []string{"", "NOT "}[r.IntN(2)], lo, lo+r.IntN(120))
	case 7:
		return fmt.Sprintf("n %sIN (%d, %d, %d)", []string{"", "NOT "}[r.IntN(2)], r.IntN(306)-5, r.IntN(306)-5, r.IntN(306)-5)
	case 8:
		return fmt.Sprintf("d %s %d.%02d", cmpOps[r.IntN(6)], r.IntN(1010)-8, r.IntN(100))
	case 9:
		if r.IntN(2) == 0 {
			return fmt.Sprintf("dt %s %s", cmpOps[r.IntN(6)], g.date(3000))
		}
		return "dt " + g.window(3000)
	case 10, 11, 12:
		f := []string{"e", "e2"}[r.IntN(2)]
		vals := "()"
		if r.IntN(3) != 0 {
			vals = g.list(testgen.EventVals, true)
		}
		s := f + vals
		switch r.IntN(3) {
		case 0:
			s += fmt.Sprintf(" AT LEAST %d TIMES", 1+r.IntN(7))
		case 1:
			s += fmt.Sprintf(" AT MOST %d TIMES", r.IntN(7))
		}
		if r.IntN(4) != 0 {
			s += " " + g.window(45)
		}
		return s
	default:
		return []string{"ALL", "SEGMENT('dyn')", "SEGMENT('fixed')", "SEGMENT('nested')"}[r.IntN(4)]
	}
}

// fused writes an AND of the shape the executor counts in word space
// (lookups, event windows with no frequency, ranges; see countFused), so
// that those paths are compared as often as the rest: running results
// large and small, ranges wide and narrow, windows inside and outside
// the days held.
func (g *queryGen) fused() string {
	r := g.r
	var parts []string
	for range r.IntN(3) {
		parts = append(parts, g.lookup())
	}
	for range 1 + r.IntN(2) {
		f := []string{"e", "e2"}[r.IntN(2)]
		vals := "()"
		if r.IntN(3) != 0 {
			vals = g.list(testgen.EventVals, true)
		}
		w := f + vals
		// Now and then a shape countFused leaves to the step by step
		// path, which then counts its last range inside the running
		// result.
		switch r.IntN(8) {
		case 0:
			w += fmt.Sprintf(" AT LEAST %d TIMES", 2+r.IntN(3))
		case 1:
			w = "NOT " + w
		}
		parts = append(parts, w+" "+g.window(45))
	}
	for range 1 + r.IntN(2) {
		parts = append(parts, g.rangeCond())
	}
	if r.IntN(4) == 0 {
		parts = append(parts, "NOT "+g.lookup())
	}
	r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return strings.Join(parts, " AND ")
}

func (g *queryGen) lookup() string {
	r := g.r
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("t = '%s'", g.pick(testgen.TagVals))
	case 1:
		return "t IN " + g.list(testgen.TagVals, true)
	case 2:
		return fmt.Sprintf("s HAS '%s'", g.pick(testgen.SetVals))
	}
	return []string{"b", "t IS NOT NULL", "d IS NOT NULL"}[r.IntN(3)]
}

func (g *queryGen) rangeCond() string {
	r := g.r
	switch r.IntN(5) {
	case 0:
		lo := r.IntN(320) - 12
		return fmt.Sprintf("n BETWEEN %d AND %d", lo, lo+r.IntN(200))
	case 1:
		if r.IntN(5) == 0 {
			return fmt.Sprintf("n != %d", r.IntN(306)-5) // within the bounds
		}
		return fmt.Sprintf("n %s %d", []string{"<", "<=", ">", ">="}[r.IntN(4)], r.IntN(320)-12)
	case 2:
		return fmt.Sprintf("d %s %d.%02d", cmpOps[1+r.IntN(5)], r.IntN(1010)-8, r.IntN(100))
	case 3:
		return "dt " + g.window(3000)
	}
	return fmt.Sprintf("dt %s %s", cmpOps[2+r.IntN(4)], g.date(3000))
}

func (g *queryGen) expr(depth int) string {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.cond()
	}
	switch g.r.IntN(4) {
	case 0:
		return "NOT " + g.paren(depth-1)
	case 1:
		return g.paren(depth-1) + " OR " + g.paren(depth-1)
	default:
		n := 2 + g.r.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = g.paren(depth - 1)
		}
		return strings.Join(parts, " AND ")
	}
}

func (g *queryGen) paren(depth int) string {
	e := g.expr(depth)
	if strings.Contains(e, " OR ") || strings.Contains(e, " AND ") || strings.HasPrefix(e, "NOT ") {
		return "(" + e + ")"
	}
	return e
}

// segments is a fixed set of saved segments for the tests.
type segments map[string]exec.Saved

func (s segments) Segment(name string) (exec.Saved, bool) { v, ok := s[name]; return v, ok }

// TestDifferentialAgainstReference compiles thousands of random queries
// over random data and compares the executor's count and bitmap with
// the reference model's row-by-row answer.
// modelDataset returns an empty dataset of testgen's schema beside an
// empty reference model, both on a fixed clock, and that clock's day.
func modelDataset(t *testing.T, name string) (*schema.Schema, *engine.Dataset, *reference.Model, schema.Day) {
	t.Helper()
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return now }}).Create(name, s)
	if err != nil {
		t.Fatal(err)
	}
	return s, ds, reference.New(s), schema.DayOf(now, s.Location())
}

func TestDifferentialAgainstReference(t *testing.T) {
	queries, nonEmpty, rebound, merged := 0, 0, 0, 0
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 77))
			s, ds, model, today := modelDataset(t, "diff")
			// Lines with identifiers merge profiles: every comparison also
			// checks that absorbed rows are gone from every index, from ALL
			// and from NOT, and that saved members follow their merges.
			lines := &testgen.Lines{R: r, Today: func() schema.Day { return today }, IDs: 3}
			// prev holds queries compiled on an earlier snapshot: rebound
			// to the current one, they must count what the reference
			// does now.
			var prev []*exec.Query
			for round := range 25 {
				var ups []record.Update
				for range 20 + r.IntN(60) {
					if u, err := record.Decode([]byte(lines.Line(300)), s); err == nil {
						ups = append(ups, u)
					}
				}
				res := ds.Apply(ups)
				created, mergedBefore := model.Created, model.Merged
				for _, u := range ups {
					model.Apply(u, today)
				}
				merged += res.Merged
				sn := ds.Snapshot()
				if sn.Profiles() != uint64(model.Live()) || len(res.Errors) > 0 || res.Merged != model.Merged-mergedBefore || res.Created != model.Created-created {
					t.Fatalf("engine %d profiles, %d created, %d merged (errors %v); reference %d, %d, %d",
						sn.Profiles(), res.Created, res.Merged, res.Errors, model.Live(), model.Created-created, model.Merged-mergedBefore)
				}
				fixed := roaring.New()
				fixedRef := map[uint32]bool{}
				for row := range sn.Rows() {
					if row%3 == 0 {
						fixed.Add(row)
						fixedRef[row] = true
					}
				}
				segs := segments{
					"dyn":    {Query: "t IN ('a', '上海') OR n > 100"},
					"fixed":  {Members: fixed},
					"nested": {Query: "SEGMENT('dyn') AND NOT b"},
				}
				qnow := today - schema.Day(r.IntN(5))
				opts := exec.Options{Now: &qnow, Segments: segs, AnyValue: round%2 == 1}
				refq := &reference.Query{M: model, Now: qnow, Segments: map[string]reference.SavedSegment{"fixed": {Members: fixedRef}}}
				for name, sv := range segs {
					if sv.Query != "" {
						c, err := query.Compile(sv.Query, exec.Catalog(sn), query.Options{})
						if err != nil {
							t.Fatal(err)
						}
						refq.Segments[name] = reference.SavedSegment{Query: c}
					}
				}
				for _, old := range prev {
					q, ok := old.Rebind(sn)
					if !ok {
						continue
					}
					rebound++
					ref := *refq
					ref.Now = q.Now()
					want, err := ref.Rows(q.Checked)
					if err != nil {
						t.Fatal(err)
					}
					got, err := q.Bitmap(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if gotRows := got.ToArray(); !slices.Equal(gotRows, want) && len(gotRows)+len(want) > 0 {
						t.Fatalf("rebound %s\nplan:\n%sengine %d rows %v\nreference %d rows %v", q.Text, q.Plan, len(gotRows), head(gotRows), len(want), head(want))
					}
				}
				prev = prev[:0]
				g := &queryGen{r: r, today: qnow, unknown: opts.AnyValue}
				for i := range 40 {
					text := g.expr(3)
					if i%4 == 3 {
						text = g.fused()
					}
					q, err := exec.Compile(sn, text, opts)
					if err != nil {
						// Only a value the data never held may be refused.
						var qe *query.Error
						if !asErr(err, &qe) || opts.AnyValue || !strings.Contains(qe.Msg, "unknown value") {
							t.Fatalf("%s: %v", text, err)
						}
						continue
					}
					queries++
					if len(prev) < 10 {
						prev = append(prev, q.Detached())
					}
					want, err := refq.Rows(q.Checked)
					if err != nil {
						t.Fatal(err)
					}
					got, err := q.Bitmap(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					gotRows := got.ToArray()
					if len(gotRows) == 0 {
						gotRows = nil
					}
					if !slices.Equal(gotRows, want) {
						t.Fatalf("%s\nplan:\n%sengine %d rows %v\nreference %d rows %v", text, q.Plan, len(gotRows), head(gotRows), len(want), head(want))
					}
					n, err := q.Count(context.Background())
					if err != nil || n != uint64(len(want)) {
						t.Fatalf("%s\nplan:\n%scount %d (%v), want %d", text, q.Plan, n, err, len(want))
					}
					// Again: an events view keeps a window's union from
					// its second use, so these runs read kept unions
					// (shared, never to be written), which the first
					// caller's bitmap must not have reached.
					got.Add(1 << 30)
					again, err := q.Bitmap(context.Background())
					if err != nil || !slices.Equal(nilIfEmpty(again.ToArray()), want) {
						t.Fatalf("%s\nplan:\n%sthird run differs (%v)", text, q.Plan, err)
					}
					if n, err := q.Count(context.Background()); err != nil || n != uint64(len(want)) {
						t.Fatalf("%s\nplan:\n%sfourth run counts %d (%v), want %d", text, q.Plan, n, err, len(want))
					}
					if len(want) > 0 && len(want) < model.Live() {
						nonEmpty++
					}
				}
			}
		})
	}
	if merged < 300 {
		t.Fatalf("only %d merges", merged)
	}
	if rebound < 500 {
		t.Fatalf("only %d rebound queries compared", rebound)
	}
	if queries < 3000 || nonEmpty < queries/4 {
		t.Fatalf("only %d queries compared, %d with a non-trivial answer", queries, nonEmpty)
	}
}

func asErr(err error, target **query.Error) bool {
	qe, ok := err.(*query.Error)
	*target = qe
	return ok
}

func head(rows []uint32) []uint32 { return rows[:min(len(rows), 10)] }

func nilIfEmpty(rows []uint32) []uint32 {
	if len(rows) == 0 {
		return nil
	}
	return rows
}
