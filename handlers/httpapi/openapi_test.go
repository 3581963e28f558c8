package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the embedded document")

// docsCopy is the copy of the document kept in docs/ for readers of the repository.
var docsCopy = filepath.Join("..", "..", "docs", "openapi.json")

// publicReads are the operations that take no input at all, so no client error
// (4xx) can come from them; every other operation must document one.
var publicReads = []string{
	"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
	"GET /.well-known/jwks.json", "GET /.well-known/openid-configuration",
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

type operation struct {
	key string // "METHOD /path"
	raw map[string]any
}

func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(httpapi.OpenAPI, &doc), "the embedded OpenAPI document is not valid JSON")
	return doc
}

func operations(t *testing.T, doc map[string]any) []operation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	require.True(t, ok, "paths must be an object")
	var out []operation
	for p, item := range paths {
		pi, ok := item.(map[string]any)
		require.True(t, ok, "path item %s must be an object", p)
		for _, m := range httpMethods {
			if o, ok := pi[m].(map[string]any); ok {
				out = append(out, operation{key: strings.ToUpper(m) + " " + p, raw: o})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// resolve follows a local "$ref" ("#/components/...") to its target.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	require.True(t, ok, "expected an object, got %T", v)
	for depth := 0; depth < 10; depth++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		target, err := pointer(doc, ref)
		require.NoError(t, err)
		m, ok = target.(map[string]any)
		require.True(t, ok, "%s is not an object", ref)
	}
	t.Fatalf("$ref chain too long")
	return nil
}

func pointer(doc any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("only local references are used, got %q", ref)
	}
	cur := doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %q is not inside an object", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%s does not resolve (no %q)", ref, tok)
		}
	}
	return cur, nil
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	assert.Regexp(t, `^3\.1\.\d+$`, doc["openapi"], "the document must be OpenAPI 3.1.x")
	info, _ := doc["info"].(map[string]any)
	assert.NotEmpty(t, info["title"])
	assert.NotEmpty(t, info["version"])
	scheme := resolve(t, doc, map[string]any{"$ref": "#/components/securitySchemes/bearerAuth"})
	assert.Equal(t, "http", scheme["type"])
	assert.Equal(t, "bearer", scheme["scheme"])
	assert.Equal(t, "JWT", scheme["bearerFormat"])
	assert.Nil(t, doc["security"], "security is declared per operation, so public routes cannot inherit it")
}

func TestOpenAPIDocsCopy(t *testing.T) {
	if *update {
		require.NoError(t, os.WriteFile(docsCopy, httpapi.OpenAPI, 0o644))
	}
	got, err := os.ReadFile(docsCopy)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(httpapi.OpenAPI, got), "docs/openapi.json differs from handlers/httpapi/openapi.json; run: go test ./handlers/httpapi -run TestOpenAPIDocsCopy -update")
}

// registeredRoute is a route pattern registered in api.go and whether it needs a token.
type registeredRoute struct {
	pattern string
	authed  bool
}

// registeredRoutes reads the route registrations from the package's syntax trees: every
// call whose first argument is a "METHOD /path" literal. handle(pattern, authed, h)
// carries the auth flag; anything else (mux.Handle, public) serves without a token.
// Reading the source also finds routes that are registered only when an optional
// API field is set (JWKS, metrics).
func registeredRoutes(t *testing.T) []registeredRoute {
	t.Helper()
	fset := token.NewFileSet()
	// api.go registers most routes; groups of routes kept in files of their
	// own (admin.go) register through the same handle.
	names, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var out []registeredRoute
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		out = append(out, routesIn(t, f)...)
	}
	return out
}

func routesIn(t *testing.T, f *ast.File) []registeredRoute {
	var out []registeredRoute
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		pattern, err := strconv.Unquote(lit.Value)
		if err != nil || !routePatternRE.MatchString(pattern) {
			return true
		}
		r := registeredRoute{pattern: pattern}
		if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "handle" && len(call.Args) == 3 {
			flag, ok := call.Args[1].(*ast.Ident)
			require.True(t, ok, "handle(%q, ...) must pass the auth flag as a literal", pattern)
			r.authed = flag.Name == "true"
		}
		out = append(out, r)
		return true
	})
	return out
}

var routePatternRE = regexp.MustCompile(`^(GET|PUT|POST|DELETE|PATCH) /\S*$`)

// TestOpenAPIRoutes checks the document against the routes Handler registers, both
// ways, and that each operation's security matches whether the route authenticates.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	documented := map[string]map[string]any{}
	for _, o := range operations(t, doc) {
		documented[o.key] = o.raw
	}
	routes := registeredRoutes(t)
	require.Greater(t, len(routes), 20, "api.go registers the routes; the parser found too few")
	registered := map[string]bool{}
	for _, r := range routes {
		registered[r.pattern] = true
		t.Run(r.pattern, func(t *testing.T) {
			o, ok := documented[r.pattern]
			require.True(t, ok, "route %q is registered but not in openapi.json", r.pattern)
			sec, hasSec := o["security"].([]any)
			require.True(t, hasSec, "%s must declare security explicitly", r.pattern)
			if r.authed {
				require.Len(t, sec, 1, "%s needs the bearer token", r.pattern)
				assert.Contains(t, sec[0], "bearerAuth")
			} else {
				assert.Empty(t, sec, "%s needs no token, so its security must be []", r.pattern)
			}
		})
	}
	for key := range documented {
		assert.True(t, registered[key], "openapi.json documents %q but Handler registers no such route", key)
	}
}

var pathParamRE = regexp.MustCompile(`\{([a-z_]+)\}`)

