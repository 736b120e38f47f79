package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// A checkpoint is written in three steps, so that a crash at any point
// leaves a store that recovers to the same state:
//
//  1. its blobs are written under a new generation, d/<id>/k/<gen>/…,
//     which nothing reads yet (a crash here leaves unused keys that the
//     next checkpoint of the dataset clears);
//  2. one transaction through the committer switches the metadata's
//     applied-through and generation and writes the schema as of
//     applied-through; before it commits, recovery uses the old
//     checkpoint and the whole log after it, which is still there;
//  3. the old generation and the log entries wholly covered are deleted.
//     Left over after a crash they are harmless: recovery reads only the
//     current generation and skips covered entries.

// Checkpoint writes sn, the state of dataset after every sequence up to
// throughSeq has been applied, as the dataset's new checkpoint, then drops
// the previous checkpoint and the log it covers. The caller guarantees
// that sn and throughSeq agree (see Durable.Checkpoint).
func (s *Store) Checkpoint(ctx context.Context, dataset string, sn *engine.Snapshot, throughSeq uint64) error {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	if sn.Dataset() != dataset {
		return fmt.Errorf("cannot checkpoint %s: snapshot is of dataset %s", dataset, sn.Dataset())
	}
	info, ok := s.Dataset(dataset)
	if !ok {
		return fmt.Errorf("cannot checkpoint %s: %w", dataset, engine.ErrNotFound)
	}
	// A checkpoint writes a copy of the whole dataset before it frees the
	// log it covers: refuse it, rather than fill the disk, when that copy
	// would not leave the reserve.
	if err := s.checkSpace(); err != nil {
		return fmt.Errorf("cannot checkpoint %s: %w", dataset, err)
	}
	body, err := sn.Schema().MarshalIndent()
	if err != nil {
		return fmt.Errorf("cannot checkpoint %s: %w", dataset, err)
	}
	gen := info.Checkpoint + 1
	prefix := generationPrefix(info.ID, gen)
	// An interrupted checkpoint may have left keys under this
	// generation; a stale key would make the new one fail its key count.
	if err := s.deleteKeys(prefix, nil); err != nil {
		return fmt.Errorf("cannot checkpoint %s: %w", dataset, err)
	}
	cw := &checkpointWriter{db: s.db, wb: s.db.NewWriteBatch(), prefix: prefix, gen: gen, next: &checkpointIndex{values: map[string]valueState{}}, dir: s.dir, releaseEvery: s.releaseEvery, flushEvery: s.flushEvery}
	defer func() { cw.wb.Cancel() }()
	s.writtenMu.Lock()
	prev := s.written[info.ID]
	s.writtenMu.Unlock()
	if prev != nil && gen-prev.oldest() < fullEvery {
		cw.prev = prev
	}
	if err := sn.WriteCheckpoint(cw); err != nil {
		return fmt.Errorf("cannot checkpoint %s: %w", dataset, err)
	}
	if err := cw.wb.Flush(); err != nil {
		return fmt.Errorf("cannot checkpoint %s: writing blobs: %w", dataset, err)
	}
	_, _ = releaseMapped(s.dir)
	r := &request{size: len(body)}
	r.stage = func(st *stager) error {
		d, ok := st.cat.get(dataset)
		switch {
		case !ok || d.ID != info.ID:
			return fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
		case d.Checkpoint != info.Checkpoint:
			return fmt.Errorf("dataset %s: another checkpoint was written meanwhile", dataset)
		case throughSeq >= d.NextSeq || throughSeq < d.AppliedThrough:
			return fmt.Errorf("dataset %s: checkpoint through sequence %d, but the log holds %d..%d",
				dataset, throughSeq, d.AppliedThrough+1, d.NextSeq-1)
		}
		sk := schemaKey(d.ID)
		if err := st.set(sk, seal(sk, kindSchema, body)); err != nil {
			return err
		}
		d.AppliedThrough, d.Checkpoint = throughSeq, gen
		st.cat.byName[dataset] = d
		st.touched[dataset] = true
		return nil
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("cannot checkpoint %s: %w", dataset, err)
	}
	// The checkpoint is in force. What follows only frees space: the
	// older generations keep only the values it refers to.
	s.writtenMu.Lock()
	s.written[info.ID] = cw.next
	s.writtenMu.Unlock()
	cur := generationPrefix(info.ID, gen)
	var cleanErr error
	if cw.prev != nil {
		// Incremental: what the new checkpoint no longer needs follows
		// from the two indexes, without scanning every key.
		cleanErr = s.deleteList(unreferenced(info.ID, info.Checkpoint, cw.prev, cw.next))
	} else {
		// Whole: every key of another generation goes, strays of an
		// interrupted clean-up included.
		cleanErr = s.deleteKeys(checkpointPrefix(info.ID), func(k []byte) bool {
			return !bytes.HasPrefix(k, cur) && !cw.next.referenced(info.ID, k)
		})
	}
	if cleanErr != nil {
		return fmt.Errorf("dataset %s: checkpoint written, but removing the old one failed: %w", dataset, cleanErr)
	}
	if err := s.truncateLog(info.ID, throughSeq); err != nil {
		return fmt.Errorf("dataset %s: checkpoint written, but truncating the log failed: %w", dataset, err)
	}
	s.collectGarbage()
	return nil
}

