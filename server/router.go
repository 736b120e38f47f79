package server

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/cohortdb/cohort/server/auth"
)

// route is one endpoint. The route table is the single source of truth
// for dispatch, auth, the heavy-request cap, metrics labels and the
// OpenAPI check.
type route struct {
	method  string
	pattern string     // e.g. /v1/datasets/{ds}/count; {x} matches one non-empty segment
	scope   auth.Scope // "" = public (no key needed)
	heavy   bool       // counts against the cap on concurrent heavy requests
	// global marks a route whose answer spans every dataset (backup,
	// metrics, pprof): a key limited to some datasets may not use it.
	global bool
	// body is the content type a request body must have ("" = no body
	// checked); JSON routes accept application/json, ingest NDJSON.
	body   string
	handle func(*request) error
	parts  []string
	prefix bool // pattern ends in /*: matches any deeper path (pprof)
}

const (
	bodyJSON   = "application/json"
	bodyNDJSON = "application/x-ndjson"
)

// router matches a method and path to a route.
type router struct{ routes []*route }

func newRouter(routes []*route) *router {
	for _, rt := range routes {
		p := rt.pattern
		if strings.HasSuffix(p, "/*") {
			rt.prefix = true
			p = strings.TrimSuffix(p, "/*")
		}
		rt.parts = strings.Split(strings.Trim(p, "/"), "/")
	}
	return &router{routes: routes}
}

// match returns the route for method and path with its path parameters,
// or, when the path exists under other methods only, those methods (for
// 405 and the Allow header).
func (r *router) match(method string, parts []string) (*route, map[string]string, []string) {
	var allowed []string
	for _, rt := range r.routes {
		params, ok := rt.matchPath(parts)
		if !ok {
			continue
		}
		if rt.method == method || (method == "HEAD" && rt.method == "GET") {
			return rt, params, nil
		}
		if !slices.Contains(allowed, rt.method) {
			allowed = append(allowed, rt.method)
		}
	}
	return nil, nil, allowed
}

func (rt *route) matchPath(parts []string) (map[string]string, bool) {
	if len(parts) < len(rt.parts) || (!rt.prefix && len(parts) != len(rt.parts)) {
		return nil, false
	}
	var params map[string]string
	for i, p := range rt.parts {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if parts[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = parts[i]
			continue
		}
		if p != parts[i] {
			return nil, false
		}
	}
	return params, true
}

// pathParts splits a request's raw path at its slashes and decodes each
// part, so a parameter may hold an escaped slash (%2F): an identifier
// such as an email or a URL-like openid can contain one.
func pathParts(raw string) ([]string, error) {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	parts := strings.Split(strings.Trim(raw, "/"), "/")
	for i, p := range parts {
		d, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("path part %d %q: %w", i+1, p, err)
		}
		parts[i] = d
	}
	return parts, nil
}
