package index

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// MaxValues bounds the distinct values of one tag, set or event field. A
// field past it is almost always an identifier sent as a tag by mistake,
// and one bitmap per value would eat memory for nothing.
const MaxValues = 1 << 20

// dict numbers the distinct values of a field densely, in order of first
// sight. Ids never change, so published views can share the names slice
// (it is only ever appended to).
type dict struct {
	ids   map[string]uint32
	names []string
}

func (d *dict) id(v string) (uint32, bool) {
	id, ok := d.ids[v]
	return id, ok
}

// canAdd reports whether adding vals would overflow MaxValues.
func (d *dict) canAdd(field string, vals ...string) error {
	if len(d.names)+len(vals) <= MaxValues {
		// Fits even if every value is new: no lookups (this runs for
		// every value of every ingest record).
		return nil
	}
	n := 0
	for _, v := range vals {
		if _, ok := d.ids[v]; !ok {
			n++
		}
	}
	if len(d.names)+n > MaxValues {
		return fmt.Errorf("field %s would hold more than %d distinct values", field, MaxValues)
	}
	return nil
}

func (d *dict) intern(v string) (uint32, bool) {
	if id, ok := d.ids[v]; ok {
		return id, false
	}
	if d.ids == nil {
		d.ids = map[string]uint32{}
	}
	id := uint32(len(d.names))
	d.ids[v] = id
	d.names = append(d.names, v)
	return id, true
}

// dictView is an immutable copy of a dict.
type dictView struct {
	ids   map[string]uint32
	names []string
}

func (d *dict) view(prev dictView) dictView {
	if len(prev.names) == len(d.names) && prev.ids != nil {
		return prev
	}
	return dictView{ids: maps.Clone(d.ids), names: d.names[:len(d.names):len(d.names)]}
}

// Values is the index of a tag or set field: one bitmap per value plus the
// existence bitmap (profiles with a value, for IS NULL).
type Values struct {
	name  string
	multi bool // set field: several values per profile
	dict  dict
	bms   []*cowBitmap
	exist *cowBitmap
	last  *ValuesView
}

// NewValues returns an empty index; multi is true for set fields.
func NewValues(field string, multi bool) *Values {
	return &Values{name: field, multi: multi, exist: newCOW()}
}

// Check reports whether adding vals would break a limit, so the caller can
// refuse a record before changing anything.
func (x *Values) Check(vals ...string) error { return x.dict.canAdd(x.name, vals...) }

func (x *Values) bitmap(v string) *cowBitmap {
	id, created := x.dict.intern(v)
	if created {
		x.bms = append(x.bms, newCOW())
	}
	return x.bms[id]
}

// SetTag gives row the single value v, replacing any other.
func (x *Values) SetTag(row uint32, v string) {
	if x.exist.contains(row) {
		// Find the old value by probing the value bitmaps: no per-row
		// array is kept, which saves 4 bytes per profile per field; new
		// profiles (bulk loads) skip the probe entirely.
		if id, ok := x.dict.id(v); ok && x.bms[id].contains(row) {
			return
		}
		for _, b := range x.bms {
			if b.remove(row) {
				break
			}
		}
	}
	x.bitmap(v).add(row)
	x.exist.add(row)
}

// Add adds values to row's set.
func (x *Values) Add(row uint32, vals ...string) {
	for _, v := range vals {
		x.bitmap(v).add(row)
	}
	if len(vals) > 0 {
		x.exist.add(row)
	}
}

// Remove removes values from row's set.
func (x *Values) Remove(row uint32, vals ...string) {
	removed := false
	for _, v := range vals {
		if id, ok := x.dict.id(v); ok {
			removed = x.bms[id].remove(row) || removed
		}
	}
	if removed && !x.hasAny(row) {
		x.exist.remove(row)
	}
}

// Replace makes vals the whole set of row.
func (x *Values) Replace(row uint32, vals []string) {
	if x.exist.contains(row) {
		for id, b := range x.bms {
			if !slices.Contains(vals, x.dict.names[id]) {
				b.remove(row)
			}
		}
	}
	x.Add(row, vals...)
	if len(vals) == 0 {
		x.exist.remove(row)
	}
}

// Unset removes every value of row.
func (x *Values) Unset(row uint32) {
	if !x.exist.remove(row) {
		return
	}
	for _, b := range x.bms {
		if b.remove(row) && !x.multi {
			return
		}
	}
}

func (x *Values) hasAny(row uint32) bool {
	for _, b := range x.bms {
		if b.contains(row) {
			return true
		}
	}
	return false
}

// Compact rebuilds at exact size the bitmaps' small grown tails (see
// cowBitmap.compactBetween), between publications.
func (x *Values) Compact() {
	x.exist.compactBetween()
	for _, b := range x.bms {
		b.compactBetween()
	}
}

// View publishes the current state.
func (x *Values) View() *ValuesView {
	dirty := x.last == nil || x.exist.dirty || len(x.last.bms) != len(x.bms)
	for _, b := range x.bms {
		dirty = dirty || b.dirty
	}
	if !dirty {
		return x.last
	}
	rows := uint64(x.exist.maxRow + 1)
	v := &ValuesView{exist: x.exist.publish(), bms: make([]*roaring.Bitmap, len(x.bms)), kept: newKeptCache[string](rows), mirrors: &mirrors{rows: rows}}
	var prev dictView
	if x.last != nil {
		prev = x.last.dict
	}
	v.dict = x.dict.view(prev)
	for i, b := range x.bms {
		v.bms[i] = b.publish()
	}
	x.last = v
	return v
}

