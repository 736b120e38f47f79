package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/schema"
)

// maxEventDays bounds the days listed per event value in a profile view:
// the most recent ones.
const maxEventDays = 100

// profileView is the 360° view of one profile.
type profileView struct {
	// Identifiers maps identifier type to values, the latest first;
	// "external" lists the profile's external id first, then those of the
	// profiles merged into it.
	Identifiers map[string][]string        `json:"identifiers"`
	Fields      map[string]json.RawMessage `json:"fields"`
	// Events maps an event field to its values and the days each was seen
	// (most recent first, at most maxEventDays).
	Events   map[string]map[string][]string `json:"events"`
	Segments []string                       `json:"segments"`
	// Merges lists the merges that made this profile, oldest first.
	Merges []engine.MergeRecord `json:"merges"`
}

// profileByID answers GET /v1/datasets/{ds}/profiles/{id_type}/{value}:
// every identifier, field value, recent events and the saved segments the
// profile belongs to. It gives out one person's data, hence the export
// scope.
func (s *Server) profileByID(r *request) error {
	idType, value := r.params["id_type"], r.params["value"]
	if idType != identity.External {
		if err := identity.ValidateType(idType); err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "%v", err)
		}
	}
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	// The lookup, the snapshot and the identity are three steps; a
	// merge landing between them absorbs the row found, and then the
	// lookup is repeated (a merge is rare, two in a row rarer still).
	var (
		sn  *engine.Snapshot
		row uint32
		id  engine.Identity
	)
	for attempt := 0; ; attempt++ {
		var found bool
		row, found = ds.Lookup(idType, value)
		// Taken after the lookup, so a profile just created is in it.
		sn = ds.Snapshot()
		if !found || !sn.All().Contains(row) {
			return errorf(http.StatusNotFound, codeProfileNotFound, "dataset %s has no profile with %s %q", r.dataset, idType, value)
		}
		if id, found = ds.Identity(row); found {
			break
		}
		if attempt == 3 {
			return errorf(http.StatusServiceUnavailable, codeUnavailable, "profile %s %q is being merged; try again", idType, value)
		}
	}
	view := profileView{
		Identifiers: id.IDs,
		Fields:      map[string]json.RawMessage{},
		Events:      map[string]map[string][]string{},
		Segments:    []string{},
		Merges:      inUTC(id.Merges),
	}
	for i := range sn.Fields() {
		fv := &sn.Fields()[i]
		if raw, ok := fieldValue(fv, row); ok {
			view.Fields[fv.Field.Name] = raw
		}
		if fv.Events != nil {
			if days := fv.Events.RowDays(row); len(days) > 0 {
				m := map[string][]string{}
				for v, dd := range days {
					recent := slices.Clone(dd)
					slices.Reverse(recent)
					recent = recent[:min(len(recent), maxEventDays)]
					out := make([]string, len(recent))
					for j, d := range recent {
						out[j] = schema.FormatDay(d)
					}
					m[v] = out
				}
				view.Events[fv.Field.Name] = m
			}
		}
	}
	if err := s.memberOf(r, ds, sn, row, &view); err != nil {
		return err
	}
	return r.reply(http.StatusOK, view)
}

// fieldValue renders row's value of a non-event field.
func fieldValue(fv *engine.FieldView, row uint32) (json.RawMessage, bool) {
	switch {
	case fv.Values != nil:
		vals := fv.Values.RowValues(nil, row)
		if len(vals) == 0 {
			return nil, false
		}
		var b []byte
		if fv.Field.Type == schema.Tag {
			b, _ = json.Marshal(vals[0])
		} else {
			b, _ = json.Marshal(vals)
		}
		return b, true
	case fv.Bool != nil:
		v, ok := fv.Bool.Value(row)
		return json.RawMessage(strconv.FormatBool(v)), ok
	case fv.BSI != nil:
		v, ok := fv.BSI.Value(row)
		if !ok {
			return nil, false
		}
		return renderNumber(fv.Field, v), true
	}
	return nil, false
}

// memberOf lists the saved segments holding row. Each dynamic segment is
// evaluated, so the cost is that of counting every saved segment.
func (s *Server) memberOf(r *request, ds *engine.Dataset, sn *engine.Snapshot, row uint32, view *profileView) error {
	list, err := s.store.Segments(r.dataset)
	if err != nil {
		return err
	}
	for _, g := range list {
		var in bool
		if g.Query == "" {
			in = s.segs.members(ds, sn, g).Contains(row)
		} else {
			q, err := r.compileOn(ds, sn, queryParams{Q: g.Query})
			if err != nil {
				continue // a segment that no longer compiles holds nobody
			}
			b, err := q.Bitmap(r.ctx)
			if err != nil {
				return err
			}
			in = b.Contains(row)
		}
		if in {
			view.Segments = append(view.Segments, g.Name)
		}
	}
	return nil
}

type mergesReply struct {
	Total  int                  `json:"total"`
	Merges []engine.MergeRecord `json:"merges"`
	// Next is the "from" of the following page, absent at the end.
	Next *int `json:"next,omitempty"`
}

// merges answers GET /v1/datasets/{ds}/merges?from=N&limit=M: the merge
// log, oldest first, paged by position.
func (s *Server) merges(r *request) error {
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	args := r.c.QueryArgs()
	from, limit := 0, 100
	for name, p := range map[string]*int{"from": &from, "limit": &limit} {
		if v := args.Peek(name); len(v) > 0 {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 || (name == "limit" && (n < 1 || n > 10000)) {
				return errorf(http.StatusBadRequest, codeBadRequest, "%s must be a whole number (limit 1–10000), not %q", name, v)
			}
			*p = n
		}
	}
	ms, total := ds.Merges(from, limit)
	rep := mergesReply{Total: total, Merges: inUTC(ms)}
	if from+len(ms) < total {
		next := from + len(ms)
		rep.Next = &next
	}
	return r.reply(http.StatusOK, rep)
}

// inUTC returns ms (never nil) with its times in UTC: the engine's clock
// gives them in the server's zone, a checkpoint gives them back in UTC,
// and the same merge must read the same before and after a restart.
func inUTC(ms []engine.MergeRecord) []engine.MergeRecord {
	if ms == nil {
		return []engine.MergeRecord{}
	}
	for i := range ms {
		ms[i].At = ms[i].At.UTC()
	}
	return ms
}
