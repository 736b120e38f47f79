package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/storage"
)

type datasetSummary struct {
	Name     string `json:"name"`
	Profiles uint64 `json:"profiles"`
	Fields   int    `json:"fields"`
}

func (s *Server) listDatasets(r *request) error {
	out := []datasetSummary{}
	for _, name := range s.engine.Names() {
		if r.key != nil && !r.key.AllowsDataset(name) {
			continue
		}
		ds, err := s.engine.Dataset(name)
		if err != nil {
			continue // dropped meanwhile
		}
		sn := ds.Snapshot()
		out = append(out, datasetSummary{Name: name, Profiles: sn.Profiles(), Fields: len(sn.Schema().Fields)})
	}
	return r.reply(http.StatusOK, map[string]any{"datasets": out})
}

func (s *Server) createDataset(r *request) error {
	if err := engine.ValidateName(r.dataset); err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "%v", err)
	}
	body, err := r.readBody(int64(s.cfg.MaxBodyBytes))
	if err != nil {
		return err
	}
	sc, err := schema.Parse(body)
	if err != nil {
		return errorf(http.StatusBadRequest, codeInvalidSchema, "%v", err)
	}
	ds, err := s.durable.Create(r.ctx, r.dataset, sc)
	if err != nil {
		return err
	}
	s.segs.forget(r.dataset)
	return r.reply(http.StatusCreated, describe(ds.Snapshot(), 0))
}

func (s *Server) describeDataset(r *request) error {
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	top := 10
	if v := r.c.QueryArgs().Peek("top"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 || n > 1000 {
			return errorf(http.StatusBadRequest, codeBadRequest, "top must be a whole number from 0 to 1000, not %q", v)
		}
		top = n
	}
	return r.reply(http.StatusOK, describe(ds.Snapshot(), top))
}

func (s *Server) dropDataset(r *request) error {
	if err := s.durable.Drop(r.ctx, r.dataset); err != nil {
		return err
	}
	s.segs.forget(r.dataset)
	return r.reply(http.StatusOK, map[string]any{"dropped": r.dataset})
}

func (s *Server) addField(r *request) error {
	var f schema.Field
	if err := r.readJSON(&f); err != nil {
		return err
	}
	ds, err := r.datasetOf()
	if err != nil {
		return err
	}
	// Checked first so a bad field is a 400, not a storage error.
	if _, err := ds.Schema().WithField(f); err != nil {
		return errorf(http.StatusBadRequest, codeInvalidSchema, "%v", err)
	}
	if err := s.durable.AddField(r.ctx, r.dataset, f); err != nil {
		if errors.Is(err, storage.ErrSchemaChange) {
			// Another request added the same field since the check.
			return errorf(http.StatusBadRequest, codeInvalidSchema, "%v", err)
		}
		return err
	}
	return r.reply(http.StatusOK, describe(ds.Snapshot(), 0))
}

// description is the answer of GET /v1/datasets/{ds}.
type description struct {
	Name     string      `json:"name"`
	Timezone string      `json:"timezone"`
	Profiles uint64      `json:"profiles"`
	Version  uint64      `json:"version"`
	Fields   []fieldDesc `json:"fields"`
	// Identifiers counts the identifiers of each type (OneID); Merges the
	// merges logged.
	Identifiers map[string]uint32 `json:"identifiers"`
	Merges      int               `json:"merges"`
}

type fieldDesc struct {
	schema.Field
	Profiles uint64              `json:"profiles"`
	Distinct int                 `json:"distinct,omitempty"`
	Top      []engine.ValueCount `json:"top,omitempty"`
	// Lowest and Highest are the smallest and largest values held, in
	// the field's own units (dates as YYYY-MM-DD).
	Lowest  json.RawMessage `json:"lowest,omitempty"`
	Highest json.RawMessage `json:"highest,omitempty"`
	True    *uint64         `json:"true,omitempty"`
}

func describe(sn *engine.Snapshot, top int) description {
	sc := sn.Schema()
	d := description{Name: sn.Dataset(), Timezone: sc.Timezone, Profiles: sn.Profiles(), Version: sn.Seq(), Fields: []fieldDesc{},
		Identifiers: sn.Identity().Counts(), Merges: sn.Identity().MergeCount()}
	if d.Timezone == "" {
		d.Timezone = "UTC"
	}
	for i, fs := range sn.Describe(top) {
		f := sc.Fields[i]
		fd := fieldDesc{Field: f, Profiles: fs.Profiles, Distinct: fs.Distinct, Top: fs.Top, True: fs.True}
		if fs.Min != nil {
			fd.Lowest, fd.Highest = renderNumber(&f, *fs.Min), renderNumber(&f, *fs.Max)
		}
		d.Fields = append(d.Fields, fd)
	}
	return d
}

// renderNumber writes a stored integer in the field's own units.
func renderNumber(f *schema.Field, v int64) json.RawMessage {
	switch f.Type {
	case schema.Decimal:
		return json.RawMessage(record.FormatDecimal(v, f.Scale))
	case schema.Date:
		return json.RawMessage(strconv.Quote(schema.FormatDay(schema.Day(v))))
	}
	return json.RawMessage(strconv.FormatInt(v, 10))
}
