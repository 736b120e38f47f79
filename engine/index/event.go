package index

import (
	"runtime"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/internal/radix"
)

// Day is a day number (days since 1970-01-01 in the dataset's time zone).
type Day = int32

// Events is the index of an event field: for each value a bitmap per day
// with at least one occurrence, plus an all-time bitmap per value (the
// union of its days, so "ever" is one lookup) and the profiles with any
// event at all.
type Events struct {
	name string
	dict dict
	vals []*eventValue
	// anyVal holds, per day, the profiles with an event of any value: the
	// union of every value's day bitmap, kept so that "purchase() IN LAST
	// 7 DAYS" reads 7 bitmaps rather than 7 per value.
	anyVal *eventValue
	exist  *cowBitmap
	last   *EventsView
	words  *WordPool // see SetWordPool
	// log holds the day-bitmap adds not yet applied (eventlog.go);
	// sorted and rows are its working buffers.
	log    []loggedEvent
	sorted []loggedEvent
	rows   []uint32
}

type eventValue struct {
	days  dayList
	all   *cowBitmap
	dirty bool // a day was added or dropped, or a bitmap written
	last  *eventValueView
}

// NewEvents returns an empty event index.
func NewEvents(field string) *Events {
	return &Events{name: field, exist: newCOW(), anyVal: newEventValue()}
}

func newEventValue() *eventValue {
	return &eventValue{all: newCOW()}
}

// add records row on day (adding a bit twice is harmless).
func (ev *eventValue) add(row uint32, day Day) {
	b := ev.days.get(day)
	if b == nil {
		b = newCOW()
		ev.days.put(day, b)
	}
	b.add(row)
	ev.dirty = true
	ev.all.add(row)
}

// unset removes row from every day.
func (ev *eventValue) unset(row uint32) {
	if !ev.all.remove(row) {
		return
	}
	ev.dirty = true
	ev.days.each(func(_ Day, b *cowBitmap) { b.remove(row) })
}

// expire drops days before cutoff and rebuilds the all-time bitmap.
func (ev *eventValue) expire(cutoff Day) bool {
	if ev.days.dropBefore(cutoff) == 0 {
		return false
	}
	keep := make([]*roaring.Bitmap, 0, ev.days.n)
	ev.days.each(func(_ Day, b *cowBitmap) { keep = append(keep, b.writer()) })
	ev.all.replace(roaring.FastOr(keep...))
	ev.dirty = true
	return true
}

// Check reports whether adding vals would break a limit.
func (x *Events) Check(vals ...string) error { return x.dict.canAdd(x.name, vals...) }

// Add records that row had an event with value on day.
func (x *Events) Add(row uint32, value string, day Day) {
	id, created := x.dict.intern(value)
	if created {
		x.vals = append(x.vals, newEventValue())
	}
	ev := x.vals[id]
	ev.all.add(row)
	ev.dirty = true
	x.log = append(x.log, loggedEvent{row: row, val: id, day: day})
	if len(x.log) >= maxLogged {
		x.applyLog()
	}
	x.anyVal.add(row, day)
	x.exist.add(row)
}

// Unset forgets every event of row.
func (x *Events) Unset(row uint32) {
	x.applyLog()
	if !x.exist.remove(row) {
		return
	}
	for _, ev := range x.vals {
		ev.unset(row)
	}
	x.anyVal.unset(row)
}

// Expire drops every day before cutoff and rebuilds the all-time bitmaps
// from the days that remain. It reports whether anything was dropped.
func (x *Events) Expire(cutoff Day) bool {
	x.applyLog()
	dropped := false
	for _, ev := range x.vals {
		dropped = ev.expire(cutoff) || dropped
	}
	x.anyVal.expire(cutoff)
	if dropped {
		alls := make([]*roaring.Bitmap, len(x.vals))
		for i, ev := range x.vals {
			alls[i] = ev.all.writer()
		}
		x.exist.replace(roaring.FastOr(alls...))
	}
	return dropped
}

// SetWordPool makes the index's views count unions in words from wp
// (the dataset's, shared by its snapshots) instead of allocating them.
func (x *Events) SetWordPool(wp *WordPool) { x.words = wp }

// Compact rebuilds at exact size the bitmaps' small grown tails (see
// cowBitmap.compactBetween), between publications, the logged events
// applied first.
func (x *Events) Compact() {
	x.applyLog()
	x.exist.compactBetween()
	compact := func(ev *eventValue) {
		ev.all.compactBetween()
		ev.days.each(func(_ Day, b *cowBitmap) { b.compactBetween() })
	}
	for _, ev := range x.vals {
		compact(ev)
	}
	compact(x.anyVal)
}

