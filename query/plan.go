package query

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Stats gives the planner cardinality estimates; the engine implements it
// from its indexes. Estimates only order work: a wrong one costs time,
// never a wrong answer.
type Stats interface {
	// Total is the number of profiles.
	Total() uint64
	// Estimate guesses how many profiles a leaf condition matches.
	Estimate(p Pred) uint64
}

// NodeOp is the operation of a plan node.
type NodeOp int

// Plan node operations.
const (
	NodeLeaf  NodeOp = iota + 1 // one condition, answered by an index
	NodeAnd                     // every child, minus the profiles of any Minus node
	NodeOr                      // any child
	NodeNot                     // every profile not in the child
	NodeAll                     // every profile
	NodeEmpty                   // no profile
)

var nodeOpNames = [...]string{NodeLeaf: "leaf", NodeAnd: "and", NodeOr: "or", NodeNot: "not", NodeAll: "all", NodeEmpty: "empty"}

func (o NodeOp) String() string {
	if o >= NodeLeaf && o <= NodeEmpty {
		return nodeOpNames[o]
	}
	return "NodeOp(?)"
}

// Node is a node of a logical plan.
type Node struct {
	Op       NodeOp
	Leaf     Pred    // NodeLeaf
	Children []*Node // NodeAnd, NodeOr; NodeNot has exactly one
	// Minus holds the AND-NOT terms of a NodeAnd: a NOT under an AND is
	// subtracted from the running intersection instead of being
	// complemented over all profiles first.
	Minus []*Node
	// Est is the estimated number of matching profiles.
	Est uint64
	// Key is a canonical text of what the node computes; nodes with equal
	// keys compute the same profiles (AND and OR terms are sorted in it).
	Key string
	// Shared marks a node whose key occurs more than once in the plan: the
	// executor computes it once and reuses the result.
	Shared bool
}

// Plan is a logical plan: the checked query rewritten for execution.
type Plan struct {
	Root *Node
	// Applied names the rules that changed the tree, in order.
	Applied []string
}

// Rule is one rewrite of the plan tree. Rules run in order, each over the
// whole tree, and report whether they changed anything.
type Rule struct {
	Name  string
	Apply func(n *Node, stats Stats) (*Node, bool)
}

// DefaultRules is the planner's ordered rule list.
func DefaultRules() []Rule {
	return []Rule{
		{"flatten", flattenRule},
		{"push-not", pushNotRule},
		// NOT (a OR b) under an AND became a nested AND-NOT: merge it up.
		{"flatten", flattenRule},
		{"fold-constants", foldRule},
		{"contradictions", contradictionRule},
		{"split-negations", splitNegationRule},
		// Merged conditions may have produced new constants and duplicates.
		{"fold-constants", foldRule},
		{"order-by-cardinality", orderRule},
		{"share-subexpressions", shareRule},
	}
}

// NewPlan builds the plan of a checked query with the default rules.
func NewPlan(c *Checked, stats Stats) *Plan { return PlanWith(c, stats, DefaultRules()) }

// PlanWith builds a plan with the given rules (tests turn rules off to
// check that each preserves the answer).
func PlanWith(c *Checked, stats Stats, rules []Rule) *Plan {
	p := &Plan{Root: build(c.Root)}
	for _, r := range rules {
		root, changed := r.Apply(p.Root, stats)
		p.Root = root
		if changed && !slices.Contains(p.Applied, r.Name) {
			p.Applied = append(p.Applied, r.Name)
		}
	}
	rekey(p.Root)
	estimate(p.Root, stats)
	return p
}

func build(p Pred) *Node {
	switch p := p.(type) {
	case *PredAnd:
		n := &Node{Op: NodeAnd}
		for _, t := range p.Terms {
			n.Children = append(n.Children, build(t))
		}
		return n
	case *PredOr:
		n := &Node{Op: NodeOr}
		for _, t := range p.Terms {
			n.Children = append(n.Children, build(t))
		}
		return n
	case *PredNot:
		return &Node{Op: NodeNot, Children: []*Node{build(p.X)}}
	case *PredAll:
		return &Node{Op: NodeAll}
	}
	return &Node{Op: NodeLeaf, Leaf: p}
}