func TestOpenAPIOperations(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	ids := map[string]string{}
	for _, o := range operations(t, doc) {
		t.Run(o.key, func(t *testing.T) {
			id, _ := o.raw["operationId"].(string)
			require.NotEmpty(t, id, "operationId")
			prev, dup := ids[id]
			require.False(t, dup, "operationId %q also used by %s", id, prev)
			ids[id] = o.key
			assert.NotEmpty(t, o.raw["summary"], "summary")

			// Every path parameter is declared.
			declared := map[string]bool{}
			params, _ := o.raw["parameters"].([]any)
			for _, p := range params {
				pm := resolve(t, doc, p)
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
					assert.Equal(t, true, pm["required"], "path parameter %v must be required", pm["name"])
				}
			}
			for _, m := range pathParamRE.FindAllStringSubmatch(o.key, -1) {
				assert.True(t, declared[m[1]], "path parameter %s is not declared", m[1])
			}

			responses, ok := o.raw["responses"].(map[string]any)
			require.True(t, ok, "responses")
			has2xx, hasProblem4xx := false, false
			for status, rv := range responses {
				resp := resolve(t, doc, rv)
				assert.NotEmpty(t, resp["description"], "response %s needs a description", status)
				content, _ := resp["content"].(map[string]any)
				switch status[0] {
				case '2', '3':
					has2xx = has2xx || status[0] == '2'
				case '4', '5':
					pj, ok := content[problem.ContentType].(map[string]any)
					require.True(t, ok, "error response %s must be %s", status, problem.ContentType)
					assert.Equal(t, "#/components/schemas/Problem", resolve(t, doc, pj)["schema"].(map[string]any)["$ref"])
					hasProblem4xx = hasProblem4xx || status[0] == '4'
					if status == "401" {
						headers, _ := resp["headers"].(map[string]any)
						assert.Contains(t, headers, "WWW-Authenticate", "401 must document WWW-Authenticate")
					}
				default:
					t.Errorf("unexpected response key %q", status)
				}
			}
			assert.True(t, has2xx, "no success response")
			if !slices.Contains(publicReads, o.key) {
				assert.True(t, hasProblem4xx, "no 4xx %s response", problem.ContentType)
			}
			if sec, _ := o.raw["security"].([]any); len(sec) > 0 {
				assert.Contains(t, responses, "401", "a route behind the bearer token must document 401")
			}
		})
	}
}

// TestOpenAPIReferencesResolve walks the whole document: a dangling $ref would make
// generated clients fail.
func TestOpenAPIReferencesResolve(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	require.NotEmpty(t, refs)
	for _, r := range refs {
		_, err := pointer(doc, r)
		assert.NoError(t, err)
	}
}

// TestOpenAPIExamples validates every example (request bodies, responses, schema
// examples) against its schema with a JSON Schema 2020-12 validator, the dialect
// of OpenAPI 3.1, so examples and schemas cannot drift apart.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	const base = "urn:tenantstream:openapi"
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(httpapi.OpenAPI))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	require.NoError(t, c.AddResource(base, raw))

	type example struct {
		where  string
		schema string // JSON pointer of the schema
		value  any
	}
	var exs []example
	// Media types with a schema and an example, wherever they appear.
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ex, ok := x["example"]; ok {
				if _, ok := x["schema"]; ok {
					exs = append(exs, example{where: ptr, schema: ptr + "/schema", value: ex})
				} else if strings.HasPrefix(ptr, "/components/schemas/") || strings.Contains(ptr, "/schema") {
					exs = append(exs, example{where: ptr, schema: ptr, value: ex})
				}
			}
			for k, c := range x {
				walk(ptr+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s/%d", ptr, i), c)
			}
		}
	}
	walk("", doc)
	require.Greater(t, len(exs), 40, "the document should carry examples")
	for _, ex := range exs {
		t.Run(ex.where, func(t *testing.T) {
			sch, err := c.Compile(base + "#" + ex.schema)
			require.NoError(t, err)
			// Round-trip the example through the validator's own JSON decoding so that
			// numbers are json.Number as it expects.
			b, err := json.Marshal(ex.value)
			require.NoError(t, err)
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			require.NoError(t, err)
			assert.NoError(t, sch.Validate(v))
		})
	}
}

// TestOpenAPIExamplesCatchDrift proves the example check can fail.
func TestOpenAPIExamplesCatchDrift(t *testing.T) {
	t.Parallel()
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(httpapi.OpenAPI))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	require.NoError(t, c.AddResource("urn:x", raw))
	sch, err := c.Compile("urn:x#/components/schemas/UsageEvent")
	require.NoError(t, err)
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"valid", `{"id":"u-1","meter":"compute_seconds","quantity":"90.5","timestamp":"2026-11-26T17:17:00Z"}`, true},
		{"quantity as a number", `{"id":"u-1","meter":"m","quantity":90.5,"timestamp":"2026-11-26T17:17:00Z"}`, false},
		{"negative quantity", `{"id":"u-1","meter":"m","quantity":"-1","timestamp":"2026-11-26T17:17:00Z"}`, false},
		{"unknown field", `{"id":"u-1","meter":"m","quantity":"1","timestamp":"2026-11-26T17:17:00Z","tenant_id":"x"}`, false},
		{"missing id", `{"meter":"m","quantity":"1","timestamp":"2026-11-26T17:17:00Z"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.body))
			require.NoError(t, err)
			if tt.ok {
				assert.NoError(t, sch.Validate(v))
			} else {
				assert.Error(t, sch.Validate(v))
			}
		})
	}
}
