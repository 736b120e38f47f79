package schema

import (
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	f := func(doc, want string) {
		t.Helper()
		_, err := Parse([]byte(doc))
		if err == nil || err.Error() != want {
			t.Fatalf("%s:\n got  %v\n want %s", doc, err, want)
		}
	}
	f(`{"fields":[{"name":"age","type":"int"}]}`, `schema: field 1 ("age"): int fields need min and max`)
	f(`{"fields":[{"name":"age","type":"integer"}]}`, `schema: unknown field type "integer" (want one of tag, set, bool, int, decimal, date, event)`)
	f(`{"fields":[{"name":"a","type":"tag"},{"name":"A","type":"set"}]}`, `schema: field "A" duplicates "a" (field names are case-insensitive)`)
	f(`{"fields":[{"name":"1a","type":"tag"}]}`, `schema: field 1 ("1a"): name must start with a letter or _ and hold only letters, digits and _`)
	f(`{"fields":[{"name":"and","type":"tag"}]}`, `schema: field 1 ("and"): name "and" is a keyword of the segment language; pick another`)
	f(`{"fields":[{"name":"x","type":"tag","scale":2}]}`, `schema: field 1 ("x"): scale applies to decimal fields, not tag`)
	f(`{"fields":[{"name":"x","type":"event","retention_days":-1}]}`, `schema: field 1 ("x"): retention_days -1 out of range 0..3660`)
	f(`{"fields":[{"name":"x","type":"int","min":5,"max":1}]}`, `schema: field 1 ("x"): min 5 is greater than max 1`)
	f(`{"timezone":"Mars/Olympus","fields":[]}`, `schema: unknown time zone "Mars/Olympus": unknown time zone Mars/Olympus`)
	f(`{"fields":[],"retention":90}`, `schema: json: unknown field "retention"`)
	f(`null`, `schema: expected a JSON object {"timezone": …, "fields": [...]}`)
	f(` [] `, `schema: expected a JSON object {"timezone": …, "fields": [...]}`)
}

func TestFieldLookupAndBounds(t *testing.T) {
	s, err := Parse([]byte(`{"timezone":"Asia/Shanghai","fields":[
		{"name":"城市","type":"tag"},{"name":"Age","type":"int","min":-5,"max":120},
		{"name":"ltv","type":"decimal","scale":2,"max":1000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := s.Field("age"); !ok || f.Name != "Age" {
		t.Fatal("case-insensitive lookup failed")
	}
	if _, ok := s.Field("城市"); !ok {
		t.Fatal("Chinese field name not found")
	}
	f, _ := s.Field("ltv")
	if lo, hi := f.Bounds(); lo != 0 || hi != 100000 {
		t.Fatalf("decimal bounds %d..%d", lo, hi)
	}
	if _, err := s.WithField(Field{Name: "AGE", Type: Tag}); err == nil {
		t.Fatal("WithField accepted a duplicate")
	}
}

func TestDays(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	d, err := ParseDayOrTime("2026-11-01T23:30:00Z", loc)
	if err != nil || FormatDay(d) != "2026-11-02" {
		t.Fatalf("got %s, %v; want 2026-11-02 in Shanghai", FormatDay(d), err)
	}
	d, _ = ParseDayOrTime("2026-11-01T23:30:00Z", time.UTC)
	if FormatDay(d) != "2026-11-01" {
		t.Fatalf("got %s in UTC", FormatDay(d))
	}
	if d, _ := ParseDay("1970-01-02"); d != 1 {
		t.Fatalf("1970-01-02 is day %d", d)
	}
	if _, err := ParseDay("2026-02-30"); err == nil {
		t.Fatal("accepted February 30")
	}
}
