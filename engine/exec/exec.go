package exec

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/internal/wordops"
	"github.com/cohortdb/cohort/query"
)

// Saved is a saved segment: a query (dynamic) or a fixed member list
// (materialised, as rows of the dataset).
type Saved struct {
	Query   string
	Members *roaring.Bitmap
}

// Segments resolves SEGMENT('name') references.
type Segments interface {
	Segment(name string) (Saved, bool)
}

// Options configure compilation and execution.
type Options struct {
	// Now is the day relative windows end on; nil means today in the
	// dataset's time zone (as of the snapshot).
	Now *schema.Day
	// Segments resolves saved segments; nil means none exist.
	Segments Segments
	// Limits bound the query text; zero fields take the defaults.
	Limits query.Limits
	// AnyValue turns off the check of tag, set and event values against
	// the values the dataset holds (an unknown value then matches nobody
	// instead of being an error with suggestions).
	AnyValue bool
	// Fresh computes every range and event window from the index, as on
	// a snapshot seen for the first time: results the views keep are
	// neither read nor filled. For measuring a first count beside a
	// repeated one; answers are the same either way.
	Fresh bool
}

// Query is a compiled query bound to one snapshot.
type Query struct {
	Text    string
	Checked *query.Checked
	Plan    *query.Plan
	sn      *engine.Snapshot
	now     schema.Day
	// schema and dataset identify what the plan was checked against, so
	// Rebind can tell whether it still applies.
	schema  *schema.Schema
	dataset string
	// fresh is Options.Fresh.
	fresh bool
	// segments holds the compiled saved segments this query uses,
	// transitively, by name.
	segments map[string]*compiledSegment
}

type compiledSegment struct {
	members *roaring.Bitmap // materialised
	query   *Query          // dynamic
}

// Compile parses, checks and plans text against the snapshot.
func Compile(sn *engine.Snapshot, text string, opts Options) (*Query, error) {
	now := sn.Today()
	if opts.Now != nil {
		now = *opts.Now
	}
	segs := map[string]*compiledSegment{}
	q, err := compile(sn, text, opts, now, segs, nil)
	if err != nil {
		return nil, err
	}
	return q, nil
}

func compile(sn *engine.Snapshot, text string, opts Options, now schema.Day, segs map[string]*compiledSegment, path []string) (*Query, error) {
	qo := query.Options{Limits: opts.Limits}
	if !opts.AnyValue {
		qo.Values = catalog{sn}
	}
	checked, err := query.Compile(text, catalog{sn}, qo)
	if err != nil {
		return nil, err
	}
	q := &Query{Text: text, Checked: checked, sn: sn, schema: sn.Schema(), dataset: sn.Dataset(), now: now, segments: segs, fresh: opts.Fresh}
	if err := q.resolveSegments(checked.Root, opts, path); err != nil {
		return nil, err
	}
	q.Plan = query.NewPlan(checked, stats{sn: sn, now: int64(now), segs: segs})
	return q, nil
}

// resolveSegments compiles every saved segment the query refers to,
// depth first, and refuses cycles.
func (q *Query) resolveSegments(p query.Pred, opts Options, path []string) error {
	var err error
	visit(p, func(p query.Pred) {
		ref, ok := p.(*query.PredSegment)
		if !ok || err != nil {
			return
		}
		err = q.resolveSegment(ref, opts, path)
	})
	return err
}

