package exec

import (
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/internal/wordops"
	"github.com/cohortdb/cohort/query"
)

// count answers the cardinality of n, avoiding materialisation at the top.
func (ev *evaluator) count(n *query.Node) (uint64, error) {
	if err := ev.ctx.Err(); err != nil {
		return 0, err
	}
	switch n.Op {
	case query.NodeAll:
		return ev.q.sn.Profiles(), nil
	case query.NodeEmpty:
		return 0, nil
	case query.NodeNot:
		c, err := ev.count(n.Children[0])
		return ev.q.sn.Profiles() - c, err
	case query.NodeAnd:
		if n.Shared {
			break
		}
		return ev.countAnd(n)
	case query.NodeLeaf:
		if n.Shared || ev.trace {
			break
		}
		if c, ok := ev.countLeaf(n.Leaf); ok {
			return c, nil
		}
	}
	b, _, err := ev.eval(n)
	if err != nil {
		return 0, err
	}
	return b.GetCardinality(), nil
}

// countLeaf counts a condition without building its profiles where that
// is cheaper, and reports whether it did.
func (ev *evaluator) countLeaf(p query.Pred) (uint64, bool) {
	switch p := p.(type) {
	case *query.PredTag:
		return tagCount(ev.field(p.Field.Name), p), true
	case *query.PredEvent:
		from, to := ev.eventDays(p)
		events := ev.field(p.Field.Name).Events
		switch {
		case p.Freq == nil && p.Window != nil:
			// From the days' union, never built as a bitmap.
			if from > to {
				return 0, true
			}
			return events.WindowCount(p.Values, clampDay(from), clampDay(to)), true
		case p.Freq != nil && p.Freq.AtLeast:
			if from > to {
				return 0, true
			}
			return events.AtLeastCount(p.Values, int(min(p.Freq.N, math.MaxInt32)), clampDay(from), clampDay(to)), true
		case p.Freq != nil && !p.Freq.AtLeast:
			// AT MOST n is every profile but those with n+1 days or more:
			// count that small set instead of building the large one.
			rows := ev.q.sn.Profiles()
			switch {
			case p.Freq.N < 0:
				return 0, true
			case from > to:
				return rows, true
			}
			next := int(min(p.Freq.N, math.MaxInt32-1)) + 1
			return rows - events.AtLeast(p.Values, next, clampDay(from), clampDay(to)).GetCardinality(), true
		}
	}
	if c, ok := countSet(ev, p); ok {
		return c, true
	}
	return ev.countRange(p, nil)
}

// tagCount counts a tag condition (IN, or NOT IN with Negated) from its
// values' stored counts: a tag field's values are disjoint (one per
// profile), so an IN list is the sum of its values' counts, and NOT IN
// the profiles with a value less that.
func tagCount(fv *engine.FieldView, p *query.PredTag) uint64 {
	var n uint64
	for _, v := range p.Values {
		n += fv.Values.Count(v)
	}
	if p.Negated {
		exist := fv.Exists().GetCardinality()
		return exist - min(n, exist)
	}
	return n
}

// countSet counts HAS ANY / HAS ALL of two values on a set field from the
// values' bitmaps without building the union or the intersection:
// |A ∩ B| is AndCardinality, and |A ∪ B| = |A| + |B| − |A ∩ B|. A HAS
// ANY the view keeps the union of (from its second use, as an IN list
// or a range) is its union's size: the intersection of two dense values
// reads both (1.7 times the floor at 10M, 2 at 100M, the floor counting
// the union as computed).
func countSet(ev *evaluator, p query.Pred) (uint64, bool) {
	ps, ok := p.(*query.PredSet)
	if !ok {
		return 0, false
	}
	if b := ev.keptUnion(p); b != nil {
		return b.GetCardinality(), true
	}
	values := ev.field(ps.Field.Name).Values
	bs := make([]*roaring.Bitmap, 0, 2)
	for _, v := range ps.Values {
		b := values.Bitmap(v)
		switch {
		case b != nil:
			bs = append(bs, b)
		case ps.Mode == query.HasAll:
			return 0, true // a value no profile holds
		}
	}
	switch {
	case len(bs) == 0:
		return 0, true
	case len(bs) == 1:
		return bs[0].GetCardinality(), true
	case len(bs) > 2:
		return 0, false
	case ps.Mode == query.HasAll:
		return bs[0].AndCardinality(bs[1]), true
	}
	return bs[0].GetCardinality() + bs[1].GetCardinality() - bs[0].AndCardinality(bs[1]), true
}