// maxGCRounds bounds one collection: each round rewrites at most one
// value-log file.
const maxGCRounds = 16

// collectGarbage rewrites value-log files that are mostly deleted
// entries (old checkpoints, truncated log), so disk space comes back
// after a checkpoint. Badger only frees a file once at least half of it
// is garbage; a failure here frees nothing but loses nothing, so it is
// not an error of the checkpoint.
func (s *Store) collectGarbage() {
	for range maxGCRounds {
		if err := s.db.RunValueLogGC(0.5); err != nil {
			return // badger.ErrNoRewrite: nothing (more) worth rewriting
		}
	}
}

// checkpointWriter seals each checkpoint value into an envelope under the
// generation's prefix, or, for a value unchanged since the previous
// checkpoint, a reference to where its bytes already are.
type checkpointWriter struct {
	db     *badger.DB
	wb     *badger.WriteBatch
	prefix []byte
	gen    uint64
	prev   *checkpointIndex // nil: write every value
	next   *checkpointIndex
	// Every releaseEvery bytes written (0: never), the pages of the
	// store's mapped files in dir leave the resident set
	// (releaseMapped): Badger writes its value log through a mapping, so
	// a whole checkpoint would otherwise pass through the resident set
	// beside the dataset it copies (at 100M, 16.9 GiB against 10.8).
	dir          string
	releaseEvery int
	unreleased   int
	// Every flushEvery value bytes (0: never), the write batch is
	// flushed and a new one started. Badger counts a value that goes to
	// the value log as a pointer's size against a transaction's limit,
	// so one transaction of a batch took thousands of large values (a
	// bitmap is 12.5 MB at 100M profiles), and sixteen may wait to
	// commit: gigabytes of sealed copies held beside the dataset (a
	// 100M checkpoint peaked at 13.8 GiB). The values are under a
	// generation nothing refers to until the catalog switches to it, so
	// flushing in parts changes nothing a reader or a recovery sees.
	flushEvery int
	unflushed  int
}

// defaultFlushEvery is how many value bytes a checkpoint's write batch
// takes between flushes.
const defaultFlushEvery = 64 << 20

// written counts n bytes written and releases the mapped pages when
// releaseEvery have gone by since the last release.
func (w *checkpointWriter) written(n int) {
	if w.unreleased += n; w.releaseEvery > 0 && w.unreleased >= w.releaseEvery {
		w.unreleased = 0
		_, _ = releaseMapped(w.dir) // memory, not data: failing is not an error
	}
}

// set adds k to the write batch, and flushes the batch once flushEvery
// value bytes have gone in since the last flush.
func (w *checkpointWriter) set(k, sealed []byte) error {
	if err := w.wb.Set(k, sealed); err != nil {
		return err
	}
	if w.unflushed += len(sealed); w.flushEvery > 0 && w.unflushed >= w.flushEvery {
		w.unflushed = 0
		if err := w.wb.Flush(); err != nil {
			return err
		}
		w.wb = w.db.NewWriteBatch()
	}
	return nil
}

func (w *checkpointWriter) Put(key string, value []byte) error {
	k := append(bytes.Clone(w.prefix), key...)
	h := xxhash.Sum64(value)
	if w.prev != nil {
		if st, ok := w.prev.values[key]; ok && st.hash == h {
			w.next.values[key] = st
			return w.set(k, seal(k, kindCheckRef, refPayload(st.gen, h)))
		}
	}
	w.next.values[key] = valueState{hash: h, gen: w.gen}
	w.written(len(value))
	return w.set(k, seal(k, kindCheckpoint, value))
}

// PutSame is Put with a token (engine.BitmapWriter): a value the
// previous checkpoint stored with the same token is referred to without
// being encoded or hashed.
func (w *checkpointWriter) PutSame(key string, token any, encode func() ([]byte, error)) error {
	if w.prev != nil {
		if st, ok := w.prev.values[key]; ok && st.src != nil && st.src == token {
			w.next.values[key] = st
			k := append(bytes.Clone(w.prefix), key...)
			return w.set(k, seal(k, kindCheckRef, refPayload(st.gen, st.hash)))
		}
	}
	v, err := encode()
	if err != nil {
		return err
	}
	if err := w.Put(key, v); err != nil {
		return err
	}
	st := w.next.values[key]
	st.src = token
	w.next.values[key] = st
	return nil
}

// deleteKeys deletes the keys under prefix for which del is nil or
// true, in batches (a checkpoint can exceed one transaction).
func (s *Store) deleteKeys(prefix []byte, del func([]byte) bool) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if del == nil || del(k) {
				keys = append(keys, k)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.deleteList(keys)
}