// walk rewrites bottom-up: children first, then f on the node.
func walk(n *Node, f func(*Node) (*Node, bool)) (*Node, bool) {
	changed := false
	for i, c := range n.Children {
		nc, ch := walk(c, f)
		n.Children[i], changed = nc, changed || ch
	}
	for i, c := range n.Minus {
		nc, ch := walk(c, f)
		n.Minus[i], changed = nc, changed || ch
	}
	nn, ch := f(n)
	return nn, changed || ch
}

// flattenRule merges nested ANDs into their parent AND and nested ORs
// into their parent OR, and unwraps single-term ANDs and ORs.
func flattenRule(root *Node, _ Stats) (*Node, bool) {
	return walk(root, func(n *Node) (*Node, bool) {
		if n.Op != NodeAnd && n.Op != NodeOr {
			return n, false
		}
		changed := false
		var kids []*Node
		for _, c := range n.Children {
			if c.Op == n.Op {
				kids = append(kids, c.Children...)
				n.Minus = append(n.Minus, c.Minus...)
				changed = true
				continue
			}
			kids = append(kids, c)
		}
		n.Children = kids
		if len(n.Children) == 1 && len(n.Minus) == 0 {
			return n.Children[0], true
		}
		return n, changed
	})
}

// pushNotRule turns NOT under AND into AND-NOT, removes double negation
// and rewrites NOT (a OR b) as ALL AND-NOT a AND-NOT b.
func pushNotRule(root *Node, _ Stats) (*Node, bool) {
	return walk(root, func(n *Node) (*Node, bool) {
		switch n.Op {
		case NodeNot:
			x := n.Children[0]
			switch x.Op {
			case NodeNot:
				return x.Children[0], true
			case NodeOr:
				return &Node{Op: NodeAnd, Children: []*Node{{Op: NodeAll}}, Minus: x.Children}, true
			case NodeAll:
				return &Node{Op: NodeEmpty}, true
			case NodeEmpty:
				return &Node{Op: NodeAll}, true
			}
		case NodeAnd:
			changed := false
			var kids []*Node
			for _, c := range n.Children {
				if c.Op == NodeNot {
					n.Minus = append(n.Minus, c.Children[0])
					changed = true
					continue
				}
				kids = append(kids, c)
			}
			if len(kids) == 0 {
				kids = []*Node{{Op: NodeAll}}
			}
			n.Children = kids
			return n, changed
		}
		return n, false
	})
}

// foldRule folds ALL and EMPTY through AND, OR and NOT, drops duplicate
// terms, and finds x AND NOT x.
func foldRule(root *Node, _ Stats) (*Node, bool) {
	return walk(root, func(n *Node) (*Node, bool) {
		switch n.Op {
		case NodeNot:
			switch n.Children[0].Op {
			case NodeAll:
				return &Node{Op: NodeEmpty}, true
			case NodeEmpty:
				return &Node{Op: NodeAll}, true
			}
		case NodeOr:
			var kids []*Node
			seen := map[string]bool{}
			changed := false
			for _, c := range n.Children {
				if c.Op == NodeAll {
					return c, true
				}
				k := keyOf(c)
				if c.Op == NodeEmpty || seen[k] {
					changed = true
					continue
				}
				seen[k] = true
				kids = append(kids, c)
			}
			switch len(kids) {
			case 0:
				return &Node{Op: NodeEmpty}, true
			case 1:
				return kids[0], true
			}
			n.Children = kids
			return n, changed
		case NodeAnd:
			var kids, minus []*Node
			seen := map[string]bool{}
			changed := false
			for _, c := range n.Children {
				if c.Op == NodeEmpty {
					return c, true
				}
				k := keyOf(c)
				if c.Op == NodeAll || seen[k] {
					changed = true
					continue
				}
				seen[k] = true
				kids = append(kids, c)
			}
			seenMinus := map[string]bool{}
			for _, m := range n.Minus {
				if m.Op == NodeAll {
					return &Node{Op: NodeEmpty}, true
				}
				k := keyOf(m)
				if seen[k] {
					return &Node{Op: NodeEmpty}, true // x AND NOT x
				}
				if m.Op == NodeEmpty || seenMinus[k] {
					changed = true
					continue
				}
				seenMinus[k] = true
				minus = append(minus, m)
			}
			if len(kids) == 0 {
				kids = []*Node{{Op: NodeAll}}
			}
			n.Children, n.Minus = kids, minus
			if len(kids) == 1 && len(minus) == 0 {
				return kids[0], true
			}
			return n, changed
		}
		return n, false
	})
}

