package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortdb/cohort/bench"
	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/runner"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
)

// TestBenchReport runs 'cohort bench' small, checks the JSON report's
// shape and sanity, and checks its counts against the same queries run
// on an engine loaded here independently of the runner and its store.
func TestBenchReport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "store")
	benchRun := func(out string) (map[string]any, runner.Report) {
		t.Helper()
		var stdout, stderr strings.Builder
		args := []string{"bench", "--profiles", "5000", "--seed", "1", "--runs", "3", "--warmup", "0s", "--data", data, "--out", out}
		if rc := run(ctx, args, &stdout, &stderr); rc != 0 {
			t.Fatalf("%v: rc %d: %s", args, rc, stderr.String())
		}
		for _, want := range []string{"design-example", "lookalike-10k", "ratio", "first ratio", "ingest from memory"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, stdout.String())
			}
		}
		if n := len(runner.Mix()); !strings.Contains(stderr.String(), fmt.Sprintf("[%d/%d]", n, n)) {
			t.Errorf("no progress line for the last query on stderr:\n%s", stderr.String())
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var loose map[string]any
		var rep runner.Report
		if err := json.Unmarshal(raw, &loose); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatal(err)
		}
		return loose, rep
	}
	loose, rep := benchRun(filepath.Join(dir, "first.json"))

	// Every field of the shape is present, by its JSON name.
	for _, k := range []string{"profiles", "load_records_per_s", "rss_bytes", "bytes_per_profile", "startup_s", "queries"} {
		if _, ok := loose[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	qs, _ := loose["queries"].([]any)
	if len(qs) != len(runner.Mix()) {
		t.Fatalf("%d queries in the report, the mix has %d", len(qs), len(runner.Mix()))
	}
	for _, q := range qs {
		m, _ := q.(map[string]any)
		for _, k := range []string{"name", "query", "count", "p50_us", "p95_us", "p99_us", "floor_us", "ratio"} {
			if _, ok := m[k]; !ok {
				t.Errorf("query %v lacks %q", m["name"], k)
			}
		}
		// Counts are timed as first counts too.
		if m["kind"] == "count" {
			if f, _ := m["first_p50_us"].(float64); f <= 0 {
				t.Errorf("count %v has no first_p50_us", m["name"])
			}
		}
	}

	if rep.Profiles != 5000 || rep.Reused {
		t.Errorf("profiles %d, reused %v; want 5000 generated", rep.Profiles, rep.Reused)
	}
	if rep.LoadRecordsPerS <= 0 || rep.RSSBytes == 0 || rep.HeapBytes == 0 || rep.StartupS <= 0 || rep.CheckpointS <= 0 {
		t.Errorf("load %v records/s, rss %d, heap %d, startup %v s, checkpoint %v s: want all > 0",
			rep.LoadRecordsPerS, rep.RSSBytes, rep.HeapBytes, rep.StartupS, rep.CheckpointS)
	}
	// The ingest rate is measured over every record when they are fewer
	// than its sample, and reported in the table.
	if rep.IngestSample != 5000 || rep.IngestRecordsPerS <= 0 {
		t.Errorf("ingest %v records/s over %d records: want > 0 over 5000", rep.IngestRecordsPerS, rep.IngestSample)
	}
	if want := float64(rep.RSSBytes) / 5000; math.Abs(rep.BytesPerProfile-want) > 0.1 {
		t.Errorf("bytes_per_profile %v, rss/profiles %v", rep.BytesPerProfile, want)
	}
	if rep.Machine.CPUs <= 0 || rep.Machine.GoVersion == "" || rep.Now != "2026-11-22" || rep.Runs != 3 || rep.SlowRuns != 1 {
		t.Errorf("machine %+v, now %s, runs %d/%d", rep.Machine, rep.Now, rep.Runs, rep.SlowRuns)
	}
	byName := map[string]runner.QueryResult{}
	for i, q := range rep.Queries {
		mix := runner.Mix()[i]
		if q.Name != mix.Name || q.Query != mix.Describe() || q.Kind != mix.Kind {
			t.Errorf("query %d is %s %q, the mix has %s %q", i, q.Name, q.Query, mix.Name, mix.Describe())
		}
		byName[q.Name] = q
		if !(q.P50US > 0 && q.P50US <= q.P95US && q.P95US <= q.P99US && q.FloorUS > 0) {
			t.Errorf("%s: p50 %v p95 %v p99 %v floor %v µs: want 0 < p50 ≤ p95 ≤ p99 and floor > 0", q.Name, q.P50US, q.P95US, q.P99US, q.FloorUS)
		}
		if want := q.P50US / q.FloorUS; math.Abs(q.Ratio-want) > 0.0005+1e-9*want {
			t.Errorf("%s: ratio %v, p50/floor %v", q.Name, q.Ratio, want)
		}
		if q.Runs != 3 && q.Kind == runner.KindCount || q.Runs != 1 && q.Kind != runner.KindCount {
			t.Errorf("%s (%s): %d runs", q.Name, q.Kind, q.Runs)
		}
	}

	// The counts, checked against an engine loaded here.
	now := gen.DefaultNow()
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	ds, err := engine.New(engine.Options{Clock: gen.DefaultNow}).Create("check", sc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bench.Load(ds, gen.Options{Profiles: 5000, Seed: 1, Now: now}, engine.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	sn := ds.Snapshot()
	day := schema.DayOf(now, sc.Location())
	for _, name := range []string{"tag-eq", "int-between", "not-set", "event-90", "design-example"} {
		q, ok := byName[name]
		if !ok {
			t.Fatalf("no %s in the report", name)
		}
		cq, err := exec.Compile(sn, q.Query, exec.Options{Now: &day})
		if err != nil {
			t.Fatal(err)
		}
		want, err := cq.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if q.Count != want {
			t.Errorf("%s: report counts %d, the engine %d", name, q.Count, want)
		}
		// A plan without OR: the floor counts the same set.
		if name != "design-example" && q.FloorCount != want {
			t.Errorf("%s: floor counted %d, want %d", name, q.FloorCount, want)
		}
	}
	var profileText string
	for _, q := range runner.Mix() {
		if q.Name == "profile-city" {
			profileText = q.Text
		}
	}
	seg, err := exec.Compile(sn, profileText, exec.Options{Now: &day})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := seg.Count(ctx); byName["profile-city"].Count != n || byName["profile-city"].FloorCount != n-nullCity(t, sn, seg) {
		t.Errorf("profile-city: count %d floor %d; segment %d", byName["profile-city"].Count, byName["profile-city"].FloorCount, n)
	}
	for _, name := range []string{"lookalike-10k", "lookalike-10k-spread"} {
		if c := byName[name].Count; c == 0 || c > 10_000 {
			t.Errorf("%s returned %d profiles", name, c)
		}
	}

	// A second run reuses the store: no load, the same counts.
	_, again := benchRun(filepath.Join(dir, "second.json"))
	if !again.Reused || again.LoadRecordsPerS != 0 || again.Profiles != 5000 || again.StartupS <= 0 {
		t.Errorf("second run: reused %v, load %v, profiles %d, startup %v", again.Reused, again.LoadRecordsPerS, again.Profiles, again.StartupS)
	}
	for i, q := range again.Queries {
		if q.Count != rep.Queries[i].Count {
			t.Errorf("%s: %d on reuse, %d first", q.Name, q.Count, rep.Queries[i].Count)
		}
	}
}

// nullCity counts the segment's profiles without a city: the profile's
// floor sums the segment over every city value, so it misses them.
func nullCity(t *testing.T, sn *engine.Snapshot, seg *exec.Query) uint64 {
	t.Helper()
	bm, err := seg.Bitmap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fv, err := sn.Field("city")
	if err != nil {
		t.Fatal(err)
	}
	return bm.GetCardinality() - bm.AndCardinality(fv.Values.Exists())
}

// TestBenchFlags checks the dispatch: bad flags fail, help succeeds.
func TestBenchFlags(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		rc   int
	}{
		{[]string{"bench", "--profiles", "0"}, 1},
		{[]string{"bench", "--runs", "-1"}, 1},
		{[]string{"bench", "--ingest-sample", "-1"}, 1},
		{[]string{"bench", "extra"}, 1},
		{[]string{"bench", "--now", "yesterday"}, 1},
		{[]string{"bench", "-h"}, 0},
		{[]string{"bench", "help"}, 0},
		{[]string{"bench", "lookalike", "-h"}, 0},
	} {
		var stdout, stderr strings.Builder
		if rc := run(ctx, tc.args, &stdout, &stderr); (rc == 0) != (tc.rc == 0) {
			t.Errorf("%v: rc %d, want %d: %s", tc.args, rc, tc.rc, stderr.String())
		}
	}
}

// TestBenchReuseSizeMismatch refuses a store holding another size rather
// than report figures for profiles nobody asked for.
func TestBenchReuseSizeMismatch(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	var stdout, stderr strings.Builder
	if rc := run(ctx, []string{"bench", "--profiles", "1000", "--runs", "1", "--warmup", "0s", "--data", data}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
	stderr.Reset()
	if rc := run(ctx, []string{"bench", "--profiles", "2000", "--runs", "1", "--data", data}, &stdout, &stderr); rc == 0 || !strings.Contains(stderr.String(), "1000 profiles") {
		t.Errorf("rc %d, stderr %s: want a refusal naming the stored size", rc, stderr.String())
	}
}