// countRange counts a numeric or date range condition within (nil: all)
// from the bit-sliced index's dense kernels, without building its
// profiles, and reports whether p is such a condition.
func (ev *evaluator) countRange(p query.Pred, within *roaring.Bitmap) (uint64, bool) {
	if b := ev.keptRange(p); b != nil {
		n := b.GetCardinality()
		if within != nil {
			n = b.AndCardinality(within)
		}
		if pb, ok := p.(*query.PredBetween); ok && pb.Negated {
			if within != nil {
				return ev.field(pb.Field.Name).Exists().AndCardinality(within) - n, true
			}
			return ev.field(pb.Field.Name).Exists().GetCardinality() - n, true
		}
		return n, true
	}
	switch p := p.(type) {
	case *query.PredCompare:
		return ev.field(p.Field.Name).BSI.CountCompareWithin(indexOps[p.Op], p.Value, within), true
	case *query.PredBetween:
		fv := ev.field(p.Field.Name)
		n := fv.BSI.CountBetweenWithin(p.Lo, p.Hi, within)
		if !p.Negated {
			return n, true
		}
		if within != nil {
			return fv.Exists().AndCardinality(within) - n, true
		}
		return fv.Exists().GetCardinality() - n, true
	case *query.PredWindow:
		lo, hi := windowDays(&p.Window, int64(ev.q.now))
		return ev.field(p.Field.Name).BSI.CountBetweenWithin(lo, hi, within), true
	}
	return 0, false
}

// countAnd runs all but the last step, then counts the last one without
// building it: AndCardinality for a lookup, the restricted result's size
// for a computed term, the running size minus the overlap for a
// subtraction.
func (ev *evaluator) countAnd(n *query.Node) (uint64, error) {
	steps := andSteps(n, ev.computedNode)
	if len(steps) == 1 {
		return ev.count(steps[0].node)
	}
	if !ev.trace {
		if c, ok := ev.countDense(steps); ok {
			return c, nil
		}
		if c, ok, err := ev.countFused(steps); ok || err != nil {
			return c, err
		}
		if c, ok, err := ev.countLookups(steps); ok || err != nil {
			return c, err
		}
	}
	acc, owned, err := ev.eval(steps[0].node)
	if err != nil {
		return 0, err
	}
	last := len(steps) - 1
	for _, st := range steps[1:last] {
		if acc.IsEmpty() {
			return 0, nil
		}
		if acc, owned, err = ev.andStep(acc, owned, st); err != nil {
			return 0, err
		}
	}
	if acc.IsEmpty() {
		return 0, nil
	}
	st := steps[last]
	if pushable(st.node) && !ev.trace {
		// The dense kernels count a range inside acc faster than
		// roaring's operations on its rows, going word by word to acc's
		// rows when it holds few (index.CountAll).
		if c, ok := ev.rangeCond(st); ok {
			return index.CountAll(ev.pool(), acc, []index.RangeCond{c}), nil
		}
		if c, ok := ev.countRange(st.node.Leaf, acc); ok {
			if st.minus {
				return acc.GetCardinality() - c, nil
			}
			return c, nil
		}
	}
	if pushable(st.node) {
		var c uint64
		if p := windowPred(st.node); p != nil && !ev.trace {
			// Counted inside acc from the window's kept union when there
			// is one, without building the restricted window.
			c = ev.windowCountWithin(p, acc)
		} else {
			b, _, err := ev.evalWithin(st.node, acc)
			if err != nil {
				return 0, err
			}
			c = b.GetCardinality()
		}
		if st.minus {
			return acc.GetCardinality() - c, nil
		}
		return c, nil
	}
	if p := inList(st.node); p != nil && !ev.trace {
		var n uint64
		if u := ev.keptUnion(p); u != nil {
			n = acc.AndCardinality(u)
		} else {
			values := ev.field(p.Field.Name).Values
			for _, v := range p.Values {
				if b := values.Bitmap(v); b != nil {
					n += acc.AndCardinality(b)
				}
			}
		}
		if st.minus {
			return acc.GetCardinality() - n, nil
		}
		return n, nil
	}
	b, _, err := ev.eval(st.node)
	if err != nil {
		return 0, err
	}
	if st.minus {
		return acc.GetCardinality() - acc.AndCardinality(b), nil
	}
	return acc.AndCardinality(b), nil
}

