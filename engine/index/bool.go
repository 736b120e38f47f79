package index

import "github.com/RoaringBitmap/roaring/v2"

// Bool is the index of a bool field: the profiles that are true, and the
// profiles with any value (so that "is_vip = false" and IS NULL differ).
type Bool struct {
	yes   *cowBitmap
	exist *cowBitmap
	last  *BoolView
}

// NewBool returns an empty bool index.
func NewBool() *Bool { return &Bool{yes: newCOW(), exist: newCOW()} }

// Set gives row the value b.
func (x *Bool) Set(row uint32, b bool) {
	x.exist.add(row)
	if b {
		x.yes.add(row)
	} else {
		x.yes.remove(row)
	}
}

// Unset clears row's value.
func (x *Bool) Unset(row uint32) {
	x.exist.remove(row)
	x.yes.remove(row)
}

// Compact rebuilds at exact size the bitmaps' small grown tails (see
// cowBitmap.compactBetween), between publications.
func (x *Bool) Compact() {
	x.yes.compactBetween()
	x.exist.compactBetween()
}

// View publishes the current state.
func (x *Bool) View() *BoolView {
	if x.last != nil && !x.yes.dirty && !x.exist.dirty {
		return x.last
	}
	x.last = &BoolView{yes: x.yes.publish(), exist: x.exist.publish()}
	return x.last
}

// BoolView is an immutable view of a Bool index.
type BoolView struct{ yes, exist *roaring.Bitmap }

// True returns the profiles whose value is true (shared; read-only).
func (v *BoolView) True() *roaring.Bitmap { return v.yes }

// False returns the profiles whose value is false (a new bitmap).
func (v *BoolView) False() *roaring.Bitmap { return roaring.AndNot(v.exist, v.yes) }

// Exists returns the profiles with a value (shared; read-only).
func (v *BoolView) Exists() *roaring.Bitmap { return v.exist }

// Value reads row's value back.
func (v *BoolView) Value(row uint32) (val, ok bool) {
	return v.yes.Contains(row), v.exist.Contains(row)
}
