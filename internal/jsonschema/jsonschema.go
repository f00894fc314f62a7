// Package jsonschema validates JSON values against the JSON Schema (draft
// 2020-12) documents of package schemas; compiling one costs about what
// decoding its JSON does.
//
// It implements the subset of the draft those documents use, and refuses
// to compile a schema with any other keyword, so that a schema edit it
// would not honour fails its tests rather than being ignored. Its tests
// check it against a complete implementation
// (github.com/santhosh-tekuri/jsonschema), which the binaries do not link:
// that library compiles the meta-schemas of five drafts when its package
// is initialized, and the schema on its first use, a few milliseconds of
// every command that loads a configuration.
//
// Validation follows the draft: "type" and "enum" end the checks of the
// subschema they fail in (as the reference does); every other keyword is
// checked, so that all problems of a document are reported at once.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is one violation: the keyword that failed and where in the
// instance.
type Error struct {
	// Path is the instance location: object keys and array indexes from
	// the document's root. For "propertyNames" it is the object's.
	Path []string
	// Keyword is the failing keyword: "type", "enum", "required",
	// "additionalProperties", "propertyNames", "pattern", "minLength",
	// "maxLength", "minimum", "maximum", "minItems", "maxItems",
	// "uniqueItems", "minProperties", "maxProperties", or "false" for a
	// value where the schema is false (nothing is valid there).
	Keyword string
	// Got is what the instance has: the value ("enum", "pattern"), its
	// type ("type"), its length or count ("minLength", "maxItems", ...),
	// the offending key ("propertyNames"), or the index of the second of
	// two equal items ("uniqueItems").
	Got any
	// Want is the keyword's value: the types wanted (a []string), the enum's
	// values, the pattern, or the bound (an int, or a json.Number for
	// "minimum" and "maximum"); for "uniqueItems", the index of the first
	// of the two equal items.
	Want any
	// Names are the properties missing ("required") or not allowed
	// ("additionalProperties"), in the schema's or in sorted order.
	Names []string
}

// Schema is a compiled schema document.
type Schema struct {
	root *node
}

// node is one compiled subschema. A nil pointer field is an absent keyword.
type node struct {
	bool *bool // a boolean schema

	ref   *node
	types []string
	enum  []any

	properties           map[string]*node
	additionalProperties *node
	required             []string
	propertyNames        *node
	minProperties        *int
	maxProperties        *int

	items       *node
	minItems    *int
	maxItems    *int
	uniqueItems bool

	minLength *int
	maxLength *int
	pattern   *regexp.Regexp

	minimum *big.Rat
	maximum *big.Rat
	// minimumText and maximumText are the bounds as the schema writes them.
	minimumText json.Number
	maximumText json.Number
}

// annotations are keywords that do not constrain an instance.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true,
	"title": true, "description": true, "default": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true,
}

// draft2020 is the only dialect a schema may declare.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Compile parses a schema document. Its "$ref"s must be JSON pointers
// within the document ("#/$defs/name").
func Compile(doc []byte) (*Schema, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	if obj, ok := raw.(map[string]any); ok {
		if d, ok := obj["$schema"]; ok && d != draft2020 {
			return nil, fmt.Errorf("schema declares %v: only %s is supported", d, draft2020)
		}
	}
	c := compiler{doc: raw, nodes: map[string]*node{}}
	root, err := c.compile(raw, "#")
	if err != nil {
		return nil, err
	}
	return &Schema{root: root}, nil
}

// compiler compiles subschemas, each JSON pointer once, so that recursive
// references end.
type compiler struct {
	doc   any
	nodes map[string]*node
}

func (c *compiler) compile(v any, ptr string) (*node, error) {
	if n, ok := c.nodes[ptr]; ok {
		return n, nil
	}
	n := &node{}
	c.nodes[ptr] = n
	switch s := v.(type) {
	case bool:
		n.bool = &s
		return n, nil
	case map[string]any:
		for _, k := range sortedKeys(s) {
			if err := c.keyword(n, s, k, ptr); err != nil {
				return nil, err
			}
		}
		return n, nil
	default:
		return nil, fmt.Errorf("%s: a schema must be an object or a boolean, got %s", ptr, typeOf(v))
	}
}

