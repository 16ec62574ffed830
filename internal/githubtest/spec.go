package githubtest

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specJSON is GitHub's REST API description trimmed to the operations in
// testdata/endpoints.txt; regenerate it with ./trimspec.
//
//go:embed testdata/api.github.com.json
var specJSON []byte

// loadedSpec parses the description once per process: parsing and
// validating it takes about a tenth of a second (more under -race), and
// every Server would pay it. The parsed document is only read afterwards.
var loadedSpec = sync.OnceValues(loadSpec)

// spec is GitHub's description, parsed, with a router over its paths.
type spec struct {
	doc    *openapi3.T
	router routers.Router
	// multi are the paths with an x-multi-segment parameter (a git ref or a
	// BASE...HEAD pair, which may contain slashes).
	multi []multiPath
	// formats check the string formats GitHub's schemas use beyond the
	// ones kin-openapi knows (date-time, date, byte, int32, int64), which it
	// would let pass unchecked.
	formats map[string]openapi3.StringFormatValidator
}

// multiPath is a path template whose segment at index multi takes the rest
// of the path up to the template's trailing literal segments.
type multiPath struct {
	segments []string
	multi    int
}

func loadSpec() (*spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(specJSON)
	if err != nil {
		return nil, fmt.Errorf("loading GitHub's OpenAPI description: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validating GitHub's OpenAPI description: %w", err)
	}
	// The description's server is https://api.github.com; the fake serves
	// the same paths from its own root.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing GitHub's OpenAPI description: %w", err)
	}
	sp := &spec{doc: doc, router: router, formats: map[string]openapi3.StringFormatValidator{
		"uri":          openapi3.NewCallbackValidator(validateURI),
		"uri-template": openapi3.NewCallbackValidator(validateURITemplate),
		"email":        openapi3.NewCallbackValidator(validateEmail),
		uriOrEmpty: openapi3.NewCallbackValidator(func(s string) error {
			if s == "" {
				return nil
			}
			return validateURI(s)
		}),
	}}
	visited := map[*openapi3.Schema]bool{}
	for _, ref := range doc.Components.Schemas {
		allowEmptyURIs(ref, visited)
	}
	for path, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			params := append(openapi3.Parameters{}, item.Parameters...)
			params = append(params, op.Parameters...)
			for _, p := range params {
				if p.Value == nil || p.Value.In != openapi3.ParameterInPath || p.Value.Extensions["x-multi-segment"] != true {
					continue
				}
				segments := strings.Split(path, "/")
				for i, seg := range segments {
					if seg == "{"+p.Value.Name+"}" {
						sp.multi = append(sp.multi, multiPath{segments: segments, multi: i})
					}
				}
			}
		}
	}
	// Map order is random; try the templates in a fixed one.
	slices.SortFunc(sp.multi, func(a, b multiPath) int {
		return cmp.Or(strings.Compare(strings.Join(a.segments, "/"), strings.Join(b.segments, "/")), cmp.Compare(a.multi, b.multi))
	})
	sp.multi = slices.CompactFunc(sp.multi, func(a, b multiPath) bool {
		return a.multi == b.multi && slices.Equal(a.segments, b.segments)
	})
	return sp, nil
}

// uriOrEmpty is the format of a URI property whose default is the empty
// string, such as a deployment status's target_url: GitHub sends "" for
// those when it has no URL.
const uriOrEmpty = "githubtest-uri-or-empty"

// allowEmptyURIs gives the properties of format uri with default "" in
// the schema ref, and the schemas below it, the format uriOrEmpty.
func allowEmptyURIs(ref *openapi3.SchemaRef, visited map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || visited[ref.Value] {
		return
	}
	sc := ref.Value
	visited[sc] = true
	if sc.Format == "uri" && sc.Default == "" {
		sc.Format = uriOrEmpty
	}
	for _, p := range sc.Properties {
		allowEmptyURIs(p, visited)
	}
	for _, group := range []openapi3.SchemaRefs{sc.AllOf, sc.AnyOf, sc.OneOf} {
		for _, x := range group {
			allowEmptyURIs(x, visited)
		}
	}
	allowEmptyURIs(sc.Items, visited)
	allowEmptyURIs(sc.Not, visited)
	allowEmptyURIs(sc.AdditionalProperties.Schema, visited)
}

func validateURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URI", s)
	}
	return nil
}

// uriExpression is an RFC 6570 expression, such as {/other_user}.
var uriExpression = regexp.MustCompile(`\{[^{}]*\}`)

func validateURITemplate(s string) error {
	return validateURI(uriExpression.ReplaceAllString(s, ""))
}

func validateEmail(s string) error {
	_, err := mail.ParseAddress(s)
	return err
}

// route is a request matched to an operation of the description.
type route struct {
	*routers.Route
	// params are the path parameters, percent-decoded.
	params map[string]string
}

// errNoRoute is returned by findRoute for paths and methods GitHub does not
// serve (as far as the trimmed description knows).
var errNoRoute = errors.New("no such operation in GitHub's OpenAPI description")

