package exec

import (
	"context"
	"fmt"
	"strings"

	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/query"
)

// ExplainNode is one plan node with what the planner expected and what
// execution found.
type ExplainNode struct {
	Op        string `json:"op"`
	Condition string `json:"condition,omitempty"`
	// Minus marks an AND-NOT term: its profiles are subtracted.
	Minus     bool   `json:"minus,omitempty"`
	Estimated uint64 `json:"estimated"`
	Actual    uint64 `json:"actual"`
	// TookUS is the time spent in the node and its children, in µs.
	TookUS float64 `json:"took_us"`
	// Shared marks a sub-expression computed once and reused.
	Shared bool `json:"shared,omitempty"`
	// Kept marks a condition read from a result the field's view keeps
	// (a range or window asked for before on this snapshot) instead of
	// computed from the index.
	Kept bool `json:"kept,omitempty"`
	// Skipped marks a node never run because the result was already empty.
	Skipped  bool           `json:"skipped,omitempty"`
	Children []*ExplainNode `json:"children,omitempty"`
}

// Explanation is the answer to EXPLAIN.
type Explanation struct {
	Query     string       `json:"query"`
	Canonical string       `json:"canonical"`
	Now       string       `json:"now"`
	Count     uint64       `json:"count"`
	Rules     []string     `json:"rules"`
	Plan      *ExplainNode `json:"plan"`
}

// Explain runs the query with tracing and returns the annotated plan.
func (q *Query) Explain(ctx context.Context) (*Explanation, error) {
	ev := q.evaluator(ctx, true)
	ev.spans = map[*query.Node]*span{}
	b, _, err := ev.eval(q.Plan.Root)
	if err != nil {
		return nil, err
	}
	return &Explanation{
		Query:     q.Text,
		Canonical: q.Checked.String(),
		Now:       schema.FormatDay(q.now),
		Count:     b.GetCardinality(),
		Rules:     append([]string{}, q.Plan.Applied...),
		Plan:      explainNode(q.Plan.Root, ev.spans, false),
	}, nil
}

func explainNode(n *query.Node, spans map[*query.Node]*span, minus bool) *ExplainNode {
	e := &ExplainNode{Op: n.Op.String(), Minus: minus, Estimated: n.Est, Shared: n.Shared}
	if n.Op == query.NodeLeaf {
		e.Condition = n.Leaf.String()
	}
	if sp, ok := spans[n]; ok {
		e.Actual, e.TookUS, e.Kept = sp.actual, float64(sp.took.Nanoseconds())/1e3, sp.kept
	} else {
		e.Skipped = true
	}
	for _, c := range n.Children {
		e.Children = append(e.Children, explainNode(c, spans, false))
	}
	for _, c := range n.Minus {
		e.Children = append(e.Children, explainNode(c, spans, true))
	}
	return e
}

// Text renders the explanation as an indented tree.
func (e *Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "query:  %s\nnow:    %s\ncount:  %d\nrules:  %s\n\n", e.Canonical, e.Now, e.Count, strings.Join(e.Rules, ", "))
	var write func(n *ExplainNode, depth int)
	write = func(n *ExplainNode, depth int) {
		label := strings.ToUpper(n.Op)
		if n.Condition != "" {
			label = n.Condition
		}
		if n.Minus {
			label = "- " + label
		}
		stat := fmt.Sprintf("est %d, actual %d, %.1f µs", n.Estimated, n.Actual, n.TookUS)
		if n.Skipped {
			stat = fmt.Sprintf("est %d, skipped", n.Estimated)
		}
		if n.Shared {
			stat += ", shared"
		}
		if n.Kept {
			stat += ", kept"
		}
		fmt.Fprintf(&b, "%s%s  (%s)\n", strings.Repeat("  ", depth), label, stat)
		for _, c := range n.Children {
			write(c, depth+1)
		}
	}
	write(e.Plan, 0)
	return b.String()
}
