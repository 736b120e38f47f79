package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/server"
	"github.com/cohortdb/cohort/server/auth"
)

// TestErrors checks every error class's status and code.
func TestErrors(t *testing.T) {
	e := newEnv(t, server.Config{MaxBodyBytes: 4 << 10})
	e.loadShop(t, "shop", "", 200)
	count := ds("shop") + "/count"

	t.Run("routing", func(t *testing.T) {
		wantError(t, e.call(t, "GET", "/nope", "", nil), 404, "not_found")
		wantError(t, e.call(t, "GET", "/v1/datasets/shop/count/extra", "", nil), 404, "not_found")
		wantError(t, e.call(t, "POST", "/v1", "", nil), 404, "not_found")
		r := e.call(t, "GET", count, "", nil)
		wantError(t, r, 405, "method_not_allowed")
		if a := r.header.Get("Allow"); a != "POST" {
			t.Fatalf("Allow %q", a)
		}
		r = e.call(t, "POST", ds("shop"), "", nil)
		wantError(t, r, 405, "method_not_allowed")
		if a := r.header.Get("Allow"); a != "PUT, GET, DELETE" {
			t.Fatalf("Allow %q", a)
		}
		r = e.call(t, "PATCH", ds("shop")+"/segments/x", "", nil)
		wantError(t, r, 405, "method_not_allowed")
		if a := r.header.Get("Allow"); a != "PUT, GET, DELETE" {
			t.Fatalf("Allow %q", a)
		}
	})

	t.Run("not-found", func(t *testing.T) {
		for _, c := range []struct{ method, path, body string }{
			{"GET", ds("nope"), ""},
			{"DELETE", ds("nope"), ""},
			{"POST", ds("nope") + "/count", `{"q":"ALL"}`},
			{"POST", ds("nope") + "/query", `{"q":"ALL"}`},
			{"POST", ds("nope") + "/explain", `{"q":"ALL"}`},
			{"POST", ds("nope") + "/export", `{"q":"ALL"}`},
			{"POST", ds("nope") + "/fields", `{"name":"x","type":"tag"}`},
			{"GET", ds("nope") + "/segments", ""},
			{"GET", ds("nope") + "/segments/x", ""},
			{"PUT", ds("nope") + "/segments/x", `{"q":"ALL"}`},
			{"DELETE", ds("nope") + "/segments/x", ""},
		} {
			var body any
			if c.body != "" {
				body = c.body
			}
			wantError(t, e.call(t, c.method, c.path, "", body), 404, "dataset_not_found")
		}
		r := e.send(t, req{method: "POST", path: ds("nope") + "/ingest", ctype: "application/x-ndjson", body: strings.NewReader(`{"id":"a"}` + "\n")})
		wantError(t, r, 404, "dataset_not_found")
		wantError(t, e.call(t, "GET", ds("shop")+"/segments/nope", "", nil), 404, "segment_not_found")
		wantError(t, e.call(t, "DELETE", ds("shop")+"/segments/nope", "", nil), 404, "segment_not_found")
	})

	t.Run("content-type", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "application/x-ndjson", "application/jsonx"} {
			r := e.send(t, req{method: "POST", path: count, ctype: ct, body: strings.NewReader(`{"q":"ALL"}`)})
			wantError(t, r, 415, "unsupported_media_type")
		}
		r := e.send(t, req{method: "POST", path: count, ctype: "Application/JSON; charset=utf-8", body: strings.NewReader(`{"q":"ALL"}`)})
		r.obj(t, 200)
		r = e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/json", body: strings.NewReader(`{"id":"a"}`)})
		wantError(t, r, 415, "unsupported_media_type")
		r = e.send(t, req{method: "PUT", path: ds("new1"), ctype: "text/plain", body: bytes.NewReader(gen.SchemaJSON())})
		wantError(t, r, 415, "unsupported_media_type")
	})

	t.Run("body-too-large", func(t *testing.T) {
		big := `{"q":"ALL` + strings.Repeat(" OR ALL", 2000) + `"}`
		for _, chunked := range []bool{false, true} {
			for _, path := range []string{count, ds("shop") + "/segments/big", ds("big")} {
				method := "POST"
				if !strings.HasSuffix(path, "count") {
					method = "PUT"
				}
				r := e.send(t, req{method: method, path: path, ctype: "application/json", body: strings.NewReader(big), chunked: chunked})
				wantError(t, r, 413, "body_too_large")
			}
		}
		// just under the limit is fine (and too long a query is a query error)
		ok := `{"q":"ALL` + strings.Repeat(" ", 4<<10-11) + `"}`
		if len(ok) != 4<<10 {
			t.Fatal(len(ok))
		}
		e.call(t, "POST", count, "", ok).obj(t, 200)
		r := e.send(t, req{method: "POST", path: count, ctype: "application/json", body: strings.NewReader(ok + " "), chunked: true})
		wantError(t, r, 413, "body_too_large")
		e.call(t, "GET", "/healthz", "", nil).obj(t, 200)
	})

	t.Run("json", func(t *testing.T) {
		for _, body := range []string{`{"q":`, `{"q":"ALL"`, `{"q": ALL}`, `[`, `{"q":"ALL"} {"q":"ALL"}`, `{"q":1}`, `"ALL"`, `  `, `{"q":"ALL","limit":"7"}`} {
			wantError(t, e.call(t, "POST", count, "", body), 400, "invalid_json")
		}
		ae := wantError(t, e.call(t, "POST", count, "", `{"q":"ALL","bogus":1}`), 400, "invalid_json")
		if !strings.Contains(ae.Message, "bogus") {
			t.Errorf("unknown field message %q", ae.Message)
		}
		ae = wantError(t, e.call(t, "POST", count, "", "{\n  \"q\": \"ALL\",\n  oops\n}"), 400, "invalid_json")
		if !strings.Contains(ae.Message, "line 3") {
			t.Errorf("syntax error message lacks the position: %q", ae.Message)
		}
		wantError(t, e.call(t, "POST", count, "", []byte("{\"q\":\"city = '\xff\xfe'\"}")), 400, "invalid_utf8")
		wantError(t, e.call(t, "PUT", ds("shop")+"/segments/x", "", []byte("{\"members\":[\"a\xc3\"]}")), 400, "invalid_utf8")
		// no body at all
		r := e.send(t, req{method: "POST", path: count, ctype: "application/json"})
		wantError(t, r, 400, "invalid_json")
	})

	t.Run("query", func(t *testing.T) {
		ae := wantError(t, e.call(t, "POST", count, "", map[string]any{"q": "ALL AND\n  age >> 3"}), 400, "invalid_query")
		if ae.Line != 2 || ae.Column < 3 {
			t.Fatalf("syntax error at line %d column %d: %s", ae.Line, ae.Column, ae.Message)
		}
		ae = wantError(t, e.call(t, "POST", count, "", map[string]any{"q": "agee > 3"}), 400, "invalid_query")
		if ae.Line != 1 || ae.Column != 1 || !strings.Contains(ae.Message, "age") {
			t.Fatalf("unknown field: %+v", ae)
		}
		ae = wantError(t, e.call(t, "POST", ds("shop")+"/query", "", map[string]any{"q": "city = 'Shanghia'"}), 400, "invalid_query")
		if ae.Column != 8 {
			t.Fatalf("unknown value: %+v", ae)
		}
		var c struct{ Count int }
		e.call(t, "POST", count, "", map[string]any{"q": "city = 'Shanghia'", "any_value": true}).decode(t, 200, &c)
		if c.Count != 0 {
			t.Fatalf("any_value count %d", c.Count)
		}
		wantError(t, e.call(t, "POST", count, "", map[string]any{"q": "channels = 'wechat'"}), 400, "invalid_query")
		wantError(t, e.call(t, "POST", count, "", map[string]any{"q": "  "}), 400, "invalid_query")
		wantError(t, e.call(t, "POST", count, "", map[string]any{"now": "2026-01-01"}), 400, "invalid_query")
		wantError(t, e.call(t, "POST", ds("shop")+"/explain", "", map[string]any{"q": "age >"}), 400, "invalid_query")
		wantError(t, e.call(t, "POST", ds("shop")+"/export", "", map[string]any{"q": "age >"}), 400, "invalid_query")
		deep := strings.Repeat("(", 5000) + "ALL" + strings.Repeat(")", 5000)
		r := e.send(t, req{method: "POST", path: count, ctype: "application/json", body: strings.NewReader(`{"q":"` + deep[:4000] + `"}`)})
		wantError(t, r, 400, "invalid_query")
	})

	t.Run("params", func(t *testing.T) {
		for _, now := range []string{"yesterday", "2026-13-01", "22/11/2026", "2026-11-22T25:00:00Z"} {
			ae := wantError(t, e.call(t, "POST", count, "", map[string]any{"q": "view() IN LAST 3 DAYS", "now": now}), 400, "bad_request")
			if !strings.Contains(ae.Message, "now") {
				t.Errorf("bad now message %q", ae.Message)
			}
		}
		for _, cur := range []string{"zzz", "!!", "cjE6", "cjE6LTE", "eDox"} { // "r1:", "r1:-1", "x:1"
			wantError(t, e.call(t, "POST", ds("shop")+"/query", "", map[string]any{"q": "ALL", "cursor": cur}), 400, "bad_request")
		}
		for _, lim := range []int{-1, 10001} {
			wantError(t, e.call(t, "POST", ds("shop")+"/query", "", map[string]any{"q": "ALL", "limit": lim}), 400, "bad_request")
		}
		wantError(t, e.call(t, "GET", ds("shop")+"?top=-1", "", nil), 400, "bad_request")
		wantError(t, e.call(t, "GET", ds("shop")+"?top=x", "", nil), 400, "bad_request")
		exp := ds("shop") + "/export"
		wantError(t, e.call(t, "POST", exp, "", map[string]any{"q": "ALL", "format": "xml"}), 400, "bad_request")
		wantError(t, e.call(t, "POST", exp, "", map[string]any{"q": "ALL", "compression": "brotli"}), 400, "bad_request")
		ae := wantError(t, e.call(t, "POST", exp, "", map[string]any{"q": "ALL", "fields": []string{"cty"}}), 400, "bad_request")
		if !strings.Contains(ae.Message, "cty") {
			t.Errorf("unknown export field message %q", ae.Message)
		}
		wantError(t, e.call(t, "POST", exp, "", map[string]any{"q": "ALL", "fields": []string{"city", "CITY"}}), 400, "bad_request")
		// "id" is an identifier type (or external); a malformed one is
		// refused. A well-formed type no profile has exports nobody: see
		// TestOneID.
		for _, id := range []string{"Bad Type!", "Phone", "EXTERNAL", "9x", strings.Repeat("a", 33)} {
			ae := wantError(t, e.call(t, "POST", exp, "", map[string]any{"q": "ALL", "id": id}), 400, "bad_request")
			if !strings.Contains(ae.Message, "identifier type") {
				t.Errorf("bad export id message %q", ae.Message)
			}
		}
		if got := len(e.logs.records(t, "export audit")); got != 0 {
			t.Fatalf("%d audit lines for refused exports", got)
		}
	})

	t.Run("datasets", func(t *testing.T) {
		wantError(t, e.call(t, "PUT", ds("shop"), "", gen.SchemaJSON()), 409, "already_exists")
		for _, sc := range []string{`{"fields":[{"name":"a","type":"nosuchtype"}]}`, `{"fields":[{"name":"a","type":"tag"},{"name":"A","type":"tag"}]}`, `{"timezone":"Mars/Olympus","fields":[]}`, `[]`, `{`} {
			wantError(t, e.call(t, "PUT", ds("bad"), "", sc), 400, "invalid_schema")
		}
		for _, name := range []string{"Shop", "a.b", strings.Repeat("x", 65), "caf%C3%A9"} {
			wantError(t, e.call(t, "PUT", ds(name), "", `{"fields":[]}`), 400, "bad_request")
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/fields", "", `{"name":"city","type":"tag"}`), 400, "invalid_schema")
		wantError(t, e.call(t, "POST", ds("shop")+"/fields", "", `{"name":"x","type":"what"}`), 400, "invalid_json")
		wantError(t, e.call(t, "POST", ds("shop")+"/fields", "", `{"name":"x","type":"int"}`), 400, "invalid_schema")
		// BUG: a JSON null is not a schema, yet it creates an empty dataset.
		if r := e.call(t, "PUT", ds("nullschema"), "", `null`); r.status != 400 {
			t.Errorf("PUT a dataset with the body null: %d %s", r.status, trim(r.body))
			e.call(t, "DELETE", ds("nullschema"), "", nil)
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/fields", "", `{"name":"x","type":"tag","nope":1}`), 400, "invalid_json")
		var list struct{ Datasets []struct{ Name string } }
		e.call(t, "GET", "/v1/datasets", "", nil).decode(t, 200, &list)
		if len(list.Datasets) != 1 {
			t.Fatalf("refused creations left datasets: %+v", list)
		}
	})

	t.Run("segments", func(t *testing.T) {
		p := ds("shop") + "/segments/"
		for _, body := range []string{`{"q":"ALL","members":["u000000001"]}`, `{}`, `{"members":[]}`, `{"members":[""]}`, `{"description":"x"}`} {
			wantError(t, e.call(t, "PUT", p+"s1", "", body), 400, "invalid_segment")
		}
		wantError(t, e.call(t, "PUT", p+"s1", "", map[string]any{"members": []string{strings.Repeat("x", 1025)}}), 400, "invalid_segment")
		wantError(t, e.call(t, "PUT", p+"bad%20name", "", `{"q":"ALL"}`), 400, "invalid_segment")
		wantError(t, e.call(t, "PUT", p+"s1", "", `{"q":"age >"}`), 400, "invalid_query")
		wantError(t, e.call(t, "PUT", p+"s1", "", `{"q":"SEGMENT('nope')"}`), 400, "invalid_query")
		wantError(t, e.call(t, "PUT", p+"s1", "", `{"q":"ALL","now":"soon"}`), 400, "bad_request")
		var list struct{ Segments []any }
		e.call(t, "GET", ds("shop")+"/segments", "", nil).decode(t, 200, &list)
		if len(list.Segments) != 0 {
			t.Fatalf("refused segments were stored: %+v", list)
		}
		e.call(t, "PUT", p+"s2", "", `{"q":"purchase() IN LAST 7 DAYS"}`).obj(t, 201)
		wantError(t, e.call(t, "GET", p+"s2?now=soon", "", nil), 400, "bad_request")
		wantError(t, e.call(t, "GET", ds("shop")+"/segments?now=soon", "", nil), 400, "bad_request")
		a := e.call(t, "GET", p+"s2?now=2026-11-22", "", nil).obj(t, 200)
		b := e.call(t, "GET", p+"s2?now=2026-05-01", "", nil).obj(t, 200)
		if a["count"] == b["count"] {
			t.Errorf("now does not move a saved segment's window: %v %v", a["count"], b["count"])
		}
		e.call(t, "DELETE", p+"s2", "", nil).obj(t, 200)
	})

	t.Run("ingest-lines", func(t *testing.T) {
		before := e.count(t, "shop", "", "ALL")
		beforeSH := e.count(t, "shop", "", "city = '上海'")
		huge := `{"id":"huge","set":{"city":"` + strings.Repeat("a", 1<<20) + `"}}`
		body := strings.Join([]string{
			`{"id":"ok-1","set":{"city":"上海"}}`,              // 1
			`{"id":"bad-1","set":{"city":"上海"}`,              // 2 malformed
			"{\"id\":\"bad-2\",\"set\":{\"city\":\"\xff\"}}", // 3 invalid UTF-8
			``, // 4 blank: ignored
			`{"id":"bad-3","set":{"city":"上海","colour":"x"}}`, // 5 unknown field
			`{"id":"bad-4","set":{"city":"上海","age":"old"}}`,  // 6 wrong type
			huge,                                   // 7 over 1 MiB
			`{"id":"bad-5","set":{"age":500}}`,     // 8 out of range
			`{"set":{"city":"上海"}}`,                // 9 no id
			`{"id":"ok-2","set":{"city":"上海"}}`,    // 10
			`{"id":"bad-6","wat":{}}`,              // 11 unknown key
			"{\"id\":\"ok-3\"}\r",                  // 12 CRLF
			`[1,2]`,                                // 13
			`{"id":"u000000001","unset":["nope"]}`, // 14 unknown field in unset
		}, "\n")
		rep := e.ingest(t, "shop", "", []byte(body))
		wantLines := []int{2, 3, 5, 6, 7, 8, 9, 11, 13, 14}
		if rep.Applied != 3 || rep.Rejected != len(wantLines) || len(rep.Errors) != len(wantLines) {
			t.Fatalf("applied %d rejected %d: %+v", rep.Applied, rep.Rejected, rep.Errors)
		}
		// The reply need not list the errors in line order (a line too
		// long is reported as it is read, the others with their batch).
		slices.SortFunc(rep.Errors, func(a, b lineErr) int { return a.Line - b.Line })
		for i, le := range rep.Errors {
			if le.Line != wantLines[i] || le.Message == "" {
				t.Fatalf("error %d: %+v, want line %d", i, le, wantLines[i])
			}
		}
		for _, m := range []struct {
			i    int
			want string
		}{{2, "colour"}, {3, "age"}, {4, "1048576"}} {
			if !strings.Contains(rep.Errors[m.i].Message, m.want) {
				t.Errorf("line %d message %q lacks %q", rep.Errors[m.i].Line, rep.Errors[m.i].Message, m.want)
			}
		}
		if n := e.count(t, "shop", "", "ALL"); n != before+3 {
			t.Fatalf("ALL %d, want %d", n, before+3)
		}
		if n := e.count(t, "shop", "", "city = '上海'"); n != beforeSH+2 {
			t.Fatalf("上海 %d, want %d (rejected lines changed something)", n, beforeSH+2)
		}
		ids, _ := e.queryAll(t, "shop", "", map[string]any{"q": "ALL"}, 10000)
		for _, id := range ids {
			if strings.HasPrefix(id, "bad-") || id == "huge" {
				t.Fatalf("rejected line left profile %s", id)
			}
		}
		// only rejected lines: nothing changes; empty lines still count
		// towards the line numbers
		rep = e.ingest(t, "shop", "", []byte("\n\nnope\n\r\n  \n{\n"))
		if rep.Applied != 0 || rep.Rejected != 2 || rep.Errors[0].Line != 3 || rep.Errors[1].Line != 6 {
			t.Fatalf("%+v", rep)
		}
		rep = e.ingest(t, "shop", "", nil)
		if rep.Applied != 0 || rep.Rejected != 0 {
			t.Fatalf("empty ingest: %+v", rep)
		}
		if n := e.count(t, "shop", "", "ALL"); n != before+3 {
			t.Fatalf("ALL %d, want %d", n, before+3)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		bodies := [][]byte{nil, []byte("{"), []byte("}"), []byte("[]"), []byte("null"), []byte("0"), []byte(`""`),
			[]byte("\x00\xff\xfe"), []byte(`{"q":`), []byte(`{"q":null}`), []byte(`{"q":"\u0000"}`), []byte(`{"q":"ALL"}{"q":"ALL"}`),
			[]byte(strings.Repeat("[", 3000)), []byte(`{"q":"ALL","limit":1e400}`), []byte(`{"q":"ALL","limit":-0.5}`),
			[]byte(`{"members":null,"q":null}`), []byte(`{"fields":"x"}`), []byte(`{"name":"","type":""}`),
			[]byte(`{"q":"` + strings.Repeat("NOT ", 900) + `ALL"}`), []byte(`{"q":"SEGMENT('` + strings.Repeat("x", 200) + `')"}`)}
		for range 15 {
			b := make([]byte, r.IntN(300))
			for i := range b {
				b[i] = byte(r.UintN(256))
			}
			bodies = append(bodies, b)
		}
		routes := []struct{ method, path string }{
			{"PUT", ds("garbage")},
			{"POST", ds("shop") + "/fields"},
			{"POST", ds("shop") + "/count"},
			{"POST", ds("shop") + "/query"},
			{"POST", ds("shop") + "/explain"},
			{"POST", ds("shop") + "/export"},
			{"PUT", ds("shop") + "/segments/g"},
		}
		all := e.count(t, "shop", "", "ALL")
		for _, rt := range routes {
			for i, b := range bodies {
				if rt.path == ds("garbage") && string(b) == "null" {
					continue // see the datasets subtest
				}
				for _, ct := range []string{"application/json", "text/plain"} {
					res := e.send(t, req{method: rt.method, path: rt.path, ctype: ct, body: bytes.NewReader(b)})
					if res.status < 400 || res.status >= 500 {
						t.Errorf("%s %s body %d %q (%s): %d %s", rt.method, rt.path, i, trim(b), ct, res.status, trim(res.body))
						continue
					}
					wantError(t, res, res.status, codeOf(t, res))
				}
			}
			res := e.send(t, req{method: rt.method, path: rt.path, ctype: "application/json", body: bytes.NewReader(bodies[1]), chunked: true})
			if res.status != 400 {
				t.Errorf("%s %s chunked garbage: %d", rt.method, rt.path, res.status)
			}
		}
		for i, b := range bodies {
			rep := e.ingest(t, "shop", "", b)
			if rep.Applied != 0 {
				t.Fatalf("garbage %d %q applied %d lines", i, trim(b), rep.Applied)
			}
		}
		if n := e.count(t, "shop", "", "ALL"); n != all {
			t.Fatalf("garbage changed the dataset: %d, was %d", n, all)
		}
		e.call(t, "GET", "/healthz", "", nil).obj(t, 200)
		var list struct {
			Datasets []struct{ Name string }
		}
		e.call(t, "GET", "/v1/datasets", "", nil).decode(t, 200, &list)
		if len(list.Datasets) != 1 {
			t.Fatalf("garbage created a dataset: %+v", list)
		}
		if n := len(e.logs.records(t, "panic in handler")); n != 0 {
			t.Fatalf("%d panics logged", n)
		}
	})
}

func codeOf(t *testing.T, r reply) string {
	t.Helper()
	var b struct{ Error struct{ Code string } }
	r.decode(t, r.status, &b)
	return b.Error.Code
}

// TestAuth checks keys: 401 without or with a wrong key, 403 without the
// scope or for another dataset, the listing filtered to the key's
// datasets, and public routes.
func TestAuth(t *testing.T) {
	e := newEnv(t, server.Config{Keys: parseKeys(t), Addr: "0.0.0.0:0"})
	e.loadShop(t, "shop", rootKey, 100)
	e.createDataset(t, "other", rootKey, []byte(`{"fields":[{"name":"city","type":"tag"}]}`))
	e.ingest(t, "other", otherOnlyKey, []byte(`{"id":"o1","set":{"city":"上海"}}`+"\n"))
	count := ds("shop") + "/count"

	t.Run("public", func(t *testing.T) {
		e.call(t, "GET", "/healthz", "", nil).obj(t, 200)
		r := e.call(t, "GET", "/v1/openapi.json", "", nil)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		if r := e.call(t, "GET", "/", "", nil); r.status != 200 {
			t.Fatal(r.status)
		}
	})

	t.Run("401", func(t *testing.T) {
		r := e.call(t, "POST", count, "", `{"q":"ALL"}`)
		wantError(t, r, 401, "unauthorized")
		if w := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(w, "Bearer") {
			t.Fatalf("WWW-Authenticate %q", w)
		}
		r = e.call(t, "POST", count, "not-a-key-0123456789", `{"q":"ALL"}`)
		wantError(t, r, 401, "unauthorized")
		if w := r.header.Get("WWW-Authenticate"); !strings.Contains(w, "invalid_token") {
			t.Fatalf("WWW-Authenticate %q", w)
		}
		for _, p := range []string{"/metrics", "/v1/datasets", ds("shop"), "/debug/pprof/"} {
			wantError(t, e.call(t, "GET", p, "", nil), 401, "unauthorized")
		}
		// The key is checked before the dataset: no probing for names.
		wantError(t, e.call(t, "POST", ds("secret")+"/count", "", `{"q":"ALL"}`), 401, "unauthorized")
		// X-API-Key works too; a wrong one does not.
		r = e.send(t, req{method: "POST", path: count, ctype: "application/json", body: strings.NewReader(`{"q":"ALL"}`), header: map[string]string{"X-API-Key": readerKey}})
		r.obj(t, 200)
		r = e.send(t, req{method: "POST", path: count, ctype: "application/json", body: strings.NewReader(`{"q":"ALL"}`), header: map[string]string{"X-API-Key": readerKey + "x"}})
		wantError(t, r, 401, "unauthorized")
		r = e.send(t, req{method: "GET", path: "/v1/datasets", header: map[string]string{"Authorization": "Basic " + readerKey}})
		wantError(t, r, 401, "unauthorized")
	})

	t.Run("403-scope", func(t *testing.T) {
		nd := []byte(`{"id":"x1"}` + "\n")
		wantError(t, e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(nd), key: readerKey}), 403, "forbidden")
		wantError(t, e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(nd), key: exporterKey}), 403, "forbidden")
		ae := wantError(t, e.call(t, "POST", ds("shop")+"/export", writerKey, `{"q":"ALL"}`), 403, "forbidden")
		if !strings.Contains(ae.Message, "writer") || !strings.Contains(ae.Message, "export") || strings.Contains(ae.Message, writerKey) {
			t.Errorf("403 message %q", ae.Message)
		}
		wantError(t, e.call(t, "POST", ds("shop")+"/export", readerKey, `{"q":"ALL"}`), 403, "forbidden")
		wantError(t, e.call(t, "POST", count, writerKey, `{"q":"ALL"}`), 403, "forbidden")
		for _, k := range []string{readerKey, writerKey, exporterKey, shopOnlyKey} {
			wantError(t, e.call(t, "PUT", ds("new"), k, `{"fields":[]}`), 403, "forbidden")
			wantError(t, e.call(t, "DELETE", ds("shop"), k, nil), 403, "forbidden")
			wantError(t, e.call(t, "POST", ds("shop")+"/fields", k, `{"name":"z","type":"tag"}`), 403, "forbidden")
			wantError(t, e.call(t, "GET", "/debug/pprof/", k, nil), 403, "forbidden")
		}
		wantError(t, e.call(t, "PUT", ds("shop")+"/segments/s", readerKey, `{"q":"ALL"}`), 403, "forbidden")
		wantError(t, e.call(t, "DELETE", ds("shop")+"/segments/s", readerKey, nil), 403, "forbidden")
		// and what the scopes do allow
		e.call(t, "PUT", ds("shop")+"/segments/s", writerKey, `{"q":"ALL"}`).obj(t, 201)
		e.call(t, "GET", ds("shop")+"/segments/s", readerKey, nil).obj(t, 200)
		e.call(t, "DELETE", ds("shop")+"/segments/s", writerKey, nil).obj(t, 200)
		e.ingest(t, "shop", writerKey, nd)
		e.call(t, "POST", count, readerKey, `{"q":"ALL"}`).obj(t, 200)
		e.call(t, "GET", "/metrics", readerKey, nil)
		if r := e.call(t, "GET", "/debug/pprof", rootKey, nil); r.status != 200 {
			t.Fatalf("pprof as admin: %d", r.status)
		}
		// admin implies every scope
		e.call(t, "POST", count, rootKey, `{"q":"ALL"}`).obj(t, 200)
		if r := e.call(t, "POST", ds("shop")+"/export", rootKey, `{"q":"ALL"}`); r.status != 200 {
			t.Fatalf("export as admin: %d", r.status)
		}
	})

	t.Run("403-dataset", func(t *testing.T) {
		wantError(t, e.call(t, "POST", count, otherOnlyKey, `{"q":"ALL"}`), 403, "forbidden")
		wantError(t, e.call(t, "GET", ds("shop"), otherOnlyKey, nil), 403, "forbidden")
		wantError(t, e.call(t, "POST", ds("shop")+"/export", otherOnlyKey, `{"q":"ALL"}`), 403, "forbidden")
		wantError(t, e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: strings.NewReader(`{"id":"z"}`), key: otherOnlyKey}), 403, "forbidden")
		wantError(t, e.call(t, "GET", ds("other")+"/segments", shopOnlyKey, nil), 403, "forbidden")
		e.call(t, "POST", ds("other")+"/count", otherOnlyKey, `{"q":"ALL"}`).obj(t, 200)
		for _, c := range []struct {
			key  string
			want []string
		}{{rootKey, []string{"other", "shop"}}, {readerKey, []string{"other", "shop"}}, {shopOnlyKey, []string{"shop"}}, {otherOnlyKey, []string{"other"}}, {shopAdminKey, []string{"shop"}}} {
			var list struct{ Datasets []struct{ Name string } }
			e.call(t, "GET", "/v1/datasets", c.key, nil).decode(t, 200, &list)
			var got []string
			for _, d := range list.Datasets {
				got = append(got, d.Name)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("key %s lists %v, want %v", c.key, got, c.want)
			}
		}
	})

	t.Run("backup", func(t *testing.T) {
		wantError(t, e.call(t, "GET", "/v1/backup", "", nil), 401, "unauthorized")
		for _, k := range []string{readerKey, writerKey, exporterKey, shopOnlyKey} {
			wantError(t, e.call(t, "GET", "/v1/backup", k, nil), 403, "forbidden")
		}
		if r := e.call(t, "GET", "/v1/backup", rootKey, nil); r.status != 200 {
			t.Fatalf("backup as admin: %d", r.status)
		}
		// A dataset-restricted admin key manages its own datasets only ...
		e.call(t, "POST", ds("shop")+"/fields", shopAdminKey, `{"name":"note","type":"tag"}`).obj(t, 200)
		wantError(t, e.call(t, "POST", ds("other")+"/fields", shopAdminKey, `{"name":"note","type":"tag"}`), 403, "forbidden")
		wantError(t, e.call(t, "DELETE", ds("other"), shopAdminKey, nil), 403, "forbidden")
		// BUG: ... yet /v1/backup names no dataset, so the dataset check is
		// skipped and the key downloads every dataset, "other" included.
		if r := e.call(t, "GET", "/v1/backup", shopAdminKey, nil); r.status != 403 {
			t.Errorf("GET /v1/backup with an admin key restricted to dataset shop: %d (%d bytes of every dataset), want 403", r.status, len(r.body))
		}
	})

	t.Run("audit", func(t *testing.T) {
		r := e.call(t, "POST", ds("shop")+"/export", exporterKey, `{"q":"age < 30","format":"ndjson"}`)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		n := bytes.Count(r.body, []byte("\n"))
		audits := e.logs.records(t, "export audit")
		a := audits[len(audits)-1]
		if a["key"] != "exporter" || a["profiles"] != float64(n) || a["query"] != "age < 30" || a["dataset"] != "shop" {
			t.Fatalf("audit %v (export had %d lines)", a, n)
		}
		if strings.Contains(e.logs.String(), exporterKey) || strings.Contains(e.logs.String(), rootKey) {
			t.Fatal("a key was logged")
		}
		var reqs int
		for _, l := range e.logs.records(t, "request") {
			if l["key"] == "exporter" {
				reqs++
			}
		}
		if reqs == 0 {
			t.Fatal("request log lines lack the key name")
		}
	})
}

