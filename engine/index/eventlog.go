package index

import (
	"cmp"
	"slices"
)

// Applying a generated record spent a fifth of its time adding rows to
// event values' day bitmaps: tens of thousands of them (values × days ×
// fields), each with its own buffer of pending adds, so nearly every add
// missed the cache twice (the bitmap, then its buffer's tail). Those adds
// now go to one log per event field, in arrival order (a sequential
// append), and are applied a batch at a time sorted by value and day:
// each bitmap then takes its rows in one AddMany while its containers are
// in the cache. The bitmaps few and hot (a value's all-time bitmap, the
// any-value index, existence) are still written at once.
//
// Every method that reads or rewrites the day bitmaps applies the log
// first (applyLog), so nothing outside this file sees it.

// loggedEvent is a row's event on a value's day, not yet in its bitmap.
type loggedEvent struct {
	row uint32
	val uint32
	day Day
}

// maxLogged bounds the log (12 bytes an entry).
const maxLogged = 1 << 18

// applyLog adds the logged events to their day bitmaps and empties the
// log.
func (x *Events) applyLog() {
	if len(x.log) == 0 {
		return
	}
	log := x.log
	sortLogged(log, &x.sorted)
	log = x.sorted
	rows := x.rows[:0]
	for i := 0; i < len(log); {
		j := i + 1
		for j < len(log) && log[j].val == log[i].val && log[j].day == log[i].day {
			j++
		}
		rows = rows[:0]
		for _, e := range log[i:j] {
			rows = append(rows, e.row)
		}
		ev := x.vals[log[i].val]
		b := ev.days.get(log[i].day)
		if b == nil {
			b = newCOW()
			ev.days.put(log[i].day, b)
		}
		b.addMany(rows)
		ev.dirty = true
		i = j
	}
	x.rows = rows[:0]
	x.log = x.log[:0]
}

// sortLogged writes log to *out sorted by value, then day, keeping
// arrival order within a bitmap (rows then mostly ascend, which AddMany
// takes fastest). A counting sort when the (value, day) keys are few
// against the entries, a stable sort otherwise.
func sortLogged(log []loggedEvent, out *[]loggedEvent) {
	lo, hi := log[0].day, log[0].day
	var vals uint32
	for _, e := range log {
		lo, hi = min(lo, e.day), max(hi, e.day)
		vals = max(vals, e.val+1)
	}
	span := uint64(hi) - uint64(lo) + 1
	if span > 1<<16 || uint64(vals)*span > uint64(4*len(log)) {
		*out = append((*out)[:0], log...)
		slices.SortStableFunc(*out, func(a, b loggedEvent) int {
			return cmp.Or(cmp.Compare(a.val, b.val), cmp.Compare(a.day, b.day))
		})
		return
	}
	key := func(e loggedEvent) uint64 { return uint64(e.val)*span + uint64(e.day-lo) }
	start := make([]int, uint64(vals)*span+1)
	for _, e := range log {
		start[key(e)+1]++
	}
	for k := 1; k < len(start); k++ {
		start[k] += start[k-1]
	}
	*out = slices.Grow((*out)[:0], len(log))[:len(log)]
	for _, e := range log {
		k := key(e)
		(*out)[start[k]] = e
		start[k]++
	}
}
