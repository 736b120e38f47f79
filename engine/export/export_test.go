package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/export"
	"github.com/cohortdb/cohort/engine/internal/testgen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

var testNow = time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)

func newDataset(t testing.TB, s *schema.Schema) *engine.Dataset {
	t.Helper()
	ds, err := engine.New(engine.Options{Clock: func() time.Time { return testNow }}).Create("exp", s)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// trickyStrings are values that stress CSV quoting and JSON escaping.
var trickyStrings = []string{
	"a", "b", "上海", "b,c", `q"uote`, " lead", "trail ", "new\nline", "cr\rx", "crlf\r\nx",
	"pipe|val", "=eq", `\.`, "\u2028ls", "\x01ctl", "tab\tx", "<&>", `back\slash`, "\u00a0nbsp", "@at",
}

// randomSchema makes n fields of random types and bounds, including
// single-value ranges (no bit slices), narrow ones (per-value bitmaps)
// and the widest allowed (54 slices).
func randomSchema(t testing.TB, r *rand.Rand, n int) *schema.Schema {
	t.Helper()
	types := []schema.Type{schema.Tag, schema.Set, schema.Bool, schema.Int, schema.Decimal, schema.Date, schema.Event}
	p := func(v int64) *int64 { return &v }
	var fields []schema.Field
	for i := range n {
		f := schema.Field{Name: fmt.Sprintf("f%d", i), Type: types[r.IntN(len(types))]}
		if i == 0 {
			f.Name = "城市" // non-ASCII name: header and JSON key
		}
		switch f.Type {
		case schema.Int:
			switch r.IntN(4) {
			case 0:
				f.Min, f.Max = p(-5), p(300)
			case 1:
				f.Min, f.Max = p(-(1 << 53)), p(1<<53)
			case 2:
				f.Min, f.Max = p(7), p(7)
			default:
				f.Min, f.Max = p(1000), p(1_000_000)
			}
		case schema.Decimal:
			f.Scale = r.IntN(schema.MaxScale + 1)
			switch {
			case r.IntN(2) == 0:
				f.Min, f.Max = p(-10), p(1000)
			case f.Scale >= 4: // the default max does not fit 2^53 at this scale
				f.Max = p(1 << 53 / schema.Pow10(f.Scale))
			}
		}
		fields = append(fields, f)
	}
	s, err := schema.New("Asia/Shanghai", fields)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// valuePool returns the values a tag, set or event field draws from.
func valuePool(r *rand.Rand, fi int) []string {
	if fi%5 == 4 { // some fields with many values: many bitmaps per block
		pool := make([]string, 120)
		for i := range pool {
			pool[i] = fmt.Sprintf("v%03d", i)
		}
		return pool
	}
	k := 1 + r.IntN(len(trickyStrings))
	pool := slices.Clone(trickyStrings)
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	return pool[:k]
}

// randomValue draws a value for a scalar field within its bounds.
func randomValue(r *rand.Rand, f *schema.Field) record.Value {
	switch f.Type {
	case schema.Bool:
		return record.Value{Bool: r.IntN(2) == 0}
	case schema.Int, schema.Decimal, schema.Date:
		lo, hi := f.Bounds()
		switch r.IntN(6) {
		case 0:
			return record.Value{Int: lo}
		case 1:
			return record.Value{Int: hi}
		}
		return record.Value{Int: lo + r.Int64N(hi-lo+1)}
	}
	panic("not scalar")
}

// populate applies random updates for n profiles, then a round of unsets,
// removals and overwrites on random profiles so indexes have holes.
func populate(t testing.TB, r *rand.Rand, ds *engine.Dataset, n int) {
	t.Helper()
	s := ds.Schema()
	pools := make([][]string, len(s.Fields))
	for i := range s.Fields {
		pools[i] = valuePool(r, i)
	}
	today := schema.DayOf(testNow, s.Location())
	id := func(i int) string {
		switch i % 97 {
		case 3:
			return fmt.Sprintf("u,%d", i)
		case 5:
			return fmt.Sprintf(`"q%d"`, i)
		case 7:
			return fmt.Sprintf(" sp%d", i)
		case 11:
			return fmt.Sprintf("上海%d", i)
		}
		return fmt.Sprintf("p%d", i)
	}
	density := make([]int, len(s.Fields)) // percent of profiles with a value
	for i := range density {
		density[i] = []int{0, 3, 50, 90, 100}[r.IntN(5)]
	}
	gen := func(i int, second bool) record.Update {
		u := record.Update{ID: id(i)}
		for fi := range s.Fields {
			f := &s.Fields[fi]
			if r.IntN(100) >= density[fi] {
				continue
			}
			if second && r.IntN(3) != 0 {
				continue
			}
			if second && r.IntN(3) == 0 {
				u.Unset = append(u.Unset, fi)
				continue
			}
			pool := pools[fi]
			switch f.Type {
			case schema.Tag:
				u.Set = append(u.Set, record.Assign{Field: fi, Value: record.Value{Str: pool[r.IntN(len(pool))]}})
			case schema.Set:
				var vals []string
				for range 1 + r.IntN(4) {
					vals = append(vals, pool[r.IntN(len(pool))])
				}
				if second && r.IntN(2) == 0 {
					u.Remove = append(u.Remove, record.SetChange{Field: fi, Values: vals})
				} else {
					u.Set = append(u.Set, record.Assign{Field: fi, Value: record.Value{Strs: vals}})
				}
			case schema.Event:
				for range 1 + r.IntN(3) {
					u.Events = append(u.Events, record.Event{Field: fi, Value: pool[r.IntN(len(pool))], Day: today - schema.Day(r.IntN(60))})
				}
			default:
				u.Set = append(u.Set, record.Assign{Field: fi, Value: randomValue(r, f)})
			}
		}
		return u
	}
	apply := func(ups []record.Update) {
		if res := ds.Apply(ups); len(res.Errors) > 0 {
			t.Fatalf("apply: %v", res.Errors[0])
		}
	}
	const batch = 8192
	var ups []record.Update
	for i := range n {
		ups = append(ups, gen(i, false))
		if len(ups) == batch {
			apply(ups)
			ups = ups[:0]
		}
	}
	for range min(n/4, 5000) { // bounded: unsetting events is slow under -race
		ups = append(ups, gen(r.IntN(n), true))
		if len(ups) == batch {
			apply(ups)
			ups = ups[:0]
		}
	}
	apply(ups)
}

// oracle renders the export one profile at a time with the per-row
// accessors, encoding/csv and encoding/json: what Write must match.
type oracle struct {
	t        testing.TB
	sn       *engine.Snapshot
	opts     export.Options
	idHeader string
	fvs      []*engine.FieldView
	big      bool // RowDays is too slow for big audiences
	buf      bytes.Buffer
	enc      *json.Encoder
}

func newOracle(t testing.TB, sn *engine.Snapshot, opts export.Options, big bool) *oracle {
	o := &oracle{t: t, sn: sn, opts: opts, idHeader: opts.IDHeader, big: big}
	if o.idHeader == "" {
		o.idHeader = "id"
	}
	for _, name := range opts.Fields {
		fv, err := sn.Field(name)
		if err != nil {
			t.Fatal(err)
		}
		o.fvs = append(o.fvs, fv)
	}
	o.enc = json.NewEncoder(&o.buf)
	o.enc.SetEscapeHTML(false)
	return o
}

func (o *oracle) jsonStr(v any) string {
	o.buf.Reset()
	if err := o.enc.Encode(v); err != nil {
		o.t.Fatal(err)
	}
	return strings.TrimSuffix(o.buf.String(), "\n")
}

// value returns the field's values of row as strings (nil: none) and
// whether the field is a list.
func (o *oracle) value(fv *engine.FieldView, row uint32) ([]string, bool) {
	f := fv.Field
	switch {
	case fv.Values != nil:
		return fv.Values.RowValues(nil, row), f.Type == schema.Set
	case fv.Bool != nil:
		v, ok := fv.Bool.Value(row)
		if !ok {
			return nil, false
		}
		return []string{strconv.FormatBool(v)}, false
	case fv.BSI != nil:
		v, ok := fv.BSI.Value(row)
		if !ok {
			return nil, false
		}
		switch f.Type {
		case schema.Decimal:
			return []string{record.FormatDecimal(v, f.Scale)}, false
		case schema.Date:
			return []string{schema.FormatDay(schema.Day(v))}, false
		}
		return []string{strconv.FormatInt(v, 10)}, false
	}
	var vals []string
	if o.big {
		// RowDays probes every day bitmap of every value; for big
		// audiences the all-time bitmaps stand in.
		for i, v := range fv.Events.Values() {
			if all, _, _ := fv.Events.ValueBitmaps(i); all.Contains(row) {
				vals = append(vals, v)
			}
		}
		return vals, true
	}
	days := fv.Events.RowDays(row)
	for _, v := range fv.Events.Values() { // dictionary order
		if _, ok := days[v]; ok {
			vals = append(vals, v)
		}
	}
	return vals, true
}

func (o *oracle) csvHeader() []string {
	rec := []string{o.idHeader}
	for _, fv := range o.fvs {
		rec = append(rec, fv.Field.Name)
	}
	return rec
}

func (o *oracle) csvRecord(row uint32) []string {
	rec := []string{o.sn.ExternalID(row)}
	for _, fv := range o.fvs {
		vals, _ := o.value(fv, row)
		rec = append(rec, strings.Join(vals, "|"))
	}
	return rec
}

func (o *oracle) jsonLine(row uint32) string {
	var b strings.Builder
	b.WriteString("{" + o.jsonStr(o.idHeader) + ":" + o.jsonStr(o.sn.ExternalID(row)))
	for _, fv := range o.fvs {
		vals, list := o.value(fv, row)
		if vals == nil {
			continue
		}
		b.WriteString("," + o.jsonStr(fv.Field.Name) + ":")
		switch {
		case list:
			b.WriteString(o.jsonStr(vals))
		case fv.Values != nil || fv.Field.Type == schema.Date:
			b.WriteString(o.jsonStr(vals[0]))
		default: // bool, int, decimal: bare JSON literals
			b.WriteString(vals[0])
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// render is the whole expected output.
func (o *oracle) render(rows *roaring.Bitmap) []byte {
	var out bytes.Buffer
	if o.opts.Format == export.CSV {
		w := csv.NewWriter(&out)
		w.Write(o.csvHeader())
		for _, row := range rows.ToArray() {
			w.Write(o.csvRecord(row))
		}
		w.Flush()
		if err := w.Error(); err != nil {
			o.t.Fatal(err)
		}
		return out.Bytes()
	}
	for _, row := range rows.ToArray() {
		out.WriteString(o.jsonLine(row))
	}
	return out.Bytes()
}

// audiences returns named audiences over n profiles: empty, everyone,
// sparse, dense, block-boundary ranges and single rows.
func audiences(r *rand.Rand, n uint32) map[string]*roaring.Bitmap {
	all := roaring.New()
	all.AddRange(0, uint64(n))
	sparse, dense, alternate := roaring.New(), roaring.New(), roaring.New()
	for row := range n {
		if r.IntN(1000) == 0 {
			sparse.Add(row)
		}
		if r.IntN(10) < 7 {
			dense.Add(row)
		}
		if (row>>16)%2 == 0 && r.IntN(3) == 0 {
			alternate.Add(row)
		}
	}
	boundary := roaring.New()
	for b := uint64(1 << 16); b < uint64(n); b += 1 << 16 {
		boundary.AddRange(b-3, min(b+3, uint64(n)))
	}
	return map[string]*roaring.Bitmap{
		"nil":       nil,
		"empty":     roaring.New(),
		"all":       all,
		"sparse":    sparse,
		"dense":     dense,
		"alternate": alternate,
		"boundary":  boundary,
		"first":     roaring.BitmapOf(0),
		"last":      roaring.BitmapOf(n - 1),
	}
}

func randomFields(r *rand.Rand, s *schema.Schema) []string {
	var names []string
	for _, i := range r.Perm(len(s.Fields)) {
		if r.IntN(3) == 0 {
			continue
		}
		name := s.Fields[i].Name
		if r.IntN(2) == 0 {
			name = strings.ToUpper(name) // resolved case-insensitively
		}
		names = append(names, name)
	}
	return names
}

// checkExport compares Write's output with the oracle's: byte for byte
// for audiences up to sampleAbove profiles, and for larger ones the
// record count plus a random sample of records (the oracle's per-row
// probes would take too long under -race).
func checkExport(t *testing.T, sn *engine.Snapshot, rows *roaring.Bitmap, opts export.Options) {
	t.Helper()
	const sampleAbove = 5000
	var got bytes.Buffer
	n, err := export.Write(context.Background(), &got, sn, rows, opts)
	if err != nil {
		t.Fatalf("%+v: %v", opts, err)
	}
	rows = orEmpty(rows)
	if n != rows.GetCardinality() {
		t.Fatalf("%+v: wrote %d profiles, audience has %d", opts, n, rows.GetCardinality())
	}
	o := newOracle(t, sn, opts, n > sampleAbove)
	if n <= sampleAbove {
		want := o.render(rows)
		if !bytes.Equal(got.Bytes(), want) {
			g, w := strings.SplitAfter(got.String(), "\n"), strings.SplitAfter(string(want), "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("%+v: line %d differs:\n got %q\nwant %q", opts, i+1, g[i], w[i])
				}
			}
			t.Fatalf("%+v: %d lines, want %d", opts, len(g), len(w))
		}
	}
	r := rand.New(rand.NewPCG(n, 1))
	sample := func(each func(i int, row uint32)) {
		for range 2000 {
			i := r.IntN(int(n))
			row, err := rows.Select(uint32(i))
			if err != nil {
				t.Fatal(err)
			}
			each(i, row)
		}
	}
	if opts.Format == export.NDJSON {
		lines := bytes.SplitAfter(got.Bytes(), []byte("\n"))
		lines = lines[:len(lines)-1] // after the last "\n"
		if uint64(len(lines)) != n {
			t.Fatalf("%+v: %d lines, want %d", opts, len(lines), n)
		}
		for _, line := range lines {
			if !json.Valid(line) {
				t.Fatalf("invalid JSON line %q", line)
			}
		}
		if n > sampleAbove {
			sample(func(i int, row uint32) {
				if want := o.jsonLine(row); string(lines[i]) != want {
					t.Fatalf("%+v: line %d (row %d):\n got %q\nwant %q", opts, i+1, row, lines[i], want)
				}
			})
		}
		return
	}
	// The CSV parses back into the header and one record per profile.
	recs, err := csv.NewReader(bytes.NewReader(got.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(recs)) != n+1 || !slices.Equal(recs[0], o.csvHeader()) {
		t.Fatalf("%+v: CSV holds %d records (header %q), want %d", opts, len(recs), recs[0], n+1)
	}
	if n > sampleAbove {
		sample(func(i int, row uint32) {
			// encoding/csv reads "\r\n" inside a quoted cell as "\n".
			want := o.csvRecord(row)
			for j := range want {
				want[j] = strings.ReplaceAll(want[j], "\r\n", "\n")
			}
			if got := recs[i+1]; !slices.Equal(got, want) {
				t.Fatalf("%+v: record %d (row %d):\n got %q\nwant %q", opts, i+1, row, got, want)
			}
		})
	}
}

func orEmpty(b *roaring.Bitmap) *roaring.Bitmap {
	if b == nil {
		return roaring.New()
	}
	return b
}

// TestDifferential compares Write with the per-row renderer over random
// schemas, data and audiences, one case spanning three blocks.
func TestDifferential(t *testing.T) {
	for _, tc := range []struct {
		seed     uint64
		fields   int
		profiles int
	}{{1, 14, 3000}, {2, 10, 12000}, {3, 5, 150_000}, {4, 1, 10}} {
		t.Run(fmt.Sprintf("seed=%d/profiles=%d", tc.seed, tc.profiles), func(t *testing.T) {
			r := rand.New(rand.NewPCG(tc.seed, tc.seed*7919))
			ds := newDataset(t, randomSchema(t, r, tc.fields))
			populate(t, r, ds, tc.profiles)
			sn := ds.Snapshot()
			s := sn.Schema()
			var allFields []string
			for i := range s.Fields {
				allFields = append(allFields, s.Fields[i].Name)
			}
			for name, rows := range audiences(r, sn.Rows()) {
				if tc.profiles > 100_000 && (name == "dense" || name == "first" || name == "nil") {
					continue // covered by the smaller cases; -race is slow
				}
				for k, format := range []export.Format{export.CSV, export.NDJSON} {
					// Under -race the big case is slow: one format
					// per audience there, alternating.
					if tc.profiles > 100_000 && k != len(name)%2 {
						continue
					}
					fields := allFields
					if name != "all" && name != "dense" {
						fields = randomFields(r, s)
					}
					idHeader := []string{"", "external_id", "身份"}[r.IntN(3)]
					t.Run(name+"/"+string(format), func(t *testing.T) {
						checkExport(t, sn, rows, export.Options{Format: format, Fields: fields, IDHeader: idHeader})
					})
				}
			}
			checkExport(t, sn, sn.All(), export.Options{Format: export.CSV}) // id only
		})
	}
}

// TestTestgenData exports data made by testgen's ingest lines (overwrites,
// removals, unsets and expired events included) with the testgen schema.
func TestTestgenData(t *testing.T) {
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	ds := newDataset(t, s)
	r := rand.New(rand.NewPCG(9, 10))
	lines := &testgen.Lines{R: r, Today: func() schema.Day { return schema.DayOf(testNow, s.Location()) }}
	var ups []record.Update
	for range 8000 {
		if u, err := ds.Decode([]byte(lines.Line(2000))); err == nil {
			ups = append(ups, u)
		}
	}
	if res := ds.Apply(ups); len(res.Errors) > 0 {
		t.Fatal(res.Errors[0])
	}
	sn := ds.Snapshot()
	fields := []string{"t", "s", "b", "n", "d", "dt", "e", "e2"}
	for name, rows := range audiences(r, sn.Rows()) {
		for _, format := range []export.Format{export.CSV, export.NDJSON} {
			t.Run(name+"/"+string(format), func(t *testing.T) {
				checkExport(t, sn, rows, export.Options{Format: format, Fields: fields})
			})
		}
	}
}

// TestRoundTrip exports every profile with every non-event field as
// NDJSON, loads the objects as ingest records into a fresh dataset and
// compares every value.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := randomSchema(t, r, 16)
	src := newDataset(t, s)
	populate(t, r, src, 5000)
	sn := src.Snapshot()
	var fields []string
	for i := range s.Fields {
		if s.Fields[i].Type != schema.Event {
			fields = append(fields, s.Fields[i].Name)
		}
	}
	var out bytes.Buffer
	if _, err := export.Write(context.Background(), &out, sn, sn.All(), export.Options{Format: export.NDJSON, Fields: fields}); err != nil {
		t.Fatal(err)
	}
	dst := newDataset(t, s)
	var ups []record.Update
	for line := range bytes.Lines(out.Bytes()) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatal(err)
		}
		id := obj["id"]
		delete(obj, "id")
		rec, err := json.Marshal(map[string]any{"id": id, "set": obj})
		if err != nil {
			t.Fatal(err)
		}
		u, err := dst.Decode(rec)
		if err != nil {
			t.Fatalf("decoding %s: %v", rec, err)
		}
		ups = append(ups, u)
	}
	if res := dst.Apply(ups); len(res.Errors) > 0 {
		t.Fatal(res.Errors[0])
	}
	back := dst.Snapshot()
	if back.Rows() != sn.Rows() {
		t.Fatalf("%d profiles back, want %d", back.Rows(), sn.Rows())
	}
	for row := range sn.Rows() {
		// Rows are numbered in order of first sight and the export is in
		// row order, so profiles keep their rows.
		if a, b := sn.ExternalID(row), back.ExternalID(row); a != b {
			t.Fatalf("row %d: id %q back as %q", row, a, b)
		}
		for _, name := range fields {
			a, _ := sn.Field(name)
			b, _ := back.Field(name)
			var va, vb any
			var oka, okb bool
			switch {
			case a.Values != nil:
				x, y := a.Values.RowValues(nil, row), b.Values.RowValues(nil, row)
				slices.Sort(x)
				slices.Sort(y)
				va, vb, oka, okb = strings.Join(x, "\x00"), strings.Join(y, "\x00"), len(x) > 0, len(y) > 0
			case a.Bool != nil:
				va, oka = a.Bool.Value(row)
				vb, okb = b.Bool.Value(row)
			default:
				va, oka = a.BSI.Value(row)
				vb, okb = b.BSI.Value(row)
			}
			if va != vb || oka != okb {
				t.Fatalf("row %d field %s: %v (%v) back as %v (%v)", row, name, va, oka, vb, okb)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	s, err := schema.Parse([]byte(testgen.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	sn := newDataset(t, s).Snapshot()
	for _, tc := range []struct {
		opts export.Options
		want []string // substrings of the error; nil: no error
	}{
		{export.Options{Format: export.CSV, Fields: []string{"T", "s", "E"}}, nil},
		{export.Options{Format: export.NDJSON}, nil},
		{export.Options{Format: "xml"}, []string{`"xml"`, "csv", "ndjson"}},
		{export.Options{Format: ""}, []string{"format"}},
		{export.Options{Format: export.CSV, Fields: []string{"t", "cty"}}, []string{`"cty"`, "t, s, b, n, d, dt, e, e2"}},
		{export.Options{Format: export.CSV, Fields: []string{"t", "T"}}, []string{`"t"`, "twice"}},
		{export.Options{Format: export.CSV, Fields: []string{"t"}, IDHeader: "T"}, []string{"id column"}},
	} {
		err := export.Check(sn, tc.opts)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%+v: %v", tc.opts, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%+v: no error", tc.opts)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q lacks %q", tc.opts, err, w)
			}
		}
		// Write refuses the same options before writing a byte.
		var out bytes.Buffer
		if _, werr := export.Write(context.Background(), &out, sn, sn.All(), tc.opts); werr == nil || out.Len() > 0 {
			t.Errorf("%+v: Write: %v, %d bytes", tc.opts, werr, out.Len())
		}
	}
	var out bytes.Buffer
	if _, err := export.Write(context.Background(), &out, sn, roaring.BitmapOf(5), export.Options{Format: export.CSV}); err == nil {
		t.Error("audience row beyond the dataset: no error")
	}
}

// cancelWriter cancels a context on its first write.
type cancelWriter struct {
	cancel context.CancelFunc
	writes int
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.writes++
	w.cancel()
	return len(p), nil
}

func TestCancel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ds := newDataset(t, randomSchema(t, r, 1))
	populate(t, r, ds, 2*65536+1)
	sn := ds.Snapshot()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := export.Write(ctx, io.Discard, sn, sn.All(), export.Options{Format: export.CSV})
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Fatalf("cancelled before: n=%d err=%v", n, err)
	}

	// Cancelled while the first block is written (the buffer fills and
	// reaches the writer): the next block is not started.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w := &cancelWriter{cancel: cancel}
	n, err = export.Write(ctx, w, sn, sn.All(), export.Options{Format: export.NDJSON})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled during: err=%v", err)
	}
	if n != 65536 {
		t.Fatalf("cancelled during the first block: %d profiles rendered, want 65536", n)
	}
}

// BenchmarkExport measures exporting everyone with six fields of every
// scalar and list type; the machine may be shared, so the figures are
// indicative only.
func BenchmarkExport(b *testing.B) {
	p := func(v int64) *int64 { return &v }
	s, err := schema.New("UTC", []schema.Field{
		{Name: "city", Type: schema.Tag},
		{Name: "channels", Type: schema.Set},
		{Name: "is_vip", Type: schema.Bool},
		{Name: "age", Type: schema.Int, Min: p(0), Max: p(120)},
		{Name: "ltv", Type: schema.Decimal, Scale: 2},
		{Name: "registered_at", Type: schema.Date},
	})
	if err != nil {
		b.Fatal(err)
	}
	fields := []string{"city", "channels", "is_vip", "age", "ltv", "registered_at"}
	for _, profiles := range []int{100_000, 1_000_000} {
		ds := newDataset(b, s)
		r := rand.New(rand.NewPCG(1, 2))
		cities := make([]string, 300)
		for i := range cities {
			cities[i] = fmt.Sprintf("city%d", i)
		}
		var ups []record.Update
		for i := range profiles {
			ups = append(ups, record.Update{ID: fmt.Sprintf("user-%d", i), Set: []record.Assign{
				{Field: 0, Value: record.Value{Str: cities[r.IntN(len(cities))]}},
				{Field: 1, Value: record.Value{Strs: []string{"app", "web", "wechat", "jd"}[:1+r.IntN(4)]}},
				{Field: 2, Value: record.Value{Bool: r.IntN(5) == 0}},
				{Field: 3, Value: record.Value{Int: int64(r.IntN(100))}},
				{Field: 4, Value: record.Value{Int: r.Int64N(10_000_000)}},
				{Field: 5, Value: record.Value{Int: int64(18000 + r.IntN(2000))}},
			}})
			if len(ups) == 10000 {
				ds.Apply(ups)
				ups = ups[:0]
			}
		}
		ds.Apply(ups)
		sn := ds.Snapshot()
		for _, format := range []export.Format{export.CSV, export.NDJSON} {
			b.Run(fmt.Sprintf("format=%s/profiles=%d", format, profiles), func(b *testing.B) {
				opts := export.Options{Format: format, Fields: fields}
				var cw countWriter
				for b.Loop() {
					if _, err := export.Write(context.Background(), &cw, sn, sn.All(), opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(profiles)*float64(b.N)/b.Elapsed().Seconds(), "profiles/s")
				b.ReportMetric(float64(cw.n)/float64(b.N)/float64(profiles), "bytes/profile")
			})
		}
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
