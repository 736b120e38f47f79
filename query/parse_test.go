package query

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkError asserts the invariants every error of the package keeps: it is
// an *Error whose line and column agree with its byte offset into q.
func checkError(t *testing.T, q string, err error) *Error {
	t.Helper()
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("%q: error %v (%T) is not a *query.Error", q, err, err)
	}
	if qe.Offset < 0 || qe.Offset > len(q) {
		t.Fatalf("%q: offset %d outside the query (%d bytes)", q, qe.Offset, len(q))
	}
	if qe.Msg == "" {
		t.Fatalf("%q: empty message", q)
	}
	prefix := q[:qe.Offset]
	line := 1 + strings.Count(prefix, "\n")
	col := 1 + utf8.RuneCountInString(prefix[strings.LastIndex(prefix, "\n")+1:])
	if qe.Line != line || qe.Column != col {
		t.Fatalf("%q: error at line %d, column %d, but offset %d is line %d, column %d", q, qe.Line, qe.Column, qe.Offset, line, col)
	}
	return qe
}

// stripPos zeroes every position in an AST so trees parsed from different
// text can be compared.
func stripPos(e Expr) {
	Walk(e, func(e Expr) bool {
		values := func(vs []Value) {
			for i := range vs {
				vs[i].Pos = Pos{}
			}
		}
		window := func(w *Window) {
			if w != nil {
				w.Pos, w.From.Pos, w.To.Pos = Pos{}, Pos{}, Pos{}
			}
		}
		switch e := e.(type) {
		case *Or:
			e.Pos = Pos{}
		case *And:
			e.Pos = Pos{}
		case *Not:
			e.Pos = Pos{}
		case *Compare:
			e.Pos, e.Value.Pos = Pos{}, Pos{}
		case *In:
			e.Pos = Pos{}
			values(e.Values)
		case *Between:
			e.Pos, e.Lo.Pos, e.Hi.Pos = Pos{}, Pos{}, Pos{}
		case *Has:
			e.Pos = Pos{}
			values(e.Values)
		case *IsNull:
			e.Pos = Pos{}
		case *BoolField:
			e.Pos = Pos{}
		case *Event:
			e.Pos = Pos{}
			values(e.Values)
			if e.Freq != nil {
				e.Freq.Pos = Pos{}
			}
			window(e.Window)
		case *DateWindow:
			e.Pos = Pos{}
			window(e.Window)
		case *Segment:
			e.Pos = Pos{}
		case *All:
			e.Pos = Pos{}
		}
		return true
	})
}

// roundTrip asserts parse → print → parse gives an equal AST and that the
// canonical text is a fixed point of printing.
func roundTrip(t *testing.T, q string, e Expr) {
	t.Helper()
	text := e.String()
	// The canonical text may be longer than the input (DAY → DAYS, quotes),
	// so only the length limit is relaxed for the second parse.
	e2, err := Parse(text, Options{Limits: Limits{MaxLength: 1 << 30}})
	if err != nil {
		t.Fatalf("%q printed as %q, which does not parse: %v", q, text, err)
	}
	if text2 := e2.String(); text2 != text {
		t.Fatalf("%q: printing is not stable:\n first: %s\nsecond: %s", q, text, text2)
	}
	stripPos(e)
	stripPos(e2)
	if !reflect.DeepEqual(e, e2) {
		t.Fatalf("%q: AST changed through %q", q, text)
	}
}

// textCase is a table case whose expectation is text: canonical output or
// an exact error message.
type textCase struct{ name, in, want string }