func (q *Query) resolveSegment(ref *query.PredSegment, opts Options, path []string) error {
	pos := ref.Position()
	if i := slices.Index(path, ref.Name); i >= 0 {
		cycle := strings.Join(append(slices.Clone(path[i:]), ref.Name), " → ")
		return &query.Error{Line: pos.Line, Column: pos.Column, Offset: pos.Offset,
			Msg: fmt.Sprintf("segment '%s' refers to itself: %s", ref.Name, cycle)}
	}
	if _, done := q.segments[ref.Name]; done {
		return nil
	}
	var saved Saved
	ok := opts.Segments != nil
	if ok {
		saved, ok = opts.Segments.Segment(ref.Name)
	}
	if !ok {
		return &query.Error{Line: pos.Line, Column: pos.Column, Offset: pos.Offset,
			Msg: fmt.Sprintf("unknown segment '%s'", ref.Name)}
	}
	if saved.Members != nil {
		q.segments[ref.Name] = &compiledSegment{members: saved.Members}
		return nil
	}
	sub, err := compile(q.sn, saved.Query, opts, q.now, q.segments, append(path, ref.Name))
	if err != nil {
		// Point at the reference in the text the user wrote, not inside
		// the saved segment's own text.
		msg := fmt.Sprintf("saved segment '%s' no longer compiles: %v", ref.Name, err)
		var qe *query.Error
		if asQueryError(err, &qe) && strings.Contains(qe.Msg, "refers to itself") {
			msg = qe.Msg
		}
		return &query.Error{Line: pos.Line, Column: pos.Column, Offset: pos.Offset, Msg: msg}
	}
	q.segments[ref.Name] = &compiledSegment{query: sub}
	return nil
}

func asQueryError(err error, target **query.Error) bool {
	qe, ok := err.(*query.Error)
	if ok {
		*target = qe
	}
	return ok
}

// visit calls f on every node of a checked tree.
func visit(p query.Pred, f func(query.Pred)) {
	f(p)
	switch p := p.(type) {
	case *query.PredAnd:
		for _, t := range p.Terms {
			visit(t, f)
		}
	case *query.PredOr:
		for _, t := range p.Terms {
			visit(t, f)
		}
	case *query.PredNot:
		visit(p.X, f)
	}
}

// Now is the day relative windows end on.
func (q *Query) Now() schema.Day { return q.now }

// Count returns how many profiles match, without materialising the
// result where the plan allows.
func (q *Query) Count(ctx context.Context) (uint64, error) {
	ev := q.evaluator(ctx, false)
	return ev.count(q.Plan.Root)
}

// Bitmap returns the matching profiles as a new bitmap owned by the caller.
func (q *Query) Bitmap(ctx context.Context) (*roaring.Bitmap, error) {
	ev := q.evaluator(ctx, false)
	b, owned, err := ev.eval(q.Plan.Root)
	if err != nil {
		return nil, err
	}
	if !owned {
		b = b.Clone()
	}
	return b, nil
}

func (q *Query) evaluator(ctx context.Context, trace bool) *evaluator {
	return &evaluator{q: q, ctx: ctx, cache: map[string]*roaring.Bitmap{}, trace: trace}
}

// evaluator runs one plan once.
type evaluator struct {
	q     *Query
	ctx   context.Context
	cache map[string]*roaring.Bitmap // results of shared nodes (read-only)
	trace bool
	spans map[*query.Node]*span
	// kept memoises keptRange: one evaluation is one use of a range, how
	// often it looks.
	kept map[query.Pred]*roaring.Bitmap
}

type span struct {
	actual uint64
	took   time.Duration
	kept   bool // read from a kept range or window (see keptUsed)
}

func (ev *evaluator) all() *roaring.Bitmap { return ev.q.sn.All() }

// pool lends the word arrays of counts in word space.
func (ev *evaluator) pool() *index.WordPool { return ev.q.sn.WordPool() }

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
		// A tag field's values are disjoint (one per profile), so an IN
		// list counts as the sum of its values' counts.
		fv := ev.field(p.Field.Name)
		var c uint64
		for _, v := range p.Values {
			c += fv.Values.Count(v)
		}
		if p.Negated {
			return fv.Exists().GetCardinality() - c, true
		}
		return c, true
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