// deleteList deletes keys, in batches.
func (s *Store) deleteList(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// unreferenced lists the keys of dataset id that checkpoint next (a new
// generation) no longer needs, when prev was the index of generation
// prevGen: prevGen's own entry of every key (its bytes, unless next
// still refers to them, or a reference), and the bytes in an older
// generation that prevGen referred to and next does not.
func unreferenced(id, prevGen uint64, prev, next *checkpointIndex) [][]byte {
	var keys [][]byte
	at := func(gen uint64, key string) []byte {
		return append(bytes.Clone(generationPrefix(id, gen)), key...)
	}
	for key, p := range prev.values {
		n, ok := next.values[key]
		if p.gen == prevGen {
			if !ok || n.gen != prevGen {
				keys = append(keys, at(prevGen, key))
			}
			continue
		}
		keys = append(keys, at(prevGen, key)) // prevGen's reference
		if !ok || n.gen != p.gen {
			keys = append(keys, at(p.gen, key))
		}
	}
	return keys
}

// truncateLog deletes the write-ahead entries that lie wholly at or
// before through. An entry's end is where the next one starts; the last
// entry ends at the next sequence, read from the catalog before the keys
// are listed (the log only grows, so an entry listed later starts at or
// after it). An entry that straddles through is kept: replay skips its
// covered lines.
func (s *Store) truncateLog(id, through uint64) error {
	var next uint64
	for _, d := range s.Datasets() {
		if d.ID == id {
			next = d.NextSeq
		}
	}
	var seqs []uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: walPrefix(id)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			seq, ok := walSeq(it.Item().Key(), id)
			if !ok || seq > through {
				break
			}
			seqs = append(seqs, seq)
		}
		if len(seqs) > 0 && it.Valid() {
			if seq, ok := walSeq(it.Item().Key(), id); ok {
				seqs = append(seqs, seq) // the end of the last listed entry
				return nil
			}
		}
		seqs = append(seqs, next)
		return nil
	})
	if err != nil {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i := 0; i+1 < len(seqs); i++ {
		if seqs[i+1] <= through+1 {
			if err := wb.Delete(walKey(id, seqs[i])); err != nil {
				return err
			}
		}
	}
	return wb.Flush()
}

// checkpointReader streams a checkpoint's values out of Badger, opening
// each envelope and following references into older generations; the
// engine decodes and validates what is inside. It records where each
// value's bytes live, for the next incremental checkpoint.
type checkpointReader struct {
	ctx     context.Context
	dataset string
	gen     uint64
	prefix  []byte
	it      *badger.Iterator
	origins *originReader
	started bool
	buf     []byte
	index   *checkpointIndex
	// Every releaseEvery bytes read (0: never), the pages of the store's
	// mapped files in dir are released (releaseMapped), so a large
	// checkpoint does not pass through the resident set whole.
	dir          string
	releaseEvery int
	unread       int
}

// defaultReleaseEvery is how many checkpoint bytes are read between
// releases of the store's mapped pages.
const defaultReleaseEvery = 256 << 20

func (r *checkpointReader) Next() (string, []byte, error) {
	if err := r.ctx.Err(); err != nil {
		return "", nil, err
	}
	if r.started {
		r.it.Next()
	} else {
		r.it.Rewind()
		r.started = true
	}
	if !r.it.Valid() {
		return "", nil, io.EOF
	}
	item := r.it.Item()
	key := item.KeyCopy(nil)
	var err error
	if r.buf, err = item.ValueCopy(r.buf[:0]); err != nil {
		return "", nil, fmt.Errorf("cannot read %s: %w", keyString(key), err)
	}
	engineKey := string(key[len(r.prefix):])
	p, origin, err := r.origins.resolve(r.gen, key, engineKey, r.buf)
	if err != nil {
		return "", nil, err
	}
	r.index.values[engineKey] = valueState{hash: xxhash.Sum64(p), gen: origin}
	if r.unread += len(p); r.releaseEvery > 0 && r.unread >= r.releaseEvery {
		r.unread = 0
		_, _ = releaseMapped(r.dir) // memory, not data: failing is not an error
	}
	return engineKey, p, nil
}

// loadCheckpoint creates the dataset in e from its checkpoint of
// generation gen. Damage is reported as a CorruptError naming the
// dataset and the full key.
func (s *Store) loadCheckpoint(ctx context.Context, txn *badger.Txn, e *engine.Engine, name string, id, gen uint64, sc *schema.Schema) (*engine.Dataset, *checkpointIndex, error) {
	prefix := generationPrefix(id, gen)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	origins := &originReader{txn: txn, dataset: name, id: id}
	defer origins.close()
	r := &checkpointReader{ctx: ctx, dataset: name, gen: gen, prefix: prefix, it: it, origins: origins, index: &checkpointIndex{values: map[string]valueState{}}, dir: s.dir, releaseEvery: s.releaseEvery}
	ds, err := e.LoadCheckpoint(name, sc, r)
	var ce *engine.CheckpointError
	if errors.As(err, &ce) {
		return nil, nil, corrupt(name, append(bytes.Clone(prefix), ce.Key...), ce.Err)
	}
	return ds, r.index, err
}
