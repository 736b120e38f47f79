package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/storage"
)

// openStore opens a data directory; Badger speaks on stderr only when
// asked to.
func openStore(dir string, verbose bool, stderr io.Writer) (*storage.Store, error) {
	return storage.Open(dir, storage.Options{Log: stderr, Verbose: verbose})
}

// recoverDataset rebuilds one dataset of st in a new engine and says on
// stderr how long it took.
func recoverDataset(ctx context.Context, st *storage.Store, name string, stderr io.Writer) (*engine.Engine, *engine.Dataset, error) {
	if _, ok := st.Dataset(name); !ok {
		return nil, nil, fmt.Errorf("%s has no dataset %s%s", st.Dir(), name, available(st))
	}
	e := engine.New(engine.Options{})
	rec, err := st.RecoverDataset(ctx, e, name)
	if err != nil {
		return nil, nil, err
	}
	if rec.Records > 0 {
		fmt.Fprintf(stderr, "recovered %s: %d records replayed in %s\n", name, rec.Records, rec.Duration.Round(time.Millisecond))
	}
	if rec.Rejected > 0 {
		fmt.Fprintf(stderr, "  %d records were refused again on replay, as when first applied; first: %s\n", rec.Rejected, rec.FirstRejection)
	}
	ds, err := e.Dataset(name)
	return e, ds, err
}

func available(st *storage.Store) string {
	var names []string
	for _, d := range st.Datasets() {
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return " (it holds none)"
	}
	return " (it holds: " + strings.Join(names, ", ") + ")"
}

// savedSegments resolves SEGMENT('name') against a dataset's stored
// segments, with optional overrides (a segment being saved, so that a
// cycle through it is found before it is stored).
type savedSegments struct {
	byName map[string]storage.Segment
	ds     *engine.Dataset
	sn     *engine.Snapshot
}

func loadSegments(st *storage.Store, ds *engine.Dataset) (*savedSegments, error) {
	list, err := st.Segments(ds.Name())
	if err != nil {
		return nil, err
	}
	s := &savedSegments{byName: map[string]storage.Segment{}, ds: ds, sn: ds.Snapshot()}
	for _, g := range list {
		s.byName[g.Name] = g
	}
	return s, nil
}

func (s *savedSegments) Segment(name string) (exec.Saved, bool) {
	g, ok := s.byName[name]
	if !ok {
		return exec.Saved{}, false
	}
	if g.Query != "" {
		return exec.Saved{Query: g.Query}, true
	}
	return exec.Saved{Members: s.members(g)}, true
}

// members returns the rows of a materialised segment as of the snapshot;
// ids the dataset does not hold are left out.
func (s *savedSegments) members(g storage.Segment) *roaring.Bitmap {
	rows := g.Rows
	if rows == nil {
		rows, _ = s.ds.LookupRows(g.Members)
	} else {
		rows = rows.Clone()
	}
	rows.RemoveRange(uint64(s.sn.Rows()), 1<<32) // rows a later snapshot added
	return rows
}

// errNoData is returned when neither kind of data directory is found.
var errNoData = errors.New("not a data directory: expected a Cohort store or the schema.json and *.ndjson files of 'cohort gen'")
