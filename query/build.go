package query

import (
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2/lexer"
)

// builder turns participle's grammar structs into the AST, decoding literals,
// validating dates and counting nodes and list values against the limits.
type builder struct {
	lim   Limits
	nodes int
}

func (b *builder) node(p lexer.Position) error {
	b.nodes++
	if b.nodes > b.lim.MaxNodes {
		return errorf(posOf(p), "the query has more than %d conditions and operators; split it into saved segments", b.lim.MaxNodes)
	}
	return nil
}

func (b *builder) or(g *gOr) (Expr, error) {
	if len(g.Terms) == 1 {
		return b.and(g.Terms[0])
	}
	if err := b.node(g.Pos); err != nil {
		return nil, err
	}
	e := &Or{Pos: posOf(g.Pos), Terms: make([]Expr, 0, len(g.Terms))}
	for _, t := range g.Terms {
		x, err := b.and(t)
		if err != nil {
			return nil, err
		}
		e.Terms = append(e.Terms, x)
	}
	return e, nil
}

func (b *builder) and(g *gAnd) (Expr, error) {
	if len(g.Terms) == 1 {
		return b.unary(g.Terms[0])
	}
	if err := b.node(g.Pos); err != nil {
		return nil, err
	}
	e := &And{Pos: posOf(g.Pos), Terms: make([]Expr, 0, len(g.Terms))}
	for _, t := range g.Terms {
		x, err := b.unary(t)
		if err != nil {
			return nil, err
		}
		e.Terms = append(e.Terms, x)
	}
	return e, nil
}

func (b *builder) unary(g *gUnary) (Expr, error) {
	switch {
	case g.Not != nil:
		if err := b.node(g.Pos); err != nil {
			return nil, err
		}
		x, err := b.unary(g.Not)
		if err != nil {
			return nil, err
		}
		return &Not{Pos: posOf(g.Pos), X: x}, nil
	case g.Group != nil:
		// Parentheses leave no node: the tree shape already records them.
		return b.or(g.Group)
	case g.Cond != nil:
		if err := b.node(g.Pos); err != nil {
			return nil, err
		}
		return b.condition(g.Cond)
	}
	return nil, errorf(posOf(g.Pos), "BUG: empty unary expression")
}

func (b *builder) condition(g *gCondition) (Expr, error) {
	pos := posOf(g.Pos)
	switch {
	case g.All:
		return &All{Pos: pos}, nil
	case g.Segment != nil:
		v, err := b.value(g.Segment.Name)
		if err != nil {
			return nil, err
		}
		if v.Kind != StringValue || v.Str == "" {
			return nil, errorf(v.Pos, "expected a segment name in quotes, like SEGMENT('vip'), found %s", clip(v.String()))
		}
		return &Segment{Pos: pos, Name: v.Str}, nil
	case g.Field != nil:
		return b.fieldCond(g.Field)
	}
	return nil, errorf(pos, "BUG: empty condition")
}

func (b *builder) fieldCond(g *gFieldCond) (Expr, error) {
	pos := posOf(g.Pos)
	field := identName(g.Field)
	switch {
	case g.Event != nil:
		e := &Event{Pos: pos, Field: field}
		var err error
		if e.Values, err = b.list(g.Event.Values); err != nil {
			return nil, err
		}
		if f := g.Event.Freq; f != nil {
			n, err := wholeNumber(f.N, "the number of times")
			if err != nil {
				return nil, err
			}
			e.Freq = &Frequency{Pos: posOf(f.Pos), AtLeast: f.Least, N: n}
		}
		if g.Event.Window != nil {
			if e.Window, err = b.window(g.Event.Window); err != nil {
				return nil, err
			}
		}
		return e, nil
	case g.Suffix != nil:
		return b.suffix(pos, field, g.Suffix)
	}
	return &BoolField{Pos: pos, Field: field}, nil
}

func (b *builder) suffix(pos Pos, field string, g *gSuffix) (Expr, error) {
	switch {
	case g.Cmp != nil:
		op, ok := parseOp(g.Cmp.Op)
		if !ok {
			return nil, errorf(posOf(g.Cmp.Pos), "BUG: unknown operator %q", g.Cmp.Op)
		}
		v, err := b.value(g.Cmp.Value)
		if err != nil {
			return nil, err
		}
		return &Compare{Pos: pos, Field: field, Op: op, Value: v}, nil
	case g.In != nil:
		vs, err := b.list(g.In.Values)
		if err != nil {
			return nil, err
		}
		return &In{Pos: pos, Field: field, Negated: g.In.Not, Values: vs}, nil
	case g.Between != nil:
		lo, err := b.value(g.Between.Range.Lo)
		if err != nil {
			return nil, err
		}
		hi, err := b.value(g.Between.Range.Hi)
		if err != nil {
			return nil, err
		}
		return &Between{Pos: pos, Field: field, Negated: g.Between.Not, Lo: lo, Hi: hi}, nil
	case g.Has != nil:
		if g.Has.Single != nil {
			v, err := b.value(g.Has.Single)
			if err != nil {
				return nil, err
			}
			return &Has{Pos: pos, Field: field, Mode: HasOne, Values: []Value{v}}, nil
		}
		vs, err := b.list(g.Has.List.Values)
		if err != nil {
			return nil, err
		}
		mode := HasAny
		if equalFold(g.Has.List.Mode, "ALL") {
			mode = HasAll
		}
		return &Has{Pos: pos, Field: field, Mode: mode, Values: vs}, nil
	case g.Is != nil:
		return &IsNull{Pos: pos, Field: field, Negated: g.Is.Not}, nil
	case g.Window != nil:
		w, err := b.window(g.Window)
		if err != nil {
			return nil, err
		}
		return &DateWindow{Pos: pos, Field: field, Window: w}, nil
	}
	return nil, errorf(pos, "BUG: empty condition suffix")
}