// contradictionRule merges the conditions of an AND on one field: two tag
// conditions become one with the intersected values (empty when they
// contradict, e.g. city = 'a' AND city = 'b'), and ranges on one numeric
// field become one BETWEEN (empty when disjoint).
func contradictionRule(root *Node, _ Stats) (*Node, bool) {
	return walk(root, func(n *Node) (*Node, bool) {
		if n.Op != NodeAnd {
			return n, false
		}
		changed := false
		tags := map[string]*PredTag{}
		ranges := map[string]*PredBetween{}
		var kids []*Node
		for _, c := range n.Children {
			if c.Op != NodeLeaf {
				kids = append(kids, c)
				continue
			}
			switch p := c.Leaf.(type) {
			case *PredTag:
				if prev, ok := tags[p.Field.Name]; ok {
					tags[p.Field.Name] = mergeTags(prev, p)
					changed = true
					continue
				}
				tags[p.Field.Name] = p
			case *PredCompare, *PredBetween:
				r, ok := asRange(p)
				if !ok {
					kids = append(kids, c)
					continue
				}
				if prev, ok := ranges[r.Field.Name]; ok {
					prev.Lo, prev.Hi = max(prev.Lo, r.Lo), min(prev.Hi, r.Hi)
					changed = true
					continue
				}
				ranges[r.Field.Name] = r
			default:
				kids = append(kids, c)
			}
		}
		if !changed {
			return n, false
		}
		for _, p := range tags {
			if !p.Negated && len(p.Values) == 0 {
				return &Node{Op: NodeEmpty}, true
			}
			kids = append(kids, &Node{Op: NodeLeaf, Leaf: p})
		}
		for _, r := range ranges {
			if r.Lo > r.Hi {
				return &Node{Op: NodeEmpty}, true
			}
			kids = append(kids, &Node{Op: NodeLeaf, Leaf: r})
		}
		n.Children = kids
		return n, true
	})
}

// mergeTags intersects two conditions on one tag field. A profile has one
// value, so "in A and in B" is "in A∩B", "in A and not in B" is "in A∖B"
// and "not in A and not in B" is "not in A∪B".
func mergeTags(a, b *PredTag) *PredTag {
	out := &PredTag{Pos: a.Pos, Field: a.Field}
	switch {
	case !a.Negated && !b.Negated:
		for _, v := range a.Values {
			if slices.Contains(b.Values, v) {
				out.Values = append(out.Values, v)
			}
		}
	case a.Negated && b.Negated:
		out.Negated = true
		out.Values = append(slices.Clone(a.Values), b.Values...)
		slices.Sort(out.Values)
		out.Values = slices.Compact(out.Values)
	default:
		pos, neg := a, b
		if a.Negated {
			pos, neg = b, a
		}
		for _, v := range pos.Values {
			if !slices.Contains(neg.Values, v) {
				out.Values = append(out.Values, v)
			}
		}
	}
	if out.Values == nil {
		out.Values = []string{}
	}
	return out
}

