package engine_test

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
)

// TestSampleDataset loads the committed sample (generated data with the
// demo schema) into the engine and the reference model and compares
// every value of every field, numeric ranges and event windows.
func TestSampleDataset(t *testing.T) {
	raw, err := os.ReadFile("../testdata/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../testdata/sample.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return now }}).Create("sample", s)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ds.ApplyNDJSON(bytes.NewReader(data), engine.LoadOptions{BatchSize: 17})
	if err != nil || len(res.Errors) > 0 || res.Applied != 200 {
		t.Fatalf("load: %+v %v", res, err)
	}
	ref := reference.New(s)
	today := schema.DayOf(now, s.Location())
	for line := range bytes.Lines(data) {
		u, err := record.Decode(line, s)
		if err != nil {
			t.Fatal(err)
		}
		ref.Apply(u, today)
	}
	sn := ds.Snapshot()
	check := func(what string, got []uint32, pred func(*reference.Profile) bool) {
		t.Helper()
		want := ref.Filter(pred)
		if len(got) == 0 {
			got = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: engine %d profiles, reference %d", what, len(got), len(want))
		}
	}
	nonEmpty := 0
	for fi := range s.Fields {
		f := &s.Fields[fi]
		fv := &sn.Fields()[fi]
		check(f.Name+" exists", fv.Exists().ToArray(), reference.Exists(fi))
		switch f.Type {
		case schema.Tag, schema.Set:
			for _, v := range fv.Values.Values() {
				pred := reference.TagIs(fi, v)
				if f.Type == schema.Set {
					pred = reference.SetHas(fi, v)
				}
				got := fv.Values.Bitmap(v).ToArray()
				nonEmpty += min(len(got), 1)
				check(f.Name+" = "+v, got, pred)
			}
		case schema.Bool:
			check(f.Name+" true", fv.Bool.True().ToArray(), reference.BoolIs(fi, true))
			check(f.Name+" false", fv.Bool.False().ToArray(), reference.BoolIs(fi, false))
		case schema.Int, schema.Decimal, schema.Date:
			lo, _ := fv.BSI.Min(nil)
			hi, _ := fv.BSI.Max(nil)
			mid := lo + (hi-lo)/2
			for _, op := range []index.Op{index.EQ, index.NE, index.LT, index.LE, index.GT, index.GE} {
				check(f.Name+" "+op.String(), fv.BSI.Compare(op, mid).ToArray(), reference.Compare(fi, op.String(), mid))
			}
		case schema.Event:
			for _, v := range append(fv.Events.Values(), "") {
				vals := []string{v}
				if v == "" {
					vals = nil
				}
				if v != "" {
					if got, want := fv.Events.Count(v), len(ref.Filter(reference.EventAtLeast(fi, vals, 1, schema.MinDay, schema.MaxDay))); got != uint64(want) {
						t.Fatalf("%s(%s) count %d, reference %d", f.Name, v, got, want)
					}
				}
				for _, days := range []schema.Day{7, 30, 90, 400} {
					got := fv.Events.Window(vals, today-days+1, today).ToArray()
					nonEmpty += min(len(got), 1)
					check(f.Name+" window", got, reference.EventAtLeast(fi, vals, 1, today-days+1, today))
					check(f.Name+" at least 3", fv.Events.AtLeast(vals, 3, today-days+1, today).ToArray(),
						reference.EventAtLeast(fi, vals, 3, today-days+1, today))
				}
			}
		}
	}
	if nonEmpty < 50 {
		t.Fatalf("only %d non-empty answers: the sample exercises too little", nonEmpty)
	}
}
