// Command trimspec cuts GitHub's REST API description down to the operations
// the fake GitHub in package githubtest serves, so that its tests can validate
// requests and responses against GitHub's own schemas without the 13 MB file.
//
// It keeps the operations listed in an endpoints file (one "METHOD /path" per
// line, or "WEBHOOK name" for an entry of x-webhooks, the schemas of webhook
// payloads; blank lines and lines starting with # are ignored) and every
// component they reference, transitively. Examples, descriptions and vendor extensions
// other than x-multi-segment are dropped: they do not take part in validation.
//
// With -webhooks-in it also copies the webhook payload examples the fake
// builds its events from into testdata/webhooks.
//
// Usage, from the module root:
//
//	go run ./internal/githubtest/trimspec \
//		-in /work/shared/github/api.github.com.json.gz \
//		-webhooks-in /work/shared/github/webhook-examples.json.gz
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

type options struct {
	in, out, endpoints      string
	webhooksIn, webhooksDir string
}

func main() {
	var o options
	flag.StringVar(&o.in, "in", "", "GitHub's OpenAPI description (api.github.com.json, optionally gzipped)")
	flag.StringVar(&o.out, "out", "internal/githubtest/testdata/api.github.com.json", "where to write the trimmed description")
	flag.StringVar(&o.endpoints, "endpoints", "internal/githubtest/testdata/endpoints.txt", `file listing the operations to keep, one "METHOD /path" a line`)
	flag.StringVar(&o.webhooksIn, "webhooks-in", "", "webhook examples (webhook-examples.json, optionally gzipped); empty skips them")
	flag.StringVar(&o.webhooksDir, "webhooks-out", "internal/githubtest/testdata/webhooks", "folder for the webhook examples")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "trimspec:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.in == "" {
		return errors.New("-in is required")
	}
	endpoints, err := readEndpoints(o.endpoints)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := readJSON(o.in, &spec); err != nil {
		return err
	}
	trimmed, err := trim(spec, endpoints)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(trimmed); err != nil {
		return fmt.Errorf("encoding trimmed description: %w", err)
	}
	if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing trimmed description: %w", err)
	}
	fmt.Fprintf(os.Stderr, "trimspec: wrote %s (%d bytes, %d operations)\n", o.out, buf.Len(), len(endpoints))
	if o.webhooksIn != "" {
		return copyWebhooks(o.webhooksIn, o.webhooksDir)
	}
	return nil
}

// endpoint is one operation to keep.
type endpoint struct {
	method string // lower case, as in the description's path items
	path   string
}

func readEndpoints(name string) ([]endpoint, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading endpoints: %w", err)
	}
	defer f.Close()
	var eps []endpoint
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		method, path, ok := strings.Cut(line, " ")
		path = strings.TrimSpace(path)
		if !ok || path == "" || (method != "WEBHOOK" && !strings.HasPrefix(path, "/")) {
			return nil, fmt.Errorf(`%s:%d: want "METHOD /path" or "WEBHOOK name", got %q`, name, n, line)
		}
		eps = append(eps, endpoint{method: strings.ToLower(method), path: path})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading endpoints: %w", err)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%s lists no endpoints", name)
	}
	return eps, nil
}

// readJSON decodes the JSON file name, gunzipping it first when its name ends
// in .gz. Numbers stay json.Number, so limits such as maxLength are kept
// exactly as written.
func readJSON(name string, v any) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding %s: %w", name, err)
	}
	return nil
}

// nameMaps are the keys whose values map names (properties, status codes,
// media types, component names…) to objects, rather than keywords to values.
// Inside them a key called "example" or "description" is a name and stays.
var nameMaps = map[string]bool{
	"properties": true, "paths": true, "responses": true, "content": true,
	"headers": true, "encoding": true, "callbacks": true, "links": true,
	"variables": true, "mapping": true, "schemas": true, "parameters": true,
	"examples": true, "requestBodies": true, "securitySchemes": true,
}

// dropped are keywords that carry no validation: removing them keeps the
// trimmed file small enough to commit.
var dropped = map[string]bool{
	"example": true, "examples": true, "description": true, "externalDocs": true,
	"tags": true, "x-github": true, "x-octokit": true, "x-github-breaking-changes": true,
	"x-github-releases": true,
}

