package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/schema"
)

// The fast path is tested against the reference decoder: wherever it
// accepts a line, the reference must accept it too and decode the same
// Update; and Decode, fast path and fallback together, must answer exactly
// as the reference does, error text included.

func genSchema(t testing.TB) *schema.Schema {
	t.Helper()
	s, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// compareFast checks the fast path and Decode against the reference on
// line and reports whether the fast path accepted it.
func compareFast(t testing.TB, line []byte, s *schema.Schema) bool {
	t.Helper()
	want, wantErr := decodeReference(line, s)
	got, ok := decodeFast(line, s, nil)
	if ok {
		if wantErr != nil {
			t.Fatalf("fast path accepts %q, reference rejects it: %v", line, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path and reference differ on %q:\n fast %#v\n ref  %#v", line, got, want)
		}
	}
	u, err := Decode(line, s)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("Decode(%q) error %v, reference error %v", line, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("Decode(%q) error\n %q, reference error\n %q", line, err, wantErr)
	case !reflect.DeepEqual(u, want):
		t.Fatalf("Decode and reference differ on %q:\n got %#v\n ref %#v", line, u, want)
	}
	// The bulk path's arena gives the same record, or the same error.
	var a Arena
	a.assigns = make([]Assign, 3, 4) // little room left: it must grow
	ua, errA := DecodeIn(line, s, &a)
	switch {
	case (errA == nil) != (wantErr == nil) || errA != nil && errA.Error() != wantErr.Error():
		t.Fatalf("DecodeIn(%q) error %v, reference error %v", line, errA, wantErr)
	case !reflect.DeepEqual(ua, want):
		t.Fatalf("DecodeIn and reference differ on %q:\n got %#v\n ref %#v", line, ua, want)
	}
	return ok
}

func sampleLines(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open("../../testdata/sample.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxLineBytes+1)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatal("sample.ndjson is empty")
	}
	return lines
}

// baseRecords returns the n base records of a generated data set, each
// line ending in a newline as the generator writes it.
func baseRecords(n int) [][]byte {
	return drain(gen.New(gen.Options{Profiles: n, Seed: 3}).Next)
}

// updates returns n update records for the profiles of baseRecords(n).
func updates(n int) [][]byte {
	return drain(gen.Updates(gen.Options{Profiles: n, Seed: 3}, n).Next)
}

func drain(next func([]byte) ([]byte, bool)) [][]byte {
	var lines [][]byte
	for {
		line, ok := next(nil)
		if !ok {
			return lines
		}
		lines = append(lines, line)
	}
}

// TestFastMatchesReferenceOnData runs real-shaped records through both
// decoders. Every one of them must take the fast path: falling back on
// ordinary data would quietly lose the speed this exists for.
func TestFastMatchesReferenceOnData(t *testing.T) {
	s := genSchema(t)
	check := func(name string, lines [][]byte) {
		for i, line := range lines {
			if !compareFast(t, line, s) {
				_, err := decodeReference(line, s)
				t.Fatalf("%s line %d: fast path fell back (reference: %v): %s", name, i+1, err, line)
			}
		}
	}
	check("sample.ndjson", sampleLines(t))
	n := 5000
	if testing.Short() {
		n = 500
	}
	check("base records", baseRecords(n))
	check("updates", updates(n))
}

// trickyLines are inputs at the edges of the JSON grammar and of the
// record format. fast says whether the fast scanner reads the line itself
// (whatever validate then thinks of it) rather than leave it to the
// reference decoder.
var trickyLines = []struct {
	line string
	fast bool
}{
	// Escapes, decoded as encoding/json does.
	{`{"id":"a\"b\\c\/d\b\f\te"}`, true},
	{`{"id":"\u00e9\u4E0A\uD83D\uDE00"}`, true},
	{`{"id":"\ud800"}`, true},             // lone high surrogate: U+FFFD
	{`{"id":"\udc00\ud800x"}`, true},      // low then high: two U+FFFD
	{`{"id":"\ud800\u0041"}`, true},       // high then not low: U+FFFD A
	{`{"id":"\uD800\uDBFF\uDC00"}`, true}, // U+FFFD, then a valid pair
	{`{"id":"\ud800\\u0041"}`, true},
	{`{"id":"\ud800\""}`, true},
	{`{"id":"\ud800\"}`, false},
	{`{"id":"x\uDBFF\uDFFF"}`, true},
	{`{"id":"a\u0000"}`, true}, // decodes, then checkID refuses it
	{`{"id":"a\n"}`, true},
	{`{"id":"a","set":{"city":"\u0000"}}`, true},
	{`{"id":"a","set":{"city":"\u4e0a\u6d77"}}`, true},
	{`{"id":"a","set":{"registered_at":"\u0032025-03-02"}}`, true},
	{`{"id":"a","add":{"channels":["\u0061","a","b\"c"]}}`, true},
	{`{"id":"a","unset":["\u0063ity"]}`, true},
	{`{"id":"a","events":[{"field":"purch\u0061se","value":"\ud83d\ude00","time":"2026-01-0\u0031"}]}`, true},
	{`{"id":"a\x"}`, false},
	{`{"id":"a\u12"}`, false},
	{`{"id":"a\u12G4"}`, false},
	{`{"id":"a\'"}`, false},
	{"{\"id\":\"a\tb\"}", false},
	{"{\"id\":\"a\x7fb\"}", true},
	{`{"id":"a\`, false},
	{`{"id":"a\u`, false},
	{`{"id":"a\ud800\u`, false},

	// Whitespace, JSON's four characters and only those.
	{" \t\r\n{ \"id\" : \"a\" , \"set\" : { \"age\" : 1 , \"channels\" : [ \"x\" , \"y\" ] , \"city\" : null } , \"add\" : { \"interests\" : [ ] } , \"unset\" : [ \"gender\" ] , \"events\" : [ { \"field\" : \"purchase\" , \"value\" : \"v\" , \"time\" : \"2026-01-01\" } , { } ] , \"ids\" : { } } \r\n", true},
	{"{\"id\":\"a\",\"set\":{\"channels\":[\n\"x\"\n,\n\"y\"\n]}}", true},
	{"{\"id\":\"a\"}\n", true},
	{"{\"id\":\"a\"}\r\n", true},
	{"\v{\"id\":\"a\"}", false},
	{"{\"id\":\"a\"}\f", false},
	{"\u00a0{\"id\":\"a\"}", false},
	{"\xef\xbb\xbf{\"id\":\"a\"}", false}, // BOM
	{"", false},
	{" \n", false},

	// Numbers: the JSON grammar first, then the field's own rules.
	{`{"id":"a","set":{"age":-0}}`, true},
	{`{"id":"a","set":{"age":0}}`, true},
	{`{"id":"a","set":{"age":1.0}}`, true},
	{`{"id":"a","set":{"age":1E2}}`, true},
	{`{"id":"a","set":{"age":1e+2}}`, true},
	{`{"id":"a","set":{"age":1e-2}}`, true},
	{`{"id":"a","set":{"age":99999999999999999999}}`, true},
	{`{"id":"a","set":{"churn_score":-9223372036854775808}}`, true},
	{`{"id":"a","set":{"ltv":-0}}`, true},
	{`{"id":"a","set":{"ltv":-0.00}}`, true},
	{`{"id":"a","set":{"ltv":0.5}}`, true},
	{`{"id":"a","set":{"ltv":1E2}}`, true},
	{`{"id":"a","set":{"ltv":99999999999999999999}}`, true},
	{`{"id":"a","set":{"ltv":9999999.99}}`, true},
	{`{"id":"a","set":{"age":01}}`, false},
	{`{"id":"a","set":{"age":+1}}`, false},
	{`{"id":"a","set":{"age":.5}}`, false},
	{`{"id":"a","set":{"age":1.}}`, false},
	{`{"id":"a","set":{"age":1.e2}}`, false},
	{`{"id":"a","set":{"age":1e}}`, false},
	{`{"id":"a","set":{"age":-}}`, false},
	{`{"id":"a","set":{"age":--1}}`, false},
	{`{"id":"a","set":{"age":0x10}}`, false},
	{`{"id":"a","set":{"age":1 2}}`, false},
	{`{"id":"a","set":{"age":NaN}}`, false},
	{`{"id":"a","set":{"age":Infinity}}`, false},

	// Literals.
	{`{"id":"a","set":{"is_vip":true}}`, true},
	{`{"id":"a","set":{"is_vip":false}}`, true},
	{`{"id":"a","set":{"is_vip":null}}`, true},
	{`{"id":"a","set":{"is_vip":"true"}}`, true},
	{`{"id":"a","set":{"is_vip":1}}`, true},
	{`{"id":"a","set":{"is_vip":tru}}`, false},
	{`{"id":"a","set":{"is_vip":truee}}`, false},
	{`{"id":"a","set":{"is_vip":True}}`, false},
	{`{"id":"a","set":{"city":nul}}`, false},

	// Nested junk where the format has scalars or lists of strings.
	{`{"id":"a","set":{"city":{"a":1}}}`, false},
	{`{"id":"a","set":{"city":["x"]}}`, true},
	{`{"id":"a","set":{"channels":[["x"]]}}`, false},
	{`{"id":"a","set":{"channels":["x",1]}}`, false},
	{`{"id":"a","set":{"channels":["x",null]}}`, false},
	{`{"id":"a","set":{"channels":["x",]}}`, false},
	{`{"id":"a","set":{"channels":[,"x"]}}`, false},
	{`{"id":"a","set":{"channels":["x" "y"]}}`, false},
	{`{"id":"a","set":{"channels":[}}`, false},
	{`{"id":"a","set":{"channels":{}}}`, false},
	{`{"id":"a","set":{"channels":"x"}}`, true},
	{`{"id":"a","set":{"channels":[]}}`, true},
	{`{"id":"a","set":{"channels":["b","a","b"]}}`, true},
	{`{"id":"a","add":{"channels":null}}`, true},
	{`{"id":"a","add":{"channels":[]}}`, true},
	{`{"id":"a","add":{"channels":5}}`, true},
	{`{"id":"a","remove":{"channels":"jd"}}`, true},
	{`{"id":"a","add":{"channels":["x"]},"remove":{"channels":["y"]}}`, true},
	{`{"id":"a","add":{"channels":["x"]},"remove":{"channels":["x"]}}`, true},
	{`{"id":"a","set":{"purchase":[]}}`, true},
	{`{"id":"a","set":[]}`, false},
	{`{"id":"a","set":"x"}`, false},
	{`{"id":"a","unset":"city"}`, false},
	{`{"id":"a","unset":[1]}`, false},
	{`{"id":"a","unset":[null]}`, false},
	{`{"id":"a","events":{}}`, false},
	{`{"id":"a","events":[[]]}`, false},
	{`{"id":"a","events":[1]}`, false},
	{`{"id":"a","events":[{"field":["purchase"],"time":"2026-01-01"}]}`, false},
	{`{"id":"a","events":[{}]}`, true},
	{`{"id":"a","x":{"y":[1,{}]}}`, false},
	{`{"id":["a"]}`, false},
	{`{"id":{"a":1}}`, false},

	// Structure and trailing data.
	{`{"id":"a"} x`, false},
	{`{"id":"a"}}`, false},
	{`{"id":"a"} 1`, false},
	{`{"id":"a"}{}`, false},
	{"{\"id\":\"a\"}\x00", false},
	{`{"id":"a",}`, false},
	{`{,"id":"a"}`, false},
	{`{"id" "a"}`, false},
	{`{"id":"a" "set":{}}`, false},
	{`{"id":"a","set":{"age":1,}}`, false},
	{`{"id":"a","set":{"age":1`, false},
	{`{"id":"a","set":{"age"}}`, false},
	{`{"id":"a","set":{age:1}}`, false},
	{`{"id":"a","events":[{"field":"purchase","time":"2026-01-01",}]}`, false},
	{`{"id":"a","events":[{"field":"purchase","time":"2026-01-01"},]}`, false},
	{`{}`, true},
	{`null`, false},
	{`[]`, false},
	{`"a"`, false},
	{`{"id":"a"}`, true},
	{`{"id":"` + strings.Repeat("x", MaxIDBytes+1) + `"}`, true},
	{`{"id":"a","set":{"city":"` + strings.Repeat("x", MaxValueBytes+1) + `"}}`, true},
	{`{"id":"a","ids":{}}`, true},
	{`{"id":"a","ids":null}`, false},

	// Identifiers.
	{`{"id":"a","ids":{"phone":"1"}}`, true},
	{`{"ids":{"phone":"1","email":"a@b.cn"}}`, true},
	{`{"ids":{"phone":"1"},"id":"a"}`, true},
	{`{"ids":{}}`, true},
	{`{"ids":null}`, false},
	{`{"ids":{"phone":"1"},"id":null}`, false},
	{`{"id":"a","ids":{"phone":"\u0031\u00e9\ud800"}}`, true},
	{`{"id":"a","ids":{"phone":"\u0000"}}`, true},
	{`{"id":"a","ids":{"Phone":"1"}}`, true},
	{`{"id":"a","ids":{"external":"1"}}`, true},
	{`{"id":"a","ids":{"phone":null}}`, true},
	{`{"id":"a","ids":{"phone":1}}`, true},
	{`{"id":"a","ids":{"phone":["1"]}}`, true},
	{`{"id":"a","ids":{"phone":[]}}`, true},
	{`{"id":"a","ids":{"phone":""}}`, true},
	{`{"id":"a","ids":{"phone":{}}}`, false},
	{`{"id":"a","ids":{"phone":[1]}}`, false},
	{`{"id":"a","ids":{"phone":"1","phone":"2"}}`, false},
	{`{"id":"a","ids":{"phone":"1","phone":1}}`, false},
	{`{"id":"a","ids":{"ph\u006fne":"1"}}`, false},
	{`{"id":"a","ids":{"phone":"1"},"ids":{"email":"2"}}`, false},
	{`{"id":"a","ids":{"phone":"1"},"IDS":{"email":"2"}}`, false},
	{`{"id":"a","IDs":{"phone":"1"}}`, false},
	{`{"id":"a","ids":[]}`, false},
	{`{"id":"a","ids":"1"}`, false},
	{`{"id":"a","ids":{"phone":"1",}}`, false},
	{`{"id":"a","ids":{"phone"}}`, false},
	{`{"ids":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11","l":"12","m":"13","n":"14","o":"15","p":"16"}}`, true},
	{`{"ids":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10","k":"11","l":"12","m":"13","n":"14","o":"15","p":"16","q":"17"}}`, true},

	// Duplicate keys: encoding/json keeps the last, or merges objects.
	{`{"id":"a","id":"b"}`, false},
	{`{"id":"a","set":{"age":1,"age":2}}`, false},
	{`{"id":"a","set":{"age":1},"set":{"city":"x"}}`, false},
	{`{"id":"a","add":{"channels":["x"],"channels":["y"]}}`, false},
	{`{"id":"a","remove":{"channels":"x","channels":"y"}}`, false},
	{`{"id":"a","unset":["age"],"unset":["city"]}`, false},
	{`{"id":"a","events":[{"field":"purchase","field":"view","time":"2026-01-01"}]}`, false},
	{`{"id":"a","set":{"age":1,"AGE":2}}`, true}, // the same field twice
	{`{"id":"a","unset":["age","age"]}`, true},

	// Keys: struct keys match case-insensitively in encoding/json; field
	// names are looked up case-insensitively by the schema.
	{`{"ID":"a"}`, false},
	{`{"Id":"a","SET":{"age":1}}`, false},
	{`{"id":"a","ſet":{"age":1}}`, false},
	{`{"\u0069d":"a"}`, false},
	{`{"id":"a","set":{"\u0061ge":1}}`, false},
	{`{"id":"a","events":[{"Field":"purchase","time":"2026-01-01"}]}`, false},
	{`{"id":"a","events":[{"field":"purchase","time":"2026-01-01","when":1}]}`, false},
	{`{"id":"a","set":{"AGE":1,"City":"x"}}`, true},
	{`{"id":"a","unset":["CITY"]}`, true},
	{`{"id":"a","events":[{"field":"PURCHASE","time":"2026-01-01"}]}`, true},

	// null where encoding/json leaves a pointer nil or a slice empty.
	{`{"id":null}`, false},
	{`{"id":"a","set":null}`, false},
	{`{"id":"a","unset":null}`, false},
	{`{"id":"a","events":null}`, false},
	{`{"id":"a","events":[null]}`, false},
	{`{"id":"a","events":[{"field":"purchase","value":null,"time":"2026-01-01"}]}`, false},
	{`{"id":"a","events":[{"field":null,"time":"2026-01-01"}]}`, false},

	// Events.
	{`{"id":"a","events":[{"field":"purchase","value":"x","time":"2026-11-01T23:30:00Z"},{"field":"purchase","value":"x","time":"2026-11-01T23:30:00+08:00"},{"field":"view","value":"","time":"2026-11-01"},{"field":"view","time":"2026-11-01"}]}`, true},
	{`{"id":"a","events":[{"value":"x","field":"view","time":"2026-11-01"},{"field":"view","value":"x","time":"1800-01-01"}]}`, true},
	{`{"id":"a","events":[{"field":"view","time":"2026-11-01T25:00:00Z"}]}`, true},
	{`{"id":"a","events":[{"field":"age","time":"2026-11-01"}]}`, true},
	{`{"id":"a","events":[{"field":"purchase","time":"2026-11-01"},{"field":"nope","time":"2026-11-01"}]}`, true},
}

// decodeErrorLines are the inputs of TestDecodeErrors, for the fuzzer's
// seed corpus and for comparing Decode with the reference.
var decodeErrorLines = []string{
	``, `[]`, `{"id":"a"`, `{"id":"a"} {}`, "{\"id\":\"a\xff\"}", `{"set":{}}`, `{"id":""}`,
	`{"id":5}`, `{"id":"a","sett":{}}`, `{"id":"a","ids":{"phone":"1"}}`, `{"id":"a","set":{"cty":"x"}}`,
	`{"id":"a","set":{"age":31.5}}`, `{"id":"a","set":{"age":"31"}}`, `{"id":"a","set":{"age":121}}`,
	`{"id":"a","set":{"ltv":1.234}}`, `{"id":"a","set":{"ltv":1e3}}`, `{"id":"a","set":{"ltv":-1}}`,
	`{"id":"a","set":{"gender":5}}`, `{"id":"a","set":{"gender":""}}`, `{"id":"a","set":{"is_vip":"yes"}}`,
	`{"id":"a","set":{"registered_at":"2025-13-01"}}`, `{"id":"a","set":{"registered_at":"1800-01-01"}}`,
	`{"id":"a","set":{"purchase":"x"}}`, `{"id":"a","set":{"age":1},"unset":["age"]}`,
	`{"id":"a","set":{"channels":["a"]},"add":{"channels":["b"]}}`,
	`{"id":"a","add":{"channels":["b"]},"remove":{"channels":["b"]}}`, `{"id":"a","add":{"city":["b"]}}`,
	`{"id":"a","add":{"channels":[1]}}`, `{"id":"a","events":[{"field":"age","time":"2026-01-01"}]}`,
	`{"id":"a","events":[{"field":"purchase"}]}`, `{"id":"a","events":[{"value":"x","time":"2026-01-01"}]}`,
	`{"id":"a","events":[{"field":"purchase","time":"yesterday"}]}`,
	`{"id":"a","events":[{"field":"purchase","time":"2026-01-01","when":1}]}`,
	`{"ids":{},"set":{}}`, `{"id":"a","ids":{"Phone!":"1"}}`, `{"id":"a","ids":{"phone":"1","phone":"2"}}`,
	`{"ids":{"external":"u1"}}`, `{"id":"a","ids":{"phone":null}}`, `{"id":"a","ids":{"phone":""}}`, `{"id":"a","ids":[]}`,
	`{"id":"u000123",
	 "set":{"gender":"female","age":31,"city":"上海","ltv":1234.50,"registered_at":"2025-03-02","is_vip":true},
	 "add":{"channels":["wechat","app","wechat"]},"remove":{"channels":"jd"},"events":[{"field":"purchase","value":"milk_powder","time":"2026-11-01T23:30:00Z"},{"field":"Purchase","time":"2026-11-01"}]}`,
}

func TestFastTricky(t *testing.T) {
	for _, s := range []*schema.Schema{genSchema(t), mustSchema(t)} {
		for _, tc := range trickyLines {
			compareFast(t, []byte(tc.line), s)
			if _, got := scanRecord([]byte(tc.line), nil, parsed{}); got != tc.fast {
				t.Errorf("scanRecord(%q) = %v, want %v", tc.line, got, tc.fast)
			}
		}
		for _, line := range decodeErrorLines {
			compareFast(t, []byte(line), s)
		}
	}
}

// TestFastOwnsStrings checks that nothing in a decoded Update aliases the
// line, which callers reuse.
func TestFastOwnsStrings(t *testing.T) {
	s := genSchema(t)
	line := []byte(`{"id":"u1","ids":{"phone":"138","openid":"o6"},"set":{"city":"上海","interests":["a","b"],"registered_at":"2025-03-02"},` +
		`"add":{"channels":["c"]},"remove":{"channels":"d"},"unset":["gender"],` +
		`"events":[{"field":"purchase","value":"milk","time":"2026-11-01"},{"field":"purchase","value":"milk","time":"2026-11-02"}]}`)
	want, err := decodeReference(line, s)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeFast(line, s, nil)
	if !ok {
		t.Fatal("fast path fell back")
	}
	for i := range line {
		line[i] = 'X'
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("update changed with the line:\n got %#v\nwant %#v", got, want)
	}
}

// FuzzDecodeFast checks the fast path against the reference on arbitrary
// input: whatever the fast path accepts, the reference must accept with
// the same Update; and Decode must answer as the reference does.
//
//	go test -run='^$' -fuzz=FuzzDecodeFast -fuzztime=120s ./engine/record/
func FuzzDecodeFast(f *testing.F) {
	for _, tc := range trickyLines {
		f.Add([]byte(tc.line))
	}
	for _, line := range decodeErrorLines {
		f.Add([]byte(line))
	}
	for i, line := range sampleLines(f) {
		if i%10 == 0 {
			f.Add(line)
		}
	}
	for _, line := range append(baseRecords(10), updates(10)...) {
		f.Add(line)
	}
	s := genSchema(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		compareFast(t, line, s)
	})
}

// TestFastSingleEdits makes every one-byte edit of the short test lines
// from a handful of bytes that matter to JSON, and checks each edited line
// as the fuzzer does: a cheap, deterministic sweep of the near misses that
// random mutation takes a while to find.
func TestFastSingleEdits(t *testing.T) {
	s := genSchema(t)
	const edits = "\"\\{}[],: \tn0-.eEu"
	var lines []string
	for _, tc := range trickyLines {
		lines = append(lines, tc.line)
	}
	lines = append(lines, decodeErrorLines...)
	if testing.Short() {
		lines = lines[:20]
	}
	for _, line := range lines {
		if len(line) > 300 {
			continue
		}
		b := []byte(line)
		for i := range b {
			// Delete byte i.
			compareFast(t, append(b[:i:i], b[i+1:]...), s)
			for _, c := range []byte(edits) {
				// Replace byte i, and insert before it.
				compareFast(t, append(append(b[:i:i], c), b[i+1:]...), s)
				compareFast(t, append(append(b[:i:i], c), b[i:]...), s)
			}
		}
	}
}

func TestFirstCommon(t *testing.T) {
	lists := [][]string{nil, {}, {"a"}, {"b"}, {"a", "b"}, {"a", "c"}, {"b", "c", "d"}, {"c"}, {"0", "a", "z"}}
	for _, a := range lists {
		for _, b := range lists {
			want, wantOK := "", false
			for _, v := range a {
				if slices.Contains(b, v) {
					want, wantOK = v, true
					break
				}
			}
			if got, ok := firstCommon(a, b); got != want || ok != wantOK {
				t.Errorf("firstCommon(%q, %q) = %q, %v; want %q, %v", a, b, got, ok, want, wantOK)
			}
		}
	}
}

// FuzzString checks the scanner's strings against encoding/json's: the
// same literals accepted, decoded to the same text. Random lines rarely
// reach deep into escapes; this aims the fuzzer at them.
//
//	go test -run='^$' -fuzz=FuzzString -fuzztime=60s ./engine/record/
func FuzzString(f *testing.F) {
	for _, seed := range []string{
		`a`, `\"\\\/\b\f\n\r\t`, `\u00e9\u4E0A\uD83D\uDE00`, `\ud800`, `\udc00\ud800x`, `\ud800\u0041`,
		`\uD800\uDBFF\uDC00`, `\ud800\\u0041`, `\ud800\"`, `\u0000`, `\x`, `\u12G4`, `\'`, "a\tb", `上海`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		lit := append(append([]byte{'"'}, body...), '"')
		if !utf8.Valid(lit) {
			return // decodeFast refuses the line before scanning
		}
		var want string
		err := json.Unmarshal(lit, &want)
		sc := scanner{b: lit}
		got, ok := sc.str()
		ok = ok && sc.i == len(lit)
		if ok != (err == nil) {
			t.Fatalf("%q: scanner ok=%v, encoding/json error %v", lit, ok, err)
		}
		if ok && string(got) != want {
			t.Fatalf("%q: scanner decodes %q, encoding/json %q", lit, got, want)
		}
		if b, plain := plainString(lit); plain && (err != nil || string(b) != want) {
			t.Fatalf("%q: plainString gives %q, encoding/json %q (error %v)", lit, b, want, err)
		}
	})
}

func TestStringPlain(t *testing.T) {
	for c := range 256 {
		want := c >= 0x20 && c != '"' && c != '\\'
		if got := stringPlain[c] == 1; got != want {
			t.Errorf("stringPlain[%#x] = %v, want %v", c, got, want)
		}
	}
}

func TestSortMembers(t *testing.T) {
	for n := range 40 {
		var ms []member
		for i := range n {
			ms = append(ms, member{name: strconv.Itoa((i * 7919) % 97)})
		}
		sortMembers(ms)
		if !slices.IsSortedFunc(ms, compareMembers) {
			t.Fatalf("%d members not sorted: %v", n, ms)
		}
	}
}

// TestSkipPlain checks the eight-bytes-at-a-time scan against the table,
// for every byte value at every position of a word and with other special
// bytes after it, where a borrow could mislead it.
func TestSkipPlain(t *testing.T) {
	slow := func(b []byte, i int) int {
		for i < len(b) && stringPlain[b[i]] == 1 {
			i++
		}
		return i
	}
	for c := range 256 {
		for pos := range 20 {
			for _, after := range []byte{'a', 0, '"', '\\', 0x1f, 0x20, 0x21, 0x80, 0xff} {
				b := bytes.Repeat([]byte{'x'}, 20)
				b[pos] = byte(c)
				if pos+1 < len(b) {
					b[pos+1] = after
				}
				for start := range 4 {
					for n := start; n <= len(b); n++ {
						if got, want := skipPlain(b[:n], start), slow(b[:n], start); got != want {
							t.Fatalf("skipPlain(%q, %d) = %d, want %d", b[:n], start, got, want)
						}
					}
				}
			}
		}
	}
}

func TestSortStrings(t *testing.T) {
	words := []string{"", "a", "ab", "b", "ba", "a\x00", "\xff", "z", "上海", "中"}
	for n := range 40 {
		var vs []string
		for i := range n {
			vs = append(vs, words[(i*7919)%len(words)]+strconv.Itoa(i%3))
			if i%5 == 0 {
				vs = append(vs, words[i%len(words)])
			}
		}
		want := slices.Clone(vs)
		slices.Sort(want)
		sortStrings(vs)
		if !slices.Equal(vs, want) {
			t.Fatalf("sortStrings gives %q, want %q", vs, want)
		}
	}
}
