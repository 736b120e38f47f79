package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/analytics"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/lookalike"
	"github.com/cohortdb/cohort/engine/schema"
)

// analyticsFlags are the flags the analytics commands share with query.
type analyticsFlags struct {
	fs                 *flag.FlagSet
	data, dataset, now *string
	anyValue, json     *bool
	ds                 *engine.Dataset
	segs               exec.Segments
	day                *schema.Day
	usage              string
	minArgs            int
}

func newAnalyticsFlags(name, usage string, minArgs int, stderr io.Writer) *analyticsFlags {
	fs := newFlags(name, stderr)
	f := &analyticsFlags{
		fs:       fs,
		data:     fs.String("data", "", "data directory: a Cohort store or a 'cohort gen' directory (required)"),
		dataset:  fs.String("dataset", "demo", "dataset name"),
		now:      fs.String("now", "", "date YYYY-MM-DD that relative windows end on (default today in the dataset's time zone)"),
		anyValue: fs.Bool("any-value", false, "accept values the dataset has never held (they match nobody)"),
		json:     fs.Bool("json", false, "print the answer as JSON, shaped as the HTTP API's"),
		usage:    usage,
		minArgs:  minArgs,
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cohort "+name+" --data DIR [--dataset NAME] [--now DATE] "+usage)
		fs.PrintDefaults()
	}
	return f
}

// load parses the flags and loads the dataset.
func (f *analyticsFlags) load(ctx context.Context, args []string, stderr io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if *f.data == "" || f.fs.NArg() < f.minArgs {
		f.fs.Usage()
		return errors.New("--data and the arguments shown are required")
	}
	var err error
	if f.day, err = parseNow(*f.now); err != nil {
		return err
	}
	f.ds, f.segs, err = loadDir(ctx, *f.data, *f.dataset, stderr)
	return err
}

// audience compiles and evaluates a query.
func (f *analyticsFlags) audience(ctx context.Context, text string) (*exec.Query, *roaring.Bitmap, error) {
	q, err := compile(f.ds.Snapshot(), text, exec.Options{AnyValue: *f.anyValue, Segments: f.segs, Now: f.day})
	if err != nil {
		return nil, nil, err
	}
	b, err := q.Bitmap(ctx)
	return q, b, err
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return strings.Trim(string(b), `"`)
}

