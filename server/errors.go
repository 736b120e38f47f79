package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/query"
	"github.com/cohortdb/cohort/storage"
)

// Error codes are part of the API: clients branch on them, so they never
// change meaning. The message is for people and may be reworded.
const (
	codeBadRequest       = "bad_request"
	codeInvalidJSON      = "invalid_json"
	codeInvalidUTF8      = "invalid_utf8"
	codeInvalidQuery     = "invalid_query"
	codeInvalidSchema    = "invalid_schema"
	codeInvalidSegment   = "invalid_segment"
	codeUnsupported      = "unsupported"
	codeBodyTooLarge     = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeNotFound         = "not_found"
	codeDatasetNotFound  = "dataset_not_found"
	codeSegmentNotFound  = "segment_not_found"
	codeProfileNotFound  = "profile_not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeExists           = "already_exists"
	codeTooMany          = "too_many_requests"
	codeTimeout          = "timeout"
	codeUnavailable      = "unavailable"
	codeStorageFull      = "insufficient_storage"
	codeStorage          = "storage_error"
	codeInternal         = "internal"
)

// apiError is an error with the HTTP status and stable code it answers
// with. Line and Column point into the query text for query errors.
type apiError struct {
	status       int
	code, msg    string
	line, column int
	// applied and rejected report what an ingest that failed part-way
	// did before it stopped (those applied lines are durable).
	applied, rejected *int
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// classify maps an error from the layers below onto the API's statuses
// and codes. Anything it does not recognise is a 500: the message still
// goes to the client (our errors name what failed, never data).
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var qe *query.Error
	if errors.As(err, &qe) {
		return &apiError{status: http.StatusBadRequest, code: codeInvalidQuery, msg: qe.Msg, line: qe.Line, column: qe.Column}
	}
	var ce *storage.CorruptError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, codeTimeout, "the request took longer than the server's time limit and was stopped")
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the request was cancelled: the server is shutting down")
	case errors.Is(err, engine.ErrNotFound):
		return errorf(http.StatusNotFound, codeDatasetNotFound, "%v", err)
	case errors.Is(err, engine.ErrExists):
		return errorf(http.StatusConflict, codeExists, "%v", err)
	case errors.Is(err, storage.ErrSegmentNotFound):
		return errorf(http.StatusNotFound, codeSegmentNotFound, "%v", err)
	case errors.Is(err, storage.ErrClosed):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the store is closed: the server is shutting down")
	case errors.Is(err, syscall.ENOSPC):
		return errorf(http.StatusInsufficientStorage, codeStorageFull, "the disk is full; nothing of this request was applied: %v", err)
	case errors.As(err, &ce):
		return errorf(http.StatusInternalServerError, codeStorage, "%v", err)
	}
	return errorf(http.StatusInternalServerError, codeInternal, "%v", err)
}
