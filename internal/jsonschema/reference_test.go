package jsonschema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	reference "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/internal/jsonschema"
	"github.com/deployerhq/deployer/schemas"
)

// The configuration schema is checked by this package in the binaries and
// by a complete implementation of the draft in these tests: the two must
// find the same violations in every document.

func compileReference(t testing.TB, doc []byte) *reference.Schema {
	t.Helper()
	v, err := reference.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := reference.NewCompiler()
	c.DefaultDraft(reference.Draft2020)
	if err := c.AddResource("schema.json", v); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func compile(t testing.TB, doc []byte) *jsonschema.Schema {
	t.Helper()
	sch, err := jsonschema.Compile(doc)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// violations lists a validation's leaf errors as comparable strings: the
// instance location, the keyword, and the property a keyword names. A
// "propertyNames" violation is listed by its key alone, since the
// reference reports it at a location it does not keep (v6.0.3).
func violations(errs []jsonschema.Error) []string {
	var out []string
	for _, e := range errs {
		at := "/" + strings.Join(e.Path, "/")
		switch e.Keyword {
		case "propertyNames":
			out = append(out, fmt.Sprintf("propertyNames %q", e.Got))
		case "required", "additionalProperties":
			for _, n := range e.Names {
				out = append(out, fmt.Sprintf("%s %s %q", at, e.Keyword, n))
			}
		default:
			out = append(out, at+" "+e.Keyword)
		}
	}
	return normalize(out)
}

func referenceViolations(err error) []string {
	if err == nil {
		return nil
	}
	var ve *reference.ValidationError
	if !errors.As(err, &ve) {
		return []string{"not a validation error: " + err.Error()}
	}
	var out []string
	var walk func(*reference.ValidationError)
	walk = func(ve *reference.ValidationError) {
		at := "/" + strings.Join(ve.InstanceLocation, "/")
		switch k := ve.ErrorKind.(type) {
		case *kind.PropertyNames:
			out = append(out, fmt.Sprintf("propertyNames %q", k.Property))
			return
		case *kind.Required:
			for _, n := range k.Missing {
				out = append(out, fmt.Sprintf("%s required %q", at, n))
			}
			return
		case *kind.AdditionalProperties:
			for _, n := range k.Properties {
				out = append(out, fmt.Sprintf("%s additionalProperties %q", at, n))
			}
			return
		}
		if len(ve.Causes) > 0 {
			for _, c := range ve.Causes {
				walk(c)
			}
			return
		}
		kw := "false"
		if p := ve.ErrorKind.KeywordPath(); len(p) > 0 {
			kw = p[len(p)-1]
		}
		out = append(out, at+" "+kw)
	}
	walk(ve)
	return normalize(out)
}

func normalize(v []string) []string {
	sort.Strings(v)
	return slices.Compact(v)
}

// asJSON is a YAML or JSON document as encoding/json decodes it with
// UseNumber, or false when it is not one JSON can hold.
func asJSON(data []byte) (any, bool) {
	var y any
	if err := yaml.Unmarshal(data, &y); err != nil {
		return nil, false
	}
	raw, err := json.Marshal(y)
	if err != nil {
		return nil, false
	}
	return decode(raw)
}

func decode(raw []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// configCorpus is every configuration the repository keeps: examples and
// test data.
func configCorpus(t testing.TB) map[string]any {
	t.Helper()
	var files []string
	for _, glob := range []string{
		"testdata/*.yaml",
		"../cli/example/deployer.yaml",
		"../../gatekeeper/policy/testdata/*.yaml",
		"../../gatekeeper/policy/testdata/edr/*.golden.yaml",
		"../../config/*.yaml",
		"../../config/*/*.yaml",
	} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	docs := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := asJSON(data); ok {
			docs[f] = v
		}
	}
	if len(docs) < 3 {
		t.Fatalf("only %d configurations found: %v", len(docs), files)
	}
	return docs
}

func agree(t *testing.T, name string, sch *jsonschema.Schema, ref *reference.Schema, v any) {
	t.Helper()
	got := violations(sch.Validate(v))
	want := referenceViolations(ref.Validate(v))
	if !slices.Equal(got, want) {
		doc, _ := json.Marshal(v)
		t.Errorf("%s: %s\nthis package: %q\nreference:    %q", name, doc, got, want)
	}
}

func TestConfigCorpusAgreesWithReference(t *testing.T) {
	sch, ref := compile(t, schemas.ConfigSchema), compileReference(t, schemas.ConfigSchema)
	valid := 0
	for name, v := range configCorpus(t) {
		agree(t, name, sch, ref, v)
		if sch.Validate(v) == nil {
			valid++
		}
	}
	if valid < 3 {
		t.Errorf("only %d valid configurations in the corpus", valid)
	}
}

// TestMutatedConfigsAgreeWithReference breaks the corpus' configurations in
// thousands of ways: removed, retyped, renamed, duplicated and added
// members, values at and beyond their bounds.
func TestMutatedConfigsAgreeWithReference(t *testing.T) {
	sch, ref := compile(t, schemas.ConfigSchema), compileReference(t, schemas.ConfigSchema)
	corpus := configCorpus(t)
	names := make([]string, 0, len(corpus))
	for n := range corpus {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	for i := range 6000 {
		name := names[i%len(names)]
		if i%2 == 0 {
			name = "testdata/every-field.yaml" // the one with every keyword to break
		}
		v := clone(corpus[name])
		for range 1 + rng.IntN(3) {
			v = mutate(rng, v)
		}
		agree(t, fmt.Sprintf("%s, mutant %d", name, i), sch, ref, v)
		for _, e := range sch.Validate(v) {
			seen[e.Keyword]++
			if e.Keyword == "type" && e.Got == "number" && slices.Equal(e.Want.([]string), []string{"integer"}) {
				seen["type integer"]++
			}
		}
	}
	// Every keyword the schema uses must have been violated often enough
	// for the comparison to mean something.
	for _, kw := range []string{
		"type", "type integer", "enum", "required", "additionalProperties", "propertyNames", "pattern",
		"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "uniqueItems", "minProperties",
	} {
		if seen[kw] < 5 {
			t.Errorf("the mutants violate %q %d times: the mutations are too kind (%v)", kw, seen[kw], seen)
		}
	}
}

// replacements are values of every type, and strings and numbers at the
// edges of the schema's bounds.
var replacements = []any{
	nil, true, false, "", "x", "plan", "bad name!", "--opt", "-o", "90x", "1h30m", "ENV_1", "1ENV",
	strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("é", 40), strings.Repeat("é", 200), strings.Repeat("b", 5000),
	json.Number("0"), json.Number("-1"), json.Number("1"), json.Number("1.0"), json.Number("1.5"),
	json.Number("256"), json.Number("1e3"), json.Number("100000000000000000000"), json.Number("-0.0"),
	[]any{}, []any{"a", "a"}, []any{json.Number("1"), json.Number("1.0")}, []any{"FARGATE", "EC2"},
	map[string]any{}, map[string]any{"x": "y"},
}

func mutate(rng *rand.Rand, v any) any {
	paths := allPaths(v, nil)
	p := paths[rng.IntN(len(paths))]
	if len(p) == 0 {
		return replacements[rng.IntN(len(replacements))]
	}
	parent := at(v, p[:len(p)-1])
	last := p[len(p)-1]
	switch c := parent.(type) {
	case map[string]any:
		switch rng.IntN(8) {
		case 0:
			delete(c, last)
		case 6, 7:
			c[last] = perturb(rng, c[last])
		case 1:
			val := c[last]
			delete(c, last)
			c[[]string{"bad key!", "1abc", "", "x_y", "--", strings.Repeat("k", 65), "unknown_field"}[rng.IntN(7)]] = val
		case 2:
			c["extra_"+last] = clone(c[last])
		case 3:
			if m, ok := c[last].(map[string]any); ok {
				clear(m)
				break
			}
			fallthrough
		default:
			c[last] = clone(replacements[rng.IntN(len(replacements))])
		}
	case []any:
		i := index(last)
		switch rng.IntN(3) {
		case 0:
			c[i] = clone(c[(i+1)%len(c)]) // a duplicate when the list has more than one
		case 1:
			c[i] = perturb(rng, c[i])
		default:
			c[i] = clone(replacements[rng.IntN(len(replacements))])
		}
	}
	return v
}

// perturb changes a value within its type, to either side of the bounds a
// schema may set: numbers by a fraction or a factor, strings to lengths
// counted in bytes and in characters, arrays by repeated items.
func perturb(rng *rand.Rand, v any) any {
	switch t := v.(type) {
	case json.Number:
		n, err := t.Float64()
		if err != nil {
			return t
		}
		return json.Number(fmt.Sprint([]float64{n + 0.5, -n, n * 1000, n + 1, n - 1, 1 << 20}[rng.IntN(6)]))
	case string:
		l := []int{0, 1, 63, 64, 65, 128, 255, 256, 257, 2048, 2049, 4096, 4097}[rng.IntN(13)]
		if rng.IntN(2) == 0 {
			return strings.Repeat("é", l) // twice as many bytes as characters
		}
		return strings.Repeat("a", l)
	case []any:
		if len(t) == 0 {
			return t
		}
		n := []int{0, 2, 256, 257}[rng.IntN(4)]
		out := make([]any, 0, n)
		for range n {
			out = append(out, clone(t[0]))
		}
		return out
	case map[string]any:
		clear(t)
	}
	return v
}

func allPaths(v any, p []string) [][]string {
	out := [][]string{slices.Clone(p)}
	switch c := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, allPaths(c[k], append(p, k))...)
		}
	case []any:
		for i, e := range c {
			out = append(out, allPaths(e, append(p, fmt.Sprint(i)))...)
		}
	}
	return out
}

func at(v any, p []string) any {
	for _, tok := range p {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			v = c[index(tok)]
		}
	}
	return v
}

func index(tok string) int {
	i, err := strconv.Atoi(tok)
	if err != nil {
		panic("not an array index: " + tok)
	}
	return i
}

func clone(v any) any {
	switch c := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(c))
		for k, e := range c {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(c))
		for i, e := range c {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// FuzzConfigAgreesWithReference feeds JSON documents to both validators.
func FuzzConfigAgreesWithReference(f *testing.F) {
	for _, v := range configCorpus(f) {
		raw, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"containers": {"c": {"image": "x", "script_config": {"s": {"allowed_options": ["-a", "-a"]}}}}}`))
	f.Add([]byte(`{"lanes": {"l": {"concurrency": 1.0}}, "containers": {"bad name": {}}}`))
	sch, ref := compile(f, schemas.ConfigSchema), compileReference(f, schemas.ConfigSchema)
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, ok := decode(raw)
		if !ok {
			return
		}
		agree(t, "fuzzed", sch, ref, v)
	})
}
