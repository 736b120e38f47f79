// Package export streams the members of an audience (a bitmap of rows of
// an engine snapshot) as CSV or NDJSON, with the fields the caller picks.
//
// # Block by block
//
// Asking each profile for each field's value (ValuesView.RowValues,
// BSIView.Value, ...) costs one bitmap probe per value or bit slice per
// profile: for a tag with a thousand values, a thousand lookups for every
// exported row. Instead, Write walks the audience one block of 65536
// consecutive rows (the rows sharing their high 16 bits, i.e. one roaring
// container) at a time. For each block it intersects the audience with
// each field's existence bitmap, then each value bitmap (tag, set, event)
// or bit slice (int, decimal, date) or the true bitmap (bool) with that,
// and records what it finds in per-row slots indexed by the row's low 16
// bits. Intersections run container against container, so a field costs
// one pass over its bitmaps' containers for the block however many
// audience rows the block holds, and blocks without audience rows are
// never visited (the audience's own iterator jumps over them).
//
// # Memory
//
// The slots are allocated once per export: 65536 entries per field (1 to 9
// bytes each), plus one list node per (row, value) pair of the current
// block for multi-valued fields, reused from block to block. Memory is
// therefore O(65536 × fields), independent of the audience size; output
// goes through a 64 KiB bufio.Writer.
//
// # Identifiers
//
// The id column holds the external id, or with Options.IDType an
// identifier type's value (a profile's latest phone, openid, …); profiles
// without one are left out, and Select says how many before anything is
// written, so a server can put the summary in its response headers.
//
// # Formats
//
// CSV: a header row (the id column, then the field names as the schema
// spells them), one row per profile in ascending row order, RFC 4180
// quoting exactly as encoding/csv writes it, "\n" line ends. A profile
// without a value has an empty cell. Set and event values are joined with
// "|" in dictionary order (the order of first sight, as Values() lists
// them). The CSV loader (docs/csv.md) has no escape for "|" and trims
// spaces around cells and parts, so a set value containing "|" or with
// surrounding spaces, or a first value starting with "=" (read as "replace
// the set"), does not load back as the same value; NDJSON has no such
// limits. Event
// columns list the distinct values the profile has events for (no days),
// which the loader's value@time syntax does not accept: they are for
// reading, not for reloading.
//
// NDJSON: one object per line, {"id":...,"field":value,...}, keys in the
// requested order; a field without a value is omitted (not null). Tags and
// dates are strings, bools true/false, ints and decimals JSON numbers
// (decimals with exactly the field's scale of decimals), sets and events
// arrays of strings in dictionary order. Strings are escaped as
// encoding/json does with HTML escaping off (invalid UTF-8 becomes
// U+FFFD), so every line is valid UTF-8 JSON. Moving the fields other
// than id (events excepted) into {"id":...,"set":{...}} gives an ingest
// record that restores them exactly.
package export

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/engine/schema"
	"github.com/cohortdb/cohort/internal/jsonstr"
)

// Format is an output format.
type Format string

// Formats.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// Options choose what to export.
type Options struct {
	Format Format
	// Fields names the fields to export, in column order, looked up
	// case-insensitively; output uses the schema's spelling. Empty
	// exports the id only.
	Fields []string
	// IDHeader is the CSV header / NDJSON key of the id column; "" means
	// "id".
	IDHeader string
	// IDType is the identifier the id column holds: "" or "external" for
	// the external id, else an identifier type (phone, openid, …), of
	// which a profile's latest is emitted. Profiles without one are
	// skipped (Select counts them).
	IDType string
}

// external reports whether opts export the external id.
func (o *Options) external() bool { return o.IDType == "" || o.IDType == identity.External }

// Select returns the rows of an audience that have the identifier opts
// export, and how many were left out for lacking it. For the external id
// that is rows itself and 0.
func Select(sn *engine.Snapshot, rows *roaring.Bitmap, opts Options) (*roaring.Bitmap, uint64) {
	if opts.external() || rows == nil {
		return rows, 0
	}
	v := sn.Identity()
	kept := roaring.New()
	it := rows.Iterator()
	for it.HasNext() {
		if row := it.Next(); v.HasIdentifier(opts.IDType, row) {
			kept.Add(row)
		}
	}
	return kept, rows.GetCardinality() - kept.GetCardinality()
}

