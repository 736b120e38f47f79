package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/query"
	"github.com/cohortdb/cohort/server/auth"
	"github.com/cohortdb/cohort/storage"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Durable is the data the server serves and writes to (required).
	Durable *storage.Durable
	// Keys are the API keys; nil or empty means no keys: every request is
	// allowed, which New accepts only with Insecure or a loopback Addr.
	Keys *auth.Keys
	// Addr is where the server will listen; New checks it against Keys.
	Addr string
	// Insecure allows serving without keys on a non-loopback address.
	Insecure bool
	// Logger receives one line per request and the export audit lines
	// (default: slog.Default()).
	Logger *slog.Logger
	// MaxBodyBytes bounds a JSON request body (default 16 MiB: a segment
	// upload of about a million ids).
	MaxBodyBytes int
	// MaxIngestBytes bounds an ingest body (default 1 GiB; the body is
	// streamed, so this bounds time, not memory).
	MaxIngestBytes int64
	// Timeout bounds the work of one request (default 30 s); the engine
	// stops when it passes. Ingest and export get ten times as long.
	Timeout time.Duration
	// MaxHeavy caps concurrent heavy requests, ingest and export
	// (default 4); more are refused with 429.
	MaxHeavy int
	// Limits bound query texts (default: the language's limits).
	Limits query.Limits
	// IngestBatch is how many lines of an ingest body are logged and
	// applied together (default 4096).
	IngestBatch int
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.MaxIngestBytes <= 0 {
		c.MaxIngestBytes = 1 << 30
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxHeavy <= 0 {
		c.MaxHeavy = 4
	}
	if c.IngestBatch <= 0 {
		c.IngestBatch = 4096
	}
}

// Server serves Cohort's HTTP API. Several servers (over several
// engines) can live in one process: a Server holds all of its state.
type Server struct {
	cfg     Config
	durable *storage.Durable
	engine  *engine.Engine
	store   *storage.Store
	log     *slog.Logger
	router  *router
	metrics *metrics
	heavy   chan struct{}
	segs    *segmentCache
	queries *queryCache

	http     *fasthttp.Server
	base     context.Context // cancelled when a shutdown gives up waiting
	cancel   context.CancelFunc
	ridBase  string
	ridSeq   atomic.Uint64
	shutOnce sync.Once
	shutErr  error
	// serveMu guards shut and lns: fasthttp learns of a listener only
	// once its Serve runs, so a Shutdown that came first would leave a
	// later Serve accepting forever (see Serve).
	serveMu sync.Mutex
	shut    bool
	lns     []net.Listener
}

// New checks the configuration and builds a server.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Durable == nil {
		return nil, errors.New("server: no data (Config.Durable is nil)")
	}
	if (cfg.Keys == nil || cfg.Keys.Len() == 0) && !cfg.Insecure && cfg.Addr != "" && !loopback(cfg.Addr) {
		return nil, fmt.Errorf("refusing to serve on %s without API keys: anyone who can reach it could read and change every dataset; give --keys FILE, listen on 127.0.0.1, or pass --insecure", cfg.Addr)
	}
	var rid [4]byte
	_, _ = rand.Read(rid[:])
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		durable: cfg.Durable,
		engine:  cfg.Durable.Engine(),
		store:   cfg.Durable.Store(),
		log:     cfg.Logger,
		heavy:   make(chan struct{}, cfg.MaxHeavy),
		segs:    newSegmentCache(),
		queries: newQueryCache(),
		base:    base,
		cancel:  cancel,
		ridBase: hex.EncodeToString(rid[:]),
	}
	s.metrics = newMetrics(s)
	s.router = newRouter(s.routes())
	s.http = &fasthttp.Server{
		Handler:                      s.handle,
		Name:                         "cohort",
		StreamRequestBody:            true,
		MaxRequestBodySize:           1 << 20, // read ahead before the handler; the rest streams
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  5 * time.Minute,
		IdleTimeout:                  2 * time.Minute,
		CloseOnShutdown:              true,
		NoDefaultDate:                true,
		Logger:                       fasthttpLogger{cfg.Logger},
	}
	return s, nil
}

// loopback reports whether addr (host:port) only listens on loopback.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn("http", "detail", fmt.Sprintf(format, args...))
}

// Serve answers requests on ln until Shutdown.
//
// Serve and Shutdown may race (a caller starting the server on one
// goroutine and stopping it on another): a Serve that starts after
// Shutdown closes ln and returns nil at once, and one that was starting
// as Shutdown ran has its listener closed by Shutdown and returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.serveMu.Lock()
	if s.shut {
		s.serveMu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.serveMu.Unlock()
	err := s.http.Serve(ln)
	s.serveMu.Lock()
	shut := s.shut
	s.serveMu.Unlock()
	if shut && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Handler returns the request handler (for tests and embedding).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Shutdown stops accepting connections, waits for in-flight requests
// (until ctx ends, then cancels their work), lets logged batches finish
// applying and writes a final checkpoint of every dataset so the next
// start replays nothing. It does not close the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() {
		stop := context.AfterFunc(ctx, s.cancel)
		defer stop()
		s.serveMu.Lock()
		s.shut = true
		lns := s.lns
		s.serveMu.Unlock()
		err := s.http.ShutdownWithContext(ctx)
		// A Serve that had not handed its listener to fasthttp yet
		// stops here (closing one fasthttp closed already does nothing).
		for _, ln := range lns {
			ln.Close()
		}
		s.cancel()
		s.durable.Close()
		var errs []error
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
		for _, name := range s.engine.Names() {
			if err := s.durable.Checkpoint(context.WithoutCancel(ctx), name); err != nil {
				errs = append(errs, fmt.Errorf("final checkpoint of %s: %w", name, err))
			}
		}
		s.shutErr = errors.Join(errs...)
	})
	return s.shutErr
}

