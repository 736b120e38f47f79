package server

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The OpenAPI document (openapi.json, embedded as openAPIJSON) must
// describe exactly the routes of routes.go, and its Error schema every
// error code of errors.go. These tests hold them together.

type openAPIDoc = map[string]any

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// openAPIPath is the path under which the spec documents a route: the
// pprof prefix route /debug/pprof/* is documented as /debug/pprof/.
func openAPIPath(pattern string) string {
	if strings.HasSuffix(pattern, "/*") {
		return strings.TrimSuffix(pattern, "*")
	}
	return pattern
}

var openAPIMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// resolve follows a local $ref ("#/components/...") in doc, once per
// level, and returns the object it names (nil when it does not resolve).
func resolve(doc openAPIDoc, v any) map[string]any {
	m := obj(v)
	for i := 0; m != nil && i < 16; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		target, ok := pointer(doc, ref)
		if !ok {
			return nil
		}
		m = obj(target)
	}
	return m
}

// pointer evaluates a local JSON reference ("#/a/b~1c") in doc.
func pointer(doc openAPIDoc, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	var cur any = map[string]any(doc)
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	routes := (&Server{}).routes()

	type key struct{ method, path string }
	want := map[key]*route{}
	for _, rt := range routes {
		k := key{strings.ToLower(rt.method), openAPIPath(rt.pattern)}
		if want[k] != nil {
			t.Errorf("routes.go lists %s %s twice", rt.method, rt.pattern)
		}
		want[k] = rt
	}
	paths := obj(doc["paths"])
	if paths == nil {
		t.Fatal("openapi.json has no paths")
	}
	got := map[key]map[string]any{}
	for path, item := range paths {
		for _, m := range openAPIMethods {
			if o := obj(obj(item)[m]); o != nil {
				got[key{m, path}] = o
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), func(a, b key) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) }) {
		if got[k] == nil {
			t.Errorf("route %s %s is missing from openapi.json", strings.ToUpper(k.method), k.path)
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(got), func(a, b key) int { return strings.Compare(a.path+" "+a.method, b.path+" "+b.method) }) {
		if want[k] == nil {
			t.Errorf("openapi.json documents %s %s, which routes.go does not serve", strings.ToUpper(k.method), k.path)
		}
	}

	schemes := obj(obj(doc["components"])["securitySchemes"])
	ids := map[string]string{}
	for k, o := range got {
		rt := want[k]
		if rt == nil {
			continue
		}
		name := strings.ToUpper(k.method) + " " + k.path

		id := str(o["operationId"])
		if id == "" {
			t.Errorf("%s: no operationId", name)
		} else if prev, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q is also used by %s", name, id, prev)
		} else {
			ids[id] = name
		}
		if str(o["summary"]) == "" {
			t.Errorf("%s: no summary", name)
		}
		if len(obj(o["responses"])) == 0 {
			t.Errorf("%s: no responses", name)
		}
		for code, resp := range obj(o["responses"]) {
			if r := resolve(doc, resp); r == nil || str(r["description"]) == "" {
				t.Errorf("%s: response %s does not resolve to a response with a description", name, code)
			}
		}

		// Security: none exactly for the public routes.
		scope := string(rt.scope)
		sec, hasSec := o["security"].([]any)
		if scope == "" {
			if !hasSec || len(sec) != 0 {
				t.Errorf("%s: a public route must have \"security\": [], not %v", name, o["security"])
			}
		} else {
			found := map[string]bool{}
			for _, req := range sec {
				for s := range obj(req) {
					if schemes[s] == nil {
						t.Errorf("%s: security names %q, which components.securitySchemes lacks", name, s)
					}
					found[s] = true
				}
			}
			if !found["bearer"] || !found["apiKey"] {
				t.Errorf("%s: needs scope %q but its security is %v, not bearer or apiKey", name, scope, o["security"])
			}
		}
		wantScope := scope
		if wantScope == "" {
			wantScope = "none"
		}
		if got := str(o["x-cohort-scope"]); got != wantScope {
			t.Errorf("%s: x-cohort-scope is %q, routes.go says %q", name, got, wantScope)
		}
		if !strings.Contains(str(o["description"]), "Scope: "+wantScope) {
			t.Errorf("%s: the description does not say %q", name, "Scope: "+wantScope)
		}
		if heavy, _ := o["x-cohort-heavy"].(bool); heavy != rt.heavy {
			t.Errorf("%s: x-cohort-heavy is %v, routes.go says %v", name, heavy, rt.heavy)
		}

		// Request body: the content type the route checks.
		rb := resolve(doc, o["requestBody"])
		switch {
		case rt.body == "" && o["requestBody"] != nil:
			t.Errorf("%s: documents a request body, but the route takes none", name)
		case rt.body != "" && rb == nil:
			t.Errorf("%s: the route takes a %s body, which is not documented", name, rt.body)
		case rt.body != "":
			types := slices.Sorted(maps.Keys(obj(rb["content"])))
			if !slices.Equal(types, []string{rt.body}) {
				t.Errorf("%s: request body content types %v, the route takes %s", name, types, rt.body)
			}
			if req, _ := rb["required"].(bool); !req {
				t.Errorf("%s: the request body is not marked required", name)
			}
		}

		// Path parameters: every {x} of the path declared, nothing else.
		inPath := map[string]bool{}
		for _, seg := range strings.Split(k.path, "/") {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				inPath[seg[1:len(seg)-1]] = true
			}
		}
		declared := map[string]bool{}
		params, _ := o["parameters"].([]any)
		params = append(params, asSlice(obj(paths[k.path])["parameters"])...)
		for _, p := range params {
			pm := resolve(doc, p)
			if pm == nil {
				t.Errorf("%s: a parameter does not resolve: %v", name, p)
				continue
			}
			if str(pm["in"]) != "path" {
				continue
			}
			n := str(pm["name"])
			declared[n] = true
			if req, _ := pm["required"].(bool); !req {
				t.Errorf("%s: path parameter %q is not required", name, n)
			}
			if !inPath[n] {
				t.Errorf("%s: declares path parameter %q, which the path lacks", name, n)
			}
		}
		for n := range inPath {
			if !declared[n] {
				t.Errorf("%s: path parameter %q is not declared", name, n)
			}
		}

		// Every JSON reply object carries took_us (writeJSON adds it).
		for code, resp := range obj(o["responses"]) {
			r := resolve(doc, resp)
			s := resolve(doc, obj(obj(obj(r["content"])["application/json"])["schema"]))
			if s == nil || s["properties"] == nil {
				continue
			}
			if obj(s["properties"])["took_us"] == nil {
				t.Errorf("%s: the %s reply's JSON schema has no took_us", name, code)
			}
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// errorCodes returns the values of the code* constants of errors.go.
func errorCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "code") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("errors.go: constant %s is not a string literal; the test cannot read it", n.Name)
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				codes = append(codes, v)
			}
		}
	}
	if len(codes) == 0 {
		t.Fatal("found no code* constants in errors.go")
	}
	return codes
}