// splitNegationRule rewrites a negated lookup under an AND into "has a
// value" AND-NOT the positive lookup: city != 'a' becomes city IS NOT
// NULL minus city = 'a', and b = FALSE becomes b IS NOT NULL minus b. The
// index holds both bitmaps, so nothing the size of the dataset is built
// just to be intersected.
func splitNegationRule(root *Node, _ Stats) (*Node, bool) {
	return walk(root, func(n *Node) (*Node, bool) {
		if n.Op != NodeAnd {
			return n, false
		}
		changed := false
		for i, c := range n.Children {
			if c.Op != NodeLeaf {
				continue
			}
			var field FieldInfo
			var pos Pos
			var positive Pred
			switch p := c.Leaf.(type) {
			case *PredTag:
				if !p.Negated {
					continue
				}
				field, pos = p.Field, p.Pos
				positive = &PredTag{Pos: p.Pos, Field: p.Field, Values: p.Values}
			case *PredBool:
				if p.Value {
					continue
				}
				field, pos = p.Field, p.Pos
				positive = &PredBool{Pos: p.Pos, Field: p.Field, Value: true}
			default:
				continue
			}
			n.Children[i] = &Node{Op: NodeLeaf, Leaf: &PredNull{Pos: pos, Field: field, Negated: true}}
			n.Minus = append(n.Minus, &Node{Op: NodeLeaf, Leaf: positive})
			changed = true
		}
		return n, changed
	})
}

// asRange turns a comparison into an inclusive range on its field, when it
// is one (!= and NOT BETWEEN are not).
func asRange(p Pred) (*PredBetween, bool) {
	switch p := p.(type) {
	case *PredBetween:
		if p.Negated {
			return nil, false
		}
		c := *p
		return &c, true
	case *PredCompare:
		r := &PredBetween{Pos: p.Pos, Field: p.Field, Lo: math.MinInt64, Hi: math.MaxInt64}
		switch p.Op {
		case OpEq:
			r.Lo, r.Hi = p.Value, p.Value
		case OpLt:
			if p.Value == math.MinInt64 {
				r.Lo, r.Hi = 1, 0
			} else {
				r.Hi = p.Value - 1
			}
		case OpLe:
			r.Hi = p.Value
		case OpGt:
			if p.Value == math.MaxInt64 {
				r.Lo, r.Hi = 1, 0
			} else {
				r.Lo = p.Value + 1
			}
		case OpGe:
			r.Lo = p.Value
		default:
			return nil, false
		}
		return r, true
	}
	return nil, false
}

// costClass ranks how a term is computed: a lookup reads a bitmap the
// index already holds; a computed term (a range over bit slices, an event
// window over day bitmaps) does work proportional to the profiles it is
// restricted to, so it should run last, inside the smallest running
// intersection.
func costClass(n *Node) int {
	switch n.Op {
	case NodeLeaf:
		if Computed(n.Leaf) {
			return 2
		}
		return 0
	case NodeAll, NodeEmpty:
		return 0
	}
	return 1
}

// Computed reports whether a condition is computed from its index (a
// range over bit slices, a window over day bitmaps) rather than read as a
// bitmap the index already holds. Computed conditions run last in an AND,
// inside the running result; the planner orders by it and the executor
// pushes the running result into them.
func Computed(p Pred) bool {
	switch p.(type) {
	case *PredCompare, *PredBetween, *PredNumIn, *PredWindow, *PredEvent:
		return true
	}
	return false
}

// orderRule estimates every node and orders AND terms cheapest class
// first and, within a class, smallest first, so the running intersection
// shrinks as early as possible, computed terms run inside it, and an
// empty one stops the work; OR terms go largest first.
func orderRule(root *Node, stats Stats) (*Node, bool) {
	estimate(root, stats)
	return walk(root, func(n *Node) (*Node, bool) {
		if n.Op != NodeAnd && n.Op != NodeOr {
			return n, false
		}
		less := func(a, b *Node) int { return cmp.Or(cmp.Compare(a.Est, b.Est), strings.Compare(keyOf(a), keyOf(b))) }
		before := slices.Clone(n.Children)
		if n.Op == NodeAnd {
			slices.SortStableFunc(n.Children, func(a, b *Node) int {
				return cmp.Or(cmp.Compare(costClass(a), costClass(b)), less(a, b))
			})
			slices.SortStableFunc(n.Minus, func(a, b *Node) int { return less(b, a) })
		} else {
			slices.SortStableFunc(n.Children, func(a, b *Node) int { return less(b, a) })
		}
		return n, !slices.Equal(before, n.Children)
	})
}

