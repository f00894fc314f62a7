package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/internal/jsonschema"
	"github.com/deployerhq/deployer/schemas"
)

// MaxConfigSize is the largest configuration file Load and Parse accept.
const MaxConfigSize = 4 << 20

// Option is an optional knob of Load and Parse.
type Option func(*options)

type options struct {
	local bool
}

// WithLocalBackend also requires what the embedded backend needs: every
// container has local.scripts_dir, the directory exists, and every listed
// script is a file in it.
func WithLocalBackend() Option { return func(o *options) { o.local = true } }

// Problem is one thing wrong with a configuration. Path is the dotted path
// of the offending value ("containers.terraform-planner.script_config.plan.
// restricted_options_regex.--ref"); it is empty for the document itself.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ConfigError reports every problem of a configuration at once.
type ConfigError struct {
	Problems []Problem
}

// Error returns one problem per line, "path: message", sorted by path.
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects configuration problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	msg := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
	*ps = append(*ps, Problem{Path: escapeControl(path), Message: msg})
}

// escapeControl keeps a problem's path on one line: a key may hold any
// character, and a newline in it would split the report a CI log shows.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Path < ps[j].Path })
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return &ConfigError{Problems: append([]Problem(nil), out...)}
}

// Load reads a YAML or JSON configuration file and returns its policy. A
// relative local.scripts_dir is resolved against the file's directory. An
// invalid configuration returns a *ConfigError listing every problem.
func Load(path string, opts ...Option) (*Policy, error) {
	f, err := os.Open(path) //nolint:gosec // the operator's configuration file, by design
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading configuration %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", path, err)
	}
	return Parse(data, filepath.Dir(abs), opts...)
}

// Parse reads a YAML or JSON configuration and returns its policy. A
// relative local.scripts_dir is resolved against baseDir (the working
// directory when baseDir is empty). An invalid configuration returns a
// *ConfigError listing every problem.
func Parse(data []byte, baseDir string, opts ...Option) (*Policy, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		return nil, err
	}
	p, err := compile(cfg, baseDir, o)
	if err != nil {
		return nil, err
	}
	p.source = SourceDigest(data)
	return p, nil
}

// SourceDigest names configuration bytes: two files with the same bytes
// in the same directory make the same policy, so a reader comparing a
// file with a policy in force (factory.CheckServedConfig) can skip the
// parse when the bytes are those the policy was made from.
func SourceDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ValidateConfig checks a configuration that is already decoded, with the
// same rules as Parse. It returns nil or a *ConfigError.
func ValidateConfig(cfg schemas.Config, baseDir string, opts ...Option) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return &ConfigError{Problems: []Problem{{Message: err.Error()}}}
	}
	_, err = Parse(raw, baseDir, opts...)
	return err
}

