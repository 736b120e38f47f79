package identity

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A graph's checkpoint is a stream of (key, value) pairs in key order,
// which the dataset's checkpoint places under its own prefix:
//
//	c                 the stamp clock (4 bytes, big-endian), then 1 byte:
//	                  1 once write order is kept per field
//	f/<field>/<chunk> per-field write stamps of rows chunk·2^16… (4 bytes
//	                  little-endian each), field as 4 hex digits of its
//	                  schema index, only chunks holding a non-zero stamp
//	m/<chunk>         merge log entries chunk·4096…: varint unix ms,
//	                  uvarint survivor, uvarint absorbed, uvarint length + via
//	p/<chunk>         absorbed rows among rows chunk·2^16…: uvarint offset
//	                  in the chunk, uvarint survivor, per row
//	s/<chunk>         stamps of rows chunk·2^16… (4 bytes little-endian each),
//	                  only for chunks holding a non-zero stamp
//	t/<type>/<chunk>  identifiers chunk·2^16… of a type: uvarint length,
//	                  bytes, uvarint row holding it, 1 byte: 1 if it is the
//	                  row's latest of its type, uvarint clock of the record
//	                  that last named it
//
// Chunk numbers are 8 hex digits. The order of a row's older identifiers
// is not kept, which only changes the order a profile's view lists them in.
const (
	rowChunk = 1 << 16
	logChunk = 4096
)

func hex8(n uint64) string { return fmt.Sprintf("%08x", n) }