func (c *compiler) keyword(n *node, s map[string]any, k, ptr string) error {
	v := s[k]
	at := ptr + "/" + escape(k)
	var err error
	switch k {
	case "$ref":
		ref, ok := v.(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return fmt.Errorf("%s: only references within the document (\"#/...\") are supported, got %v", at, v)
		}
		target, terr := resolve(c.doc, ref)
		if terr != nil {
			return fmt.Errorf("%s: %w", at, terr)
		}
		n.ref, err = c.compile(target, ref)
	case "type":
		n.types, err = typeList(v)
	case "enum":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return fmt.Errorf("%s: must be a non-empty array", at)
		}
		n.enum = list
	case "properties":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be an object", at)
		}
		n.properties = make(map[string]*node, len(obj))
		for _, name := range sortedKeys(obj) {
			if n.properties[name], err = c.compile(obj[name], at+"/"+escape(name)); err != nil {
				return err
			}
		}
	case "$defs":
		// Compiled whether referenced or not, so that every definition
		// is checked; a "$ref" to one finds it compiled.
		defs, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be an object", at)
		}
		for _, name := range sortedKeys(defs) {
			if _, err = c.compile(defs[name], at+"/"+escape(name)); err != nil {
				return err
			}
		}
	case "additionalProperties":
		n.additionalProperties, err = c.compile(v, at)
	case "propertyNames":
		n.propertyNames, err = c.compile(v, at)
	case "items":
		n.items, err = c.compile(v, at)
	case "required":
		n.required, err = stringList(v)
	case "uniqueItems":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s: must be a boolean", at)
		}
		n.uniqueItems = b
	case "minProperties":
		n.minProperties, err = count(v)
	case "maxProperties":
		n.maxProperties, err = count(v)
	case "minItems":
		n.minItems, err = count(v)
	case "maxItems":
		n.maxItems, err = count(v)
	case "minLength":
		n.minLength, err = count(v)
	case "maxLength":
		n.maxLength, err = count(v)
	case "pattern":
		p, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: must be a string", at)
		}
		n.pattern, err = regexp.Compile(p)
	case "minimum", "maximum":
		num, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: must be a number", at)
		}
		r, ok := new(big.Rat).SetString(string(num))
		if !ok {
			return fmt.Errorf("%s: %s is not a number", at, num)
		}
		if k == "minimum" {
			n.minimum, n.minimumText = r, num
		} else {
			n.maximum, n.maximumText = r, num
		}
	default:
		if !annotations[k] {
			return fmt.Errorf("%s: keyword %q is not supported by this validator", at, k)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", at, err)
	}
	return nil
}

// resolve follows a JSON pointer fragment ("#/a/b") within doc.
func resolve(doc any, ref string) (any, error) {
	frag := strings.TrimPrefix(ref, "#")
	if frag == "" {
		return doc, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("reference %q is not a JSON pointer", ref)
	}
	v := doc
	for tok := range strings.SplitSeq(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch t := v.(type) {
		case map[string]any:
			next, ok := t[tok]
			if !ok {
				return nil, fmt.Errorf("reference %q: no %q", ref, tok)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil, fmt.Errorf("reference %q: no item %q", ref, tok)
			}
			v = t[i]
		default:
			return nil, fmt.Errorf("reference %q: %q is inside a %s", ref, tok, typeOf(v))
		}
	}
	return v, nil
}

var typeNames = []string{"null", "boolean", "object", "array", "number", "string", "integer"}

func typeList(v any) ([]string, error) {
	var list []string
	switch t := v.(type) {
	case string:
		list = []string{t}
	case []any:
		var err error
		if list, err = stringList(t); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("must be a type name or an array of them")
	}
	for _, name := range list {
		if !slices.Contains(typeNames, name) {
			return nil, fmt.Errorf("%q is not a type", name)
		}
	}
	return list, nil
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array of strings")
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, errors.New("must be an array of strings")
		}
		out[i] = s
	}
	return out, nil
}

