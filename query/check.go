package query

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The range of dates the checker accepts: wide enough for birthdays and
// far-future campaign ends, narrow enough that a typo such as '0202-01-01'
// is caught rather than silently matching nothing.
const (
	minDay     = -25567 // 1900-01-01
	maxDay     = 84005  // 2199-12-31
	minDayText = "1900-01-01"
	maxDayText = "2199-12-31"
	// maxWindowDays is the longest IN LAST window: the whole date range.
	maxWindowDays = maxDay - minDay + 1
	// listKnownValues is how many known values an error may list when no
	// value is close enough to suggest.
	listKnownValues = 10
)

// Check resolves an AST against a schema and returns the checked query, or
// the first error in source order. opts.Values, when set, enables checking
// tag, set and event values against the known ones; opts.Limits is unused.
func Check(e Expr, schema Schema, opts Options) (*Checked, error) {
	if e == nil {
		return nil, errors.New("query.Check: nil expression")
	}
	if schema == nil {
		return nil, errors.New("query.Check: nil schema")
	}
	c := &checker{schema: schema, values: opts.Values, known: map[string]map[string]bool{}}
	root, err := c.expr(e)
	if err != nil {
		return nil, err
	}
	return &Checked{Root: root, Segments: c.segments}, nil
}

// Compile parses and checks a query: text → AST → checked query.
func Compile(src string, schema Schema, opts Options) (*Checked, error) {
	e, err := Parse(src, opts)
	if err != nil {
		return nil, err
	}
	return Check(e, schema, opts)
}

type checker struct {
	schema   Schema
	values   Values
	segments []string
	// known caches KnownValues per field as a set; nil marks "unknown".
	known map[string]map[string]bool
}

func (c *checker) expr(e Expr) (Pred, error) {
	switch e := e.(type) {
	case *Or:
		terms, err := c.terms(e.Terms)
		if err != nil {
			return nil, err
		}
		return &PredOr{Pos: e.Pos, Terms: terms}, nil
	case *And:
		terms, err := c.terms(e.Terms)
		if err != nil {
			return nil, err
		}
		return &PredAnd{Pos: e.Pos, Terms: terms}, nil
	case *Not:
		x, err := c.expr(e.X)
		if err != nil {
			return nil, err
		}
		return &PredNot{Pos: e.Pos, X: x}, nil
	case *All:
		return &PredAll{Pos: e.Pos}, nil
	case *Segment:
		if !slices.Contains(c.segments, e.Name) {
			c.segments = append(c.segments, e.Name)
		}
		return &PredSegment{Pos: e.Pos, Name: e.Name}, nil
	case *Compare:
		return c.compare(e)
	case *In:
		return c.in(e)
	case *Between:
		return c.between(e)
	case *Has:
		return c.has(e)
	case *IsNull:
		return c.isNull(e)
	case *BoolField:
		return c.boolField(e)
	case *Event:
		return c.event(e)
	case *DateWindow:
		return c.dateWindow(e)
	}
	return nil, fmt.Errorf("BUG: query.Check: unexpected node %T", e)
}

