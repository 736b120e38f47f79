package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/reference"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/server"
	"github.com/cohortdb/cohort/server/auth"
	"github.com/cohortdb/cohort/storage"
)

// testNow is the fixed clock of every test engine: midday of the
// generator's reference day in its time zone, so no generated event has
// expired and "today" is 2026-11-22.
var testNow = gen.DefaultNow().Add(12 * time.Hour)

// syncBuffer is a log sink the test can read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns the JSON log records whose message is msg.
func (b *syncBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// env is a real server on a loopback port over a store in a temporary
// directory.
type env struct {
	t      *testing.T
	cfg    server.Config
	dir    string
	st     *storage.Store
	dur    *storage.Durable
	srv    *server.Server
	base   string
	logs   *syncBuffer
	client *http.Client
	done   chan error
	once   sync.Once
}

// newEnv starts a server with cfg (Durable, Addr and Logger are filled
// in) over a fresh directory.
func newEnv(t *testing.T, cfg server.Config) *env {
	t.Helper()
	return startEnv(t, t.TempDir(), cfg)
}

// startEnv starts a server over the store in dir, recovering what it
// holds.
func startEnv(t *testing.T, dir string, cfg server.Config) *env {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Clock: func() time.Time { return testNow }})
	if _, err := st.Recover(context.Background(), eng); err != nil {
		st.Close()
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, st: st, dur: storage.NewDurable(st, eng), logs: &syncBuffer{}, done: make(chan error, 1)}
	cfg.Durable = e.dur
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(e.logs, nil))
	e.cfg = cfg
	srv, err := server.New(cfg)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	e.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	e.base = "http://" + ln.Addr().String()
	go func() { e.done <- srv.Serve(ln) }()
	e.client = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}}
	t.Cleanup(e.stop)
	return e
}

// stop shuts the server down and closes the store (once).
func (e *env) stop() {
	e.once.Do(func() {
		e.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			e.t.Errorf("shutdown: %v", err)
		}
		if err := <-e.done; err != nil {
			e.t.Errorf("serve: %v", err)
		}
		if err := e.st.Close(); err != nil {
			e.t.Errorf("closing the store: %v", err)
		}
	})
}

// restart stops the server and starts a new one (new store handle, new
// engine recovered from disk) over the same directory and config.
func (e *env) restart() *env {
	e.t.Helper()
	e.stop()
	cfg := e.cfg
	cfg.Durable, cfg.Logger = nil, nil
	return startEnv(e.t, e.dir, cfg)
}

// reply is a response, body read in full.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// req describes a request.
type req struct {
	method, path string
	ctype        string    // "" = none
	body         io.Reader // nil = none
	key          string
	chunked      bool // send the body without a Content-Length
	header       map[string]string
}

