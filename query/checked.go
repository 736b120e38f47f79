package query

import (
	"fmt"
	"strconv"
	"strings"
)

// Checked is a query resolved against a schema — the seam between the front
// end and the planner. Field names carry their canonical spelling and type,
// constants are typed (ints as int64, decimals scaled to the field's scale,
// dates as day numbers), and every node keeps the position of the text it
// came from so later stages can still point at it.
type Checked struct {
	Root Pred
	// Segments lists the saved segments the query references, in order of
	// first use, so the engine can resolve them and detect cycles.
	Segments []string
}

// String prints the checked query as canonical text in the segment
// language; checking that text again yields an equal query.
func (c *Checked) String() string { return c.Root.String() }

// Pred is a node of a checked query. The concrete types are *PredOr,
// *PredAnd, *PredNot, *PredAll, *PredSegment, *PredTag, *PredSet,
// *PredBool, *PredNull, *PredCompare, *PredBetween, *PredNumIn,
// *PredWindow and *PredEvent.
type Pred interface {
	Position() Pos
	String() string
	predNode()
}

// PredOr matches profiles matching any term.
type PredOr struct {
	Pos   Pos
	Terms []Pred
}

// PredAnd matches profiles matching every term.
type PredAnd struct {
	Pos   Pos
	Terms []Pred
}

// PredNot is the complement of X over all profiles of the dataset.
type PredNot struct {
	Pos Pos
	X   Pred
}

// PredAll matches every profile.
type PredAll struct {
	Pos Pos
}

// PredSegment is an unresolved reference to a saved segment.
type PredSegment struct {
	Pos  Pos
	Name string
}

// PredTag is =, !=, IN or NOT IN on a tag field: the profile's value is (or,
// Negated, is not) one of Values. Either way only profiles with a value
// match. Values are distinct, in first-use order.
type PredTag struct {
	Pos     Pos
	Field   FieldInfo
	Negated bool
	Values  []string
}

// PredSet is HAS, HAS ANY or HAS ALL on a set field.
type PredSet struct {
	Pos    Pos
	Field  FieldInfo
	Mode   HasMode
	Values []string
}

// PredBool matches profiles whose bool field has Value (a bare name, or =/!=
// with TRUE or FALSE). Profiles without a value never match.
type PredBool struct {
	Pos   Pos
	Field FieldInfo
	Value bool
}

// PredNull is IS NULL (or, Negated, IS NOT NULL).
type PredNull struct {
	Pos     Pos
	Field   FieldInfo
	Negated bool
}

// PredCompare compares an int, decimal or date field with a constant in the
// field's stored units: the integer, the decimal scaled by 10^Scale, or the
// day number (days since 1970-01-01).
type PredCompare struct {
	Pos   Pos
	Field FieldInfo
	Op    Op
	Value int64
}

// PredBetween is an inclusive range Lo ≤ v ≤ Hi (Negated: outside it, among
// profiles with a value) on an int, decimal or date field, in stored units.
// Lo ≤ Hi always holds.
type PredBetween struct {
	Pos     Pos
	Field   FieldInfo
	Negated bool
	Lo, Hi  int64
}

// PredNumIn is IN or NOT IN on an int, decimal or date field, in stored
// units. Values are distinct, in first-use order.
type PredNumIn struct {
	Pos     Pos
	Field   FieldInfo
	Negated bool
	Values  []int64
}

// PredWindow is a time window on a date field. It is never of kind
// WindowBetween: a date range is a PredBetween.
type PredWindow struct {
	Pos    Pos
	Field  FieldInfo
	Window CheckedWindow
}

// PredEvent matches profiles with events of Field whose value is any of
// Values (any value when empty), counted over distinct days within Window
// (within retention when nil) and filtered by Freq (at least one day when
// nil).
type PredEvent struct {
	Pos    Pos
	Field  FieldInfo
	Values []string
	Freq   *Frequency
	Window *CheckedWindow
}

// CheckedWindow is a window with dates as day numbers. Relative windows
// (WindowLast) stay relative: they are resolved against the request's "now"
// at execution, which keeps checked queries cacheable.
type CheckedWindow struct {
	Kind WindowKind
	// Days is the length of a WindowLast window.
	Days int64
	// From is the day of SINCE, BEFORE and ON and the first day of BETWEEN;
	// To is the last day of BETWEEN.
	From, To int64
}

func (w CheckedWindow) String() string {
	switch w.Kind {
	case WindowLast:
		return fmt.Sprintf("IN LAST %d DAYS", w.Days)
	case WindowSince:
		return "SINCE " + quoteDay(w.From)
	case WindowBefore:
		return "BEFORE " + quoteDay(w.From)
	case WindowBetween:
		return "BETWEEN " + quoteDay(w.From) + " AND " + quoteDay(w.To)
	case WindowOn:
		return "ON " + quoteDay(w.From)
	}
	return fmt.Sprintf("WindowKind(%d)", int(w.Kind))
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (year int64, month, day int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, int(m), int(d)
}

// DayString formats a day number as YYYY-MM-DD.
func DayString(day int64) string {
	y, m, d := civilFromDays(day)
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}

func quoteDay(day int64) string { return "'" + DayString(day) + "'" }

// formatStored prints a constant in stored units as a literal of the field.
func formatStored(f FieldInfo, v int64) string {
	switch f.Type {
	case TypeDate:
		return quoteDay(v)
	case TypeDecimal:
		return formatScaled(v, f.Scale)
	}
	return strconv.FormatInt(v, 10)
}

// formatScaled prints v / 10^scale with exactly scale decimals.
func formatScaled(v int64, scale int) string {
	if scale <= 0 {
		return strconv.FormatInt(v, 10)
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u // two's complement magnitude, correct even for math.MinInt64
	}
	digits := strconv.FormatUint(u, 10)
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	s := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

func writeStrings(b *strings.Builder, vs []string) {
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteString(v))
	}
	b.WriteByte(')')
}

