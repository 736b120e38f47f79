package server

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/schema"
)

// queryParams are the fields every query request shares.
type queryParams struct {
	// Q is the segment query.
	Q string `json:"q"`
	// Now is the day relative windows end on (YYYY-MM-DD or an RFC 3339
	// time, read in the dataset's time zone); default today there.
	Now string `json:"now,omitempty"`
	// AnyValue lets values the dataset has never held match nobody
	// instead of being refused with suggestions.
	AnyValue bool `json:"any_value,omitempty"`
}

// compile parses, checks and plans p against the dataset's current
// snapshot.
func (r *request) compile(p queryParams) (*exec.Query, *engine.Snapshot, error) {
	ds, err := r.datasetOf()
	if err != nil {
		return nil, nil, err
	}
	sn := ds.Snapshot()
	q, err := r.compileOn(ds, sn, p)
	return q, sn, err
}

func (r *request) compileOn(ds *engine.Dataset, sn *engine.Snapshot, p queryParams) (*exec.Query, error) {
	return r.compileOnWith(ds, sn, p, nil)
}

// compileOnWith compiles with segs resolving SEGMENT('name'); nil means
// the dataset's saved segments, and allows the query cache.
func (r *request) compileOnWith(ds *engine.Dataset, sn *engine.Snapshot, p queryParams, segs exec.Segments) (*exec.Query, error) {
	if strings.TrimSpace(p.Q) == "" {
		return nil, errorf(http.StatusBadRequest, codeInvalidQuery, `"q" is required: the segment query, e.g. "city = '上海'" (ALL selects every profile)`)
	}
	now, err := parseNow(sn, p.Now)
	if err != nil {
		return nil, err
	}
	key := queryKey{dataset: ds.Name(), text: p.Q, now: now, anyValue: p.AnyValue}
	cacheable := segs == nil
	if cacheable {
		if q := r.s.queries.get(key, sn); q != nil {
			return q, nil
		}
		// The resolver reads the store only if the query names a segment.
		segs = r.s.segs.resolver(r.ctx, r.s.store, ds, sn, nil)
	}
	q, err := exec.Compile(sn, p.Q, exec.Options{Limits: r.s.cfg.Limits, AnyValue: p.AnyValue, Segments: segs, Now: &now})
	if err != nil {
		return nil, err
	}
	if cacheable {
		r.s.queries.put(key, q)
	}
	return q, nil
}

// parseNow reads a request's "now": a date, or an RFC 3339 time read in
// the dataset's time zone; "" is today there.
func parseNow(sn *engine.Snapshot, text string) (schema.Day, error) {
	if text == "" {
		return sn.Today(), nil
	}
	d, err := schema.ParseDayOrTime(text, sn.Schema().Location())
	if err != nil {
		return 0, errorf(http.StatusBadRequest, codeBadRequest, `"now" must be a date YYYY-MM-DD or an RFC 3339 time: %v`, err)
	}
	return d, nil
}

func checkNow(sn *engine.Snapshot, text string) error {
	_, err := parseNow(sn, text)
	return err
}

// readCompiled reads a body of queryParams and compiles it.
func (r *request) readCompiled() (*exec.Query, error) {
	var p queryParams
	if err := r.readJSON(&p); err != nil {
		return nil, err
	}
	q, _, err := r.compile(p)
	return q, err
}

func (s *Server) count(r *request) error {
	q, err := r.readCompiled()
	if err != nil {
		return err
	}
	start := s.metrics.now()
	n, err := q.Count(r.ctx)
	if err != nil {
		return err
	}
	s.metrics.query("count", start)
	return r.reply(http.StatusOK, struct {
		Count uint64 `json:"count"`
	}{n})
}

type queryPage struct {
	queryParams
	// Limit is the page size (default 100, at most 10,000).
	Limit *int `json:"limit,omitempty"`
	// Cursor continues from where the previous page ended.
	Cursor string `json:"cursor,omitempty"`
}

const (
	defaultPage = 100
	maxPage     = 10_000
)

func (s *Server) query(r *request) error {
	var p queryPage
	if err := r.readJSON(&p); err != nil {
		return err
	}
	limit, err := pageLimit(p.Limit)
	if err != nil {
		return err
	}
	from, err := decodeCursor(p.Cursor)
	if err != nil {
		return err
	}
	q, sn, err := r.compile(p.queryParams)
	if err != nil {
		return err
	}
	start := s.metrics.now()
	b, err := q.Bitmap(r.ctx)
	if err != nil {
		return err
	}
	s.metrics.query("query", start)
	ids := make([]string, 0, min(uint64(limit), b.GetCardinality()))
	it := b.Iterator()
	it.AdvanceIfNeeded(from)
	for len(ids) < limit && it.HasNext() {
		ids = append(ids, sn.ExternalID(it.Next()))
	}
	next := ""
	if it.HasNext() {
		next = encodeCursor(it.PeekNext())
	}
	return r.reply(http.StatusOK, struct {
		Count  uint64   `json:"count"`
		IDs    []string `json:"ids"`
		Cursor string   `json:"cursor"`
	}{b.GetCardinality(), ids, next})
}

// pageLimit reads an optional page size.
func pageLimit(limit *int) (int, error) {
	if limit == nil {
		return defaultPage, nil
	}
	if *limit < 0 || *limit > maxPage {
		return 0, errorf(http.StatusBadRequest, codeBadRequest, `"limit" must be from 0 to %d, not %d`, maxPage, *limit)
	}
	return *limit, nil
}

// A cursor is the row the next page starts at. Rows never move, so a
// cursor stays meaningful while ingest goes on: the next page holds the
// profiles after the previous page's that match the query now. It is
// opaque to clients (versioned, base64) so it can change form later.
const cursorPrefix = "r1:"

func encodeCursor(row uint32) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatUint(uint64(row), 10)))
}

func decodeCursor(c string) (uint32, error) {
	if c == "" {
		return 0, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil && strings.HasPrefix(string(raw), cursorPrefix) {
		if n, err := strconv.ParseUint(string(raw[len(cursorPrefix):]), 10, 32); err == nil {
			return uint32(n), nil
		}
	}
	return 0, errorf(http.StatusBadRequest, codeBadRequest, `"cursor" is not a cursor this server returned`)
}

func (s *Server) explain(r *request) error {
	q, err := r.readCompiled()
	if err != nil {
		return err
	}
	start := s.metrics.now()
	e, err := q.Explain(r.ctx)
	if err != nil {
		return err
	}
	s.metrics.query("explain", start)
	return r.reply(http.StatusOK, struct {
		*exec.Explanation
		Text string `json:"text"`
	}{e, e.Text()})
}
