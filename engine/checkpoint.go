package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/iddict"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
)

// A checkpoint is a dataset's whole state as a stream of (key, value)
// pairs, so storage can write it as many small values and read it back
// with one iterator, never holding it twice in memory. Keys sort (byte
// order) in the order LoadCheckpoint needs them:
//
//	a/rows                          row count (4 bytes, big-endian)
//	a/schema                        schema JSON (checked against the caller's)
//	f/<field>/e                     existence bitmap
//	f/<field>/v/<id>                tag/set value: uvarint name length, name, bitmap
//	f/<field>/t                     bool: profiles that are true
//	f/<field>/s/<i>                 BSI bit slice i
//	f/<field>/q/<offset>            BSI per-value bitmap
//	f/<field>/a/<id>                event value: name as for v, all-time bitmap
//	f/<field>/d/<id>/<day>          event value's day bitmap
//	f/<field>/y/<day>               any-value day bitmap
//	f/<field>/z                     any-value all-time bitmap
//	g/…                             identifiers, merges and write order
//	                                (engine/identity's checkpoint)
//	i/<chunk>                       external ids of rows chunk·2^16…, each uvarint length + bytes
//	z/count                         number of keys before it (uvarint), so a lost key is noticed
//
// Numbers in keys are fixed-width hex (days offset by 2^31), so byte order
// is numeric order: value ids arrive in order of first sight and a value
// before its days. Bitmaps are in roaring's portable format.

// CheckpointWriter receives a checkpoint's pairs in key order. Each value
// is a fresh slice the writer may keep.
type CheckpointWriter interface {
	Put(key string, value []byte) error
}

// BitmapWriter is a CheckpointWriter that may hold a value's bytes
// already. With each value the engine passes a token, and equal tokens
// under one key of one dataset mean equal bytes: a bitmap of a snapshot is
// its own token (a bitmap never changes; a change publishes a new one),
// and a chunk of external ids is its number and row count (ids are only
// ever appended). The writer can then refer to what it stored before,
// and the value is neither encoded nor hashed again — a checkpoint's
// cost follows what changed.
type BitmapWriter interface {
	CheckpointWriter
	// PutSame stores under key the value encode returns (a fresh slice),
	// calling it only if the writer does not hold the value it stored
	// under key with the same token. Tokens are comparable.
	PutSame(key string, token any, encode func() ([]byte, error)) error
}

// idChunkToken is the token of a chunk of external ids.
type idChunkToken struct{ chunk, rows uint32 }

// CheckpointReader yields a checkpoint's pairs in key order and io.EOF at
// the end. A value need only stay valid until the next call.
type CheckpointReader interface {
	Next() (key string, value []byte, err error)
}

// idChunk is the number of external ids per i/ value: large enough that
// 10M profiles are a few hundred values, small enough to stream.
const idChunk = 1 << 16

func hex8(n uint32) string { return fmt.Sprintf("%08x", n) }

func dayKey(d index.Day) string { return hex8(uint32(int64(d) + 1<<31)) }

func parseHex(s string, bits int) (uint64, error) {
	if len(s) != bits/4 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return strconv.ParseUint(s, 16, bits)
}

