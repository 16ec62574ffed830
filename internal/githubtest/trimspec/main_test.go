package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

const tinySpec = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "tags": [{"name": "checks"}],
  "paths": {
    "/a": {
      "get": {
        "description": "long prose",
        "parameters": [{"$ref": "#/components/parameters/p"}],
        "responses": {"200": {"description": "OK", "content": {"application/json": {
          "schema": {"$ref": "#/components/schemas/a"},
          "examples": {"default": {"$ref": "#/components/examples/a"}}
        }}}}
      },
      "post": {"responses": {"201": {"$ref": "#/components/responses/r"}}}
    },
    "/unused": {"get": {"responses": {"200": {"description": "OK"}}}}
  },
  "x-webhooks": {"ping": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/hook"}}}}}}},
  "components": {
    "parameters": {"p": {"name": "p", "in": "query", "schema": {"type": "integer"}, "x-multi-segment": true}},
    "schemas": {
      "a": {"type": "object", "description": "drop me", "example": {"x": 1},
            "properties": {"description": {"type": "string"}, "b": {"$ref": "#/components/schemas/b"}}},
      "b": {"type": "string", "enum": ["x"], "default": "x"},
      "hook": {"type": "object"},
      "unused": {"type": "string"}
    },
    "examples": {"a": {"value": {}}},
    "responses": {"r": {"description": "Created", "content": {}}}
  }
}`

func TestTrim(t *testing.T) {
	var spec map[string]any
	if err := json.Unmarshal([]byte(tinySpec), &spec); err != nil {
		t.Fatal(err)
	}
	out, err := trim(spec, []endpoint{{"get", "/a"}, {"post", "/a"}, {"webhook", "ping"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	got := string(b)

	var kept []string
	for kind, group := range out["components"].(map[string]any) {
		for name := range group.(map[string]any) {
			kept = append(kept, kind+"/"+name)
		}
	}
	slices.Sort(kept)
	if want := []string{"parameters/p", "responses/r", "schemas/a", "schemas/b", "schemas/hook"}; !slices.Equal(kept, want) {
		t.Errorf("kept components %q, want %q", kept, want)
	}
	for _, gone := range []string{"/unused", "long prose", "drop me", `"example"`, `"examples"`, `"tags"`} {
		if strings.Contains(got, gone) {
			t.Errorf("trimmed spec still has %s: %s", gone, got)
		}
	}
	for _, stays := range []string{`"description":"OK"`, `"description":"Created"`, `"properties":{"b"`, `"description":{"type":"string"}`, `"x-multi-segment":true`, `"x-webhooks"`} {
		if !strings.Contains(got, stays) {
			t.Errorf("trimmed spec lost %s: %s", stays, got)
		}
	}

	if _, err := trim(spec, []endpoint{{"delete", "/a"}}); err == nil {
		t.Errorf("trimming to an operation the spec lacks: no error")
	}
}