// View publishes the current state.
func (x *Events) View() *EventsView {
	x.applyLog()
	dirty := x.last == nil || x.exist.dirty || len(x.last.vals) != len(x.vals) || x.anyVal.dirty
	for _, ev := range x.vals {
		dirty = dirty || ev.dirty
	}
	if !dirty {
		return x.last
	}
	v := &EventsView{exist: x.exist.publish(), vals: make([]*eventValueView, len(x.vals)), windows: newWindowCache(uint64(x.exist.maxRow + 1)), words: x.words}
	var prev dictView
	if x.last != nil {
		prev = x.last.dict
	}
	v.dict = x.dict.view(prev)
	for i, ev := range x.vals {
		if ev.dirty || ev.last == nil {
			ev.last = ev.view()
			ev.dirty = false
		}
		v.vals[i] = ev.last
	}
	if x.anyVal.dirty || x.anyVal.last == nil {
		x.anyVal.last = x.anyVal.view()
		x.anyVal.dirty = false
	}
	v.anyVal = x.anyVal.last
	x.last = v
	return v
}

func (ev *eventValue) view() *eventValueView {
	v := &eventValueView{all: ev.all.publish()}
	if ev.days.n == 0 {
		return v
	}
	v.first = ev.days.first
	v.days = make([]*roaring.Bitmap, len(ev.days.bms))
	ev.days.each(func(d Day, b *cowBitmap) { v.days[d-v.first] = b.publish() })
	return v
}

// eventValueView holds one value's day bitmaps densely by day, so a window
// is a slice of the array.
type eventValueView struct {
	first Day
	days  []*roaring.Bitmap // days[d-first]; nil where no event happened
	all   *roaring.Bitmap
}

func (v *eventValueView) window(from, to Day) []*roaring.Bitmap {
	lo, hi := max(from, v.first), min(to, v.first+Day(len(v.days))-1)
	if lo > hi {
		return nil
	}
	return v.days[lo-v.first : hi-v.first+1]
}

// EventsView is an immutable view of an Events index.
type EventsView struct {
	dict   dictView
	vals   []*eventValueView
	anyVal *eventValueView
	exist  *roaring.Bitmap
	// windows caches the unions of windows asked for more than once
	// (windowcache.go); nil in views built by hand.
	windows *windowCache
	// words lends the arrays unions are counted in (nil: allocated).
	words *WordPool
}

// Values lists the event values seen, in order of first sight.
func (v *EventsView) Values() []string { return v.dict.names }

// Exists returns the profiles with any event kept (shared; read-only).
func (v *EventsView) Exists() *roaring.Bitmap { return v.exist }

// pick resolves values to value views; no values means every value.
// Unknown values match nothing.
func (v *EventsView) pick(values []string) []*eventValueView {
	if len(values) == 0 {
		return []*eventValueView{v.anyVal}
	}
	out := make([]*eventValueView, 0, len(values))
	for _, s := range values {
		if id, ok := v.dict.ids[s]; ok {
			out = append(out, v.vals[id])
		}
	}
	return out
}

// Ever returns the profiles with a matching event on any kept day.
func (v *EventsView) Ever(values []string) *roaring.Bitmap {
	if len(values) == 0 {
		return v.exist.Clone()
	}
	vals := v.pick(values)
	bms := make([]*roaring.Bitmap, len(vals))
	for i, ev := range vals {
		bms[i] = ev.all
	}
	return roaring.FastOr(bms...)
}

// Window returns the profiles with a matching event on a day in [from, to].
func (v *EventsView) Window(values []string, from, to Day) *roaring.Bitmap {
	return v.WindowWithin(values, from, to, nil)
}

// WindowWithin is Window restricted to the rows of within (nil: all).
func (v *EventsView) WindowWithin(values []string, from, to Day, within *roaring.Bitmap) *roaring.Bitmap {
	if u := v.cachedUnion(values, from, to); u != nil {
		if within == nil {
			return u.Clone() // the caller may write to what it gets
		}
		return roaring.And(u, within)
	}
	return v.windowWithin(values, from, to, within)
}

// WindowFromDays is WindowWithin computed from the days, without asking
// the cache: for a caller that has just asked it (WindowShared) and got
// nothing, so that one evaluation counts as one use.
func (v *EventsView) WindowFromDays(values []string, from, to Day, within *roaring.Bitmap) *roaring.Bitmap {
	return v.windowWithin(values, from, to, within)
}

