package gen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/cohortdb/cohort/internal/jsonstr"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.json and testdata/sample.ndjson")

var (
	schemaPath = filepath.Join("..", "..", "testdata", "schema.json")
	samplePath = filepath.Join("..", "..", "testdata", "sample.ndjson")
)

// sampleOptions are those of the committed sample.
var sampleOptions = Options{Profiles: 200, Seed: 1, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, shanghai)}

func generate(opts Options) []byte {
	var out []byte
	g := New(opts)
	for ok := true; ok; {
		out, ok = g.Next(out)
	}
	return out
}

func parseSchema(t testing.TB) *schema.Schema {
	t.Helper()
	s, err := schema.Parse(SchemaJSON())
	if err != nil {
		t.Fatalf("schema.Parse(SchemaJSON()): %v", err)
	}
	return s
}

// checkGolden compares got with the file at path, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bench/gen -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what the generator produces now; if the change is intended, run go test ./bench/gen -update", path)
	}
}

func TestSchemaFile(t *testing.T) {
	checkGolden(t, schemaPath, SchemaJSON())
	s := parseSchema(t)
	if s.Timezone != "Asia/Shanghai" {
		t.Errorf("timezone %q, want Asia/Shanghai", s.Timezone)
	}
	// Every field the generator writes is declared, with the type it writes.
	want := map[string]schema.Type{"channels": schema.Set, "interests": schema.Set,
		"purchase": schema.Event, "view": schema.Event, "add_to_cart": schema.Event}
	for f, name := range fieldNames {
		switch f {
		case fGender, fCity, fLevel, fLifecycle:
			want[name] = schema.Tag
		case fAge, fChurn:
			want[name] = schema.Int
		case fVIP:
			want[name] = schema.Bool
		case fLTV:
			want[name] = schema.Decimal
		case fRegistered, fLastPurchase:
			want[name] = schema.Date
		}
	}
	for name, typ := range want {
		f, ok := s.Field(name)
		if !ok || f.Type != typ {
			t.Errorf("field %s: declared %v, want %v", name, f, typ)
		}
		if typ == schema.Event && f.RetentionDays != windowDays {
			t.Errorf("field %s: retention_days %d, want %d", name, f.RetentionDays, windowDays)
		}
	}
	if len(s.Fields) != len(want) {
		t.Errorf("schema declares %d fields, the generator writes %d", len(s.Fields), len(want))
	}
}

func TestSample(t *testing.T) {
	checkGolden(t, samplePath, generate(sampleOptions))
}

func TestDeterministic(t *testing.T) {
	opts := Options{Profiles: 3000, Seed: 99, Now: time.Date(2025, 6, 30, 15, 4, 5, 0, time.UTC)}
	a, b := generate(opts), generate(opts)
	if !bytes.Equal(a, b) {
		t.Fatal("two generators with the same options produced different bytes")
	}
	// Record(i) in any order equals the stream: no state leaks between
	// records.
	lines := bytes.SplitAfter(a, []byte("\n"))
	g := New(opts)
	var buf []byte
	for _, i := range []int{2999, 0, 1500, 7, 7, 2998, 1} {
		buf = g.Record(buf[:0], i)
		if !bytes.Equal(buf, lines[i]) {
			t.Fatalf("Record(%d) = %s, stream has %s", i, buf, lines[i])
		}
	}
	// Record i does not depend on Profiles.
	if got := generate(Options{Profiles: 10, Seed: 99, Now: opts.Now}); !bytes.HasPrefix(a, got) {
		t.Error("the first 10 records change with Profiles")
	}
	if bytes.Equal(a, generate(Options{Profiles: 3000, Seed: 100, Now: opts.Now})) {
		t.Error("seeds 99 and 100 produced the same data")
	}
	u1, u2 := Updates(opts, 500), Updates(opts, 500)
	var x, y []byte
	for ok := true; ok; {
		x, ok = u1.Next(x)
		y, _ = u2.Next(y)
	}
	if !bytes.Equal(x, y) || len(x) == 0 {
		t.Error("two update generators with the same options produced different bytes")
	}
}

