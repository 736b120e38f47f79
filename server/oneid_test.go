package server_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/server"
)

// OneID over HTTP: ingest records carrying "ids", merges of the profiles
// they join, the 360° view by any identifier, export by identifier type,
// the merge log, its scope, and all of it across a restart.

const oneIDSchema = `{"fields":[
  {"name":"level","type":"tag"},
  {"name":"vip","type":"bool"},
  {"name":"n","type":"int","min":0,"max":1000},
  {"name":"tags","type":"set"},
  {"name":"buy","type":"event","retention_days":365}
]}`

// oneIDBatch1 creates eight profiles, none joined yet. E is written twice,
// so it is written after F; I after H.
var oneIDBatch1 = []string{
	`{"id":"A","ids":{"phone":"p1"},"set":{"level":"gold","n":1,"vip":true},"add":{"tags":["x"]}}`,
	`{"id":"B","ids":{"email":"e1"},"set":{"level":"silver"},"add":{"tags":["y"]},"events":[{"field":"buy","value":"milk","time":"2026-11-20"}]}`,
	`{"id":"C","ids":{"openid":"o1"},"set":{"n":3},"events":[{"field":"buy","value":"tea","time":"2026-11-21"}]}`,
	`{"id":"D","set":{"level":"bronze"}}`,
	`{"id":"E","ids":{"phone":"p5"},"set":{"level":"gold"}}`,
	`{"id":"F","ids":{"email":"e5"},"set":{"level":"silver"}}`,
	`{"id":"H","ids":{"phone":"ph"},"set":{"level":"gold"}}`,
	`{"id":"I","ids":{"phone":"pi","email":"ei"},"set":{"level":"silver"}}`,
	`{"id":"E","set":{"level":"diamond"}}`,
}

// oneIDBatch4 joins E and F (E written last: its level stays), gives A a
// new id G and a second phone, creates a profile from identifiers alone
// and joins H and I (I written last: its level and phone win).
var oneIDBatch4 = []string{
	`{"ids":{"phone":"p5","email":"e5"}}`,
	`{"id":"G","ids":{"phone":"p1"}}`,
	`{"ids":{"phone":"p9","email":"e9"},"set":{"level":"new"}}`,
	`{"id":"A","ids":{"phone":"p2"}}`,
	`{"id":"H","ids":{"email":"ei"}}`,
}

type mergeRec struct {
	Seq      int       `json:"seq"`
	At       time.Time `json:"at"`
	Survivor string    `json:"survivor"`
	Absorbed string    `json:"absorbed"`
	Via      string    `json:"via"`
}

type oneIDView struct {
	Identifiers map[string][]string            `json:"identifiers"`
	Fields      map[string]json.RawMessage     `json:"fields"`
	Events      map[string]map[string][]string `json:"events"`
	Segments    []string                       `json:"segments"`
	Merges      []mergeRec                     `json:"merges"`
}

type mergesPage struct {
	Total  int        `json:"total"`
	Merges []mergeRec `json:"merges"`
	Next   *int       `json:"next"`
}

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// ingestOneID ingests ls and checks the reply's counts, "created" and
// "merged" included (present even when 0).
func (e *env) ingestOneID(t *testing.T, key string, applied, created, merged int, ls ...string) {
	t.Helper()
	r := e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(lines(ls...)), key: key})
	raw := r.obj(t, http.StatusOK)
	for _, k := range []string{"applied", "rejected", "created", "merged", "errors"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("ingest reply lacks %q: %s", k, r.body)
		}
	}
	var rep ingestReply
	r.decode(t, http.StatusOK, &rep)
	if rep.Applied != applied || rep.Rejected != 0 || rep.Created != created || rep.Merged != merged {
		t.Fatalf("ingest: applied %d rejected %d created %d merged %d, want %d/0/%d/%d: %s",
			rep.Applied, rep.Rejected, rep.Created, rep.Merged, applied, created, merged, r.body)
	}
}

