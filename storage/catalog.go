package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// DatasetInfo describes a stored dataset.
type DatasetInfo struct {
	Name string
	// ID is the dataset's key space (d/<id>/…). A dataset dropped and
	// created again under the same name gets a new id, so nothing of the
	// old one can leak into the new one.
	ID      uint64
	Created time.Time
	// NextSeq is the sequence the next write-ahead record will get;
	// sequences start at 1.
	NextSeq uint64
	// AppliedThrough is the last sequence covered by the checkpoint (0:
	// none; recovery then replays the whole log).
	AppliedThrough uint64
	// Checkpoint is the generation of the current checkpoint (0: none).
	// Each checkpoint is written under a new generation, so the one that
	// recovery reads is never overwritten while being replaced.
	Checkpoint uint64
}

// catalogEntry is the JSON payload of c/<name>.
type catalogEntry struct {
	ID      uint64    `json:"id"`
	Created time.Time `json:"created"`
}

// metaRecord is the payload of d/<id>/m: big-endian uint64s next
// sequence, applied-through and, once a checkpoint exists, its
// generation. It is rewritten by every commit that appends to the
// dataset, so it is kept small and fixed; stores written before
// checkpoints have the 16-byte form, which means generation 0.
type metaRecord struct {
	NextSeq        uint64
	AppliedThrough uint64
	Generation     uint64
}

func (m metaRecord) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, m.NextSeq)
	b = binary.BigEndian.AppendUint64(b, m.AppliedThrough)
	if m.Generation != 0 {
		b = binary.BigEndian.AppendUint64(b, m.Generation)
	}
	return b
}

func decodeMeta(p []byte) (metaRecord, error) {
	if len(p) != 16 && len(p) != 24 {
		return metaRecord{}, fmt.Errorf("metadata is %d bytes, want 16 or 24", len(p))
	}
	m := metaRecord{NextSeq: binary.BigEndian.Uint64(p), AppliedThrough: binary.BigEndian.Uint64(p[8:])}
	if len(p) == 24 {
		m.Generation = binary.BigEndian.Uint64(p[16:])
		if m.Generation == 0 {
			return metaRecord{}, errors.New("metadata names checkpoint generation 0")
		}
	}
	if m.NextSeq == 0 || m.AppliedThrough >= m.NextSeq {
		return metaRecord{}, fmt.Errorf("metadata out of order: next sequence %d, applied through %d", m.NextSeq, m.AppliedThrough)
	}
	if m.Generation == 0 && m.AppliedThrough != 0 {
		return metaRecord{}, fmt.Errorf("metadata says applied through %d but names no checkpoint", m.AppliedThrough)
	}
	return m, nil
}

// catalog is the committer's view of which datasets exist. It is
// immutable once published: the committer clones it, changes the clone
// while it stages a transaction, and publishes the clone only if the
// transaction commits.
type catalog struct {
	nextID uint64
	byName map[string]DatasetInfo
}

func (c *catalog) clone() *catalog {
	return &catalog{nextID: c.nextID, byName: maps.Clone(c.byName)}
}

func (c *catalog) get(name string) (DatasetInfo, bool) {
	d, ok := c.byName[name]
	return d, ok
}

func (c *catalog) names() []string {
	return slices.Sorted(maps.Keys(c.byName))
}

// readValue reads key and opens its envelope as want. found is false for
// a missing key.
func readValue(txn *badger.Txn, dataset string, key []byte, want kind) (payload []byte, found bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %s: %w", keyString(key), err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %s: %w", keyString(key), err)
	}
	p, err := openAs(key, v, want)
	if err != nil {
		return nil, false, corrupt(dataset, key, err)
	}
	return p, true, nil
}

// loadCatalog reads the id counter, every catalog entry and its metadata.
func loadCatalog(txn *badger.Txn) (*catalog, error) {
	c := &catalog{nextID: 1, byName: map[string]DatasetInfo{}}
	p, found, err := readValue(txn, "", []byte(keyNextID), kindNextID)
	if err != nil {
		return nil, err
	}
	if found {
		if len(p) != 8 {
			return nil, corrupt("", []byte(keyNextID), fmt.Errorf("id counter is %d bytes, want 8", len(p)))
		}
		c.nextID = binary.BigEndian.Uint64(p)
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixCatalog)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key := item.KeyCopy(nil)
		name := string(key[len(prefixCatalog):])
		v, err := item.ValueCopy(nil)
		if err != nil {
			return nil, fmt.Errorf("cannot read %s: %w", keyString(key), err)
		}
		p, err := openAs(key, v, kindCatalog)
		if err != nil {
			return nil, corrupt(name, key, err)
		}
		var ce catalogEntry
		if err := json.Unmarshal(p, &ce); err != nil {
			return nil, corrupt(name, key, fmt.Errorf("catalog entry: %w", err))
		}
		if ce.ID == 0 || ce.ID >= c.nextID {
			return nil, corrupt(name, key, fmt.Errorf("dataset id %d outside 1..%d", ce.ID, c.nextID-1))
		}
		mk := metaKey(ce.ID)
		mp, found, err := readValue(txn, name, mk, kindMeta)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, corrupt(name, mk, errors.New("metadata missing"))
		}
		m, err := decodeMeta(mp)
		if err != nil {
			return nil, corrupt(name, mk, err)
		}
		c.byName[name] = DatasetInfo{Name: name, ID: ce.ID, Created: ce.Created, NextSeq: m.NextSeq, AppliedThrough: m.AppliedThrough, Checkpoint: m.Generation}
	}
	return c, nil
}

// orphans returns the ids that have keys under d/ but no catalog entry:
// what an interrupted drop left behind.
func orphans(txn *badger.Txn, c *catalog) []uint64 {
	live := map[uint64]bool{}
	for _, d := range c.byName {
		live[d.ID] = true
	}
	var out []uint64
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixData)})
	defer it.Close()
	for it.Rewind(); it.Valid(); {
		id, ok := dataID(it.Item().Key())
		if !ok {
			it.Next()
			continue
		}
		if !live[id] {
			out = append(out, id)
		}
		if id == ^uint64(0) {
			break
		}
		// Skip the rest of this dataset's keys.
		it.Seek(dataPrefix(id + 1))
	}
	return out
}
