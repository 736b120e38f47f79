package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"
)

// Incremental checkpoints. A checkpoint is a whole dataset as thousands
// of values (one per bitmap), and between two checkpoints most of them do
// not change: last month's event days, the values of fields nobody
// wrote. A checkpoint therefore writes, under its new generation, the
// values whose content changed, and for every other key a small
// reference to the older generation that holds the same bytes (with
// their hash, checked when read). Every key still appears in the new
// generation, so loading reads one generation in key order as before,
// following references with point reads; a key absent from the new
// generation (an event day dropped by retention) is simply gone. Old
// generations then lose every key nothing references; the bytes of a
// value are stored exactly once, in the generation that first wrote
// them.
//
// The hashes live in memory (built while a checkpoint is written or
// loaded), so the first checkpoint after a start without a loaded
// checkpoint writes everything. A checkpoint is written whole once the
// oldest generation it would refer to is fullEvery generations old, so
// loading never follows references into many generations and old
// generations do not pile up.

const fullEvery = 8

// valueState is where a checkpoint value's bytes live and their hash.
// src is the token the engine stored them with (engine.BitmapWriter),
// compared so that an unchanged value is not encoded again. A bitmap
// token is held, so no other bitmap can take its address; it keeps the
// old version of a bitmap changed since the last checkpoint alive until
// the next one.
type valueState struct {
	hash uint64
	gen  uint64
	src  any
}

// checkpointIndex describes a dataset's current checkpoint.
type checkpointIndex struct {
	values map[string]valueState // engine key → state
}

// oldest is the oldest generation the checkpoint holds bytes in.
func (idx *checkpointIndex) oldest() uint64 {
	o := ^uint64(0)
	for _, st := range idx.values {
		o = min(o, st.gen)
	}
	return o
}

// refPayload is a reference's payload: the generation holding the bytes
// and their hash.
func refPayload(gen, hash uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), gen), hash)
}

func parseRef(p []byte) (gen, hash uint64, err error) {
	if len(p) != 16 {
		return 0, 0, fmt.Errorf("checkpoint reference of %d bytes, want 16", len(p))
	}
	return binary.BigEndian.Uint64(p), binary.BigEndian.Uint64(p[8:]), nil
}

// originReader reads referenced values out of older generations. A
// checkpoint's references arrive in key order, and an older generation
// holds (once cleaned) just the keys referred to, in the same order, so
// one forward iterator per generation reads them sequentially, with
// Badger prefetching, instead of one point lookup each.
type originReader struct {
	txn     *badger.Txn
	dataset string
	id      uint64
	its     map[uint64]*badger.Iterator
	buf     []byte
}

func (o *originReader) close() {
	for _, it := range o.its {
		it.Close()
	}
}

// read returns the payload of generation gen's value for engineKey.
func (o *originReader) read(gen uint64, engineKey string) ([]byte, []byte, error) {
	prefix := generationPrefix(o.id, gen)
	want := append(bytes.Clone(prefix), engineKey...)
	it := o.its[gen]
	if it == nil {
		if o.its == nil {
			o.its = map[uint64]*badger.Iterator{}
		}
		it = o.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		it.Seek(want)
		o.its[gen] = it
	}
	// Keys nothing refers to (left by an interrupted clean-up) are
	// stepped over; a key behind the cursor is never needed again.
	for it.Valid() && bytes.Compare(it.Item().Key(), want) < 0 {
		it.Next()
	}
	if !it.Valid() || !bytes.Equal(it.Item().Key(), want) {
		return nil, want, nil
	}
	var err error
	if o.buf, err = it.Item().ValueCopy(o.buf[:0]); err != nil {
		return nil, want, fmt.Errorf("cannot read %s: %w", keyString(want), err)
	}
	p, err := openAs(want, o.buf, kindCheckpoint)
	if err != nil {
		return nil, want, corrupt(o.dataset, want, err)
	}
	return p, want, nil
}

// resolve reads the value a checkpoint entry stands for: the payload of a
// value, or, for a reference, the referenced value (its hash checked).
// It returns the generation that holds the bytes.
func (o *originReader) resolve(gen uint64, key []byte, engineKey string, v []byte) ([]byte, uint64, error) {
	k, p, err := open(key, v)
	if err != nil {
		return nil, 0, corrupt(o.dataset, key, err)
	}
	switch k {
	case kindCheckpoint:
		return p, gen, nil
	case kindCheckRef:
	default:
		return nil, 0, corrupt(o.dataset, key, fmt.Errorf("holds a %s, not a checkpoint value", k))
	}
	origin, hash, err := parseRef(p)
	if err != nil {
		return nil, 0, corrupt(o.dataset, key, err)
	}
	if origin >= gen {
		return nil, 0, corrupt(o.dataset, key, fmt.Errorf("refers to generation %d, not an older one", origin))
	}
	value, at, err := o.read(origin, engineKey)
	switch {
	case err != nil:
		return nil, 0, err
	case value == nil:
		return nil, 0, corrupt(o.dataset, at, fmt.Errorf("the value %s refers to is missing", keyString(key)))
	case xxhash.Sum64(value) != hash:
		return nil, 0, corrupt(o.dataset, at, fmt.Errorf("the value does not match the hash %s refers to it with", keyString(key)))
	}
	return value, origin, nil
}

// referenced reports whether key, a checkpoint key of dataset id of
// another generation than the current one, holds bytes that idx still
// refers to.
func (idx *checkpointIndex) referenced(id uint64, key []byte) bool {
	rest := key[len(checkpointPrefix(id)):]
	if len(rest) < 9 || rest[8] != '/' {
		return false
	}
	gen := binary.BigEndian.Uint64(rest[:8])
	st, ok := idx.values[string(rest[9:])]
	return ok && st.gen == gen
}