// blockBits is the number of low row bits a block spans: one roaring
// container, so per-block intersections are container operations.
const (
	blockBits = 16
	blockSize = 1 << blockBits
	lowMask   = blockSize - 1
)

// bufSize is the output buffer: large enough that the writer beneath
// (often a compressor) sees few, large writes.
const bufSize = 64 << 10

// Check validates the format and fields without writing anything, so a
// caller can refuse a request before sending a status line.
func Check(sn *engine.Snapshot, opts Options) error {
	_, err := plan(sn, opts)
	return err
}

// plan resolves the options against the snapshot.
func plan(sn *engine.Snapshot, opts Options) ([]*column, error) {
	switch opts.Format {
	case CSV, NDJSON:
	default:
		return nil, fmt.Errorf("export: unknown format %q (want %q or %q)", opts.Format, CSV, NDJSON)
	}
	if !opts.external() {
		if err := identity.ValidateType(opts.IDType); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
	}
	idHeader := idHeaderOf(opts)
	s := sn.Schema()
	seen := map[int]string{}
	cols := make([]*column, 0, len(opts.Fields))
	for _, name := range opts.Fields {
		i, ok := s.Index(name)
		if !ok {
			return nil, fmt.Errorf("export: dataset %s has no field %q (fields: %s)", sn.Dataset(), name, fieldList(s))
		}
		if prev, dup := seen[i]; dup {
			return nil, fmt.Errorf("export: field %q is requested twice (as %q and %q; names are case-insensitive)", s.Fields[i].Name, prev, name)
		}
		seen[i] = name
		// The id column and a field must not share a name, or the CSV
		// header and the NDJSON keys would be ambiguous.
		if schema.Key(s.Fields[i].Name) == schema.Key(idHeader) {
			return nil, fmt.Errorf("export: field %q has the id column's name %q; choose another id header", s.Fields[i].Name, idHeader)
		}
		cols = append(cols, &column{field: &s.Fields[i], view: &sn.Fields()[i]})
	}
	return cols, nil
}

func idHeaderOf(opts Options) string {
	if opts.IDHeader == "" {
		return "id"
	}
	return opts.IDHeader
}

func fieldList(s *schema.Schema) string {
	if len(s.Fields) == 0 {
		return "none"
	}
	names := make([]string, len(s.Fields))
	for i := range s.Fields {
		names[i] = s.Fields[i].Name
	}
	return strings.Join(names, ", ")
}

// Write streams the profiles of rows (rows of sn; nil or empty exports a
// header only for CSV, nothing for NDJSON) to w in ascending row order and
// returns how many profiles it rendered. It checks ctx before each block
// of 65536 rows and stops with ctx's error, wrapped; on any error the
// output is truncated and n counts the profiles rendered so far (some may
// still sit in the unflushed buffer).
func Write(ctx context.Context, w io.Writer, sn *engine.Snapshot, rows *roaring.Bitmap, opts Options) (n uint64, err error) {
	cols, err := plan(sn, opts)
	if err != nil {
		return 0, err
	}
	if rows == nil {
		rows = roaring.New()
	}
	if !rows.IsEmpty() && rows.Maximum() >= sn.Rows() {
		return 0, fmt.Errorf("export: audience holds row %d but dataset %s has %d profiles", rows.Maximum(), sn.Dataset(), sn.Rows())
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	e := &exporter{sn: sn, cols: cols, csv: opts.Format == CSV, bw: bufio.NewWriterSize(w, bufSize)}
	if !opts.external() {
		e.idType, e.idents = opts.IDType, sn.Identity()
	}
	for _, c := range cols {
		c.prepare(e.csv)
	}
	if e.csv {
		e.writeCSVHeader(idHeaderOf(opts))
	} else {
		e.idKey = jsonstr.Append([]byte{'{'}, idHeaderOf(opts))
		e.idKey = append(e.idKey, ':')
	}
	n, err = e.run(ctx, rows)
	if err != nil {
		return n, err
	}
	if err := e.bw.Flush(); err != nil {
		return n, fmt.Errorf("export: writing: %w", err)
	}
	return n, nil
}

// exporter holds the buffers of one Write call, reused between blocks.
type exporter struct {
	sn    *engine.Snapshot
	cols  []*column
	csv   bool
	bw    *bufio.Writer
	idKey []byte // NDJSON: `{"id":`
	lows  []uint32
	// idType and idents are set when the id column holds an identifier
	// type rather than the external id.
	idType string
	idents *identity.View
	line   []byte
	cell   []byte
	id     []byte
}

func (e *exporter) run(ctx context.Context, rows *roaring.Bitmap) (uint64, error) {
	var n uint64
	e.lows = make([]uint32, blockSize)
	it := rows.Iterator()
	for it.HasNext() {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("export: stopped after %d profiles: %w", n, err)
		}
		start := uint64(it.PeekNext()) &^ lowMask
		end := start + blockSize
		// The block's audience rows: an intersection with one run
		// container, which roaring finds by galloping over the keys.
		mask := roaring.New()
		mask.AddRange(start, end)
		blk := roaring.And(rows, mask)
		for _, c := range e.cols {
			c.fill(blk)
		}
		m := 0
		blk.Iterate(func(x uint32) bool {
			e.lows[m] = x
			m++
			return true
		})
		for _, row := range e.lows[:m] {
			if !e.appendID(row) {
				continue // no identifier of the type: skipped
			}
			if e.csv {
				e.csvRow(row)
			} else {
				e.jsonRow(row)
			}
			if _, err := e.bw.Write(e.line); err != nil {
				return n, fmt.Errorf("export: writing: %w", err)
			}
			n++
		}
		for _, c := range e.cols {
			c.reset(e.lows[:m])
		}
		if end > 1<<32-1 {
			break
		}
		it.AdvanceIfNeeded(uint32(end))
	}
	return n, nil
}