var parseCanonicalCases = []textCase{
	{"keywords any case", "gEnDeR = 'f' and AGE between 1 and 2 or not Is_Vip", "gEnDeR = 'f' AND AGE BETWEEN 1 AND 2 OR NOT Is_Vip"},
	{"double quotes", `city = "上海"`, `city = '上海'`},
	{"escapes", `x = "it's \"ok\" \\"`, `x = 'it\'s "ok" \\'`},
	{"DAY and TIME", "p() at least 1 time in last 1 day", "p() AT LEAST 1 TIMES IN LAST 1 DAYS"},
	{"comments and newlines", "a -- first\n AND -- and\n b -- end", "a AND b"},
	{"redundant parentheses", "((a)) AND ((b OR c))", "a AND (b OR c)"},
	{"nested AND kept", "(a AND b) AND c", "(a AND b) AND c"},
	{"nested OR kept", "a OR (b OR c)", "a OR (b OR c)"},
	{"AND binds tighter", "a OR b AND c", "a OR b AND c"},
	{"NOT binds tightest", "NOT a AND b", "NOT a AND b"},
	{"NOT of group", "NOT (a OR b)", "NOT (a OR b)"},
	{"back-quoted keyword", "`on` = 1", "`on` = 1"},
	{"back-quote unneeded", "`city` = 1", "city = 1"},
	{"back-quote in name", "`a``b` = 1", "`a``b` = 1"},
	{"name with space", "`order count` > 3", "`order count` > 3"},
	{"leading digit", "`1st` = 1", "`1st` = 1"},
	{"unicode name", "城市 = '上海'", "城市 = '上海'"},
	{"numbers verbatim", "x IN (007, -0.50, 5000.50)", "x IN (007, -0.50, 5000.50)"},
	{"booleans", "x = true OR y = FALSE", "x = TRUE OR y = FALSE"},
	{"event no values", "purchase()", "purchase()"},
	{"event full", "purchase('a','b') AT MOST 2 TIMES SINCE '2026-01-01'", "purchase('a', 'b') AT MOST 2 TIMES SINCE '2026-01-01'"},
	{"has single", "c HAS 'x'", "c HAS 'x'"},
	{"has any", "c has any ('x','y')", "c HAS ANY ('x', 'y')"},
	{"segment", `segment("vip")`, "SEGMENT('vip')"},
	{"date window", "d on '2026-01-01'", "d ON '2026-01-01'"},
	{"field BETWEEN dates", "d BETWEEN '2026-01-01' AND '2026-02-01'", "d BETWEEN '2026-01-01' AND '2026-02-01'"},
	{"ideographic space", "city　=　'上海'", "city = '上海'"},
	{"not a keyword: long s", "ſince = 1", "ſince = 1"},
	{"keyword prefix", "last_purchase_at IN LAST 7 DAYS", "last_purchase_at IN LAST 7 DAYS"},
}

