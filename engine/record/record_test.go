package record

import (
	"strings"
	"testing"

	"github.com/cohortdb/cohort/engine/schema"
)

const testSchema = `{"timezone":"Asia/Shanghai","fields":[
 {"name":"gender","type":"tag"},
 {"name":"city","type":"tag"},
 {"name":"channels","type":"set"},
 {"name":"is_vip","type":"bool"},
 {"name":"age","type":"int","min":0,"max":120},
 {"name":"ltv","type":"decimal","scale":2},
 {"name":"registered_at","type":"date"},
 {"name":"purchase","type":"event","retention_days":400}
]}`

func mustSchema(t testing.TB) *schema.Schema {
	t.Helper()
	s, err := schema.Parse([]byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeValid(t *testing.T) {
	s := mustSchema(t)
	line := `{"id":"u000123",
	 "set":{"gender":"female","age":31,"city":"上海","ltv":1234.50,"registered_at":"2025-03-02","is_vip":true},
	 "add":{"channels":["wechat","app","wechat"]},"remove":{"channels":"jd"},"unset":["CITY2"]}`
	if _, err := Decode([]byte(line), s); err == nil || !strings.Contains(err.Error(), `unknown field "CITY2"`) {
		t.Fatalf("want unknown field error, got %v", err)
	}
	line = strings.Replace(line, `"unset":["CITY2"]`, `"events":[{"field":"purchase","value":"milk_powder","time":"2026-11-01T23:30:00Z"},{"field":"Purchase","time":"2026-11-01"}]`, 1)
	u, err := Decode([]byte(line), s)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "u000123" || len(u.Set) != 6 || len(u.Add) != 1 || len(u.Remove) != 1 || len(u.Events) != 2 {
		t.Fatalf("unexpected update %+v", u)
	}
	byField := map[string]Value{}
	for _, a := range u.Set {
		byField[s.Fields[a.Field].Name] = a.Value
	}
	if byField["ltv"].Int != 123450 || byField["age"].Int != 31 || byField["city"].Str != "上海" || !byField["is_vip"].Bool {
		t.Fatalf("values decoded wrongly: %+v", byField)
	}
	if want, _ := schema.ParseDay("2025-03-02"); byField["registered_at"].Int != int64(want) {
		t.Fatalf("date %d, want %d", byField["registered_at"].Int, want)
	}
	if got := u.Add[0].Values; len(got) != 2 || got[0] != "app" || got[1] != "wechat" {
		t.Fatalf("add values not sorted and deduplicated: %v", got)
	}
	// 23:30 UTC on Nov 1 is Nov 2 in Shanghai.
	if want, _ := schema.ParseDay("2026-11-02"); u.Events[0].Day != want {
		t.Fatalf("event day %s, want 2026-11-02", schema.FormatDay(u.Events[0].Day))
	}
	if u.Events[1].Value != "" {
		t.Fatalf("event without value decoded as %q", u.Events[1].Value)
	}
}

func TestDecodeNullUnsets(t *testing.T) {
	u, err := Decode([]byte(`{"id":"a","set":{"age":null}}`), mustSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(u.Unset) != 1 || len(u.Set) != 0 {
		t.Fatalf("null should unset: %+v", u)
	}
}

func TestDecodeErrors(t *testing.T) {
	s := mustSchema(t)
	f := func(line, want string) {
		t.Helper()
		_, err := Decode([]byte(line), s)
		if err == nil {
			t.Fatalf("%s: accepted, want error %q", line, want)
		}
		if err.Error() != want {
			t.Fatalf("%s:\n got  %q\n want %q", line, err.Error(), want)
		}
	}
	f(``, `empty record`)
	f(`[]`, `expected a JSON object, found JSON array`)
	f(`{"id":"a"`, `malformed JSON: unexpected EOF`)
	f(`{"id":"a"} {}`, `unexpected data after the record object`)
	f(`{"id":"a"} x`, `unexpected data after the record object`)
	f(`{"id":"a"}}`, `unexpected data after the record object`)
	f(`{"id":"a"} tru`, `unexpected data after the record object`)
	f("{\"id\":\"a\xff\"}", `record is not valid UTF-8`)
	f(`{"set":{}}`, `id is missing`)
	f(`{"id":""}`, `id is empty`)
	f(`{"id":5}`, `key "id": expected string, found JSON number`)
	f(`{"id":"a","sett":{}}`, `unknown key "sett" (a record has id, ids, set, add, remove, unset, events)`)
	f(`{"id":"a","ids":{"phone":"1"}}`, `ids: additional identifiers are not supported yet; address the profile by id`)
	f(`{"id":"a","set":{"cty":"x"}}`, `set: unknown field "cty"`)
	f(`{"id":"a","set":{"age":31.5}}`, `set: field age: an int takes a whole number, found 31.5`)
	f(`{"id":"a","set":{"age":"31"}}`, `set: field age: an int takes a whole number, found "31"`)
	f(`{"id":"a","set":{"age":121}}`, `set: field age: 121 is outside the declared range 0..120`)
	f(`{"id":"a","set":{"ltv":1.234}}`, `set: field ltv: a decimal takes a number with at most 2 decimals, found 1.234`)
	f(`{"id":"a","set":{"ltv":1e3}}`, `set: field ltv: a decimal takes a number with at most 2 decimals, found 1e3`)
	f(`{"id":"a","set":{"ltv":-1}}`, `set: field ltv: -1 is outside the declared range 0.00..1000000000000.00`)
	f(`{"id":"a","set":{"gender":5}}`, `set: field gender: a tag takes a string, found 5`)
	f(`{"id":"a","set":{"gender":""}}`, `set: field gender: value is empty (use unset to clear a field)`)
	f(`{"id":"a","set":{"is_vip":"yes"}}`, `set: field is_vip: a bool takes true or false, found "yes"`)
	f(`{"id":"a","set":{"registered_at":"2025-13-01"}}`, `set: field registered_at: "2025-13-01" is not a date of the form YYYY-MM-DD`)
	f(`{"id":"a","set":{"registered_at":"1800-01-01"}}`, `set: field registered_at: date 1800-01-01 is outside 1900-01-01..2199-12-31`)
	f(`{"id":"a","set":{"purchase":"x"}}`, `set: field purchase: an event field takes occurrences in events, not a value in set`)
	f(`{"id":"a","set":{"age":1},"unset":["age"]}`, `field age: cannot both set and unset it in one record`)
	f(`{"id":"a","set":{"channels":["a"]},"add":{"channels":["b"]}}`, `field channels: cannot both set and add it in one record`)
	f(`{"id":"a","add":{"channels":["b"]},"remove":{"channels":["b"]}}`, `field channels: value "b" is both added and removed`)
	f(`{"id":"a","add":{"city":["b"]}}`, `add: field city is a tag; add and remove apply to set fields (use set)`)
	f(`{"id":"a","add":{"channels":[1]}}`, `add: field channels: expected a list of strings`)
	f(`{"id":"a","events":[{"field":"age","time":"2026-01-01"}]}`, `events[0]: field age is an int, not an event field`)
	f(`{"id":"a","events":[{"field":"purchase"}]}`, `events[0]: field purchase: time is missing`)
	f(`{"id":"a","events":[{"value":"x","time":"2026-01-01"}]}`, `events[0]: field is missing`)
	f(`{"id":"a","events":[{"field":"purchase","time":"yesterday"}]}`, `events[0]: field purchase: "yesterday" is neither a date (YYYY-MM-DD) nor an RFC 3339 timestamp`)
	f(`{"id":"a","events":[{"field":"purchase","time":"2026-01-01","when":1}]}`, `unknown key "when" (a record has id, ids, set, add, remove, unset, events)`)
}

func TestParseDecimal(t *testing.T) {
	f := func(in string, scale int, want int64, ok bool) {
		t.Helper()
		got, err := ParseDecimal(in, scale)
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("ParseDecimal(%q, %d) = %d, %v; want %d ok=%v", in, scale, got, err, want, ok)
		}
		if ok {
			back, err := ParseDecimal(FormatDecimal(got, scale), scale)
			if err != nil || back != got {
				t.Fatalf("FormatDecimal(%d) does not round-trip: %q", got, FormatDecimal(got, scale))
			}
		}
	}
	f("1234.5", 2, 123450, true)
	f("1234.10", 2, 123410, true)
	f("-0.07", 2, -7, true)
	f("0", 0, 0, true)
	f("12", 3, 12000, true)
	f("1.", 2, 0, false)
	f(".5", 2, 0, false)
	f("1.234", 2, 0, false)
	f("--1", 2, 0, false)
	f("1e5", 2, 0, false)
	f("99999999999999999999", 0, 0, false)
	f("9999999999999999", 2, 999999999999999900, true)
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic, and
// whatever it accepts must respect the schema.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"id":"u1","set":{"gender":"female","age":31,"city":"上海","ltv":1234.50,"registered_at":"2025-03-02","is_vip":false},"add":{"channels":["wechat"]},"remove":{"channels":["jd"]},"unset":["city"],"events":[{"field":"purchase","value":"milk_powder","time":"2026-11-01T10:22:00+08:00"}]}`,
		`{"id":"a","set":{"age":null}}`, `{"id":"a","set":{"ltv":-0.5}}`, `{}`, `[1,2]`, `{"id":"a","events":[{"field":"purchase","time":"2026-11-01"}]}`,
	} {
		f.Add([]byte(seed))
	}
	s := mustSchema(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		u, err := Decode(line, s)
		if err != nil {
			return
		}
		if checkID(u.ID) != nil {
			t.Fatalf("accepted bad id %q", u.ID)
		}
		for _, a := range u.Set {
			fd := &s.Fields[a.Field]
			if fd.Type.Numeric() {
				if lo, hi := fd.Bounds(); a.Value.Int < lo || a.Value.Int > hi {
					t.Fatalf("accepted %s = %d outside %d..%d", fd.Name, a.Value.Int, lo, hi)
				}
			}
			if fd.Type == schema.Tag && checkValue(a.Value.Str) != nil {
				t.Fatalf("accepted bad tag value %q", a.Value.Str)
			}
		}
		for _, c := range append(u.Add, u.Remove...) {
			if s.Fields[c.Field].Type != schema.Set {
				t.Fatalf("accepted add/remove on %s", s.Fields[c.Field].Type)
			}
		}
		for _, e := range u.Events {
			if s.Fields[e.Field].Type != schema.Event || e.Day < schema.MinDay || e.Day > schema.MaxDay {
				t.Fatalf("accepted bad event %+v", e)
			}
		}
	})
}