// windowWithin is WindowWithin computed from the days.
func (v *EventsView) windowWithin(values []string, from, to Day, within *roaring.Bitmap) *roaring.Bitmap {
	bms := v.windowBitmaps(values, from, to)
	if within == nil {
		return unionMany(bms)
	}
	// Inside an AND with a running result smaller than the days' members,
	// cut each day down to it first: the union then runs over small
	// pieces, with no dataset-sized buffer. Otherwise union, then cut.
	var members uint64
	for _, b := range bms {
		members += b.GetCardinality()
	}
	if within.GetCardinality() >= members {
		r := unionMany(bms)
		r.And(within)
		return r
	}
	parts := make([]*roaring.Bitmap, 0, len(bms))
	for _, b := range bms {
		if p := roaring.And(b, within); !p.IsEmpty() {
			parts = append(parts, p)
		}
	}
	return unionMany(parts)
}

// DaysWithin cuts within to the profiles with an event of any value on
// each day of [from, to]. A window's count within a small set is then
// counted from it (WindowCountDaysWithin): a value's day can only hold
// rows that had some event that day, and for a set spread over the rows
// that is what keeps the count from meeting every member of every day.
func (v *EventsView) DaysWithin(within *roaring.Bitmap, from, to Day) *SetDays {
	s := NewSetDays(from, to)
	for d := from; d <= to; d++ {
		v.CutDay(s, within, d)
	}
	return s
}

// NewSetDays returns the SetDays of [from, to] with no day cut yet (nil
// if the span is empty): CutDay cuts each, and different days may be cut
// at once. A set spread over the rows meets every container of every
// day it is cut to (~100 us a day at 10M profiles, most of it waiting
// for memory), so a caller with cores to spare cuts the days on all of
// them.
func NewSetDays(from, to Day) *SetDays {
	if from > to {
		return nil
	}
	return &SetDays{from: from, bms: make([]*roaring.Bitmap, to-from+1), rows: make([][]uint32, to-from+1)}
}

// CutDay cuts day d of s (see DaysWithin) to within. Safe to call for
// different days of s at once.
func (v *EventsView) CutDay(s *SetDays, within *roaring.Bitmap, d Day) {
	if s == nil || d < s.from || int(d-s.from) >= len(s.bms) {
		return
	}
	i := int(d - s.from)
	days := v.anyVal.window(d, d)
	if len(days) == 0 || days[0] == nil {
		return
	}
	s.bms[i] = roaring.And(days[0], within)
	if n := s.bms[i].GetCardinality(); n > 0 && n <= fewRows {
		s.rows[i] = s.bms[i].ToArray()
	}
}

// SetDays is a set cut to each day's active profiles (DaysWithin):
// entry d-from of bms, and of rows where they are few.
type SetDays struct {
	from Day
	bms  []*roaring.Bitmap
	rows [][]uint32
}

// fewRows is the most rows of a day a count looks up one at a time
// (roaring's Contains, ~30-50 ns each) rather than intersects: an AND
// costs a result bitmap and a walk over both sets' containers, ~2 us
// for a seed's dozen rows of a day at 10M profiles.
const fewRows = 256

// WindowCountDaysWithin is the size of the window of values over [from,
// to] within the set s was cut from (s from DaysWithin over a span from
// from covering to).
func (v *EventsView) WindowCountDaysWithin(values []string, from, to Day, s *SetDays) uint64 {
	if s == nil {
		return 0
	}
	var parts []*roaring.Bitmap
	var hits *roaring.Bitmap
	for _, ev := range v.pick(values) {
		days := ev.window(from, to)
		lo := max(from, ev.first)
		for i, b := range days {
			d := int(lo - s.from + Day(i))
			if b == nil || d < 0 || d >= len(s.bms) || s.bms[d] == nil || s.bms[d].IsEmpty() {
				continue
			}
			if rows := s.rows[d]; rows != nil {
				for _, r := range rows {
					if b.Contains(r) {
						if hits == nil {
							hits = roaring.New()
						}
						hits.Add(r)
					}
				}
				continue
			}
			if p := roaring.And(b, s.bms[d]); !p.IsEmpty() {
				parts = append(parts, p)
			}
		}
	}
	if hits != nil {
		parts = append(parts, hits)
	}
	switch len(parts) {
	case 0:
		return 0
	case 1:
		return parts[0].GetCardinality()
	}
	return roaring.FastOr(parts...).GetCardinality()
}

