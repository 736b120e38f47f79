package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
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

// demoQueries are the DESIGN's example segments, in the segment language.
var demoQueries = []string{
	`gender = 'female' AND age BETWEEN 25 AND 35
  AND city IN ('上海', '杭州')
  AND purchase('milk_powder') IN LAST 90 DAYS
  AND lifecycle != 'churned'`,
	`member_level IN ('L3', 'L4') AND NOT channels HAS 'wechat'`,
	`add_to_cart() IN LAST 7 DAYS AND NOT purchase() IN LAST 7 DAYS`,
	`purchase('coffee') AT LEAST 3 TIMES IN LAST 30 DAYS`,
	`is_vip AND churn_score >= 800`,
	`registered_at IN LAST 365 DAYS AND ltv > 5000`,
}

// demoSegments counts the example segments and explains the first.
func demoSegments(ctx context.Context, sn *engine.Snapshot, stdout io.Writer) error {
	for i, text := range demoQueries {
		q, err := exec.Compile(sn, text, exec.Options{})
		if err != nil {
			return fmt.Errorf("demo query %d: %w", i+1, err)
		}
		start := time.Now()
		n, err := q.Count(ctx)
		if err != nil {
			return err
		}
		took := time.Since(start)
		fmt.Fprintf(stdout, "%s\n  → %d profiles (%s)\n\n", strings.Join(strings.Fields(text), " "), n, took.Round(time.Microsecond))
		if i == 0 {
			e, err := q.Explain(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "EXPLAIN of the first:\n%s\n", indent(e.Text()))
		}
	}
	return nil
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
