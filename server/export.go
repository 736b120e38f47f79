package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/cohortdb/cohort/engine/export"
)

type exportBody struct {
	queryParams
	// ID is the identifier to emit: "external" (the default) is the
	// profile's external id, anything else an identifier type (the
	// profile's latest of that type; profiles without one are skipped
	// and counted in X-Cohort-Skipped).
	ID     string   `json:"id,omitempty"`
	Fields []string `json:"fields,omitempty"`
	// Format is csv (default) or ndjson; Compression none (default),
	// gzip or zstd.
	Format      string `json:"format,omitempty"`
	Compression string `json:"compression,omitempty"`
}

// export streams the audience of a query. Everything that can be refused
// (query, fields, format, compression) is checked before the status line;
// the audience is computed once as a bitmap (an eighth of a byte per
// profile at most) and the rows are rendered block by block while being
// written, so memory does not grow with the audience.
func (s *Server) export(r *request) error {
	var b exportBody
	if err := r.readJSON(&b); err != nil {
		return err
	}
	opts := export.Options{Format: export.Format(b.Format), Fields: b.Fields, IDType: b.ID}
	if opts.Format == "" {
		opts.Format = export.CSV
	}
	contentType := map[export.Format]string{export.CSV: "text/csv; charset=utf-8", export.NDJSON: "application/x-ndjson"}[opts.Format]
	ext := map[export.Format]string{export.CSV: "csv", export.NDJSON: "ndjson"}[opts.Format]
	encoding := b.Compression
	switch encoding {
	case "", "none":
		encoding = ""
	case "gzip", "zstd":
		// Content-Encoding: clients that decode it (browsers, curl
		// --compressed) save plain CSV/NDJSON, so the name says that.
	default:
		return errorf(http.StatusBadRequest, codeBadRequest, `"compression" must be none, gzip or zstd, not %q`, b.Compression)
	}
	q, sn, err := r.compile(b.queryParams)
	if err != nil {
		return err
	}
	if err := export.Check(sn, opts); err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "%v", err)
	}
	rows, err := q.Bitmap(r.ctx)
	if err != nil {
		return err
	}
	count := rows.GetCardinality()
	rows, skipped := export.Select(sn, rows, opts)
	c := r.c
	c.SetStatusCode(http.StatusOK)
	c.SetContentType(contentType)
	if encoding != "" {
		c.Response.Header.Set("Content-Encoding", encoding)
	}
	c.Response.Header.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-export.%s"`, r.dataset, ext))
	// The summary travels in headers, known before the first byte:
	// the audience, and how many of it lack the identifier asked for.
	c.Response.Header.Set("X-Cohort-Count", strconv.FormatUint(count, 10))
	c.Response.Header.Set("X-Cohort-Exported", strconv.FormatUint(count-skipped, 10))
	c.Response.Header.Set("X-Cohort-Skipped", strconv.FormatUint(skipped, 10))

	who := "anonymous"
	if r.key != nil {
		who = r.key.Name
	}
	r.detached = true
	release, id, dataset := r.release, r.id, r.dataset
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		ctx, cancel := context.WithTimeout(s.base, 10*s.cfg.Timeout)
		defer cancel()
		start := time.Now()
		n, err := writeCompressed(w, encoding, func(out io.Writer) (uint64, error) {
			return export.Write(ctx, out, sn, rows, opts)
		})
		s.metrics.exported.WithLabelValues(dataset).Add(float64(n))
		// The audit line: who took which ids out. The only log line that
		// carries a query text.
		attrs := []any{"request_id", id, "key", who, "dataset", dataset, "query", b.Q, "fields", b.Fields,
			"id", opts.IDType, "format", string(opts.Format), "profiles", n, "audience", count, "skipped", skipped, "duration_us", time.Since(start).Microseconds()}
		if err != nil {
			// The status line is gone; the client sees a body cut short.
			s.log.Error("export audit", append(attrs, "error", err.Error())...)
			return
		}
		s.log.Info("export audit", attrs...)
	})
	return nil
}

// writeCompressed runs write over w through the chosen compressor and
// flushes everything.
func writeCompressed(w *bufio.Writer, encoding string, write func(io.Writer) (uint64, error)) (uint64, error) {
	var out io.WriteCloser
	switch encoding {
	case "gzip":
		out = gzip.NewWriter(w)
	case "zstd":
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			return 0, fmt.Errorf("cannot start zstd: %w", err)
		}
		out = z
	}
	var n uint64
	var err error
	if out == nil {
		n, err = write(w)
	} else {
		n, err = write(out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return n, err
}
