package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	profiles := fs.Int("profiles", 200_000, "number of generated profiles")
	seed := fs.Int64("seed", 1, "generator seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		return fmt.Errorf("demo schema: %w", err)
	}
	e := engine.New(engine.Options{})
	ds, err := e.Create("demo", s)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Generating and loading %d demo profiles (seed %d)…\n", *profiles, *seed)
	start := time.Now()
	res, err := bench.Load(ds, gen.Options{Profiles: *profiles, Seed: *seed, Now: time.Now()}, engine.LoadOptions{})
	if err != nil {
		return err
	}
	took := time.Since(start)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(stdout, "Loaded %d profiles (%d records applied, %d rejected) in %s: %.0f records/s, heap %.1f MiB (%.0f B/profile)\n\n",
		ds.Snapshot().Rows(), res.Applied, len(res.Errors), took.Round(time.Millisecond),
		float64(res.Applied)/took.Seconds(), float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapAlloc)/float64(max(1, ds.Snapshot().Rows())))
	for i, ie := range res.Errors {
		if i == 3 {
			break
		}
		fmt.Fprintf(stdout, "  line %d: %v\n", ie.Index, ie.Err)
	}
	return demoSegments(ctx, ds.Snapshot(), stdout)
}

// demoSegments answers the DESIGN's example audience step by step with
// index operations and prints the count of each step.
func demoSegments(ctx context.Context, sn *engine.Snapshot, stdout io.Writer) error {
	field := func(name string) *engine.FieldView {
		f, err := sn.Field(name)
		if err != nil {
			panic(fmt.Sprintf("BUG: demo schema lacks %s: %v", name, err))
		}
		return f
	}
	orEmpty := func(b *roaring.Bitmap) *roaring.Bitmap {
		if b == nil {
			return roaring.New()
		}
		return b
	}
	today := sn.Today()
	women := orEmpty(field("gender").Values.Bitmap("female"))
	age := field("age").BSI.Between(25, 35)
	cities := roaring.Or(orEmpty(field("city").Values.Bitmap("上海")), orEmpty(field("city").Values.Bitmap("杭州")))
	milk := field("purchase").Events.Window([]string{"milk_powder"}, today-89, today)
	churned := orEmpty(field("lifecycle").Values.Bitmap("churned"))
	notChurned := roaring.AndNot(field("lifecycle").Exists(), churned)

	seg := women.Clone()
	steps := []struct {
		name string
		b    *roaring.Bitmap
	}{
		{"gender = 'female'", women},
		{"AND age BETWEEN 25 AND 35", age},
		{"AND city IN ('上海', '杭州')", cities},
		{"AND purchase('milk_powder') IN LAST 90 DAYS", milk},
		{"AND lifecycle != 'churned'", notChurned},
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\tprofiles\t")
	for i, st := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if i > 0 {
			seg.And(st.b)
		}
		fmt.Fprintf(tw, "%s\t%d\t\n", st.name, seg.GetCardinality())
	}
	vip := field("churn_score").BSI.Compare(index.GE, 800)
	fmt.Fprintf(tw, "churn_score >= 800\t%d\t\n", vip.GetCardinality())
	fmt.Fprintf(tw, "purchase('coffee') AT LEAST 3 TIMES IN LAST 30 DAYS\t%d\t\n",
		field("purchase").Events.AtLeast([]string{"coffee"}, 3, today-29, today).GetCardinality())
	return tw.Flush()
}
