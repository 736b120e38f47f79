package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/schema"
)

func newDataset(t *testing.T) *engine.Dataset {
	t.Helper()
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return now }}).Create("shop", s)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestApplyNDJSONReportsLinesAndAppliesTheRest(t *testing.T) {
	ds := newDataset(t)
	input := strings.Join([]string{
		`{"id":"a","set":{"t":"上海","n":10}}`,
		``,
		`{"id":"b","set":{"n":1000}}`, // out of range: refused whole
		`{"id":"c","set":{"t":"杭州"},"events":[{"field":"e","value":"m","time":"2026-11-20"},{"field":"e","value":"m","time":"2020-01-01"}]}`,
		`not json`,
		`{"id":"a","set":{"t":"杭州"}}`, // replaces the tag
	}, "\n")
	res, err := ds.ApplyNDJSON(strings.NewReader(input), engine.LoadOptions{BatchSize: 2, Decoders: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 3 || res.Created != 2 || res.Expired != 1 || len(res.Errors) != 2 {
		t.Fatalf("result %+v", res)
	}
	if res.Errors[0].Index != 3 || res.Errors[1].Index != 5 {
		t.Fatalf("error lines %d, %d; want 3, 5", res.Errors[0].Index, res.Errors[1].Index)
	}
	sn := ds.Snapshot()
	if sn.Rows() != 2 {
		t.Fatalf("rows %d; the refused id b must not get a row", sn.Rows())
	}
	tag, _ := sn.Field("T")
	if tag.Values.Count("杭州") != 2 || tag.Values.Count("上海") != 0 {
		t.Fatalf("tag counts: 杭州 %d, 上海 %d", tag.Values.Count("杭州"), tag.Values.Count("上海"))
	}
}

func TestAddField(t *testing.T) {
	ds := newDataset(t)
	if _, err := ds.ApplyNDJSON(strings.NewReader(`{"id":"a","set":{"t":"x"}}`), engine.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	old := ds.Snapshot()
	if err := ds.AddField(schema.Field{Name: "tier", Type: schema.Tag}); err != nil {
		t.Fatal(err)
	}
	if err := ds.AddField(schema.Field{Name: "TIER", Type: schema.Tag}); err == nil {
		t.Fatal("accepted a field differing only in case")
	}
	res, err := ds.ApplyNDJSON(strings.NewReader(`{"id":"a","set":{"tier":"gold"}}`), engine.LoadOptions{})
	if err != nil || res.Applied != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := old.Field("tier"); err == nil {
		t.Fatal("an old snapshot sees a field added later")
	}
	f, err := ds.Snapshot().Field("tier")
	if err != nil || f.Values.Count("gold") != 1 {
		t.Fatalf("new field not indexed: %v", err)
	}
}

func TestEngineDatasets(t *testing.T) {
	e := engine.New(engine.Options{})
	s, _ := schema.Parse([]byte(`{"fields":[]}`))
	for _, bad := range []string{"", "Shop", "a b", strings.Repeat("x", 65)} {
		if _, err := e.Create(bad, s); err == nil {
			t.Fatalf("accepted dataset name %q", bad)
		}
	}
	if _, err := e.Create("shop", s); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create("shop", s); err == nil {
		t.Fatal("created a dataset twice")
	}
	if err := e.Drop("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Dataset("shop"); err == nil {
		t.Fatal("dropped dataset still found")
	}
}