func bitmapBytes(b *roaring.Bitmap, prefix []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(prefix)
	if _, err := b.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func namePrefix(name string) []byte {
	p := binary.AppendUvarint(nil, uint64(len(name)))
	return append(p, name...)
}

// WriteCheckpoint writes the snapshot's whole state to w, in key order.
func (s *Snapshot) WriteCheckpoint(w CheckpointWriter) error {
	n := 0
	put := func(key string, v []byte) error {
		n++
		if err := w.Put(key, v); err != nil {
			return fmt.Errorf("dataset %s: checkpoint key %s: %w", s.name, key, err)
		}
		return nil
	}
	// putSame stores a value that has a token (engine.BitmapWriter),
	// encoding it only if the writer needs the bytes.
	bw, _ := w.(BitmapWriter)
	putSame := func(key string, token any, encode func() ([]byte, error)) error {
		if bw == nil {
			v, err := encode()
			if err != nil {
				return fmt.Errorf("dataset %s: checkpoint key %s: %w", s.name, key, err)
			}
			return put(key, v)
		}
		n++
		if err := bw.PutSame(key, token, encode); err != nil {
			return fmt.Errorf("dataset %s: checkpoint key %s: %w", s.name, key, err)
		}
		return nil
	}
	putBM := func(key string, b *roaring.Bitmap, prefix []byte) error {
		return putSame(key, b, func() ([]byte, error) { return bitmapBytes(b, prefix) })
	}
	if err := put("a/rows", binary.BigEndian.AppendUint32(nil, s.rows)); err != nil {
		return err
	}
	sj, err := s.schema.MarshalIndent()
	if err != nil {
		return fmt.Errorf("dataset %s: checkpoint schema: %w", s.name, err)
	}
	if err := put("a/schema", sj); err != nil {
		return err
	}
	// Fields in name order, so their keys are in byte order (field names
	// are letters, digits and _, all above '/').
	fields := make([]*FieldView, len(s.fields))
	for i := range s.fields {
		fields[i] = &s.fields[i]
	}
	slices.SortFunc(fields, func(a, b *FieldView) int { return strings.Compare(a.Field.Name, b.Field.Name) })
	for _, f := range fields {
		p := "f/" + f.Field.Name + "/"
		// Within a field, keys are written in byte order of their kind
		// letter: a d e q s t v y z.
		switch {
		case f.Events != nil:
			ev := f.Events
			for i, name := range ev.Values() {
				all, _, _ := ev.ValueBitmaps(i)
				if err := putBM(p+"a/"+hex8(uint32(i)), all, namePrefix(name)); err != nil {
					return err
				}
			}
			for i := range ev.Values() {
				_, first, days := ev.ValueBitmaps(i)
				for j, b := range days {
					if b != nil {
						if err := putBM(p+"d/"+hex8(uint32(i))+"/"+dayKey(first+index.Day(j)), b, nil); err != nil {
							return err
						}
					}
				}
			}
			if err := putBM(p+"e", ev.Exists(), nil); err != nil {
				return err
			}
			all, first, days := ev.AnyValueBitmaps()
			for j, b := range days {
				if b != nil {
					if err := putBM(p+"y/"+dayKey(first+index.Day(j)), b, nil); err != nil {
						return err
					}
				}
			}
			if err := putBM(p+"z", all, nil); err != nil {
				return err
			}
		case f.Values != nil:
			if err := putBM(p+"e", f.Values.Exists(), nil); err != nil {
				return err
			}
			for i, name := range f.Values.Values() {
				if err := putBM(p+"v/"+hex8(uint32(i)), f.Values.Bitmap(name), namePrefix(name)); err != nil {
					return err
				}
			}
		case f.Bool != nil:
			if err := putBM(p+"e", f.Bool.Exists(), nil); err != nil {
				return err
			}
			if err := putBM(p+"t", f.Bool.True(), nil); err != nil {
				return err
			}
		case f.BSI != nil:
			if err := putBM(p+"e", f.BSI.Exists(), nil); err != nil {
				return err
			}
			for i, b := range f.BSI.EqualityBitmaps() {
				if err := putBM(p+"q/"+hex8(uint32(i)), b, nil); err != nil {
					return err
				}
			}
			for i, b := range f.BSI.Slices() {
				if err := putBM(p+"s/"+hex8(uint32(i)), b, nil); err != nil {
					return err
				}
			}
		}
	}
	err = s.idents.WriteCheckpoint(s.rows, func(key string, token any, encode func() ([]byte, error)) error {
		return putSame("g/"+key, token, encode)
	})
	if err != nil {
		return err
	}
	for first := uint32(0); first < s.rows; first += idChunk {
		chunk, end := first/idChunk, min(uint64(first)+idChunk, uint64(s.rows))
		encode := func() ([]byte, error) {
			var buf []byte
			for row := first; uint64(row) < end; row++ {
				id := s.ids.External(row)
				buf = binary.AppendUvarint(buf, uint64(len(id)))
				buf = append(buf, id...)
			}
			return buf, nil
		}
		if err := putSame("i/"+hex8(chunk), idChunkToken{chunk, uint32(end - uint64(first))}, encode); err != nil {
			return err
		}
	}
	return put("z/count", binary.AppendUvarint(nil, uint64(n)))
}

// CheckpointError is a checkpoint value that is missing, out of place or
// does not decode; it names the dataset and the key.
type CheckpointError struct {
	Dataset, Key string
	Err          error
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("dataset %s: checkpoint key %s: %v", e.Dataset, e.Key, e.Err)
}

func (e *CheckpointError) Unwrap() error { return e.Err }

// LoadCheckpoint creates dataset name with schema sc from a checkpoint and
// publishes it. Every bitmap is decoded with roaring's checks, validated,
// and refused if it holds a row beyond the row count; every failure is a
// *CheckpointError and the dataset is then not created.
func (e *Engine) LoadCheckpoint(name string, sc *schema.Schema, r CheckpointReader) (*Dataset, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	e.mu.RLock()
	_, exists := e.datasets[name]
	e.mu.RUnlock()
	if exists {
		return nil, fmt.Errorf("cannot load %s: %w", name, ErrExists)
	}
	d, err := loadCheckpoint(name, sc, e.opts.Clock, r)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.datasets[name]; ok {
		return nil, fmt.Errorf("cannot load %s: %w", name, ErrExists)
	}
	e.datasets[name] = d
	return d, nil
}

type loader struct {
	d        *Dataset
	rows     uint32
	haveRows bool
	schemaOK bool
	nextRow  uint32
	n        uint64 // keys read before z/count
	done     bool
	nextVal  []uint64 // per field, the id the next tag/set value must have
	graph    *identity.Loader
	ids      [][]byte      // loadIDs' batch, kept for the next chunk
	pre      *pendingValue // the pair being applied (see readAll)
}

func loadCheckpoint(name string, sc *schema.Schema, clock func() time.Time, r CheckpointReader) (*Dataset, error) {
	l := &loader{d: newDataset(name, sc, clock, 0)}
	l.nextVal = make([]uint64, len(l.d.fields))
	if err := l.readAll(name, r, runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	switch {
	case !l.done:
		return nil, &CheckpointError{name, "z/count", errors.New("missing: the checkpoint is incomplete")}
	case l.nextRow != l.rows:
		return nil, &CheckpointError{name, "i/", fmt.Errorf("%d external ids for %d rows", l.nextRow, l.rows)}
	}
	if err := l.d.ids.Index(); err != nil {
		key := "i/"
		if re := (*iddict.RepeatedIDError)(nil); errors.As(err, &re) {
			key += hex8(re.Row / idChunk) // the chunk of the later row
		}
		return nil, &CheckpointError{name, key, err}
	}
	if l.graph != nil {
		if err := l.graph.Finish(); err != nil {
			return nil, &CheckpointError{name, "g/", err}
		}
		l.d.graph = l.graph.G
	}
	l.d.publishLocked()
	return l.d, nil
}

// readAll loads the checkpoint's pairs in key order. Decoding bitmaps is
// most of a start's work (16 of 40 s at 100M profiles, one core); it
// runs on a goroutine per worker while this one reads the next values
// and another applies the decoded ones in key order, so the first
// damaged key in order is still the one reported. Values are copied out
// of the reader (they need only stay valid until its next call) into
// buffers reused once applied; at most inFlight values are in flight.
func (l *loader) readAll(name string, r CheckpointReader, workers int) error {
	const inFlight = 8
	decodeQ := make(chan *pendingValue, inFlight)
	applyQ := make(chan *pendingValue, inFlight)
	free := make(chan []byte, inFlight+1)
	stop := make(chan struct{}) // closed by the applier on an error
	var applyErr error
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range decodeQ {
				p.decode()
				close(p.done)
			}
		}()
	}
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for p := range applyQ {
			<-p.done
			if applyErr == nil {
				if err := l.apply(p); err != nil {
					applyErr = &CheckpointError{name, p.key, err}
					close(stop)
				}
			}
			select {
			case free <- p.val[:0]:
			default:
			}
		}
	}()
	var readErr error