func TestParseCanonical(t *testing.T) {
	for _, c := range parseCanonicalCases {
		t.Run(c.name, func(t *testing.T) {
			e, err := Parse(c.in, Options{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if got := e.String(); got != c.want {
				t.Fatalf("Parse(%q).String()\n got: %s\nwant: %s", c.in, got, c.want)
			}
			roundTrip(t, c.in, e)
		})
	}
}

type astCase struct {
	name string
	in   string
	want Expr
}

func parseASTCases() []astCase {
	cmp := func(field string, op Op, v Value) *Compare { return &Compare{Field: field, Op: op, Value: v} }
	str := func(s string) Value { return Value{Kind: StringValue, Str: s} }
	num := func(s string) Value { return Value{Kind: NumberValue, Num: newNumber(s)} }
	date := func(y, m, d int) Date { return Date{Year: y, Month: m, Day: d} }
	return []astCase{
		{"precedence", "a OR b AND NOT c", &Or{Terms: []Expr{
			&BoolField{Field: "a"},
			&And{Terms: []Expr{&BoolField{Field: "b"}, &Not{X: &BoolField{Field: "c"}}}},
		}}},
		{"n-ary AND", "a AND b AND c", &And{Terms: []Expr{&BoolField{Field: "a"}, &BoolField{Field: "b"}, &BoolField{Field: "c"}}}},
		{"comparison", "age >= 18", cmp("age", OpGe, num("18"))},
		{"decoded string", `city = 'it\'s \\ "x"'`, cmp("city", OpEq, str(`it's \ "x"`))},
		{"true", "x != TRUE", cmp("x", OpNe, Value{Kind: BoolValue, Bool: true})},
		{"in", "c NOT IN ('a', 'b')", &In{Field: "c", Negated: true, Values: []Value{str("a"), str("b")}}},
		{"between", "a NOT BETWEEN 1 AND 2.5", &Between{Field: "a", Negated: true, Lo: num("1"), Hi: num("2.5")}},
		{"between dates is Between", "d BETWEEN '2026-01-01' AND '2026-01-31'", &Between{Field: "d", Lo: str("2026-01-01"), Hi: str("2026-01-31")}},
		{"has all", "c HAS ALL ('x')", &Has{Field: "c", Mode: HasAll, Values: []Value{str("x")}}},
		{"has one", "c HAS 'x'", &Has{Field: "c", Mode: HasOne, Values: []Value{str("x")}}},
		{"is not null", "c IS NOT NULL", &IsNull{Field: "c", Negated: true}},
		{"event", "p('x') AT LEAST 3 TIMES IN LAST 30 DAYS", &Event{Field: "p", Values: []Value{str("x")},
			Freq: &Frequency{AtLeast: true, N: 3}, Window: &Window{Kind: WindowLast, N: 30}}},
		{"event between", "p() BETWEEN '2026-01-01' AND '2026-01-31'", &Event{Field: "p", Values: []Value{},
			Window: &Window{Kind: WindowBetween, From: date(2026, 1, 1), To: date(2026, 1, 31)}}},
		{"date window", "d BEFORE '2024-02-29'", &DateWindow{Field: "d", Window: &Window{Kind: WindowBefore, From: date(2024, 2, 29)}}},
		{"segment", "SEGMENT('vip')", &Segment{Name: "vip"}},
		{"all", "all", &All{}},
		{"back-quoted", "`a``b c`", &BoolField{Field: "a`b c"}},
	}
}

func TestParseAST(t *testing.T) {
	for _, c := range parseASTCases() {
		t.Run(c.name, func(t *testing.T) {
			e, err := Parse(c.in, Options{})
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			stripPos(e)
			if !reflect.DeepEqual(e, c.want) {
				t.Fatalf("Parse(%q)\n got: %#v\nwant: %#v", c.in, e, c.want)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	q := "gender = '女'\n  AND 城市 IN ('上海', \"杭州\")\n  AND p() IN LAST 7 DAYS"
	e, err := Parse(q, Options{})
	if err != nil {
		t.Fatal(err)
	}
	and := e.(*And)
	want := []struct {
		got       Pos
		text      string
		line, col int
	}{
		{and.Terms[0].Position(), "gender", 1, 1},
		{and.Terms[0].(*Compare).Value.Pos, "'女'", 1, 10},
		{and.Terms[1].Position(), "城市", 2, 7},
		{and.Terms[1].(*In).Values[1].Pos, `"杭州"`, 2, 20},
		{and.Terms[2].(*Event).Window.Pos, "IN LAST", 3, 11},
	}
	for _, w := range want {
		if w.got.Line != w.line || w.got.Column != w.col {
			t.Errorf("%s at line %d, column %d, want line %d, column %d", w.text, w.got.Line, w.got.Column, w.line, w.col)
		}
		if w.got.Offset != strings.Index(q, w.text) {
			t.Errorf("%s at offset %d, want %d", w.text, w.got.Offset, strings.Index(q, w.text))
		}
	}
}

var parseErrorCases = []textCase{
	{"missing value", "city_code = ", "line 1, column 12: expected a value after '=', found end of query"},
	{"missing value, comment after", "age =\n-- nothing\n", "line 1, column 6: expected a value after '=', found end of query"},
	{"dangling AND", "gender = 'f' AND", "line 1, column 17: expected a condition after AND, found end of query"},
	{"empty", "  ", "line 1, column 1: the query is empty; write a condition such as gender = 'female', or ALL"},
	{"unquoted text", "city = Shanghai", "line 1, column 8: expected a value after '=', found Shanghai; write text in quotes: 'Shanghai'"},
	{"reserved name", "on = 1", "line 1, column 1: expected a condition, found ON; ON is a reserved word, so a field with that name is written `on`"},
	{"unbalanced", "a)", "line 1, column 2: ')' has no matching '('"},
	{"missing close", "(a = 1", "line 1, column 7: expected AND, OR or ')' after 1, found end of query"},
	{"trailing comma", "a IN (1,", "line 1, column 9: expected a value after ',', found end of query"},
	{"list separator", "a IN (1 2)", "line 1, column 9: expected ',' or ')' after 1, found 2"},
	{"missing operator", "city '上海'", "line 1, column 6: expected an operator such as =, IN or HAS after city, found '上海'"},
	{"IN what", "a IN 'x'", "line 1, column 6: expected '(' or LAST after IN, found 'x'"},
	{"DAYS", "p() IN LAST 7", "line 1, column 14: expected DAYS after 7, found end of query"},
	{"TIMES", "p() AT LEAST 3 DAYS", "line 1, column 16: expected TIMES after 3, found DAYS"},
	{"frequency without event", "p AT LEAST 3 TIMES", "line 1, column 3: expected AND, OR or the end of the query after p, found AT; AT LEAST and AT MOST follow an event condition such as purchase() or purchase('coffee')"},
	{"whole days", "p() IN LAST 1.5 DAYS", "line 1, column 13: the number of days must be a whole number, found 1.5"},
	{"date format", "p() SINCE '2026-1-1'", "line 1, column 11: expected a date like '2026-01-31' after SINCE, found '2026-1-1'"},
	{"calendar date", "p() ON '2026-02-29'", "line 1, column 8: '2026-02-29' is not a calendar date"},
	{"invalid UTF-8", "city = '\xff'", "line 1, column 9: the query is not valid UTF-8 (invalid byte 0xff)"},
	{"invalid UTF-8 line 2", "a\n  = '上\xe4'", "line 2, column 7: the query is not valid UTF-8 (invalid byte 0xe4)"},
	{"unterminated string", "city = '上海", "line 1, column 8: unterminated string; add the closing '"},
	{"bad escape", `x = 'a\tb'`, `line 1, column 7: unknown escape '\t' in string; only \', \" and \\ are allowed`},
	{"full-width paren", "city IN （'上海'）", "line 1, column 9: unexpected full-width character '（'; type '(' instead"},
	{"double equals", "a == 1", "line 1, column 3: '==' is not an operator; use ="},
	{"number glued", "a = 30days", "line 1, column 5: invalid number '30days'; a name that starts with a digit must be back-quoted"},
	{"lone minus", "a = - 1", "line 1, column 5: unexpected '-'; a negative number is written like -5 and a comment starts with --"},
	{"segment name", "SEGMENT(vip)", "line 1, column 9: expected a segment name in quotes after '(', found vip; write text in quotes: 'vip'"},
	{"empty segment name", "SEGMENT('')", "line 1, column 9: expected a segment name in quotes, like SEGMENT('vip'), found ''"},
}

func TestParseErrors(t *testing.T) {
	for _, c := range parseErrorCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.in, Options{})
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want %q", c.in, c.want)
			}
			checkError(t, c.in, err)
			if err.Error() != c.want {
				t.Fatalf("Parse(%q)\n got: %s\nwant: %s", c.in, err, c.want)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	if d := DefaultLimits(); d != (Limits{MaxLength: 65536, MaxDepth: 64, MaxListValues: 10000, MaxNodes: 10000}) {
		t.Fatalf("DefaultLimits() = %+v", d)
	}
}

type limitCase struct {
	name string
	in   string
	lim  Limits
	want string // "" means it must parse
}

func limitCases() []limitCase {
	nested := func(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) }
	nots := func(n int) string { return strings.Repeat("NOT ", n) + "a" }
	list := func(n int) string { return "a IN (" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + ")" }
	ors := func(n int) string { return strings.TrimSuffix(strings.Repeat("a OR ", n), " OR ") }
	return []limitCase{
		{"length at limit", "a" + strings.Repeat(" ", 65535), Limits{}, ""},
		{"length over limit", "a" + strings.Repeat(" ", 65536), Limits{}, "line 1, column 1: the query is 65537 bytes long; the limit is 65536 bytes"},
		{"custom length", "age > 1", Limits{MaxLength: 5}, "line 1, column 1: the query is 7 bytes long; the limit is 5 bytes"},
		{"depth 64", nested(64), Limits{}, ""},
		{"depth 65", nested(65), Limits{}, "line 1, column 65: the query nests more than 64 levels deep; simplify the parentheses"},
		{"deep nesting is cheap", nested(30000), Limits{MaxLength: 1 << 20}, "line 1, column 65: the query nests more than 64 levels deep; simplify the parentheses"},
		{"NOT depth 64", nots(64), Limits{}, ""},
		{"NOT depth 65", nots(65), Limits{}, "line 1, column 257: the query nests more than 64 levels deep (NOT and parentheses); simplify it"},
		{"NOT and parens", "NOT (" + nots(62) + ")", Limits{}, ""},
		{"NOT and parens over", "NOT (" + nots(63) + ")", Limits{}, "line 1, column 254: the query nests more than 64 levels deep (NOT and parentheses); simplify it"},
		{"NOTs side by side", strings.TrimSuffix(strings.Repeat(nots(40)+" AND ", 5), " AND "), Limits{}, ""},
		{"infix NOT does not nest", strings.TrimSuffix(strings.Repeat("a NOT IN (1) AND ", 100), " AND "), Limits{MaxDepth: 2}, ""},
		{"list parentheses do not nest", "(a IN (1))", Limits{MaxDepth: 1}, ""},
		{"custom depth", "((a))", Limits{MaxDepth: 1}, "line 1, column 2: the query nests more than 1 levels deep; simplify the parentheses"},
		{"list at limit", list(10000), Limits{}, ""},
		{"list over limit", list(10001), Limits{}, "line 1, column 20007: the list has more than 10000 values; upload the ids as a saved segment instead"},
		{"custom list", "c HAS ANY ('a', 'b', 'c')", Limits{MaxListValues: 2}, "line 1, column 22: the list has more than 2 values; upload the ids as a saved segment instead"},
		{"event list", "p(1, 2, 3)", Limits{MaxListValues: 2}, "line 1, column 9: the list has more than 2 values; upload the ids as a saved segment instead"},
		{"nodes at limit", ors(9999), Limits{}, ""}, // 9999 conditions + the OR node
		{"nodes over limit", ors(10000), Limits{}, "line 1, column 49996: the query has more than 10000 conditions and operators; split it into saved segments"},
		{"custom nodes", "a AND NOT b", Limits{MaxNodes: 3}, "line 1, column 11: the query has more than 3 conditions and operators; split it into saved segments"},
	}
}

func TestLimits(t *testing.T) {
	for _, c := range limitCases() {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.in, Options{Limits: c.lim})
			if c.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", c.want)
			}
			checkError(t, c.in, err)
			if err.Error() != c.want {
				t.Fatalf("\n got: %s\nwant: %s", err, c.want)
			}
		})
	}
}