// ValuesView is an immutable view of a Values index.
type ValuesView struct {
	dict  dictView
	bms   []*roaring.Bitmap
	exist *roaring.Bitmap
	// kept holds unions of values asked for more than once (KeptUnion);
	// nil in views built by hand.
	kept *keptCache[string]
	// mirrors holds dense values as words (DenseWords); nil in views
	// built by hand.
	mirrors *mirrors
}

// mirrors holds, per view, the word form of the dense values counts in
// word space have asked for. A dense value holds at least one profile in
// mirrorShare, so a field has at most mirrorShare of them: at most eight
// bytes per profile per field, and in practice a few values (gender,
// tiers, lifecycle, large cities) of the fields marketers combine.
type mirrors struct {
	mu    sync.Mutex
	rows  uint64
	words map[uint32][]uint64
}

// DenseWords returns value's profiles as words (row r is bit r%64 of
// word r/64) if the value is dense (one profile in 64 or more), built on
// first use and kept for the view's life, read-only; nil otherwise. An
// AND of dense terms is then counted a block at a time over words
// (wordops), with no bitmap built: roaring's AND allocates a container
// per chunk of its result, which costs more than the AND itself.
func (v *ValuesView) DenseWords(value string) []uint64 {
	m := v.mirrors
	id, ok := v.dict.ids[value]
	if m == nil || !ok {
		return nil
	}
	b := v.bms[id]
	if b.GetCardinality()*mirrorShare < m.rows {
		return nil
	}
	return m.get(id, b)
}

// mirrorShare: a value held by at least one profile in mirrorShare is
// mirrored as words (DenseWords). One in 64 takes in the upper tiers and
// the large cities that IN lists combine with the dense values: a value
// under it is written into words for each count (one write per profile,
// at 10M profiles 0.3 ms for a city of one profile in 38), where its
// mirror is read in 0.06 ms. At most 8 bytes per profile per field.
const mirrorShare = 64

// existID keys the profiles with a value among mirrors' words.
const existID = ^uint32(0)

// DenseExistWords is DenseWords for the profiles with a value.
func (v *ValuesView) DenseExistWords() []uint64 {
	m := v.mirrors
	if m == nil || v.exist.GetCardinality()*denseShare < m.rows {
		return nil
	}
	return m.get(existID, v.exist)
}

// get returns id's words, writing b into new ones on first use.
func (m *mirrors) get(id uint32, b *roaring.Bitmap) []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w, ok := m.words[id]; ok {
		return w
	}
	w := make([]uint64, m.rows/64+1)
	writeWords(w, b)
	if m.words == nil {
		m.words = map[uint32][]uint64{}
	}
	m.words[id] = w
	return w
}

// KeptUnion returns the union of values' bitmaps (two values or more) if
// v keeps it (see keptCache; this counts as a use: the union is built and
// kept on its second use), shared and read-only, or nil. An IN list
// counted inside a running result is a sum of one intersection per value;
// when a value holds under one profile in 16 of a block, roaring keeps it
// as a sorted array and each of its rows is a probe, while a kept union
// is one word-by-word intersection.
func (v *ValuesView) KeptUnion(values []string) *roaring.Bitmap {
	if v.kept == nil || len(values) < 2 {
		return nil
	}
	return v.kept.use(valuesKey(values), func() *roaring.Bitmap {
		bs := make([]*roaring.Bitmap, 0, len(values))
		for _, s := range values {
			if b := v.Bitmap(s); b != nil {
				bs = append(bs, b)
			}
		}
		return roaring.FastOr(bs...) // a new bitmap, even for one
	})
}

// KeptUnionWords returns the words of the kept union of values when the
// view keeps them (see keptCache.wordsOf), read-only, or nil. It does not count as a use.
func (v *ValuesView) KeptUnionWords(values []string) []uint64 {
	if len(values) < 2 {
		return nil
	}
	return v.kept.wordsOf(valuesKey(values))
}

// Bitmap returns the profiles holding value v, or nil if no profile ever
// held it. The bitmap is shared: do not modify it.
func (v *ValuesView) Bitmap(value string) *roaring.Bitmap {
	id, ok := v.dict.ids[value]
	if !ok {
		return nil
	}
	return v.bms[id]
}

// Exists returns the profiles with at least one value.
func (v *ValuesView) Exists() *roaring.Bitmap { return v.exist }

// Values lists the values seen, in order of first sight.
func (v *ValuesView) Values() []string { return v.dict.names }

// Count returns how many profiles hold value.
func (v *ValuesView) Count(value string) uint64 {
	if b := v.Bitmap(value); b != nil {
		return b.GetCardinality()
	}
	return 0
}

// Has reports whether row holds value (for reading a profile back).
func (v *ValuesView) Has(row uint32, value string) bool {
	b := v.Bitmap(value)
	return b != nil && b.Contains(row)
}

// RowValues appends the values row holds.
func (v *ValuesView) RowValues(dst []string, row uint32) []string {
	if !v.exist.Contains(row) {
		return dst
	}
	for i, b := range v.bms {
		if b.Contains(row) {
			dst = append(dst, v.dict.names[i])
		}
	}
	return dst
}