// wireRecord is the ingest record of DESIGN §3; decoding with
// DisallowUnknownFields rejects any other key.
type wireRecord struct {
	ID     string                     `json:"id"`
	IDs    map[string]string          `json:"ids"`
	Set    map[string]json.RawMessage `json:"set"`
	Add    map[string][]string        `json:"add"`
	Remove map[string][]string        `json:"remove"`
	Unset  []string                   `json:"unset"`
	Events []struct {
		Field string `json:"field"`
		Value string `json:"value"`
		Time  string `json:"time"`
	} `json:"events"`
}

// checker validates records against the schema and the generator's
// vocabulary, the way an ingest endpoint would, plus what the generator
// promises beyond that.
type checker struct {
	s       *schema.Schema
	now     schema.Day
	allowed map[string]map[string]bool // field -> allowed values
	forms   map[string]int             // event time forms seen
}

func newChecker(t testing.TB, now time.Time) *checker {
	c := &checker{s: parseSchema(t), now: schema.DayOf(now, shanghai), allowed: map[string]map[string]bool{}, forms: map[string]int{}}
	for _, f := range c.s.Fields {
		if vals := Values(f.Name); vals != nil {
			c.allowed[f.Name] = map[string]bool{}
			for _, v := range vals {
				c.allowed[f.Name][v] = true
			}
		}
	}
	return c
}

var (
	decimal2   = regexp.MustCompile(`^(0|[1-9][0-9]*)\.[0-9]{2}$`)
	localTime  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$`)
	utcTime    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	phoneRE    = regexp.MustCompile(`^\+861[35789]\d{9}$`)
	openIDRE   = regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`)
	idRE       = regexp.MustCompile(`^u\d{9}$`)
	topKeys    = []string{"id", "ids", "set", "add", "remove", "unset", "events"}
	errNoValue = errors.New("no value")
)