func (c *checker) terms(es []Expr) ([]Pred, error) {
	out := make([]Pred, 0, len(es))
	for _, e := range es {
		p, err := c.expr(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// field resolves a name, suggesting the nearest ones when it is unknown.
func (c *checker) field(name string, pos Pos) (FieldInfo, error) {
	if f, ok := c.schema.Field(name); ok {
		return f, nil
	}
	return FieldInfo{}, errorf(pos, "unknown field %s%s", clip(quoteString(name)), didYouMean(suggest(name, c.schema.FieldNames())))
}

// is renders "field city is a tag".
func is(f FieldInfo) string {
	return "field " + FormatName(f.Name) + " is " + f.Type.article() + " " + f.Type.String()
}

// usage says how a field of each type is used in a condition, for errors
// that reject an operator.
func usage(f FieldInfo) string {
	n := FormatName(f.Name)
	switch f.Type {
	case TypeTag:
		return "use = or IN"
	case TypeSet:
		return "use HAS, HAS ANY or HAS ALL"
	case TypeBool:
		return "use " + n + " or " + n + " = FALSE"
	case TypeInt, TypeDecimal:
		return "use =, !=, <, <=, >, >=, BETWEEN or IN"
	case TypeDate:
		return "compare it with a date, or use a window such as " + n + " IN LAST 30 DAYS"
	case TypeEvent:
		return "write " + n + "() or " + n + "('value'), optionally with AT LEAST n TIMES or a window such as IN LAST 30 DAYS"
	}
	return "check the schema"
}

func (c *checker) wrongOp(f FieldInfo, pos Pos, op string) error {
	if f.Type == TypeEvent {
		return errorf(pos, "%s, so %s does not apply; %s", is(f), op, usage(f))
	}
	return errorf(pos, "%s; %s instead of %s", is(f), usage(f), op)
}

func (c *checker) compare(e *Compare) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	if e.Op < OpEq || e.Op > OpGe {
		return nil, errorf(e.Pos, "BUG: unknown operator %d", int(e.Op))
	}
	ordered := e.Op != OpEq && e.Op != OpNe
	switch f.Type {
	case TypeTag:
		if ordered {
			return nil, errorf(e.Pos, "%s; %s compares numbers and dates — use = or IN", is(f), e.Op)
		}
		s, err := c.str(f, e.Value)
		if err != nil {
			return nil, err
		}
		return &PredTag{Pos: e.Pos, Field: f, Negated: e.Op == OpNe, Values: []string{s}}, nil
	case TypeSet:
		if e.Op == OpNe {
			return nil, errorf(e.Pos, "%s; use NOT %s HAS … instead of !=", is(f), FormatName(f.Name))
		}
		return nil, c.wrongOp(f, e.Pos, e.Op.String())
	case TypeBool:
		if ordered {
			return nil, c.wrongOp(f, e.Pos, e.Op.String())
		}
		if e.Value.Kind != BoolValue {
			return nil, errorf(e.Value.Pos, "%s; compare it with TRUE or FALSE, not %s", is(f), clip(e.Value.String()))
		}
		// != matches only profiles with a value, so != TRUE is = FALSE.
		return &PredBool{Pos: e.Pos, Field: f, Value: e.Value.Bool == (e.Op == OpEq)}, nil
	case TypeInt, TypeDecimal, TypeDate:
		v, err := c.num(f, e.Value, !ordered)
		if err != nil {
			return nil, err
		}
		return &PredCompare{Pos: e.Pos, Field: f, Op: e.Op, Value: v}, nil
	}
	return nil, c.wrongOp(f, e.Pos, e.Op.String())
}

func (c *checker) in(e *In) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	kw := "IN"
	if e.Negated {
		kw = "NOT IN"
	}
	switch f.Type {
	case TypeTag:
		vs, err := c.strs(f, e.Values)
		if err != nil {
			return nil, err
		}
		return &PredTag{Pos: e.Pos, Field: f, Negated: e.Negated, Values: vs}, nil
	case TypeSet:
		if e.Negated {
			return nil, errorf(e.Pos, "%s; use NOT %s HAS ANY (…) instead of NOT IN", is(f), FormatName(f.Name))
		}
		return nil, errorf(e.Pos, "%s; use HAS ANY (…) instead of IN", is(f))
	case TypeInt, TypeDecimal, TypeDate:
		vs := make([]int64, 0, len(e.Values))
		for _, v := range e.Values {
			n, err := c.num(f, v, true)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(vs, n) {
				vs = append(vs, n)
			}
		}
		return &PredNumIn{Pos: e.Pos, Field: f, Negated: e.Negated, Values: vs}, nil
	}
	return nil, c.wrongOp(f, e.Pos, kw)
}

func (c *checker) between(e *Between) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case TypeInt, TypeDecimal, TypeDate:
	case TypeEvent:
		return nil, errorf(e.Pos, "%s; write %s() BETWEEN '…' AND '…' for events between two dates", is(f), FormatName(f.Name))
	default:
		return nil, errorf(e.Pos, "%s; BETWEEN applies to int, decimal and date fields — %s", is(f), usage(f))
	}
	lo, err := c.num(f, e.Lo, false)
	if err != nil {
		return nil, err
	}
	hi, err := c.num(f, e.Hi, false)
	if err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, errorf(e.Lo.Pos, "BETWEEN %s AND %s matches nothing; put the smaller value first", clip(e.Lo.String()), clip(e.Hi.String()))
	}
	return &PredBetween{Pos: e.Pos, Field: f, Negated: e.Negated, Lo: lo, Hi: hi}, nil
}

func (c *checker) has(e *Has) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case TypeSet:
		vs, err := c.strs(f, e.Values)
		if err != nil {
			return nil, err
		}
		return &PredSet{Pos: e.Pos, Field: f, Mode: e.Mode, Values: vs}, nil
	case TypeTag:
		if e.Mode == HasAny {
			return nil, errorf(e.Pos, "%s (one value per profile); use IN instead of HAS ANY", is(f))
		}
		return nil, errorf(e.Pos, "%s (one value per profile); use = or IN instead of %s", is(f), e.Mode)
	}
	return nil, c.wrongOp(f, e.Pos, e.Mode.String())
}

