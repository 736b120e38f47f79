package index

// dayList holds one event value's writer bitmaps by day, densely from its
// earliest day: an ingest event finds its bitmap by subtraction instead of
// a map lookup (which was a tenth of applying a generated record). The
// published view already keeps its days densely over the same span, so
// this costs no more than the view does.
type dayList struct {
	first Day
	bms   []*cowBitmap // bms[d-first]; nil on days without a bitmap
	n     int          // bitmaps held
}

// get returns day d's bitmap, or nil.
func (l *dayList) get(d Day) *cowBitmap {
	i := int64(d) - int64(l.first)
	if i < 0 || i >= int64(len(l.bms)) {
		return nil
	}
	return l.bms[i]
}

// put sets day d's bitmap, widening the span to reach d.
func (l *dayList) put(d Day, b *cowBitmap) {
	switch {
	case len(l.bms) == 0:
		l.first = d
		l.bms = append(l.bms[:0], nil)
	case d < l.first:
		grown := make([]*cowBitmap, int(l.first-d)+len(l.bms))
		copy(grown[l.first-d:], l.bms)
		l.first, l.bms = d, grown
	default:
		for int64(d)-int64(l.first) >= int64(len(l.bms)) {
			l.bms = append(l.bms, nil)
		}
	}
	i := d - l.first
	if l.bms[i] == nil {
		l.n++
	}
	l.bms[i] = b
}

// each calls f for every day holding a bitmap, in day order.
func (l *dayList) each(f func(Day, *cowBitmap)) {
	for i, b := range l.bms {
		if b != nil {
			f(l.first+Day(i), b)
		}
	}
}

// dropBefore forgets the days before cutoff and reports how many it
// dropped.
func (l *dayList) dropBefore(cutoff Day) int {
	if len(l.bms) == 0 || cutoff <= l.first {
		return 0
	}
	k := min(int64(cutoff)-int64(l.first), int64(len(l.bms)))
	dropped := 0
	for _, b := range l.bms[:k] {
		if b != nil {
			dropped++
		}
	}
	// A fresh slice, so the dropped bitmaps are not kept alive by the old
	// array's head.
	rest := l.bms[k:]
	i := 0
	for i < len(rest) && rest[i] == nil {
		i++
	}
	l.first += Day(k) + Day(i)
	l.bms = append([]*cowBitmap(nil), rest[i:]...)
	l.n -= dropped
	return dropped
}
