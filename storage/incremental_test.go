package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/dgraph-io/badger/v4"
)

// kindsIn counts the values and references of one checkpoint generation.
func kindsIn(t *testing.T, s *Store, id, gen uint64) (values, refs int) {
	t.Helper()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: generationPrefix(id, gen)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			k, _, err := open(it.Item().Key(), v)
			if err != nil {
				return err
			}
			switch k {
			case kindCheckpoint:
				values++
			case kindCheckRef:
				refs++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return values, refs
}

// TestIncrementalCheckpoints takes a checkpoint after each of a series
// of small changes: each writes only the values that changed (the rest
// are references), every state recovers exactly, older generations keep
// only what is referred to, and every fullEvery-th checkpoint is whole.
func TestIncrementalCheckpoints(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := openStore(t, dir)
	defer s.Close()
	e := testEngine()
	d := NewDurable(s, e)
	if _, err := d.Create(ctx, "shop", parseSchema(t, testSchema)); err != nil {
		t.Fatal(err)
	}
	ingestN(t, d, 0, 300)
	for round := 1; round <= fullEvery+2; round++ {
		if round > 1 {
			// A small change: one profile's age and a purchase.
			line := fmt.Appendf(nil, `{"id":"p%d","set":{"age":%d},"events":[{"field":"purchase","value":"v1","time":"2026-11-21"}]}`, round%23, 20+round)
			if _, err := d.Ingest(ctx, "shop", [][]byte{line}); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Checkpoint(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		info, _ := s.Dataset("shop")
		values, refs := kindsIn(t, s, info.ID, info.Checkpoint)
		full := round == 1 || (round-1)%fullEvery == 0
		switch {
		case full && refs != 0:
			t.Fatalf("round %d: a whole checkpoint has %d references", round, refs)
		case !full && (refs == 0 || values > refs/4):
			t.Fatalf("round %d: %d values written and %d references for a one-record change", round, values, refs)
		}
		s.writtenMu.Lock()
		idx := s.written[info.ID]
		s.writtenMu.Unlock()
		for _, k := range keysUnder(t, s, checkpointPrefix(info.ID)) {
			if !bytes.HasPrefix(k, generationPrefix(info.ID, info.Checkpoint)) && !idx.referenced(info.ID, k) {
				t.Fatalf("round %d: %s kept but referred to by nothing", round, keyString(k))
			}
		}
		// What was checkpointed recovers exactly.
		e2 := testEngine()
		if _, err := s.RecoverDataset(ctx, e2, "shop"); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		live, _ := e.Dataset("shop")
		got, _ := e2.Dataset("shop")
		sameState(t, live, got)
	}

	// A referenced value that is damaged is found, and named where it is.
	info, _ := s.Dataset("shop")
	s.writtenMu.Lock()
	var target []byte
	for key, st := range s.written[info.ID].values {
		if st.gen != info.Checkpoint {
			target = append(bytes.Clone(generationPrefix(info.ID, st.gen)), key...)
			break
		}
	}
	s.writtenMu.Unlock()
	if target == nil {
		t.Fatal("no value is referred to")
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(target)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		p, err := openAs(target, v, kindCheckpoint)
		if err != nil {
			return err
		}
		p = append(bytes.Clone(p), 0)
		return txn.Set(target, seal(target, kindCheckpoint, p))
	}); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := s.RecoverDataset(ctx, testEngine(), "shop"); !errors.As(err, &ce) || !bytes.Contains([]byte(err.Error()), []byte(keyString(target))) {
		t.Fatalf("a damaged referenced value: %v", err)
	}
}

// TestPutSameSkipsUnchanged: a bitmap the previous checkpoint encoded
// (the same pointer under the same key) is referred to without being
// encoded; another bitmap, or one under another key, is encoded.
func TestPutSameSkipsUnchanged(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	b := roaring.BitmapOf(1, 2, 3)
	c := roaring.BitmapOf(1, 2, 3) // same bytes, another bitmap
	enc := func(calls *int) func() ([]byte, error) {
		return func() ([]byte, error) { *calls++; return b.ToBytes() }
	}
	first := &checkpointWriter{wb: s.db.NewWriteBatch(), prefix: generationPrefix(1, 1), gen: 1, next: &checkpointIndex{values: map[string]valueState{}}}
	defer first.wb.Cancel()
	var n1 int
	if err := first.PutSame("f/x/e", b, enc(&n1)); err != nil || n1 != 1 {
		t.Fatalf("first checkpoint: %d encodes, %v", n1, err)
	}
	second := &checkpointWriter{wb: s.db.NewWriteBatch(), prefix: generationPrefix(1, 2), gen: 2, prev: first.next, next: &checkpointIndex{values: map[string]valueState{}}}
	defer second.wb.Cancel()
	var n2 int
	if err := second.PutSame("f/x/e", b, enc(&n2)); err != nil || n2 != 0 {
		t.Fatalf("unchanged bitmap: %d encodes, %v", n2, err)
	}
	if st := second.next.values["f/x/e"]; st.gen != 1 || st.src != any(b) {
		t.Fatalf("state %+v", st)
	}
	if err := second.PutSame("f/x/v/00000000", b, enc(&n2)); err != nil || n2 != 1 {
		t.Fatalf("another key: %d encodes, %v", n2, err)
	}
	third := &checkpointWriter{wb: s.db.NewWriteBatch(), prefix: generationPrefix(1, 3), gen: 3, prev: second.next, next: &checkpointIndex{values: map[string]valueState{}}}
	defer third.wb.Cancel()
	var n3 int
	if err := third.PutSame("f/x/e", c, enc(&n3)); err != nil || n3 != 1 {
		t.Fatalf("another bitmap: %d encodes, %v", n3, err)
	}
	// Same bytes as before: still a reference (by hash), now to c.
	if st := third.next.values["f/x/e"]; st.gen != 1 || st.src != any(c) {
		t.Fatalf("state %+v", st)
	}
	// A value token (a chunk of append-only ids: number and rows).
	type chunk struct{ n, rows uint32 }
	var n4 int
	if err := third.PutSame("i/00000000", chunk{0, 5}, enc(&n4)); err != nil || n4 != 1 {
		t.Fatalf("new chunk: %d encodes, %v", n4, err)
	}
	fourth := &checkpointWriter{wb: s.db.NewWriteBatch(), prefix: generationPrefix(1, 4), gen: 4, prev: third.next, next: &checkpointIndex{values: map[string]valueState{}}}
	defer fourth.wb.Cancel()
	if err := fourth.PutSame("i/00000000", chunk{0, 5}, enc(&n4)); err != nil || n4 != 1 {
		t.Fatalf("same chunk: %d encodes, %v", n4, err)
	}
	if err := fourth.PutSame("i/00000000", chunk{0, 6}, enc(&n4)); err != nil || n4 != 2 {
		t.Fatalf("grown chunk: %d encodes, %v", n4, err)
	}
}