// decodeConfig turns YAML or JSON into a schemas.Config, reporting schema
// violations with their paths.
func decodeConfig(data []byte) (schemas.Config, error) {
	var cfg schemas.Config
	if len(data) > MaxConfigSize {
		return cfg, &ConfigError{Problems: []Problem{{Message: fmt.Sprintf("configuration is larger than %d bytes", MaxConfigSize)}}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	doc, err := parseDocument(data)
	if err != nil {
		ps := problems{}
		ps.add("", "%v", err)
		return cfg, ps.err()
	}
	var ps problems
	if doc == nil {
		ps.add("", "configuration is empty: it must list at least one container under \"containers\"")
		return cfg, ps.err()
	}
	if obj, ok := doc.(map[string]any); !ok {
		ps.add("", "configuration must be a mapping with a \"containers\" key")
		return cfg, ps.err()
	} else if _, ok := obj["containers"]; !ok && len(obj) == 0 {
		ps.add("", "configuration is empty: it must list at least one container under \"containers\"")
		return cfg, ps.err()
	}
	sch, err := configSchema()
	if err != nil {
		return cfg, fmt.Errorf("compiling the configuration schema: %w", err)
	}
	if errs := sch.Validate(doc); errs != nil {
		for _, e := range errs {
			schemaProblem(e, &ps)
		}
		// Report the regular expressions that do not compile as well, so
		// that a broken file is fixed in one round, not one per problem.
		regexProblems(doc, &ps)
		return cfg, ps.err()
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return cfg, fmt.Errorf("re-encoding configuration: %w", err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		ps.add("", "%v", err)
		return cfg, ps.err()
	}
	return cfg, nil
}

// parseDocument parses JSON (when the document starts with '{') or YAML into
// a JSON-like value: map[string]any, []any, string, bool, nil and
// json.Number.
func parseDocument(data []byte) (any, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		v, err := jsonValue(dec, "")
		if err != nil {
			skipped := int64(len(data) - len(trimmed))
			var se *json.SyntaxError
			switch {
			case errors.As(err, &se):
				line, col := position(data, skipped+se.Offset)
				return nil, fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
			case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
				line, col := position(data, int64(len(data)))
				return nil, fmt.Errorf("invalid JSON: the document ends at line %d, column %d, before its objects and lists are closed", line, col)
			}
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, errors.New("invalid JSON: trailing data after the configuration object")
		}
		return v, nil
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", yamlSyntaxError(err))
	}
	return yamlToJSON(v, "")
}

// position is the 1-based line and column of byte offset off of data.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// yamlParserProblems are the problems yaml.v3's parser (as opposed to its
// scanner) reports. For those it names the 0-based line where the
// construct it was parsing starts (go.yaml.in/yaml/v3, decode.go,
// parser.fail, adds 1 for scanner errors only), one line before the one a
// person counts.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlErrorLine is compiled when first used, not at start-up.
var yamlErrorLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// yamlSyntaxError returns err with the line a person counts: the line
// where the construct that is not well formed starts.
func yamlSyntaxError(err error) error {
	m := yamlErrorLine().FindStringSubmatch(err.Error())
	if m == nil || !yamlParserProblems[m[2]] {
		return err
	}
	n, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return err
	}
	return fmt.Errorf("line %d: %s (in what starts on that line)", n+1, m[2])
}

// jsonValue decodes one JSON value, refusing duplicate keys (which
// encoding/json would silently resolve to the last one).
func jsonValue(dec *json.Decoder, path string) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				p := joinPath(path, k)
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("%s: key defined twice", p)
				}
				v, err := jsonValue(dec, p)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
			_, err := dec.Token()
			return obj, err
		case '[':
			arr := []any{}
			for i := 0; dec.More(); i++ {
				v, err := jsonValue(dec, joinPath(path, strconv.Itoa(i)))
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

// yamlToJSON converts what yaml.v3 decodes into the JSON data model.
func yamlToJSON(v any, path string) (any, error) {
	switch t := v.(type) {
	case nil, string, bool:
		return t, nil
	case int:
		return json.Number(strconv.Itoa(t)), nil
	case int64:
		return json.Number(strconv.FormatInt(t, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(t, 10)), nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("%s: %v is not a number JSON can hold", displayPath(path), t)
		}
		return json.Number(strconv.FormatFloat(t, 'g', -1, 64)), nil
	case time.Time:
		return t.Format(time.RFC3339Nano), nil
	case []byte:
		return string(t), nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			c, err := yamlToJSON(e, joinPath(path, strconv.Itoa(i)))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			c, err := yamlToJSON(e, joinPath(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("%s: key %v is not a string; quote it", displayPath(path), k)
			}
			c, err := yamlToJSON(e, joinPath(path, ks))
			if err != nil {
				return nil, err
			}
			out[ks] = c
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: unsupported YAML value of type %T", displayPath(path), v)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func displayPath(path string) string {
	if path == "" {
		return "configuration"
	}
	return path
}

// configSchema is schemas.ConfigSchema compiled, once per process: a
// fraction of a millisecond (BenchmarkLoad).
var configSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return jsonschema.Compile(schemas.ConfigSchema)
})

// countOf names what a size keyword counts.
var countOf = map[string]string{
	"minProperties": "entries", "minItems": "items", "maxItems": "items",
	"minLength": "characters", "maxLength": "characters",
}

// schemaProblem words one schema violation for the person who wrote the
// file, at the path of the value (or key) at fault.
func schemaProblem(e jsonschema.Error, ps *problems) {
	path := strings.Join(e.Path, ".")
	switch e.Keyword {
	case "propertyNames":
		key := fmt.Sprint(e.Got)
		ps.add(joinPath(path, key), "%s is not a valid key here: it must be %s", quote(key), nameHint(e.Path))
	case "additionalProperties":
		for _, p := range e.Names {
			ps.add(joinPath(path, p), "unknown field")
		}
	case "required":
		for _, p := range e.Names {
			ps.add(joinPath(path, p), "required field is missing")
		}
	case "pattern":
		ps.add(path, "%s does not have the required form (%s)", quote(fmt.Sprint(e.Got)), patternHint(e.Path))
	case "type":
		ps.add(path, "must be %s, got %s", strings.Join(e.Want.([]string), " or "), e.Got)
	case "enum":
		ps.add(path, "%s is not one of the allowed values %s", quote(fmt.Sprint(e.Got)), enumList(e.Want.([]any)))
	case "minProperties", "minItems", "minLength":
		if e.Want == 1 {
			ps.add(path, "must not be empty")
		} else {
			ps.add(path, "must have at least %d %s, got %d", e.Want, countOf[e.Keyword], e.Got)
		}
	case "maxItems", "maxLength":
		ps.add(path, "must have at most %d %s, got %d", e.Want, countOf[e.Keyword], e.Got)
	case "uniqueItems":
		ps.add(path, "items %d and %d are the same: list each once", e.Want, e.Got)
	case "minimum":
		ps.add(path, "must be at least %v, got %v", e.Want, e.Got)
	case "maximum":
		ps.add(path, "must be at most %v, got %v", e.Want, e.Got)
	default:
		ps.add(path, "does not satisfy the schema's %q", e.Keyword)
	}
}

func enumList(want []any) string {
	s := make([]string, len(want))
	for i, w := range want {
		s[i] = fmt.Sprint(w)
	}
	return strings.Join(s, ", ")
}

// patternHint explains the expected form from where the value sits.
func patternHint(loc []string) string {
	if len(loc) == 0 {
		return "see the configuration reference"
	}
	last := loc[len(loc)-1]
	parent := ""
	if len(loc) >= 2 {
		parent = loc[len(loc)-2]
	}
	switch {
	case parent == "containers" || parent == "script_config" || parent == "lanes" || last == "lane":
		return "a name: a letter or digit, then letters, digits, '.', '_' or '-', at most 64 characters"
	case parent == "environment_vars" || parent == "secrets":
		return "an environment variable name: letters, digits and '_', not starting with a digit"
	case last == "timeout" || last == "max_timeout":
		return "a Go duration such as \"90s\", \"30m\" or \"1h30m\""
	default:
		return "an option: one or two ASCII dashes, then a letter or digit, then letters, digits, '.', '_' or '-'"
	}
}

// nameHint explains the expected form of a key of the object at loc.
func nameHint(loc []string) string {
	last := ""
	if len(loc) > 0 {
		last = loc[len(loc)-1]
	}
	switch last {
	case "environment_vars", "secrets":
		return "an environment variable name: letters, digits and '_', not starting with a digit"
	case "hardcoded_options", "restricted_options_regex":
		return "an option: one or two ASCII dashes, then a letter or digit, then letters, digits, '.', '_' or '-'"
	default:
		return "a name: a letter or digit, then letters, digits, '.', '_' or '-', at most 64 characters"
	}
}

// regexProblems reports, from the raw document, every script's regular
// expression that does not compile; Parse calls it when schema problems
// stop the full check.
func regexProblems(doc any, ps *problems) {
	containers, _ := asMap(doc)["containers"].(map[string]any)
	for cname, c := range containers {
		scripts, _ := asMap(c)["script_config"].(map[string]any)
		for sname, sc := range scripts {
			base := "containers." + cname + ".script_config." + sname
			patterns, _ := asMap(sc)["restricted_options_regex"].(map[string]any)
			for opt, expr := range patterns {
				if e, ok := expr.(string); ok {
					if _, err := regexp.Compile(e); err != nil {
						ps.add(base+".restricted_options_regex."+opt, "invalid regular expression %q: %v", e, err)
					}
				}
			}
			refs, _ := asMap(sc)["allowed_refs"].([]any)
			for i, expr := range refs {
				if e, ok := expr.(string); ok {
					if _, err := regexp.Compile(e); err != nil {
						ps.add(fmt.Sprintf("%s.allowed_refs[%d]", base, i), "invalid regular expression %q: %v", e, err)
					}
				}
			}
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
