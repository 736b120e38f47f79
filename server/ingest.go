package server

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/cohortdb/cohort/engine/record"
	"github.com/cohortdb/cohort/storage"
)

// maxLineErrors bounds the per-line errors in an ingest reply; the counts
// stay exact.
const maxLineErrors = 1000

type lineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

type ingestReply struct {
	Applied  int `json:"applied"`
	Rejected int `json:"rejected"`
	// Created and Merged count new profiles and profiles absorbed into
	// others because a line named identifiers of both.
	Created   int         `json:"created"`
	Merged    int         `json:"merged"`
	Errors    []lineError `json:"errors"`
	Truncated bool        `json:"errors_truncated,omitempty"`
}

func (rep *ingestReply) reject(line int, msg string) {
	rep.Rejected++
	if len(rep.Errors) < maxLineErrors {
		rep.Errors = append(rep.Errors, lineError{line, msg})
	} else {
		rep.Truncated = true
	}
}

// ingest streams an NDJSON body into the dataset in batches. Each batch
// is decoded and checked, logged durably, applied and published before
// the reply, so every line counted as applied is durable and visible to
// the next query. A line that fails changes nothing; the others apply.
// Batches are pipelined: while one is being fsynced the next is decoded.
func (s *Server) ingest(r *request) error {
	if _, err := r.datasetOf(); err != nil {
		return err
	}
	limit := s.cfg.MaxIngestBytes
	if cl := r.c.Request.Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return tooLarge(limit)
	}
	body := &countingReader{r: r.c.RequestBodyStream(), limit: limit}
	br := bufio.NewReaderSize(body, 256<<10)
	rep := ingestReply{Errors: []lineError{}}

	// Up to depth batches are in flight; their results are collected in
	// submission order.
	const depth = 4
	type inFlight struct {
		p  *storage.Pending
		at []int // body line number of each submitted line
	}
	var queue []inFlight
	collect := func(f inFlight) error {
		res, err := f.p.Wait(r.ctx)
		if err != nil {
			return err
		}
		rep.Applied += res.Applied
		rep.Created += res.Created
		rep.Merged += res.Merged
		if res.Merged > 0 {
			s.metrics.merged.WithLabelValues(r.dataset).Add(float64(res.Merged))
		}
		for _, e := range res.Errors {
			rep.reject(f.at[e.Index-1], e.Err.Error())
		}
		s.metrics.ingested.WithLabelValues(r.dataset, "applied").Add(float64(res.Applied))
		s.metrics.ingested.WithLabelValues(r.dataset, "rejected").Add(float64(len(res.Errors)))
		return nil
	}
	drain := func() error {
		var first error
		for _, f := range queue {
			if err := collect(f); err != nil && first == nil {
				first = err
			}
		}
		queue = nil
		return first
	}

	lineNo := 0
	var lines [][]byte
	var at []int
	submit := func() error {
		if len(lines) == 0 {
			return nil
		}
		b, err := s.durable.Prepare(r.dataset, lines)
		if err != nil {
			return err
		}
		p, err := s.durable.Submit(r.ctx, b)
		if err != nil {
			return err
		}
		queue = append(queue, inFlight{p: p, at: at})
		lines, at = nil, nil
		if len(queue) >= depth {
			f := queue[0]
			queue = queue[1:]
			return collect(f)
		}
		return nil
	}

	var failure error
	for failure == nil {
		line, tooLong, err := readLine(br, record.MaxLineBytes)
		if len(line) > 0 || tooLong || err == nil { // err == nil: a line end was read, so even an empty line counts
			lineNo++
			switch {
			case tooLong:
				rep.reject(lineNo, fmt.Sprintf("line is longer than the limit of %d bytes", record.MaxLineBytes))
			case len(bytes.TrimSpace(line)) == 0:
				// blank lines are allowed and ignored
			default:
				lines = append(lines, line)
				at = append(at, lineNo)
				if len(lines) >= s.cfg.IngestBatch {
					failure = submit()
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			failure = err
		}
	}
	if failure == nil {
		failure = submit()
	}
	if err := drain(); failure == nil {
		failure = err
	}
	if failure != nil {
		var tl *apiError
		if errors.Is(failure, errIngestTooLarge) {
			tl = tooLarge(limit)
		} else if errors.Is(failure, errReadBody) {
			tl = errorf(http.StatusBadRequest, codeBadRequest, "%v", failure)
		} else {
			tl = classify(failure)
		}
		// A copy: classify may return a shared error value.
		out := *tl
		out.msg += " (the lines counted as applied before this are durable)"
		out.applied, out.rejected = &rep.Applied, &rep.Rejected
		return &out
	}
	// Lines refused while reading (too long) were noted before the
	// errors of earlier lines came back with their batch.
	slices.SortStableFunc(rep.Errors, func(a, b lineError) int { return cmp.Compare(a.Line, b.Line) })
	return r.reply(http.StatusOK, rep)
}

var (
	errIngestTooLarge = errors.New("ingest body over the limit")
	errReadBody       = errors.New("cannot read the request body")
)

// readLine returns the next line without its end. A line longer than max
// is skipped to its end and reported as tooLong. The returned slice is a
// copy the caller may keep.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+2 { // +2: the line end
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if tooLong {
			line = nil
		}
		return line, tooLong, err
	}
}

// countingReader fails once more than limit bytes were read.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		return n, errIngestTooLarge
	}
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("%w: %v", errReadBody, err)
	}
	return n, err
}
