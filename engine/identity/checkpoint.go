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
//	                  1 once write order is kept per field (earlier
//	                  checkpoints have the clock alone)
//	f/<field>/<chunk> per-field write stamps of rows chunk·2^16… (4 bytes
//	                  little-endian each), field as 4 hex digits of its
//	                  schema index
//	l/<type>/<chunk>  per row of chunk·2^16…, 1 + the index of its latest
//	                  identifier of the type (4 bytes little-endian; 0: none)
//	m/<chunk>         merge log entries chunk·4096…: varint unix ms,
//	                  uvarint survivor, uvarint absorbed, uvarint length + via
//	p/<chunk>         absorbed rows among rows chunk·2^16…: uvarint offset
//	                  in the chunk, uvarint survivor, per row
//	s/<chunk>         stamps of rows chunk·2^16… (4 bytes little-endian each)
//	u/<type>/<chunk>  identifiers chunk·2^16… of a type: uvarint length,
//	                  bytes, uvarint row holding it, uvarint clock of the
//	                  record that last named it
//
// Row chunks (f, l, p, s) are written only where the array has a page.
// Chunk numbers are 8 hex digits. The order of a row's older identifiers
// is not kept, which only changes the order a profile's view lists them in.
//
// Checkpoints of earlier builds kept the latest flag inside the
// identifier chunks, under t/<type>/<chunk> (uvarint length, bytes,
// uvarint row, 1 byte: 1 if latest, uvarint clock); those still load.
//
// Every value but c has a token (see WriteCheckpoint) so that a store
// holding the previous checkpoint writes only what changed: a profile
// table of 10M rows × 3 identifier types is ~0.8 GB a checkpoint would
// otherwise encode and hash again.
const (
	rowChunk = 1 << 16
	logChunk = 4096
)

func hex8(n uint64) string { return fmt.Sprintf("%08x", n) }

// chunkPages is how many rowArray pages a chunk spans.
const chunkPages = rowChunk / pageSize

// rowToken stands for a chunk of a row-indexed array: its pages (a view's
// pages are never written again: the writer copies a page before writing
// to it) and how many entries of the chunk are in use. Equal tokens mean
// equal bytes.
type rowToken struct {
	pages [chunkPages]*page
	n     uint64
}

// token returns the token of chunk c, which has n entries in use, and
// whether any of its pages exists.
func (v rowView) token(c, n uint64) (rowToken, bool) {
	t := rowToken{n: n}
	any := false
	first := c * chunkPages
	for i := range t.pages {
		if p := first + uint64(i); p < uint64(len(v.pages)) {
			t.pages[i] = v.pages[p]
			any = any || t.pages[i] != nil
		}
	}
	return t, any
}

// idToken stands for a chunk of identifiers: how many there are (the
// dictionary only appends) and the pages of their owners and clocks.
type idToken struct {
	n               uint64
	owner, attached rowToken
}

// logToken stands for a chunk of the merge log, which only appends.
type logToken struct{ chunk, n int }

// PutSame stores a value under key unless the writer holds the one it
// stored with an equal token; encode is called only if it does not. A nil
// token always stores. (engine.BitmapWriter's method, as a function.)
type PutSame func(key string, token any, encode func() ([]byte, error)) error

// WriteCheckpoint writes the view's pairs in key order; rows is the
// dataset's row count.
func (v *View) WriteCheckpoint(rows uint32, put PutSame) error {
	exact := byte(0)
	if v.exact {
		exact = 1
	}
	c := append(binary.BigEndian.AppendUint32(nil, v.clock), exact)
	if err := put("c", nil, func() ([]byte, error) { return c, nil }); err != nil {
		return err
	}
	chunks := (uint64(rows) + rowChunk - 1) / rowChunk
	for _, f := range slices.Sorted(maps.Keys(v.fields)) {
		if err := writeRows(v.fields[f], rows, chunks, fmt.Sprintf("f/%04x/", f), put); err != nil {
			return err
		}
	}
	for _, name := range v.names {
		if err := writeRows(v.types[name].latest, rows, chunks, "l/"+name+"/", put); err != nil {
			return err
		}
	}
	for c := 0; c*logChunk < len(v.log); c++ {
		entries := v.log[c*logChunk : min((c+1)*logChunk, len(v.log))]
		err := put("m/"+hex8(uint64(c)), logToken{c, len(entries)}, func() ([]byte, error) {
			var b []byte
			for _, m := range entries {
				b = binary.AppendVarint(b, m.At.UnixMilli())
				b = binary.AppendUvarint(b, uint64(m.Survivor))
				b = binary.AppendUvarint(b, uint64(m.Absorbed))
				b = binary.AppendUvarint(b, uint64(len(m.Via)))
				b = append(b, m.Via...)
			}
			return b, nil
		})
		if err != nil {
			return err
		}
	}
	for c := uint64(0); c < chunks; c++ {
		base := c * rowChunk
		end := min(base+rowChunk, uint64(rows))
		tok, any := v.parent.token(c, end-base)
		if !any {
			continue
		}
		err := put("p/"+hex8(c), tok, func() ([]byte, error) {
			var b []byte
			for r := base; r < end; r++ {
				if p := v.parent.get(uint32(r)); p != 0 {
					b = binary.AppendUvarint(b, r-base)
					b = binary.AppendUvarint(b, uint64(p-1))
				}
			}
			return b, nil
		})
		if err != nil {
			return err
		}
	}
	if err := writeRows(v.stamps, rows, chunks, "s/", put); err != nil {
		return err
	}
	for _, name := range v.names {
		if err := v.types[name].writeIdentifiers("u/"+name+"/", put); err != nil {
			return err
		}
	}
	return nil
}