func (e *env) view(t *testing.T, key, idType, value string) oneIDView {
	t.Helper()
	var v oneIDView
	e.call(t, "GET", ds("shop")+"/profiles/"+idType+"/"+url.PathEscape(value), key, nil).decode(t, http.StatusOK, &v)
	if v.Identifiers == nil || v.Fields == nil || v.Events == nil || v.Segments == nil || v.Merges == nil {
		t.Fatalf("view of %s %s lacks a member: %+v", idType, value, v)
	}
	return v
}

func (e *env) mergesPage(t *testing.T, key, query string) mergesPage {
	t.Helper()
	var p mergesPage
	e.call(t, "GET", ds("shop")+"/merges"+query, key, nil).decode(t, http.StatusOK, &p)
	if p.Merges == nil {
		t.Fatalf("merges%s: no merges list", query)
	}
	return p
}

// exported runs an export and returns its header and its rows (CSV: the
// header row first; NDJSON: one map per line).
func (e *env) exportCSV(t *testing.T, key string, body map[string]any) (http.Header, [][]string) {
	t.Helper()
	r := e.call(t, "POST", ds("shop")+"/export", key, body)
	if r.status != 200 {
		t.Fatalf("export %v: %d %s", body, r.status, trim(r.body))
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("export %v: bad CSV: %v: %s", body, err, trim(r.body))
	}
	return r.header, rows
}

func (e *env) exportNDJSON(t *testing.T, key string, body map[string]any) (http.Header, []map[string]any) {
	t.Helper()
	b := map[string]any{"format": "ndjson"}
	for k, v := range body {
		b[k] = v
	}
	r := e.call(t, "POST", ds("shop")+"/export", key, b)
	if r.status != 200 {
		t.Fatalf("export %v: %d %s", b, r.status, trim(r.body))
	}
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("export %v: bad NDJSON line %q: %v", b, l, err)
		}
		out = append(out, m)
	}
	return r.header, out
}

func wantSummary(t *testing.T, h http.Header, count, exported, skipped int) {
	t.Helper()
	got := []string{h.Get("X-Cohort-Count"), h.Get("X-Cohort-Exported"), h.Get("X-Cohort-Skipped")}
	want := []string{strconv.Itoa(count), strconv.Itoa(exported), strconv.Itoa(skipped)}
	if !slices.Equal(got, want) {
		t.Fatalf("X-Cohort-Count/Exported/Skipped %v, want %v", got, want)
	}
}