// countFused counts an AND holding numeric or date ranges: the other
// terms are intersected as usual, then every range is answered inside
// that intersection in one pass over the bit-sliced indexes' dense form
// (index.CountAll), block by block, without building a bitmap for any
// range. Event windows (with no frequency) join the ranges: each
// window's days are ORed into plain words and cut to the intersection
// (index.EventsView.WindowWords), and the ranges are counted inside those
// words (index.CountAllWords), so no bitmap is built for a window
// either. It reports whether the AND had a range to do this with.
func (ev *evaluator) countFused(steps []step) (uint64, bool, error) {
	var conds []index.RangeCond
	var windows []*query.PredEvent
	var rest []step
	for _, st := range steps {
		if c, ok := ev.rangeCond(st); ok {
			conds = append(conds, c)
		} else if p := plainWindow(st); p != nil {
			windows = append(windows, p)
		} else {
			rest = append(rest, st)
		}
	}
	// Other computed terms (AT LEAST, NOT a window, ...) are cheaper
	// inside the ranges' result than outside it: keep the step by step
	// order then.
	if len(conds) == 0 || slices.ContainsFunc(rest, ev.computed) {
		return 0, false, nil
	}
	if len(windows) > 0 && (!denseWindows(ev.windowMembers(windows), index.CondWords(conds)) || ev.sparseCached(windows, index.CondWords(conds))) {
		return 0, false, nil
	}
	if len(rest) > 0 && ev.denseEstimate(rest, index.CondWords(conds)) {
		sets, release, err := ev.wordSets(rest)
		if err != nil {
			return 0, true, err
		}
		defer release()
		return ev.countSetsRanges(sets, windows, conds), true, nil
	}
	var acc *roaring.Bitmap
	if len(rest) > 0 {
		var err error
		if acc, err = ev.intersect(rest); err != nil {
			return 0, true, err
		}
		if acc.IsEmpty() {
			return 0, true, nil
		}
	}
	if len(windows) == 0 {
		return index.CountAll(ev.pool(), acc, conds), true, nil
	}
	return ev.countWindowsRanges(acc, windows, conds), true, nil
}

// countDense counts an AND whose every term is dense and held as words
// (a dense tag or set value, a kept range, IN list or window union; see
// denseTerm) a block at a time over the words, as the benchmarks' floor
// does (wordops.CountAnd): no bitmap is built, where roaring's AND
// allocates a container per chunk of its result (at 10M profiles, 1.3 MB
// a count, and its collection cost more than the AND itself). It reports
// whether the AND qualified.
func (ev *evaluator) countDense(steps []step) (uint64, bool) {
	sets := make([][]uint64, 0, len(steps)+2)
	minus := make([]bool, 0, len(steps)+2)
	for _, st := range steps {
		pos, ok := ev.denseTerm(st.node)
		if !ok || (st.minus && len(pos) != 1) {
			// (NOT a AND b inside an AND is not one subtraction.)
			return 0, false
		}
		for _, w := range pos {
			sets, minus = append(sets, w), append(minus, st.minus)
		}
	}
	first := slices.Index(minus, false)
	if first < 0 || len(sets) < 3 {
		// Two sets are one roaring AndCardinality (or a difference of
		// two), which builds nothing and skips absent containers.
		return 0, false
	}
	sets[0], sets[first] = sets[first], sets[0]
	minus[0], minus[first] = minus[first], minus[0]
	var buf [wordops.BlockWords]uint64
	return uint64(wordops.CountAnd(sets, minus, buf[:])), true
}

