package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
)

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", stderr)
	profiles := fs.Int("profiles", 100_000, "number of profiles")
	seed := fs.Int64("seed", 1, "random seed: the same seed gives the same bytes")
	out := fs.String("out", "", "output directory (required)")
	now := fs.String("now", "", "reference date YYYY-MM-DD: events fall in the 400 days ending here (default today)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("--out is required")
	}
	opts := gen.Options{Profiles: *profiles, Seed: *seed, Now: time.Now()}
	if *now != "" {
		t, err := time.Parse(time.DateOnly, *now)
		if err != nil {
			return fmt.Errorf("--now: %w", err)
		}
		opts.Now = t.Add(12 * time.Hour)
	}
	start := time.Now()
	// On a terminal one line is redrawn; in a log, a line per million.
	tty := isTerminal(stderr)
	err := gen.WriteDir(*out, opts, func(done int) {
		switch {
		case ctx.Err() != nil:
		case tty:
			fmt.Fprintf(stderr, "\r%d / %d profiles", done, *profiles)
		case done%1_000_000 == 0 || done == *profiles:
			fmt.Fprintf(stderr, "%d / %d profiles\n", done, *profiles)
		}
	})
	if tty {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d profiles to %s in %s\n", *profiles, *out, time.Since(start).Round(time.Millisecond))
	return nil
}