func (b *builder) list(gs []*gValue) ([]Value, error) {
	if len(gs) > b.lim.MaxListValues {
		return nil, errorf(posOf(gs[b.lim.MaxListValues].Pos), "the list has more than %d values; upload the ids as a saved segment instead", b.lim.MaxListValues)
	}
	vs := make([]Value, 0, len(gs))
	for _, g := range gs {
		v, err := b.value(g)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func (b *builder) value(g *gValue) (Value, error) {
	v := Value{Pos: posOf(g.Pos)}
	switch {
	case g.String != nil:
		v.Kind, v.Str = StringValue, unquote(*g.String)
	case g.Number != nil:
		v.Kind, v.Num = NumberValue, newNumber(*g.Number)
	case g.True:
		v.Kind, v.Bool = BoolValue, true
	case g.False:
		v.Kind = BoolValue
	default:
		return v, errorf(v.Pos, "BUG: empty value")
	}
	return v, nil
}

func (b *builder) window(g *gWindow) (*Window, error) {
	w := &Window{Pos: posOf(g.Pos)}
	var err error
	switch {
	case g.Last != nil:
		w.Kind = WindowLast
		w.N, err = wholeNumber(g.Last, "the number of days")
	case g.Since != nil:
		w.Kind = WindowSince
		w.From, err = b.date(g.Since, "SINCE")
	case g.Before != nil:
		w.Kind = WindowBefore
		w.From, err = b.date(g.Before, "BEFORE")
	case g.On != nil:
		w.Kind = WindowOn
		w.From, err = b.date(g.On, "ON")
	case g.Between != nil:
		w.Kind = WindowBetween
		if w.From, err = b.date(g.Between.Lo, "BETWEEN"); err == nil {
			w.To, err = b.date(g.Between.Hi, "AND")
		}
	default:
		err = errorf(w.Pos, "BUG: empty window")
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// date validates a window date at parse time: only the quoted YYYY-MM-DD
// form names a day unambiguously whatever the user's locale.
func (b *builder) date(g *gValue, after string) (Date, error) {
	v, err := b.value(g)
	if err != nil {
		return Date{}, err
	}
	return valueDate(v, after)
}

func valueDate(v Value, after string) (Date, error) {
	if v.Kind == StringValue {
		if d, ok := parseDate(v.Str); ok {
			d.Pos = v.Pos
			return d, nil
		}
		if looksLikeDate(v.Str) {
			return Date{}, errorf(v.Pos, "%s is not a calendar date", v)
		}
	}
	return Date{}, errorf(v.Pos, "expected a date like '2026-01-31' after %s, found %s", after, clip(v.String()))
}

// looksLikeDate reports whether s has the YYYY-MM-DD shape even though the
// day does not exist (2026-02-30), to give a more precise message.
func looksLikeDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// wholeNumber converts a count (days, times) that must be an integer.
// Negative counts are syntactically fine; the checker explains why they make
// no sense, with the field in hand.
func wholeNumber(g *gNum, what string) (int64, error) {
	n := newNumber(g.Text)
	if !n.IsInteger() {
		return 0, errorf(posOf(g.Pos), "%s must be a whole number, found %s", what, g.Text)
	}
	v, err := strconv.ParseInt(g.Text, 10, 64)
	if err != nil {
		return 0, errorf(posOf(g.Pos), "%s %s is too large", what, clip(g.Text))
	}
	return v, nil
}

// unquote decodes a string token the lexer has already validated.
func unquote(raw string) string {
	body := raw[1 : len(raw)-1]
	if !strings.Contains(body, `\`) {
		return body
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' && i+1 < len(body) {
			i++
		}
		b.WriteByte(body[i])
	}
	return b.String()
}

// identName decodes a name token: bare, or back-quoted with doubled
// back-quotes inside.
func identName(raw string) string {
	if strings.HasPrefix(raw, "`") {
		return strings.ReplaceAll(raw[1:len(raw)-1], "``", "`")
	}
	return raw
}

// clip prepares text quoted in an error message: at most 40 characters (a
// 10,000-character string helps nobody) and control characters escaped, so
// a message is always one printable line.
func clip(s string) string {
	const max = 40
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		n++
		if r < ' ' || r == 0x7f {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