// countLookups counts an AND of lookups and event windows holding an IN
// list or a window the snapshot does not keep (a first count of it) in
// word space when the result is dense: the list's values are ORed a
// block at a time as the other terms are ANDed, a window's days are ORed
// into words from the pool (wordSets, index.CountSets), where the step
// by step path built the list's union or the window's as a bitmap first.
// It reports whether the AND qualified.
func (ev *evaluator) countLookups(steps []step) (uint64, bool, error) {
	words := int(ev.q.sn.Rows())/64 + 1
	fresh := false
	for _, st := range steps {
		if p := windowPred(st.node); p != nil {
			from, to := ev.eventDays(p)
			if _, kept := ev.field(p.Field.Name).Events.CachedWindow(p.Values, clampDay(from), clampDay(to)); !kept && from <= to {
				fresh = true
			}
			continue
		}
		if ev.computed(st) {
			return 0, false, nil
		}
		if p := inList(st.node); p != nil && !st.minus && ev.keptUnion(p) == nil {
			fresh = true
		}
	}
	if !fresh || !ev.denseEstimate(steps, words) {
		return 0, false, nil
	}
	sets, release, err := ev.wordSets(steps)
	if err != nil {
		return 0, true, err
	}
	defer release()
	n, ok := index.CountSets(sets, words)
	return n, ok, nil
}

// denseTerm returns a leaf's profiles as dense words: the rows in every
// array of pos. It reports false for a leaf not held that way (sparse, not
// kept, computed): the AND is then counted as usual.
func (ev *evaluator) denseTerm(n *query.Node) (pos [][]uint64, ok bool) {
	if n.Op != query.NodeLeaf || n.Shared {
		return nil, false
	}
	one := func(w []uint64) ([][]uint64, bool) { return [][]uint64{w}, w != nil }
	switch p := n.Leaf.(type) {
	case *query.PredTag:
		if p.Negated {
			// Not under an AND: the planner splits != and NOT IN into
			// IS NOT NULL minus the values.
			return nil, false
		}
		values := ev.field(p.Field.Name).Values
		if len(p.Values) == 1 {
			return one(values.DenseWords(p.Values[0]))
		}
		if ev.keptUnion(p) != nil {
			return one(values.KeptUnionWords(p.Values))
		}
	case *query.PredNull:
		// IS NOT NULL of a tag or set field (!= is planned as it AND
		// NOT the value).
		if values := ev.field(p.Field.Name).Values; values != nil && p.Negated {
			return one(values.DenseExistWords())
		}
	case *query.PredSet:
		values := ev.field(p.Field.Name).Values
		if len(p.Values) == 1 {
			return one(values.DenseWords(p.Values[0]))
		}
		if p.Mode == query.HasAll {
			for _, v := range p.Values {
				w := values.DenseWords(v)
				if w == nil {
					return nil, false
				}
				pos = append(pos, w)
			}
			return pos, true
		}
		if ev.keptUnion(p) != nil {
			return one(values.KeptUnionWords(p.Values))
		}
	case *query.PredCompare:
		if ev.keptRange(p) != nil {
			if lo, hi, ok := index.CompareBounds(indexOps[p.Op], p.Value); ok {
				return one(ev.field(p.Field.Name).BSI.KeptRangeWords(lo, hi))
			}
		}
	case *query.PredBetween:
		if !p.Negated && ev.keptRange(p) != nil {
			return one(ev.field(p.Field.Name).BSI.KeptRangeWords(p.Lo, p.Hi))
		}
	case *query.PredWindow:
		if ev.keptRange(p) != nil {
			lo, hi := windowDays(&p.Window, int64(ev.q.now))
			return one(ev.field(p.Field.Name).BSI.KeptRangeWords(lo, hi))
		}
	case *query.PredEvent:
		if p.Freq == nil && p.Window != nil && !ev.q.fresh {
			if from, to := ev.eventDays(p); from <= to {
				return one(ev.field(p.Field.Name).Events.KeptWindowWords(p.Values, clampDay(from), clampDay(to)))
			}
		}
	}
	return nil, false
}

// denseEstimate reports whether the planner expects the intersection of
// steps to hold at least one row in sparseShare of the words the ranges
// span: the ranges are then counted over words (index.CountAllWords), so
// the intersection is combined there too (wordSets). Below, roaring's
// operations on the rows and index.CountAll's row-by-row path win.
func (ev *evaluator) denseEstimate(steps []step, words int) bool {
	const sparseShare = 128 // as index.CountAll's
	total := float64(ev.q.sn.Profiles())
	if total == 0 || words == 0 {
		return false
	}
	est := total
	for _, st := range steps {
		f := min(float64(st.node.Est)/total, 1)
		if st.minus {
			f = 1 - f
		}
		est *= f
	}
	return est*sparseShare >= float64(words)*64
}

