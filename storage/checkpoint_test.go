package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// stateOf is a dataset's whole state as its checkpoint pairs, bitmaps
// decoded, so two datasets can be compared bitmap by bitmap.
type stateOf map[string][]byte

func (m stateOf) Put(k string, v []byte) error { m[k] = v; return nil }

func sameState(t *testing.T, a, b *engine.Dataset) {
	t.Helper()
	sa, sb := stateOf{}, stateOf{}
	if err := a.Snapshot().WriteCheckpoint(sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Snapshot().WriteCheckpoint(sb); err != nil {
		t.Fatal(err)
	}
	ka := slices.Sorted(func(y func(string) bool) {
		for k := range sa {
			if !y(k) {
				return
			}
		}
	})
	kb := slices.Sorted(func(y func(string) bool) {
		for k := range sb {
			if !y(k) {
				return
			}
		}
	})
	if !slices.Equal(ka, kb) {
		t.Fatalf("state keys differ:\n%v\n%v", ka, kb)
	}
	bm := func(k string, v []byte) *roaring.Bitmap {
		if p := strings.Split(k, "/"); len(p) > 2 && (p[2] == "v" || p[2] == "a") {
			n, w := binary.Uvarint(v)
			v = v[w+int(n):]
		}
		b := roaring.New()
		if err := b.UnmarshalBinary(v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return b
	}
	for _, k := range ka {
		if strings.HasPrefix(k, "f/") {
			if !bm(k, sa[k]).Equals(bm(k, sb[k])) {
				t.Fatalf("bitmap %s differs", k)
			}
		} else if !bytes.Equal(sa[k], sb[k]) {
			t.Fatalf("%s differs", k)
		}
	}
}

// keysUnder lists the keys under prefix.
func keysUnder(t *testing.T, s *Store, prefix []byte) [][]byte {
	t.Helper()
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ingestN(t *testing.T, d *Durable, from, n int) {
	t.Helper()
	for i := from; i < from+n; i += 7 {
		var lines [][]byte
		for j := i; j < min(i+7, from+n); j++ {
			lines = append(lines, line(fmt.Sprint("p", j%23), j%100))
			lines = append(lines, fmt.Appendf(nil, `{"id":"q%d","set":{"city":"c%d","vip":%v},"add":{"channels":["web","c%d"]},"events":[{"field":"purchase","value":"v%d","time":"2026-11-%02d"}]}`, j, j%5, j%2 == 0, j%3, j%4, 1+j%20))
		}
		if _, err := d.Ingest(context.Background(), "shop", lines); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckpointThenIngestThenRecover(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	e := testEngine()
	d := NewDurableWith(s, e, DurableOptions{PublishEvery: 50})
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 0, 120)
	if err := d.AddField(ctx, "shop", schema.Field{Name: "score", Type: schema.Int, Min: ptr[int64](0), Max: ptr[int64](1000)}); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 120, 40)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Dataset("shop")
	if info.Checkpoint != 1 || info.AppliedThrough != info.NextSeq-1 {
		t.Fatalf("after checkpoint: %+v", info)
	}
	// Every log entry is covered, so the log is empty.
	if n := len(keysUnder(t, s, walPrefix(info.ID))); n != 0 {
		t.Fatalf("%d log entries left after the checkpoint", n)
	}
	ingestN(t, d, 160, 30)
	if err := d.AddField(ctx, "shop", schema.Field{Name: "late", Type: schema.Tag}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Ingest(ctx, "shop", [][]byte{[]byte(`{"id":"p1","set":{"late":"x","score":7},"unset":["city"]}`)}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	live, _ := e.Dataset("shop")
	s.Close()

	e2, rec := recovered(t, dir)
	got, err := e2.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	r := rec.Datasets[0]
	if r.Checkpoint != info.AppliedThrough || r.Records != 60+1 || r.FieldsAdded != 1 {
		t.Fatalf("recovery %+v, want checkpoint %d, 61 records, 1 field", r, info.AppliedThrough)
	}
	sameState(t, live, got)

	// A second checkpoint replaces the first: the old generation and the
	// log it covers go.
	s = openStore(t, dir)
	e3 := testEngine()
	if _, err := s.Recover(ctx, e3); err != nil {
		t.Fatal(err)
	}
	d = NewDurable(s, e3)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	info, _ = s.Dataset("shop")
	if info.Checkpoint != 2 {
		t.Fatalf("generation %d, want 2", info.Checkpoint)
	}
	// It is incremental: values unchanged since the first are references
	// to it, and the first keeps exactly the values referred to.
	s.writtenMu.Lock()
	idx := s.written[info.ID]
	s.writtenMu.Unlock()
	refs := 0
	for _, st := range idx.values {
		if st.gen == 1 {
			refs++
		}
	}
	old := 0
	for _, k := range keysUnder(t, s, checkpointPrefix(info.ID)) {
		if !bytes.HasPrefix(k, generationPrefix(info.ID, 2)) {
			old++
			if !idx.referenced(info.ID, k) {
				t.Fatalf("key %s of an old checkpoint left, not referred to", keyString(k))
			}
		}
	}
	if refs == 0 || old != refs || refs == len(idx.values) {
		t.Fatalf("%d of %d values referred to the first checkpoint, %d kept there", refs, len(idx.values), old)
	}
	if n := len(keysUnder(t, s, walPrefix(info.ID))); n != 0 {
		t.Fatalf("%d log entries left after the second checkpoint", n)
	}
	// Nothing new: a checkpoint again is a no-op.
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Dataset("shop"); info.Checkpoint != 2 {
		t.Fatalf("generation %d after an idle checkpoint", info.Checkpoint)
	}
	d.Close()
	s.Close()
	e4, rec := recovered(t, dir)
	got, _ = e4.Dataset("shop")
	if rec.Datasets[0].Records != 0 {
		t.Fatalf("replayed %d records after a final checkpoint", rec.Datasets[0].Records)
	}
	sameState(t, live, got)
}

// checkpointedStore is a store whose dataset shop has a checkpoint.
func checkpointedStore(t *testing.T) (string, DatasetInfo) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	d := NewDurable(s, testEngine())
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 0, 30)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	info, _ := s.Dataset("shop")
	s.Close()
	return dir, info
}

func TestRecoverFindsADamagedCheckpoint(t *testing.T) {
	dir, info := checkpointedStore(t)
	key := append(generationPrefix(info.ID, info.Checkpoint), "f/age/e"...)
	s := openStore(t, dir)
	rewrite(t, s.db, key, func(v []byte) []byte { return flip(v, len(v)/2) })
	s.Close()
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "checksum")
}

func TestRecoverFindsABadBitmapInACheckpoint(t *testing.T) {
	dir, info := checkpointedStore(t)
	key := append(generationPrefix(info.ID, info.Checkpoint), "f/vip/t"...)
	s := openStore(t, dir)
	// A well-sealed value whose bitmap holds a row beyond the dataset:
	// only the engine's validation can catch it.
	far, _ := roaring.BitmapOf(1 << 20).ToBytes()
	rewrite(t, s.db, key, func([]byte) []byte { return seal(key, kindCheckpoint, far) })
	s.Close()
	err := recoverErr(t, dir)
	wantCorrupt(t, err, "shop", keyString(key), "row")
	// Truncated bitmap bytes, sealed again.
	s = openStore(t, dir)
	good, _ := roaring.BitmapOf(1, 2, 3, 70000).ToBytes()
	rewrite(t, s.db, key, func([]byte) []byte { return seal(key, kindCheckpoint, good[:len(good)-3]) })
	s.Close()
	wantCorrupt(t, recoverErr(t, dir), "shop", keyString(key), "bitmap")
}

func TestRecoverFindsAMissingCheckpointKey(t *testing.T) {
	dir, info := checkpointedStore(t)
	key := append(generationPrefix(info.ID, info.Checkpoint), "f/city/e"...)
	s := openStore(t, dir)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	err := recoverErr(t, dir)
	if err == nil || !strings.Contains(err.Error(), "shop") {
		t.Fatalf("recovery of a checkpoint with a lost key: %v", err)
	}
}

// TestCrashBeforeTheSwitchKeepsTheOldCheckpoint leaves what a crash in
// step 1 leaves (keys of a next generation that was never switched to):
// recovery ignores them, and the next checkpoint clears them first.
func TestCrashBeforeTheSwitchKeepsTheOldCheckpoint(t *testing.T) {
	dir, info := checkpointedStore(t)
	s := openStore(t, dir)
	stale := append(generationPrefix(info.ID, info.Checkpoint+1), "f/zz/junk"...)
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(stale, seal(stale, kindCheckpoint, []byte("half-written")))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	e, rec := recovered(t, dir)
	if r := rec.Datasets[0]; r.Checkpoint != info.AppliedThrough || r.Records != 0 {
		t.Fatalf("recovery %+v", r)
	}
	ds, _ := e.Dataset("shop")
	want := ds.Snapshot().Rows()

	s = openStore(t, dir)
	e = testEngine()
	if _, err := s.Recover(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	d := NewDurable(s, e)
	ingestN(t, d, 1000, 10)
	if err := d.Checkpoint(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	s.Close()
	e, _ = recovered(t, dir)
	ds, _ = e.Dataset("shop")
	if got := ds.Snapshot().Rows(); got != want+10 {
		t.Fatalf("rows %d, want %d", got, want+10)
	}
}

// TestCheckpointDuringIngest takes checkpoints while writers ingest: each
// checkpoint must match the sequence it claims, which recovery checks by
// replaying exactly what follows it.
func TestCheckpointDuringIngest(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	e := testEngine()
	d := NewDurable(s, e)
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for w := range 3 {
		go func() {
			for i := range 40 {
				lines := [][]byte{line(fmt.Sprint("w", w, "-", i%9), i), line(fmt.Sprint("x", i), w)}
				if _, err := d.Ingest(ctx, "shop", lines); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		defer close(done)
		for range 8 {
			if err := d.Checkpoint(ctx, "shop"); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-done
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	d.Close()
	live, _ := e.Dataset("shop")
	s.Close()
	e2, _ := recovered(t, dir)
	got, _ := e2.Dataset("shop")
	sameState(t, live, got)
}

func TestCheckpointKeyString(t *testing.T) {
	k := append(generationPrefix(7, 3), "f/age/s/00000002"...)
	if got := keyString(k); got != "d/7/k/3/f/age/s/00000002" {
		t.Fatalf("keyString = %s", got)
	}
	if !bytes.HasPrefix(k, checkpointPrefix(7)) || !bytes.HasPrefix(k, dataPrefix(7)) {
		t.Fatal("checkpoint key outside the dataset's prefixes")
	}
}

// TestCheckpointFlushedInParts: a checkpoint whose write batch is flushed
// after every value (a whole one, then an incremental one that refers to
// it) recovers to the same state as the live dataset.
func TestCheckpointFlushedInParts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	s.flushEvery = 1
	e := testEngine()
	d := NewDurable(s, e)
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 0, 80)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 80, 20)
	if err := d.Checkpoint(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	live, _ := e.Dataset("shop")
	s.Close()
	e2, rec := recovered(t, dir)
	if rec.Datasets[0].Records != 0 {
		t.Fatalf("replayed %d records after a final checkpoint", rec.Datasets[0].Records)
	}
	got, err := e2.Dataset("shop")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, live, got)
}
