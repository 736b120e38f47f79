package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/runner"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

const benchUsage = `Usage:
  cohort bench [--profiles N] [--seed S] [--now YYYY-MM-DD] [--data DIR] [--out report.json] [--runs R] [--slow-runs R] [--ingest-sample N] [--durable]
      load rate, memory, startup from disk and the query mix beside its physical floor (BENCHMARKS.md)
  cohort bench lookalike [--profiles N] [--seeds 5] [--seed-sizes 100,1000,10000] [--out FILE.json]
      lookalike precision/recall/AUC against a planted truth`

// runBench dispatches 'cohort bench': the engine benchmark runner by
// default, 'cohort bench lookalike' for the lookalike evaluation.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "lookalike":
			return runBenchLookalike(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprintln(stderr, benchUsage)
			return nil
		}
	}
	return runBenchMix(ctx, args, stdout, stderr)
}

func runBenchMix(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	profiles := fs.Int("profiles", 1_000_000, "generated profiles")
	seed := fs.Int64("seed", 1, "generator seed")
	nowFlag := fs.String("now", "", "reference date YYYY-MM-DD: the generator's last event day and the end of every window (default 2026-11-22, the generator's)")
	data := fs.String("data", "", "store to keep the dataset in; one holding dataset 'bench' is reused (default: a temporary directory, removed at exit)")
	out := fs.String("out", "", "also write the report as JSON to this file")
	runs := fs.Int("runs", 200, "timed samples per count query, after warm-up")
	slowRuns := fs.Int("slow-runs", 0, "timed samples for the profile and the lookalike (default runs/10, at least 1)")
	warmUp := fs.Duration("warmup", time.Second, "least time each query runs untimed before its samples (the first calls after the start fault in memory the runner returned to the OS)")
	ingest := fs.Int("ingest-sample", runner.DefaultIngestSample, "records generated into memory first and applied alone, for the engine's own ingest rate without the generator (0: skip; about 800 bytes a record held meanwhile)")
	durable := fs.Bool("durable", false, "also measure the durable load ('cohort load' of the same records as NDJSON, in a temporary store); needs about 2 KB of disk per profile")
	verbose := fs.Bool("verbose", false, "show Badger's log")
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (benchmarks: the default mix, or lookalike)", fs.Arg(0))
	}
	if *profiles <= 0 || *runs <= 0 || *slowRuns < 0 || *ingest < 0 {
		return errors.New("--profiles and --runs must be positive, --slow-runs and --ingest-sample not negative")
	}
	now := gen.DefaultNow()
	if *nowFlag != "" {
		t, err := time.Parse(time.DateOnly, *nowFlag)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		now = t
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "cohort-bench-")
		if err != nil {
			return fmt.Errorf("temporary store: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfg := runner.Config{
		Profiles: *profiles, Seed: *seed, Now: now, Dir: dir, Runs: *runs, SlowRuns: *slowRuns, WarmUp: *warmUp,
		Progress: stderr, Terminal: isTerminal(stderr),
		StoreOptions: storage.Options{Log: stderr, Verbose: *verbose},
		IngestSample: *ingest,
	}
	if *ingest == 0 {
		cfg.IngestSample = -1
	}
	if *durable {
		genOpts := gen.Options{Profiles: *profiles, Seed: *seed, Now: now}
		cfg.DurableLoad = func(ctx context.Context) (int, time.Duration, error) {
			return durableBenchLoad(ctx, genOpts, *verbose, stderr)
		}
	}
	rep, err := runner.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteTable(stdout); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if *out != "" {
		return writeReport(*out, rep)
	}
	return nil
}

// durableBenchLoad measures 'cohort load': the records are first written
// as NDJSON (not timed), then loaded into a fresh store through the same
// pipeline and write-ahead log as the command, without its checkpoint.
// Everything it writes is removed.
func durableBenchLoad(ctx context.Context, opts gen.Options, verbose bool, stderr io.Writer) (int, time.Duration, error) {
	tmp, err := os.MkdirTemp("", "cohort-bench-durable-")
	if err != nil {
		return 0, 0, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	genDir := filepath.Join(tmp, "gen")
	if err := gen.WriteDir(genDir, opts, nil); err != nil {
		return 0, 0, fmt.Errorf("writing the records: %w", err)
	}
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		return 0, 0, fmt.Errorf("schema: %w", err)
	}
	st, err := openStore(filepath.Join(tmp, "store"), verbose, stderr)
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	d, err := openDataset(ctx, st, runner.Dataset, sc, gen.SchemaFile, stderr)
	if err != nil {
		return 0, 0, err
	}
	files := []string{filepath.Join(genDir, gen.ProfilesFile)}
	l := &loader{d: d, dataset: runner.Dataset, batch: 8192, schema: sc, progress: newProgress(stderr, totalSize(files))}
	start := time.Now()
	err = l.run(ctx, files)
	d.Close()
	took := time.Since(start)
	l.progress.stop()
	if err != nil {
		return 0, 0, fmt.Errorf("load: %w", err)
	}
	if l.rejected > 0 {
		return 0, 0, fmt.Errorf("load rejected %d records: %v", l.rejected, l.rejections)
	}
	return l.applied, took, nil
}

// writeReport writes a benchmark report as indented JSON.
func writeReport(path string, rep any) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