func TestOneID(t *testing.T) {
	e := newEnv(t, server.Config{Keys: parseKeys(t)})
	e.createDataset(t, "shop", rootKey, []byte(oneIDSchema))

	// Rows: A0 B1 C2 D3 E4 F5 H6 I7, then G8 (absorbed at once) and
	// "email:e9" 9.
	e.ingestOneID(t, shopOnlyKey, 9, 8, 0, oneIDBatch1...)
	if n := e.count(t, "shop", rootKey, "ALL"); n != 8 {
		t.Fatalf("ALL %d before any merge, want 8", n)
	}
	// The chain: A{phone p1} + B{email e1}, then that + C.
	e.ingestOneID(t, shopOnlyKey, 1, 0, 1, `{"ids":{"phone":"p1","email":"e1"}}`)
	if n := e.count(t, "shop", rootKey, "ALL"); n != 7 {
		t.Fatalf("ALL %d after one merge, want 7", n)
	}
	e.ingestOneID(t, shopOnlyKey, 1, 0, 1, `{"id":"C","ids":{"email":"e1"}}`)
	e.ingestOneID(t, shopOnlyKey, 5, 1, 2, oneIDBatch4...)

	check := func(t *testing.T, e *env) {
		t.Helper()
		// Survivors: A (B, C, G), D, E (F), H (I), email:e9.
		if n := e.count(t, "shop", rootKey, "ALL"); n != 5 {
			t.Fatalf("ALL %d, want 5", n)
		}
		var desc struct{ Profiles int }
		e.call(t, "GET", ds("shop"), rootKey, nil).decode(t, 200, &desc)
		if desc.Profiles != 5 {
			t.Fatalf("dataset description: %d profiles, want 5", desc.Profiles)
		}
		for q, want := range map[string]uint64{
			"level = 'silver'":  2, // A (B's, written after A's) and H (I's)
			"level = 'gold'":    0, // A's, E's and H's all lost
			"level = 'diamond'": 1, // E kept its own: written after F
			"level = 'new'":     1,
			"level = 'bronze'":  1,
			"n = 3":             1, // C's, written after A and B
			"n = 1":             0,
			"vip = true":        1,
			"buy('milk') IN LAST 30 DAYS AND buy('tea') IN LAST 30 DAYS": 1, // events unioned
		} {
			if n := e.count(t, "shop", rootKey, q); n != want {
				t.Errorf("%s: %d, want %d", q, n, want)
			}
		}

		// The same profile by every identifier it has or absorbed.
		base := e.view(t, shopOnlyKey, "phone", "p1")
		for _, id := range [][2]string{{"external", "A"}, {"external", "B"}, {"external", "C"}, {"external", "G"}, {"openid", "o1"}, {"email", "e1"}, {"phone", "p2"}} {
			v := e.view(t, exporterKey, id[0], id[1])
			a, _ := json.Marshal(v)
			b, _ := json.Marshal(base)
			if !bytes.Equal(a, b) {
				t.Fatalf("view by %s %s differs from the view by phone p1:\n%s\n%s", id[0], id[1], a, b)
			}
		}
		ext := base.Identifiers["external"]
		if len(ext) != 4 || ext[0] != "A" || !sameSet(ext, []string{"A", "B", "C", "G"}) {
			t.Errorf("external ids %v, want A first, then B, C, G", ext)
		}
		if got := base.Identifiers["phone"]; !slices.Equal(got, []string{"p2", "p1"}) {
			t.Errorf("phones %v, want [p2 p1] (latest first)", got)
		}
		if got := base.Identifiers["email"]; !slices.Equal(got, []string{"e1"}) {
			t.Errorf("emails %v", got)
		}
		if got := base.Identifiers["openid"]; !slices.Equal(got, []string{"o1"}) {
			t.Errorf("openids %v", got)
		}
		if len(base.Identifiers) != 4 {
			t.Errorf("identifier types %v", base.Identifiers)
		}
		wantMerges := []mergeRec{
			{Seq: 1, Survivor: "A", Absorbed: "B", Via: "email:e1"},
			{Seq: 2, Survivor: "A", Absorbed: "C", Via: "external:C"},
		}
		if !sameMerges(base.Merges, wantMerges) {
			t.Errorf("merges of A %+v, want %+v", base.Merges, wantMerges)
		}
		if string(base.Fields["level"]) != `"silver"` || string(base.Fields["n"]) != "3" || string(base.Fields["vip"]) != "true" {
			t.Errorf("fields of A %v", base.Fields)
		}
		var tags []string
		_ = json.Unmarshal(base.Fields["tags"], &tags)
		if !sameSet(tags, []string{"x", "y"}) {
			t.Errorf("tags of A %s, want x and y", base.Fields["tags"])
		}
		if buy := base.Events["buy"]; !slices.Equal(buy["milk"], []string{"2026-11-20"}) || !slices.Equal(buy["tea"], []string{"2026-11-21"}) {
			t.Errorf("events of A %v", base.Events)
		}

		h := e.view(t, exporterKey, "external", "I")
		if got := h.Identifiers["phone"]; !slices.Equal(got, []string{"pi", "ph"}) {
			t.Errorf("phones of H %v, want [pi ph]: I was written last", got)
		}
		if !slices.Equal(h.Identifiers["external"], []string{"H", "I"}) || string(h.Fields["level"]) != `"silver"` {
			t.Errorf("H: %+v", h)
		}
		if !sameMerges(h.Merges, []mergeRec{{Seq: 4, Survivor: "H", Absorbed: "I", Via: "email:ei"}}) {
			t.Errorf("merges of H %+v", h.Merges)
		}
		ev := e.view(t, exporterKey, "email", "e5")
		if string(ev.Fields["level"]) != `"diamond"` || !sameMerges(ev.Merges, []mergeRec{{Seq: 3, Survivor: "E", Absorbed: "F", Via: "email:e5"}}) {
			t.Errorf("E: %+v", ev)
		}
		// A profile made from identifiers alone is named by its first
		// identifier in type order.
		n := e.view(t, exporterKey, "external", "email:e9")
		if !slices.Equal(n.Identifiers["phone"], []string{"p9"}) || !slices.Equal(n.Identifiers["external"], []string{"email:e9"}) || len(n.Merges) != 0 {
			t.Errorf("email:e9: %+v", n)
		}
		d := e.view(t, exporterKey, "external", "D")
		if len(d.Identifiers) != 1 || len(d.Merges) != 0 {
			t.Errorf("D: %+v", d)
		}
		wantError(t, e.call(t, "GET", ds("shop")+"/profiles/phone/nobody", exporterKey, nil), 404, "profile_not_found")
		wantError(t, e.call(t, "GET", ds("shop")+"/profiles/wechat/o1", exporterKey, nil), 404, "profile_not_found")
		wantError(t, e.call(t, "GET", ds("shop")+"/profiles/Phone/p1", exporterKey, nil), 400, "bad_request")

		// Export by phone: the latest phone, profiles without one skipped.
		hd, rows := e.exportCSV(t, exporterKey, map[string]any{"q": "ALL", "id": "phone", "fields": []string{"level"}})
		wantSummary(t, hd, 5, 4, 1)
		wantCSV := [][]string{{"id", "level"}, {"p2", "silver"}, {"p5", "diamond"}, {"pi", "silver"}, {"p9", "new"}}
		if !slices.EqualFunc(rows, wantCSV, slices.Equal) {
			t.Errorf("CSV by phone %q, want %q", rows, wantCSV)
		}
		hd, objs := e.exportNDJSON(t, exporterKey, map[string]any{"q": "ALL", "id": "phone", "fields": []string{"level"}})
		wantSummary(t, hd, 5, 4, 1)
		var got [][]string
		for _, o := range objs {
			got = append(got, []string{str(o["id"]), str(o["level"])})
		}
		if !slices.EqualFunc(got, wantCSV[1:], slices.Equal) {
			t.Errorf("NDJSON by phone %q, want %q", got, wantCSV[1:])
		}
		hd, rows = e.exportCSV(t, exporterKey, map[string]any{"q": "level = 'bronze'", "id": "phone"})
		wantSummary(t, hd, 1, 0, 1)
		if !slices.EqualFunc(rows, [][]string{{"id"}}, slices.Equal) {
			t.Errorf("CSV of nobody with a phone %q", rows)
		}
		hd, rows = e.exportCSV(t, exporterKey, map[string]any{"q": "ALL", "id": "openid"})
		wantSummary(t, hd, 5, 1, 4)
		if !slices.EqualFunc(rows, [][]string{{"id"}, {"o1"}}, slices.Equal) {
			t.Errorf("CSV by openid %q", rows)
		}
		hd, rows = e.exportCSV(t, exporterKey, map[string]any{"q": "ALL", "id": "wechat"})
		wantSummary(t, hd, 5, 0, 5)
		if len(rows) != 1 {
			t.Errorf("CSV by an unknown type %q", rows)
		}
		for _, id := range []string{"external", ""} {
			body := map[string]any{"q": "ALL", "fields": []string{"level"}}
			if id != "" {
				body["id"] = id
			}
			hd, rows = e.exportCSV(t, exporterKey, body)
			wantSummary(t, hd, 5, 5, 0)
			want := [][]string{{"id", "level"}, {"A", "silver"}, {"D", "bronze"}, {"E", "diamond"}, {"H", "silver"}, {"email:e9", "new"}}
			if !slices.EqualFunc(rows, want, slices.Equal) {
				t.Errorf("CSV by external id %q, want %q", rows, want)
			}
		}
		for _, id := range []string{"Bad Type!", "EXTERNAL", "9phone", strings.Repeat("a", 33)} {
			wantError(t, e.call(t, "POST", ds("shop")+"/export", exporterKey, map[string]any{"q": "ALL", "id": id}), 400, "bad_request")
		}

		// The merge log, paged.
		all := e.mergesPage(t, exporterKey, "")
		wantAll := []mergeRec{
			{Seq: 1, Survivor: "A", Absorbed: "B", Via: "email:e1"},
			{Seq: 2, Survivor: "A", Absorbed: "C", Via: "external:C"},
			{Seq: 3, Survivor: "E", Absorbed: "F", Via: "email:e5"},
			{Seq: 4, Survivor: "H", Absorbed: "I", Via: "email:ei"},
		}
		if all.Total != 4 || all.Next != nil || !sameMerges(all.Merges, wantAll) {
			t.Fatalf("merges %+v, want %+v", all, wantAll)
		}
		p := e.mergesPage(t, exporterKey, "?limit=3")
		if p.Total != 4 || len(p.Merges) != 3 || p.Next == nil || *p.Next != 3 || !sameMerges(p.Merges, wantAll[:3]) {
			t.Fatalf("merges?limit=3: %+v", p)
		}
		p = e.mergesPage(t, exporterKey, "?from=3&limit=3")
		if p.Total != 4 || p.Next != nil || !sameMerges(p.Merges, wantAll[3:]) {
			t.Fatalf("merges?from=3&limit=3: %+v", p)
		}
		p = e.mergesPage(t, exporterKey, "?from=1&limit=2")
		if p.Next == nil || *p.Next != 3 || !sameMerges(p.Merges, wantAll[1:3]) {
			t.Fatalf("merges?from=1&limit=2: %+v", p)
		}
		p = e.mergesPage(t, exporterKey, "?from=9")
		if p.Total != 4 || len(p.Merges) != 0 || p.Next != nil {
			t.Fatalf("merges?from=9: %+v", p)
		}
		for _, q := range []string{"?limit=0", "?limit=10001", "?limit=-1", "?limit=x", "?from=-1", "?from=x", "?from=1.5"} {
			wantError(t, e.call(t, "GET", ds("shop")+"/merges"+q, exporterKey, nil), 400, "bad_request")
		}
		wantError(t, e.call(t, "GET", ds("nope")+"/merges", rootKey, nil), 404, "dataset_not_found")

		// Export scope, and the key's datasets.
		e.mergesPage(t, shopOnlyKey, "")
		e.mergesPage(t, rootKey, "")
		for _, k := range []string{readerKey, writerKey, otherOnlyKey} {
			wantError(t, e.call(t, "GET", ds("shop")+"/merges", k, nil), 403, "forbidden")
			wantError(t, e.call(t, "GET", ds("shop")+"/profiles/phone/p1", k, nil), 403, "forbidden")
		}
		wantError(t, e.call(t, "GET", ds("shop")+"/merges", "", nil), 401, "unauthorized")
	}

	t.Run("merged", func(t *testing.T) { check(t, e) })

	// Metrics count the merges.
	r := e.call(t, "GET", "/metrics", rootKey, nil)
	if !strings.Contains(string(r.body), `cohort_profile_merges_total{dataset="shop"} 4`) {
		t.Errorf("metrics lack cohort_profile_merges_total 4")
	}

	// Merges, identifiers and counts survive a restart, and the log goes
	// on from where it was. The replies read the same, byte for byte.
	before := e.rawReplies(t)
	e2 := e.restart()
	t.Run("restarted", func(t *testing.T) { check(t, e2) })
	if after := e2.rawReplies(t); !slices.Equal(before, after) {
		t.Errorf("replies changed across the restart:\n%q\n%q", before, after)
	}
	e2.ingestOneID(t, shopOnlyKey, 2, 1, 1,
		`{"id":"J","ids":{"openid":"oj"},"set":{"vip":false}}`,
		`{"id":"D","ids":{"openid":"oj"}}`)
	e2.ingestOneID(t, shopOnlyKey, 1, 0, 0, `{"id":"B","set":{"level":"platinum"}}`)
	if n := e2.count(t, "shop", rootKey, "ALL"); n != 5 {
		t.Fatalf("ALL %d after a merge following the restart, want 5", n)
	}
	v := e2.view(t, exporterKey, "openid", "oj")
	if !slices.Equal(v.Identifiers["external"], []string{"D", "J"}) || string(v.Fields["vip"]) != "false" ||
		!sameMerges(v.Merges, []mergeRec{{Seq: 5, Survivor: "D", Absorbed: "J", Via: "openid:oj"}}) {
		t.Errorf("D after the restart: %+v", v)
	}
	if a := e2.view(t, exporterKey, "external", "A"); string(a.Fields["level"]) != `"platinum"` {
		t.Errorf("a write to absorbed B after the restart: A's level %s", a.Fields["level"])
	}
	if p := e2.mergesPage(t, exporterKey, "?from=4"); p.Total != 5 || len(p.Merges) != 1 || p.Merges[0].Seq != 5 {
		t.Errorf("merges after the restart: %+v", p)
	}
	e3 := e2.restart()
	if p := e3.mergesPage(t, exporterKey, ""); p.Total != 5 || p.Merges[4].Absorbed != "J" {
		t.Errorf("merges after a second restart: %+v", p)
	}
	if n := e3.count(t, "shop", rootKey, "ALL"); n != 5 {
		t.Fatalf("ALL %d after a second restart, want 5", n)
	}
}

