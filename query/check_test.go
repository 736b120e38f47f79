package query

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// stripPredPos zeroes positions in a checked query for comparisons.
func stripPredPos(p Pred) {
	switch p := p.(type) {
	case *PredOr:
		p.Pos = Pos{}
		for _, t := range p.Terms {
			stripPredPos(t)
		}
	case *PredAnd:
		p.Pos = Pos{}
		for _, t := range p.Terms {
			stripPredPos(t)
		}
	case *PredNot:
		p.Pos = Pos{}
		stripPredPos(p.X)
	case *PredAll:
		p.Pos = Pos{}
	case *PredSegment:
		p.Pos = Pos{}
	case *PredTag:
		p.Pos = Pos{}
	case *PredSet:
		p.Pos = Pos{}
	case *PredBool:
		p.Pos = Pos{}
	case *PredNull:
		p.Pos = Pos{}
	case *PredCompare:
		p.Pos = Pos{}
	case *PredBetween:
		p.Pos = Pos{}
	case *PredNumIn:
		p.Pos = Pos{}
	case *PredWindow:
		p.Pos = Pos{}
	case *PredEvent:
		p.Pos = Pos{}
		if p.Freq != nil {
			p.Freq.Pos = Pos{}
		}
	}
}

func TestDesignExamples(t *testing.T) {
	s := newTestSchema()
	for i, q := range designExamples {
		if _, err := Compile(q, s, testOptions(s)); err != nil {
			t.Errorf("example %d %q: %v", i+1, q, err)
		}
	}
}

type typedCase struct {
	name string
	in   string
	want Pred
}

func checkTypedCases(s *testSchema) []typedCase {
	f := func(name string) FieldInfo {
		fi, _ := s.Field(name)
		return fi
	}
	day := func(d string) int64 {
		x, _ := parseDate(d)
		return x.DayNumber()
	}
	return []typedCase{
		{"canonical field name", "GENDER = 'female'", &PredTag{Field: f("gender"), Values: []string{"female"}}},
		{"!= is a negated tag match", "lifecycle != 'churned'", &PredTag{Field: f("lifecycle"), Negated: true, Values: []string{"churned"}}},
		{"IN drops repeats", "city IN ('上海', '杭州', '上海')", &PredTag{Field: f("city"), Values: []string{"上海", "杭州"}}},
		{"int", "age >= 18", &PredCompare{Field: f("age"), Op: OpGe, Value: 18}},
		{"decimal scaled", "ltv >= 5000.50", &PredCompare{Field: f("ltv"), Op: OpGe, Value: 500050}},
		{"decimal integer scaled", "ltv < 3", &PredCompare{Field: f("ltv"), Op: OpLt, Value: 300}},
		{"decimal list", "ltv IN (0.1, -2)", &PredNumIn{Field: f("ltv"), Values: []int64{10, -200}}},
		{"date as day number", "registered_at < '1970-01-02'", &PredCompare{Field: f("registered_at"), Op: OpLt, Value: 1}},
		{"date BETWEEN is a range", "registered_at BETWEEN '2025-01-01' AND '2025-12-31'",
			&PredBetween{Field: f("registered_at"), Lo: day("2025-01-01"), Hi: day("2025-12-31")}},
		{"date window", "registered_at ON '2024-02-29'", &PredWindow{Field: f("registered_at"), Window: CheckedWindow{Kind: WindowOn, From: day("2024-02-29")}}},
		{"relative window stays relative", "registered_at IN LAST 30 DAYS", &PredWindow{Field: f("registered_at"), Window: CheckedWindow{Kind: WindowLast, Days: 30}}},
		{"bool", "is_vip", &PredBool{Field: f("is_vip"), Value: true}},
		{"bool != TRUE", "is_vip != TRUE", &PredBool{Field: f("is_vip"), Value: false}},
		{"set", "channels HAS ALL ('wechat', 'app')", &PredSet{Field: f("channels"), Mode: HasAll, Values: []string{"wechat", "app"}}},
		{"null", "ltv IS NOT NULL", &PredNull{Field: f("ltv"), Negated: true}},
		{"event", "purchase('coffee') AT LEAST 3 TIMES BETWEEN '2026-01-01' AND '2026-01-31'", &PredEvent{
			Field: f("purchase"), Values: []string{"coffee"}, Freq: &Frequency{AtLeast: true, N: 3},
			Window: &CheckedWindow{Kind: WindowBetween, From: day("2026-01-01"), To: day("2026-01-31")}}},
		{"event any value, ever", "view()", &PredEvent{Field: f("view"), Values: []string{}}},
		{"segment", "SEGMENT('vip')", &PredSegment{Name: "vip"}},
		{"structure", "NOT (ALL OR is_vip) AND is_vip", &PredAnd{Terms: []Pred{
			&PredNot{X: &PredOr{Terms: []Pred{&PredAll{}, &PredBool{Field: f("is_vip"), Value: true}}}},
			&PredBool{Field: f("is_vip"), Value: true},
		}}},
	}
}