// writeIdentifiers writes a type's identifier chunks.
func (t *typeView) writeIdentifiers(prefix string, put PutSame) error {
	n := uint64(t.dict.Len())
	for c := uint64(0); c*rowChunk < n; c++ {
		first, end := c*rowChunk, min((c+1)*rowChunk, n)
		owner, _ := t.owner.token(c, end-first)
		attached, _ := t.attached.token(c, end-first)
		err := put(prefix+hex8(c), idToken{end - first, owner, attached}, func() ([]byte, error) {
			var b, id []byte
			for i := first; i < end; i++ {
				id = t.dict.AppendExternal(id[:0], uint32(i))
				b = binary.AppendUvarint(b, uint64(len(id)))
				b = append(b, id...)
				b = binary.AppendUvarint(b, uint64(t.owner.get(uint32(i))-1))
				b = binary.AppendUvarint(b, uint64(t.attached.get(uint32(i))))
			}
			return b, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeRows writes the chunks of a row array that have a page, 4 bytes
// little-endian per row.
func writeRows(a rowView, rows uint32, chunks uint64, prefix string, put PutSame) error {
	for c := uint64(0); c < chunks; c++ {
		base := c * rowChunk
		end := min(base+rowChunk, uint64(rows))
		tok, any := a.token(c, end-base)
		if !any {
			continue
		}
		err := put(prefix+hex8(c), tok, func() ([]byte, error) {
			b := make([]byte, 0, 4*(end-base))
			for r := base; r < end; r++ {
				b = binary.LittleEndian.AppendUint32(b, a.get(uint32(r)))
			}
			return b, nil
		})
		if err != nil {
			return err
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
		// 4 bytes: a checkpoint from before write order was kept per
		// field (exact stays off, as it was).
		if (len(val) != 4 && len(val) != 5) || (len(val) == 5 && val[4] > 1) {
			return errors.New("bad clock")
		}
		g.clock = binary.BigEndian.Uint32(val)
		g.exact = len(val) == 5 && val[4] == 1
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
	case "l":
		name, chunk, ok := strings.Cut(arg, "/")
		if !ok {
			return errors.New("bad latest identifier key")
		}
		if err := ValidateType(name); err != nil {
			return err
		}
		if l.at[name] != 0 {
			return fmt.Errorf("latest %s identifiers after its identifiers", name)
		}
		return l.loadStamps(&g.typ(name).latest, chunk, val)
	case "t", "u":
		return l.loadIdentifiers(arg, val, kind == "t")
	}
	return errors.New("unknown identity key")
}

// loadIdentifiers loads a chunk of identifiers; flagged says the chunk
// is of the earlier layout, with a latest flag after each row (in the
// current one, l/ chunks, which come first in key order, say it).
func (l *Loader) loadIdentifiers(arg string, val []byte, flagged bool) error {
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
	t := l.G.typ(name)
	r := &reader{b: val}
	for len(r.b) > 0 && r.err == nil {
		value := r.str()
		row := r.uvarint()
		if r.err != nil {
			break
		}
		latest := false
		if flagged {
			if len(r.b) == 0 || r.b[0] > 1 {
				return fmt.Errorf("identifier %s %q: bad latest flag", name, value)
			}
			latest = r.b[0] == 1
			r.b = r.b[1:]
		}
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
		if !flagged {
			latest = t.latest.get(owner) == i+1
		}
		switch {
		case latest && flagged:
			if t.latest.get(owner) != 0 {
				return fmt.Errorf("row %d has two latest identifiers of type %s", owner, name)
			}
			t.latest.set(owner, i+1)
		case !latest:
			t.older[owner] = append(t.older[owner], i)
		}
		l.at[name]++
	}
	return r.err
}

// checkLatest checks that each row's latest identifier of t exists and is
// the row's own (a flagged chunk can only name its own; an l/ chunk names
// any index).
func checkLatest(t *idType) error {
	for p, pg := range t.latest.pages {
		if pg == nil {
			continue
		}
		for k, v := range pg.v {
			if v == 0 {
				continue
			}
			row := uint32(p)<<pageBits | uint32(k)
			if v-1 >= t.dict.Len() || t.owner.get(v-1) != row+1 {
				return fmt.Errorf("identity: row %d's latest %s identifier %d is not one of its own", row, t.name, v-1)
			}
		}
	}
	return nil
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
		if err := checkLatest(t); err != nil {
			return err
		}
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
