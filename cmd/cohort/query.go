package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/query"
	"github.com/cohortdb/cohort/storage"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("query", stderr)
	data := fs.String("data", "", "data directory: a Cohort store (as written by 'cohort load'), or schema.json and *.ndjson files as written by 'cohort gen' (required)")
	dataset := fs.String("dataset", "demo", "dataset name")
	nowFlag := fs.String("now", "", "date YYYY-MM-DD that relative windows end on (default today in the dataset's time zone)")
	explain := fs.Bool("explain", false, "print the plan with estimated and actual counts and time per node")
	anyValue := fs.Bool("any-value", false, "accept values the dataset has never held (they match nobody) instead of refusing them")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cohort query --data DIR [--dataset NAME] [--now DATE] [--explain] [--any-value] QUERY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("--data and a query are required")
	}
	text := strings.Join(fs.Args(), " ")
	ds, segs, err := loadDir(ctx, *data, *dataset, stderr)
	if err != nil {
		return err
	}
	now, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	q, err := compile(ds.Snapshot(), text, exec.Options{AnyValue: *anyValue, Segments: segs, Now: now})
	if err != nil {
		return err
	}
	if *explain {
		e, err := q.Explain(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, e.Text())
		return nil
	}
	start := time.Now()
	n, err := q.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d\n", n)
	fmt.Fprintf(stderr, "counted in %s\n", time.Since(start).Round(time.Microsecond))
	return nil
}

// compile compiles a query, pointing at the error in the text if it does
// not compile.
func compile(sn *engine.Snapshot, text string, opts exec.Options) (*exec.Query, error) {
	q, err := exec.Compile(sn, text, opts)
	var qe *query.Error
	if errors.As(err, &qe) {
		return nil, fmt.Errorf("%w\n%s", err, pointAt(text, qe))
	}
	return q, err
}

// parseNow reads the --now flag; empty means today.
func parseNow(s string) (*schema.Day, error) {
	if s == "" {
		return nil, nil
	}
	d, err := schema.ParseDay(s)
	if err != nil {
		return nil, fmt.Errorf("--now: %w", err)
	}
	return &d, nil
}

// pointAt shows the query line an error refers to with a caret under
// the column.
func pointAt(text string, qe *query.Error) string {
	lines := strings.Split(text, "\n")
	if qe.Line < 1 || qe.Line > len(lines) {
		return ""
	}
	line := lines[qe.Line-1]
	pad := 0
	for i, r := range []rune(line) {
		if i >= qe.Column-1 {
			break
		}
		pad += displayWidth(r)
	}
	return "  " + line + "\n  " + strings.Repeat(" ", pad) + "^"
}

// displayWidth is how many terminal columns a rune takes: two for the
// wide East Asian scripts (上海 is four columns), one otherwise.
func displayWidth(r rune) int {
	switch {
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0xA4CF, r >= 0xAC00 && r <= 0xD7A3,
		r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F, r >= 0xFF00 && r <= 0xFF60,
		r >= 0xFFE0 && r <= 0xFFE6, r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}

// loadDir loads a dataset into memory: from a store (recovering it; its
// saved segments come along), or from a directory written by 'cohort
// gen'.
func loadDir(ctx context.Context, dir, name string, stderr io.Writer) (*engine.Dataset, exec.Segments, error) {
	if storage.IsStore(dir) {
		return loadStore(ctx, dir, name, stderr)
	}
	ds, err := loadGenDir(ctx, dir, name, stderr)
	if err != nil {
		return nil, nil, err
	}
	return ds, nil, nil
}

// loadStore recovers one dataset of a store. The store is closed again
// at once: the dataset lives on in memory, and the directory is free for
// a loader.
func loadStore(ctx context.Context, dir, name string, stderr io.Writer) (*engine.Dataset, exec.Segments, error) {
	st, err := openStore(dir, false, stderr)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	_, ds, err := recoverDataset(ctx, st, name, stderr)
	if err != nil {
		return nil, nil, err
	}
	segs, err := loadSegments(st, ds)
	if err != nil {
		return nil, nil, err
	}
	return ds, segs, nil
}

// loadGenDir loads a directory written by 'cohort gen' into a fresh
// in-memory dataset.
func loadGenDir(ctx context.Context, dir, name string, stderr io.Writer) (*engine.Dataset, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "schema.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, errNoData)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	s, err := schema.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "schema.json"), err)
	}
	ds, err := engine.New(engine.Options{}).Create(name, s)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil {
		return nil, err
	}
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		res, err := ds.ApplyNDJSON(f, engine.LoadOptions{})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(res.Errors) > 0 {
			fmt.Fprintf(stderr, "%s: %d lines rejected; first: line %d: %v\n", path, len(res.Errors), res.Errors[0].Index, res.Errors[0].Err)
		}
	}
	return ds, nil
}