// TestInsecure: New refuses a non-loopback address without keys unless
// Insecure.
func TestInsecure(t *testing.T) {
	st := newEnv(t, server.Config{}) // for a Durable
	for _, c := range []struct {
		addr     string
		keys     *auth.Keys
		insecure bool
		ok       bool
	}{
		{"0.0.0.0:8080", nil, false, false},
		{":8080", nil, false, false},
		{"10.1.2.3:80", nil, false, false},
		{"[::]:80", nil, false, false},
		{"0.0.0.0:8080", &auth.Keys{}, false, false},
		{"0.0.0.0:8080", nil, true, true},
		{"0.0.0.0:8080", parseKeys(t), false, true},
		{"127.0.0.1:8080", nil, false, true},
		{"[::1]:8080", nil, false, true},
		{"localhost:8080", nil, false, true},
		{"", nil, false, true},
	} {
		_, err := server.New(server.Config{Durable: st.dur, Addr: c.addr, Keys: c.keys, Insecure: c.insecure})
		if (err == nil) != c.ok {
			t.Errorf("addr %q keys %d insecure %v: %v", c.addr, c.keys.Len(), c.insecure, err)
		}
	}
	if _, err := server.New(server.Config{}); err == nil {
		t.Error("New without a Durable")
	}
}

