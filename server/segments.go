package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/storage"
)

// segmentCache keeps the rows of materialised segments, which are stored
// as external ids: mapping a million ids to rows on every query would
// cost more than the query.
type segmentCache struct {
	mu      sync.Mutex
	entries map[segmentKey]*segmentRows
}

type segmentKey struct{ dataset, name string }

type segmentRows struct {
	created time.Time // of the stored segment: a replaced segment has another
	rows    *roaring.Bitmap
	missing int    // ids not (yet) in the dataset
	at      uint32 // the dataset's rows when resolved
}

func newSegmentCache() *segmentCache {
	return &segmentCache{entries: map[segmentKey]*segmentRows{}}
}

// members returns the rows of a materialised segment as of sn (shared,
// read-only). Ids missing when last resolved are looked up again once the
// dataset has grown, since those profiles may have arrived.
func (c *segmentCache) members(ds *engine.Dataset, sn *engine.Snapshot, g storage.Segment) *roaring.Bitmap {
	k := segmentKey{ds.Name(), g.Name}
	c.mu.Lock()
	e := c.entries[k]
	c.mu.Unlock()
	if e == nil || !e.created.Equal(g.Created) || (e.missing > 0 && sn.Rows() > e.at) {
		at := sn.Rows()
		rows, missing := g.Rows, 0
		if rows == nil {
			rows, missing = ds.LookupRows(g.Members)
		}
		e = &segmentRows{created: g.Created, rows: rows, missing: missing, at: at}
		c.mu.Lock()
		c.entries[k] = e
		c.mu.Unlock()
	}
	if e.rows.IsEmpty() || e.rows.Maximum() < sn.Rows() {
		return e.rows
	}
	// An older snapshot than the rows were resolved against: cut.
	cut := e.rows.Clone()
	cut.RemoveRange(uint64(sn.Rows()), uint64(1)<<32)
	return cut
}

func (c *segmentCache) forget(dataset string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.dataset == dataset {
			delete(c.entries, k)
		}
	}
}

func (c *segmentCache) forgetOne(dataset, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, segmentKey{dataset, name})
}

// resolver answers SEGMENT('name') from the store, with override standing
// in for a segment being saved (so a cycle through it is found first).
type resolver struct {
	ctx      context.Context
	store    *storage.Store
	cache    *segmentCache
	ds       *engine.Dataset
	sn       *engine.Snapshot
	override *storage.Segment
}

func (c *segmentCache) resolver(ctx context.Context, st *storage.Store, ds *engine.Dataset, sn *engine.Snapshot, override *storage.Segment) exec.Segments {
	return &resolver{ctx: ctx, store: st, cache: c, ds: ds, sn: sn, override: override}
}

func (rv *resolver) Segment(name string) (exec.Saved, bool) {
	var g storage.Segment
	if rv.override != nil && rv.override.Name == name {
		g = *rv.override
	} else {
		var err error
		if g, err = rv.store.Segment(rv.ds.Name(), name); err != nil {
			return exec.Saved{}, false
		}
	}
	if g.Query != "" {
		return exec.Saved{Query: g.Query}, true
	}
	return exec.Saved{Members: rv.cache.members(rv.ds, rv.sn, g)}, true
}

// segmentBody is the body of PUT …/segments/{name}: a query or a member
// list.
type segmentBody struct {
	Q           string   `json:"q,omitempty"`
	Members     []string `json:"members,omitempty"`
	Description string   `json:"description,omitempty"`
	// Now is the day relative windows end on for the count in the reply.
	Now string `json:"now,omitempty"`
}

