package jsonschema_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/jsonschema"
)

func TestCompileRefusesWhatItDoesNotImplement(t *testing.T) {
	for _, tt := range []struct{ schema, want string }{
		{`{"oneOf": [{"type": "string"}]}`, `keyword "oneOf" is not supported`},
		{`{"properties": {"a": {"not": {}}}}`, `#/properties/a/not: keyword "not" is not supported`},
		{`{"$defs": {"unused": {"format": "uri"}}}`, `#/$defs/unused/format: keyword "format" is not supported`},
		{`{"$ref": "other.json#/x"}`, `only references within the document`},
		{`{"$defs": {}, "$ref": "#/$defs/missing"}`, `reference "#/$defs/missing": no "missing"`},
		{`{"type": "text"}`, `"text" is not a type`},
		{`{"pattern": "("}`, `#/pattern: error parsing regexp`},
		{`{"maxLength": -1}`, `#/maxLength: must be a non-negative integer`},
		{`{"$schema": "http://json-schema.org/draft-07/schema#"}`, `only https://json-schema.org/draft/2020-12/schema is supported`},
		{`[]`, `a schema must be an object or a boolean`},
		{`{`, `schema is not JSON`},
	} {
		_, err := jsonschema.Compile([]byte(tt.schema))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%s) = %v, want an error containing %q", tt.schema, err, tt.want)
		}
	}
}

func TestRecursiveReference(t *testing.T) {
	sch, err := jsonschema.Compile([]byte(`{
		"$defs": {"tree": {"type": "object", "additionalProperties": {"$ref": "#/$defs/tree"}}},
		"$ref": "#/$defs/tree"}`))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{"a": map[string]any{"b": map[string]any{"c": "leaf"}}}
	got := sch.Validate(v)
	want := []jsonschema.Error{{Path: []string{"a", "b", "c"}, Keyword: "type", Got: "string", Want: []string{"object"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// The errors carry what a message needs: the location, the names, the
// value and the bound.
func TestErrorDetails(t *testing.T) {
	sch, err := jsonschema.Compile([]byte(`{
		"type": "object",
		"required": ["a", "b", "c"],
		"additionalProperties": false,
		"propertyNames": {"pattern": "^[a-z]+$"},
		"properties": {
			"a": {"type": "array", "uniqueItems": true, "maxItems": 3, "items": {"type": "integer", "maximum": 10}},
			"b": {"type": "string", "maxLength": 3},
			"c": true
		}}`))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{
		"a":  []any{json.Number("1"), json.Number("1.0"), json.Number("11"), json.Number("2.5")},
		"b":  "éééé",
		"X1": true,
	}
	want := []jsonschema.Error{
		{Path: []string{}, Keyword: "required", Names: []string{"c"}},
		{Path: []string{}, Keyword: "propertyNames", Got: "X1"},
		{Path: []string{"a"}, Keyword: "maxItems", Got: 4, Want: 3},
		{Path: []string{"a"}, Keyword: "uniqueItems", Got: 1, Want: 0},
		{Path: []string{"a", "2"}, Keyword: "maximum", Got: json.Number("11"), Want: json.Number("10")},
		{Path: []string{"a", "3"}, Keyword: "type", Got: "number", Want: []string{"integer"}},
		{Path: []string{"b"}, Keyword: "maxLength", Got: 4, Want: 3},
		{Path: []string{}, Keyword: "additionalProperties", Names: []string{"X1"}},
	}
	if got := sch.Validate(v); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if errs := sch.Validate(map[string]any{"a": []any{}, "b": "", "c": nil}); errs != nil {
		t.Errorf("a valid document: %+v", errs)
	}
}