func TestCorpusRoundTrip(t *testing.T) {
	for _, q := range append(append(append([]string{}, designExamples...), checkQueries...), parseQueries...) {
		e, err := Parse(q, Options{})
		if err != nil {
			t.Errorf("Parse(%q): %v", q, err)
			continue
		}
		roundTrip(t, q, e)
	}
}

func TestErrorsArePositioned(t *testing.T) {
	for _, q := range errorQueries {
		if _, err := Parse(q, Options{}); err != nil {
			checkError(t, q, err)
		}
	}
}

func TestNumberScaled(t *testing.T) {
	cases := []struct {
		text  string
		scale int
		want  int64
		err   error
	}{
		{"5000.50", 2, 500050, nil},
		{"5000.5", 2, 500050, nil},
		{"5000", 2, 500000, nil},
		{"-0.05", 2, -5, nil},
		{"12.340", 2, 1234, nil},
		{"12.345", 2, 0, ErrPrecision},
		{"30", 0, 30, nil},
		{"30.0", 0, 30, nil},
		{"30.5", 0, 0, ErrPrecision},
		{"007", 0, 7, nil},
		{"-0", 0, 0, nil},
		{"9223372036854775807", 0, 9223372036854775807, nil},
		{"9223372036854775808", 0, 0, ErrRange},
		{"-9223372036854775808", 0, -9223372036854775808, nil},
		{"-9223372036854775809", 0, 0, ErrRange},
		{"92233720368547758.08", 2, 0, ErrRange},
	}
	for _, c := range cases {
		got, err := newNumber(c.text).Scaled(c.scale)
		if got != c.want || err != c.err {
			t.Errorf("Number(%s).Scaled(%d) = %d, %v; want %d, %v", c.text, c.scale, got, err, c.want, c.err)
		}
	}
}

