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
