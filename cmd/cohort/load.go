package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("load", stderr)
	data := fs.String("data", "", "data directory, a Cohort store; created if missing (required)")
	dataset := fs.String("dataset", "", "dataset name (required)")
	schemaFile := fs.String("schema", "", "schema JSON: creates the dataset if it does not exist; adds the fields it lacks if it does")
	batch := fs.Int("batch", 8192, "records per durable batch (one write-ahead entry)")
	ack := fs.Bool("ack", false, "after each durable batch print 'ACK n' on stdout: the first n records of the input are durable")
	verbose := fs.Bool("verbose", false, "show Badger's log")
	format := fs.String("format", "", "input format, csv or ndjson (default: csv for files named *.csv, else ndjson; see docs/csv.md)")
	noCheckpoint := fs.Bool("no-checkpoint", false, "do not write a checkpoint at the end (the next start then replays this load from the log)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cohort load --data DIR --dataset NAME [--schema FILE] [--format csv|ndjson] [--no-checkpoint] FILE... ('-' reads standard input)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || *dataset == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("--data, --dataset and at least one file are required")
	}
	if *batch < 1 {
		return errors.New("--batch must be at least 1")
	}
	if *format != "" && *format != formatCSV && *format != formatNDJSON {
		return fmt.Errorf("--format %q: want csv or ndjson", *format)
	}
	if os.Getenv("GOGC") == "" {
		// A load allocates fast on a growing heap, and its critical path
		// (the single writer) pays the collector's assists: at 10M
		// generated profiles GOGC=200 took 7 % less CPU than the default
		// for ~1.5 GB more peak memory (BENCHMARKS.md). Restored on
		// return (tests run loads in-process); GOGC in the environment
		// wins.
		defer debug.SetGCPercent(debug.SetGCPercent(loadGCPercent))
	}
	files := fs.Args()
	var want *schema.Schema
	if *schemaFile != "" {
		raw, err := os.ReadFile(*schemaFile)
		if err != nil {
			return fmt.Errorf("reading the schema: %w", err)
		}
		if want, err = schema.Parse(raw); err != nil {
			return fmt.Errorf("%s: %w", *schemaFile, err)
		}
	}

	st, err := openStore(*data, *verbose, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := openDataset(ctx, st, *dataset, want, *schemaFile, stderr)
	if err != nil {
		return err
	}
	defer d.Close()

	ds, err := d.Engine().Dataset(*dataset)
	if err != nil {
		return err
	}
	sc := ds.Schema()
	if err := checkCSVHeaders(files, *format, sc, *dataset); err != nil {
		return err
	}
	l := &loader{d: d, dataset: *dataset, batch: *batch, format: *format, schema: sc, progress: newProgress(stderr, totalSize(files))}
	if *ack {
		l.ack = stdout
	}
	start := time.Now()
	runErr := l.run(ctx, files)
	l.progress.stop()
	l.summary(stdout, time.Since(start))
	switch {
	case runErr != nil && ctx.Err() != nil:
		return fmt.Errorf("interrupted: %d records applied and durable; load the rest again (records are upserts, so repeating some is harmless)", l.applied)
	case runErr != nil:
		return runErr
	case l.applied == 0 && l.rejected > 0:
		return fmt.Errorf("no record applied: all %d were rejected", l.rejected)
	}
	if !*noCheckpoint {
		// A checkpoint at the end is what lets the next start load the
		// bitmaps instead of replaying everything just loaded, and it
		// drops the log it covers. The load is already durable without
		// it, so a failure here is reported but loses nothing.
		cpStart := time.Now()
		if err := d.Checkpoint(ctx, *dataset); err != nil {
			return fmt.Errorf("the load is durable, but writing a checkpoint failed (the next start replays the log): %w", err)
		}
		fmt.Fprintf(stderr, "%s: checkpoint written in %s\n", *dataset, time.Since(cpStart).Round(time.Millisecond))
	}
	return nil
}