func TestCheckTyped(t *testing.T) {
	s := newTestSchema()
	for _, c := range checkTypedCases(s) {
		t.Run(c.name, func(t *testing.T) {
			got, err := Compile(c.in, s, testOptions(s))
			if err != nil {
				t.Fatalf("Compile(%q): %v", c.in, err)
			}
			stripPredPos(got.Root)
			if !reflect.DeepEqual(got.Root, c.want) {
				t.Fatalf("Compile(%q)\n got: %#v\nwant: %#v", c.in, got.Root, c.want)
			}
		})
	}
}

func TestCheckPositions(t *testing.T) {
	s := newTestSchema()
	c, err := Compile("is_vip AND\n  purchase('tea') AT LEAST 2 TIMES", s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.Root.(*PredAnd).Terms[1].(*PredEvent)
	if ev.Pos != (Pos{Line: 2, Column: 3, Offset: 13}) || ev.Freq.Pos != (Pos{Line: 2, Column: 19, Offset: 29}) {
		t.Fatalf("event at %+v, frequency at %+v", ev.Pos, ev.Freq.Pos)
	}
}

var checkErrorCases = []textCase{
	{"unknown field", "cty = '上海'", "line 1, column 1: unknown field 'cty' — did you mean 'city'?"},
	{"unknown field deep", "gender = 'female' AND\n  (age > 30 OR cty = '上海')", "line 2, column 16: unknown field 'cty' — did you mean 'city'?"},
	{"unknown field, no suggestion", "xyzzy = 1", "line 1, column 1: unknown field 'xyzzy'"},
	{"unknown value", "city = 'Shanghia'", "line 1, column 8: unknown value 'Shanghia' for field city — did you mean 'Shanghai'?"},
	{"unknown value, case", "city = 'shanghai'", "line 1, column 8: unknown value 'shanghai' for field city — did you mean 'Shanghai'?"},
	{"unknown Chinese value", "city IN ('上梅')", "line 1, column 10: unknown value '上梅' for field city — did you mean '上海'?"},
	{"unknown value, known listed", "gender = 'woman'", "line 1, column 10: unknown value 'woman' for field gender — known values are 'female' and 'male'"},
	{"unknown event value", "purchase('cofee')", "line 1, column 10: unknown value 'cofee' for field purchase — did you mean 'coffee'?"},
	{"= on set", "channels = 'wechat'", "line 1, column 1: field channels is a set; use HAS, HAS ANY or HAS ALL instead of ="},
	{"HAS on tag", "city HAS '上海'", "line 1, column 1: field city is a tag (one value per profile); use = or IN instead of HAS"},
	{"< on tag", "city < 'b'", "line 1, column 1: field city is a tag; < compares numbers and dates — use = or IN"},
	{"string for int", "age = 'thirty'", "line 1, column 7: field age is an int; expected a number, found 'thirty'"},
	{"quoted number for int", "age > '30'", "line 1, column 7: field age is an int; write the number without quotes: 30"},
	{"bare non-bool", "city", "line 1, column 1: field city is a tag, not a bool; write a condition such as city = 'value'"},
	{"window on tag", "city IN LAST 7 DAYS", "line 1, column 6: field city is a tag; a time window such as IN LAST 30 DAYS applies to date and event fields — use = or IN"},
	{"frequency without event", "registered_at() AT LEAST 2 TIMES", "line 1, column 17: field registered_at is a date, not an event; AT LEAST and AT MOST count days with an event"},
	{"AT LEAST 0", "purchase() AT LEAST 0 TIMES", "line 1, column 12: AT LEAST needs a number of 1 or more, found 0 (AT LEAST 0 TIMES would match every profile)"},
	{"AT MOST -1", "purchase() AT MOST -1 TIMES", "line 1, column 12: AT MOST needs a number of 0 or more, found -1"},
	{"negative IN LAST", "purchase() IN LAST -5 DAYS", "line 1, column 12: IN LAST needs a number of days of 1 or more, found -5"},
	{"date out of range", "registered_at > '1800-01-01'", "line 1, column 17: date '1800-01-01' is out of range; dates run from 1900-01-01 to 2199-12-31"},
	{"too many decimals", "ltv = 12.345", "line 1, column 7: field ltv has 2 decimal places; 12.345 has more"},
	{"int out of declared range", "age = 150", "line 1, column 7: 150 is outside the range of field age (0 to 120)"},
	{"empty range", "age BETWEEN 35 AND 25", "line 1, column 13: BETWEEN 35 AND 25 matches nothing; put the smaller value first"},
	{"event as field", "purchase IN LAST 7 DAYS", "line 1, column 1: field purchase is an event; write purchase() IN LAST 7 DAYS"},
}

func TestCheckErrors(t *testing.T) {
	s := newTestSchema()
	for _, c := range checkErrorCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.in, s, testOptions(s))
			if err == nil {
				t.Fatalf("Compile(%q) succeeded, want %q", c.in, c.want)
			}
			checkError(t, c.in, err)
			if err.Error() != c.want {
				t.Fatalf("Compile(%q)\n got: %s\nwant: %s", c.in, err, c.want)
			}
		})
	}
}