// appendID puts row's id into e.id and reports whether it has one.
func (e *exporter) appendID(row uint32) bool {
	if e.idents == nil {
		e.id = e.sn.AppendExternalID(e.id[:0], row)
		return true
	}
	var ok bool
	e.id, ok = e.idents.AppendIdentifier(e.id[:0], e.idType, row)
	return ok
}

func (e *exporter) writeCSVHeader(idHeader string) {
	e.line = appendCSVCell(e.line[:0], []byte(idHeader))
	for _, c := range e.cols {
		e.line = append(e.line, ',')
		e.line = appendCSVCell(e.line, []byte(c.field.Name))
	}
	e.line = append(e.line, '\n')
	e.bw.Write(e.line) // a failure is sticky and reported by a later Write or Flush
}

func (e *exporter) csvRow(row uint32) {
	e.line = appendCSVCell(e.line[:0], e.id)
	slot := row & lowMask
	for _, c := range e.cols {
		e.line = append(e.line, ',')
		switch c.kind {
		case kindList:
			e.cell = e.cell[:0]
			for k := c.head[slot]; k >= 0; k = c.nodes[k].next {
				if len(e.cell) > 0 {
					e.cell = append(e.cell, '|')
				}
				e.cell = append(e.cell, c.names[c.nodes[k].val]...)
			}
			e.line = appendCSVCell(e.line, e.cell)
		default:
			// Numbers, dates and bools never need quoting.
			e.line = c.appendScalar(e.line, slot)
		}
	}
	e.line = append(e.line, '\n')
}

func (e *exporter) jsonRow(row uint32) {
	e.line = append(e.line[:0], e.idKey...)
	e.line = jsonstr.Append(e.line, e.id)
	slot := row & lowMask
	for _, c := range e.cols {
		switch c.kind {
		case kindList:
			k := c.head[slot]
			if k < 0 {
				continue
			}
			e.line = append(e.line, c.key...)
			if !c.multi {
				e.line = jsonstr.Append(e.line, c.names[c.nodes[k].val])
				continue
			}
			e.line = append(e.line, '[')
			for first := true; k >= 0; k, first = c.nodes[k].next, false {
				if !first {
					e.line = append(e.line, ',')
				}
				e.line = jsonstr.Append(e.line, c.names[c.nodes[k].val])
			}
			e.line = append(e.line, ']')
		default:
			if c.state[slot] == 0 {
				continue
			}
			e.line = append(e.line, c.key...)
			if c.field.Type == schema.Date {
				e.line = append(e.line, '"')
				e.line = c.appendScalar(e.line, slot)
				e.line = append(e.line, '"')
			} else {
				e.line = c.appendScalar(e.line, slot)
			}
		}
	}
	e.line = append(e.line, '}', '\n')
}