read:
	for {
		select {
		case <-stop:
			break read
		default:
		}
		key, val, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("dataset %s: reading checkpoint: %w", name, err)
			break
		}
		var buf []byte
		select {
		case buf = <-free:
		default:
		}
		p := &pendingValue{key: key, val: append(buf, val...), done: make(chan struct{})}
		applyQ <- p
		decodeQ <- p
	}
	close(decodeQ)
	close(applyQ)
	<-applied
	wg.Wait()
	if applyErr != nil {
		// Checked first: it names an earlier key than a failed read.
		return applyErr
	}
	return readErr
}

// pendingValue is a checkpoint pair between the reader and the applier,
// with its bitmap decoded ahead when it holds one.
type pendingValue struct {
	key     string
	val     []byte // a copy, the reader's buffer being reused
	decoded bool   // b and err are set (see decode)
	b       *roaring.Bitmap
	err     error
	done    chan struct{} // closed once decode has run
}

// decode decodes the bitmap of a field's key (after the value name of v/
// and a/ keys); other keys, and values whose name does not parse, are
// left to the applier, which reports their errors in order.
func (p *pendingValue) decode() {
	rest, ok := strings.CutPrefix(p.key, "f/")
	if !ok {
		return
	}
	_, rest, _ = strings.Cut(rest, "/")
	kind, _, _ := strings.Cut(rest, "/")
	v := p.val
	if kind == "v" || kind == "a" {
		var err error
		if _, v, err = named(v); err != nil {
			return
		}
	}
	p.b, p.err = decodeBitmap(v)
	p.decoded = true
}