// TestCheckedRoundTrip: the checked query's text compiles to an equal
// checked query, so it can be stored, shown in EXPLAIN and run again.
func TestCheckedRoundTrip(t *testing.T) {
	s := newTestSchema()
	for _, q := range append(append([]string{}, designExamples...), checkQueries...) {
		c1, err := Compile(q, s, testOptions(s))
		if err != nil {
			t.Errorf("Compile(%q): %v", q, err)
			continue
		}
		text := c1.String()
		c2, err := Compile(text, s, testOptions(s))
		if err != nil {
			t.Errorf("%q checks as %q, which does not compile: %v", q, text, err)
			continue
		}
		stripPredPos(c1.Root)
		stripPredPos(c2.Root)
		if !reflect.DeepEqual(c1, c2) {
			t.Errorf("%q: checked query changed through %q:\n%#v\n%#v", q, text, c1.Root, c2.Root)
		}
	}
}

func TestCheckWithoutValues(t *testing.T) {
	s := newTestSchema()
	// Without statistics any value is accepted: only the engine knows.
	for _, q := range []string{"city = 'Shanghia'", "purchase('anything')", "interests HAS 'golf'"} {
		if _, err := Compile(q, s, Options{}); err != nil {
			t.Errorf("Compile(%q) without Values: %v", q, err)
		}
	}
	e, err := Parse("is_vip", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(e, nil, Options{}); err == nil {
		t.Error("Check with a nil schema succeeded")
	}
	if _, err := Check(nil, s, Options{}); err == nil {
		t.Error("Check of a nil expression succeeded")
	}
}

// TestCheckHandBuiltAST covers ASTs built by code rather than parsed, which
// the parser never produces.
func TestCheckHandBuiltAST(t *testing.T) {
	s := newTestSchema()
	d := func(y, m, dd int) Date { return Date{Year: y, Month: m, Day: dd} }
	e := &DateWindow{Field: "registered_at", Window: &Window{Kind: WindowBetween, From: d(2025, 1, 1), To: d(2025, 1, 31)}}
	c, err := Check(e, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "registered_at BETWEEN '2025-01-01' AND '2025-01-31'"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	var qe *Error
	if _, err := Check(&Compare{Field: "age", Op: Op(99), Value: Value{Kind: NumberValue, Num: newNumber("1")}}, s, Options{}); !errors.As(err, &qe) {
		t.Fatalf("unknown operator: %v", err)
	}
}

// TestConcurrentUse runs the shared parser from many goroutines; -race
// checks that nothing package-level is written.
func TestConcurrentUse(t *testing.T) {
	s := newTestSchema()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, q := range checkQueries {
				c, err := Compile(q, s, testOptions(s))
				if err != nil {
					t.Errorf("Compile(%q): %v", q, err)
					return
				}
				if strings.TrimSpace(c.String()) == "" {
					t.Errorf("empty text for %q", q)
				}
			}
		}()
	}
	wg.Wait()
}
