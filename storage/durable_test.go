package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestIngestRejectsBadLinesWithoutLoggingThem(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	d := NewDurable(s, testEngine())
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	res, err := d.Ingest(ctx, "shop", [][]byte{
		line("a", 1),
		[]byte(`{"id":"b","set":{"age":500}}`),
		[]byte(`not json`),
		line("c", 3),
		[]byte(`{"id":"d","set":{"nope":1}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != 2 || res.Created != 2 || len(res.Errors) != 3 {
		t.Fatalf("result %+v", res)
	}
	for i, want := range []int{2, 3, 5} {
		if res.Errors[i].Index != want {
			t.Fatalf("error %d at line %d, want %d: %v", i, res.Errors[i].Index, want, res.Errors)
		}
	}
	if !strings.Contains(res.Errors[0].Err.Error(), "age") {
		t.Fatalf("error %v does not name the field", res.Errors[0].Err)
	}
	// Only the good lines took sequences.
	if info, _ := s.Dataset("shop"); info.NextSeq != 3 {
		t.Fatalf("next sequence %d, want 3", info.NextSeq)
	}
	// A batch with nothing good writes nothing.
	if res, err := d.Ingest(ctx, "shop", [][]byte{[]byte(`{}`)}); err != nil || len(res.Errors) != 1 {
		t.Fatalf("all-bad batch: %+v %v", res, err)
	}
	if info, _ := s.Dataset("shop"); info.NextSeq != 3 {
		t.Fatalf("next sequence %d after an all-bad batch", info.NextSeq)
	}
	d.Close()
	s.Close()
	_, rec := recovered(t, dir)
	if r := rec.Datasets[0]; r.Records != 2 || r.Applied != 2 || r.Rejected != 0 {
		t.Fatalf("recovery %+v", r)
	}
}

// TestConcurrentIngestAppliesInLogOrder has writers race on the same ids:
// whatever order the log ends up in, the engine must have applied the
// batches in that order, so that recovery rebuilds the same state.
func TestConcurrentIngestAppliesInLogOrder(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	d := NewDurable(s, testEngine())
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				lines := make([][]byte, 5)
				for k := range lines {
					lines[k] = line(fmt.Sprintf("u%d", k), (w*30+i)%121)
				}
				if _, err := d.Ingest(ctx, "shop", lines); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	ds, _ := d.Engine().Dataset("shop")
	want := describe(ds)
	d.Close()
	s.Close()
	e, _ := recovered(t, dir)
	got, _ := e.Dataset("shop")
	if describe(got) != want {
		t.Fatalf("recovered\n%s\nlive\n%s", describe(got), want)
	}
}

// TestPipelinedSubmitKeepsInputOrder submits batches one after another
// without waiting, as the loader does, with later batches overriding
// earlier ones.
func TestPipelinedSubmitKeepsInputOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	d := NewDurable(s, testEngine())
	defer d.Close()
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	var pending []*Pending
	for i := range 50 {
		b, err := d.Prepare("shop", [][]byte{line("a", i)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := d.Submit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	for _, p := range pending {
		if _, err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ := d.Engine().Dataset("shop")
	if age, _ := ageOf(t, ds, "a"); age != 49 {
		t.Fatalf("age %d, want the last batch's 49", age)
	}
}

func TestFailedAppendAppliesNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	d := NewDurable(s, testEngine())
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	b, err := d.Prepare("shop", [][]byte{line("a", 1)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // every write from now on fails
	if _, err := d.Submit(ctx, b); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit to a closed store: %v", err)
	}
	if _, err := d.Ingest(ctx, "shop", [][]byte{line("b", 1)}); err == nil {
		t.Fatal("ingest into a closed store succeeded")
	}
	ds, _ := d.Engine().Dataset("shop")
	if n := ds.Snapshot().Rows(); n != 0 {
		t.Fatalf("%d rows applied though nothing was logged", n)
	}
}

func TestWithdrawnBatchAppliesNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	d := NewDurable(s, testEngine())
	defer d.Close()
	if _, err := d.Create(context.Background(), "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	// Hold the committer inside another request so that the batch is
	// still queued when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	b, err := d.Prepare("shop", [][]byte{line("a", 1)})
	if err != nil {
		t.Fatal(err)
	}
	entered, gate := make(chan struct{}), make(chan struct{})
	blocker := &request{stage: func(*stager) error {
		close(entered)
		<-gate
		return nil
	}}
	if err := s.submit(context.Background(), blocker); err != nil {
		t.Fatal(err)
	}
	<-entered
	p, err := d.Submit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	_, werr := p.Wait(ctx)
	close(gate)
	if err := blocker.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Dataset("shop")
	ds, _ := d.Engine().Dataset("shop")
	if !errors.Is(werr, context.Canceled) {
		t.Fatalf("wait: %v, want context.Canceled", werr)
	}
	if info.NextSeq != 1 || ds.Snapshot().Rows() != 0 {
		t.Fatalf("withdrawn, but next sequence %d, rows %d", info.NextSeq, ds.Snapshot().Rows())
	}
}

// TestFailedCommitStopsWrites makes Badger refuse a commit (by closing it
// under the store): the batch fails, nothing of it is applied, and the
// store refuses every later write, since it cannot know what reached the
// disk.
func TestFailedCommitStopsWrites(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	d := NewDurable(s, testEngine())
	defer d.Close()
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Ingest(ctx, "shop", [][]byte{line("a", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Ingest(ctx, "shop", [][]byte{line("b", 2)})
	if err == nil || !strings.Contains(err.Error(), "accepts no more writes until cohort restarts") {
		t.Fatalf("ingest after a failed commit: %v", err)
	}
	if err := s.PutSegment(ctx, "shop", Segment{Name: "x", Query: "ALL"}); err == nil || !strings.Contains(err.Error(), "accepts no more writes") {
		t.Fatalf("a later write: %v", err)
	}
	ds, _ := d.Engine().Dataset("shop")
	if n := ds.Snapshot().Rows(); n != 1 {
		t.Fatalf("%d rows; the failed batch must apply nothing", n)
	}
	if info, _ := s.Dataset("shop"); info.NextSeq != 2 {
		t.Fatalf("next sequence %d after a failed commit", info.NextSeq)
	}
}

// TestDurablePublishEvery checks that a Durable with PublishEvery holds
// snapshots back until the threshold or Close, and applies everything.
func TestDurablePublishEvery(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	d := NewDurableWith(st, testEngine(), DurableOptions{PublishEvery: 3})
	ds, err := d.Create(context.Background(), "shop", parseSchema(t, testSchema))
	if err != nil {
		t.Fatal(err)
	}
	ingest := func(ids ...string) { t.Helper(); ingestIDs(t, d, ids...) }
	ingest("a", "b")
	if n := ds.Snapshot().Rows(); n != 0 {
		t.Fatalf("published after 2 of 3 records: %d rows", n)
	}
	ingest("c")
	if n := ds.Snapshot().Rows(); n != 3 {
		t.Fatalf("not published at the threshold: %d rows", n)
	}
	ingest("d")
	d.Close()
	if n := ds.Snapshot().Rows(); n != 4 {
		t.Fatalf("Close did not publish: %d rows", n)
	}
}

// TestDurableBulk checks a Durable with Bulk and the default interval (2^20
// records for a small dataset): nothing is published by the batches,
// Checkpoint publishes what is applied and stores it, Close publishes
// the rest, and every record applies.
func TestDurableBulk(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	d := NewDurableWith(st, testEngine(), DurableOptions{Bulk: true})
	ds, err := d.Create(context.Background(), "shop", parseSchema(t, testSchema))
	if err != nil {
		t.Fatal(err)
	}
	ingest := func(ids ...string) { t.Helper(); ingestIDs(t, d, ids...) }
	ingest("a", "b")
	ingest("c")
	if n := ds.Snapshot().Rows(); n != 0 {
		t.Fatalf("a bulk batch was published: %d rows", n)
	}
	if err := d.Checkpoint(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	if n := ds.Snapshot().Rows(); n != 3 {
		t.Fatalf("Checkpoint did not publish: %d rows", n)
	}
	// Sequence 1 created the dataset; the two batches are 2 and 3.
	if info, _ := st.Dataset("shop"); info.Checkpoint == 0 || info.AppliedThrough != 3 {
		t.Fatalf("checkpoint %d through %d, want one through sequence 3", info.Checkpoint, info.AppliedThrough)
	}
	ingest("d", "e")
	if n := ds.Snapshot().Rows(); n != 3 {
		t.Fatalf("a bulk batch after the checkpoint was published: %d rows", n)
	}
	d.Close()
	if n := ds.Snapshot().Rows(); n != 5 {
		t.Fatalf("Close did not publish: %d rows", n)
	}
}

// ingestIDs ingests a record for each id into dataset shop of d.
func ingestIDs(t *testing.T, d *Durable, ids ...string) {
	t.Helper()
	var lines [][]byte
	for _, id := range ids {
		lines = append(lines, line(id, 30))
	}
	if _, err := d.Ingest(context.Background(), "shop", lines); err != nil {
		t.Fatal(err)
	}
}