// wordSets returns the steps as word sets, none of them built as a
// bitmap: a value, range, IN list or window held as words (denseTerm) is
// read where it lies; an IN list's mirrored values form a group read the
// same way, and its other values are written into one array; a window's
// days are ORed into an array; any other lookup is written into an
// array. The ranges are then counted with each block of the intersection
// combined just before they read it (index.CountAllSets), so the
// intersection is never written out whole.
// The arrays written come from the pool; release returns them.
func (ev *evaluator) wordSets(steps []step) (ws index.WordSets, release func(), err error) {
	words := int(ev.q.sn.Rows())/64 + 1
	pool := ev.pool()
	var held [][]uint64
	release = func() {
		for _, w := range held {
			pool.Put(w)
		}
	}
	get := func() []uint64 {
		w := pool.Get(words)
		held = append(held, w)
		return w
	}
	add := func(minus bool, w ...[]uint64) {
		if minus {
			ws.AndNot = append(ws.AndNot, w...)
		} else {
			ws.And = append(ws.And, w...)
		}
	}
	for _, st := range steps {
		if err := ev.ctx.Err(); err != nil {
			release()
			return ws, nil, err
		}
		// (NOT a AND b inside an AND is not one subtraction.)
		if pos, ok := ev.denseTerm(st.node); ok && (!st.minus || len(pos) == 1) {
			add(st.minus, pos...)
			continue
		}
		if p := inList(st.node); p != nil && ev.keptUnion(p) == nil {
			values := ev.field(p.Field.Name).Values
			var group [][]uint64
			var rest []*roaring.Bitmap
			for _, v := range p.Values {
				b := values.Bitmap(v)
				if b == nil {
					continue // no profile ever held it
				}
				if w := values.DenseWords(v); w != nil {
					group = append(group, w)
				} else {
					rest = append(rest, b)
				}
			}
			if len(rest) > 0 {
				scratch := pool.Get(words)
				u := get()
				index.UnionWordsTo(u, scratch, rest)
				pool.Put(scratch)
				group = append(group, u)
			}
			switch {
			case st.minus:
				// NOT (a OR b) is AND NOT a AND NOT b.
				add(true, group...)
			case len(group) == 1:
				add(false, group[0])
			default:
				// An empty group (no value held) empties the AND.
				ws.AnyOf = append(ws.AnyOf, group)
			}
			continue
		}
		if p := windowPred(st.node); p != nil {
			// The days ORed straight into words (or the kept union
			// written out): no bitmap built for the window.
			w := get()
			if from, to := ev.eventDays(p); from <= to {
				ev.field(p.Field.Name).Events.WindowWords(w, p.Values, clampDay(from), clampDay(to), nil)
			} else {
				clear(w)
			}
			add(st.minus, w)
			continue
		}
		b, _, err := ev.eval(st.node)
		if err != nil {
			release()
			return ws, nil, err
		}
		w := get()
		index.WriteWordsTo(w, b)
		add(st.minus, w)
	}
	if len(ws.And)+len(ws.AnyOf) == 0 {
		// Only subtractions: from every profile.
		w := get()
		index.WriteWordsTo(w, ev.all())
		ws.And = append(ws.And, w)
	}
	return ws, release, nil
}

// countSetsRanges counts the rows of sets in every window that satisfy
// every range; each window's words join the sets.
func (ev *evaluator) countSetsRanges(sets index.WordSets, windows []*query.PredEvent, conds []index.RangeCond) uint64 {
	words := index.CondWords(conds)
	for _, p := range windows {
		from, to := ev.eventDays(p)
		if from > to {
			return 0
		}
		w := ev.pool().Get(words)
		defer ev.pool().Put(w)
		sets.And = append(sets.And, ev.field(p.Field.Name).Events.WindowWords(w, p.Values, clampDay(from), clampDay(to), nil))
	}
	return index.CountAllSets(ev.pool(), sets, conds)
}

