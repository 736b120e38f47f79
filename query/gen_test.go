package query

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

// astGen builds random ASTs from a fixed seed, to check the printer on
// shapes and spellings no hand-written table covers: keyword-like and
// non-ASCII names, quotes and backslashes in strings, every node kind at
// every nesting.
type astGen struct{ r *rand.Rand }

var genNames = []string{"city", "a", "_x", "城市", "on", "LAST", "Is_Vip", "a b", "a`b", "1st", "naïve", "e\u0301", "ſince", "x-y", "--", "`"}
var genStrings = []string{"", "x", "上海", "it's", `say "hi"`, `back\slash`, "new\nline", "tab\t", "--not a comment", "'", `\`, "\u3000"}
var genNumbers = []string{"0", "-0", "42", "-5", "5000.50", "007", "-0.001", "123456789012345678901234567890"}

func (g astGen) name() string { return genNames[g.r.IntN(len(genNames))] }

func (g astGen) value() Value {
	switch g.r.IntN(3) {
	case 0:
		return Value{Kind: StringValue, Str: genStrings[g.r.IntN(len(genStrings))]}
	case 1:
		return Value{Kind: NumberValue, Num: newNumber(genNumbers[g.r.IntN(len(genNumbers))])}
	}
	return Value{Kind: BoolValue, Bool: g.r.IntN(2) == 0}
}

func (g astGen) values(min int) []Value {
	vs := make([]Value, min+g.r.IntN(3))
	for i := range vs {
		vs[i] = g.value()
	}
	return vs
}

func (g astGen) date() Date {
	d, _ := parseDate(DayString(int64(g.r.IntN(100000) - 30000)))
	return d
}

func (g astGen) window(between bool) *Window {
	kinds := []WindowKind{WindowLast, WindowSince, WindowBefore, WindowOn}
	if between {
		kinds = append(kinds, WindowBetween)
	}
	w := &Window{Kind: kinds[g.r.IntN(len(kinds))]}
	switch w.Kind {
	case WindowLast:
		w.N = int64(g.r.IntN(1000) - 10)
	case WindowBetween:
		w.From, w.To = g.date(), g.date()
	default:
		w.From = g.date()
	}
	return w
}

func (g astGen) expr(depth int) Expr {
	if depth > 0 && g.r.IntN(3) == 0 {
		switch g.r.IntN(3) {
		case 0:
			return &Not{X: g.expr(depth - 1)}
		case 1:
			return &And{Terms: []Expr{g.expr(depth - 1), g.expr(depth - 1)}}
		default:
			return &Or{Terms: []Expr{g.expr(depth - 1), g.expr(depth - 1), g.expr(depth - 1)}}
		}
	}
	f := g.name()
	switch g.r.IntN(11) {
	case 0:
		return &Compare{Field: f, Op: Op(1 + g.r.IntN(6)), Value: g.value()}
	case 1:
		return &In{Field: f, Negated: g.r.IntN(2) == 0, Values: g.values(1)}
	case 2:
		return &Between{Field: f, Negated: g.r.IntN(2) == 0, Lo: g.value(), Hi: g.value()}
	case 3:
		if g.r.IntN(2) == 0 {
			return &Has{Field: f, Mode: HasOne, Values: []Value{g.value()}}
		}
		return &Has{Field: f, Mode: HasMode(2 + g.r.IntN(2)), Values: g.values(1)}
	case 4:
		return &IsNull{Field: f, Negated: g.r.IntN(2) == 0}
	case 5:
		return &BoolField{Field: f}
	case 6:
		e := &Event{Field: f, Values: g.values(0)}
		if g.r.IntN(2) == 0 {
			e.Freq = &Frequency{AtLeast: g.r.IntN(2) == 0, N: int64(g.r.IntN(20) - 2)}
		}
		if g.r.IntN(2) == 0 {
			e.Window = g.window(true)
		}
		return e
	case 7:
		return &DateWindow{Field: f, Window: g.window(false)}
	case 8:
		return &Segment{Name: genStrings[1+g.r.IntN(len(genStrings)-1)]}
	case 9:
		return &All{}
	}
	return &Compare{Field: f, Op: OpEq, Value: Value{Kind: NumberValue, Num: newNumber(strconv.Itoa(g.r.IntN(100)))}}
}

func TestRandomASTRoundTrip(t *testing.T) {
	g := astGen{rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < 5000; i++ {
		want := g.expr(4)
		text := want.String()
		got, err := Parse(text, Options{})
		if err != nil {
			t.Fatalf("case %d: %s\ndoes not parse: %v", i, text, err)
		}
		stripPos(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: %s\nparses back as %s\n got: %#v\nwant: %#v", i, text, got, got, want)
		}
	}
}