func TestDayNumbers(t *testing.T) {
	cases := []struct {
		date string
		day  int64
	}{
		{"1970-01-01", 0}, {"1969-12-31", -1}, {"2000-02-29", 11016}, {"1900-01-01", minDay},
		{"2199-12-31", maxDay}, {"2026-11-22", 20779}, {"0001-01-01", -719162}, {"9999-12-31", 2932896},
	}
	for _, c := range cases {
		d, ok := parseDate(c.date)
		if !ok {
			t.Fatalf("parseDate(%s) failed", c.date)
		}
		if got := d.DayNumber(); got != c.day {
			t.Errorf("%s: day %d, want %d", c.date, got, c.day)
		}
		if got := DayString(c.day); got != c.date {
			t.Errorf("DayString(%d) = %s, want %s", c.day, got, c.date)
		}
	}
	// Every day of a wide range survives the round trip.
	for day := int64(minDay - 1000); day <= maxDay+1000; day++ {
		d, ok := parseDate(DayString(day))
		if !ok || d.DayNumber() != day {
			t.Fatalf("day %d → %s does not round-trip", day, DayString(day))
		}
	}
	for _, bad := range []string{"2026-02-29", "2100-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-01", "26-01-01", "2026/01/01", "２０２６-01-01"} {
		if _, ok := parseDate(bad); ok {
			t.Errorf("parseDate(%s) accepted", bad)
		}
	}
}