// parse decodes one line strictly and checks everything that does not
// depend on whether it is a base record or an update.
func (c *checker) parse(line []byte) (*wireRecord, error) {
	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		return nil, errors.New("a record must be exactly one line ending in \\n")
	}
	if !utf8.Valid(line) || !json.Valid(line) {
		return nil, errors.New("not valid UTF-8 JSON")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(line, &keys); err != nil {
		return nil, err
	}
	for k, v := range keys {
		if !slices.Contains(topKeys, k) {
			return nil, fmt.Errorf("unknown key %q", k)
		}
		if s := string(v); s == "{}" || s == "[]" || s == `""` || s == "null" {
			return nil, fmt.Errorf("key %q is present but empty", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var r wireRecord
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if !idRE.MatchString(r.ID) {
		return nil, fmt.Errorf("id %q", r.ID)
	}
	for f, raw := range r.Set {
		if err := c.checkValue(f, raw); err != nil {
			return nil, fmt.Errorf("set.%s = %s: %w", f, raw, err)
		}
	}
	for _, m := range []map[string][]string{r.Add, r.Remove} {
		for f, vals := range m {
			fd, ok := c.s.Field(f)
			if !ok || fd.Type != schema.Set {
				return nil, fmt.Errorf("add/remove of %q, which is not a set field", f)
			}
			if len(vals) == 0 {
				return nil, fmt.Errorf("empty list for %s", f)
			}
			for k, v := range vals {
				if !c.allowed[f][v] || slices.Contains(vals[:k], v) {
					return nil, fmt.Errorf("%s value %q is unknown or repeated", f, v)
				}
			}
		}
	}
	for _, f := range r.Unset {
		if _, ok := c.s.Field(f); !ok {
			return nil, fmt.Errorf("unset of unknown field %q", f)
		}
		if _, ok := r.Set[f]; ok {
			return nil, fmt.Errorf("field %q is both set and unset", f)
		}
	}
	for _, e := range r.Events {
		fd, ok := c.s.Field(e.Field)
		if !ok || fd.Type != schema.Event {
			return nil, fmt.Errorf("event of %q, which is not an event field", e.Field)
		}
		if !c.allowed[e.Field][e.Value] {
			return nil, fmt.Errorf("event value %q", e.Value)
		}
		switch {
		case len(e.Time) == len(time.DateOnly):
			c.forms["date"]++
		case localTime.MatchString(e.Time):
			c.forms["local"]++
		case utcTime.MatchString(e.Time):
			c.forms["utc"]++
		default:
			return nil, fmt.Errorf("event time %q is in no expected form", e.Time)
		}
		d, err := schema.ParseDayOrTime(e.Time, c.s.Location())
		if err != nil {
			return nil, err
		}
		if d > c.now || d <= c.now-windowDays {
			return nil, fmt.Errorf("event time %s is outside the %d days ending %s", e.Time, windowDays, schema.FormatDay(c.now))
		}
	}
	return &r, nil
}

func (c *checker) checkValue(name string, raw json.RawMessage) error {
	f, ok := c.s.Field(name)
	if !ok {
		return errors.New("unknown field")
	}
	switch f.Type {
	case schema.Tag:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		if !c.allowed[name][s] {
			return errors.New("not one of the generator's values")
		}
	case schema.Bool:
		if s := string(raw); s != "true" && s != "false" {
			return errors.New("not a bool")
		}
	case schema.Int:
		v, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return err
		}
		if lo, hi := f.Bounds(); v < lo || v > hi {
			return fmt.Errorf("outside %d..%d", lo, hi)
		}
	case schema.Decimal:
		if !decimal2.Match(raw) {
			return errors.New("not a decimal with exactly 2 places")
		}
		cents, _ := strconv.ParseInt(strings.Replace(string(raw), ".", "", 1), 10, 64)
		if lo, hi := f.Bounds(); cents < lo || cents > hi {
			return fmt.Errorf("outside %d..%d (scaled)", lo, hi)
		}
	case schema.Date:
		d, err := dateOf(raw)
		if err != nil {
			return err
		}
		if d > c.now {
			return errors.New("after Now")
		}
	default:
		return fmt.Errorf("a %s field cannot be set", f.Type)
	}
	return nil
}

func dateOf(raw json.RawMessage) (schema.Day, error) {
	if raw == nil {
		return 0, errNoValue
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, err
	}
	return schema.ParseDay(s)
}

// eventDay is the Shanghai day of an event; parse has checked it.
func (c *checker) eventDay(t string) schema.Day {
	d, _ := schema.ParseDayOrTime(t, c.s.Location())
	return d
}

// lines splits NDJSON into lines that keep their '\n'.
func lines(b []byte) [][]byte {
	l := bytes.SplitAfter(b, []byte("\n"))
	return l[:len(l)-1] // the empty remainder after the last '\n'
}

func TestRecordsValid(t *testing.T) {
	opts := Options{Profiles: 10_000, Seed: 7, Now: time.Date(2026, 3, 1, 23, 30, 0, 0, shanghai), Identifiers: true}
	c := newChecker(t, opts.Now)
	phones, openids := map[string]bool{}, map[string]bool{}
	for i, line := range lines(generate(opts)) {
		r, err := c.parse(line)
		if err != nil {
			t.Fatalf("record %d: %v\n%s", i, err, line)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("record %d: %s\n%s", i, fmt.Sprintf(format, args...), line)
		}
		if want := fmt.Sprintf("u%09d", i); r.ID != want {
			fail("id %s, want %s", r.ID, want)
		}
		if r.Remove != nil || r.Unset != nil {
			fail("a base record removes or unsets")
		}
		for k, v := range r.IDs {
			switch {
			case k == "phone" && phoneRE.MatchString(v) && !phones[v]:
				phones[v] = true
			case k == "openid" && openIDRE.MatchString(v) && !openids[v]:
				openids[v] = true
			default:
				fail("identifier %s=%q is malformed or repeated", k, v)
			}
		}
		reg, regErr := dateOf(r.Set["registered_at"])
		last, lastErr := dateOf(r.Set["last_purchase_at"])
		var latest schema.Day
		for _, e := range r.Events {
			d := c.eventDay(e.Time)
			if regErr == nil && d < reg {
				fail("event %s before registration", e.Time)
			}
			if e.Field == "purchase" {
				latest = max(latest, d)
			}
		}
		switch {
		case latest != 0 && (lastErr != nil || last != latest):
			fail("last_purchase_at is not the day of the latest purchase %s", schema.FormatDay(latest))
		case latest == 0 && lastErr == nil && last > c.now-windowDays:
			fail("last_purchase_at %s inside the window without a purchase event", schema.FormatDay(last))
		case lastErr == nil && regErr == nil && last < reg:
			fail("last purchase before registration")
		}
	}
	if len(phones) < opts.Profiles/2 || len(openids) < opts.Profiles/2 {
		t.Errorf("%d phones and %d openids in %d profiles", len(phones), len(openids), opts.Profiles)
	}
	for _, form := range []string{"date", "local", "utc"} {
		if c.forms[form] == 0 {
			t.Errorf("no event time written in %s form", form)
		}
	}
}

// TestEngineDecodes feeds records to the engine's own decoder, so that a
// change on either side that breaks loading shows up here.
func TestEngineDecodes(t *testing.T) {
	s := parseSchema(t)
	opts := Options{Profiles: 5_000, Seed: 11}
	for i, line := range lines(generate(opts)) {
		if _, err := record.Decode(line, s); err != nil {
			t.Fatalf("record %d: %v\n%s", i, err, line)
		}
	}
	u := Updates(opts, 2_000)
	for k := 0; ; k++ {
		line, ok := u.Next(nil)
		if !ok {
			break
		}
		if _, err := record.Decode(line, s); err != nil {
			t.Fatalf("update %d: %v\n%s", k, err, line)
		}
	}
}

func TestUpdatesValid(t *testing.T) {
	opts := Options{Profiles: 1000, Seed: 5, Now: DefaultNow(), Identifiers: true}
	const n = 5000
	c := newChecker(t, opts.Now)
	base := lines(generate(opts))
	u := Updates(opts, n)
	seen := map[string]int{}
	var buf []byte
	for k := 0; ; k++ {
		var ok bool
		buf, ok = u.Next(buf[:0])
		if !ok {
			if k != n {
				t.Fatalf("%d updates, want %d", k, n)
			}
			break
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("update %d: %s\n%s", k, fmt.Sprintf(format, args...), buf)
		}
		r, err := c.parse(buf)
		if err != nil {
			fail("%v", err)
		}
		j, _ := strconv.Atoi(strings.TrimPrefix(r.ID, "u"))
		if j >= opts.Profiles {
			fail("update of a profile that does not exist")
		}
		if len(r.Set)+len(r.Add)+len(r.Remove)+len(r.Unset)+len(r.Events)+len(r.IDs) == 0 {
			fail("update changes nothing")
		}
		b, err := c.parse(base[j])
		if err != nil {
			t.Fatal(err)
		}
		for key, v := range r.IDs {
			if key != "email" || v != r.ID+"@mail.example.com" {
				fail("identifier %s=%q", key, v)
			}
			seen["ids"]++
		}
		for f := range r.Set {
			seen["set "+f]++
		}
		if city, ok := r.Set["city"]; ok && bytes.Equal(city, b.Set["city"]) {
			fail("city moves to the city it had")
		}
		for f, vals := range r.Add {
			seen["add"]++
			for _, v := range vals {
				if slices.Contains(b.Add[f], v) {
					fail("adds %s %q, which the profile has", f, v)
				}
			}
		}
		for f, vals := range r.Remove {
			seen["remove"]++
			for _, v := range vals {
				if !slices.Contains(b.Add[f], v) {
					fail("removes %s %q, which the profile lacks", f, v)
				}
			}
		}
		for _, f := range r.Unset {
			seen["unset"]++
			if _, ok := b.Set[f]; !ok {
				fail("unsets %s, which the profile lacks", f)
			}
		}
		bought := false
		for _, e := range r.Events {
			seen["events"]++
			if c.eventDay(e.Time) != c.now {
				fail("new event %s is not on Now's day", e.Time)
			}
			bought = bought || e.Field == "purchase"
		}
		if last, err := dateOf(r.Set["last_purchase_at"]); bought != (err == nil) || bought && last != c.now {
			fail("last_purchase_at does not follow today's purchase")
		}
	}
	for _, kind := range []string{"ids", "set city", "set lifecycle", "set churn_score", "set member_level",
		"set ltv", "set last_purchase_at", "add", "remove", "unset", "events"} {
		if seen[kind] == 0 {
			t.Errorf("no update of kind %q in %d", kind, n)
		}
	}
	if Updates(Options{}, 10).n != 0 {
		t.Error("updates generated for a data set without profiles")
	}
}

// TestDistributions checks the shape the package documents, with fixed
// seeds and margins wide enough that they test the model, not the luck.
func TestDistributions(t *testing.T) {
	opts := Options{Profiles: 20_000, Seed: 42, Now: DefaultNow()}
	c := newChecker(t, opts.Now)
	var (
		cityCount     = map[string]int{}
		missing       = map[string]int{}
		churnSum      = map[string]float64{}
		churnN        = map[string]float64{}
		ageSum, ageN  [5]float64
		ltvSum, ltvN  [5]float64
		vipHigh, vips int
		few, heavy    int
		recent, old   int
		// purchases of baby categories by profiles with and without the
		// "baby" interest
		babyBuys, babyN, otherBuys, otherN float64
	)
	optional := []string{"gender", "age", "city", "member_level", "lifecycle", "is_vip", "churn_score", "ltv", "registered_at"}
	for _, line := range lines(generate(opts)) {
		r, err := c.parse(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range optional {
			if _, ok := r.Set[f]; !ok {
				missing[f]++
			}
		}
		var city, life, level string
		_ = json.Unmarshal(r.Set["city"], &city)
		_ = json.Unmarshal(r.Set["lifecycle"], &life)
		_ = json.Unmarshal(r.Set["member_level"], &level)
		if city != "" {
			cityCount[city]++
		}
		if v, ok := r.Set["churn_score"]; ok && life != "" {
			x, _ := strconv.ParseFloat(string(v), 64)
			churnSum[life] += x
			churnN[life]++
		}
		if level != "" {
			l := int(level[1] - '0')
			if v, ok := r.Set["age"]; ok {
				x, _ := strconv.ParseFloat(string(v), 64)
				ageSum[l] += x
				ageN[l]++
			}
			if v, ok := r.Set["ltv"]; ok {
				x, _ := strconv.ParseFloat(string(v), 64)
				ltvSum[l] += x
				ltvN[l]++
			}
			if string(r.Set["is_vip"]) == "true" {
				vips++
				if l >= 3 {
					vipHigh++
				}
			}
		}
		if len(r.Events) <= 3 {
			few++
		}
		if len(r.Events) >= 36 {
			heavy++
		}
		baby := slices.Contains(r.Add["interests"], "baby")
		for _, e := range r.Events {
			switch d := c.eventDay(e.Time); {
			case d > c.now-100:
				recent++
			case d <= c.now-300:
				old++
			}
			if e.Field == "purchase" && (e.Value == "milk_powder" || e.Value == "diapers") {
				if baby {
					babyBuys++
				} else {
					otherBuys++
				}
			}
		}
		if baby {
			babyN++
		} else {
			otherN++
		}
	}

	mean := func(sum, n float64) float64 { return sum / max(n, 1) }
	t.Logf("上海 %d, 南京 %d; churn active/dormant/churned %.0f/%.0f/%.0f; age L0..L4 %.1f %.1f %.1f %.1f %.1f; ltv L0..L4 %.0f %.0f %.0f %.0f %.0f",
		cityCount["上海"], cityCount["南京"],
		mean(churnSum["active"], churnN["active"]), mean(churnSum["dormant"], churnN["dormant"]), mean(churnSum["churned"], churnN["churned"]),
		mean(ageSum[0], ageN[0]), mean(ageSum[1], ageN[1]), mean(ageSum[2], ageN[2]), mean(ageSum[3], ageN[3]), mean(ageSum[4], ageN[4]),
		mean(ltvSum[0], ltvN[0]), mean(ltvSum[1], ltvN[1]), mean(ltvSum[2], ltvN[2]), mean(ltvSum[3], ltvN[3]), mean(ltvSum[4], ltvN[4]))
	t.Logf("VIPs %d (%d L3/L4); <=3 events %d, >=36 %d; events recent/old %d/%d; baby purchases per profile %.3f vs %.3f",
		vips, vipHigh, few, heavy, recent, old, mean(babyBuys, babyN), mean(otherBuys, otherN))

	top := ""
	for city, n := range cityCount {
		if top == "" || n > cityCount[top] {
			top = city
		}
	}
	if top != "上海" || cityCount["上海"] < 2*cityCount["南京"] || len(cityCount) < 200 {
		t.Errorf("city is not Zipf-like: top %s with %d, 南京 (rank 11) %d, %d distinct", top, cityCount[top], cityCount["南京"], len(cityCount))
	}
	if a, d, ch := mean(churnSum["active"], churnN["active"]), mean(churnSum["dormant"], churnN["dormant"]), mean(churnSum["churned"], churnN["churned"]); !(a+100 < d && d+100 < ch) {
		t.Errorf("mean churn_score active %.0f, dormant %.0f, churned %.0f: want clearly increasing", a, d, ch)
	}
	for l := 1; l < 5; l++ {
		if mean(ageSum[l], ageN[l]) <= mean(ageSum[l-1], ageN[l-1])+1 {
			t.Errorf("mean age L%d %.1f, L%d %.1f: want higher levels older", l-1, mean(ageSum[l-1], ageN[l-1]), l, mean(ageSum[l], ageN[l]))
		}
		if mean(ltvSum[l], ltvN[l]) <= mean(ltvSum[l-1], ltvN[l-1]) {
			t.Errorf("mean ltv L%d %.0f, L%d %.0f: want higher levels richer", l-1, mean(ltvSum[l-1], ltvN[l-1]), l, mean(ltvSum[l], ltvN[l]))
		}
	}
	if vipHigh*10 < vips*7 {
		t.Errorf("%d of %d VIPs are L3/L4, want most", vipHigh, vips)
	}
	for _, f := range optional {
		if share := float64(missing[f]) / float64(opts.Profiles); share < 0.005 || share > 0.08 {
			t.Errorf("%s missing from %.1f%% of profiles, want a few per cent", f, 100*share)
		}
	}
	if few*100 < opts.Profiles*40 || heavy == 0 {
		t.Errorf("%d profiles with at most 3 events, %d with 36 or more: want a skewed count", few, heavy)
	}
	if recent <= 2*old {
		t.Errorf("%d events in the latest 100 days, %d in the oldest 100: want recent-biased", recent, old)
	}
	if b, o := mean(babyBuys, babyN), mean(otherBuys, otherN); b < 2*o {
		t.Errorf("milk powder and diapers bought %.3f times per profile with the baby interest, %.3f without: want the interest to matter", b, o)
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	opts := Options{Profiles: 4_500, Seed: 3}
	var calls []int
	if err := WriteDir(dir, opts, func(n int) { calls = append(calls, n) }); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, ProfilesFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, generate(opts)) {
		t.Error("profiles.ndjson differs from the sequential stream")
	}
	if s, err := os.ReadFile(filepath.Join(dir, SchemaFile)); err != nil || !bytes.Equal(s, SchemaJSON()) {
		t.Errorf("schema.json: %v", err)
	}
	if !slices.Equal(calls, []int{4500}) {
		t.Errorf("progress calls %v, want [4500]", calls)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (no temporary files)", len(entries))
	}

	calls = nil
	var out bytes.Buffer
	if err := writeProfiles(&out, opts, func(n int) { calls = append(calls, n) }, 1000); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{1000, 2000, 3000, 4000, 4500}) {
		t.Errorf("progress calls %v, want every 1000 and the total", calls)
	}
}

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.left < len(p) {
		return 0, errors.New("disk full")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestWriteDirErrors(t *testing.T) {
	err := writeProfiles(bufio.NewWriterSize(&failingWriter{left: 1 << 20}, 4096), Options{Profiles: 50_000}, nil, progressEvery)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("writeProfiles to a failing writer: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(filepath.Join(file, "sub"), Options{Profiles: 1}, nil); err == nil {
		t.Error("WriteDir under a regular file succeeded")
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "上海", `Xi'an`, `a"b\c`, "tab\tnl\nnul\x00\x1f", "bad\xffutf8\xc3", "line\u2028sep\u2029", "emoji 😀"} {
		b := jsonstr.Append(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("jsonstr.Append(%q) = %s: %v", s, b, err)
			continue
		}
		// encoding/json is the reference, also for invalid UTF-8.
		ref, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(ref, &want)
		if back != want {
			t.Errorf("jsonstr.Append(%q) decodes to %q, want %q", s, back, want)
		}
		if strings.Contains(s, "上海") && !bytes.Contains(b, []byte("上海")) {
			t.Errorf("jsonstr.Append(%q) = %s: Chinese must stay readable", s, b)
		}
	}
	// A prefix that needs escaping still yields valid records.
	g := New(Options{Profiles: 1, IDPrefix: `x"y`})
	line, _ := g.Next(nil)
	var r wireRecord
	if err := json.Unmarshal(line, &r); err != nil || r.ID != `x"y000000000` {
		t.Errorf("record with prefix x\"y: id %q, %v", r.ID, err)
	}
}

func TestAppendDate(t *testing.T) {
	for d := schema.MinDay; d <= schema.MaxDay; d += 17 {
		if got, want := string(appendDate(nil, d)), schema.FormatDay(d); got != want {
			t.Fatalf("appendDate(%d) = %s, want %s", d, got, want)
		}
	}
	if got := string(appendCents(nil, 123405)); got != "1234.05" {
		t.Errorf("appendCents(123405) = %s", got)
	}
}

func TestTables(t *testing.T) {
	check := func(name string, w []int) {
		t.Helper()
		if sum(w) != 1000 {
			t.Errorf("%s sums to %d per mille", name, sum(w))
		}
	}
	for k := range levelByTier {
		check(fmt.Sprintf("levelByTier[%d]", k), levelByTier[k][:])
	}
	for k := range lifecycleByLevel {
		check(fmt.Sprintf("lifecycleByLevel[%d]", k), lifecycleByLevel[k][:])
	}
	if len(cities) < 300 || len(categories) < 25 || len(interests) < 20 {
		t.Errorf("%d cities, %d categories, %d interests", len(cities), len(categories), len(interests))
	}
	for _, field := range []string{"city", "interests", "purchase"} {
		vals := Values(field)
		if u := slices.Compact(slices.Sorted(slices.Values(vals))); len(u) != len(vals) {
			t.Errorf("%s values repeat", field)
		}
	}
}

func TestRecordAllocs(t *testing.T) {
	g := New(Options{Seed: 1})
	buf := make([]byte, 0, 1<<16)
	for i := range 2000 { // grow the event scratch to its working size
		buf = g.Record(buf[:0], i)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		buf = g.Record(buf[:0], i%2000)
		i++
	}); n != 0 {
		t.Errorf("Record allocates %.1f times per record", n)
	}
}

// BenchmarkGenerate measures single-goroutine generation of base records.
//
//	go test ./bench/gen -run '^$' -bench Generate -benchmem
func BenchmarkGenerate(b *testing.B) {
	g := New(Options{Seed: 1})
	buf := make([]byte, 0, 1<<16)
	n, size := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		buf = g.Record(buf[:0], n)
		size += len(buf)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(size)/1e6/b.Elapsed().Seconds(), "MB/s")
}

// BenchmarkUpdates measures update generation, which regenerates the base
// profile of each update.
//
//	go test ./bench/gen -run '^$' -bench Updates -benchmem
func BenchmarkUpdates(b *testing.B) {
	u := Updates(Options{Profiles: 10_000_000, Seed: 1}, 0)
	buf := make([]byte, 0, 1<<16)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		buf = u.Record(buf[:0], n)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
