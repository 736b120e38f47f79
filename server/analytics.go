package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine/analytics"
	"github.com/cohortdb/cohort/engine/exec"
	"github.com/cohortdb/cohort/engine/lookalike"
	"github.com/cohortdb/cohort/server/auth"
	"github.com/cohortdb/cohort/storage"
)

type profileBody struct {
	queryParams
	// By lists the fields to profile (default: every field).
	By []string `json:"by,omitempty"`
	// Top is the number of values per categorical field (default 10).
	Top int `json:"top,omitempty"`
	// Sort orders values by "count" (default) or "tgi".
	Sort string `json:"sort,omitempty"`
	// WindowDays is the event window ending on now (default 30).
	WindowDays int `json:"window_days,omitempty"`
	// Buckets is the number of histogram buckets of numeric fields
	// (default 10).
	Buckets int `json:"buckets,omitempty"`
}

func (s *Server) profile(r *request) error {
	var b profileBody
	if err := r.readJSON(&b); err != nil {
		return err
	}
	if b.Top < 0 || b.Top > 10_000 || b.WindowDays < 0 || b.Buckets < 0 {
		return errorf(http.StatusBadRequest, codeBadRequest, `"top" must be 0–10000, "window_days" and "buckets" not negative`)
	}
	q, sn, err := r.compile(b.queryParams)
	if err != nil {
		return err
	}
	start := s.metrics.now()
	seg, err := q.Bitmap(r.ctx)
	if err != nil {
		return err
	}
	res, err := analytics.Profile(r.ctx, sn, seg, analytics.ProfileOptions{
		Fields: b.By, Top: b.Top, SortBy: b.Sort, Now: q.Now(), WindowDays: b.WindowDays, Buckets: b.Buckets,
	})
	if err != nil {
		return analyticsError(err)
	}
	s.metrics.query("profile", start)
	return r.reply(http.StatusOK, res)
}

// analyticsError makes an error of the analytics layer a 400 unless the
// layers below say otherwise (a timeout stays a timeout).
func analyticsError(err error) error {
	if ae := classify(err); ae.code != codeInternal {
		return ae
	}
	return errorf(http.StatusBadRequest, codeBadRequest, "%v", err)
}

type overlapBody struct {
	// Segments are up to 16 queries (SEGMENT('name') refers to a saved
	// one).
	Segments []string `json:"segments"`
	Now      string   `json:"now,omitempty"`
	AnyValue bool     `json:"any_value,omitempty"`
}

func (s *Server) overlap(r *request) error {
	var b overlapBody
	if err := r.readJSON(&b); err != nil {
		return err
	}
	if len(b.Segments) < 1 || len(b.Segments) > 16 {
		return errorf(http.StatusBadRequest, codeBadRequest, `"segments" must list 1 to 16 queries, not %d`, len(b.Segments))
	}
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	sn := ds.Snapshot()
	start := s.metrics.now()
	bms := make([]*roaring.Bitmap, len(b.Segments))
	for i, text := range b.Segments {
		q, err := r.compileOn(ds, sn, queryParams{Q: text, Now: b.Now, AnyValue: b.AnyValue})
		if err != nil {
			return fmt.Errorf("segments[%d]: %w", i, err)
		}
		if bms[i], err = q.Bitmap(r.ctx); err != nil {
			return err
		}
	}
	res, err := analytics.Overlap(r.ctx, bms)
	if err != nil {
		return analyticsError(err)
	}
	s.metrics.query("overlap", start)
	return r.reply(http.StatusOK, struct {
		Segments []string `json:"segments"`
		*analytics.OverlapResult
	}{b.Segments, res})
}

// orderedGroups reads {"A":45,"B":45,"holdout":10} keeping the order the
// client wrote, which is the order of the groups in the reply.
type orderedGroups []analytics.Group

func (g *orderedGroups) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf(`"groups" must be an object of group names and percentages, e.g. {"A":50,"B":50}`)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		var pct float64
		if err := dec.Decode(&pct); err != nil {
			return fmt.Errorf(`"groups": the percentage of %q must be a number`, name)
		}
		*g = append(*g, analytics.Group{Name: name, Percent: pct})
	}
	return nil
}

type splitBody struct {
	queryParams
	Groups orderedGroups `json:"groups"`
	Salt   string        `json:"salt"`
	// Cap keeps at most this many profiles over all groups; CapBy chooses
	// them: "random" (default, a stable random sample) or a numeric field
	// (its largest values).
	Cap   uint64 `json:"cap,omitempty"`
	CapBy string `json:"cap_by,omitempty"`
	// SaveAs saves each group as the materialised segment
	// <save_as>_<group name> (needs the write scope).
	SaveAs string `json:"save_as,omitempty"`
}

type splitGroup struct {
	analytics.GroupResult
	Segment string `json:"segment,omitempty"`
}

