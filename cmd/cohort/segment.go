package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

const segmentUsage = `Usage:
  cohort segment save   --data DIR --dataset NAME [--description TEXT] SEGMENT QUERY
  cohort segment list   --data DIR --dataset NAME [--now DATE]
  cohort segment delete --data DIR --dataset NAME SEGMENT`

func runSegment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, segmentUsage)
		return errors.New("save, list or delete?")
	}
	switch args[0] {
	case "save":
		return segmentSave(ctx, args[1:], stdout, stderr)
	case "list":
		return segmentList(ctx, args[1:], stdout, stderr)
	case "delete":
		return segmentDelete(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, segmentUsage)
		return nil
	}
	fmt.Fprintln(stderr, segmentUsage)
	return fmt.Errorf("unknown segment command %q", args[0])
}

// segmentFlags are the flags every segment command takes.
type segmentFlags struct {
	fs            *flag.FlagSet
	data, dataset *string
}

func newSegmentFlags(cmd string, stderr io.Writer) segmentFlags {
	fs := newFlags("segment "+cmd, stderr)
	f := segmentFlags{
		fs:      fs,
		data:    fs.String("data", "", "data directory, a Cohort store (required)"),
		dataset: fs.String("dataset", "", "dataset name (required)"),
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, segmentUsage)
		fs.PrintDefaults()
	}
	return f
}

func (f segmentFlags) parse(args []string, minArgs int) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if *f.data == "" || *f.dataset == "" || f.fs.NArg() < minArgs {
		f.fs.Usage()
		return errors.New("--data, --dataset and the arguments shown are required")
	}
	if !storage.IsStore(*f.data) {
		return fmt.Errorf("%s is not a Cohort store (saved segments live in one written by 'cohort load')", *f.data)
	}
	return nil
}

// segmentSave compiles the query against the recovered dataset (so a
// typo is refused now, not when the segment is used) and stores it.
func segmentSave(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newSegmentFlags("save", stderr)
	description := f.fs.String("description", "", "what the segment is for")
	nowFlag := f.fs.String("now", "", "date YYYY-MM-DD that relative windows end on when counting (default today)")
	if err := f.parse(args, 2); err != nil {
		return err
	}
	now, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	name, text := f.fs.Arg(0), strings.Join(f.fs.Args()[1:], " ")
	st, err := openStore(*f.data, false, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	_, ds, err := recoverDataset(ctx, st, *f.dataset, stderr)
	if err != nil {
		return err
	}
	segs, err := loadSegments(st, ds)
	if err != nil {
		return err
	}
	_, replacing := segs.byName[name]
	// The new text stands in for the segment while it is checked, so a
	// cycle through it is found before it is stored.
	seg := storage.Segment{Name: name, Query: text, Description: *description}
	segs.byName[name] = seg
	n, err := countSegment(ctx, ds.Snapshot(), text, segs, now)
	if err != nil {
		return err
	}
	if err := st.PutSegment(ctx, *f.dataset, seg); err != nil {
		return err
	}
	verb := "saved"
	if replacing {
		verb = "replaced"
	}
	fmt.Fprintf(stdout, "%s segment %s of %s: %d profiles now\n", verb, name, *f.dataset, n)
	return nil
}

// countSegment compiles and counts a query.
func countSegment(ctx context.Context, sn *engine.Snapshot, text string, segs exec.Segments, now *schema.Day) (uint64, error) {
	q, err := compile(sn, text, exec.Options{Segments: segs, Now: now})
	if err != nil {
		return 0, err
	}
	return q.Count(ctx)
}

func segmentList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newSegmentFlags("list", stderr)
	nowFlag := f.fs.String("now", "", "date YYYY-MM-DD that relative windows end on (default today)")
	if err := f.parse(args, 0); err != nil {
		return err
	}
	now, err := parseNow(*nowFlag)
	if err != nil {
		return err
	}
	st, err := openStore(*f.data, false, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	_, ds, err := recoverDataset(ctx, st, *f.dataset, stderr)
	if err != nil {
		return err
	}
	sn := ds.Snapshot()
	segs, err := loadSegments(st, ds)
	if err != nil {
		return err
	}
	list, err := st.Segments(*f.dataset)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintf(stdout, "%s has no saved segments\n", *f.dataset)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCOUNT\tQUERY\tDESCRIPTION")
	for _, g := range list {
		count, what := "", strings.Join(strings.Fields(g.Query), " ")
		if g.Rows != nil {
			what = fmt.Sprintf("(%d profiles, materialised)", g.Rows.GetCardinality())
			count = fmt.Sprint(segs.members(g).GetCardinality())
		} else if g.Members != nil {
			what = fmt.Sprintf("(list of %d ids)", len(g.Members))
			count = fmt.Sprint(segs.members(g).GetCardinality())
		} else if n, err := countSegment(ctx, sn, g.Query, segs, now); err != nil {
			count = "error: " + strings.SplitN(err.Error(), "\n", 2)[0]
		} else {
			count = fmt.Sprint(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, count, what, g.Description)
	}
	return tw.Flush()
}

func segmentDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newSegmentFlags("delete", stderr)
	if err := f.parse(args, 1); err != nil {
		return err
	}
	st, err := openStore(*f.data, false, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	name := f.fs.Arg(0)
	if err := st.DeleteSegment(ctx, *f.dataset, name); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted segment %s of %s\n", name, *f.dataset)
	return nil
}
