package index

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// This file holds the exported accessors and restore hooks that
// checkpoints use: views hand out every bitmap they hold, and an empty
// writer-side index takes bitmaps back. Restore hooks only ever fill an
// index that has not been written yet; they do not change how a live
// index behaves. Bitmaps passed in are owned by the index afterwards.

// restored returns a writer bitmap holding b.
func restored(b *roaring.Bitmap) *cowBitmap {
	c := newCOW()
	c.replace(b)
	return c
}

// RestoreValue appends the bitmap of the next value, in order of first
// sight (so value ids, and with them Values(), come back in the same
// order).
func (x *Values) RestoreValue(value string, b *roaring.Bitmap) error {
	if _, ok := x.dict.id(value); ok {
		return fmt.Errorf("field %s: value %q restored twice", x.name, value)
	}
	if err := x.dict.canAdd(x.name, value); err != nil {
		return err
	}
	x.dict.intern(value)
	x.bms = append(x.bms, restored(b))
	return nil
}

// RestoreExists sets the existence bitmap.
func (x *Values) RestoreExists(b *roaring.Bitmap) { x.exist = restored(b) }

// RestoreTrue sets the bitmap of profiles whose value is true.
func (x *Bool) RestoreTrue(b *roaring.Bitmap) { x.yes = restored(b) }

// RestoreExists sets the existence bitmap.
func (x *Bool) RestoreExists(b *roaring.Bitmap) { x.exist = restored(b) }

// Slices returns the bit slices (shared; read-only): Slices()[i] holds
// the rows whose offset from the lower bound has bit i set.
func (v *BSIView) Slices() []*roaring.Bitmap { return v.slices }

// EqualityBitmaps returns the per-value bitmaps (index: offset from the
// lower bound), or nil for fields too wide to have them (shared).
func (v *BSIView) EqualityBitmaps() []*roaring.Bitmap { return v.eq }

// RestoreSlice sets bit slice i.
func (x *BSI) RestoreSlice(i int, b *roaring.Bitmap) error {
	if i < 0 || i >= len(x.slices) {
		return fmt.Errorf("bit slice %d out of range (field has %d)", i, len(x.slices))
	}
	x.slices[i] = restored(b)
	return nil
}

// RestoreEquality sets the per-value bitmap of offset off.
func (x *BSI) RestoreEquality(off int, b *roaring.Bitmap) error {
	if off < 0 || off >= len(x.eq) {
		return fmt.Errorf("per-value bitmap %d out of range (field has %d)", off, len(x.eq))
	}
	x.eq[off] = restored(b)
	return nil
}

// RestoreExists sets the existence bitmap.
func (x *BSI) RestoreExists(b *roaring.Bitmap) { x.exist = restored(b) }

// ValueBitmaps returns the all-time bitmap and the day bitmaps of the
// value with id i (ids in the order of Values()); days[j] is day first+j
// and is nil where no event happened. Shared; read-only.
func (v *EventsView) ValueBitmaps(i int) (all *roaring.Bitmap, first Day, days []*roaring.Bitmap) {
	ev := v.vals[i]
	return ev.all, ev.first, ev.days
}

// AnyValueBitmaps is ValueBitmaps for the any-value bitmaps.
func (v *EventsView) AnyValueBitmaps() (all *roaring.Bitmap, first Day, days []*roaring.Bitmap) {
	return v.anyVal.all, v.anyVal.first, v.anyVal.days
}

// RestoreValue appends the next value (in order of first sight) with its
// all-time bitmap and returns its id for RestoreDay.
func (x *Events) RestoreValue(value string, all *roaring.Bitmap) (int, error) {
	if _, ok := x.dict.id(value); ok {
		return 0, fmt.Errorf("field %s: event value %q restored twice", x.name, value)
	}
	if err := x.dict.canAdd(x.name, value); err != nil {
		return 0, err
	}
	id, _ := x.dict.intern(value)
	ev := newEventValue()
	ev.all = restored(all)
	ev.dirty = true
	x.vals = append(x.vals, ev)
	return int(id), nil
}

// RestoreDay sets the day bitmap of value id (from RestoreValue).
func (x *Events) RestoreDay(id int, day Day, b *roaring.Bitmap) error {
	x.applyLog()
	if id < 0 || id >= len(x.vals) {
		return fmt.Errorf("field %s: event value id %d out of range", x.name, id)
	}
	x.vals[id].days.put(day, restored(b))
	x.vals[id].dirty = true
	return nil
}

// RestoreAnyAll sets the any-value all-time bitmap.
func (x *Events) RestoreAnyAll(b *roaring.Bitmap) {
	x.anyVal.all = restored(b)
	x.anyVal.dirty = true
}

// RestoreAnyDay sets the any-value bitmap of a day.
func (x *Events) RestoreAnyDay(day Day, b *roaring.Bitmap) {
	x.anyVal.days.put(day, restored(b))
	x.anyVal.dirty = true
}

// RestoreExists sets the existence bitmap.
func (x *Events) RestoreExists(b *roaring.Bitmap) { x.exist = restored(b) }