func (c *checker) isNull(e *IsNull) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	if f.Type == TypeEvent {
		n := FormatName(f.Name)
		if e.Negated {
			return nil, errorf(e.Pos, "%s; use %s() for profiles with any %s event", is(f), n, n)
		}
		return nil, errorf(e.Pos, "%s; use NOT %s() for profiles without any %s event", is(f), n, n)
	}
	return &PredNull{Pos: e.Pos, Field: f, Negated: e.Negated}, nil
}

func (c *checker) boolField(e *BoolField) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	n := FormatName(f.Name)
	switch f.Type {
	case TypeBool:
		return &PredBool{Pos: e.Pos, Field: f, Value: true}, nil
	case TypeTag:
		return nil, errorf(e.Pos, "%s, not a bool; write a condition such as %s = 'value'", is(f), n)
	case TypeSet:
		return nil, errorf(e.Pos, "%s, not a bool; write a condition such as %s HAS 'value'", is(f), n)
	case TypeInt, TypeDecimal:
		return nil, errorf(e.Pos, "%s, not a bool; write a condition such as %s > 0", is(f), n)
	case TypeDate:
		return nil, errorf(e.Pos, "%s, not a bool; write a condition such as %s IN LAST 30 DAYS", is(f), n)
	case TypeEvent:
		return nil, errorf(e.Pos, "%s; write %s() for profiles with any %s event", is(f), n, n)
	}
	return nil, errorf(e.Pos, "%s, not a bool", is(f))
}

func (c *checker) event(e *Event) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	if f.Type != TypeEvent {
		n := FormatName(f.Name)
		switch {
		case e.Freq != nil:
			return nil, errorf(e.Freq.Pos, "%s, not an event; AT LEAST and AT MOST count days with an event", is(f))
		case f.Type == TypeDate && len(e.Values) == 0 && e.Window != nil:
			return nil, errorf(e.Pos, "%s, not an event; write %s %s without the parentheses", is(f), n, e.Window)
		}
		return nil, errorf(e.Pos, "%s, not an event, so %s(…) does not apply; %s", is(f), n, usage(f))
	}
	p := &PredEvent{Pos: e.Pos, Field: f}
	if p.Values, err = c.strs(f, e.Values); err != nil {
		return nil, err
	}
	if fr := e.Freq; fr != nil {
		switch {
		case fr.AtLeast && fr.N < 1:
			return nil, errorf(fr.Pos, "AT LEAST needs a number of 1 or more, found %d (AT LEAST 0 TIMES would match every profile)", fr.N)
		case !fr.AtLeast && fr.N < 0:
			return nil, errorf(fr.Pos, "AT MOST needs a number of 0 or more, found %d", fr.N)
		}
		cp := *fr
		p.Freq = &cp
	}
	if e.Window != nil {
		w, err := c.window(e.Window)
		if err != nil {
			return nil, err
		}
		p.Window = &w
	}
	return p, nil
}

func (c *checker) dateWindow(e *DateWindow) (Pred, error) {
	f, err := c.field(e.Field, e.Pos)
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case TypeDate:
	case TypeEvent:
		return nil, errorf(e.Pos, "%s; write %s() %s", is(f), FormatName(f.Name), e.Window)
	default:
		return nil, errorf(e.Window.Pos, "%s; a time window such as IN LAST 30 DAYS applies to date and event fields — %s", is(f), usage(f))
	}
	w, err := c.window(e.Window)
	if err != nil {
		return nil, err
	}
	if w.Kind == WindowBetween {
		// Only a hand-built AST gets here (the parser reads this text as
		// Between); keep one representation of a date range.
		return &PredBetween{Pos: e.Pos, Field: f, Lo: w.From, Hi: w.To}, nil
	}
	return &PredWindow{Pos: e.Pos, Field: f, Window: w}, nil
}

func (c *checker) window(w *Window) (CheckedWindow, error) {
	out := CheckedWindow{Kind: w.Kind}
	switch w.Kind {
	case WindowLast:
		if w.N < 1 {
			return out, errorf(w.Pos, "IN LAST needs a number of days of 1 or more, found %d", w.N)
		}
		if w.N > maxWindowDays {
			return out, errorf(w.Pos, "IN LAST %d DAYS is too long; the limit is %d days", w.N, maxWindowDays)
		}
		out.Days = w.N
		return out, nil
	case WindowSince, WindowBefore, WindowOn, WindowBetween:
		var err error
		if out.From, err = dayInRange(w.From); err != nil {
			return out, err
		}
		if w.Kind != WindowBetween {
			return out, nil
		}
		if out.To, err = dayInRange(w.To); err != nil {
			return out, err
		}
		if out.From > out.To {
			return out, errorf(w.To.Pos, "the window ends (%s) before it starts (%s); put the earlier date first", w.To, w.From)
		}
		return out, nil
	}
	return out, errorf(w.Pos, "BUG: unknown window kind %d", int(w.Kind))
}