// keptRange returns the profiles of a range condition's interval (a
// comparison other than !=, BETWEEN ignoring its NOT, a date window) if
// the field's view keeps them, shared and read-only, or nil: a range
// asked for again on a snapshot is built once and then read like a tag
// value's bitmap (index.BSIView.KeptRange). Callers apply BETWEEN's NOT.
func (ev *evaluator) keptRange(p query.Pred) *roaring.Bitmap {
	if ev.q.fresh {
		return nil
	}
	if b, ok := ev.kept[p]; ok {
		return b
	}
	var b *roaring.Bitmap
	switch p := p.(type) {
	case *query.PredCompare:
		if lo, hi, ok := index.CompareBounds(indexOps[p.Op], p.Value); ok {
			b = ev.field(p.Field.Name).BSI.KeptRange(lo, hi)
		}
	case *query.PredBetween:
		b = ev.field(p.Field.Name).BSI.KeptRange(p.Lo, p.Hi)
	case *query.PredWindow:
		lo, hi := windowDays(&p.Window, int64(ev.q.now))
		b = ev.field(p.Field.Name).BSI.KeptRange(lo, hi)
	default:
		return nil
	}
	return ev.remember(p, b)
}

// keptUnion returns the union of an IN list's values (a tag IN list,
// with or without NOT, or a set's HAS ANY, of two values or more) if the
// field's view keeps it, shared and read-only, or nil: like a range, a
// list asked for again on a snapshot is built once and then read as one
// bitmap (index.ValuesView.KeptUnion). Callers apply NOT.
func (ev *evaluator) keptUnion(p query.Pred) *roaring.Bitmap {
	if ev.q.fresh {
		return nil
	}
	if b, ok := ev.kept[p]; ok {
		return b
	}
	var field string
	var values []string
	switch p := p.(type) {
	case *query.PredTag:
		field, values = p.Field.Name, p.Values
	case *query.PredSet:
		if p.Mode == query.HasAll {
			return nil
		}
		field, values = p.Field.Name, p.Values
	default:
		return nil
	}
	if len(values) < 2 {
		return nil
	}
	b := ev.field(field).Values.KeptUnion(values)
	return ev.remember(p, b)
}

// remember notes what keptRange or keptUnion found for p (nil too), so
// that one evaluation asks the view once: one use.
func (ev *evaluator) remember(p query.Pred, b *roaring.Bitmap) *roaring.Bitmap {
	if ev.kept == nil {
		ev.kept = map[query.Pred]*roaring.Bitmap{}
	}
	ev.kept[p] = b
	return b
}

// keptLeaf answers a range or IN list leaf from its kept profiles,
// restricted to within (nil: all), and reports whether it could.
func (ev *evaluator) keptLeaf(p query.Pred, within *roaring.Bitmap) (*roaring.Bitmap, bool, bool) {
	b := ev.keptRange(p)
	if b == nil {
		b = ev.keptUnion(p)
	}
	if b == nil {
		return nil, false, false
	}
	switch p := p.(type) {
	case *query.PredBetween:
		if p.Negated {
			return andNotWithin(ev.field(p.Field.Name).Exists(), b, within), true, true
		}
	case *query.PredTag:
		if p.Negated {
			return andNotWithin(ev.field(p.Field.Name).Exists(), b, within), true, true
		}
	}
	if within == nil {
		return b, false, true
	}
	return roaring.And(b, within), true, true
}

// keptUsed reports, for EXPLAIN, whether a leaf just evaluated was read
// from a kept range or window union. It does not count as a use.
func (ev *evaluator) keptUsed(p query.Pred) bool {
	if b, ok := ev.kept[p]; ok {
		return b != nil
	}
	if p, ok := p.(*query.PredEvent); ok && p.Freq == nil && p.Window != nil {
		if from, to := ev.eventDays(p); from <= to {
			_, ok := ev.field(p.Field.Name).Events.CachedWindow(p.Values, clampDay(from), clampDay(to))
			return ok
		}
	}
	return false
}

// computedNode reports whether a node is computed from an index (see
// pushable) rather than read: a range the view keeps is read.
func (ev *evaluator) computedNode(n *query.Node) bool {
	return pushable(n) && ev.keptRange(n.Leaf) == nil
}

// computed is computedNode for a step.
func (ev *evaluator) computed(st step) bool { return ev.computedNode(st.node) }

// field returns a field's index; the checker has resolved the name.
func (ev *evaluator) field(name string) *engine.FieldView {
	fv, err := ev.q.sn.Field(name)
	if err != nil {
		panic("BUG: checked query names a field the snapshot lacks: " + err.Error())
	}
	if ev.q.fresh && fv.Events != nil {
		c := *fv
		c.Events = fv.Events.Uncached()
		return &c
	}
	return fv
}