func (e *env) send(t *testing.T, r req) reply {
	t.Helper()
	rep, err := e.trySend(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return rep
}

func (e *env) trySend(r req) (reply, error) {
	body := r.body
	if r.chunked && body != nil {
		body = io.NopCloser(body) // hides the length: net/http sends it chunked
	}
	hr, err := http.NewRequest(r.method, e.base+r.path, body)
	if err != nil {
		return reply{}, err
	}
	if r.chunked {
		hr.ContentLength = -1
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.client.Do(hr)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// call sends v (JSON-encoded unless it is a string or []byte) as an
// application/json body.
func (e *env) call(t *testing.T, method, path, key string, v any) reply {
	t.Helper()
	var body io.Reader
	ctype := ""
	if v != nil {
		body, ctype = bytes.NewReader(jsonBytes(t, v)), "application/json"
	}
	return e.send(t, req{method: method, path: path, ctype: ctype, body: body, key: key})
}

func jsonBytes(t *testing.T, v any) []byte {
	switch b := v.(type) {
	case []byte:
		return b
	case string:
		return []byte(b)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// obj decodes a JSON object reply, failing unless its status is want.
func (r reply) obj(t *testing.T, want int) map[string]any {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, trim(r.body))
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("reply is not a JSON object: %v: %s", err, trim(r.body))
	}
	return m
}

// decode decodes a reply with status want into v.
func (r reply) decode(t *testing.T, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, trim(r.body))
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("cannot decode reply: %v: %s", err, trim(r.body))
	}
}

func trim(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// apiErr is the error body of DESIGN §3.
type apiErr struct {
	Code    string
	Message string
	Line    int
	Column  int
}

// wantError checks that r is an error of the DESIGN shape with status
// and code, and returns it.
func wantError(t *testing.T, r reply, status int, code string) apiErr {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d (%s); body: %s", r.status, status, code, trim(r.body))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, trim(r.body))
	}
	for k := range top {
		// applied and rejected: what an ingest that failed part-way did
		if k != "error" && k != "took_us" && k != "applied" && k != "rejected" {
			t.Fatalf("error body has unexpected key %q: %s", k, r.body)
		}
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		t.Fatalf(`"error" is not an object: %s`, r.body)
	}
	for k := range inner {
		switch k {
		case "code", "message", "line", "column":
		default:
			t.Fatalf("error object has unexpected key %q: %s", k, r.body)
		}
	}
	var e struct {
		Code    *string `json:"code"`
		Message *string `json:"message"`
		Line    int     `json:"line"`
		Column  int     `json:"column"`
	}
	if err := json.Unmarshal(top["error"], &e); err != nil {
		t.Fatalf("bad error object: %v: %s", err, r.body)
	}
	if e.Code == nil || e.Message == nil || *e.Message == "" {
		t.Fatalf("error needs a code and a non-empty message: %s", r.body)
	}
	if *e.Code != code {
		t.Fatalf("error code %q, want %q; body: %s", *e.Code, code, r.body)
	}
	return apiErr{*e.Code, *e.Message, e.Line, e.Column}
}

// ingestReply is the reply of the ingest endpoint.
type ingestReply struct {
	Applied  int       `json:"applied"`
	Rejected int       `json:"rejected"`
	Created  int       `json:"created"`
	Merged   int       `json:"merged"`
	Errors   []lineErr `json:"errors"`
}

type lineErr struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e *env) ingest(t *testing.T, ds, key string, ndjson []byte) ingestReply {
	t.Helper()
	r := e.send(t, req{method: "POST", path: "/v1/datasets/" + ds + "/ingest", ctype: "application/x-ndjson", body: bytes.NewReader(ndjson), key: key})
	var rep ingestReply
	r.decode(t, http.StatusOK, &rep)
	if rep.Errors == nil {
		t.Fatalf(`ingest reply has no "errors" list: %s`, r.body)
	}
	return rep
}

func (e *env) createDataset(t *testing.T, ds, key string, sc []byte) {
	t.Helper()
	r := e.send(t, req{method: "PUT", path: "/v1/datasets/" + ds, ctype: "application/json", body: bytes.NewReader(sc), key: key})
	if r.status != http.StatusCreated {
		t.Fatalf("creating %s: %d %s", ds, r.status, trim(r.body))
	}
}

// count runs a count and returns its result.
func (e *env) count(t *testing.T, ds, key, q string) uint64 {
	t.Helper()
	return e.countBody(t, ds, key, map[string]any{"q": q})
}

func (e *env) countBody(t *testing.T, ds, key string, body any) uint64 {
	t.Helper()
	var out struct {
		Count *uint64 `json:"count"`
		Took  *int64  `json:"took_us"`
	}
	e.call(t, "POST", "/v1/datasets/"+ds+"/count", key, body).decode(t, http.StatusOK, &out)
	if out.Count == nil || out.Took == nil {
		t.Fatalf("count reply lacks count or took_us")
	}
	return *out.Count
}

// genLines returns n generated profiles as NDJSON lines (with their
// newlines), ids prefix000000000 on.
func genLines(n int, seed int64, prefix string) [][]byte {
	g := gen.New(gen.Options{Profiles: n, Seed: seed, IDPrefix: prefix})
	var out [][]byte
	for {
		b, ok := g.Next(nil)
		if !ok {
			return out
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			out = append(out, append(append([]byte(nil), sc.Bytes()...), '\n'))
		}
	}
}

func joinLines(lines [][]byte) []byte { return bytes.Join(lines, nil) }

// shop is a dataset loaded with generated profiles, with a reference
// model of the same lines.
type shop struct {
	name  string
	lines [][]byte
	model *reference.Model
	sc    *schema.Schema
}

const shopProfiles = 1500

// loadShop creates dataset name from the generator's schema and ingests
// n generated profiles through the HTTP API.
func (e *env) loadShop(t *testing.T, name, key string, n int) *shop {
	t.Helper()
	e.createDataset(t, name, key, gen.SchemaJSON())
	lines := genLines(n, 7, "")
	rep := e.ingest(t, name, key, joinLines(lines))
	if rep.Applied != n || rep.Rejected != 0 {
		t.Fatalf("loading %s: applied %d rejected %d, want %d/0: %+v", name, rep.Applied, rep.Rejected, n, rep.Errors)
	}
	sc, err := schema.Parse(gen.SchemaJSON())
	if err != nil {
		t.Fatal(err)
	}
	model := reference.New(sc)
	today := schema.DayOf(testNow, sc.Location())
	for _, l := range lines {
		u, err := record.Decode(bytes.TrimSpace(l), sc)
		if err != nil {
			t.Fatal(err)
		}
		model.Apply(u, today)
	}
	return &shop{name: name, lines: lines, model: model, sc: sc}
}

