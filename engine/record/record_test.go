package record

import (
	"fmt"
	"reflect"
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
	f(`{"set":{}}`, `id is missing (a record needs "id" or "ids")`)
	f(`{"ids":{},"set":{}}`, `id is missing (a record needs "id" or "ids")`)
	f(`{"id":""}`, `id is empty`)
	f(`{"id":5}`, `key "id": expected string, found JSON number`)
	f(`{"id":"a","sett":{}}`, `unknown key "sett" (a record has id, ids, set, add, remove, unset, events)`)
	f(`{"id":"a","ids":{"Phone!":"1"}}`, `ids: identifier type "Phone!" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`)
	f(`{"id":"a","ids":{"phone":"1","phone":"2"}}`, `ids: type phone appears twice`)
	f(`{"ids":{"external":"u1"}}`, `ids: "external" is the record's id; send it as "id"`)
	f(`{"id":"a","ids":{"phone":null}}`, `ids: phone takes a string, found null`)
	f(`{"id":"a","ids":{"phone":""}}`, `ids: phone is empty`)
	f(`{"id":"a","ids":[]}`, `key "ids": expected an object of identifier types and values, found JSON array`)
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

// TestDecodeIDs runs records with "ids" through both decoders: what the
// reference accepts, the fast path must read itself to the same Update;
// what it refuses, the fast path must refuse too.
func TestDecodeIDs(t *testing.T) {
	s := mustSchema(t)
	long := strings.Repeat("x", MaxIDBytes)
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"t%02d":"v%d"`, i, i)
		}
		return `{"ids":{` + b.String() + `}}`
	}
	var sixteen []Identifier
	for i := range MaxIdentifiers {
		sixteen = append(sixteen, Identifier{fmt.Sprintf("t%02d", i), fmt.Sprint("v", i)})
	}
	for _, tc := range []struct {
		line   string
		id     string
		ids    []Identifier
		err    string // "" when the line is valid
		noFast bool   // a valid line the fast path leaves to the reference
	}{
		{line: `{"id":"u1","ids":{"phone":"13800000000","email":"a@b.cn","openid":"o6_bmj"}}`, id: "u1",
			ids: []Identifier{{"email", "a@b.cn"}, {"openid", "o6_bmj"}, {"phone", "13800000000"}}},
		{line: `{"ids":{"phone":"13800000000"},"set":{"age":31}}`, ids: []Identifier{{"phone", "13800000000"}}},
		{line: `{"ids":{"w":"\u4e0a\u6d77","a_1":" x "}}`, ids: []Identifier{{"a_1", " x "}, {"w", "上海"}}},
		{line: `{"id":"u1","ids":{}}`, id: "u1"},
		{line: `{"id":"u1","ids":null}`, id: "u1", noFast: true},
		{line: `{"ids":{"phone":"1"},"id":null}`, ids: []Identifier{{"phone", "1"}}, noFast: true},
		{line: `{"ids":{"` + strings.Repeat("a", 32) + `":"` + long + `"}}`, ids: []Identifier{{strings.Repeat("a", 32), long}}},
		{line: many(MaxIdentifiers), ids: sixteen},
		{line: ` { "ids" : { "z9" : "1" , "b" : "2" } } `, ids: []Identifier{{"b", "2"}, {"z9", "1"}}},

		{line: `{"ids":{}}`, err: `id is missing (a record needs "id" or "ids")`},
		{line: `{"ids":null}`, err: `id is missing (a record needs "id" or "ids")`},
		{line: `{"id":"","ids":{"phone":"1"}}`, err: `id is empty`},
		{line: `{"id":"a","ids":{"Phone!":"1"}}`, err: `ids: identifier type "Phone!" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`},
		{line: `{"id":"a","ids":{"":"1"}}`, err: `ids: identifier type "" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`},
		{line: `{"id":"a","ids":{"1phone":"1"}}`, err: `ids: identifier type "1phone" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`},
		{line: `{"id":"a","ids":{"_phone":"1"}}`, err: `ids: identifier type "_phone" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`},
		{line: `{"id":"a","ids":{"` + strings.Repeat("a", 33) + `":"1"}}`, err: `ids: identifier type "` + strings.Repeat("a", 33) + `" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`},
		{line: `{"id":"a","ids":{"ph\u006fne":"1","Phone":"2"}}`, err: `ids: identifier type "Phone" must be 1–32 characters of a-z, 0-9 and _, starting with a letter`},
		{line: `{"id":"a","ids":{"external":"u1"}}`, err: `ids: "external" is the record's id; send it as "id"`},
		{line: `{"id":"a","ids":{"phone":"1","phone":"2"}}`, err: `ids: type phone appears twice`},
		{line: `{"id":"a","ids":{"phone":5,"email":"x","phone":"2"}}`, err: `ids: type phone appears twice`},
		{line: `{"id":"a","ids":{"phone":"1","ph\u006fne":"1"}}`, err: `ids: type phone appears twice`},
		{line: `{"id":"a","ids":{"phone":null}}`, err: `ids: phone takes a string, found null`},
		{line: `{"id":"a","ids":{"phone":13800000000}}`, err: `ids: phone takes a string, found 13800000000`},
		{line: `{"id":"a","ids":{"phone":true}}`, err: `ids: phone takes a string, found true`},
		{line: `{"id":"a","ids":{"phone":{"v":"1"}}}`, err: `ids: phone takes a string, found {"v":"1"}`},
		{line: `{"id":"a","ids":{"phone":["1"]}}`, err: `ids: phone takes a string, found ["1"]`},
		{line: `{"id":"a","ids":{"phone":""}}`, err: `ids: phone is empty`},
		{line: `{"id":"a","ids":{"phone":"` + long + `x"}}`, err: `ids: phone is 1025 bytes, at most 1024`},
		{line: `{"id":"a","ids":{"phone":"1\n"}}`, err: `ids: phone contains a control character`},
		{line: `{"id":"a","ids":{"phone":"\u0000"}}`, err: `ids: phone contains a control character`},
		{line: many(MaxIdentifiers + 1), err: `ids: 17 identifiers, at most 16 per record`},
		{line: `{"id":"a","ids":"phone"}`, err: `key "ids": expected an object of identifier types and values, found JSON string`},
		{line: `{"id":"a","ids":5}`, err: `key "ids": expected an object of identifier types and values, found JSON number`},
		{line: `{"id":"a","ids":{"phone":"1"`, err: `malformed JSON: unexpected EOF`},
	} {
		want, err := decodeReference([]byte(tc.line), s)
		got, ok := decodeFast([]byte(tc.line), s, nil)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s:\n got  %v\n want %q", tc.line, err, tc.err)
			}
			if ok {
				t.Errorf("%s: fast path accepts it", tc.line)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		if want.ID != tc.id || !reflect.DeepEqual(want.IDs, tc.ids) {
			t.Errorf("%s: id %q, identifiers %q; want %q, %q", tc.line, want.ID, want.IDs, tc.id, tc.ids)
		}
		if ok == tc.noFast {
			t.Errorf("%s: fast path accepts it: %v, want %v", tc.line, ok, !tc.noFast)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fast path and reference differ:\n fast %#v\n ref  %#v", tc.line, got, want)
		}
	}
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
		`{"id":"u1","ids":{"phone":"13800000000","email":"a@b.cn"}}`, `{"ids":{"openid":"o6_bmj","unionid":"\u4e0a"},"set":{"age":3}}`,
		`{"ids":{"phone":"1","phone":"2"}}`, `{"ids":{"external":"x","Phone":1}}`, `{"ids":{}}`,
	} {
		f.Add([]byte(seed))
	}
	s := mustSchema(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		u, err := Decode(line, s)
		if err != nil {
			return
		}
		if u.ID == "" && len(u.IDs) == 0 || u.ID != "" && checkID(u.ID) != nil {
			t.Fatalf("accepted bad id %q (identifiers %q)", u.ID, u.IDs)
		}
		if len(u.IDs) > MaxIdentifiers {
			t.Fatalf("accepted %d identifiers", len(u.IDs))
		}
		for i, id := range u.IDs {
			if !validIDType(id.Type) || id.Type == "external" || checkID(id.Value) != nil {
				t.Fatalf("accepted bad identifier %q", id)
			}
			if i > 0 && u.IDs[i-1].Type >= id.Type {
				t.Fatalf("identifiers not sorted and distinct: %q", u.IDs)
			}
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

// TestDecodeInArena: records decoded in one arena (past the size of its
// first array, so it grows into new ones) equal those Decode gives, and
// none is disturbed by the ones decoded after it; after Reset the arena
// serves the next records from its arrays again, and they decode the
// same.
func TestDecodeInArena(t *testing.T) {
	s := mustSchema(t)
	lines := make([][]byte, 3000)
	for i := range lines {
		ev := ""
		n := i % 7
		if i%5 == 0 {
			n = 33 + i%40 // past decodeFast's own buffer: the arena's spill
		}
		for j := range n {
			if j > 0 {
				ev += ","
			}
			ev += fmt.Sprintf(`{"field":"purchase","value":"v%d","time":"2026-11-%02d"}`, (i+j)%5, 1+j%28)
		}
		set := fmt.Sprintf(`"gender":"g%d","age":%d`, i%3, i%100)
		if i%4 == 0 {
			set += `,"city":null`
		}
		ops := ""
		switch i % 3 {
		case 1:
			ops = fmt.Sprintf(`,"add":{"channels":["c%d","wechat"]},"remove":{"channels":"c%d"}`, i%4, 4+i%3)
		case 2:
			set += fmt.Sprintf(`,"channels":["app","c%d","app"]`, i%5)
		}
		lines[i] = fmt.Appendf(nil, `{"id":"u%d","set":{%s}%s,"events":[%s]}`, i, set, ops, ev)
	}
	var a Arena
	for round := range 2 {
		got := make([]Update, len(lines))
		buf := make([]byte, 0, 1<<16)
		for i, l := range lines {
			// One buffer for every line, as a loader reuses its chunks:
			// nothing decoded may keep a view of it.
			buf = append(buf[:0], l...)
			u, err := DecodeIn(buf, s, &a)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = u
		}
		for i := range buf {
			buf[i] = 'x'
		}
		for i, l := range lines {
			want, _ := Decode(l, s)
			if !reflect.DeepEqual(got[i], want) {
				t.Fatalf("round %d line %d: %+v, want %+v", round, i, got[i], want)
			}
		}
		a.Reset()
	}
}