func TestFormatName(t *testing.T) {
	cases := map[string]string{
		"city": "city", "城市": "城市", "_x1": "_x1", "on": "`on`", "On": "`On`", "last_x": "last_x",
		"a b": "`a b`", "1st": "`1st`", "a`b": "`a``b`", "": "``", "ſince": "ſince", "e\u0301": "e\u0301",
	}
	for in, want := range cases {
		if got := FormatName(in); got != want {
			t.Errorf("FormatName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostileQueries feeds queries at the size limit shaped to stress each
// stage. Each must finish (the race detector and go test's timeout bound the
// time; nothing here measures it) with a result or a positioned error.
type hostileCase struct {
	name string
	q    string
	ok   bool
}

func hostileCases() []hostileCase {
	fill := func(unit string) string { return strings.Repeat(unit, DefaultLimits().MaxLength/len(unit)) }
	return []hostileCase{
		{"many ANDs", strings.TrimSuffix(fill("a AND "), " AND "), false},
		{"many ORs", strings.TrimSuffix(fill("is_vip OR "), " OR "), true},
		{"long list", "age IN (" + strings.TrimSuffix(strings.Repeat("1,", 10000), ",") + ")", true},
		{"long Chinese list", "city IN (" + strings.TrimSuffix(strings.Repeat("'上海',", 6000), ",") + ")", true},
		{"open parentheses", fill("("), false},
		{"NOT chain", fill("NOT "), false},
		{"close parentheses", fill(")"), false},
		{"names", fill("a "), false},
		{"commas", "a IN (" + fill(",")[:60000], false},
		{"long name", fill("x"), false},
		{"long string", "city = '" + strings.Repeat("海", 20000) + "'", false},
		{"unclosed groups", fill("(a OR "), false},
		{"ranges", strings.TrimSuffix(fill("age BETWEEN 1 AND 2 AND "), " AND "), true},
	}
}

// TestHostileQueries feeds queries at the size limit shaped to stress each
// stage. Each must finish (the race detector and go test's timeout bound the
// time; nothing here measures it) with a result or a positioned error.
func TestHostileQueries(t *testing.T) {
	s := newTestSchema()
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.q, s, testOptions(s))
			if c.ok {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Compile succeeded, want an error")
			}
			qe := checkError(t, c.q, err)
			if len(qe.Msg) > 300 {
				t.Fatalf("message of %d bytes: %.100s…", len(qe.Msg), qe.Msg)
			}
		})
	}
}

func TestUnquotedDateHint(t *testing.T) {
	_, err := Parse(`registered_at >= 2025-01-01`, Options{})
	want := "line 1, column 22: expected AND, OR or the end of the query after 2025, found -01; write dates in quotes: '2025-01-01'"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
