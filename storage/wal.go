package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"

	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// A write-ahead entry holds either a batch of ingest lines (kindRecords)
// or one field added to the schema (kindField). An entry of n lines covers
// sequences seq…seq+n-1, a field entry one sequence, and entries follow
// each other without gaps, which recovery checks.
//
// A records payload is uvarint(n) followed by n times uvarint(len), line.
// Lines are stored as they arrived (after validation), so replay decodes
// them with the same decoder and schema as the live path. The payload is
// stored S2-compressed (kindRecordsS2) when that makes it smaller, which
// for NDJSON it does about 5.5 times: the value log's bytes, its page
// faults and msyncs shrink with it, and compressing runs in the parallel
// decoders (Durable.Prepare), not in the committer. Entries of either
// kind are read back.

// recordsValue checks lines and builds the envelope of a records entry
// (without its CRC, see preseal). sc, if not nil, lends buffers for the
// work in between, so that a bulk load does not allocate (and zero) two
// batch-sized buffers per batch.
func recordsValue(dataset string, lines [][]byte, sc *scratch) ([]byte, error) {
	if len(lines) == 0 {
		return nil, fmt.Errorf("cannot append to %s: no lines", dataset)
	}
	size := 0
	for i, l := range lines {
		switch {
		case len(l) == 0:
			return nil, fmt.Errorf("cannot append to %s: line %d is empty", dataset, i+1)
		case len(l) > record.MaxLineBytes:
			return nil, fmt.Errorf("cannot append to %s: line %d is longer than %d bytes", dataset, i+1, record.MaxLineBytes)
		case bytes.IndexByte(l, '\n') >= 0:
			return nil, fmt.Errorf("cannot append to %s: line %d contains a newline", dataset, i+1)
		}
		size += len(l)
	}
	if size > MaxAppendBytes {
		return nil, fmt.Errorf("cannot append to %s: %d bytes in one append, more than %d: split the batch", dataset, size, MaxAppendBytes)
	}
	if sc == nil {
		sc = &scratch{}
	}
	return presealRecords(lines, sc), nil
}

// scratch is the reusable working memory of recordsValue.
type scratch struct{ raw, packed []byte }

// presealRecords builds the envelope of a records entry, compressed when
// that is smaller. Only the result is allocated.
func presealRecords(lines [][]byte, sc *scratch) []byte {
	sc.raw = appendRecordsPayload(sc.raw[:0], lines)
	if n := s2.MaxEncodedLen(len(sc.raw)); cap(sc.packed) < n {
		sc.packed = make([]byte, n)
	}
	packed := s2.Encode(sc.packed[:cap(sc.packed)], sc.raw)
	if len(packed) < len(sc.raw) {
		return preseal(kindRecordsS2, packed)
	}
	return preseal(kindRecords, sc.raw)
}

// appendRecordsPayload appends the records payload of lines to b, sized
// once: a batch is megabytes, and growing it would copy it again.
func appendRecordsPayload(b []byte, lines [][]byte) []byte {
	size := binary.MaxVarintLen64
	for _, l := range lines {
		size += binary.MaxVarintLen32 + len(l)
	}
	b = slices.Grow(b, size)
	b = binary.AppendUvarint(b, uint64(len(lines)))
	for _, l := range lines {
		b = binary.AppendUvarint(b, uint64(len(l)))
		b = append(b, l...)
	}
	return b
}

// recordLines splits a records payload, calling f for each line (a
// sub-slice of p).
func recordLines(p []byte, f func(line []byte)) error {
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return errors.New("records entry: bad line count")
	}
	p = p[k:]
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return fmt.Errorf("records entry: line %d of %d runs past the end", i+1, n)
		}
		f(p[k : k+int(l)])
		p = p[k+int(l):]
	}
	if len(p) != 0 {
		return fmt.Errorf("records entry: %d bytes after the last line", len(p))
	}
	return nil
}

// walEntry is one decoded write-ahead entry.
type walEntry struct {
	key   []byte
	seq   uint64
	kind  kind
	lines [][]byte      // kindRecords: sub-slices of the entry's value
	field *schema.Field // kindField
}

// span is how many sequences the entry covers.
func (e *walEntry) span() uint64 {
	if e.kind == kindRecords {
		return uint64(len(e.lines))
	}
	return 1
}

// walScanner reads a dataset's write-ahead entries in sequence order,
// one value in memory at a time, checking each envelope and that the
// entries follow each other without gaps.
type walScanner struct {
	ctx     context.Context
	dataset string
	id      uint64
	it      *badger.Iterator
	buf     []byte
	plain   []byte // a compressed entry's payload, decompressed
	next    uint64 // the sequence the next entry must start at (0: first entry)
	from    uint64 // sequences before this are covered by a checkpoint
	started bool
}

func newWALScanner(ctx context.Context, txn *badger.Txn, dataset string, id, appliedThrough uint64) *walScanner {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: walPrefix(id)})
	it.Rewind()
	return &walScanner{ctx: ctx, dataset: dataset, id: id, it: it, from: appliedThrough + 1}
}

func (w *walScanner) close() { w.it.Close() }

