package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// MaxAppendBytes bounds the lines of one Append: one write-ahead entry is
// one Badger value, and a value must fit in a value log file.
const MaxAppendBytes = 16 << 20

// Append writes lines to the dataset's write-ahead log as one entry and
// returns the sequence of the first; line i gets firstSeq+i. It returns
// only once the entry is durable (fsynced), sharing the write and the
// fsync with concurrent callers. The lines must already be validated
// (record.Decode against the dataset's schema): replay applies them
// without asking anyone.
//
// If ctx ends before the committer takes the entry, nothing is written
// and ctx's error is returned; after that, Append waits for the outcome.
func (s *Store) Append(ctx context.Context, dataset string, lines [][]byte) (firstSeq uint64, err error) {
	value, err := recordsValue(dataset, lines, nil)
	if err != nil {
		return 0, err
	}
	r := s.appendRequest(dataset, 0, value, len(lines))
	if err := s.do(ctx, r); err != nil {
		return 0, fmt.Errorf("cannot append to %s: %w", dataset, err)
	}
	return r.seq, nil
}

// appendRequest builds the request for an append of a records value
// (recordsValue) of n lines; id, if not 0, must still be the dataset's id
// when the committer gets to it (a batch decoded for a dataset that was
// since dropped and created again must not land in the new one).
func (s *Store) appendRequest(dataset string, id uint64, value []byte, n int) *request {
	r := &request{size: len(value)}
	r.stage = func(st *stager) error {
		seq, err := st.appendEntry(dataset, id, value, uint64(n))
		r.seq = seq
		return err
	}
	return r
}

// appendEntry stages a write-ahead entry covering n sequences.
func (st *stager) appendEntry(dataset string, id uint64, value []byte, n uint64) (uint64, error) {
	d, ok := st.cat.get(dataset)
	if !ok || (id != 0 && d.ID != id) {
		return 0, fmt.Errorf("dataset %s: %w", dataset, engine.ErrNotFound)
	}
	seq := d.NextSeq
	key := walKey(d.ID, seq)
	if err := st.set(key, sealFor(key, value)); err != nil {
		return 0, err
	}
	d.NextSeq += n
	st.cat.byName[dataset] = d
	st.touched[dataset] = true
	return seq, nil
}

// CreateDataset stores a new dataset with its schema.
func (s *Store) CreateDataset(ctx context.Context, name string, sc *schema.Schema) error {
	if err := engine.ValidateName(name); err != nil {
		return err
	}
	body, err := sc.MarshalIndent()
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", name, err)
	}
	created := time.Now().UTC()
	r := &request{size: len(body)}
	r.stage = func(st *stager) error {
		if _, ok := st.cat.get(name); ok {
			return fmt.Errorf("cannot create %s: %w", name, engine.ErrExists)
		}
		id := st.cat.nextID
		entry, err := json.Marshal(catalogEntry{ID: id, Created: created})
		if err != nil {
			return err
		}
		ck, sk, nk := catalogKey(name), schemaKey(id), []byte(keyNextID)
		if err := st.set(ck, seal(ck, kindCatalog, entry)); err != nil {
			return err
		}
		if err := st.set(sk, seal(sk, kindSchema, body)); err != nil {
			return err
		}
		if err := st.set(nk, seal(nk, kindNextID, binary.BigEndian.AppendUint64(nil, id+1))); err != nil {
			return err
		}
		st.cat.nextID = id + 1
		st.cat.byName[name] = DatasetInfo{Name: name, ID: id, Created: created, NextSeq: 1}
		st.touched[name] = true
		return nil
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("cannot create %s: %w", name, err)
	}
	return nil
}

// AddField logs a field added to the dataset's schema, in sequence with
// its records, and returns its sequence. The caller checks the field
// against the schema first; replay adds it with engine.Dataset.AddField.
func (s *Store) AddField(ctx context.Context, dataset string, f schema.Field) (uint64, error) {
	r, err := s.addFieldRequest(dataset, 0, f)
	if err != nil {
		return 0, err
	}
	if err := s.do(ctx, r); err != nil {
		return 0, fmt.Errorf("cannot add field %s to %s: %w", f.Name, dataset, err)
	}
	return r.seq, nil
}

func (s *Store) addFieldRequest(dataset string, id uint64, f schema.Field) (*request, error) {
	body, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("cannot add field %s to %s: %w", f.Name, dataset, err)
	}
	value := preseal(kindField, body)
	r := &request{size: len(value)}
	r.stage = func(st *stager) error {
		seq, err := st.appendEntry(dataset, id, value, 1)
		r.seq = seq
		return err
	}
	return r, nil
}

// DropDataset removes a dataset: its catalog entry goes in one
// transaction (after which the dataset no longer exists, whatever
// happens next), then the rest of its keys. Keys left by a crash in
// between are removed when the store is next opened.
func (s *Store) DropDataset(ctx context.Context, name string) error {
	r := &request{}
	r.stage = func(st *stager) error {
		d, ok := st.cat.get(name)
		if !ok {
			return fmt.Errorf("dataset %s: %w", name, engine.ErrNotFound)
		}
		for _, k := range [][]byte{catalogKey(name), metaKey(d.ID), schemaKey(d.ID)} {
			if err := st.delete(k); err != nil {
				return err
			}
		}
		delete(st.cat.byName, name)
		st.after = append(st.after, func() {
			s.writtenMu.Lock()
			delete(s.written, d.ID)
			s.writtenMu.Unlock()
			if err := s.db.DropPrefix(dataPrefix(d.ID)); err != nil {
				s.logf("cannot remove the keys of dropped dataset %s (id %d), will retry at the next start: %v", name, d.ID, err)
			}
		})
		return nil
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("cannot drop %s: %w", name, err)
	}
	return nil
}

func (s *Store) logf(format string, args ...any) {
	(&logger{w: s.opts.Log}).Warningf(format, args...)
}
