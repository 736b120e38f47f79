package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	lalbench "github.com/cohortdb/cohort/bench/lookalike"
)

func runBenchLookalike(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	def := lalbench.DefaultConfig()
	fs := newFlags("bench lookalike", stderr)
	profiles := fs.Int("profiles", def.Profiles, "profiles per generated world")
	seeds := fs.Int("seeds", def.GenSeeds, "generator seeds (worlds); metrics are mean ± sd over them")
	sizes := fs.String("seed-sizes", joinInts(def.SeedSizes), "comma-separated seed audience sizes")
	share := fs.Float64("audience", def.AudienceShare, "share of profiles in the true audience")
	out := fs.String("out", "", "also write the full report (every run) as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := lalbench.Config{Profiles: *profiles, GenSeeds: *seeds, AudienceShare: *share, Progress: stderr}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("--seed-sizes: %q is not a positive integer", s)
		}
		cfg.SeedSizes = append(cfg.SeedSizes, n)
	}
	rep, err := lalbench.Evaluate(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Lookalike evaluation: %d profiles, %d worlds, true audience %.0f %%, GOMAXPROCS %d, %s\n\n",
		cfg.Profiles, cfg.GenSeeds, 100*cfg.AudienceShare, runtime.GOMAXPROCS(0), rep.Elapsed.Round(time.Second))
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	if *out != "" {
		return writeReport(*out, rep)
	}
	return nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