func count(v any) (*int, error) {
	num, ok := v.(json.Number)
	if !ok {
		return nil, errors.New("must be a non-negative integer")
	}
	n, err := strconv.Atoi(string(num))
	if err != nil || n < 0 {
		return nil, errors.New("must be a non-negative integer")
	}
	return &n, nil
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// Validate checks v, a value as encoding/json decodes it with UseNumber
// (map[string]any, []any, string, bool, nil, json.Number; float64 and the
// integer types are taken as numbers too). It returns every violation, in
// a deterministic order; none when v is valid.
func (s *Schema) Validate(v any) []Error {
	var errs []Error
	s.root.validate(v, nil, &errs)
	return errs
}

func (n *node) validate(v any, path []string, errs *[]Error) {
	if n.bool != nil {
		if !*n.bool {
			report(errs, path, Error{Keyword: "false"})
		}
		return
	}
	t := typeOf(v)
	if n.types != nil && !typeMatches(n.types, t, v) {
		report(errs, path, Error{Keyword: "type", Got: t, Want: n.types})
		return
	}
	if n.enum != nil && !slices.ContainsFunc(n.enum, func(e any) bool { return equal(e, v) }) {
		report(errs, path, Error{Keyword: "enum", Got: v, Want: n.enum})
		return
	}
	if n.ref != nil {
		n.ref.validate(v, path, errs)
	}
	switch t := v.(type) {
	case map[string]any:
		n.validateObject(t, path, errs)
	case []any:
		n.validateArray(t, path, errs)
	case string:
		n.validateString(t, path, errs)
	default:
		if r, ok := rat(v); ok {
			n.validateNumber(r, v, path, errs)
		}
	}
}

func (n *node) validateObject(obj map[string]any, path []string, errs *[]Error) {
	if n.minProperties != nil && len(obj) < *n.minProperties {
		report(errs, path, Error{Keyword: "minProperties", Got: len(obj), Want: *n.minProperties})
	}
	if n.maxProperties != nil && len(obj) > *n.maxProperties {
		report(errs, path, Error{Keyword: "maxProperties", Got: len(obj), Want: *n.maxProperties})
	}
	var missing []string
	for _, name := range n.required {
		if _, ok := obj[name]; !ok {
			missing = append(missing, name)
		}
	}
	if missing != nil {
		report(errs, path, Error{Keyword: "required", Names: missing})
	}
	keys := sortedKeys(obj)
	if n.propertyNames != nil {
		for _, k := range keys {
			var keyErrs []Error
			n.propertyNames.validate(k, nil, &keyErrs)
			if keyErrs != nil {
				report(errs, path, Error{Keyword: "propertyNames", Got: k})
			}
		}
	}
	var extra []string
	for _, k := range keys {
		sub := appendPath(path, k)
		if p, ok := n.properties[k]; ok {
			p.validate(obj[k], sub, errs)
			continue
		}
		if n.additionalProperties == nil {
			continue
		}
		if b := n.additionalProperties.bool; b != nil && !*b {
			extra = append(extra, k)
			continue
		}
		n.additionalProperties.validate(obj[k], sub, errs)
	}
	if extra != nil {
		report(errs, path, Error{Keyword: "additionalProperties", Names: extra})
	}
}

func (n *node) validateArray(arr []any, path []string, errs *[]Error) {
	if n.minItems != nil && len(arr) < *n.minItems {
		report(errs, path, Error{Keyword: "minItems", Got: len(arr), Want: *n.minItems})
	}
	if n.maxItems != nil && len(arr) > *n.maxItems {
		report(errs, path, Error{Keyword: "maxItems", Got: len(arr), Want: *n.maxItems})
	}
	if n.uniqueItems {
	dup:
		for i := 1; i < len(arr); i++ {
			for j := range i {
				if equal(arr[i], arr[j]) {
					report(errs, path, Error{Keyword: "uniqueItems", Got: i, Want: j})
					break dup
				}
			}
		}
	}
	if n.items != nil {
		for i, e := range arr {
			n.items.validate(e, appendPath(path, strconv.Itoa(i)), errs)
		}
	}
}

func (n *node) validateString(s string, path []string, errs *[]Error) {
	if n.minLength != nil || n.maxLength != nil {
		l := utf8.RuneCountInString(s)
		if n.minLength != nil && l < *n.minLength {
			report(errs, path, Error{Keyword: "minLength", Got: l, Want: *n.minLength})
		}
		if n.maxLength != nil && l > *n.maxLength {
			report(errs, path, Error{Keyword: "maxLength", Got: l, Want: *n.maxLength})
		}
	}
	if n.pattern != nil && !n.pattern.MatchString(s) {
		report(errs, path, Error{Keyword: "pattern", Got: s, Want: n.pattern.String()})
	}
}

func (n *node) validateNumber(r *big.Rat, v any, path []string, errs *[]Error) {
	if n.minimum != nil && r.Cmp(n.minimum) < 0 {
		report(errs, path, Error{Keyword: "minimum", Got: v, Want: n.minimumText})
	}
	if n.maximum != nil && r.Cmp(n.maximum) > 0 {
		report(errs, path, Error{Keyword: "maximum", Got: v, Want: n.maximumText})
	}
}

// typeOf names v's JSON type; a number is "number" (see typeMatches for
// "integer").
func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	}
	if _, ok := rat(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(want []string, got string, v any) bool {
	if slices.Contains(want, got) {
		return true
	}
	if got == "number" && slices.Contains(want, "integer") {
		r, _ := rat(v)
		return r.IsInt()
	}
	return false
}

// rat is v as an exact number, when it is one.
func rat(v any) (*big.Rat, bool) {
	switch t := v.(type) {
	case json.Number:
		return new(big.Rat).SetString(string(t))
	case float64:
		r := new(big.Rat).SetFloat64(t) // nil for NaN and infinities
		return r, r != nil
	case int:
		return new(big.Rat).SetInt64(int64(t)), true
	case int64:
		return new(big.Rat).SetInt64(t), true
	}
	return nil, false
}

// equal is JSON equality: numbers by value, objects and arrays member by
// member.
func equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, equal)
	case nil, bool, string:
		return a == b
	}
	ra, okA := rat(a)
	rb, okB := rat(b)
	return okA && okB && ra.Cmp(rb) == 0
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func appendPath(path []string, tok string) []string {
	return append(path[:len(path):len(path)], tok)
}

// report records e as a violation at path.
func report(errs *[]Error, path []string, e Error) {
	e.Path = append([]string{}, path...) // never nil: the root is []string{}
	*errs = append(*errs, e)
}