// request is one request being handled.
type request struct {
	s      *Server
	c      *fasthttp.RequestCtx
	ctx    context.Context
	route  *route
	params map[string]string
	key    *auth.Key
	id     string
	// dataset is the dataset named in the path, for logs and metrics.
	dataset string
	start   time.Time
	// release frees the request's heavy slot. A handler that streams its
	// reply after returning sets detached and calls release itself.
	release  func()
	detached bool
}

func (s *Server) requestID(c *fasthttp.RequestCtx) string {
	if v := c.Request.Header.Peek("X-Request-Id"); len(v) > 0 && len(v) <= 128 && utf8.Valid(v) && isPrintable(v) {
		return string(v)
	}
	return s.ridBase + "-" + strconv.FormatUint(s.ridSeq.Add(1), 10)
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// handle is the one entry point: route, authenticate, bound, run, log.
func (s *Server) handle(c *fasthttp.RequestCtx) {
	r := &request{s: s, c: c, start: time.Now(), id: s.requestID(c)}
	c.Response.Header.Set("X-Request-Id", r.id)
	defer func() {
		if p := recover(); p != nil {
			buf := make([]byte, 8<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log.Error("panic in handler", "request_id", r.id, "panic", fmt.Sprint(p), "stack", string(buf))
			c.Response.ResetBody()
			r.fail(errorf(http.StatusInternalServerError, codeInternal, "internal error (request %s); the server logged it", r.id))
		}
		s.finish(r)
	}()
	if err := s.dispatch(r); err != nil {
		r.fail(err)
	}
}

func (s *Server) dispatch(r *request) error {
	c := r.c
	method, path := string(c.Method()), string(c.Path())
	parts, err := pathParts(string(c.Request.URI().PathOriginal()))
	if err != nil {
		return errorf(http.StatusBadRequest, codeBadRequest, "malformed path: %v", err)
	}
	rt, params, allowed := s.router.match(method, parts)
	if rt == nil {
		if len(allowed) > 0 {
			c.Response.Header.Set("Allow", strings.Join(allowed, ", "))
			return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "%s is not allowed on %s; use %s", method, path, strings.Join(allowed, " or "))
		}
		return errorf(http.StatusNotFound, codeNotFound, "no such route: %s %s (the API is described at /v1/openapi.json)", method, path)
	}
	r.route, r.params, r.dataset = rt, params, params["ds"]
	if err := s.authorize(r); err != nil {
		return err
	}
	if rt.body != "" {
		if err := checkContentType(c, rt.body); err != nil {
			return err
		}
	}
	timeout := s.cfg.Timeout
	if rt.heavy {
		select {
		case s.heavy <- struct{}{}:
			var once sync.Once
			r.release = func() { once.Do(func() { <-s.heavy }) }
			defer func() {
				if !r.detached {
					r.release()
				}
			}()
		default:
			c.Response.Header.Set("Retry-After", "1")
			return errorf(http.StatusTooManyRequests, codeTooMany, "too many ingest and export requests at once (at most %d); retry shortly", s.cfg.MaxHeavy)
		}
		timeout *= 10
	}
	ctx, cancel := context.WithTimeout(s.base, timeout)
	defer cancel()
	r.ctx = ctx
	return rt.handle(r)
}

// authorize checks the request's key against the route's scope and
// dataset. Without keys configured every request is allowed (New only
// permits that on loopback or with Insecure).
func (s *Server) authorize(r *request) error {
	if r.route.scope == "" || s.cfg.Keys == nil || s.cfg.Keys.Len() == 0 {
		return nil
	}
	h := &r.c.Request.Header
	presented := auth.FromRequest(string(h.Peek("Authorization")), string(h.Peek("X-API-Key")))
	if presented == "" {
		r.c.Response.Header.Set("WWW-Authenticate", `Bearer realm="cohort"`)
		return errorf(http.StatusUnauthorized, codeUnauthorized, "an API key is required: send Authorization: Bearer <key>")
	}
	k, ok := s.cfg.Keys.Authenticate(presented)
	if !ok {
		r.c.Response.Header.Set("WWW-Authenticate", `Bearer realm="cohort", error="invalid_token"`)
		return errorf(http.StatusUnauthorized, codeUnauthorized, "the API key is not valid")
	}
	r.key = k
	if !k.Allows(r.route.scope) {
		return errorf(http.StatusForbidden, codeForbidden, "key %q lacks the %q scope needed for %s %s", k.Name, r.route.scope, r.route.method, r.route.pattern)
	}
	if r.route.global && len(k.Datasets()) > 0 {
		return errorf(http.StatusForbidden, codeForbidden, "key %q is limited to datasets %s, and %s %s covers every dataset", k.Name, strings.Join(k.Datasets(), ", "), r.route.method, r.route.pattern)
	}
	if r.dataset != "" && !k.AllowsDataset(r.dataset) {
		return errorf(http.StatusForbidden, codeForbidden, "key %q may not use dataset %q", k.Name, r.dataset)
	}
	return nil
}

// checkContentType refuses a body of another type, or of none: a JSON
// body sent as a form (curl -d without -H) would otherwise be read by
// guesswork.
func checkContentType(c *fasthttp.RequestCtx, want string) error {
	ct := string(c.Request.Header.ContentType())
	mt := strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	ok := mt == want
	if want == bodyNDJSON {
		ok = ok || mt == "application/ndjson" || mt == "application/jsonl" || mt == "application/x-jsonlines"
	}
	if !ok {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be %s, not %q", want, ct)
	}
	return nil
}

// finish logs the request and records its metrics.
func (s *Server) finish(r *request) {
	status := r.c.Response.StatusCode()
	took := time.Since(r.start)
	pattern := "unmatched"
	if r.route != nil {
		pattern = r.route.pattern
	}
	s.metrics.observe(string(r.c.Method()), pattern, status, took)
	attrs := []any{"request_id", r.id, "method", string(r.c.Method()), "route", pattern, "status", status, "duration_us", took.Microseconds()}
	if r.dataset != "" {
		attrs = append(attrs, "dataset", r.dataset)
	}
	if r.key != nil {
		attrs = append(attrs, "key", r.key.Name)
	}
	s.log.Info("request", attrs...)
}

// readJSON decodes the JSON body into v: at most MaxBodyBytes, valid
// UTF-8, no unknown fields, nothing after the value.
func (r *request) readJSON(v any) error {
	body, err := r.readBody(int64(r.s.cfg.MaxBodyBytes))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "the request needs a JSON body")
	}
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, codeInvalidUTF8, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "malformed JSON body: %s", jsonError(err, body))
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "malformed JSON body: unexpected data after the JSON value")
	}
	return nil
}