// apply loads one pair, its bitmap decoded already.
func (l *loader) apply(p *pendingValue) error {
	if l.done {
		return errors.New("key after z/count")
	}
	l.pre = p
	defer func() { l.pre = nil }()
	return l.load(p.key, p.val)
}

// decodeBitmap decodes and validates a bitmap in roaring's portable
// format.
func decodeBitmap(v []byte) (*roaring.Bitmap, error) {
	b := roaring.New()
	if err := b.UnmarshalBinary(v); err != nil {
		return nil, fmt.Errorf("bad bitmap: %w", err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("bad bitmap: %w", err)
	}
	return b, nil
}

// bitmap returns the bitmap of value v of the pair being applied (decoded
// ahead by readAll, or now), refused if it holds a row beyond the rows.
func (l *loader) bitmap(v []byte) (*roaring.Bitmap, error) {
	var b *roaring.Bitmap
	var err error
	if l.pre != nil && l.pre.decoded {
		b, err = l.pre.b, l.pre.err
	} else {
		b, err = decodeBitmap(v)
	}
	if err != nil {
		return nil, err
	}
	if !b.IsEmpty() && b.Maximum() >= l.rows {
		return nil, fmt.Errorf("bitmap holds row %d but the dataset has %d rows", b.Maximum(), l.rows)
	}
	return b, nil
}

// named splits a name-prefixed value.
func named(v []byte) (string, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return "", nil, errors.New("bad value name")
	}
	return string(v[k : k+int(n)]), v[k+int(n):], nil
}

