package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/server"
	"github.com/cohortdb/cohort/storage"
)

// TestAPI runs every route's happy path against one server holding a
// generated dataset, checking answers against the reference model.
func TestAPI(t *testing.T) {
	e := newEnv(t, server.Config{MaxBodyBytes: 64 << 10})
	s := e.loadShop(t, "shop", "", shopProfiles)

	t.Run("console", func(t *testing.T) {
		r := e.send(t, req{method: "GET", path: "/"})
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.Contains(bytes.ToLower(r.body), []byte("<html")) {
			t.Fatalf("console: %d %q", r.status, r.header.Get("Content-Type"))
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
	})

	t.Run("healthz", func(t *testing.T) {
		m := e.call(t, "GET", "/healthz", "", nil).obj(t, 200)
		if m["status"] != "ok" || m["datasets"] != float64(1) {
			t.Fatalf("healthz: %v", m)
		}
		if _, ok := m["took_us"]; !ok {
			t.Fatal("no took_us")
		}
	})

	t.Run("openapi", func(t *testing.T) {
		r := e.send(t, req{method: "GET", path: "/v1/openapi.json"})
		var doc map[string]any
		r.decode(t, 200, &doc)
		if doc["paths"] == nil {
			t.Fatalf("openapi document has no paths")
		}
	})

	t.Run("pprof", func(t *testing.T) {
		for _, p := range []string{"/debug/pprof", "/debug/pprof/goroutine?debug=1"} {
			r := e.send(t, req{method: "GET", path: p})
			if r.status != 200 || !bytes.Contains(r.body, []byte("goroutine")) {
				t.Errorf("GET %s: %d %s", p, r.status, trim(r.body))
			}
		}
		// The index at /debug/pprof/ (fasthttp's pprofhandler alone answers
		// 404 with an empty body for paths ending in /).
		r := e.send(t, req{method: "GET", path: "/debug/pprof/"})
		if r.status != 200 || !bytes.Contains(r.body, []byte("goroutine")) {
			t.Errorf("GET /debug/pprof/ (the pprof index): %d %q", r.status, trim(r.body))
		}
	})

	t.Run("datasets", func(t *testing.T) {
		var list struct {
			Datasets []struct {
				Name     string `json:"name"`
				Profiles int    `json:"profiles"`
				Fields   int    `json:"fields"`
			} `json:"datasets"`
		}
		e.call(t, "GET", "/v1/datasets", "", nil).decode(t, 200, &list)
		if len(list.Datasets) != 1 || list.Datasets[0].Name != "shop" || list.Datasets[0].Profiles != shopProfiles || list.Datasets[0].Fields != len(s.sc.Fields) {
			t.Fatalf("list: %+v", list)
		}
		var d struct {
			Name     string `json:"name"`
			Timezone string `json:"timezone"`
			Profiles int    `json:"profiles"`
			Fields   []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				Profiles int    `json:"profiles"`
				Top      []struct {
					Value string `json:"value"`
					Count int    `json:"count"`
				} `json:"top"`
			} `json:"fields"`
		}
		e.call(t, "GET", ds("shop")+"?top=3", "", nil).decode(t, 200, &d)
		if d.Name != "shop" || d.Timezone != "Asia/Shanghai" || d.Profiles != shopProfiles || len(d.Fields) != len(s.sc.Fields) {
			t.Fatalf("describe: %+v", d)
		}
		city := d.Fields[2]
		if city.Name != "city" || len(city.Top) != 3 {
			t.Fatalf("city: %+v", city)
		}
		for _, v := range city.Top {
			want := len(e.expectIDs(t, s, "city = '"+v.Value+"'", ""))
			if v.Count != want {
				t.Fatalf("top city %s: %d, reference %d", v.Value, v.Count, want)
			}
		}
	})

	t.Run("describe-fields", func(t *testing.T) {
		var d struct {
			Fields []struct {
				Name     string          `json:"name"`
				Profiles int             `json:"profiles"`
				Distinct int             `json:"distinct"`
				Lowest   json.RawMessage `json:"lowest"`
				Highest  json.RawMessage `json:"highest"`
				True     *int            `json:"true"`
			} `json:"fields"`
		}
		e.call(t, "GET", ds("shop")+"?top=0", "", nil).decode(t, 200, &d)
		byName := map[string]int{}
		for i, f := range d.Fields {
			byName[f.Name] = i
			q := f.Name + " IS NOT NULL"
			if s.sc.Fields[i].Type == schema.Event {
				q = f.Name + "()"
			}
			if want := len(e.expectIDs(t, s, q, "")); f.Profiles != want {
				t.Errorf("%s: %d profiles, reference %d", f.Name, f.Profiles, want)
			}
		}
		minMax := func(field string) (lo, hi int64) {
			fi, _ := s.sc.Index(field)
			first := true
			for _, p := range s.model.Profiles {
				if v, ok := p.Nums[fi]; ok {
					if first || v < lo {
						lo = v
					}
					if first || v > hi {
						hi = v
					}
					first = false
				}
			}
			return lo, hi
		}
		lo, hi := minMax("age")
		if f := d.Fields[byName["age"]]; string(f.Lowest) != strconv.FormatInt(lo, 10) || string(f.Highest) != strconv.FormatInt(hi, 10) {
			t.Errorf("age: %s..%s, reference %d..%d", f.Lowest, f.Highest, lo, hi)
		}
		lo, hi = minMax("ltv")
		if f := d.Fields[byName["ltv"]]; string(f.Lowest) != record.FormatDecimal(lo, 2) || string(f.Highest) != record.FormatDecimal(hi, 2) {
			t.Errorf("ltv: %s..%s, reference %d..%d", f.Lowest, f.Highest, lo, hi)
		}
		lo, hi = minMax("registered_at")
		if f := d.Fields[byName["registered_at"]]; string(f.Lowest) != strconv.Quote(schema.FormatDay(schema.Day(lo))) || string(f.Highest) != strconv.Quote(schema.FormatDay(schema.Day(hi))) {
			t.Errorf("registered_at: %s..%s", f.Lowest, f.Highest)
		}
		if f := d.Fields[byName["is_vip"]]; f.True == nil || *f.True != len(e.expectIDs(t, s, "is_vip", "")) {
			t.Errorf("is_vip true: %v", f.True)
		}
		if f := d.Fields[byName["city"]]; f.Distinct != len(gen.Values("city")) && f.Distinct == 0 {
			t.Errorf("city distinct %d", f.Distinct)
		}
		wantError(t, e.call(t, "GET", ds("shop")+"?top=1001", "", nil), 400, "bad_request")
	})

	t.Run("create-describe-drop", func(t *testing.T) {
		r := e.call(t, "PUT", ds("tmp"), "", `{"fields":[{"name":"color","type":"tag"}]}`)
		m := r.obj(t, 201)
		if m["name"] != "tmp" || m["profiles"] != float64(0) {
			t.Fatalf("create: %v", m)
		}
		var fd struct {
			Fields []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"fields"`
		}
		e.call(t, "POST", ds("tmp")+"/fields", "", `{"name":"size","type":"int","min":0,"max":10}`).decode(t, 200, &fd)
		if len(fd.Fields) != 2 || fd.Fields[1].Name != "size" || fd.Fields[1].Type != "int" {
			t.Fatalf("add field: %+v", fd)
		}
		rep := e.ingest(t, "tmp", "", []byte(`{"id":"a","set":{"color":"red","size":3}}`+"\n"))
		if rep.Applied != 1 {
			t.Fatalf("%+v", rep)
		}
		if n := e.count(t, "tmp", "", "size = 3 AND color = 'red'"); n != 1 {
			t.Fatalf("count on new field: %d", n)
		}
		e.call(t, "PUT", ds("tmp")+"/segments/red", "", `{"q":"color = 'red'"}`).obj(t, 201)
		m = e.call(t, "DELETE", ds("tmp"), "", nil).obj(t, 200)
		if m["dropped"] != "tmp" {
			t.Fatalf("drop: %v", m)
		}
		wantError(t, e.call(t, "GET", ds("tmp"), "", nil), 404, "dataset_not_found")
		wantError(t, e.call(t, "DELETE", ds("tmp"), "", nil), 404, "dataset_not_found")
		// a new dataset of the same name starts empty, without the old segments
		e.call(t, "PUT", ds("tmp"), "", `{"fields":[{"name":"color","type":"tag"}]}`).obj(t, 201)
		var list struct{ Segments []any }
		e.call(t, "GET", ds("tmp")+"/segments", "", nil).decode(t, 200, &list)
		if len(list.Segments) != 0 || e.count(t, "tmp", "", "ALL") != 0 {
			t.Fatalf("recreated dataset holds old data: %+v", list)
		}
		// Compiled queries are cached: a new schema under the same name
		// must not reuse the old dataset's compiled query.
		e.ingest(t, "tmp", "", []byte(`{"id":"b","set":{"color":"red"}}`+"\n"))
		if n := e.count(t, "tmp", "", "color = 'red'"); n != 1 {
			t.Fatalf("count %d", n)
		}
		e.call(t, "DELETE", ds("tmp"), "", nil).obj(t, 200)
		e.call(t, "PUT", ds("tmp"), "", `{"fields":[{"name":"color","type":"set"}]}`).obj(t, 201)
		wantError(t, e.call(t, "POST", ds("tmp")+"/count", "", `{"q":"color = 'red'"}`), 400, "invalid_query")
		e.ingest(t, "tmp", "", []byte(`{"id":"c","add":{"color":["red"]}}`+"\n"+`{"id":"d","add":{"color":["blue"]}}`+"\n"))
		if n := e.count(t, "tmp", "", "color HAS 'red' OR color HAS 'blue'"); n != 2 {
			t.Fatalf("count %d", n)
		}
		e.call(t, "DELETE", ds("tmp"), "", nil).obj(t, 200)
	})

	t.Run("count", func(t *testing.T) {
		for _, q := range []string{
			"ALL",
			"city = '上海'",
			"gender = 'female' AND age BETWEEN 25 AND 35",
			"member_level IN ('L3', 'L4') AND NOT channels HAS 'wechat'",
			"purchase() AT LEAST 2 TIMES IN LAST 90 DAYS",
			"is_vip OR ltv > 1000.50",
			"registered_at IN LAST 365 DAYS AND lifecycle != 'churned'",
		} {
			want := len(e.expectIDs(t, s, q, ""))
			if got := e.count(t, "shop", "", q); got != uint64(want) {
				t.Errorf("%s: count %d, reference %d", q, got, want)
			}
		}
		if n := e.count(t, "shop", "", "ALL"); n != shopProfiles {
			t.Fatalf("ALL = %d", n)
		}
	})

	t.Run("count-now", func(t *testing.T) {
		q := "view() IN LAST 30 DAYS"
		got := map[string]uint64{}
		for _, now := range []string{"2026-11-22", "2026-06-01", "2026-08-15T10:00:00+08:00"} {
			got[now] = e.countBody(t, "shop", "", map[string]any{"q": q, "now": now})
			if want := len(e.expectIDs(t, s, q, now)); got[now] != uint64(want) {
				t.Errorf("now %s: %d, reference %d", now, got[now], want)
			}
		}
		if got["2026-11-22"] == got["2026-06-01"] {
			t.Fatalf("now does not change a relative window: %v", got)
		}
		if def := e.count(t, "shop", "", q); def != got["2026-11-22"] {
			t.Fatalf("default now is not today (2026-11-22): %d vs %d", def, got["2026-11-22"])
		}
	})

	t.Run("query-pages", func(t *testing.T) {
		for _, c := range []struct {
			q     string
			limit int
		}{
			{"city IN ('上海', '北京') OR age < 25", 37},
			{"ALL", 500},
			{"ALL", 10000},
			{"gender = 'male' AND purchase() IN LAST 60 DAYS", 1},
			{"age > 200", 10},
		} {
			want := e.expectIDs(t, s, c.q, "")
			got, pages := e.queryAll(t, "shop", "", map[string]any{"q": c.q}, c.limit)
			if !slices.Equal(got, want) {
				t.Fatalf("%s limit %d: %d ids over %d pages, reference %d (first %v vs %v)", c.q, c.limit, len(got), pages, len(want), head(got), head(want))
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s: id %s twice", c.q, id)
				}
				seen[id] = true
			}
			if c.limit == 1 && len(want) > 1 && pages != len(want) {
				t.Fatalf("limit 1: %d pages for %d ids", pages, len(want))
			}
		}
		// limit 0 answers the count only; the default page is 100.
		var p struct {
			Count  int      `json:"count"`
			IDs    []string `json:"ids"`
			Cursor string   `json:"cursor"`
		}
		e.call(t, "POST", ds("shop")+"/query", "", `{"q":"ALL","limit":0}`).decode(t, 200, &p)
		if p.Count != shopProfiles || len(p.IDs) != 0 {
			t.Fatalf("limit 0: %+v", p)
		}
		e.call(t, "POST", ds("shop")+"/query", "", `{"q":"ALL"}`).decode(t, 200, &p)
		if len(p.IDs) != 100 || p.Cursor == "" {
			t.Fatalf("default page: %d ids, cursor %q", len(p.IDs), p.Cursor)
		}
	})

	t.Run("explain", func(t *testing.T) {
		q := "gender = 'female' AND age BETWEEN 25 AND 35 AND NOT channels HAS 'wechat'"
		var ex struct {
			Query string `json:"query"`
			Now   string `json:"now"`
			Count int    `json:"count"`
			Text  string `json:"text"`
			Plan  *struct {
				Op        string            `json:"op"`
				Estimated *uint64           `json:"estimated"`
				Actual    *uint64           `json:"actual"`
				Children  []json.RawMessage `json:"children"`
			} `json:"plan"`
		}
		e.call(t, "POST", ds("shop")+"/explain", "", map[string]any{"q": q, "now": "2026-11-20"}).decode(t, 200, &ex)
		want := len(e.expectIDs(t, s, q, ""))
		if ex.Query != q || ex.Now != "2026-11-20" || ex.Count != want || ex.Text == "" || ex.Plan == nil {
			t.Fatalf("explain: %+v", ex)
		}
		if ex.Plan.Estimated == nil || ex.Plan.Actual == nil || *ex.Plan.Actual != uint64(want) || len(ex.Plan.Children) == 0 {
			t.Fatalf("plan: %+v", *ex.Plan)
		}
	})

	t.Run("export", func(t *testing.T) {
		q := "city = '上海' AND age >= 30"
		want := e.expectIDs(t, s, q, "")
		if len(want) == 0 {
			t.Fatal("empty audience")
		}
		qids, _ := e.queryAll(t, "shop", "", map[string]any{"q": q}, 1000)
		if !slices.Equal(qids, want) {
			t.Fatal("query and reference disagree")
		}
		for _, format := range []string{"csv", "ndjson", ""} {
			for _, comp := range []string{"none", "gzip", "zstd", ""} {
				before := len(e.logs.records(t, "export audit"))
				body := map[string]any{"q": q, "fields": []string{"city", "age"}, "format": format, "compression": comp}
				r := e.call(t, "POST", ds("shop")+"/export", "", body)
				if r.status != 200 {
					t.Fatalf("export %s/%s: %d %s", format, comp, r.status, trim(r.body))
				}
				f := format
				if f == "" {
					f = "csv"
				}
				wantCT := map[string]string{"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}[f]
				if ct := r.header.Get("Content-Type"); ct != wantCT {
					t.Fatalf("%s/%s: Content-Type %q", format, comp, ct)
				}
				enc := r.header.Get("Content-Encoding")
				raw := r.body
				switch comp {
				case "gzip":
					if enc != "gzip" {
						t.Fatalf("Content-Encoding %q", enc)
					}
					zr, err := gzip.NewReader(bytes.NewReader(raw))
					if err != nil {
						t.Fatal(err)
					}
					if raw, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				case "zstd":
					if enc != "zstd" {
						t.Fatalf("Content-Encoding %q", enc)
					}
					zr, err := zstd.NewReader(bytes.NewReader(raw))
					if err != nil {
						t.Fatal(err)
					}
					raw, err = io.ReadAll(zr)
					zr.Close()
					if err != nil {
						t.Fatal(err)
					}
				default:
					if enc != "" {
						t.Fatalf("Content-Encoding %q without compression", enc)
					}
				}
				if c := r.header.Get("X-Cohort-Count"); c != strconv.Itoa(len(want)) {
					t.Fatalf("X-Cohort-Count %q, want %d", c, len(want))
				}
				if !strings.Contains(r.header.Get("Content-Disposition"), "shop-export."+f) {
					t.Fatalf("Content-Disposition %q", r.header.Get("Content-Disposition"))
				}
				var ids []string
				if f == "csv" {
					recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					if len(recs) == 0 || !slices.Equal(recs[0], []string{"id", "city", "age"}) {
						t.Fatalf("csv header %v", recs[:min(1, len(recs))])
					}
					for _, rec := range recs[1:] {
						if rec[1] != "上海" {
							t.Fatalf("row %v", rec)
						}
						if a, err := strconv.Atoi(rec[2]); err != nil || a < 30 {
							t.Fatalf("row %v", rec)
						}
						ids = append(ids, rec[0])
					}
				} else {
					sc := bufio.NewScanner(bytes.NewReader(raw))
					for sc.Scan() {
						var row struct {
							ID   string `json:"id"`
							City string `json:"city"`
							Age  int    `json:"age"`
						}
						if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.City != "上海" || row.Age < 30 {
							t.Fatalf("ndjson row %q: %v", sc.Text(), err)
						}
						ids = append(ids, row.ID)
					}
				}
				if !slices.Equal(ids, want) {
					t.Fatalf("%s/%s: exported %d ids, query has %d", format, comp, len(ids), len(want))
				}
				audits := e.logs.records(t, "export audit")
				if len(audits) != before+1 {
					t.Fatalf("%d audit lines after one export, had %d", len(audits), before)
				}
				a := audits[len(audits)-1]
				if a["key"] != "anonymous" || a["dataset"] != "shop" || a["query"] != q || a["profiles"] != float64(len(want)) || a["format"] != f {
					t.Fatalf("audit line %v", a)
				}
			}
		}
		// header row exactly as DESIGN shows it
		r := e.call(t, "POST", ds("shop")+"/export", "", map[string]any{"q": q, "fields": []string{"city"}})
		if r.status != 200 || !bytes.HasPrefix(r.body, []byte("id,city\n")) {
			t.Fatalf("csv: %d %q", r.status, trim(r.body))
		}
		// An empty audience: a header only.
		r = e.call(t, "POST", ds("shop")+"/export", "", map[string]any{"q": "age > 200", "fields": []string{"city"}, "id": "external"})
		if r.status != 200 || string(r.body) != "id,city\n" {
			t.Fatalf("empty export: %d %q", r.status, r.body)
		}
	})

	t.Run("segments", func(t *testing.T) {
		path := ds("shop") + "/segments/"
		dq := "member_level IN ('L3', 'L4')"
		r := e.call(t, "PUT", path+"vip", "", map[string]any{"q": dq, "description": "top tiers"})
		m := r.obj(t, 201)
		want := len(e.expectIDs(t, s, dq, ""))
		if m["kind"] != "dynamic" || m["q"] != dq || m["count"] != float64(want) || m["description"] != "top tiers" || m["name"] != "vip" {
			t.Fatalf("put dynamic: %v", m)
		}
		if n := e.count(t, "shop", "", "SEGMENT('vip')"); n != uint64(want) {
			t.Fatalf("SEGMENT('vip') = %d, want %d", n, want)
		}
		dq = "member_level = 'L4'"
		m = e.call(t, "PUT", path+"vip", "", map[string]any{"q": dq}).obj(t, 200)
		want = len(e.expectIDs(t, s, dq, ""))
		if m["count"] != float64(want) {
			t.Fatalf("replace: %v", m)
		}
		if n := e.count(t, "shop", "", "SEGMENT('vip')"); n != uint64(want) {
			t.Fatalf("SEGMENT('vip') after replacing it = %d, want %d", n, want)
		}
		m = e.call(t, "GET", path+"vip", "", nil).obj(t, 200)
		if m["q"] != dq || m["count"] != float64(want) || m["kind"] != "dynamic" {
			t.Fatalf("get: %v", m)
		}
		if n := e.count(t, "shop", "", "SEGMENT('vip') AND gender = 'female'"); n != uint64(len(e.expectIDs(t, s, dq+" AND gender = 'female'", ""))) {
			t.Fatalf("SEGMENT('vip') count %d", n)
		}

		members := []string{"u000000000", "u000000005", "u000000005", "nobody-1", "u000000009"}
		m = e.call(t, "PUT", path+"picked", "", map[string]any{"members": members}).obj(t, 201)
		if m["kind"] != "materialised" || m["members"] != float64(5) || m["missing"] != float64(1) || m["count"] != float64(3) {
			t.Fatalf("put materialised: %v", m)
		}
		if n := e.count(t, "shop", "", "SEGMENT('picked')"); n != 3 {
			t.Fatalf("SEGMENT('picked') = %d", n)
		}
		ids, _ := e.queryAll(t, "shop", "", map[string]any{"q": "SEGMENT('picked') OR SEGMENT('vip') AND age < 0"}, 10)
		if !slices.Equal(ids, []string{"u000000000", "u000000005", "u000000009"}) {
			t.Fatalf("members: %v", ids)
		}
		// the missing id arrives: the segment now counts it
		e.ingest(t, "shop", "", []byte(`{"id":"nobody-1","set":{"city":"上海"}}`+"\n"))
		defer e.ingest(t, "shop", "", []byte(`{"id":"nobody-1","unset":["city"]}`+"\n"))
		if n := e.count(t, "shop", "", "SEGMENT('picked')"); n != 4 {
			t.Fatalf("SEGMENT('picked') after the missing id arrived = %d", n)
		}
		s.apply(t, `{"id":"nobody-1","set":{"city":"上海"}}`)
		defer s.apply(t, `{"id":"nobody-1","unset":["city"]}`)

		var list struct {
			Segments []struct {
				Name  string `json:"name"`
				Kind  string `json:"kind"`
				Count int    `json:"count"`
			} `json:"segments"`
		}
		e.call(t, "GET", ds("shop")+"/segments", "", nil).decode(t, 200, &list)
		if len(list.Segments) != 2 || list.Segments[0].Name != "picked" || list.Segments[0].Count != 4 || list.Segments[1].Name != "vip" {
			t.Fatalf("list: %+v", list)
		}

		// a cycle between two segments is refused and nothing is stored
		e.call(t, "PUT", path+"a", "", map[string]any{"q": "age > 30"}).obj(t, 201)
		e.call(t, "PUT", path+"b", "", map[string]any{"q": "SEGMENT('a') AND gender = 'male'"}).obj(t, 201)
		ae := wantError(t, e.call(t, "PUT", path+"a", "", map[string]any{"q": "SEGMENT('b') OR age < 20"}), 400, "invalid_query")
		if !strings.Contains(strings.ToLower(ae.Message), "cycle") && !strings.Contains(strings.ToLower(ae.Message), "itself") {
			t.Errorf("cycle message: %q", ae.Message)
		}
		if m := e.call(t, "GET", path+"a", "", nil).obj(t, 200); m["q"] != "age > 30" {
			t.Fatalf("refused segment was stored: %v", m)
		}
		wantError(t, e.call(t, "PUT", path+"self", "", map[string]any{"q": "SEGMENT('self')"}), 400, "invalid_query")

		for _, name := range []string{"a", "b", "picked", "vip"} {
			m := e.call(t, "DELETE", path+name, "", nil).obj(t, 200)
			if m["deleted"] != name {
				t.Fatalf("delete: %v", m)
			}
		}
		wantError(t, e.call(t, "GET", path+"vip", "", nil), 404, "segment_not_found")
		wantError(t, e.call(t, "POST", ds("shop")+"/count", "", map[string]any{"q": "SEGMENT('vip')"}), 400, "invalid_query")
		e.call(t, "GET", ds("shop")+"/segments", "", nil).decode(t, 200, &list)
		if len(list.Segments) != 0 {
			t.Fatalf("segments left: %+v", list)
		}
	})

	// last: it reads the counters the subtests above moved
	t.Run("metrics", func(t *testing.T) {
		r := e.send(t, req{method: "GET", path: "/metrics"})
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: %d %q", r.status, r.header.Get("Content-Type"))
		}
		text := string(r.body)
		for _, want := range []string{
			`cohort_http_requests_total{code="200",method="POST",route="/v1/datasets/{ds}/count"}`,
			`cohort_dataset_profiles{dataset="shop"} ` + strconv.Itoa(shopProfiles+1),
			`cohort_ingest_records_total{dataset="shop",outcome="applied"}`,
			"cohort_export_profiles_total",
			"cohort_query_duration_seconds",
			"go_memstats_alloc_bytes",
			"go_goroutines",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

func head(ids []string) []string { return ids[:min(5, len(ids))] }

// TestReadYourWrites: every line an ingest reply counts as applied is
// seen by the next count, batch after batch, including across a batch
// size smaller than the body.
func TestReadYourWrites(t *testing.T) {
	e := newEnv(t, server.Config{IngestBatch: 7})
	e.createDataset(t, "shop", "", gen.SchemaJSON())
	total := 0
	for i := range 6 {
		lines := genLines(20+i*11, int64(i), sprintf("r%d-", i))
		rep := e.ingest(t, "shop", "", joinLines(lines))
		if rep.Applied != len(lines) || rep.Rejected != 0 {
			t.Fatalf("%+v", rep)
		}
		total += rep.Applied
		if n := e.count(t, "shop", "", "ALL"); n != uint64(total) {
			t.Fatalf("after ingest %d: count %d, applied so far %d", i, n, total)
		}
		// updates to existing profiles do not add any
		rep = e.ingest(t, "shop", "", []byte(sprintf(`{"id":"r%d-000000000","set":{"city":"拉萨"}}`+"\n", i)))
		if rep.Applied != 1 {
			t.Fatalf("%+v", rep)
		}
		if n := e.count(t, "shop", "", "city = '拉萨'"); n != uint64(i+1) {
			t.Fatalf("update not visible: %d", n)
		}
	}
}

// TestDurability: what an ingest acknowledged survives a shutdown and a
// recovery into a new engine, segments included.
func TestDurability(t *testing.T) {
	e := newEnv(t, server.Config{IngestBatch: 100})
	s := e.loadShop(t, "shop", "", 700)
	e.ingest(t, "shop", "", []byte(`{"id":"late","set":{"city":"上海","age":33}}`+"\n"))
	e.call(t, "PUT", ds("shop")+"/segments/vip", "", map[string]any{"q": "member_level = 'L4'"}).obj(t, 201)
	e.call(t, "PUT", ds("shop")+"/segments/picked", "", map[string]any{"members": []string{"late", "u000000001"}}).obj(t, 201)
	e.call(t, "POST", ds("shop")+"/fields", "", `{"name":"score","type":"int","min":0,"max":10}`).obj(t, 200)
	e.ingest(t, "shop", "", []byte(`{"id":"late","set":{"score":5}}`+"\n"))
	queries := []string{"ALL", "city = '上海' AND age BETWEEN 30 AND 40", "purchase() IN LAST 30 DAYS", "SEGMENT('vip')", "SEGMENT('picked')", "score = 5"}
	before := map[string]uint64{}
	for _, q := range queries {
		before[q] = e.count(t, "shop", "", q)
	}
	if before["ALL"] != 701 || before["SEGMENT('picked')"] != 2 || before["score = 5"] != 1 {
		t.Fatalf("before: %v", before)
	}
	if want := len(e.expectIDs(t, s, "member_level = 'L4'", "")); before["SEGMENT('vip')"] != uint64(want) {
		t.Fatalf("vip %d, reference %d", before["SEGMENT('vip')"], want)
	}
	e2 := e.restart()
	for _, q := range queries {
		if n := e2.count(t, "shop", "", q); n != before[q] {
			t.Errorf("%s: %d after restart, %d before", q, n, before[q])
		}
	}
	var list struct {
		Segments []struct{ Name string } `json:"segments"`
	}
	e2.call(t, "GET", ds("shop")+"/segments", "", nil).decode(t, 200, &list)
	if len(list.Segments) != 2 {
		t.Fatalf("segments after restart: %+v", list)
	}
}

// TestBackup: GET /v1/backup streams a backup that restores into a store
// holding the same data.
func TestBackup(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.loadShop(t, "shop", "", 300)
	e.call(t, "PUT", ds("shop")+"/segments/vip", "", `{"q":"member_level = 'L4'"}`).obj(t, 201)
	want := e.count(t, "shop", "", "SEGMENT('vip') OR city = '上海'")
	r := e.send(t, req{method: "GET", path: "/v1/backup"})
	if r.status != 200 || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("backup: %d %q %s", r.status, r.header.Get("Content-Type"), trim(r.body))
	}
	if len(e.logs.records(t, "backup")) != 1 {
		t.Fatal("no backup log line")
	}
	dir := t.TempDir() + "/restored"
	if err := storage.Restore(context.Background(), dir, bytes.NewReader(r.body), storage.Options{}); err != nil {
		t.Fatal(err)
	}
	// a backup cut short does not restore
	if err := storage.Restore(context.Background(), t.TempDir()+"/cut", bytes.NewReader(r.body[:len(r.body)-10]), storage.Options{}); err == nil {
		t.Fatal("a truncated backup restored")
	}
	e2 := startEnv(t, dir, server.Config{})
	if n := e2.count(t, "shop", "", "SEGMENT('vip') OR city = '上海'"); n != want {
		t.Fatalf("restored count %d, want %d", n, want)
	}
	if n := e2.count(t, "shop", "", "ALL"); n != 300 {
		t.Fatalf("restored ALL %d", n)
	}
}

// TestQueryCacheSeesNewValues: a query compiled (and cached) while a
// value was unknown must count profiles that gain the value later.
func TestQueryCacheSeesNewValues(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(`{"fields":[{"name":"city","type":"tag"},{"name":"tags","type":"set"},{"name":"buy","type":"event","retention_days":30}]}`))
	e.ingest(t, "shop", "", []byte(`{"id":"a","set":{"city":"上海"},"add":{"tags":["x"]}}`+"\n"))
	queries := []string{
		"city = 'Nowhere'",
		"city IN ('Nowhere', 'Elsewhere')",
		"tags HAS 'new'",
		"tags HAS ANY ('new', 'x')",
		"buy('milk')",
		"NOT city = 'Nowhere'",
		"city != 'Nowhere'",
	}
	before := map[string]uint64{}
	for _, q := range queries {
		before[q] = e.countBody(t, "shop", "", map[string]any{"q": q, "any_value": true})
		e.countBody(t, "shop", "", map[string]any{"q": q, "any_value": true}) // served from the cache
	}
	e.ingest(t, "shop", "", []byte(`{"id":"b","set":{"city":"Nowhere"},"add":{"tags":["new"]},"events":[{"field":"buy","value":"milk","time":"2026-11-20"}]}`+"\n"))
	want := map[string]uint64{
		"city = 'Nowhere'":                 1,
		"city IN ('Nowhere', 'Elsewhere')": 1,
		"tags HAS 'new'":                   1,
		"tags HAS ANY ('new', 'x')":        2,
		"buy('milk')":                      1,
		"NOT city = 'Nowhere'":             1,
		"city != 'Nowhere'":                1,
	}
	for _, q := range queries {
		got := e.countBody(t, "shop", "", map[string]any{"q": q, "any_value": true})
		if got != want[q] {
			t.Errorf("%s (any_value): %d after the value arrived (was %d), want %d", q, got, before[q], want[q])
		}
		if strings.Contains(q, "Elsewhere") {
			continue // still unknown: refused without any_value
		}
		if got2 := e.count(t, "shop", "", q); got2 != want[q] {
			t.Errorf("%s: %d, want %d", q, got2, want[q])
		}
	}
}

// TestCursorAcrossIngest: a cursor stays valid while ingest goes on; the
// walk sees every profile that was there at the start exactly once, and
// the ones added behind the cursor too.
func TestCursorAcrossIngest(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(`{"fields":[{"name":"n","type":"int","min":0,"max":1000}]}`))
	var body strings.Builder
	for i := range 50 {
		body.WriteString(`{"id":"p` + strconv.Itoa(i) + `","set":{"n":` + strconv.Itoa(i) + `}}` + "\n")
	}
	e.ingest(t, "shop", "", []byte(body.String()))
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		var p struct {
			IDs    []string `json:"ids"`
			Cursor string   `json:"cursor"`
		}
		e.call(t, "POST", ds("shop")+"/query", "", map[string]any{"q": "n >= 10", "limit": 7, "cursor": cursor}).decode(t, 200, &p)
		seen = append(seen, p.IDs...)
		if page == 1 {
			// new matching profiles, and old ones that stop matching
			e.ingest(t, "shop", "", []byte(`{"id":"q1","set":{"n":500}}`+"\n"+`{"id":"p49","set":{"n":1}}`+"\n"+`{"id":"p12","set":{"n":2}}`+"\n"))
		}
		if p.Cursor == "" {
			break
		}
		cursor = p.Cursor
	}
	var want []string
	for i := 10; i < 49; i++ {
		want = append(want, "p"+strconv.Itoa(i))
	}
	want = append(want, "q1")
	// p12 was on page 0 (before it changed); p49 had not been reached.
	if !slices.Equal(seen, want) {
		t.Fatalf("walk: %v\nwant %v", seen, want)
	}
}

// TestHead: HEAD is answered on GET routes, without a body.
func TestHead(t *testing.T) {
	e := newEnv(t, server.Config{})
	r := e.send(t, req{method: "HEAD", path: "/healthz"})
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("HEAD /healthz: %d %q", r.status, r.body)
	}
	r = e.send(t, req{method: "HEAD", path: "/v1/datasets/nope/count"})
	if r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Fatalf("HEAD on a POST route: %d %q", r.status, r.header.Get("Allow"))
	}
}

// TestAddFieldRace: requests adding the same field at once get one 200
// and 400s (invalid_schema), never a 500, whichever loses the race
// between the server's check and the storage's.
func TestAddFieldRace(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(oneIDSchema))
	const n = 8
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := e.trySend(req{method: "POST", path: ds("shop") + "/fields", ctype: "application/json",
				body: strings.NewReader(`{"name":"score","type":"int","min":0,"max":10}`)})
			statuses[i], errs[i] = rep.status, err
		}()
	}
	wg.Wait()
	ok := 0
	for i, st := range statuses {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch st {
		case 200:
			ok++
		case 400:
		default:
			t.Fatalf("request %d: status %d", i, st)
		}
	}
	if ok != 1 {
		t.Fatalf("%d requests added the field", ok)
	}
}