func dayInRange(d Date) (int64, error) {
	n := d.DayNumber()
	if n < minDay || n > maxDay {
		return 0, errorf(d.Pos, "date %s is out of range; dates run from %s to %s", d.Quoted(), minDayText, maxDayText)
	}
	return n, nil
}

// str checks a value of a tag, set or event field: it must be text and, when
// the field's values are known, one of them.
func (c *checker) str(f FieldInfo, v Value) (string, error) {
	switch v.Kind {
	case NumberValue:
		return "", errorf(v.Pos, "%s; write the value in quotes: '%s'", is(f), clip(v.Num.Text))
	case BoolValue:
		return "", errorf(v.Pos, "%s; expected a value in quotes, found %s", is(f), v)
	}
	known := c.knownValues(f)
	if known == nil || known[v.Str] {
		return v.Str, nil
	}
	list := c.values.KnownValues(f.Name)
	msg := fmt.Sprintf("unknown value %s for field %s", clip(quoteString(v.Str)), FormatName(f.Name))
	switch s := suggest(v.Str, list); {
	case len(s) > 0:
		msg += didYouMean(s)
	case len(list) == 0:
		msg += " — the field has no values yet"
	case len(list) <= listKnownValues:
		sorted := slices.Clone(list)
		slices.Sort(sorted)
		msg += " — known values are " + strings.Replace(orList(sorted), " or ", " and ", 1)
	}
	return "", errorf(v.Pos, "%s", msg)
}

// strs checks a list of values, dropping repeats.
func (c *checker) strs(f FieldInfo, vs []Value) ([]string, error) {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		s, err := c.str(f, v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// knownValues returns the field's known values as a set, or nil when they
// are not available.
func (c *checker) knownValues(f FieldInfo) map[string]bool {
	if c.values == nil {
		return nil
	}
	if set, ok := c.known[f.Name]; ok {
		return set
	}
	var set map[string]bool
	if list := c.values.KnownValues(f.Name); list != nil {
		set = make(map[string]bool, len(list))
		for _, s := range list {
			set[s] = true
		}
	}
	c.known[f.Name] = set
	return set
}

// num converts a value of an int, decimal or date field to stored units.
// exact marks =, != and IN, where a value outside an int field's declared
// range is surely a mistake (age = 1990); ranges may reach past the bounds.
func (c *checker) num(f FieldInfo, v Value, exact bool) (int64, error) {
	if f.Type == TypeDate {
		if v.Kind != StringValue {
			return 0, errorf(v.Pos, "%s; expected a date like '2026-01-31', found %s", is(f), clip(v.String()))
		}
		d, err := valueDate(v, "")
		if err != nil {
			if looksLikeDate(v.Str) {
				return 0, err
			}
			return 0, errorf(v.Pos, "%s; expected a date like '2026-01-31', found %s", is(f), clip(v.String()))
		}
		return dayInRange(d)
	}
	switch v.Kind {
	case StringValue:
		if n := strings.TrimSpace(v.Str); n != "" && isNumberText(n) {
			return 0, errorf(v.Pos, "%s; write the number without quotes: %s", is(f), clip(n))
		}
		return 0, errorf(v.Pos, "%s; expected a number, found %s", is(f), clip(v.String()))
	case BoolValue:
		return 0, errorf(v.Pos, "%s; expected a number, found %s", is(f), v)
	}
	scale := 0
	if f.Type == TypeDecimal {
		scale = max(f.Scale, 0) // a negative scale is a schema bug; treat it as none
	}
	n, err := v.Num.Scaled(scale)
	switch {
	case errors.Is(err, ErrPrecision) && f.Type == TypeInt:
		return 0, errorf(v.Pos, "%s; %s is not a whole number", is(f), clip(v.Num.Text))
	case errors.Is(err, ErrPrecision):
		return 0, errorf(v.Pos, "field %s has %d decimal places; %s has more", FormatName(f.Name), scale, clip(v.Num.Text))
	case err != nil:
		return 0, errorf(v.Pos, "%s is out of range for field %s", clip(v.Num.Text), FormatName(f.Name))
	}
	if exact && f.hasRange() && (n < f.Min || n > f.Max) {
		return 0, errorf(v.Pos, "%s is outside the range of field %s (%d to %d)", clip(v.Num.Text), FormatName(f.Name), f.Min, f.Max)
	}
	return n, nil
}

// isNumberText reports whether s would lex as a number, to tell the user
// that '30' only needs its quotes removed.
func isNumberText(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, dot := strings.Cut(s, ".")
	digits := func(t string) bool {
		if t == "" {
			return false
		}
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return false
			}
		}
		return true
	}
	return digits(intPart) && (!dot || digits(frac))
}