// openDataset returns the durable write path of a dataset: recovered if
// stored (and given the fields the schema file adds), created from the
// schema file if not.
//
// A bulk load publishes a snapshot every million records or more (see
// bulkLoad), not every batch: nothing reads the engine until the load
// ends.
func openDataset(ctx context.Context, st *storage.Store, name string, want *schema.Schema, schemaFile string, stderr io.Writer) (*storage.Durable, error) {
	if _, ok := st.Dataset(name); !ok {
		if want == nil {
			return nil, fmt.Errorf("%s has no dataset %s: give --schema FILE to create it", st.Dir(), name)
		}
		d := storage.NewDurableWith(st, engine.New(engine.Options{}), bulkLoad)
		if _, err := d.Create(ctx, name, want); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "created dataset %s in %s\n", name, st.Dir())
		return d, nil
	}
	e, ds, err := recoverDataset(ctx, st, name, stderr)
	if err != nil {
		return nil, err
	}
	d := storage.NewDurableWith(st, e, bulkLoad)
	if want == nil {
		return d, nil
	}
	added, err := newFields(ds.Schema(), want, schemaFile)
	if err != nil {
		return nil, err
	}
	for _, f := range added {
		if err := d.AddField(ctx, name, f); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "added field %s (%s) to %s\n", f.Name, f.Type, name)
	}
	return d, nil
}

// newFields returns the fields of want beyond those of cur, refusing a
// schema file that changes, drops or reorders fields (a schema only
// grows) or the time zone.
func newFields(cur, want *schema.Schema, file string) ([]schema.Field, error) {
	if cur.Timezone != want.Timezone {
		return nil, fmt.Errorf("%s: time zone %q differs from the dataset's %q, and a dataset's time zone cannot change", file, want.Timezone, cur.Timezone)
	}
	for i, f := range cur.Fields {
		if i >= len(want.Fields) {
			return nil, fmt.Errorf("%s lacks the dataset's field %s: fields can be added, never removed", file, f.Name)
		}
		if w := want.Fields[i]; !sameField(f, w) {
			return nil, fmt.Errorf("%s: field %d is %s %s, but the dataset's is %s %s: fields can be added at the end, never changed or reordered",
				file, i+1, w.Name, w.Type, f.Name, f.Type)
		}
	}
	return want.Fields[len(cur.Fields):], nil
}

// sameField compares what decides a field's index; the description may
// differ.
func sameField(a, b schema.Field) bool {
	eq := func(x, y *int64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Name == b.Name && a.Type == b.Type && eq(a.Min, b.Min) && eq(a.Max, b.Max) &&
		a.Scale == b.Scale && a.RetentionDays == b.RetentionDays
}

// totalSize sums the sizes of the regular files among paths, for an
// ETA; -1 if any size is unknown (standard input, a pipe).
func totalSize(paths []string) int64 {
	var n int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if p == "-" || err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		n += fi.Size()
	}
	return n
}

// summary prints what the load did and the first rejections.
func (l *loader) summary(w io.Writer, took time.Duration) {
	fmt.Fprintf(w, "%s: %d records applied (%d new profiles), %d rejected, in %s (%.0f records/s)\n",
		l.dataset, l.applied, l.created, l.rejected, took.Round(time.Millisecond), float64(l.applied)/max(took.Seconds(), 1e-9))
	if l.merged > 0 {
		fmt.Fprintf(w, "%d profiles merged into others (records named identifiers of both)\n", l.merged)
	}
	if l.expired > 0 {
		fmt.Fprintf(w, "%d events were older than their field's retention and dropped\n", l.expired)
	}
	if len(l.rejections) > 0 {
		fmt.Fprintf(w, "first rejections:\n")
		for _, r := range l.rejections {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
}

// bulkLoad publishes as the engine's bulk loads do (engine.Bulk: every
// 2^20 records or an eighth of the dataset's rows, whichever is more,
// the grown bitmap tails rebuilt in between): nobody reads during a load,
// and each publication clones every bitmap touched since the last (then
// the next write to each copies its containers again). Not never: a
// publication also empties every bitmap's buffer of pending adds, which
// would otherwise fill towards their cap (16 KiB) across the tens of
// thousands of day bitmaps.
var bulkLoad = storage.DurableOptions{Bulk: true}

// loadGCPercent is the collector's target during a load (see runLoad).
const loadGCPercent = 200