// trim returns a copy of spec holding only the listed operations and the
// components they reference.
func trim(spec map[string]any, eps []endpoint) (map[string]any, error) {
	paths, _ := spec["paths"].(map[string]any)
	webhooks, _ := spec["x-webhooks"].(map[string]any)
	keptPaths := map[string]any{}
	keptWebhooks := map[string]any{}
	for _, ep := range eps {
		if ep.method == "webhook" {
			hook, ok := webhooks[ep.path]
			if !ok {
				return nil, fmt.Errorf("webhook %s is not in the description", ep.path)
			}
			keptWebhooks[ep.path] = hook
			continue
		}
		item, ok := paths[ep.path].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("path %s is not in the description", ep.path)
		}
		op, ok := item[ep.method]
		if !ok {
			return nil, fmt.Errorf("operation %s %s is not in the description", strings.ToUpper(ep.method), ep.path)
		}
		kept, _ := keptPaths[ep.path].(map[string]any)
		if kept == nil {
			kept = map[string]any{}
			// Path-level parameters apply to every operation of the path.
			if params, ok := item["parameters"]; ok {
				kept["parameters"] = params
			}
			keptPaths[ep.path] = kept
		}
		kept[ep.method] = op
	}

	out := map[string]any{
		"openapi": spec["openapi"],
		"info":    spec["info"],
		"servers": spec["servers"],
		"paths":   strip(keptPaths, "paths"),
	}
	if len(keptWebhooks) > 0 {
		// Same shape as paths: webhook name → path item with a post operation.
		out["x-webhooks"] = strip(keptWebhooks, "paths")
	}

	components, _ := spec["components"].(map[string]any)
	keptComponents := map[string]map[string]any{}
	// Walk references breadth-first from the kept paths: a component joins
	// once, then its own references are followed.
	queue := refs(out["paths"], nil)
	queue = refs(out["x-webhooks"], queue)
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		kind, name, err := splitRef(ref)
		if err != nil {
			return nil, err
		}
		if _, ok := keptComponents[kind][name]; ok {
			continue
		}
		group, _ := components[kind].(map[string]any)
		c, ok := group[name]
		if !ok {
			return nil, fmt.Errorf("reference %s points at nothing", ref)
		}
		if kind == "responses" {
			c = strip(c, "response")
		} else {
			c = strip(c, "")
		}
		if keptComponents[kind] == nil {
			keptComponents[kind] = map[string]any{}
		}
		keptComponents[kind][name] = c
		queue = refs(c, queue)
	}
	if sec, ok := components["securitySchemes"]; ok {
		keptComponents["securitySchemes"], _ = sec.(map[string]any)
	}
	outComponents := map[string]any{}
	for kind, group := range keptComponents {
		outComponents[kind] = group
	}
	out["components"] = outComponents
	return out, nil
}

// splitRef splits "#/components/schemas/simple-user" into "schemas" and
// "simple-user".
func splitRef(ref string) (kind, name string, err error) {
	rest, ok := strings.CutPrefix(ref, "#/components/")
	if !ok {
		return "", "", fmt.Errorf("reference %s is not to a component", ref)
	}
	kind, name, ok = strings.Cut(rest, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("reference %s is not to a whole component", ref)
	}
	return kind, name, nil
}

// strip returns a copy of v without the dropped keywords. parent is the key v
// was found under, which tells whether v's keys are keywords or names.
func strip(v any, parent string) any {
	switch v := v.(type) {
	case map[string]any:
		if parent == "default" || parent == "enum" {
			return v // values, not schema: keep verbatim
		}
		names := nameMaps[parent]
		out := make(map[string]any, len(v))
		for k, x := range v {
			// A response object is the one place a description is required.
			if !names && dropped[k] && (k != "description" || parent != "response") {
				continue
			}
			switch {
			case parent == "responses":
				out[k] = strip(x, "response")
			case names:
				// The value under a name is an object of keywords again.
				out[k] = strip(x, "")
			default:
				out[k] = strip(x, k)
			}
		}
		return out
	case []any:
		if parent == "default" || parent == "enum" {
			return v
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = strip(x, "")
		}
		return out
	default:
		return v
	}
}

// refs appends to acc every "$ref" in v, in a stable order.
func refs(v any, acc []string) []string {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if s, ok := v[k].(string); ok && k == "$ref" {
				acc = append(acc, s)
				continue
			}
			acc = refs(v[k], acc)
		}
	case []any:
		for _, x := range v {
			acc = refs(x, acc)
		}
	}
	return acc
}