// TestOneIDIngestErrors: bad "ids" are refused line by line, and the
// other lines apply.
func TestOneIDIngestErrors(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(oneIDSchema))
	bad := []string{
		`{"ids":{"Phone":"p1"}}`,
		`{"ids":{"external":"x"}}`,
		`{"ids":{"phone":""}}`,
		`{"ids":{"phone":1}}`,
		`{"ids":["phone"]}`,
		`{"ids":{}}`,
		`{"set":{"level":"gold"}}`,
		`{"ids":{"phone":"p1","phone":"p2"}}`,
	}
	rep := e.ingest(t, "shop", "", lines(append(bad, `{"ids":{"phone":"ok"}}`)...))
	if rep.Applied != 1 || rep.Rejected != len(bad) || rep.Created != 1 || len(rep.Errors) != len(bad) {
		t.Fatalf("ingest of bad ids: %+v", rep)
	}
	for i, le := range rep.Errors {
		if le.Line != i+1 || le.Message == "" {
			t.Errorf("error %d: %+v", i, le)
		}
	}
	if n := e.count(t, "shop", "", "ALL"); n != 1 {
		t.Fatalf("ALL %d, want 1", n)
	}
	e.view(t, "", "external", "phone:ok")
}

// rawReplies returns the merge log and two profile views as JSON, took_us
// left out, with the merge times checked to be in UTC.
func (e *env) rawReplies(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, path := range []string{"/merges", "/profiles/phone/p1", "/profiles/email/e5"} {
		m := e.call(t, "GET", ds("shop")+path, rootKey, nil).obj(t, 200)
		delete(m, "took_us")
		for _, mr := range m["merges"].([]any) {
			if at := str(mr.(map[string]any)["at"]); !strings.HasSuffix(at, "Z") {
				t.Errorf("%s: merge time %q is not in UTC", path, at)
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// sameMerges compares merge records but for their times, which must be
// set.
func sameMerges(got, want []mergeRec) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].At.IsZero() {
			return false
		}
		g := got[i]
		g.At = time.Time{}
		if g != want[i] {
			return false
		}
	}
	return true
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestOneIDEscapedValues: identifier values with characters a path must
// escape reach the profile view whole.
func TestOneIDEscapedValues(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(oneIDSchema))
	// "/" escaped as %2F is part of a value: the router splits the raw
	// path before decoding its parts.
	vals := []string{"+86 138 0000?x#y", "100%", "上海:1", "a+b", "https://open.example/u/42"}
	var ls []string
	for i, v := range vals {
		b, _ := json.Marshal(map[string]any{"ids": map[string]string{"phone": v}, "set": map[string]any{"n": i}})
		ls = append(ls, string(b))
	}
	rep := e.ingest(t, "shop", "", lines(ls...))
	if rep.Applied != len(vals) || rep.Created != len(vals) {
		t.Fatalf("ingest: %+v", rep)
	}
	for i, v := range vals {
		for _, path := range []string{"/profiles/phone/" + url.PathEscape(v), "/profiles/external/" + url.PathEscape("phone:"+v)} {
			var view oneIDView
			e.call(t, "GET", ds("shop")+path, "", nil).decode(t, 200, &view)
			if !slices.Equal(view.Identifiers["phone"], []string{v}) || string(view.Fields["n"]) != strconv.Itoa(i) {
				t.Errorf("%s: %+v", path, view)
			}
		}
	}
	// Escaped the way url.PathEscape does not: every byte.
	var all strings.Builder
	for _, c := range []byte("a+b") {
		fmt.Fprintf(&all, "%%%02X", c)
	}
	var view oneIDView
	e.call(t, "GET", ds("shop")+"/profiles/phone/"+all.String(), "", nil).decode(t, 200, &view)
	if !slices.Equal(view.Identifiers["phone"], []string{"a+b"}) {
		t.Errorf("fully escaped a+b: %+v", view)
	}
}

// TestOneIDConcurrent: merges while views, merge-log pages and exports
// by identifier run (for the race detector, and for replies that stay
// consistent in themselves).
func TestOneIDConcurrent(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(oneIDSchema))
	const pairs = 300
	done := make(chan struct{})
	errs := make(chan error, 1)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	go func() {
		defer close(done)
		for i := 0; i < pairs; i += 10 {
			var ls []string
			for j := i; j < i+10; j++ {
				ls = append(ls, sprintf(`{"id":"a%d","ids":{"phone":"p%d"},"set":{"n":1}}`, j, j),
					sprintf(`{"id":"b%d","ids":{"email":"e%d"},"set":{"n":2}}`, j, j))
			}
			for j := i; j < i+10; j++ {
				ls = append(ls, sprintf(`{"ids":{"phone":"p%d","email":"e%d"}}`, j, j))
			}
			r, err := e.trySend(req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(lines(ls...))})
			for err == nil && r.status == 429 {
				time.Sleep(time.Millisecond)
				r, err = e.trySend(req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(lines(ls...))})
			}
			if err != nil || r.status != 200 {
				fail("ingest: %v %d %s", err, r.status, r.body)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-done:
					return
				default:
				}
				i := (k*7 + w) % pairs
				switch k % 3 {
				case 0:
					r, err := e.trySend(req{method: "GET", path: ds("shop") + sprintf("/profiles/email/e%d", i)})
					if err != nil {
						fail("view: %v", err)
						return
					}
					if r.status == 404 {
						continue
					}
					var v oneIDView
					if err := json.Unmarshal(r.body, &v); err != nil || r.status != 200 {
						fail("view e%d: %d %s", i, r.status, r.body)
						return
					}
					if !slices.Contains(v.Identifiers["email"], sprintf("e%d", i)) {
						fail("view by email e%d lacks it: %s", i, r.body)
						return
					}
				case 1:
					r, err := e.trySend(req{method: "GET", path: ds("shop") + sprintf("/merges?from=%d&limit=50", i/2)})
					if err != nil || r.status != 200 {
						fail("merges: %v %d %s", err, r.status, r.body)
						return
					}
					var p mergesPage
					if err := json.Unmarshal(r.body, &p); err != nil {
						fail("merges: %v", err)
						return
					}
					for n, m := range p.Merges {
						if m.Seq != i/2+n+1 {
							fail("merges?from=%d: entry %d has seq %d", i/2, n, m.Seq)
							return
						}
					}
				case 2:
					r, err := e.trySend(req{method: "POST", path: ds("shop") + "/export", ctype: "application/json", body: strings.NewReader(`{"q":"ALL","id":"email","format":"ndjson"}`)})
					if err == nil && r.status == 429 {
						continue // ingest and exports over MaxHeavy
					}
					if err != nil || r.status != 200 {
						fail("export: %v %d %s", err, r.status, r.body)
						return
					}
					c, _ := strconv.Atoi(r.header.Get("X-Cohort-Count"))
					x, _ := strconv.Atoi(r.header.Get("X-Cohort-Exported"))
					s, _ := strconv.Atoi(r.header.Get("X-Cohort-Skipped"))
					if n := bytes.Count(r.body, []byte("\n")); n != x || x+s != c {
						fail("export: count %d exported %d skipped %d, %d lines", c, x, s, n)
						return
					}
				}
			}
		}(w)
	}
	<-done
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if n := e.count(t, "shop", "", "ALL"); n != pairs {
		t.Fatalf("ALL %d, want %d", n, pairs)
	}
	if p := e.mergesPage(t, "", "?limit=1"); p.Total != pairs {
		t.Fatalf("merge log of %d, want %d", p.Total, pairs)
	}
	hd, rows := e.exportCSV(t, "", map[string]any{"q": "ALL", "id": "email"})
	wantSummary(t, hd, pairs, pairs, 0)
	if rows[1][0] != "e0" {
		t.Fatalf("first row %v", rows[1])
	}
}