// scan returns the next entry, or nil at the end. Lines of an entry that
// fall before the checkpoint are left out. The entry's memory is reused
// by the next call.
func (w *walScanner) scan() (*walEntry, error) {
	for {
		if err := w.ctx.Err(); err != nil {
			return nil, err
		}
		if !w.it.Valid() {
			return nil, nil
		}
		item := w.it.Item()
		key := item.KeyCopy(nil)
		seq, ok := walSeq(key, w.id)
		if !ok {
			return nil, corrupt(w.dataset, key, errors.New("malformed write-ahead key"))
		}
		var err error
		if w.buf, err = item.ValueCopy(w.buf[:0]); err != nil {
			return nil, fmt.Errorf("dataset %s: cannot read %s: %w", w.dataset, keyString(key), err)
		}
		w.it.Next()
		e, err := decodeEntry(key, seq, w.buf, &w.plain)
		if err != nil {
			return nil, corrupt(w.dataset, key, err)
		}
		end := seq + e.span()
		switch {
		case !w.started && seq > w.from:
			return nil, corrupt(w.dataset, key, fmt.Errorf("the log starts at sequence %d, but %s %s in no checkpoint", seq, seqRange(w.from, seq-1), areOrIs(w.from, seq-1)))
		case w.started && seq != w.next:
			if seq > w.next {
				return nil, corrupt(w.dataset, key, fmt.Errorf("%s %s missing before this entry", seqRange(w.next, seq-1), areOrIs(w.next, seq-1)))
			}
			return nil, corrupt(w.dataset, key, fmt.Errorf("entry starts at sequence %d, inside the previous entry (which ends at %d)", seq, w.next-1))
		}
		w.started = true
		w.next = end
		if end <= w.from {
			continue // wholly in the checkpoint
		}
		if seq < w.from {
			// Straddles the checkpoint: only a records entry can (a
			// field entry covers one sequence).
			e.lines = e.lines[w.from-seq:]
		}
		return e, nil
	}
}

// seqRange renders sequences a..b for messages.
func seqRange(a, b uint64) string {
	if a == b {
		return fmt.Sprintf("sequence %d", a)
	}
	return fmt.Sprintf("sequences %d..%d", a, b)
}

func areOrIs(a, b uint64) string {
	if a == b {
		return "is"
	}
	return "are"
}

// end checks that the log ended where the metadata says it does.
func (w *walScanner) end(nextSeq uint64) error {
	last := w.next
	if !w.started {
		last = w.from
	}
	if last != nextSeq {
		return &CorruptError{Dataset: w.dataset, Key: keyString(walPrefix(w.id)), Reason: fmt.Sprintf(
			"the log ends before sequence %d but the metadata says the next sequence is %d", last, nextSeq)}
	}
	return nil
}

// decodeEntry decodes the write-ahead entry v read under key; a
// compressed entry is decompressed into *plain, which it may grow.
func decodeEntry(key []byte, seq uint64, v []byte, plain *[]byte) (*walEntry, error) {
	k, p, err := open(key, v)
	if err != nil {
		return nil, err
	}
	if k == kindRecordsS2 {
		if p, err = decompressRecords(p, plain); err != nil {
			return nil, err
		}
		k = kindRecords
	}
	e := &walEntry{key: key, seq: seq, kind: k}
	switch k {
	case kindRecords:
		err = recordLines(p, func(l []byte) { e.lines = append(e.lines, l) })
		if err == nil && len(e.lines) == 0 {
			err = errors.New("records entry with no lines")
		}
	case kindField:
		var f schema.Field
		if err = json.Unmarshal(p, &f); err == nil {
			e.field = &f
		}
	default:
		err = fmt.Errorf("holds a %s where a write-ahead entry belongs", k)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// decompressRecords decompresses a compressed records payload into
// *plain. The declared size is checked against what an append may hold
// before anything is allocated, so a damaged header cannot ask for
// gigabytes.
func decompressRecords(p []byte, plain *[]byte) ([]byte, error) {
	n, err := s2.DecodedLen(p)
	if err != nil {
		return nil, fmt.Errorf("compressed records: %w", err)
	}
	if limit := maxRecordsPayload; n > limit {
		return nil, fmt.Errorf("compressed records: declares %d bytes, more than an entry may hold (%d)", n, limit)
	}
	if cap(*plain) < n {
		*plain = make([]byte, n)
	}
	out, err := s2.Decode((*plain)[:cap(*plain)], p)
	if err != nil {
		return nil, fmt.Errorf("compressed records: %w", err)
	}
	return out, nil
}

// maxRecordsPayload bounds the records payloads recordsValue builds: the
// count, then each line with a length prefix no longer than the line
// (lines are never empty).
const maxRecordsPayload = binary.MaxVarintLen64 + 2*MaxAppendBytes

// recordReader presents the runs of record entries of a scanner as NDJSON
// (each line followed by a newline) for engine.Dataset.ApplyNDJSON, which
// decodes in parallel. It stops at the first entry that is not records
// and keeps it for the caller. Lines are copied straight out of the
// scanner's buffer: one entry in memory at a time.
type recordReader struct {
	w       *walScanner
	lines   [][]byte // lines of the current entry not yet started
	cur     []byte   // the rest of the line being read
	nl      bool     // a newline is owed after cur
	stopped *walEntry
	records int
	err     error // io.EOF at the end of the log
}

func (r *recordReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(r.cur) > 0:
			c := copy(p[n:], r.cur)
			n += c
			r.cur = r.cur[c:]
		case r.nl:
			p[n] = '\n'
			n++
			r.nl = false
		case len(r.lines) > 0 || r.fill():
			r.cur, r.lines = r.lines[0], r.lines[1:]
			r.nl = true
			r.records++
		default:
			if n > 0 {
				return n, nil
			}
			if r.err != nil {
				return 0, r.err
			}
			return 0, io.EOF
		}
	}
	return n, nil
}

// fill reads the next entry; it reports whether it holds lines.
func (r *recordReader) fill() bool {
	if r.err != nil || r.stopped != nil {
		return false
	}
	e, err := r.w.scan()
	switch {
	case err != nil:
		r.err = err
		return false
	case e == nil:
		r.err = io.EOF
		return false
	case e.kind != kindRecords:
		r.stopped = e
		return false
	}
	r.lines = e.lines
	return true
}