// findRoute matches r, whose path is relative to the API root, to an
// operation.
func (sp *spec) findRoute(r *http.Request) (*route, error) {
	rt, vars, err := sp.router.FindRoute(r)
	if err != nil {
		// A ref may hold slashes; GitHub accepts them unescaped in the
		// x-multi-segment parameters. Escape them and look again.
		if rewritten := sp.joinMultiSegment(r); rewritten != nil {
			rt, vars, err = sp.router.FindRoute(rewritten)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.URL.EscapedPath(), errNoRoute)
	}
	params := make(map[string]string, len(vars))
	for k, v := range vars {
		d, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("path parameter %s: %w", k, err)
		}
		params[k] = d
	}
	return &route{Route: rt, params: params}, nil
}

// joinMultiSegment returns a copy of r whose path has the slashes inside an
// x-multi-segment parameter escaped, or nil when no such path fits.
func (sp *spec) joinMultiSegment(r *http.Request) *http.Request {
	got := strings.Split(r.URL.EscapedPath(), "/")
	for _, m := range sp.multi {
		tail := len(m.segments) - m.multi - 1
		if len(got) <= len(m.segments) {
			continue
		}
		ok := true
		for i, seg := range m.segments {
			j := i
			if i > m.multi {
				j = len(got) - (len(m.segments) - i)
			}
			if i == m.multi || strings.HasPrefix(seg, "{") {
				continue
			}
			if got[j] != seg {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		joined := append([]string{}, got[:m.multi]...)
		joined = append(joined, strings.Join(got[m.multi:len(got)-tail], "%2F"))
		joined = append(joined, got[len(got)-tail:]...)
		raw := strings.Join(joined, "/")
		path, err := url.PathUnescape(raw)
		if err != nil {
			return nil
		}
		c := r.Clone(r.Context())
		c.URL.Path, c.URL.RawPath = path, raw
		return c
	}
	return nil
}

// options are the validation options for requests and responses: every
// problem at once, described briefly (kin-openapi's default message dumps
// the whole schema), with the extra string formats.
func (sp *spec) options() *openapi3filter.Options {
	o := &openapi3filter.Options{
		MultiError:                        true,
		RejectWhenRequestBodyNotSpecified: true,
		// GitHub's description declares no security schemes; the fake
		// checks credentials itself.
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(sp.formats)},
	}
	o.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return o
}

func schemaErrorMessage(err *openapi3.SchemaError) string {
	msg := err.Reason
	if err.Origin != nil {
		msg += ": " + err.Origin.Error()
	}
	return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), msg)
}

// validateRequest checks r, whose body has been read into body, against the
// operation rt.
func (sp *spec) validateRequest(ctx context.Context, r *http.Request, body []byte, rt *route) error {
	c := r.Clone(ctx)
	if rb := rt.Operation.RequestBody; rb != nil && rb.Value != nil && !rb.Value.Required &&
		bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		// ghinstallation posts a JSON null to access_tokens when it has no
		// token options; GitHub takes it for no body at all, and so does
		// the fake, for optional bodies only.
		body = nil
		c.Header.Del("Content-Type")
	}
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.ContentLength = int64(len(body))
	in := &openapi3filter.RequestValidationInput{
		Request:    c,
		PathParams: rt.params,
		Route:      rt.Route,
		Options:    sp.options(),
	}
	return openapi3filter.ValidateRequest(ctx, in)
}

// validateResponse checks a response the fake is about to send for the
// request r against the operation rt.
func (sp *spec) validateResponse(ctx context.Context, r *http.Request, rt *route, status int, header http.Header, body []byte) error {
	opts := sp.options()
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: rt.params,
			Route:      rt.Route,
			Options:    opts,
		},
		Status:  status,
		Header:  header,
		Options: opts,
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(ctx, in)
}

// validateWebhook checks a webhook payload against the schema of the
// x-webhooks entry name (such as "pull-request-opened").
func (sp *spec) validateWebhook(name string, payload any) error {
	hooks, _ := sp.doc.Extensions["x-webhooks"].(map[string]any)
	ref, err := lookupString(hooks, name, "post", "requestBody", "content", "application/json", "schema", "$ref")
	if err != nil {
		return fmt.Errorf("webhook %s: %w", name, err)
	}
	schemaName, ok := strings.CutPrefix(ref, "#/components/schemas/")
	if !ok {
		return fmt.Errorf("webhook %s: schema %s is not a component", name, ref)
	}
	schema := sp.doc.Components.Schemas[schemaName]
	if schema == nil || schema.Value == nil {
		return fmt.Errorf("webhook %s: schema %s is not in the description", name, ref)
	}
	err = schema.Value.VisitJSON(payload,
		openapi3.MultiErrors(),
		openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage),
		openapi3.WithStringFormatValidators(sp.formats))
	if err != nil {
		return fmt.Errorf("webhook %s payload does not match %s: %w", name, schemaName, err)
	}
	return nil
}

// lookupString follows keys through nested JSON objects to a string.
func lookupString(v any, keys ...string) (string, error) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return "", fmt.Errorf("no object holding %q", k)
		}
		if v, ok = m[k]; !ok {
			return "", fmt.Errorf("no %q", k)
		}
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%q is not a string", keys[len(keys)-1])
	}
	return s, nil
}
