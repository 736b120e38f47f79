package index

// This file holds profile merges (OneID): when two rows turn out to be one
// person, every field's bits of the absorbed row move to the surviving
// row. Moves go through the cowBitmap helpers like every other write, so
// published views stay untouched and the next View() republishes.

// setBit adds row to c unless it is already there, so that a bitmap
// which does not change is not marked dirty (and cloned at the next
// View()) for nothing.
func setBit(c *cowBitmap, row uint32) {
	if !c.contains(row) {
		c.add(row)
	}
}

// Move gives row to the values of row from and leaves from with none.
// For a set field the two sets are unioned. For a tag field (one value)
// to keeps its own value if it has one, unless fromWins; if to has none
// it takes from's. A from without values, or from == to, changes
// nothing.
func (x *Values) Move(from, to uint32, fromWins bool) {
	if from == to || !x.exist.remove(from) {
		return
	}
	if x.multi {
		for _, b := range x.bms {
			if b.remove(from) {
				setBit(b, to)
			}
		}
		setBit(x.exist, to)
		return
	}
	var fromBM *cowBitmap
	for _, b := range x.bms {
		if b.remove(from) {
			fromBM = b
			break
		}
	}
	if fromBM == nil { // cannot happen while exist is consistent
		return
	}
	if x.exist.contains(to) {
		if !fromWins || fromBM.contains(to) {
			return
		}
		for _, b := range x.bms {
			if b.remove(to) {
				break
			}
		}
	}
	fromBM.add(to)
	x.exist.add(to)
}

// Move gives row to the value of row from and leaves from with none: to
// keeps its own value if it has one, unless fromWins.
func (x *Bool) Move(from, to uint32, fromWins bool) {
	if from == to || !x.exist.remove(from) {
		return
	}
	val := x.yes.remove(from)
	if x.exist.contains(to) && !fromWins {
		return
	}
	setBit(x.exist, to)
	if val {
		setBit(x.yes, to)
	} else {
		x.yes.remove(to)
	}
}

// Move gives row to the value of row from and leaves from with none: to
// keeps its own value if it has one, unless fromWins. The per-value
// bitmaps follow.
func (x *BSI) Move(from, to uint32, fromWins bool) {
	if from == to || !x.exist.contains(from) {
		return
	}
	u := x.offset(from)
	x.Unset(from)
	if !x.exist.contains(to) {
		x.Set(to, x.lo+int64(u))
		return
	}
	if fromWins && x.offset(to) != u {
		x.Set(to, x.lo+int64(u))
	}
}

// Move gives row to every event of row from and leaves from with none:
// for every value and every day holding from, to gets the bit and from
// loses it, in the all-time, any-value and existence bitmaps likewise.
// A from without events, or from == to, changes nothing.
func (x *Events) Move(from, to uint32) {
	x.applyLog()
	if from == to || !x.exist.remove(from) {
		return
	}
	setBit(x.exist, to)
	// The days from has any event on come from the any-value index (a
	// row is in its day bitmap exactly when it is in some value's): the
	// values' day bitmaps are probed on those days only, not on every day
	// of the retention window.
	var days []Day
	x.anyVal.days.each(func(d Day, b *cowBitmap) {
		if b.contains(from) {
			days = append(days, d)
		}
	})
	x.anyVal.move(from, to, days)
	for _, ev := range x.vals {
		ev.move(from, to, days)
	}
}

// move moves from's bits of one value to to, probing only days.
func (ev *eventValue) move(from, to uint32, days []Day) {
	if !ev.all.remove(from) {
		return
	}
	ev.dirty = true
	setBit(ev.all, to)
	for _, d := range days {
		// Probe before removing: on a copy-on-write bitmap a remove
		// takes a writable container (a copy, after a publication)
		// even when the bit is not there.
		if b := ev.days.get(d); b != nil && b.contains(from) {
			b.remove(from)
			setBit(b, to)
		}
	}
}
