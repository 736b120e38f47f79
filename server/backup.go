package server

import (
	"bufio"
	"context"
	"net/http"
	"time"
)

// backup streams a consistent online backup of the whole store (every
// dataset as of one commit; ingest goes on meanwhile). The body is the
// backup file format of package storage, whose checksummed chunks and
// end marker let the receiver tell a complete backup from one cut short.
func (s *Server) backup(r *request) error {
	c := r.c
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("application/octet-stream")
	c.Response.Header.Set("Content-Disposition", `attachment; filename="cohort.backup"`)
	r.detached = true
	release, id := r.release, r.id
	who := "anonymous"
	if r.key != nil {
		who = r.key.Name
	}
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer release()
		ctx, cancel := context.WithTimeout(s.base, 10*s.cfg.Timeout)
		defer cancel()
		start := time.Now()
		info, err := s.store.Backup(ctx, w)
		if err == nil {
			err = w.Flush()
		}
		attrs := []any{"request_id", id, "key", who, "bytes", info.Bytes, "datasets", len(info.Datasets), "duration_us", time.Since(start).Microseconds()}
		if err != nil {
			s.log.Error("backup failed; the receiver sees no end marker", append(attrs, "error", err.Error())...)
			return
		}
		s.log.Info("backup", attrs...)
	})
	return nil
}