// eventDays is the inclusive day range of an event condition's window
// (everything when it has none).
func (ev *evaluator) eventDays(p *query.PredEvent) (from, to int64) {
	if p.Window == nil {
		return math.MinInt64, math.MaxInt64
	}
	return windowDays(p.Window, int64(ev.q.now))
}

// step is one term of an AND in execution order.
type step struct {
	node  *query.Node
	minus bool // subtract instead of intersect
}

// andSteps orders an AND's terms for execution: lookups to intersect,
// then lookups to subtract, then computed terms (ranges, event windows)
// inside what is left, then computed terms to subtract. The planner has
// already ordered each group smallest first. A range the snapshot keeps
// (evaluator.keptRange) stays among the computed terms, where the
// planner's order puts it beside the windows (a sparse window cuts the
// rows a kept range is read for), but counts as a lookup for the IN list
// rule below: computed tells the terms that are really computed.
func andSteps(n *query.Node, computed func(*query.Node) bool) []step {
	steps := make([]step, 0, len(n.Children)+len(n.Minus))
	for pass := range 2 {
		pass1 := pass == 1
		for _, c := range n.Children {
			if pushable(c) == pass1 {
				steps = append(steps, step{node: c})
			}
		}
		for _, c := range n.Minus {
			if pushable(c) == pass1 {
				steps = append(steps, step{node: c, minus: true})
			}
		}
	}
	// The first step must intersect: start from it.
	if steps[0].minus {
		for i, st := range steps {
			if !st.minus {
				steps[0], steps[i] = steps[i], steps[0]
				break
			}
		}
	}
	// An IN list counted as the last step needs no union of its values
	// over every profile: its count inside the running intersection is a
	// sum of AndCardinality (see inList). When the AND is all lookups
	// and kept ranges (its order is free) and has another term to start
	// from, move one IN list to the end.
	isIN := func(st step) bool { return !st.minus && inList(st.node) != nil }
	plain := func(st step) bool { return !st.minus && inList(st.node) == nil }
	if !slices.ContainsFunc(steps, func(st step) bool { return computed(st.node) }) && slices.ContainsFunc(steps, plain) {
		if in := slices.IndexFunc(steps, isIN); in >= 0 && in != len(steps)-1 {
			st := steps[in]
			steps = append(append(steps[:in:in], steps[in+1:]...), st)
			// Start from a plain intersecting lookup.
			first := slices.IndexFunc(steps, plain)
			steps[0], steps[first] = steps[first], steps[0]
		}
	}
	return steps
}