func (p *PredOr) String() string {
	parts := make([]string, len(p.Terms))
	for i, t := range p.Terms {
		_, or := t.(*PredOr)
		parts[i] = predParen(t, or)
	}
	return strings.Join(parts, " OR ")
}

func (p *PredAnd) String() string {
	parts := make([]string, len(p.Terms))
	for i, t := range p.Terms {
		parts[i] = predParen(t, isCompound(t))
	}
	return strings.Join(parts, " AND ")
}

func (p *PredNot) String() string { return "NOT " + predParen(p.X, isCompound(p.X)) }

func isCompound(p Pred) bool {
	switch p.(type) {
	case *PredOr, *PredAnd:
		return true
	}
	return false
}

func predParen(p Pred, paren bool) string {
	if paren {
		return "(" + p.String() + ")"
	}
	return p.String()
}

func (p *PredAll) String() string     { return "ALL" }
func (p *PredSegment) String() string { return "SEGMENT(" + quoteString(p.Name) + ")" }

func (p *PredTag) String() string {
	name := FormatName(p.Field.Name)
	if len(p.Values) == 1 {
		op := " = "
		if p.Negated {
			op = " != "
		}
		return name + op + quoteString(p.Values[0])
	}
	var b strings.Builder
	b.WriteString(name)
	if p.Negated {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN ")
	writeStrings(&b, p.Values)
	return b.String()
}

func (p *PredSet) String() string {
	var b strings.Builder
	b.WriteString(FormatName(p.Field.Name))
	b.WriteByte(' ')
	b.WriteString(p.Mode.String())
	b.WriteByte(' ')
	if p.Mode == HasOne && len(p.Values) == 1 {
		b.WriteString(quoteString(p.Values[0]))
	} else {
		writeStrings(&b, p.Values)
	}
	return b.String()
}

func (p *PredBool) String() string {
	if p.Value {
		return FormatName(p.Field.Name)
	}
	return FormatName(p.Field.Name) + " = FALSE"
}

func (p *PredNull) String() string {
	if p.Negated {
		return FormatName(p.Field.Name) + " IS NOT NULL"
	}
	return FormatName(p.Field.Name) + " IS NULL"
}

func (p *PredCompare) String() string {
	return FormatName(p.Field.Name) + " " + p.Op.String() + " " + formatStored(p.Field, p.Value)
}

func (p *PredBetween) String() string {
	not := ""
	if p.Negated {
		not = " NOT"
	}
	return FormatName(p.Field.Name) + not + " BETWEEN " + formatStored(p.Field, p.Lo) + " AND " + formatStored(p.Field, p.Hi)
}

func (p *PredNumIn) String() string {
	var b strings.Builder
	b.WriteString(FormatName(p.Field.Name))
	if p.Negated {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, v := range p.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatStored(p.Field, v))
	}
	b.WriteByte(')')
	return b.String()
}

func (p *PredWindow) String() string { return FormatName(p.Field.Name) + " " + p.Window.String() }

func (p *PredEvent) String() string {
	var b strings.Builder
	b.WriteString(FormatName(p.Field.Name))
	writeStrings(&b, p.Values)
	if p.Freq != nil {
		b.WriteByte(' ')
		b.WriteString(p.Freq.String())
	}
	if p.Window != nil {
		b.WriteByte(' ')
		b.WriteString(p.Window.String())
	}
	return b.String()
}

func (p *PredOr) Position() Pos      { return p.Pos }
func (p *PredAnd) Position() Pos     { return p.Pos }
func (p *PredNot) Position() Pos     { return p.Pos }
func (p *PredAll) Position() Pos     { return p.Pos }
func (p *PredSegment) Position() Pos { return p.Pos }
func (p *PredTag) Position() Pos     { return p.Pos }
func (p *PredSet) Position() Pos     { return p.Pos }
func (p *PredBool) Position() Pos    { return p.Pos }
func (p *PredNull) Position() Pos    { return p.Pos }
func (p *PredCompare) Position() Pos { return p.Pos }
func (p *PredBetween) Position() Pos { return p.Pos }
func (p *PredNumIn) Position() Pos   { return p.Pos }
func (p *PredWindow) Position() Pos  { return p.Pos }
func (p *PredEvent) Position() Pos   { return p.Pos }
func (*PredOr) predNode()            {}
func (*PredAnd) predNode()           {}
func (*PredNot) predNode()           {}
func (*PredAll) predNode()           {}
func (*PredSegment) predNode()       {}
func (*PredTag) predNode()           {}
func (*PredSet) predNode()           {}
func (*PredBool) predNode()          {}
func (*PredNull) predNode()          {}
func (*PredCompare) predNode()       {}
func (*PredBetween) predNode()       {}
func (*PredNumIn) predNode()         {}
func (*PredWindow) predNode()        {}
func (*PredEvent) predNode()         {}