// DayBitmaps lists the day bitmaps of values (none: any value) on the
// days in [from, to] that hold any: what a window over them is computed
// from (shared; read-only).
func (v *EventsView) DayBitmaps(values []string, from, to Day) []*roaring.Bitmap {
	return v.windowBitmaps(values, from, to)
}

// windowBitmaps lists the day bitmaps of values on the days in [from,
// to] that hold any (the index's own: read-only).
func (v *EventsView) windowBitmaps(values []string, from, to Day) []*roaring.Bitmap {
	var bms []*roaring.Bitmap
	for _, ev := range v.pick(values) {
		for _, b := range ev.window(from, to) {
			if b != nil {
				bms = append(bms, b)
			}
		}
	}
	return bms
}

// WindowMembers is the sum of the sizes of the day bitmaps a window
// reads (a profile counts once for each value and day it matched): what
// WindowWords costs to OR into words, for choosing it over a bitmap.
func (v *EventsView) WindowMembers(values []string, from, to Day) uint64 {
	var n uint64
	for _, b := range v.windowBitmaps(values, from, to) {
		n += b.GetCardinality()
	}
	return n
}

// WindowWords writes WindowWithin(values, from, to, within) into out as
// plain words covering rows 0..64*len(out)-1 (rows past them are left
// out), for an AND that goes on in word space: the days are ORed straight
// into the words, and no bitmap is built for the union. It returns out.
func (v *EventsView) WindowWords(out []uint64, values []string, from, to Day, within *roaring.Bitmap) []uint64 {
	return v.windowWordsOn(out, values, from, to, within, runtime.GOMAXPROCS(0), minParallelMembers)
}

// windowWordsOn is WindowWords on up to procs goroutines from minMembers
// members.
func (v *EventsView) windowWordsOn(out []uint64, values []string, from, to Day, within *roaring.Bitmap, procs, minMembers int) []uint64 {
	clear(out)
	if len(out) == 0 || (within != nil && within.IsEmpty()) {
		return out
	}
	if u := v.cachedUnion(values, from, to); u != nil {
		if !u.IsEmpty() {
			writeWords(out, u)
			if within != nil {
				andWith(out, within)
			}
		}
		return out
	}
	bms := v.windowBitmaps(values, from, to)
	if len(bms) == 0 {
		return out
	}
	var members uint64
	for _, b := range bms {
		members += b.GetCardinality()
	}
	if within != nil && within.GetCardinality() < members {
		// As in WindowWithin: a running result smaller than the days'
		// members cuts each day down first, so only its rows are set.
		parts := make([]*roaring.Bitmap, 0, len(bms))
		for _, b := range bms {
			if p := roaring.And(b, within); !p.IsEmpty() {
				parts = append(parts, p)
			}
		}
		orMembers(v.words, out, parts, nil)
		return out
	}
	orMembersOn(v.words, out, bms, members, procs, minMembers)
	if within != nil {
		andWith(out, within)
	}
	return out
}

// WindowWordsFromDays is WindowWords(out, values, from, to, nil) from the
// day bitmaps alone, on the calling goroutine: it neither reads the
// view's kept windows nor counts as a use of one (see WindowFree). For a
// caller that already keeps every core busy.
func (v *EventsView) WindowWordsFromDays(out []uint64, values []string, from, to Day) []uint64 {
	clear(out)
	if len(out) > 0 {
		orMembers(v.words, out, v.windowBitmaps(values, from, to), nil)
	}
	return out
}

// WindowCount is the number of profiles WindowWithin(values, from, to,
// nil) returns, counted without building them. The view remembers the
// count (see keptCache.countOf): a lookalike counts every value's window
// on every call.
func (v *EventsView) WindowCount(values []string, from, to Day) uint64 {
	if u := v.cachedUnion(values, from, to); u != nil {
		return u.GetCardinality()
	}
	return v.WindowCountQuiet(values, from, to)
}

// WindowCountQuiet is WindowCount without counting as a use of the
// window (the view keeps a window's union from its second use): for a
// caller that counts many windows, each once per call, such as a
// lookalike's candidates, which would otherwise have every union built
// and kept, pushing out those segment queries repeat. The view remembers
// the count. (Within a small set, see WindowCountDaysWithin.)
func (v *EventsView) WindowCountQuiet(values []string, from, to Day) uint64 {
	return v.windows.countOf(newWindowKey(values, from, to), func() uint64 {
		bms := v.windowBitmaps(values, from, to)
		switch len(bms) {
		case 0:
			return 0
		case 1:
			return bms[0].GetCardinality()
		}
		return unionCount(v.words, bms)
	})
}