// segmentInfo describes a saved segment.
type segmentInfo struct {
	Name        string    `json:"name"`
	Kind        string    `json:"kind"` // dynamic or materialised
	Q           string    `json:"q,omitempty"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	// Members is the length of a materialised segment's list; Missing
	// counts the ids in it that no profile of the dataset has (yet).
	Members *int   `json:"members,omitempty"`
	Missing *int   `json:"missing,omitempty"`
	Count   uint64 `json:"count"`
	// Error says why a stored dynamic segment no longer counts (e.g. a
	// field it uses was dropped).
	Error string `json:"error,omitempty"`
}

func (s *Server) putSegment(r *request) error {
	var b segmentBody
	if err := r.readJSON(&b); err != nil {
		return err
	}
	name := r.params["name"]
	if (b.Q == "") == (len(b.Members) == 0) {
		return errorf(http.StatusBadRequest, codeInvalidSegment, `a segment needs exactly one of "q" (a query, kept dynamic) or "members" (a list of external ids)`)
	}
	for i, id := range b.Members {
		if id == "" || len(id) > 1024 || !utf8.ValidString(id) {
			return errorf(http.StatusBadRequest, codeInvalidSegment, "members[%d] must be a non-empty external id of at most 1024 bytes", i)
		}
	}
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	sn := ds.Snapshot()
	g := storage.Segment{Name: name, Query: b.Q, Members: b.Members, Description: b.Description, Created: time.Now().UTC()}
	if err := g.Validate(); err != nil {
		return errorf(http.StatusBadRequest, codeInvalidSegment, "%v", err)
	}
	if err := checkNow(sn, b.Now); err != nil {
		return err
	}
	info, err := s.segmentInfo(r, ds, sn, g, queryParams{Q: b.Q, Now: b.Now}, &g)
	if err != nil {
		return err // a query that does not compile is not stored
	}
	_, getErr := s.store.Segment(r.dataset, name)
	if err := s.store.PutSegment(r.ctx, r.dataset, g); err != nil {
		return err
	}
	s.segs.forgetOne(r.dataset, name)
	status := http.StatusOK
	if errors.Is(getErr, storage.ErrSegmentNotFound) {
		status = http.StatusCreated
	}
	return r.reply(status, info)
}

// segmentInfo counts g. For a dynamic segment, a query error is returned
// when strict, else reported in the info.
func (s *Server) segmentInfo(r *request, ds *engine.Dataset, sn *engine.Snapshot, g storage.Segment, p queryParams, override *storage.Segment) (segmentInfo, error) {
	info := segmentInfo{Name: g.Name, Q: g.Query, Description: g.Description, Created: g.Created}
	switch {
	case g.Rows != nil:
		info.Kind = "materialised"
		n, missing := int(g.Rows.GetCardinality()), 0
		info.Members, info.Missing, info.Count = &n, &missing, s.segs.members(ds, sn, g).GetCardinality()
		return info, nil
	case g.Query == "":
		info.Kind = "materialised"
		rows, missing := ds.LookupRows(g.Members)
		n := len(g.Members)
		info.Members, info.Missing, info.Count = &n, &missing, rows.GetCardinality()
		return info, nil
	}
	info.Kind = "dynamic"
	p.Q = g.Query
	q, err := r.compileWith(ds, sn, p, override)
	if err == nil {
		info.Count, err = q.Count(r.ctx)
	}
	if err != nil {
		if override != nil {
			return info, err
		}
		info.Error = classify(err).msg
	}
	return info, nil
}

func (r *request) compileWith(ds *engine.Dataset, sn *engine.Snapshot, p queryParams, override *storage.Segment) (*exec.Query, error) {
	if override == nil {
		return r.compileOn(ds, sn, p)
	}
	return r.compileOnWith(ds, sn, p, r.s.segs.resolver(r.ctx, r.s.store, ds, sn, override))
}

func (s *Server) getSegment(r *request) error {
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	g, err := s.store.Segment(r.dataset, r.params["name"])
	if err != nil {
		return err
	}
	now := string(r.c.QueryArgs().Peek("now"))
	if err := checkNow(ds.Snapshot(), now); err != nil {
		return err
	}
	info, err := s.segmentInfo(r, ds, ds.Snapshot(), g, queryParams{Now: now}, nil)
	if err != nil {
		return err
	}
	return r.reply(http.StatusOK, info)
}

func (s *Server) listSegments(r *request) error {
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	list, err := s.store.Segments(r.dataset)
	if err != nil {
		return err
	}
	sn := ds.Snapshot()
	now := string(r.c.QueryArgs().Peek("now"))
	if err := checkNow(sn, now); err != nil {
		return err
	}
	out := []segmentInfo{}
	for _, g := range list {
		info, err := s.segmentInfo(r, ds, sn, g, queryParams{Now: now}, nil)
		if err != nil {
			return err
		}
		out = append(out, info)
	}
	return r.reply(http.StatusOK, map[string]any{"segments": out})
}

func (s *Server) deleteSegment(r *request) error {
	if _, err := r.datasetOf(); err != nil {
		return err
	}
	name := r.params["name"]
	if err := s.store.DeleteSegment(r.ctx, r.dataset, name); err != nil {
		return err
	}
	s.segs.forgetOne(r.dataset, name)
	return r.reply(http.StatusOK, map[string]any{"deleted": name})
}