func runProfile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAnalyticsFlags("profile", "[--by f1,f2] [--top N] [--sort count|tgi] QUERY", 1, stderr)
	by := f.fs.String("by", "", "comma-separated fields to profile (default every field)")
	top := f.fs.Int("top", 10, "values per categorical field")
	sort := f.fs.String("sort", "count", "order values by count or tgi")
	window := f.fs.Int("window-days", 30, "event fields: days of the window ending on --now")
	if err := f.load(ctx, args, stderr); err != nil {
		return err
	}
	q, seg, err := f.audience(ctx, strings.Join(f.fs.Args(), " "))
	if err != nil {
		return err
	}
	var fields []string
	if *by != "" {
		fields = strings.Split(*by, ",")
	}
	res, err := analytics.Profile(ctx, f.ds.Snapshot(), seg, analytics.ProfileOptions{Fields: fields, Top: *top, SortBy: *sort, Now: q.Now(), WindowDays: *window})
	if err != nil {
		return err
	}
	if *f.json {
		return printJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "%d of %d profiles\n", res.Count, res.Total)
	names := fields
	if len(names) == 0 {
		for _, fd := range f.ds.Schema().Fields {
			names = append(names, fd.Name)
		}
	}
	for _, name := range names {
		fp := res.Fields[name]
		if fp == nil {
			fd, _ := f.ds.Schema().Field(name)
			if fd == nil || res.Fields[fd.Name] == nil {
				continue
			}
			name, fp = fd.Name, res.Fields[fd.Name]
		}
		fmt.Fprintf(stdout, "\n%s (%s, %d with a value)\n", name, fp.Type, fp.WithValue)
		if fp.Min != nil {
			mean := jsonText(fp.Mean)
			if v, err := strconv.ParseFloat(mean, 64); err == nil {
				mean = strconv.FormatFloat(v, 'f', 2, 64)
			}
			fmt.Fprintf(stdout, "  min %s  p25 %s  p50 %s  p75 %s  max %s  mean %s\n",
				jsonText(fp.Min), jsonText(fp.P25), jsonText(fp.P50), jsonText(fp.P75), jsonText(fp.Max), mean)
			continue
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		if len(fp.Values) > 0 {
			fmt.Fprintln(tw, "value\tcount\tshare\tshare_all\tTGI\t")
		}
		for _, v := range fp.Values {
			fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%.1f%%\t%.0f\t\n", v.Value, v.Count, 100*v.Share, 100*v.ShareAll, v.TGI)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func runOverlap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAnalyticsFlags("overlap", "QUERY1 QUERY2 [QUERY...] (each one argument, quoted)", 2, stderr)
	if err := f.load(ctx, args, stderr); err != nil {
		return err
	}
	var bms []*roaring.Bitmap
	for _, text := range f.fs.Args() {
		_, b, err := f.audience(ctx, text)
		if err != nil {
			return err
		}
		bms = append(bms, b)
	}
	res, err := analytics.Overlap(ctx, bms)
	if err != nil {
		return err
	}
	if *f.json {
		return printJSON(stdout, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	for i, text := range f.fs.Args() {
		fmt.Fprintf(tw, "%d\t%s\t\n", i+1, strings.Join(strings.Fields(text), " "))
	}
	fmt.Fprint(tw, "\n∩\t")
	for i := range bms {
		fmt.Fprintf(tw, "%d\t", i+1)
	}
	fmt.Fprintln(tw)
	for i, row := range res.Matrix {
		fmt.Fprintf(tw, "%d\t", i+1)
		for _, n := range row {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func runSplit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAnalyticsFlags("split", "--groups A=45,B=45,holdout=10 --salt SALT [--cap N [--cap-by FIELD]] QUERY", 1, stderr)
	groupsFlag := f.fs.String("groups", "", "groups and percentages, e.g. A=45,B=45,holdout=10 (required)")
	salt := f.fs.String("salt", "", "names the experiment: the same salt draws the same groups")
	capN := f.fs.Uint64("cap", 0, "keep at most this many profiles over all groups")
	capBy := f.fs.String("cap-by", "", "which profiles a cap keeps: random (default) or a numeric field (its largest values)")
	if err := f.load(ctx, args, stderr); err != nil {
		return err
	}
	var groups []analytics.Group
	for _, part := range strings.Split(*groupsFlag, ",") {
		name, pct, ok := strings.Cut(part, "=")
		p, err := strconv.ParseFloat(pct, 64)
		if !ok || err != nil {
			return fmt.Errorf("--groups: %q is not NAME=PERCENT", part)
		}
		groups = append(groups, analytics.Group{Name: strings.TrimSpace(name), Percent: p})
	}
	_, seg, err := f.audience(ctx, strings.Join(f.fs.Args(), " "))
	if err != nil {
		return err
	}
	res, err := analytics.Split(ctx, f.ds.Snapshot(), seg, analytics.SplitOptions{Groups: groups, Salt: *salt, Cap: *capN, CapBy: *capBy})
	if err != nil {
		return err
	}
	if *f.json {
		return printJSON(stdout, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tpercent\tprofiles\t")
	for _, g := range res {
		fmt.Fprintf(tw, "%s\t%g%%\t%d\t\n", g.Name, g.Percent, g.Count)
	}
	return tw.Flush()
}

func runLookalike(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAnalyticsFlags("lookalike", "--size N [--universe QUERY] SEED_QUERY", 1, stderr)
	size := f.fs.Int("size", 0, "profiles to find besides the seed (required)")
	universe := f.fs.String("universe", "", "query limiting where they come from (default every profile)")
	show := f.fs.Int("show", 10, "how many of the best ids to print")
	model := f.fs.String("model", "", "naive_bayes (default) or logistic")
	if err := f.load(ctx, args, stderr); err != nil {
		return err
	}
	seedQ, seed, err := f.audience(ctx, strings.Join(f.fs.Args(), " "))
	if err != nil {
		return err
	}
	var uni *roaring.Bitmap
	if *universe != "" {
		if _, uni, err = f.audience(ctx, *universe); err != nil {
			return err
		}
	}
	res, err := lookalike.Expand(ctx, f.ds.Snapshot(), seed, lookalike.Options{Size: *size, Universe: uni, ExcludeFields: lookalike.QueryFields(seedQ.Checked.Root), Now: seedQ.Now(), Model: *model})
	if err != nil {
		return err
	}
	sn := f.ds.Snapshot()
	ids := make([]string, 0, *show)
	for _, row := range res.Ranked[:min(*show, len(res.Ranked))] {
		ids = append(ids, sn.ExternalID(row))
	}
	if *f.json {
		return printJSON(stdout, map[string]any{"count": res.Rows.GetCardinality(), "seed": res.SeedSize, "candidates": res.Candidates, "features": res.Features, "ids": ids})
	}
	fmt.Fprintf(stdout, "%d profiles like the %d of the seed (from %d candidates)\n\n", res.Rows.GetCardinality(), res.SeedSize, res.Candidates)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "feature\tweight\tIV\tseed\tothers\t")
	for _, ft := range res.Features[:min(15, len(res.Features))] {
		fmt.Fprintf(tw, "%s = %s\t%+.2f\t%.3f\t%.1f%%\t%.1f%%\t\n", ft.Field, ft.Value, ft.Weight, ft.IV, 100*ft.SeedShare, 100*ft.BaseShare)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nbest: %s\n", strings.Join(ids, " "))
	return nil
}
