package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/engine/schema"
)

// CSV import turns each row into the NDJSON ingest record (DESIGN §3) it
// stands for, so decoding, validation, the write-ahead log, per-line
// rejections and acknowledgements are exactly those of NDJSON. The format
// is documented in docs/csv.md.

// Input formats of cohort load.
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// fileFormat is the format of path: forced by --format, else by extension
// (standard input without --format is NDJSON).
func fileFormat(path, forced string) string {
	if forced != "" {
		return forced
	}
	if path != "-" && strings.HasSuffix(strings.ToLower(path), ".csv") {
		return formatCSV
	}
	return formatNDJSON
}

type columnKind uint8

const (
	columnID     columnKind = iota + 1
	columnField             // a field of the schema
	columnEvents            // generic events: field:value@time entries
	columnIdent             // an identifier: ids.<type>
)

type csvColumn struct {
	kind  columnKind
	field *schema.Field // columnField only
	typ   string        // columnIdent only
}

// csvHeader is a header row resolved against a dataset's schema.
type csvHeader struct {
	cols []csvColumn
	id   int // index of the id column, -1 if identifier columns stand in
}

// parseCSVHeader maps header cells to fields. Any problem refuses the whole
// file: a misnamed column would otherwise silently drop data from every row.
func parseCSVHeader(cells []string, sc *schema.Schema, dataset string) (*csvHeader, error) {
	h := &csvHeader{cols: make([]csvColumn, len(cells)), id: -1}
	seen := map[string]int{}
	idents := false
	for i, raw := range cells {
		name := strings.TrimSpace(raw)
		if !utf8.ValidString(name) {
			return nil, fmt.Errorf("column %d: invalid UTF-8 in the header", i+1)
		}
		if name == "" {
			return nil, fmt.Errorf("column %d has no name in the header", i+1)
		}
		key := schema.Key(name)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("column %d %q repeats column %d", i+1, name, j+1)
		}
		seen[key] = i
		f, isField := sc.Field(name)
		switch {
		case key == "id" || key == "external_id":
			if h.id >= 0 {
				return nil, fmt.Errorf("column %d %q: the id is already column %d", i+1, name, h.id+1)
			}
			h.id, h.cols[i] = i, csvColumn{kind: columnID}
		case isField:
			h.cols[i] = csvColumn{kind: columnField, field: f}
		case key == "events":
			h.cols[i] = csvColumn{kind: columnEvents}
		case strings.HasPrefix(key, "ids."):
			typ := strings.TrimPrefix(key, "ids.")
			if err := identity.ValidateType(typ); err != nil {
				return nil, fmt.Errorf("column %d %q: %w", i+1, name, err)
			}
			h.cols[i] = csvColumn{kind: columnIdent, typ: typ}
			idents = true
		default:
			return nil, unknownColumn(i, name, sc, dataset)
		}
	}
	if h.id < 0 && !idents {
		return nil, errors.New("the header has no id column (named id or external_id) and no identifier column (ids.<type>, e.g. ids.phone)")
	}
	return h, nil
}

