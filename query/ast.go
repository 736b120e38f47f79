package query

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Expr is a node of the segment AST: the syntax the user wrote, with
// positions, before any schema is consulted. The concrete types are the
// pointers *Or, *And, *Not, *Compare, *In, *Between, *Has, *IsNull,
// *BoolField, *Event, *DateWindow, *Segment and *All.
//
// String prints canonical text (upper-case keywords, single-quoted strings,
// back-quoted names only where needed, parentheses only where precedence
// needs them) that parses back to an equal AST.
type Expr interface {
	Position() Pos
	String() string
	exprNode()
}

// Or is a disjunction of two or more terms, in source order.
type Or struct {
	Pos   Pos
	Terms []Expr
}

// And is a conjunction of two or more terms, in source order.
type And struct {
	Pos   Pos
	Terms []Expr
}

// Not is the complement over all profiles of the dataset.
type Not struct {
	Pos Pos
	X   Expr
}

// Op is a comparison operator.
type Op int

// The comparison operators, in the order the grammar documents them.
const (
	OpEq Op = iota + 1 // =
	OpNe               // !=
	OpLt               // <
	OpLe               // <=
	OpGt               // >
	OpGe               // >=
)

func (o Op) String() string {
	switch o {
	case OpEq:
		return "="
	case OpNe:
		return "!="
	case OpLt:
		return "<"
	case OpLe:
		return "<="
	case OpGt:
		return ">"
	case OpGe:
		return ">="
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

func parseOp(s string) (Op, bool) {
	for o := OpEq; o <= OpGe; o++ {
		if o.String() == s {
			return o, true
		}
	}
	return 0, false
}

// Compare is `field op value`.
type Compare struct {
	Pos   Pos
	Field string
	Op    Op
	Value Value
}

// In is `field [NOT] IN (values)`.
type In struct {
	Pos     Pos
	Field   string
	Negated bool
	Values  []Value
}

// Between is `field [NOT] BETWEEN lo AND hi` (inclusive). On a date field the
// same text is a date window; the checker decides which by the field type.
type Between struct {
	Pos     Pos
	Field   string
	Negated bool
	Lo, Hi  Value
}

// HasMode says how many of a HAS condition's values a set must contain.
type HasMode int

// HasOne is `HAS v`, HasAny `HAS ANY (…)`, HasAll `HAS ALL (…)`.
const (
	HasOne HasMode = iota + 1
	HasAny
	HasAll
)

func (m HasMode) String() string {
	switch m {
	case HasOne:
		return "HAS"
	case HasAny:
		return "HAS ANY"
	case HasAll:
		return "HAS ALL"
	}
	return fmt.Sprintf("HasMode(%d)", int(m))
}

// Has is `field HAS v`, `field HAS ANY (…)` or `field HAS ALL (…)`.
type Has struct {
	Pos    Pos
	Field  string
	Mode   HasMode
	Values []Value
}

// IsNull is `field IS NULL` (Negated: `field IS NOT NULL`).
type IsNull struct {
	Pos     Pos
	Field   string
	Negated bool
}

// BoolField is a bare field name: the bool field is true.
type BoolField struct {
	Pos   Pos
	Field string
}

// Frequency is `AT LEAST n TIMES` (AtLeast) or `AT MOST n TIMES`; n counts
// distinct days with a matching event.
type Frequency struct {
	Pos     Pos
	AtLeast bool
	N       int64
}

func (f *Frequency) String() string {
	if f.AtLeast {
		return fmt.Sprintf("AT LEAST %d TIMES", f.N)
	}
	return fmt.Sprintf("AT MOST %d TIMES", f.N)
}

// Event is `event([values]) [frequency] [window]`.
type Event struct {
	Pos    Pos
	Field  string
	Values []Value
	Freq   *Frequency
	Window *Window
}

// DateWindow is `datefield window`, e.g. `registered_at IN LAST 30 DAYS`.
// The parser never produces a BETWEEN window here (that text parses as
// Between); the checker resolves Between on a date field instead.
type DateWindow struct {
	Pos    Pos
	Field  string
	Window *Window
}

// Segment is `SEGMENT('name')`, a reference to a saved segment. It is left
// unresolved: the engine owns saved segments and their cycle detection.
type Segment struct {
	Pos  Pos
	Name string
}

// All is `ALL`, every profile.
type All struct {
	Pos Pos
}

// WindowKind is the form of a time window.
type WindowKind int

// The window forms.
const (
	WindowLast    WindowKind = iota + 1 // IN LAST N DAYS
	WindowSince                         // SINCE From (inclusive)
	WindowBefore                        // BEFORE From (exclusive)
	WindowBetween                       // BETWEEN From AND To (inclusive)
	WindowOn                            // ON From
)

// Window is a time window. N is used by WindowLast; From by every other
// kind; To by WindowBetween only.
type Window struct {
	Pos      Pos
	Kind     WindowKind
	N        int64
	From, To Date
}

func (w *Window) String() string {
	switch w.Kind {
	case WindowLast:
		return fmt.Sprintf("IN LAST %d DAYS", w.N)
	case WindowSince:
		return "SINCE " + w.From.Quoted()
	case WindowBefore:
		return "BEFORE " + w.From.Quoted()
	case WindowBetween:
		return "BETWEEN " + w.From.Quoted() + " AND " + w.To.Quoted()
	case WindowOn:
		return "ON " + w.From.Quoted()
	}
	return fmt.Sprintf("WindowKind(%d)", int(w.Kind))
}

// Date is a calendar day written 'YYYY-MM-DD', validated when parsed.
type Date struct {
	Pos              Pos
	Year, Month, Day int
}

// String prints the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Quoted prints the date as the language writes it, in single quotes.
func (d Date) Quoted() string { return "'" + d.String() + "'" }

// DayNumber returns the number of days since 1970-01-01 (negative before).
func (d Date) DayNumber() int64 { return daysFromCivil(int64(d.Year), d.Month, d.Day) }

// daysFromCivil is Howard Hinnant's days_from_civil: exact for the proleptic
// Gregorian calendar and independent of time zones, unlike going through
// time.Time.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseDate accepts exactly YYYY-MM-DD with a real calendar day.
func parseDate(s string) (Date, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, false
	}
	num := func(t string) (int, bool) {
		n := 0
		for i := 0; i < len(t); i++ {
			if t[i] < '0' || t[i] > '9' {
				return 0, false
			}
			n = n*10 + int(t[i]-'0')
		}
		return n, true
	}
	y, ok1 := num(s[0:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return Date{}, false
	}
	return Date{Year: y, Month: m, Day: d}, true
}

// ValueKind is the type of a literal.
type ValueKind int

// The literal kinds.
const (
	StringValue ValueKind = iota + 1
	NumberValue
	BoolValue
)

// Value is a literal. Only the field matching Kind is meaningful.
type Value struct {
	Pos  Pos
	Kind ValueKind
	Str  string // StringValue: the decoded text, escapes resolved
	Num  Number // NumberValue
	Bool bool   // BoolValue
}

// String prints the literal as canonical source text.
func (v Value) String() string {
	switch v.Kind {
	case StringValue:
		return quoteString(v.Str)
	case NumberValue:
		return v.Num.Text
	case BoolValue:
		if v.Bool {
			return "TRUE"
		}
		return "FALSE"
	}
	return fmt.Sprintf("ValueKind(%d)", int(v.Kind))
}

// Number is a numeric literal. Text is exactly what was written (optional
// '-', digits, optional '.' and digits) so that decimals are never rounded
// through binary floating point; Float is the parsed approximation for
// callers that only need magnitude (±Inf when out of float64 range).
type Number struct {
	Text  string
	Float float64
}

// Errors from Number.Scaled, for callers that want to tell them apart.
var (
	ErrPrecision = errors.New("more decimal places than the field allows")
	ErrRange     = errors.New("number out of range")
)

func newNumber(text string) Number {
	f, _ := strconv.ParseFloat(text, 64) // syntax was checked by the lexer; ErrRange leaves ±Inf, which is the honest approximation
	return Number{Text: text, Float: f}
}

// IsInteger reports whether the literal was written without a decimal point.
func (n Number) IsInteger() bool { return !strings.Contains(n.Text, ".") }

// Scaled returns the number multiplied by 10^scale as an exact int64:
// Scaled(2) of "5000.5" is 500050. It fails with ErrPrecision when the
// number has non-zero digits beyond scale decimal places and with ErrRange
// when the result does not fit in int64.
func (n Number) Scaled(scale int) (int64, error) {
	s := n.Text
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	if trimmed := strings.TrimRight(frac, "0"); len(trimmed) > scale {
		return 0, ErrPrecision
	} else {
		frac = trimmed
	}
	digits := intPart + frac + strings.Repeat("0", scale-len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, nil
	}
	u, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, ErrRange
	}
	if neg {
		if u > 1<<63 {
			return 0, ErrRange
		}
		return -int64(u-1) - 1, nil // avoids overflow at math.MinInt64
	}
	if u > math.MaxInt64 {
		return 0, ErrRange
	}
	return int64(u), nil
}

// quoteString prints a string literal in single quotes, escaping only what
// must be escaped so Chinese and other text stays readable.
func quoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if r == '\'' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// FormatName prints a field name as the language accepts it: bare when it is
// a plain identifier that is not a keyword, back-quoted otherwise.
func FormatName(name string) string {
	plain := name != "" && !isKeyword(name)
	for i, r := range name {
		if !(i == 0 && isIdentStart(r) || i > 0 && isIdentPart(r)) {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

func writeValues(b *strings.Builder, vs []Value) {
	b.WriteByte('(')
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteByte(')')
}

func (e *Or) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = parenIf(t, isOr(t))
	}
	return strings.Join(parts, " OR ")
}

func (e *And) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = parenIf(t, isOr(t) || isAnd(t))
	}
	return strings.Join(parts, " AND ")
}