// shareRule marks nodes whose keys repeat so they are computed once.
func shareRule(root *Node, _ Stats) (*Node, bool) {
	rekey(root)
	counts := map[string]int{}
	var count func(*Node)
	count = func(n *Node) {
		if n.Op == NodeAll || n.Op == NodeEmpty {
			return
		}
		counts[n.Key]++
		for _, c := range n.Children {
			count(c)
		}
		for _, c := range n.Minus {
			count(c)
		}
	}
	count(root)
	changed := false
	walk(root, func(n *Node) (*Node, bool) {
		if counts[n.Key] > 1 && !n.Shared {
			n.Shared, changed = true, true
		}
		return n, false
	})
	return root, changed
}

// estimate fills Est bottom-up, treating terms as independent.
func estimate(n *Node, stats Stats) uint64 {
	total := stats.Total()
	switch n.Op {
	case NodeLeaf:
		n.Est = min(stats.Estimate(n.Leaf), total)
	case NodeAll:
		n.Est = total
	case NodeEmpty:
		n.Est = 0
	case NodeNot:
		n.Est = total - min(estimate(n.Children[0], stats), total)
	case NodeOr:
		var sum uint64
		for _, c := range n.Children {
			sum += estimate(c, stats)
		}
		n.Est = min(sum, total)
	case NodeAnd:
		frac := 1.0
		for _, c := range n.Children {
			frac *= ratio(estimate(c, stats), total)
		}
		for _, c := range n.Minus {
			frac *= 1 - ratio(estimate(c, stats), total)
		}
		n.Est = uint64(frac * float64(total))
	}
	return n.Est
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// keyOf returns the node's canonical key, computing it if needed.
func keyOf(n *Node) string {
	if n.Key == "" {
		n.Key = computeKey(n)
	}
	return n.Key
}

// rekey recomputes every key after rewrites.
func rekey(n *Node) string {
	for _, c := range n.Children {
		rekey(c)
	}
	for _, c := range n.Minus {
		rekey(c)
	}
	n.Key = ""
	return keyOf(n)
}

func computeKey(n *Node) string {
	switch n.Op {
	case NodeLeaf:
		return n.Leaf.String()
	case NodeAll:
		return "ALL"
	case NodeEmpty:
		return "EMPTY"
	case NodeNot:
		return "NOT(" + keyOf(n.Children[0]) + ")"
	}
	keys := func(ns []*Node) string {
		ks := make([]string, len(ns))
		for i, c := range ns {
			ks[i] = keyOf(c)
		}
		slices.Sort(ks)
		return strings.Join(ks, ", ")
	}
	if n.Op == NodeOr {
		return "OR(" + keys(n.Children) + ")"
	}
	if len(n.Minus) == 0 {
		return "AND(" + keys(n.Children) + ")"
	}
	return "AND(" + keys(n.Children) + " MINUS " + keys(n.Minus) + ")"
}

// String renders the plan tree, one node per line, for EXPLAIN and tests.
func (p *Plan) String() string {
	var b strings.Builder
	var write func(n *Node, depth int, prefix string)
	write = func(n *Node, depth int, prefix string) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(prefix)
		switch n.Op {
		case NodeLeaf:
			b.WriteString(n.Leaf.String())
		default:
			b.WriteString(strings.ToUpper(n.Op.String()))
		}
		if n.Shared {
			b.WriteString("  [shared]")
		}
		b.WriteByte('\n')
		for _, c := range n.Children {
			write(c, depth+1, "")
		}
		for _, c := range n.Minus {
			write(c, depth+1, "- ")
		}
	}
	write(p.Root, 0, "")
	return b.String()
}