// unknownColumn names the column and the nearest field, or all fields when
// none is near.
func unknownColumn(i int, name string, sc *schema.Schema, dataset string) error {
	names := make([]string, len(sc.Fields))
	for j, f := range sc.Fields {
		names[j] = f.Name
	}
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(strings.ToLower(name), strings.ToLower(n))
		if d <= max(1, utf8.RuneCountInString(name)/3) && (bestD < 0 || d < bestD) {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Errorf("column %d %q is not a field of dataset %s — did you mean %s?", i+1, name, dataset, best)
	}
	return fmt.Errorf("column %d %q is not a field of dataset %s (fields: %s; plus id, events and ids.<type>)", i+1, name, dataset, strings.Join(names, ", "))
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// ingestRecord is the NDJSON ingest record a CSV row becomes.
type ingestRecord struct {
	ID     string            `json:"id,omitempty"`
	IDs    map[string]string `json:"ids,omitempty"`
	Set    map[string]any    `json:"set,omitempty"`
	Add    map[string]any    `json:"add,omitempty"`
	Events []ingestEvent     `json:"events,omitempty"`
}

type ingestEvent struct {
	Field string `json:"field"`
	Value string `json:"value,omitempty"`
	Time  string `json:"time"`
}

// rowRecord converts one data row into an ingest record line. Value errors
// (a bad number, date or bool) are left to the decoder, which names the
// field and the reason the same way as for NDJSON; only what cannot be
// expressed as a record at all is an error here.
func (h *csvHeader) rowRecord(cells []string) ([]byte, error) {
	rec := ingestRecord{}
	for i, raw := range cells {
		if !utf8.ValidString(raw) {
			return nil, fmt.Errorf("column %d: invalid UTF-8", i+1)
		}
		cell := strings.TrimSpace(raw)
		col := h.cols[i]
		switch {
		case col.kind == columnID:
			rec.ID = cell
			continue
		case cell == "":
			continue // an empty cell leaves the field as it is
		case col.kind == columnIdent:
			if rec.IDs == nil {
				rec.IDs = map[string]string{}
			}
			rec.IDs[col.typ] = cell
			continue
		case col.kind == columnEvents:
			for _, e := range splitValues(cell) {
				field, rest, ok := strings.Cut(e, ":")
				if !ok {
					return nil, fmt.Errorf("column %d: event %q is not field:value@time", i+1, e)
				}
				ev, err := parseEvent(strings.TrimSpace(field), rest)
				if err != nil {
					return nil, fmt.Errorf("column %d: %w", i+1, err)
				}
				rec.Events = append(rec.Events, ev)
			}
			continue
		}
		f := col.field
		switch f.Type {
		case schema.Event:
			for _, e := range splitValues(cell) {
				ev, err := parseEvent(f.Name, e)
				if err != nil {
					return nil, fmt.Errorf("column %d: %w", i+1, err)
				}
				rec.Events = append(rec.Events, ev)
			}
		case schema.Set:
			// A leading '=' replaces the set; otherwise the values are
			// added, so a CSV of new interests does not erase old ones.
			if rest, replace := strings.CutPrefix(cell, "="); replace {
				setValue(&rec.Set, f.Name, splitValues(rest))
			} else {
				setValue(&rec.Add, f.Name, splitValues(cell))
			}
		case schema.Int, schema.Decimal:
			setValue(&rec.Set, f.Name, numberValue(cell))
		case schema.Bool:
			setValue(&rec.Set, f.Name, boolValue(cell))
		default: // tag, date: strings the decoder checks
			setValue(&rec.Set, f.Name, cell)
		}
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encoding the record: %w", err)
	}
	if len(line) > record.MaxLineBytes {
		return nil, fmt.Errorf("record is longer than %d bytes", record.MaxLineBytes)
	}
	return line, nil
}

func setValue(m *map[string]any, name string, v any) {
	if *m == nil {
		*m = map[string]any{}
	}
	(*m)[name] = v
}

// splitValues splits a cell at '|', trimming and dropping empty parts.
func splitValues(cell string) []string {
	vals := []string{}
	for v := range strings.SplitSeq(cell, "|") {
		if v = strings.TrimSpace(v); v != "" {
			vals = append(vals, v)
		}
	}
	return vals
}

// parseEvent reads value@time (value may be empty). The last '@' splits,
// since a time never contains one and a value might.
func parseEvent(field, entry string) (ingestEvent, error) {
	i := strings.LastIndexByte(entry, '@')
	if i < 0 {
		return ingestEvent{}, fmt.Errorf("event %q of %s has no @time", entry, field)
	}
	return ingestEvent{Field: field, Value: strings.TrimSpace(entry[:i]), Time: strings.TrimSpace(entry[i+1:])}, nil
}

// numberValue passes a plain number through as a JSON number, exactly as
// written (no float rounding); anything else goes as a string, which the
// decoder rejects naming the field ("an int takes a whole number, found
// \"abc\"").
func numberValue(cell string) any {
	if (cell[0] == '-' || cell[0] >= '0' && cell[0] <= '9') && json.Valid([]byte(cell)) {
		return json.Number(cell)
	}
	return cell
}

// boolValue accepts the spellings spreadsheets export; others go as a
// string for the decoder to reject.
func boolValue(cell string) any {
	switch strings.ToLower(cell) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	return cell
}

// newCSVReader skips a UTF-8 byte order mark, which spreadsheet exports
// often begin with and which would otherwise be part of the first column's
// name.
func newCSVReader(r io.Reader) *csv.Reader {
	br := bufio.NewReaderSize(r, 1<<20)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	return cr
}

// readCSVHeader reads and resolves the header row.
func readCSVHeader(cr *csv.Reader, sc *schema.Schema, dataset string) (*csvHeader, error) {
	cells, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty CSV: no header row")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	return parseCSVHeader(slices.Clone(cells), sc, dataset)
}

// checkCSVHeaders resolves the header of every CSV file before anything is
// loaded, so a misnamed column in the last file does not leave the first
// ones loaded. Standard input is checked when it is read.
func checkCSVHeaders(files []string, forced string, sc *schema.Schema, dataset string) error {
	for _, path := range files {
		if path == "-" || fileFormat(path, forced) != formatCSV {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = readCSVHeader(newCSVReader(f), sc, dataset)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// readCSV calls f with the ingest record of each data row and the line the
// row starts on; a row that cannot become a record is passed with its
// reason instead. size is the bytes of input consumed, for progress. f
// returns false to stop.
func readCSV(r io.Reader, sc *schema.Schema, dataset string, f func(no int, line []byte, bad error, size int) bool) error {
	cr := newCSVReader(r)
	h, err := readCSVHeader(cr, sc, dataset)
	if err != nil {
		return err
	}
	off := cr.InputOffset()
	for {
		cells, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		size := int(cr.InputOffset() - off)
		off += int64(size)
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			if size == 0 {
				return err // no progress: do not loop on it
			}
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				err = fmt.Errorf("%d columns, the header has %d", len(cells), len(h.cols))
			} else {
				err = pe.Err
			}
			if !f(pe.StartLine, nil, err, size) {
				return nil
			}
			continue
		case err != nil:
			return err
		}
		no, _ := cr.FieldPos(0)
		line, err := h.rowRecord(cells)
		if !f(no, line, err, size) {
			return nil
		}
	}
}