func (e *Not) String() string { return "NOT " + parenIf(e.X, isOr(e.X) || isAnd(e.X)) }

func isOr(e Expr) bool  { _, ok := e.(*Or); return ok }
func isAnd(e Expr) bool { _, ok := e.(*And); return ok }

func parenIf(e Expr, paren bool) string {
	if paren {
		return "(" + e.String() + ")"
	}
	return e.String()
}

func (e *Compare) String() string {
	return FormatName(e.Field) + " " + e.Op.String() + " " + e.Value.String()
}

func (e *In) String() string {
	var b strings.Builder
	b.WriteString(FormatName(e.Field))
	if e.Negated {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN ")
	writeValues(&b, e.Values)
	return b.String()
}

func (e *Between) String() string {
	not := ""
	if e.Negated {
		not = " NOT"
	}
	return FormatName(e.Field) + not + " BETWEEN " + e.Lo.String() + " AND " + e.Hi.String()
}

func (e *Has) String() string {
	var b strings.Builder
	b.WriteString(FormatName(e.Field))
	b.WriteByte(' ')
	b.WriteString(e.Mode.String())
	b.WriteByte(' ')
	if e.Mode == HasOne && len(e.Values) == 1 {
		b.WriteString(e.Values[0].String())
	} else {
		writeValues(&b, e.Values)
	}
	return b.String()
}

func (e *IsNull) String() string {
	if e.Negated {
		return FormatName(e.Field) + " IS NOT NULL"
	}
	return FormatName(e.Field) + " IS NULL"
}

func (e *BoolField) String() string { return FormatName(e.Field) }

func (e *Event) String() string {
	var b strings.Builder
	b.WriteString(FormatName(e.Field))
	writeValues(&b, e.Values)
	if e.Freq != nil {
		b.WriteByte(' ')
		b.WriteString(e.Freq.String())
	}
	if e.Window != nil {
		b.WriteByte(' ')
		b.WriteString(e.Window.String())
	}
	return b.String()
}

func (e *DateWindow) String() string { return FormatName(e.Field) + " " + e.Window.String() }

func (e *Segment) String() string { return "SEGMENT(" + quoteString(e.Name) + ")" }

func (e *All) String() string { return "ALL" }

func (e *Or) Position() Pos         { return e.Pos }
func (e *And) Position() Pos        { return e.Pos }
func (e *Not) Position() Pos        { return e.Pos }
func (e *Compare) Position() Pos    { return e.Pos }
func (e *In) Position() Pos         { return e.Pos }
func (e *Between) Position() Pos    { return e.Pos }
func (e *Has) Position() Pos        { return e.Pos }
func (e *IsNull) Position() Pos     { return e.Pos }
func (e *BoolField) Position() Pos  { return e.Pos }
func (e *Event) Position() Pos      { return e.Pos }
func (e *DateWindow) Position() Pos { return e.Pos }
func (e *Segment) Position() Pos    { return e.Pos }
func (e *All) Position() Pos        { return e.Pos }

func (*Or) exprNode()         {}
func (*And) exprNode()        {}
func (*Not) exprNode()        {}
func (*Compare) exprNode()    {}
func (*In) exprNode()         {}
func (*Between) exprNode()    {}
func (*Has) exprNode()        {}
func (*IsNull) exprNode()     {}
func (*BoolField) exprNode()  {}
func (*Event) exprNode()      {}
func (*DateWindow) exprNode() {}
func (*Segment) exprNode()    {}
func (*All) exprNode()        {}

// Walk calls fn for e and, while fn returns true, for its sub-expressions in
// source order (depth first). Values, windows and frequencies are part of
// their condition and are not visited separately.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *Or:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *And:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *Not:
		Walk(e.X, fn)
	}
}