// windowPred returns the condition of a node that is an event window
// with no frequency, or nil.
func windowPred(n *query.Node) *query.PredEvent {
	if n.Op != query.NodeLeaf || n.Shared {
		return nil
	}
	if p, ok := n.Leaf.(*query.PredEvent); ok && p.Freq == nil && p.Window != nil {
		return p
	}
	return nil
}

// windowCountWithin counts window p inside acc.
func (ev *evaluator) windowCountWithin(p *query.PredEvent, acc *roaring.Bitmap) uint64 {
	from, to := ev.eventDays(p)
	if from > to {
		return 0
	}
	return ev.field(p.Field.Name).Events.WindowCountWithin(p.Values, clampDay(from), clampDay(to), acc)
}

// plainWindow returns the condition of a step that intersects with an
// event window with no frequency ("did X in the last 90 days"), or nil.
func plainWindow(st step) *query.PredEvent {
	if st.minus || !pushable(st.node) {
		return nil
	}
	if p, ok := st.node.Leaf.(*query.PredEvent); ok && p.Freq == nil && p.Window != nil {
		return p
	}
	return nil
}

// countWindowsRanges counts the rows of acc (nil: every row) in every
// window that satisfy every range, in word space: only the words the
// ranges' fields span are kept, since no row past them has a value.
func (ev *evaluator) countWindowsRanges(acc *roaring.Bitmap, windows []*query.PredEvent, conds []index.RangeCond) uint64 {
	words := index.CondWords(conds)
	var cur []uint64
	for _, p := range windows {
		from, to := ev.eventDays(p)
		if from > to {
			return 0
		}
		events := ev.field(p.Field.Name).Events
		if cur == nil {
			cur = events.WindowWords(ev.pool().Get(words), p.Values, clampDay(from), clampDay(to), acc)
			defer ev.pool().Put(cur)
			continue
		}
		w := events.WindowWords(ev.pool().Get(words), p.Values, clampDay(from), clampDay(to), nil)
		wordops.And(cur, w)
		ev.pool().Put(w)
	}
	return index.CountAllWords(cur, conds)
}

// windowMembers returns, per window, the members of the days it reads
// (index.EventsView.WindowMembers); none for a window with no days.
func (ev *evaluator) windowMembers(windows []*query.PredEvent) []uint64 {
	out := make([]uint64, len(windows))
	for i, p := range windows {
		if from, to := ev.eventDays(p); from <= to {
			out[i] = ev.field(p.Field.Name).Events.WindowMembers(p.Values, clampDay(from), clampDay(to))
		}
	}
	return out
}

// sparseCached reports whether some window's union is cached (a window
// asked for before on this snapshot) and holds fewer than one row in 16
// of words words: intersecting that bitmap with the running result, step
// by step, then costs less than writing anything out as words.
func (ev *evaluator) sparseCached(windows []*query.PredEvent, words int) bool {
	for _, p := range windows {
		from, to := ev.eventDays(p)
		if from > to {
			continue
		}
		if n, ok := ev.field(p.Field.Name).Events.CachedWindow(p.Values, clampDay(from), clampDay(to)); ok && n < uint64(words)*4 {
			return true
		}
	}
	return false
}

// denseWindows reports whether every window has members enough to pay
// for passes over words words: with fewer than one member per 256 rows
// (as for a dense union, see index.unionMany), the days' bitmaps are
// cheaper to OR and cut with roaring's operations, on the step by step
// path.
func denseWindows(members []uint64, words int) bool {
	for _, m := range members {
		if m < uint64(words)/4 {
			return false
		}
	}
	return true
}

// rangeCond returns a step that intersects with a numeric or date range
// in the form index.CountAll takes.
func (ev *evaluator) rangeCond(st step) (index.RangeCond, bool) {
	if st.minus || !ev.computed(st) {
		return index.RangeCond{}, false
	}
	switch p := st.node.Leaf.(type) {
	case *query.PredCompare:
		return ev.field(p.Field.Name).BSI.CompareCond(indexOps[p.Op], p.Value)
	case *query.PredBetween:
		if !p.Negated {
			return ev.field(p.Field.Name).BSI.BetweenCond(p.Lo, p.Hi)
		}
	case *query.PredWindow:
		lo, hi := windowDays(&p.Window, int64(ev.q.now))
		return ev.field(p.Field.Name).BSI.BetweenCond(lo, hi)
	}
	return index.RangeCond{}, false
}