// apply applies one ingest line to the reference model.
func (s *shop) apply(t *testing.T, line string) {
	t.Helper()
	u, err := record.Decode([]byte(line), s.sc)
	if err != nil {
		t.Fatal(err)
	}
	s.model.Apply(u, schema.DayOf(testNow, s.sc.Location()))
}

// expectIDs evaluates text row by row in the reference model as of now
// ("" = today) and returns the matching external ids in row order.
func (e *env) expectIDs(t *testing.T, s *shop, text, now string) []string {
	t.Helper()
	ds, err := e.dur.Engine().Dataset(s.name)
	if err != nil {
		t.Fatal(err)
	}
	sn := ds.Snapshot()
	day := schema.DayOf(testNow, s.sc.Location())
	if now != "" {
		if day, err = schema.ParseDayOrTime(now, s.sc.Location()); err != nil {
			t.Fatal(err)
		}
	}
	q, err := exec.Compile(sn, text, exec.Options{Now: &day})
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	rows, err := (&reference.Query{M: s.model, Now: day}).Rows(q.Checked)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = s.model.Profiles[r].ID
	}
	return ids
}

// queryAll walks every page of a query and returns the ids in order.
func (e *env) queryAll(t *testing.T, ds, key string, body map[string]any, limit int) (ids []string, pages int) {
	t.Helper()
	cursor := ""
	var total *uint64
	for pages = 1; pages < 100000; pages++ {
		b := map[string]any{"limit": limit, "cursor": cursor}
		for k, v := range body {
			b[k] = v
		}
		var page struct {
			Count  uint64   `json:"count"`
			IDs    []string `json:"ids"`
			Cursor *string  `json:"cursor"`
		}
		e.call(t, "POST", "/v1/datasets/"+ds+"/query", key, b).decode(t, http.StatusOK, &page)
		if page.IDs == nil || page.Cursor == nil {
			t.Fatalf("query page lacks ids or cursor")
		}
		if total == nil {
			total = &page.Count
		} else if *total != page.Count {
			t.Fatalf("count changed between pages: %d then %d", *total, page.Count)
		}
		if len(page.IDs) > limit {
			t.Fatalf("page of %d ids, limit %d", len(page.IDs), limit)
		}
		ids = append(ids, page.IDs...)
		if *page.Cursor == "" {
			if uint64(len(ids)) != *total {
				t.Fatalf("walked %d ids, count says %d", len(ids), *total)
			}
			return ids, pages
		}
		if len(page.IDs) != limit {
			t.Fatalf("short page (%d of %d) with a cursor", len(page.IDs), limit)
		}
		cursor = *page.Cursor
	}
	t.Fatal("query pages never end")
	return nil, 0
}

// keyFile is the key file of the auth tests.
const keyFile = `{"keys": [
  {"name": "root", "key": "root-key-0123456789", "scopes": ["admin"]},
  {"name": "reader", "key": "reader-key-0123456789", "scopes": ["read"]},
  {"name": "writer", "key": "writer-key-0123456789", "scopes": ["write"]},
  {"name": "exporter", "key": "exporter-key-0123456789", "scopes": ["read", "export"]},
  {"name": "shop-only", "key": "shoponly-key-0123456789", "scopes": ["read", "write", "export"], "datasets": ["shop"]},
  {"name": "other-only", "key": "otheronly-key-0123456789", "scopes": ["read", "write", "export"], "datasets": ["other"]},
  {"name": "shop-admin", "key": "shopadmin-key-0123456789", "scopes": ["admin"], "datasets": ["shop"]}
]}`

const (
	rootKey      = "root-key-0123456789"
	readerKey    = "reader-key-0123456789"
	writerKey    = "writer-key-0123456789"
	exporterKey  = "exporter-key-0123456789"
	shopOnlyKey  = "shoponly-key-0123456789"
	otherOnlyKey = "otheronly-key-0123456789"
	shopAdminKey = "shopadmin-key-0123456789"
)

func parseKeys(t *testing.T) *auth.Keys {
	t.Helper()
	ks, err := auth.Parse([]byte(keyFile))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func ds(name string) string { return "/v1/datasets/" + name }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