// TestHeavyCap: with MaxHeavy 1, while one ingest is held open a second
// ingest or export is refused with 429 and Retry-After; a count is not.
func TestHeavyCap(t *testing.T) {
	e := newEnv(t, server.Config{MaxHeavy: 1, IngestBatch: 1})
	e.createDataset(t, "shop", "", []byte(`{"fields":[{"name":"city","type":"tag"}]}`))

	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	var held reply
	var heldErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		held, heldErr = e.trySend(req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: pr, chunked: true})
	}()
	if _, err := pw.Write([]byte(`{"id":"first","set":{"city":"上海"}}` + "\n")); err != nil {
		t.Fatal(err)
	}
	// The first line is applied while the body is still open: from then
	// on the ingest is inside its handler, holding the one heavy slot.
	waitFor(t, func() bool { return e.count(t, "shop", "", "ALL") == 1 })

	for range 3 {
		r := e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: strings.NewReader(`{"id":"second"}` + "\n")})
		wantError(t, r, 429, "too_many_requests")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		r = e.call(t, "POST", ds("shop")+"/export", "", `{"q":"ALL"}`)
		wantError(t, r, 429, "too_many_requests")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		wantError(t, e.call(t, "GET", "/v1/backup", "", nil), 429, "too_many_requests")
	}
	// light requests go on
	if n := e.count(t, "shop", "", "ALL"); n != 1 {
		t.Fatalf("count %d", n)
	}
	// the refused ingest changed nothing
	if n := e.count(t, "shop", "", "ALL"); n != 1 {
		t.Fatalf("count %d", n)
	}

	if _, err := pw.Write([]byte(`{"id":"third"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	wg.Wait()
	if heldErr != nil {
		t.Fatal(heldErr)
	}
	m := held.obj(t, 200)
	if m["applied"] != float64(2) {
		t.Fatalf("held ingest: %v", m)
	}
	// the slot is free again
	e.ingest(t, "shop", "", []byte(`{"id":"second"}`+"\n"))
	if r := e.call(t, "POST", ds("shop")+"/export", "", `{"q":"ALL"}`); r.status != 200 || string(r.body) != "id\nfirst\nthird\nsecond\n" {
		t.Fatalf("export after the slot was freed: %d %q", r.status, r.body)
	}
	// and stays free: an export's slot is released when its stream ends
	for range 3 {
		if r := e.call(t, "POST", ds("shop")+"/export", "", `{"q":"ALL","format":"ndjson"}`); r.status != 200 {
			t.Fatalf("export: %d", r.status)
		}
	}
}

// waitFor polls cond (a condition, not a duration) for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTimeout: with a tiny time limit, work is stopped with 503 timeout.
func TestTimeout(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.loadShop(t, "shop", "", 300)
	e.stop()
	e2 := startEnv(t, e.dir, server.Config{Timeout: time.Nanosecond})
	for _, p := range []string{"/count", "/query", "/explain", "/export"} {
		r := e2.call(t, "POST", ds("shop")+p, "", `{"q":"city = '上海' OR purchase() IN LAST 30 DAYS"}`)
		ae := wantError(t, r, 503, "timeout")
		_ = ae
	}
	// Refusals that need no work still come first.
	wantError(t, e2.call(t, "POST", ds("shop")+"/count", "", `{"q":"age >"}`), 400, "invalid_query")
	e2.call(t, "GET", "/healthz", "", nil).obj(t, 200)
	if n := len(e2.logs.records(t, "request failed")); n != 0 {
		t.Errorf("timeouts logged as failures: %d", n)
	}
}

// TestIngestLimits: an ingest body over MaxIngestBytes is refused with
// 413 (at once with a Content-Length; when the limit is crossed for a
// chunked body, with what was applied before it said), and the per-line
// error list is bounded while the counts stay exact.
func TestIngestLimits(t *testing.T) {
	e := newEnv(t, server.Config{MaxIngestBytes: 2000, IngestBatch: 5})
	e.createDataset(t, "shop", "", []byte(`{"fields":[{"name":"city","type":"tag"}]}`))
	var body strings.Builder
	for i := range 100 {
		fmt.Fprintf(&body, `{"id":"p%03d","set":{"city":"上海"}}`+"\n", i)
	}
	r := e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: strings.NewReader(body.String())})
	wantError(t, r, 413, "body_too_large")
	if n := e.count(t, "shop", "", "ALL"); n != 0 {
		t.Fatalf("a body refused by its length applied %d lines", n)
	}
	r = e.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: strings.NewReader(body.String()), chunked: true})
	wantError(t, r, 413, "body_too_large")
	var part struct{ Applied, Rejected *int }
	r.decode(t, 413, &part)
	n := e.count(t, "shop", "", "ALL")
	if part.Applied == nil || part.Rejected == nil || uint64(*part.Applied) != n || *part.Rejected != 0 {
		t.Fatalf("count %d after a chunked body over the limit: %s", n, r.body)
	}
	e.call(t, "GET", "/healthz", "", nil).obj(t, 200)

	e2 := newEnv(t, server.Config{})
	e2.createDataset(t, "shop", "", []byte(`{"fields":[{"name":"city","type":"tag"}]}`))
	rep := e2.ingest(t, "shop", "", []byte(strings.Repeat("x\n", 1005)+`{"id":"ok"}`+"\n"))
	if rep.Applied != 1 || rep.Rejected != 1005 || len(rep.Errors) != 1000 || rep.Errors[999].Line != 1000 {
		t.Fatalf("applied %d rejected %d, %d errors", rep.Applied, rep.Rejected, len(rep.Errors))
	}
	var raw map[string]any
	r = e2.send(t, req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: strings.NewReader(strings.Repeat("x\n", 1001))})
	raw = r.obj(t, 200)
	if raw["errors_truncated"] != true {
		t.Fatalf("errors_truncated missing: %v", raw["errors_truncated"])
	}
}

// TestRequestID: a client's X-Request-Id is echoed; otherwise one is made.
func TestRequestID(t *testing.T) {
	e := newEnv(t, server.Config{})
	r := e.send(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "abc-123"}})
	if r.header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
	r2 := e.send(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "has space"}})
	r3 := e.send(t, req{method: "GET", path: "/nope"})
	a, b := r2.header.Get("X-Request-Id"), r3.header.Get("X-Request-Id")
	if a == "" || a == "has space" || b == "" || a == b {
		t.Fatalf("generated ids %q %q", a, b)
	}
	found := false
	for _, l := range e.logs.records(t, "request") {
		if l["request_id"] == "abc-123" && l["route"] == "/healthz" && l["status"] == float64(200) {
			found = true
		}
	}
	if !found {
		t.Fatal("request log line missing")
	}
}

// TestShutdownWithHeldIngest: Shutdown does not wait forever for an
// ingest whose client stopped sending; what was applied before is
// durable, and the server stops cleanly.
func TestShutdownWithHeldIngest(t *testing.T) {
	e := newEnv(t, server.Config{IngestBatch: 1})
	e.createDataset(t, "shop", "", []byte(`{"fields":[{"name":"city","type":"tag"}]}`))
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var held reply
	go func() {
		var err error
		held, err = e.trySend(req{method: "POST", path: ds("shop") + "/ingest", ctype: "application/x-ndjson", body: pr, chunked: true})
		done <- err
	}()
	if _, err := pw.Write([]byte(`{"id":"first","set":{"city":"上海"}}` + "\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.count(t, "shop", "", "ALL") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- e.srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		t.Logf("shutdown: %v", err)
	case <-time.After(15 * time.Second):
		pw.Close()
		t.Fatal("Shutdown hangs on an ingest whose body never ends")
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil && held.status < 400 {
		t.Errorf("the held ingest succeeded after shutdown: %d %s", held.status, held.body)
	}
	e2 := e.restart()
	if n := e2.count(t, "shop", "", "ALL"); n != 1 {
		t.Fatalf("after restart: %d", n)
	}
}

// TestShutdownRacesServe starts servers and stops them at once, as the
// tests' cleanup does for a test that sends nothing: Serve runs on its
// own goroutine, so Shutdown often comes before fasthttp has seen the
// listener, and Serve used to accept forever (TestInsecure hung a run in
// a few). Every stop must return, and Serve with nil.
func TestShutdownRacesServe(t *testing.T) {
	for range 30 {
		e := newEnv(t, server.Config{})
		e.stop()
	}
	srv, err := server.New(server.Config{Durable: newEnv(t, server.Config{}).dur})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}