// WriteCheckpoint writes the view's pairs in key order; rows is the
// dataset's row count.
func (v *View) WriteCheckpoint(rows uint32, put func(key string, value []byte) error) error {
	exact := byte(0)
	if v.exact {
		exact = 1
	}
	if err := put("c", append(binary.BigEndian.AppendUint32(nil, v.clock), exact)); err != nil {
		return err
	}
	chunks := (uint64(rows) + rowChunk - 1) / rowChunk
	for _, f := range slices.Sorted(maps.Keys(v.fields)) {
		if err := writeStamps(v.fields[f], rows, chunks, fmt.Sprintf("f/%04x/", f), put); err != nil {
			return err
		}
	}
	for c := 0; c*logChunk < len(v.log); c++ {
		var b []byte
		for _, m := range v.log[c*logChunk : min((c+1)*logChunk, len(v.log))] {
			b = binary.AppendVarint(b, m.At.UnixMilli())
			b = binary.AppendUvarint(b, uint64(m.Survivor))
			b = binary.AppendUvarint(b, uint64(m.Absorbed))
			b = binary.AppendUvarint(b, uint64(len(m.Via)))
			b = append(b, m.Via...)
		}
		if err := put("m/"+hex8(uint64(c)), b); err != nil {
			return err
		}
	}
	for c := uint64(0); c < chunks; c++ {
		var b []byte
		base := c * rowChunk
		end := min(base+rowChunk, uint64(rows))
		for r := base; r < end; r++ {
			if r&pageMask == 0 && v.parent.get(uint32(r)) == 0 && !v.parent.hasPage(uint32(r)) {
				r += pageSize - 1
				continue
			}
			if p := v.parent.get(uint32(r)); p != 0 {
				b = binary.AppendUvarint(b, r-base)
				b = binary.AppendUvarint(b, uint64(p-1))
			}
		}
		if len(b) > 0 {
			if err := put("p/"+hex8(c), b); err != nil {
				return err
			}
		}
	}
	if err := writeStamps(v.stamps, rows, chunks, "s/", put); err != nil {
		return err
	}
	for _, name := range v.names {
		t := v.types[name]
		n := uint64(t.dict.Len())
		for c := uint64(0); c*rowChunk < n; c++ {
			var b, id []byte
			for i := c * rowChunk; i < min((c+1)*rowChunk, n); i++ {
				row := t.owner.get(uint32(i)) - 1
				id = t.dict.AppendExternal(id[:0], uint32(i))
				b = binary.AppendUvarint(b, uint64(len(id)))
				b = append(b, id...)
				b = binary.AppendUvarint(b, uint64(row))
				latest := byte(0)
				if t.latest.get(row) == uint32(i)+1 {
					latest = 1
				}
				b = append(b, latest)
				b = binary.AppendUvarint(b, uint64(t.attached.get(uint32(i))))
			}
			if err := put("t/"+name+"/"+hex8(c), b); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeStamps writes the chunks of a stamp array that hold a stamp.
func writeStamps(a rowView, rows uint32, chunks uint64, prefix string, put func(string, []byte) error) error {
	for c := uint64(0); c < chunks; c++ {
		base := c * rowChunk
		end := min(base+rowChunk, uint64(rows))
		b := make([]byte, 0, 4*(end-base))
		any := false
		for r := base; r < end; r++ {
			s := a.get(uint32(r))
			any = any || s != 0
			b = binary.LittleEndian.AppendUint32(b, s)
		}
		if any {
			if err := put(prefix+hex8(c), b); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadStamps reads a chunk of stamps into a.
func (l *Loader) loadStamps(a *rowArray, chunk string, val []byte) error {
	c, err := chunkOf(chunk)
	if err != nil {
		return err
	}
	base := c * rowChunk
	if len(val)%4 != 0 || base+uint64(len(val)/4) > uint64(l.Rows) {
		return fmt.Errorf("%d bytes of stamps do not fit rows %d…", len(val), base)
	}
	for k := 0; k < len(val); k += 4 {
		if s := binary.LittleEndian.Uint32(val[k:]); s != 0 {
			a.set(uint32(base)+uint32(k/4), s)
		}
	}
	return nil
}

func (v rowView) hasPage(row uint32) bool {
	p := int(row >> pageBits)
	return p < len(v.pages) && v.pages[p] != nil
}

// Loader rebuilds a Graph from its checkpoint pairs.
type Loader struct {
	G    *Graph
	Rows uint32
	at   map[string]uint64 // per type, identifiers loaded
	logs int
}

// NewLoader returns a loader for a dataset of rows rows.
func NewLoader(rows uint32) *Loader {
	return &Loader{G: New(), Rows: rows, at: map[string]uint64{}}
}

func (l *Loader) row(v uint64) (uint32, error) {
	if v >= uint64(l.Rows) {
		return 0, fmt.Errorf("row %d beyond the dataset's %d rows", v, l.Rows)
	}
	return uint32(v), nil
}

func chunkOf(s string) (uint64, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("bad chunk %q", s)
	}
	return strconv.ParseUint(s, 16, 32)
}

// reader reads uvarints and strings off a value, remembering the first
// error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, k := binary.Uvarint(r.b)
	if k <= 0 {
		r.err = errors.New("truncated value")
		return 0
	}
	r.b = r.b[k:]
	return x
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errors.New("truncated value")
		return 0
	}
	r.b = r.b[k:]
	return x
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errors.New("truncated value")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// Load takes one pair (key without the dataset's prefix).
func (l *Loader) Load(key string, val []byte) error {
	kind, arg, _ := strings.Cut(key, "/")
	g := l.G
	switch kind {
	case "c":
		if len(val) != 5 || val[4] > 1 {
			return errors.New("bad clock")
		}
		g.clock = binary.BigEndian.Uint32(val)
		g.exact = val[4] == 1
		return nil
	case "f":
		fs, chunk, ok := strings.Cut(arg, "/")
		f, err := strconv.ParseUint(fs, 16, 16)
		if !ok || len(fs) != 4 || err != nil {
			return errors.New("bad field stamp key")
		}
		return l.loadStamps(g.field(int(f)), chunk, val)
	case "m":
		c, err := chunkOf(arg)
		if err != nil {
			return err
		}
		if uint64(l.logs) != c*logChunk {
			return fmt.Errorf("merge log chunk %d after %d entries", c, l.logs)
		}
		r := &reader{b: val}
		for len(r.b) > 0 && r.err == nil {
			m := Merge{At: time.UnixMilli(r.varint()).UTC()}
			s, a := r.uvarint(), r.uvarint()
			m.Via = r.str()
			if r.err != nil {
				break
			}
			if m.Survivor, err = l.row(s); err != nil {
				return err
			}
			if m.Absorbed, err = l.row(a); err != nil {
				return err
			}
			g.log = append(g.log, m)
			l.logs++
		}
		return r.err
	case "p":
		c, err := chunkOf(arg)
		if err != nil {
			return err
		}
		r := &reader{b: val}
		for len(r.b) > 0 && r.err == nil {
			off, s := r.uvarint(), r.uvarint()
			if r.err != nil {
				break
			}
			if off >= rowChunk {
				return fmt.Errorf("offset %d beyond its chunk", off)
			}
			from, err := l.row(c*rowChunk + off)
			if err != nil {
				return err
			}
			to, err := l.row(s)
			if err != nil {
				return err
			}
			if from == to {
				return fmt.Errorf("row %d absorbed by itself", from)
			}
			if g.parent.get(from) != 0 {
				return fmt.Errorf("row %d absorbed twice", from)
			}
			g.parent.set(from, to+1)
			g.group[to] = append(g.group[to], from)
			g.merged.Add(from)
		}
		return r.err
	case "s":
		return l.loadStamps(&g.stamps, arg, val)
	case "t":
		name, cs, ok := strings.Cut(arg, "/")
		if !ok {
			return errors.New("bad identifier key")
		}
		if err := ValidateType(name); err != nil {
			return err
		}
		c, err := chunkOf(cs)
		if err != nil {
			return err
		}
		if l.at[name] != c*rowChunk {
			return fmt.Errorf("identifier chunk %d of %s after %d identifiers", c, name, l.at[name])
		}
		t := g.typ(name)
		r := &reader{b: val}
		for len(r.b) > 0 && r.err == nil {
			value := r.str()
			row := r.uvarint()
			if r.err != nil {
				break
			}
			if len(r.b) == 0 || r.b[0] > 1 {
				return fmt.Errorf("identifier %s %q: bad latest flag", name, value)
			}
			latest := r.b[0] == 1
			r.b = r.b[1:]
			attached := r.uvarint()
			if r.err != nil || attached > math.MaxUint32 {
				return fmt.Errorf("identifier %s %q: truncated or bad stamp", name, value)
			}
			owner, err := l.row(row)
			if err != nil {
				return err
			}
			i, created, err := t.dict.Assign(value)
			if err != nil {
				return fmt.Errorf("identifier %s: %w", name, err)
			}
			if !created {
				return fmt.Errorf("identifier %s %q appears twice", name, value)
			}
			t.owner.set(i, owner+1)
			t.attached.set(i, uint32(attached))
			if latest {
				if t.latest.get(owner) != 0 {
					return fmt.Errorf("row %d has two latest identifiers of type %s", owner, name)
				}
				t.latest.set(owner, i+1)
			} else {
				t.older[owner] = append(t.older[owner], i)
			}
			l.at[name]++
		}
		return r.err
	}
	return errors.New("unknown identity key")
}

// Finish checks what no single pair can: merges point at survivors,
// identifiers belong to survivors that have a latest of their type, and
// no stamp is ahead of the clock (the next write must be the newest).
func (l *Loader) Finish() error {
	g := l.G
	for _, a := range g.arrays() {
		for _, p := range a.pages {
			if p != nil && slices.Max(p.v[:]) > g.clock {
				return fmt.Errorf("identity: a write stamp is ahead of the clock %d", g.clock)
			}
		}
	}
	it := g.merged.Iterator()
	for it.HasNext() {
		r := it.Next()
		if s := g.Root(r); g.Absorbed(s) {
			return fmt.Errorf("identity: row %d is absorbed into row %d, itself absorbed", r, s)
		}
	}
	for _, t := range g.types {
		for row := range t.older {
			if t.latest.get(row) == 0 {
				return fmt.Errorf("identity: row %d has %s identifiers but no latest one", row, t.name)
			}
		}
		for i := uint32(0); i < t.dict.Len(); i++ {
			if r := t.owner.get(i) - 1; g.Absorbed(r) {
				return fmt.Errorf("identity: %s identifier %d belongs to absorbed row %d", t.name, i, r)
			}
		}
	}
	g.changed = true
	return nil
}