func TestOpenAPIErrorCodes(t *testing.T) {
	doc := loadOpenAPI(t)
	errSchema := resolve(doc, map[string]any{"$ref": "#/components/schemas/Error"})
	if errSchema == nil {
		t.Fatal("openapi.json has no components/schemas/Error")
	}
	body := resolve(doc, obj(errSchema["properties"])["error"])
	props := obj(body["properties"])
	for _, p := range []string{"code", "message", "line", "column"} {
		if props[p] == nil {
			t.Errorf("Error.error has no %q property", p)
		}
	}
	if obj(errSchema["properties"])["took_us"] == nil {
		t.Error("Error has no took_us property (writeJSON adds it to error replies too)")
	}
	var enum []string
	for _, v := range asSlice(resolve(doc, props["code"])["enum"]) {
		enum = append(enum, str(v))
	}
	documented := map[string]bool{}
	for _, c := range enum {
		if documented[c] {
			t.Errorf("Error.error.code enum lists %q twice", c)
		}
		documented[c] = true
	}
	defined := map[string]bool{}
	for _, c := range errorCodes(t) {
		defined[c] = true
		if !documented[c] {
			t.Errorf("error code %q (errors.go) is missing from the Error schema's code enum", c)
		}
	}
	for _, c := range enum {
		if !defined[c] {
			t.Errorf("the Error schema's code enum lists %q, which errors.go does not define", c)
		}
	}
}

func TestOpenAPIValid(t *testing.T) {
	doc := loadOpenAPI(t)
	if v := str(doc["openapi"]); v != "3.0.3" {
		t.Errorf("openapi is %q, want 3.0.3", v)
	}
	info := obj(doc["info"])
	if str(info["title"]) != "Cohort API" || str(info["version"]) != "1" {
		t.Errorf("info is %v, want title Cohort API, version 1", info)
	}
	for _, s := range []string{"bearer", "apiKey"} {
		if obj(obj(obj(doc["components"])["securitySchemes"])[s]) == nil {
			t.Errorf("components.securitySchemes has no %s", s)
		}
	}

	// Every $ref resolves within the document.
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"]; ok {
				r, isStr := ref.(string)
				if !isStr {
					t.Errorf("%s: $ref is not a string", at)
				} else if _, ok := pointer(doc, r); !ok {
					t.Errorf("%s: $ref %q does not resolve within the document", at, r)
				}
			}
			for k, e := range v {
				walk(at+"/"+k, e)
			}
		case []any:
			for i, e := range v {
				walk(at+"/"+strconv.Itoa(i), e)
			}
		}
	}
	walk("#", map[string]any(doc))

	// The file is JSON indented with two spaces, as json.Indent writes it,
	// so that diffs stay readable.
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, openAPIJSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')
	if !bytes.Equal(indented.Bytes(), openAPIJSON) {
		t.Error("openapi.json is not 2-space indented JSON ending in a newline (reformat it with json.Indent or python3 -m json.tool --indent 2 --no-ensure-ascii)")
	}
}