func (l *loader) load(key string, val []byte) error {
	if key == "z/count" {
		n, k := binary.Uvarint(val)
		if k <= 0 || k != len(val) {
			return errors.New("bad key count")
		}
		if n != l.n {
			return fmt.Errorf("checkpoint has %d keys, %d were read", n, l.n)
		}
		l.done = true
		return nil
	}
	l.n++
	if rest, ok := strings.CutPrefix(key, "g/"); ok {
		if !l.haveRows {
			return errors.New("identity before the row count")
		}
		if l.graph == nil {
			l.graph = identity.NewLoader(l.rows)
		}
		return l.graph.Load(rest, val)
	}
	switch {
	case key == "a/rows":
		if len(val) != 4 {
			return errors.New("bad row count")
		}
		l.rows, l.haveRows = binary.BigEndian.Uint32(val), true
		return nil
	case key == "a/schema":
		want, err := l.d.schema.MarshalIndent()
		if err != nil {
			return err
		}
		if !bytes.Equal(val, want) {
			return errors.New("checkpoint schema differs from the dataset's schema")
		}
		l.schemaOK = true
		return nil
	}
	if !l.haveRows || !l.schemaOK {
		return errors.New("before the row count and schema")
	}
	if rest, ok := strings.CutPrefix(key, "i/"); ok {
		return l.loadIDs(rest, val)
	}
	rest, ok := strings.CutPrefix(key, "f/")
	if !ok {
		return errors.New("unknown key")
	}
	fname, rest, _ := strings.Cut(rest, "/")
	fi := -1
	for i := range l.d.schema.Fields {
		if l.d.schema.Fields[i].Name == fname {
			fi = i
		}
	}
	if fi < 0 {
		return fmt.Errorf("no field %q in the schema", fname)
	}
	x := l.d.fields[fi]
	kind, arg, _ := strings.Cut(rest, "/")
	if kind == "v" || kind == "a" {
		vname, rest, err := named(val)
		if err != nil {
			return err
		}
		b, err := l.bitmap(rest)
		if err != nil {
			return err
		}
		id, err := parseHex(arg, 32)
		if err != nil {
			return err
		}
		switch {
		case kind == "v" && x.values != nil && id == l.nextVal[fi]:
			l.nextVal[fi]++
			return x.values.RestoreValue(vname, b)
		case kind == "a" && x.events != nil:
			got, err := x.events.RestoreValue(vname, b)
			if err == nil && uint64(got) != id {
				err = fmt.Errorf("value id %d arrived as %d (a value is missing)", id, got)
			}
			return err
		}
		return errors.New("key does not fit the field's type or value order")
	}
	b, err := l.bitmap(val)
	if err != nil {
		return err
	}
	switch {
	case kind == "e" && arg == "":
		switch {
		case x.values != nil:
			x.values.RestoreExists(b)
		case x.boolean != nil:
			x.boolean.RestoreExists(b)
		case x.bsi != nil:
			x.bsi.RestoreExists(b)
		default:
			x.events.RestoreExists(b)
		}
		return nil
	case kind == "t" && arg == "" && x.boolean != nil:
		x.boolean.RestoreTrue(b)
		return nil
	case (kind == "s" || kind == "q") && x.bsi != nil:
		i, err := parseHex(arg, 32)
		if err != nil {
			return err
		}
		if kind == "s" {
			return x.bsi.RestoreSlice(int(i), b)
		}
		return x.bsi.RestoreEquality(int(i), b)
	case kind == "d" && x.events != nil:
		ids, days, _ := strings.Cut(arg, "/")
		id, err := parseHex(ids, 32)
		if err != nil {
			return err
		}
		day, err := parseHex(days, 32)
		if err != nil {
			return err
		}
		return x.events.RestoreDay(int(id), index.Day(int64(day)-1<<31), b)
	case kind == "y" && x.events != nil:
		day, err := parseHex(arg, 32)
		if err != nil {
			return err
		}
		x.events.RestoreAnyDay(index.Day(int64(day)-1<<31), b)
		return nil
	case kind == "z" && arg == "" && x.events != nil:
		x.events.RestoreAnyAll(b)
		return nil
	}
	return errors.New("key does not fit the field's type")
}

func (l *loader) loadIDs(arg string, v []byte) error {
	chunk, err := parseHex(arg, 32)
	if err != nil {
		return err
	}
	if uint64(l.nextRow) != chunk*idChunk {
		return fmt.Errorf("ids of chunk %d arrive after %d rows (a chunk is missing)", chunk, l.nextRow)
	}
	// The chunk's ids are appended unindexed: the id table is built once
	// the last chunk is in (loadCheckpoint), in slot order over large
	// batches, instead of a cache miss per id (iddict.Dict.Index).
	ids := l.ids[:0]
	for len(v) > 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 || n > uint64(len(v)-k) {
			return fmt.Errorf("bad external id of row %d", l.nextRow+uint32(len(ids)))
		}
		ids = append(ids, v[k:k+int(n)])
		v = v[k+int(n):]
	}
	l.ids = ids[:0]
	if uint64(l.nextRow)+uint64(len(ids)) > uint64(l.rows) {
		return fmt.Errorf("more external ids than the %d rows", l.rows)
	}
	if l.d.ids.Len() != l.nextRow {
		return fmt.Errorf("BUG: %d ids held at row %d", l.d.ids.Len(), l.nextRow)
	}
	if err := l.d.ids.AppendUnindexed(ids); err != nil {
		return fmt.Errorf("rows %d to %d: %w", l.nextRow, l.nextRow+uint32(len(ids)), err)
	}
	l.nextRow += uint32(len(ids))
	if l.nextRow != l.rows && l.nextRow%idChunk != 0 {
		return fmt.Errorf("short chunk: ends at row %d", l.nextRow)
	}
	return nil
}