// AtLeast returns the profiles with matching events on at least n distinct
// days in [from, to]. It adds each day's bitmap into bit-sliced counters
// (a ripple-carry adder over bitmaps) and compares the counters with n, so
// the cost depends on the window and the bitmaps, not on the profiles.
func (v *EventsView) AtLeast(values []string, n int, from, to Day) *roaring.Bitmap {
	return v.AtLeastWithin(values, n, from, to, nil)
}

// AtLeastWithin is AtLeast restricted to the rows of within (nil: all):
// each day's bitmap is cut down to within before it enters the counters.
func (v *EventsView) AtLeastWithin(values []string, n int, from, to Day, within *roaring.Bitmap) *roaring.Bitmap {
	if n <= 1 {
		return v.WindowWithin(values, from, to, within)
	}
	if u := v.cachedAtLeast(values, n, from, to); u != nil {
		if within == nil {
			return u.Clone() // the caller may write to what it gets
		}
		return roaring.And(u, within)
	}
	return v.atLeastWithin(values, n, from, to, within)
}

// AtLeastCount is the size of AtLeast(values, n, from, to), read from the
// kept result without a copy when the view keeps one: at 100M profiles a
// result of 11K rows spreads over 1,500 containers, and cloning them made
// a repeated count 300 µs where reading the count takes 2.
func (v *EventsView) AtLeastCount(values []string, n int, from, to Day) uint64 {
	if n <= 1 {
		return v.WindowCount(values, from, to)
	}
	if u := v.cachedAtLeast(values, n, from, to); u != nil {
		return u.GetCardinality()
	}
	return v.atLeastWithin(values, n, from, to, nil).GetCardinality()
}

// atLeastWithin is AtLeastWithin computed from the days (n ≥ 2).
func (v *EventsView) atLeastWithin(values []string, n int, from, to Day, within *roaring.Bitmap) *roaring.Bitmap {
	vals := v.pick(values)
	// Most AT LEAST questions are about one product over a few weeks:
	// day bitmaps with few members each. Counting rows directly is then
	// far cheaper than carrying counters as bitmaps day after day.
	var days []*roaring.Bitmap
	var members uint64
	dayBitmaps(vals, from, to, within, func(d *roaring.Bitmap) {
		days = append(days, d)
		members += d.GetCardinality()
	})
	if members*4 <= v.exist.GetCardinality() {
		return atLeastSparse(v.words, days, n, members)
	}
	if n <= maxSaturating {
		return atLeastSaturating(days, n)
	}
	var counters []*roaring.Bitmap // counters[i] = bit i of each profile's day count
	any := roaring.New()
	for _, d := range days {
		any.Or(d)
		carry := d.Clone() // d may be the index's own bitmap
		for i := 0; !carry.IsEmpty(); i++ {
			if i == len(counters) {
				counters = append(counters, carry)
				break
			}
			next := roaring.And(counters[i], carry)
			counters[i].Xor(carry)
			carry = next
		}
	}
	if len(counters) < 64 && uint64(n)>>len(counters) != 0 {
		return roaring.New() // no profile can reach n
	}
	return compareSlices(counters, any, GE, uint64(n))
}

// AtMost returns the profiles of universe with matching events on at most
// n distinct days in [from, to], including those with none.
func (v *EventsView) AtMost(universe *roaring.Bitmap, values []string, n int, from, to Day) *roaring.Bitmap {
	if n < 0 {
		return roaring.New()
	}
	return roaring.AndNot(universe, v.AtLeast(values, n+1, from, to))
}

// AtMostWithin is AtMost over the rows of within (the running
// intersection of an AND): counting is restricted to them too.
func (v *EventsView) AtMostWithin(within *roaring.Bitmap, values []string, n int, from, to Day) *roaring.Bitmap {
	if n < 0 {
		return roaring.New()
	}
	return roaring.AndNot(within, v.AtLeastWithin(values, n+1, from, to, within))
}

// EverWithin is Ever restricted to the rows of within (nil: all).
// Each all-time bitmap is cut down to within before the union, so no
// copy of a whole all-time bitmap is made.
func (v *EventsView) EverWithin(values []string, within *roaring.Bitmap) *roaring.Bitmap {
	switch {
	case within == nil:
		return v.Ever(values)
	case len(values) == 0:
		return roaring.And(v.exist, within)
	}
	vals := v.pick(values)
	parts := make([]*roaring.Bitmap, len(vals))
	for i, ev := range vals {
		parts[i] = roaring.And(ev.all, within)
	}
	return roaring.FastOr(parts...)
}

