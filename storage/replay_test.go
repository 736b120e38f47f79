package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

func ptr[T any](v T) *T { return &v }

// TestSchemaChangesAndDropsReplay runs a history of creates, records,
// added fields and drops through a Durable, then checks that recovery
// rebuilds exactly the datasets the history left.
func TestSchemaChangesAndDropsReplay(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	d := NewDurable(s, testEngine())
	sc := parseSchema(t, testSchema)
	for _, name := range []string{"shop", "gone", "again"} {
		if _, err := d.Create(ctx, name, sc); err != nil {
			t.Fatal(err)
		}
	}
	ingest := func(ds string, lines ...string) engine.Result {
		t.Helper()
		bs := make([][]byte, len(lines))
		for i, l := range lines {
			bs[i] = []byte(l)
		}
		res, err := d.Ingest(ctx, ds, bs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ingest("shop", string(line("a", 30)), string(line("b", 40)))
	// A record naming a field before it exists is refused (and not logged)…
	if res := ingest("shop", `{"id":"a","set":{"score":5}}`); res.Applied != 0 || len(res.Errors) != 1 {
		t.Fatalf("record with an unknown field: %+v", res)
	}
	if err := d.AddField(ctx, "shop", schema.Field{Name: "score", Type: schema.Int, Min: ptr[int64](0), Max: ptr[int64](10)}); err != nil {
		t.Fatal(err)
	}
	// …and accepted after.
	ingest("shop", `{"id":"a","set":{"score":5}}`, `{"id":"c","set":{"score":7,"age":50}}`)
	if err := d.AddField(ctx, "shop", schema.Field{Name: "Score", Type: schema.Tag}); err == nil {
		t.Fatal("a field differing only in case was accepted")
	}
	if err := d.AddField(ctx, "shop", schema.Field{Name: "tier", Type: schema.Tag}); err != nil {
		t.Fatal(err)
	}
	ingest("shop", `{"id":"b","set":{"tier":"gold","score":1}}`)

	ingest("gone", string(line("x", 1)))
	if err := d.Drop(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	ingest("again", string(line("old", 1)))
	if err := d.Drop(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(ctx, "again", sc); err != nil {
		t.Fatal(err)
	}
	ingest("again", string(line("new", 2)))
	if _, err := d.Ingest(ctx, "gone", [][]byte{line("y", 1)}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("ingest into a dropped dataset: %v", err)
	}
	live := d.Engine()
	d.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	e, rec := recovered(t, dir)
	if got := e.Names(); !slices.Equal(got, []string{"again", "shop"}) {
		t.Fatalf("datasets %v", got)
	}
	for _, r := range rec.Datasets {
		if r.Name == "shop" && (r.FieldsAdded != 2 || r.Records != 5 || r.Rejected != 0) {
			t.Fatalf("shop recovery %+v", r)
		}
	}
	for _, name := range []string{"again", "shop"} {
		want, _ := live.Dataset(name)
		got, _ := e.Dataset(name)
		if a, b := describe(want), describe(got); a != b {
			t.Fatalf("%s recovered as\n%s\nwant\n%s", name, b, a)
		}
	}
	again, _ := e.Dataset("again")
	if _, ok := ageOf(t, again, "old"); ok {
		t.Fatal("a record of the dropped incarnation came back")
	}

	// Nothing of the dropped datasets is left on disk.
	s = openStore(t, dir)
	defer s.Close()
	shop, _ := s.Dataset("shop")
	again2, _ := s.Dataset("again")
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixData)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if id, _ := dataID(it.Item().Key()); id != shop.ID && id != again2.ID {
				return fmt.Errorf("key %s of a dropped dataset is left", keyString(it.Item().Key()))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// describe renders everything a dataset knows, for comparison.
func describe(ds *engine.Dataset) string {
	sn := ds.Snapshot()
	out := fmt.Sprintf("rows %d, schema %d fields\n", sn.Rows(), len(sn.Schema().Fields))
	for row := range sn.Rows() {
		out += sn.ExternalID(row) + ":"
		for _, f := range sn.Fields() {
			switch {
			case f.Values != nil:
				out += fmt.Sprintf(" %s=%v", f.Field.Name, f.Values.RowValues(nil, row))
			case f.Bool != nil:
				v, ok := f.Bool.Value(row)
				out += fmt.Sprintf(" %s=%v/%v", f.Field.Name, v, ok)
			case f.BSI != nil:
				v, ok := f.BSI.Value(row)
				out += fmt.Sprintf(" %s=%v/%v", f.Field.Name, v, ok)
			case f.Events != nil:
				out += fmt.Sprintf(" %s=%v", f.Field.Name, f.Events.RowDays(row))
			}
		}
		out += "\n"
	}
	return out
}

func TestOpenRemovesWhatAnInterruptedDropLeft(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "shop", [][]byte{line("a", 1)}); err != nil {
		t.Fatal(err)
	}
	shop, _ := s.Dataset("shop")
	// What a crash between the drop's transaction and its cleanup leaves:
	// the catalog entry gone, the data still there.
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(catalogKey("shop")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	if len(s.Datasets()) != 0 {
		t.Fatalf("datasets %v", s.Datasets())
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: dataPrefix(shop.ID)})
		defer it.Close()
		if it.Rewind(); it.Valid() {
			return fmt.Errorf("key %s left", keyString(it.Item().Key()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStoreAddFieldReplaysInSequence logs a field between two appends
// through the Store API directly: replay adds it exactly there.
func TestStoreAddFieldReplaysInSequence(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "shop", [][]byte{line("a", 1)}); err != nil {
		t.Fatal(err)
	}
	seq, err := s.AddField(ctx, "shop", schema.Field{Name: "tier", Type: schema.Tag})
	if err != nil || seq != 2 {
		t.Fatalf("add field: seq %d, %v", seq, err)
	}
	if seq, err := s.Append(ctx, "shop", [][]byte{[]byte(`{"id":"a","set":{"tier":"gold"}}`)}); err != nil || seq != 3 {
		t.Fatalf("append after the field: seq %d, %v", seq, err)
	}
	if _, err := s.AddField(ctx, "nope", schema.Field{Name: "x", Type: schema.Tag}); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("add field to a missing dataset: %v", err)
	}
	s.Close()
	e, rec := recovered(t, dir)
	if r := rec.Datasets[0]; r.FieldsAdded != 1 || r.Applied != 2 || r.Rejected != 0 {
		t.Fatalf("recovery %+v", r)
	}
	ds, _ := e.Dataset("shop")
	f, err := ds.Snapshot().Field("tier")
	if err != nil || f.Values.Count("gold") != 1 {
		t.Fatalf("tier after replay: %v", err)
	}
}

// TestScannerStartsAfterAppliedThrough prepares for checkpoints: with
// applied-through set and the covered entries deleted (as a checkpoint
// will do), the log is read from the first sequence after it, skipping
// the covered lines of an entry that straddles it.
func TestScannerStartsAfterAppliedThrough(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	if err := s.CreateDataset(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	for _, ids := range [][]string{{"a", "b"}, {"c", "d", "e"}, {"f"}} {
		var lines [][]byte
		for _, id := range ids {
			lines = append(lines, line(id, 1))
		}
		if _, err := s.Append(ctx, "shop", lines); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := s.Dataset("shop")
	scan := func(appliedThrough uint64) (ids []string, err error) {
		err = s.db.View(func(txn *badger.Txn) error {
			w := newWALScanner(ctx, txn, "shop", d.ID, appliedThrough)
			defer w.close()
			for {
				e, err := w.scan()
				if err != nil {
					return err
				}
				if e == nil {
					return w.end(d.NextSeq)
				}
				for _, l := range e.lines {
					var id string
					if _, err := fmt.Sscanf(string(l), `{"id":%q`, &id); err != nil {
						return err
					}
					ids = append(ids, id)
				}
			}
		})
		return ids, err
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(walKey(d.ID, 1)) }); err != nil {
		t.Fatal(err)
	}
	got, err := scan(3) // sequences 1..3 (a, b, c) checkpointed
	if err != nil || !slices.Equal(got, []string{"d", "e", "f"}) {
		t.Fatalf("after applied-through 3: %v, %v", got, err)
	}
	if got, err := scan(6); err != nil || len(got) != 0 {
		t.Fatalf("after applied-through 6: %v, %v", got, err)
	}
	// With the covered entry gone but applied-through short of it, the
	// gap is reported.
	if _, err := scan(1); err == nil || !strings.Contains(err.Error(), "sequence 2 is in no checkpoint") {
		t.Fatalf("gap before the log: %v", err)
	}
}
