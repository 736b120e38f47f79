package server

import (
	_ "embed"
	"net/http"

	"github.com/valyala/fasthttp/pprofhandler"
)

//go:embed console.html
var consoleHTML []byte

//go:embed openapi.json
var openAPIJSON []byte

func (s *Server) console(r *request) error {
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType("text/html; charset=utf-8")
	r.c.Response.Header.Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	r.c.SetBody(consoleHTML)
	return nil
}

func (s *Server) healthz(r *request) error {
	return r.reply(http.StatusOK, map[string]any{"status": "ok", "datasets": len(s.engine.Names())})
}

func (s *Server) openAPI(r *request) error {
	r.c.SetStatusCode(http.StatusOK)
	r.c.SetContentType("application/json")
	r.c.SetBody(openAPIJSON)
	return nil
}

// pprof serves the runtime profiles (admin scope: they reveal the code
// and the load, and a CPU profile costs CPU).
func (s *Server) pprof(r *request) error {
	if string(r.c.Path()) == "/debug/pprof/" { // the index: pprofhandler 404s paths ending in /
		r.c.URI().SetPath("/debug/pprof")
	}
	pprofhandler.PprofHandler(r.c)
	return nil
}
