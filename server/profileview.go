package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

// maxEventDays bounds the days listed per event value in a profile view:
// the most recent ones.
const maxEventDays = 100

// profileView is the 360° view of one profile.
type profileView struct {
	// Identifiers maps identifier type to values; until profiles carry
	// several identifiers (OneID) there is only "external".
	Identifiers map[string][]string        `json:"identifiers"`
	Fields      map[string]json.RawMessage `json:"fields"`
	// Events maps an event field to its values and the days each was seen
	// (most recent first, at most maxEventDays).
	Events   map[string]map[string][]string `json:"events"`
	Segments []string                       `json:"segments"`
}

// profileByID answers GET /v1/datasets/{ds}/profiles/{id_type}/{value}:
// every identifier, field value, recent events and the saved segments the
// profile belongs to. It gives out one person's data, hence the export
// scope.
func (s *Server) profileByID(r *request) error {
	idType, value := r.params["id_type"], r.params["value"]
	if idType != "external" {
		return errorf(http.StatusBadRequest, codeUnsupported, "identifier type %q: profiles of this dataset carry only their external id; use \"external\"", idType)
	}
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	sn := ds.Snapshot()
	rows, _ := ds.LookupRows([]string{value})
	if rows.IsEmpty() || rows.Minimum() >= sn.Rows() {
		return errorf(http.StatusNotFound, codeProfileNotFound, "dataset %s has no profile with external id %q", r.dataset, value)
	}
	row := rows.Minimum()
	view := profileView{
		Identifiers: map[string][]string{"external": {sn.ExternalID(row)}},
		Fields:      map[string]json.RawMessage{},
		Events:      map[string]map[string][]string{},
		Segments:    []string{},
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