// TestOneIDLastWrite: what counts as a profile's last write when a merge
// settles single-valued fields: a record that set or cleared one, not one
// that only touched sets, events or identifiers.
func TestOneIDLastWrite(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.createDataset(t, "shop", "", []byte(oneIDSchema))
	rep := e.ingest(t, "shop", "", lines(
		// The order is per field: X cleared n after Y set its level, but
		// Y's level is still the later write of level.
		`{"id":"X","ids":{"phone":"px"},"set":{"level":"gold","n":5}}`,
		`{"id":"Y","ids":{"email":"ey"},"set":{"level":"silver","vip":true}}`,
		`{"id":"X","unset":["n"]}`,
		`{"ids":{"phone":"px","email":"ey"}}`,
		// P touched only its set, events and identifiers after Q: Q wins.
		`{"id":"P","ids":{"phone":"pp"},"set":{"level":"gold"}}`,
		`{"id":"Q","ids":{"email":"eq"},"set":{"level":"silver","n":7}}`,
		`{"id":"P","ids":{"openid":"op"},"add":{"tags":["t"]},"events":[{"field":"buy","value":"tea","time":"2026-11-21"}]}`,
		`{"id":"P","ids":{"email":"eq"}}`,
	))
	if rep.Applied != 8 || rep.Merged != 2 || rep.Created != 4 {
		t.Fatalf("ingest: %+v", rep)
	}
	x := e.view(t, "", "external", "Y")
	if string(x.Fields["level"]) != `"silver"` || string(x.Fields["vip"]) != "true" || x.Fields["n"] != nil {
		t.Errorf("X+Y fields %v, want level silver (Y's), vip true (Y's), no n", x.Fields)
	}
	p := e.view(t, "", "openid", "op")
	if string(p.Fields["level"]) != `"silver"` || string(p.Fields["n"]) != "7" || !slices.Equal(p.Identifiers["external"], []string{"P", "Q"}) {
		t.Errorf("P+Q: %+v, want level silver and n 7 (Q's)", p)
	}
	if e.count(t, "shop", "", "level = 'silver'") != 2 || e.count(t, "shop", "", "ALL") != 2 {
		t.Errorf("counts after the merges")
	}
	// The dataset's description counts identifiers per type and merges.
	d := e.call(t, "GET", ds("shop"), "", nil).obj(t, 200)
	ids, _ := d["identifiers"].(map[string]any)
	if ids["phone"] != 2.0 || ids["email"] != 2.0 || ids["openid"] != 1.0 || d["merges"] != 2.0 || d["profiles"] != 2.0 {
		t.Errorf("description: identifiers %v, merges %v, profiles %v", d["identifiers"], d["merges"], d["profiles"])
	}
}
