package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

// checkRecovered recovers the store in this process and checks it
// against the records: the first durable are there whole, any other that
// is there is there whole.
func checkRecovered(t *testing.T, data string, sc *schema.Schema, want []record.Update, durable int, rng *rand.Rand) {
	t.Helper()
	st, err := storage.Open(data, storage.Options{})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	// The generator's events fall on the 400 days ending 2026-11-22; a
	// clock on that day keeps them all in retention.
	e := engine.New(engine.Options{Clock: func() time.Time { return gen.DefaultNow().Add(12 * time.Hour) }})
	_, err = st.RecoverDataset(context.Background(), e, "demo")
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("recover after kill: %v", err)
	}
	ds, err := e.Dataset("demo")
	if err != nil {
		t.Fatal(err)
	}
	sn := ds.Snapshot()
	present := make([]int, 0, sn.Rows()) // record index of each row
	seen := make([]bool, len(want))
	for row := range sn.Rows() {
		id := sn.ExternalID(row)
		i, err := strconv.Atoi(strings.TrimPrefix(id, "u"))
		if err != nil || i < 0 || i >= len(want) || id != want[i].ID {
			t.Fatalf("row %d has id %q, which no record names", row, id)
		}
		if seen[i] {
			t.Fatalf("profile %s has two rows", id)
		}
		seen[i] = true
		present = append(present, i)
	}
	for i := range durable {
		if !seen[i] {
			t.Fatalf("record %d (%s) was acknowledged but is missing after recovery (%d profiles present)", i, want[i].ID, sn.Rows())
		}
	}
	checkScalars(t, sn, want, present)
	checkCounts(t, sn, want, present)
	// Every value of a sample of rows, including the last acknowledged
	// record and the first one after it.
	sample := []uint32{}
	for range 40 {
		sample = append(sample, uint32(rng.IntN(len(present))))
	}
	for row, i := range present {
		if i == durable-1 || i == durable {
			sample = append(sample, uint32(row))
		}
	}
	for _, row := range sample {
		if got, exp := rowState(sn, row), expectedState(sn, want[present[row]]); got != exp {
			t.Fatalf("profile %s is not whole:\n got %s\nwant %s", want[present[row]].ID, got, exp)
		}
	}
}

// checkScalars compares every present profile's bool and numeric values
// (cheap to read per row) with its record: set if the record sets them,
// absent otherwise.
func checkScalars(t *testing.T, sn *engine.Snapshot, want []record.Update, present []int) {
	t.Helper()
	fields := sn.Fields()
	for row, i := range present {
		u := &want[i]
		for fi := range fields {
			f := &fields[fi]
			if f.BSI == nil && f.Bool == nil {
				continue
			}
			a, has := assigned(u, fi)
			switch {
			case f.BSI != nil:
				v, ok := f.BSI.Value(uint32(row))
				if ok != has || (has && v != a.Int) {
					t.Fatalf("profile %s field %s: got %d (%v), want %d (%v)", u.ID, f.Field.Name, v, ok, a.Int, has)
				}
			case f.Bool != nil:
				v, ok := f.Bool.Value(uint32(row))
				if ok != has || (has && v != a.Bool) {
					t.Fatalf("profile %s field %s: got %v (%v), want %v (%v)", u.ID, f.Field.Name, v, ok, a.Bool, has)
				}
			}
		}
	}
}

func assigned(u *record.Update, fi int) (record.Value, bool) {
	for _, a := range u.Set {
		if a.Field == fi {
			return a.Value, true
		}
	}
	return record.Value{}, false
}