// Count returns how many profiles have an event of value on a kept day,
// from the all-time bitmap's stored counts (no copy).
func (v *EventsView) Count(value string) uint64 {
	if id, ok := v.dict.ids[value]; ok {
		return v.vals[id].all.GetCardinality()
	}
	return 0
}

// RowDays lists, for one profile, the days of each value it has events on
// (value -> sorted days), for reading a profile back.
func (v *EventsView) RowDays(row uint32) map[string][]Day {
	out := map[string][]Day{}
	if !v.exist.Contains(row) {
		return out
	}
	for i, ev := range v.vals {
		if !ev.all.Contains(row) {
			continue
		}
		var days []Day
		for j, b := range ev.days {
			if b != nil && b.Contains(row) {
				days = append(days, ev.first+Day(j))
			}
		}
		slices.Sort(days)
		out[v.dict.names[i]] = days
	}
	return out
}

// maxSaturating is the largest n counted with saturating counters.
const maxSaturating = 4

// dayBitmaps calls each, for every day in [from, to] with a matching
// event, with the profiles that had one (a day counts once however many
// values matched), restricted to within. The window is first clipped to
// the days that hold events, so an open window ("ever") walks only the
// days kept. The bitmap passed may be the index's own: each must not
// change it.
func dayBitmaps(vals []*eventValueView, from, to Day, within *roaring.Bitmap, each func(*roaring.Bitmap)) {
	lo, hi := to, from
	for _, ev := range vals {
		if len(ev.days) > 0 {
			lo, hi = min(lo, ev.first), max(hi, ev.first+Day(len(ev.days))-1)
		}
	}
	lo, hi = max(lo, from), min(hi, to)
	perDay := make([]*roaring.Bitmap, 0, len(vals))
	for d := lo; d <= hi; d++ {
		perDay = perDay[:0]
		for _, ev := range vals {
			if d >= ev.first && d < ev.first+Day(len(ev.days)) {
				if b := ev.days[d-ev.first]; b != nil {
					perDay = append(perDay, b)
				}
			}
		}
		switch {
		case len(perDay) == 0:
			continue
		case len(perDay) == 1 && within != nil:
			each(roaring.And(perDay[0], within))
		case len(perDay) == 1:
			each(perDay[0]) // shared: callers only read it
		default:
			b := roaring.FastOr(perDay...)
			if within != nil {
				b.And(within)
			}
			each(b)
		}
	}
}

// atLeastSparse returns the rows found in at least n of days (each a
// day's distinct profiles) by sorting all their members and keeping the
// rows that repeat n times: work in proportion to the members, not to the
// containers of n counter bitmaps per day. The members and the sort's
// second array come from wp (see WordPool.GetRows).
func atLeastSparse(wp *WordPool, days []*roaring.Bitmap, n int, members uint64) *roaring.Bitmap {
	rows, tmp := wp.GetRows(int(members)), wp.GetRows(int(members))
	defer wp.PutRows(rows)
	defer wp.PutRows(tmp)
	k := 0
	for _, d := range days {
		// Each day's members go straight into their place in rows: the
		// counts add up to members, so every NextMany has room.
		it := d.ManyIterator()
		for m := it.NextMany(rows[k:]); m > 0; m = it.NextMany(rows[k:]) {
			k += m
		}
	}
	rows = rows[:k]
	radix.Sort(rows, tmp)
	var out []uint32
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j] == rows[i] {
			j++
		}
		if j-i >= n {
			out = append(out, rows[i])
		}
		i = j
	}
	r := roaring.New()
	r.AddMany(out)
	return r
}

// atLeastSaturating keeps ge[k] = profiles with at least k+1 matching
// days so far, for k < n: a day D moves ge[k-1] ∩ D up into ge[k]. For
// small n this is n operations a day with nothing carried further.
func atLeastSaturating(days []*roaring.Bitmap, n int) *roaring.Bitmap {
	ge := make([]*roaring.Bitmap, n)
	for k := range ge {
		ge[k] = roaring.New()
	}
	for _, d := range days {
		for k := n - 1; k >= 1; k-- {
			if !ge[k-1].IsEmpty() {
				ge[k].Or(roaring.And(ge[k-1], d))
			}
		}
		ge[0].Or(d)
	}
	return ge[n-1]
}