// inList returns the condition of an IN list on a tag field, a leaf
// whose profiles are the disjoint union of its values' profiles (a
// profile holds one value of a tag field), or nil for anything else.
// Inside a running intersection such a leaf needs no union: it is counted
// as a sum of AndCardinality.
func inList(n *query.Node) *query.PredTag {
	if n.Op != query.NodeLeaf || n.Shared {
		return nil
	}
	if p, ok := n.Leaf.(*query.PredTag); ok && !p.Negated && len(p.Values) > 1 {
		return p
	}
	return nil
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
// (as for a dense union, see index.denseUnion), the days' bitmaps are
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

// intersect evaluates the steps of an AND into one bitmap (possibly
// shared; read-only). Steps that only subtract start from every profile.
func (ev *evaluator) intersect(steps []step) (*roaring.Bitmap, error) {
	acc, owned := ev.all(), false
	first := 0
	if !steps[0].minus {
		var err error
		if acc, owned, err = ev.eval(steps[0].node); err != nil {
			return nil, err
		}
		first = 1
	}
	for _, st := range steps[first:] {
		if acc.IsEmpty() {
			break
		}
		var err error
		if acc, owned, err = ev.andStep(acc, owned, st); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

// andStep applies one step to the running result. A computed term is
// evaluated inside acc, so intersecting is taking its result and
// subtracting is removing it.
func (ev *evaluator) andStep(acc *roaring.Bitmap, owned bool, st step) (*roaring.Bitmap, bool, error) {
	// A kept range is read like a lookup: intersected in place into an
	// owned acc rather than copied restricted to it.
	if ev.computedNode(st.node) {
		b, bOwned, err := ev.evalWithin(st.node, acc)
		if err != nil || !st.minus {
			return b, bOwned, err
		}
		if !owned {
			return roaring.AndNot(acc, b), true, nil
		}
		acc.AndNot(b)
		return acc, true, nil
	}
	b, _, err := ev.eval(st.node)
	if err != nil {
		return nil, false, err
	}
	if st.minus {
		if !owned {
			return roaring.AndNot(acc, b), true, nil
		}
		acc.AndNot(b)
		return acc, true, nil
	}
	acc, owned = ev.and(acc, owned, b)
	return acc, owned, nil
}

func (ev *evaluator) and(acc *roaring.Bitmap, owned bool, b *roaring.Bitmap) (*roaring.Bitmap, bool) {
	if !owned {
		return roaring.And(acc, b), true
	}
	acc.And(b)
	return acc, true
}

// eval computes the profiles of n. owned reports whether the caller may
// change the result in place; shared results come from the snapshot or
// the cache and must not be changed.
func (ev *evaluator) eval(n *query.Node) (b *roaring.Bitmap, owned bool, err error) {
	return ev.evalWithin(n, nil)
}

// evalWithin is eval for a node whose answer only matters inside within
// (nil: everywhere). A pushable leaf then returns a subset of within.
func (ev *evaluator) evalWithin(n *query.Node, within *roaring.Bitmap) (b *roaring.Bitmap, owned bool, err error) {
	if err := ev.ctx.Err(); err != nil {
		return nil, false, err
	}
	if n.Shared {
		if b, ok := ev.cache[n.Key]; ok {
			if ev.trace {
				ev.spans[n] = &span{actual: b.GetCardinality()}
			}
			return b, false, nil
		}
	}
	var start time.Time
	if ev.trace {
		start = time.Now()
	}
	if within != nil && pushable(n) {
		b, owned, err = ev.leaf(n.Leaf, within)
	} else {
		b, owned, err = ev.evalNode(n)
	}
	if err != nil {
		return nil, false, err
	}
	if ev.trace {
		ev.spans[n] = &span{actual: b.GetCardinality(), took: time.Since(start), kept: n.Op == query.NodeLeaf && ev.keptUsed(n.Leaf)}
	}
	if n.Shared {
		ev.cache[n.Key] = b
		owned = false
	}
	return b, owned, nil
}

func (ev *evaluator) evalNode(n *query.Node) (*roaring.Bitmap, bool, error) {
	switch n.Op {
	case query.NodeAll:
		return ev.all(), false, nil
	case query.NodeEmpty:
		return roaring.New(), true, nil
	case query.NodeLeaf:
		return ev.leaf(n.Leaf, nil)
	case query.NodeNot:
		b, _, err := ev.eval(n.Children[0])
		if err != nil {
			return nil, false, err
		}
		return roaring.AndNot(ev.all(), b), true, nil
	case query.NodeOr:
		bs := make([]*roaring.Bitmap, 0, len(n.Children))
		for _, c := range n.Children {
			b, _, err := ev.eval(c)
			if err != nil {
				return nil, false, err
			}
			bs = append(bs, b)
		}
		return roaring.FastOr(bs...), true, nil
	case query.NodeAnd:
		steps := andSteps(n, ev.computedNode)
		acc, owned, err := ev.eval(steps[0].node)
		if err != nil {
			return nil, false, err
		}
		for _, st := range steps[1:] {
			if acc.IsEmpty() {
				break
			}
			if acc, owned, err = ev.andStep(acc, owned, st); err != nil {
				return nil, false, err
			}
		}
		return acc, owned, nil
	}
	return nil, false, fmt.Errorf("BUG: unknown plan node %v", n.Op)
}

var indexOps = map[query.Op]index.Op{
	query.OpEq: index.EQ, query.OpNe: index.NE, query.OpLt: index.LT,
	query.OpLe: index.LE, query.OpGt: index.GT, query.OpGe: index.GE,
}

// pushable reports whether a leaf computes faster restricted to a running
// intersection than on its own: ranges and events do, value bitmaps are
// already there to be read.
func pushable(n *query.Node) bool {
	return n.Op == query.NodeLeaf && !n.Shared && query.Computed(n.Leaf)
}

// leaf answers one condition from its field's index. With within set (a
// pushable leaf inside an AND) the answer is restricted to within.
func (ev *evaluator) leaf(p query.Pred, within *roaring.Bitmap) (*roaring.Bitmap, bool, error) {
	field := ev.field
	if b, owned, ok := ev.keptLeaf(p, within); ok {
		return b, owned, nil
	}
	switch p := p.(type) {
	case *query.PredTag:
		fv := field(p.Field.Name)
		b, owned := union(fv.Values, p.Values)
		if p.Negated {
			return roaring.AndNot(fv.Exists(), b), true, nil
		}
		return b, owned, nil
	case *query.PredSet:
		fv := field(p.Field.Name)
		if p.Mode != query.HasAll {
			b, owned := union(fv.Values, p.Values)
			return b, owned, nil
		}
		bs := make([]*roaring.Bitmap, 0, len(p.Values))
		for _, v := range p.Values {
			b := fv.Values.Bitmap(v)
			if b == nil {
				return roaring.New(), true, nil
			}
			bs = append(bs, b)
		}
		if len(bs) == 1 {
			return bs[0], false, nil
		}
		return roaring.FastAnd(bs...), true, nil
	case *query.PredBool:
		fv := field(p.Field.Name)
		if p.Value {
			return fv.Bool.True(), false, nil
		}
		return fv.Bool.False(), true, nil
	case *query.PredNull:
		fv := field(p.Field.Name)
		if p.Negated {
			return fv.Exists(), false, nil
		}
		return roaring.AndNot(ev.all(), fv.Exists()), true, nil
	case *query.PredCompare:
		return field(p.Field.Name).BSI.CompareWithin(indexOps[p.Op], p.Value, within), true, nil
	case *query.PredBetween:
		fv := field(p.Field.Name)
		b := fv.BSI.BetweenWithin(p.Lo, p.Hi, within)
		if p.Negated {
			return andNotWithin(fv.Exists(), b, within), true, nil
		}
		return b, true, nil
	case *query.PredNumIn:
		fv := field(p.Field.Name)
		bs := make([]*roaring.Bitmap, 0, len(p.Values))
		for _, v := range p.Values {
			bs = append(bs, fv.BSI.CompareWithin(index.EQ, v, within))
		}
		b := roaring.FastOr(bs...)
		if p.Negated {
			return andNotWithin(fv.Exists(), b, within), true, nil
		}
		return b, true, nil
	case *query.PredWindow:
		lo, hi := windowDays(&p.Window, int64(ev.q.now))
		return field(p.Field.Name).BSI.BetweenWithin(lo, hi, within), true, nil
	case *query.PredEvent:
		if p.Freq == nil && p.Window != nil && within == nil {
			// A kept union is shared: no copy for a caller that reads.
			if from, to := ev.eventDays(p); from <= to {
				events := field(p.Field.Name).Events
				if b := events.WindowShared(p.Values, clampDay(from), clampDay(to)); b != nil {
					return b, false, nil
				}
				// Asked once already: computing through WindowWithin
				// would count a second use.
				return events.WindowFromDays(p.Values, clampDay(from), clampDay(to), nil), true, nil
			}
		}
		return ev.event(field(p.Field.Name).Events, p, within), true, nil
	case *query.PredSegment:
		seg := ev.q.segments[p.Name]
		if seg == nil {
			return nil, false, fmt.Errorf("BUG: segment %q was not resolved", p.Name)
		}
		if seg.members != nil {
			// Mapped at evaluation, not compilation: a cached query outlives
			// merges, which move members to their survivors.
			return ev.q.sn.Canonical(seg.members), false, nil
		}
		sub := seg.query.evaluator(ev.ctx, false)
		sub.cache = ev.cache // identical sub-plans share work across segments
		b, owned, err := sub.eval(seg.query.Plan.Root)
		return b, owned, err
	}
	return nil, false, fmt.Errorf("BUG: unhandled condition %T", p)
}

// union ORs the bitmaps of values; a single value's bitmap is returned
// shared, without a copy.
func union(v *index.ValuesView, values []string) (*roaring.Bitmap, bool) {
	bs := make([]*roaring.Bitmap, 0, len(values))
	for _, s := range values {
		if b := v.Bitmap(s); b != nil {
			bs = append(bs, b)
		}
	}
	switch len(bs) {
	case 0:
		return roaring.New(), true
	case 1:
		return bs[0], false
	}
	return roaring.FastOr(bs...), true
}

// andNotWithin is (a AND NOT b) restricted to within (nil: all).
func andNotWithin(a, b, within *roaring.Bitmap) *roaring.Bitmap {
	r := roaring.AndNot(a, b)
	if within != nil {
		r.And(within)
	}
	return r
}

func (ev *evaluator) event(x *index.EventsView, p *query.PredEvent, within *roaring.Bitmap) *roaring.Bitmap {
	from, to := ev.eventDays(p)
	lo, hi := clampDay(from), clampDay(to)
	universe := ev.all()
	if within != nil {
		universe = within
	}
	switch {
	case p.Freq == nil && p.Window == nil:
		return x.EverWithin(p.Values, within)
	case p.Freq == nil:
		if from > to {
			return roaring.New()
		}
		return x.WindowWithin(p.Values, lo, hi, within)
	case p.Freq.AtLeast:
		if from > to {
			return roaring.New()
		}
		return x.AtLeastWithin(p.Values, int(min(p.Freq.N, math.MaxInt32)), lo, hi, within)
	default:
		if from > to {
			return universe.Clone()
		}
		if within != nil {
			return x.AtMostWithin(within, p.Values, int(min(p.Freq.N, math.MaxInt32)), lo, hi)
		}
		return x.AtMost(universe, p.Values, int(min(p.Freq.N, math.MaxInt32)), lo, hi)
	}
}

// windowDays turns a window into an inclusive day range.
func windowDays(w *query.CheckedWindow, now int64) (lo, hi int64) {
	switch w.Kind {
	case query.WindowLast:
		return now - w.Days + 1, now
	case query.WindowSince:
		return w.From, math.MaxInt64
	case query.WindowBefore:
		return math.MinInt64, w.From - 1
	case query.WindowBetween:
		return w.From, w.To
	case query.WindowOn:
		return w.From, w.From
	}
	return 1, 0
}

func clampDay(d int64) schema.Day {
	return schema.Day(max(int64(schema.MinDay)-1, min(d, int64(schema.MaxDay)+1)))
}

// WithPlan returns a copy of q that runs plan instead of its own (for
// benchmarks and tests that run parts of a plan).
func (q *Query) WithPlan(plan *query.Plan) *Query {
	c := *q
	c.Plan = plan
	return &c
}

// Rows is the number of profiles in the snapshot the query is bound to.
func (q *Query) Rows() uint32 { return q.sn.Rows() }

// Rebind returns q bound to sn, a later snapshot of the same dataset,
// without parsing, checking or planning again, or false when that would
// not be the same query: the schema changed, or q uses saved segments
// (which may have changed since). A plan's correctness never depends on
// the data (estimates only order the work, and a value the check
// accepted stays known), so the rebound query counts exactly what
// compiling it afresh would; only its EXPLAIN estimates may be stale.
func (q *Query) Rebind(sn *engine.Snapshot) (*Query, bool) {
	if sn.Schema() != q.schema || sn.Dataset() != q.dataset || len(q.segments) > 0 {
		return nil, false
	}
	c := *q
	c.sn = sn
	return &c, true
}

// Detached returns q without its snapshot, for keeping in a cache of
// compiled queries without keeping the snapshot's bitmaps alive; only
// Rebind may be called on it.
func (q *Query) Detached() *Query {
	c := *q
	c.sn = nil
	return &c
}
