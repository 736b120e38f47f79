package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// DatasetRecovery reports the replay of one dataset.
type DatasetRecovery struct {
	Name        string
	Records     int // records read from the log
	Applied     int
	FieldsAdded int
	// Rejected counts records the engine refused on replay. They were
	// refused in the same way when first applied (the checks are
	// deterministic, e.g. a field's limit of distinct values), so this is
	// not a loss; FirstRejection says why.
	Rejected       int
	FirstRejection string
	Expired        int // events dropped because they have left retention since
	// Released is how many bytes of the store's file mappings were taken
	// out of the resident set after loading (Linux; see releaseMapped).
	Released int64
	// Checkpoint is the last sequence of the checkpoint loaded (0: none;
	// the whole log was replayed).
	Checkpoint uint64
	Duration   time.Duration
}

// Recovery reports Recover.
type Recovery struct {
	Datasets []DatasetRecovery
	Duration time.Duration
	// Released is how many bytes of the store's file mappings were taken
	// out of the resident set after loading (Linux; see releaseMapped).
	Released int64
}

// Records sums the records replayed over all datasets.
func (r Recovery) Records() int {
	n := 0
	for _, d := range r.Datasets {
		n += d.Records
	}
	return n
}

// Recover rebuilds every stored dataset in e: it loads the dataset from
// its latest checkpoint (or creates it empty from its stored schema if it
// has none) and replays the write-ahead log after the checkpoint in
// sequence order, schema changes included. Call it on an engine without
// those datasets, before any write to the store. On error, the engine holds partial state
// and must be discarded; the error names the dataset and, for damaged
// data, the key (see CorruptError).
func (s *Store) Recover(ctx context.Context, e *engine.Engine) (Recovery, error) {
	start := time.Now()
	var rec Recovery
	for _, name := range s.catalog().names() {
		d, err := s.RecoverDataset(ctx, e, name)
		if err != nil {
			return rec, err
		}
		rec.Datasets = append(rec.Datasets, d)
		rec.Released += d.Released
	}
	rec.Duration = time.Since(start)
	return rec, nil
}

// RecoverDataset rebuilds one stored dataset in e (see Recover).
func (s *Store) RecoverDataset(ctx context.Context, e *engine.Engine, name string) (DatasetRecovery, error) {
	start := time.Now()
	rec := DatasetRecovery{Name: name}
	info, ok := s.catalog().get(name)
	if !ok {
		return rec, fmt.Errorf("cannot recover %s: %w", name, engine.ErrNotFound)
	}
	err := s.db.View(func(txn *badger.Txn) error {
		sc, meta, err := readDataset(txn, name, info.ID)
		if err != nil {
			return err
		}
		var ds *engine.Dataset
		if meta.Generation != 0 {
			var idx *checkpointIndex
			ds, idx, err = s.loadCheckpoint(ctx, txn, e, name, info.ID, meta.Generation, sc)
			rec.Checkpoint = meta.AppliedThrough
			if err == nil {
				s.writtenMu.Lock()
				s.written[info.ID] = idx
				s.writtenMu.Unlock()
			}
		} else {
			ds, err = e.Create(name, sc)
		}
		if err != nil {
			return err
		}
		w := newWALScanner(ctx, txn, name, info.ID, meta.AppliedThrough)
		defer w.close()
		if err := replay(ds, w, &rec); err != nil {
			return err
		}
		return w.end(meta.NextSeq)
	})
	if err == nil {
		// Loading read every checkpoint value through Badger's maps;
		// those pages need not stay in this process's resident set.
		// Failing to release them costs memory, not data: not an error
		// of recovery.
		rec.Released, _ = releaseMapped(s.dir)
	}
	rec.Duration = time.Since(start)
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			return rec, err
		}
		return rec, fmt.Errorf("cannot recover %s: %w", name, err)
	}
	return rec, nil
}

// readDataset reads a dataset's schema (as of its applied-through point)
// and metadata in one transaction.
func readDataset(txn *badger.Txn, name string, id uint64) (*schema.Schema, metaRecord, error) {
	sk, mk := schemaKey(id), metaKey(id)
	sp, found, err := readValue(txn, name, sk, kindSchema)
	if err != nil {
		return nil, metaRecord{}, err
	}
	if !found {
		return nil, metaRecord{}, corrupt(name, sk, errors.New("schema missing"))
	}
	sc, err := schema.Parse(sp)
	if err != nil {
		return nil, metaRecord{}, corrupt(name, sk, err)
	}
	mp, found, err := readValue(txn, name, mk, kindMeta)
	if err != nil {
		return nil, metaRecord{}, err
	}
	if !found {
		return nil, metaRecord{}, corrupt(name, mk, errors.New("metadata missing"))
	}
	meta, err := decodeMeta(mp)
	if err != nil {
		return nil, metaRecord{}, corrupt(name, mk, err)
	}
	return sc, meta, nil
}

// replay applies the log: each run of record entries streams through
// ApplyNDJSON (parallel decoding, one entry in memory at a time), and each
// schema change is applied between runs, where it happened.
func replay(ds *engine.Dataset, w *walScanner, rec *DatasetRecovery) error {
	for {
		rr := &recordReader{w: w}
		res, err := ds.ApplyNDJSON(rr, engine.LoadOptions{})
		rec.Records += rr.records
		rec.Applied += res.Applied
		rec.Expired += res.Expired
		rec.Rejected += len(res.Errors)
		if len(res.Errors) > 0 && rec.FirstRejection == "" {
			rec.FirstRejection = res.Errors[0].Err.Error()
		}
		switch {
		case rr.err != nil && rr.err != io.EOF:
			return rr.err
		case err != nil:
			return err
		case rr.stopped == nil:
			return nil
		}
		e := rr.stopped
		if e.kind != kindField {
			return corrupt(w.dataset, e.key, fmt.Errorf("unexpected %s in the log", e.kind))
		}
		if err := ds.AddField(*e.field); err != nil {
			return corrupt(w.dataset, e.key, fmt.Errorf("cannot replay adding field %s: %w", e.field.Name, err))
		}
		rec.FieldsAdded++
	}
}