func (s *Server) split(r *request) error {
	var b splitBody
	if err := r.readJSON(&b); err != nil {
		return err
	}
	if len(b.Groups) == 0 {
		return errorf(http.StatusBadRequest, codeBadRequest, `"groups" is required, e.g. {"A":45,"B":45,"holdout":10}`)
	}
	if b.SaveAs != "" {
		if err := r.need(auth.Write); err != nil {
			return err
		}
	}
	q, sn, err := r.compile(b.queryParams)
	if err != nil {
		return err
	}
	start := s.metrics.now()
	seg, err := q.Bitmap(r.ctx)
	if err != nil {
		return err
	}
	groups, err := analytics.Split(r.ctx, sn, seg, analytics.SplitOptions{Groups: b.Groups, Salt: b.Salt, Cap: b.Cap, CapBy: b.CapBy})
	if err != nil {
		return analyticsError(err)
	}
	s.metrics.query("split", start)
	out := make([]splitGroup, len(groups))
	for i, g := range groups {
		out[i] = splitGroup{GroupResult: g}
		if b.SaveAs != "" {
			out[i].Segment = b.SaveAs + "_" + g.Name
		}
	}
	if b.SaveAs != "" {
		// Checked all first, so a bad name saves none of them.
		for _, g := range out {
			if err := storage.ValidateSegmentName(g.Segment); err != nil {
				return errorf(http.StatusBadRequest, codeInvalidSegment, "save_as: %v", err)
			}
		}
		for _, g := range out {
			desc := fmt.Sprintf("split %q of %q, group %s (%.4g%%, salt %q)", b.SaveAs, b.Q, g.Name, g.Percent, b.Salt)
			if err := s.store.PutSegment(r.ctx, r.dataset, storage.Segment{Name: g.Segment, Rows: g.Rows, Description: desc}); err != nil {
				return err
			}
			s.segs.forgetOne(r.dataset, g.Segment)
		}
	}
	return r.reply(http.StatusOK, struct {
		Count  uint64       `json:"count"`
		Salt   string       `json:"salt"`
		Groups []splitGroup `json:"groups"`
	}{seg.GetCardinality(), b.Salt, out})
}

type lookalikeBody struct {
	// Seed is the query of the audience to grow.
	Seed string `json:"seed"`
	// Size is how many profiles to find (besides the seed).
	Size int `json:"size"`
	// Universe limits where they come from (default ALL; the seed is
	// always left out).
	Universe string `json:"universe,omitempty"`
	Now      string `json:"now,omitempty"`
	AnyValue bool   `json:"any_value,omitempty"`
	// Limit is how many of the best ids to return (default 100).
	Limit *int `json:"limit,omitempty"`
	// SaveAs saves the expanded audience as a materialised segment
	// (needs the write scope).
	SaveAs      string `json:"save_as,omitempty"`
	WindowDays  int    `json:"window_days,omitempty"`
	MaxFeatures int    `json:"max_features,omitempty"`
	// Model is "naive_bayes" (default) or "logistic" (slower, a few
	// points more precise in the evaluation).
	Model string `json:"model,omitempty"`
}

func (s *Server) lookalike(r *request) error {
	var b lookalikeBody
	if err := r.readJSON(&b); err != nil {
		return err
	}
	if b.Size <= 0 {
		return errorf(http.StatusBadRequest, codeBadRequest, `"size" must be a positive number of profiles`)
	}
	limit, err := pageLimit(b.Limit)
	if err != nil {
		return err
	}
	if b.SaveAs != "" {
		if err := r.need(auth.Write); err != nil {
			return err
		}
		if err := storage.ValidateSegmentName(b.SaveAs); err != nil {
			return errorf(http.StatusBadRequest, codeInvalidSegment, "save_as: %v", err)
		}
	}
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	sn := ds.Snapshot()
	seedQ, err := r.compileOn(ds, sn, queryParams{Q: b.Seed, Now: b.Now, AnyValue: b.AnyValue})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	start := s.metrics.now()
	seed, err := seedQ.Bitmap(r.ctx)
	if err != nil {
		return err
	}
	var universe *roaring.Bitmap
	if b.Universe != "" {
		uq, err := r.compileOn(ds, sn, queryParams{Q: b.Universe, Now: b.Now, AnyValue: b.AnyValue})
		if err != nil {
			return fmt.Errorf("universe: %w", err)
		}
		if universe, err = uq.Bitmap(r.ctx); err != nil {
			return err
		}
	}
	res, err := lookalike.Expand(r.ctx, sn, seed, lookalike.Options{
		Size: b.Size, Universe: universe, ExcludeFields: seedFields(seedQ),
		Now: seedQ.Now(), WindowDays: b.WindowDays, MaxFeatures: b.MaxFeatures, Model: b.Model,
	})
	if err != nil {
		return analyticsError(err)
	}
	s.metrics.query("lookalike", start)
	ids := make([]string, 0, min(limit, len(res.Ranked)))
	for _, row := range res.Ranked[:min(limit, len(res.Ranked))] {
		ids = append(ids, sn.ExternalID(row))
	}
	if b.SaveAs != "" {
		desc := fmt.Sprintf("lookalike of %q, %d profiles", b.Seed, res.Rows.GetCardinality())
		if err := s.store.PutSegment(r.ctx, r.dataset, storage.Segment{Name: b.SaveAs, Rows: res.Rows, Description: desc}); err != nil {
			return err
		}
		s.segs.forgetOne(r.dataset, b.SaveAs)
	}
	return r.reply(http.StatusOK, struct {
		Count      uint64              `json:"count"`
		Seed       uint64              `json:"seed"`
		Candidates uint64              `json:"candidates"`
		Features   []lookalike.Feature `json:"features"`
		IDs        []string            `json:"ids"`
		SavedAs    string              `json:"saved_as,omitempty"`
	}{res.Rows.GetCardinality(), res.SeedSize, res.Candidates, res.Features, ids, b.SaveAs})
}

// seedFields are the fields the seed query uses: a lookalike that
// rediscovered them would only echo the query.
func seedFields(q *exec.Query) []string { return lookalike.QueryFields(q.Checked.Root) }

// need checks an extra scope a request needs for an option it uses.
func (r *request) need(scope auth.Scope) error {
	if r.key == nil || r.key.Allows(scope) {
		return nil
	}
	return errorf(http.StatusForbidden, codeForbidden, "key %q lacks the %q scope needed for save_as", r.key.Name, scope)
}