// jsonError words a decoding error with its position.
func jsonError(err error, body []byte) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(body, se.Offset)
		return fmt.Sprintf("%v at line %d, column %d", se, line, col)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%q must be %s, not a JSON %s", te.Field, jsonType(te.Type.String()), te.Value)
		}
		return fmt.Sprintf("expected %s, got a JSON %s", jsonType(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"), strings.HasPrefix(goType, "server."), strings.HasPrefix(goType, "struct"):
		return "an object"
	}
	return goType
}

func position(body []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for _, r := range string(body[:min(int(offset), len(body))]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// readBody reads the whole body, refusing one over limit with 413.
func (r *request) readBody(limit int64) ([]byte, error) {
	if cl := r.c.Request.Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.c.RequestBodyStream(), limit+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, codeBadRequest, "cannot read the request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(limit)
	}
	return body, nil
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, codeBodyTooLarge, "the request body is larger than the limit of %d bytes", limit)
}

// reply writes v as JSON with status, adding took_us to the object.
func (r *request) reply(status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot encode the reply: %w", err)
	}
	r.writeJSON(status, b)
	return nil
}

func (r *request) writeJSON(status int, obj []byte) {
	took := time.Since(r.start).Microseconds()
	c := r.c
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	if len(obj) >= 2 && obj[len(obj)-1] == '}' {
		body := make([]byte, 0, len(obj)+24)
		body = append(body, obj[:len(obj)-1]...)
		if len(obj) > 2 {
			body = append(body, ',')
		}
		body = append(body, `"took_us":`...)
		body = strconv.AppendInt(body, took, 10)
		body = append(body, '}', '\n')
		c.SetBody(body)
		return
	}
	c.SetBody(append(obj, '\n'))
}

// fail answers with an error body.
func (r *request) fail(err error) {
	ae := classify(err)
	if ae.status >= 500 && ae.code != codeTimeout && ae.code != codeUnavailable {
		r.s.log.Error("request failed", "request_id", r.id, "error", err.Error())
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Line    int    `json:"line,omitempty"`
		Column  int    `json:"column,omitempty"`
	}
	b, _ := json.Marshal(struct {
		Error    body `json:"error"`
		Applied  *int `json:"applied,omitempty"`
		Rejected *int `json:"rejected,omitempty"`
	}{body{ae.code, ae.msg, ae.line, ae.column}, ae.applied, ae.rejected})
	r.writeJSON(ae.status, b)
}

// datasetOf returns the dataset the path names.
func (r *request) datasetOf() (*engine.Dataset, error) {
	return r.s.engine.Dataset(r.dataset)
}