// checkCounts compares, for every tag, set and event value, the number of
// profiles holding it with the number of present records that give it: a
// record applied in part would leave some count short.
func checkCounts(t *testing.T, sn *engine.Snapshot, want []record.Update, present []int) {
	t.Helper()
	fields := sn.Fields()
	exp := make([]map[string]uint64, len(fields))
	exists := make([]uint64, len(fields))
	for fi := range exp {
		exp[fi] = map[string]uint64{}
	}
	for _, i := range present {
		u := &want[i]
		has := make([]bool, len(fields))
		for _, a := range u.Set {
			has[a.Field] = true
			if fields[a.Field].Values != nil {
				exp[a.Field][a.Value.Str]++
			}
		}
		for _, c := range u.Add {
			has[c.Field] = true
			for _, v := range dedup(c.Values) {
				exp[c.Field][v]++
			}
		}
		events := map[[2]string]bool{}
		for _, e := range u.Events {
			has[e.Field] = true
			events[[2]string{strconv.Itoa(e.Field), e.Value}] = true
		}
		for k := range events {
			fi, _ := strconv.Atoi(k[0])
			exp[fi][k[1]]++
		}
		for fi, h := range has {
			if h {
				exists[fi]++
			}
		}
	}
	for fi := range fields {
		f := &fields[fi]
		if got := f.Exists().GetCardinality(); got != exists[fi] {
			t.Fatalf("field %s: %d profiles have a value, want %d", f.Field.Name, got, exists[fi])
		}
		switch {
		case f.Values != nil:
			for _, v := range f.Values.Values() {
				if got := f.Values.Count(v); got != exp[fi][v] {
					t.Fatalf("field %s value %q: %d profiles, want %d", f.Field.Name, v, got, exp[fi][v])
				}
			}
		case f.Events != nil:
			for _, v := range f.Events.Values() {
				if got := f.Events.Ever([]string{v}).GetCardinality(); got != exp[fi][v] {
					t.Fatalf("event %s value %q: %d profiles, want %d", f.Field.Name, v, got, exp[fi][v])
				}
			}
		}
	}
}

func dedup(vs []string) []string {
	out := slices.Clone(vs)
	slices.Sort(out)
	return slices.Compact(out)
}

// rowState renders every value of a row; expectedState renders what a
// record should leave, in the same form.
func rowState(sn *engine.Snapshot, row uint32) string {
	var b strings.Builder
	for _, f := range sn.Fields() {
		fmt.Fprintf(&b, "%s=", f.Field.Name)
		switch {
		case f.Values != nil:
			vs := f.Values.RowValues(nil, row)
			slices.Sort(vs)
			fmt.Fprint(&b, vs)
		case f.Bool != nil:
			if v, ok := f.Bool.Value(row); ok {
				fmt.Fprint(&b, v)
			}
		case f.BSI != nil:
			if v, ok := f.BSI.Value(row); ok {
				fmt.Fprint(&b, v)
			}
		case f.Events != nil:
			fmt.Fprint(&b, canonicalDays(f.Events.RowDays(row)))
		}
		b.WriteString(" ")
	}
	return b.String()
}

func expectedState(sn *engine.Snapshot, u record.Update) string {
	var b strings.Builder
	for fi, f := range sn.Fields() {
		fmt.Fprintf(&b, "%s=", f.Field.Name)
		a, has := assigned(&u, fi)
		switch {
		case f.Values != nil:
			var vs []string
			if has {
				vs = append(vs, a.Str)
				vs = append(vs, a.Strs...)
			}
			for _, c := range u.Add {
				if c.Field == fi {
					vs = append(vs, c.Values...)
				}
			}
			fmt.Fprint(&b, dedup(vs))
		case f.Bool != nil:
			if has {
				fmt.Fprint(&b, a.Bool)
			}
		case f.BSI != nil:
			if has {
				fmt.Fprint(&b, a.Int)
			}
		case f.Events != nil:
			days := map[string][]schema.Day{}
			for _, e := range u.Events {
				if e.Field == fi {
					days[e.Value] = append(days[e.Value], e.Day)
				}
			}
			fmt.Fprint(&b, canonicalDays(days))
		}
		b.WriteString(" ")
	}
	return b.String()
}

func canonicalDays(m map[string][]schema.Day) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		d := slices.Clone(m[k])
		slices.Sort(d)
		fmt.Fprintf(&b, "%s:%v;", k, slices.Compact(d))
	}
	return b.String()
}
