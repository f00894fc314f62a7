package manifest_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/manifest"
)

// valid are manifests that Parse accepts; the schema test and the fuzz
// seeds use them too.
var valid = []struct {
	name string
	yaml string
	// keys and args are the expanded jobs' keys and args, in order.
	keys []string
	args [][]string
}{
	{
		name: "brief example",
		yaml: mustRead("testdata/nightly-amis.yaml"),
		keys: []string{
			"os=al2023 region=eu-west-1", "os=al2023 region=us-east-1", "os=ubuntu-24.04 region=eu-west-1",
			"os=al2023 region=ap-south-1", "one-off",
		},
		args: [][]string{
			{"--build-name", "al2023-eu-west-1"}, {"--build-name", "al2023-us-east-1"}, {"--build-name", "ubuntu-24.04-eu-west-1"},
			{"--build-name", "al2023-ap-south-1"}, {"--build-name", "windows"},
		},
	},
	{
		// The example of GitHub's documentation ("Expanding or adding
		// matrix configurations"), with the same result.
		name: "GitHub include semantics",
		yaml: `
name: fruit
jobs:
  - container: c
    script: s
    args: ["${{ matrix.fruit }}"]
    matrix:
      fruit: [apple, pear]
      animal: [cat, dog]
      include:
        - color: green
        - color: pink
          animal: cat
        - fruit: apple
          shape: circle
        - fruit: banana
        - fruit: banana
          animal: cat
`,
		keys: []string{
			"fruit=apple animal=cat color=pink shape=circle",
			"fruit=apple animal=dog color=green shape=circle",
			"fruit=pear animal=cat color=pink",
			"fruit=pear animal=dog color=green",
			"fruit=banana",
			"fruit=banana animal=cat",
		},
		args: [][]string{{"apple"}, {"apple"}, {"pear"}, {"pear"}, {"banana"}, {"banana"}},
	},
	{
		name: "partial exclude, first key outermost",
		yaml: `
name: partial
jobs:
  - {container: c, script: s, matrix: {os: [a, b], region: [x, y], arch: [amd, arm], exclude: [{os: b, arch: arm}]}}
`,
		keys: []string{
			"os=a region=x arch=amd", "os=a region=x arch=arm", "os=a region=y arch=amd", "os=a region=y arch=arm",
			"os=b region=x arch=amd", "os=b region=y arch=amd",
		},
		args: [][]string{{}, {}, {}, {}, {}, {}},
	},
	{
		// exclude runs first; an include that matches no remaining
		// combination brings an excluded one back, at the end.
		name: "include after exclude",
		yaml: `
name: readd
jobs:
  - container: c
    script: s
    matrix:
      os: [a, b]
      region: [x, y]
      exclude: [{os: b, region: x}]
      include: [{os: b, region: x}, {os: a, extra: "1"}]
`,
		keys: []string{"os=a region=x extra=1", "os=a region=y extra=1", "os=b region=y", "os=b region=x"},
		args: [][]string{{}, {}, {}, {}},
	},
	{
		name: "include only",
		yaml: `
name: includes
jobs:
  - container: c
    script: s
    args: [--v, "${{ matrix.v }}"]
    matrix:
      include: [{v: "1", w: x}, {v: "2"}]
`,
		keys: []string{"v=1 w=x", "v=2"},
		args: [][]string{{"--v", "1"}, {"--v", "2"}},
	},
	{
		name: "values as written, key order as written",
		yaml: `
name: values
jobs:
  - container: c
    script: s
    args: ["${{ matrix.z }}", 3.10, 1e3, true, 0x1F, "x"]
    matrix:
      z: [3.10, "3.9", 1_000, false, ~x]
      a: [1]
`,
		keys: []string{"z=3.10 a=1", "z=3.9 a=1", "z=1_000 a=1", "z=false a=1", "z=~x a=1"},
		args: [][]string{
			{"3.10", "3.10", "1e3", "true", "0x1F", "x"}, {"3.9", "3.10", "1e3", "true", "0x1F", "x"},
			{"1_000", "3.10", "1e3", "true", "0x1F", "x"}, {"false", "3.10", "1e3", "true", "0x1F", "x"},
			{"~x", "3.10", "1e3", "true", "0x1F", "x"},
		},
	},
	{
		name: "substitution forms and names",
		yaml: `
name: subst
jobs:
  - container: c
    script: s
    name: build-${{matrix.os}}
    args: ["${{matrix.os}}", "${{   matrix.os	}}/${{ matrix.arch }}", "pre-${{ matrix.os }}-post", "$", "{{ matrix.os }}", "}}"]
    matrix:
      os: [al2023]
      arch: [arm64, amd64]
  - container: c
    script: s
    name: plain
  - container: c.d_e-f
    script: "9"
`,
		keys: []string{"build-al2023 os=al2023 arch=arm64", "build-al2023 os=al2023 arch=amd64", "plain", ""},
		args: [][]string{
			{"al2023", "al2023/arm64", "pre-al2023-post", "$", "{{ matrix.os }}", "}}"},
			{"al2023", "al2023/amd64", "pre-al2023-post", "$", "{{ matrix.os }}", "}}"},
			{}, {},
		},
	},
	{
		name: "JSON",
		yaml: `{"name": "json", "max_in_flight": 0, "fail_fast": true, "jobs": [{"container": "c", "script": "s", "args": ["a b"], "matrix": {"k": ["v"]}}]}`,
		keys: []string{"k=v"},
		args: [][]string{{"a b"}},
	},
	{
		name: "unicode and the longest key",
		yaml: "name: \"nächtliche Läufe ✓\"\njobs:\n  - {container: c, script: s, name: \"" + strings.Repeat("é", 64) + "\"}\n",
		keys: []string{strings.Repeat("é", 64)},
		args: [][]string{{}},
	},
}

func mustRead(path string) string {
	b, err := os.ReadFile(path) //nolint:gosec // test data
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParseExpands(t *testing.T) {
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			m, err := manifest.Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			var args [][]string
			for _, j := range m.Jobs {
				keys = append(keys, j.Key)
				args = append(args, j.Args)
			}
			if !reflect.DeepEqual(keys, tt.keys) {
				t.Errorf("keys:\n got %q\nwant %q", keys, tt.keys)
			}
			if !reflect.DeepEqual(args, tt.args) {
				t.Errorf("args:\n got %q\nwant %q", args, tt.args)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	m, err := manifest.Load("testdata/nightly-amis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "nightly-amis" || m.MaxInFlight != 4 || m.FailFast || len(m.Jobs) != 5 {
		t.Fatalf("got %+v", m)
	}
	want := manifest.Job{
		Container: "ami-builder", Script: "build-packer-artifact", Args: []string{"--build-name", "windows"},
		Key: "one-off", Timeout: 2 * time.Hour, TaskCPU: 2048, TaskMemory: 4096,
	}
	if got := m.Jobs[4]; !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if j := m.Jobs[0]; j.Timeout != 0 || j.TaskCPU != 0 || j.TaskMemory != 0 || j.Container != "ami-builder" {
		t.Errorf("matrix job %+v", j)
	}
	m, err = manifest.Parse([]byte("name: n\nfail_fast: true\nmax_in_flight: 0x10\njobs: [{container: c, script: s}]"))
	if err != nil || !m.FailFast || m.MaxInFlight != 16 || m.Jobs[0].Args == nil {
		t.Errorf("got %+v, %v", m, err)
	}
}

// job wraps one job's YAML (indented as a list item's fields) in a
// manifest.
func job(fields string) string { return "name: n\njobs:\n  - " + fields + "\n" }

var invalid = []struct {
	name, yaml, want string
	// line is the line the first problem is reported at (0: not checked).
	line int
	// schema tells that the JSON Schema refuses it as well.
	schema bool
}{
	{name: "empty", yaml: "", want: "manifest is empty"},
	{name: "comment only", yaml: "# nothing\n", want: "manifest is empty"},
	{name: "null document", yaml: "~\n", want: "manifest is empty"},
	{name: "not a mapping", yaml: "- a\n", want: "manifest must be a mapping with name and jobs, not a list", line: 1},
	{name: "scalar document", yaml: "hello", want: "not the string hello"},
	{name: "two documents", yaml: job("{container: c, script: s}") + "---\nname: m\n", want: "more than one YAML document"},
	{name: "bad YAML", yaml: "name: [a\n", want: "invalid YAML"},
	{name: "tabs", yaml: "name: n\n\tjobs: []\n", want: "invalid YAML"},
	{name: "anchor", yaml: "name: &n x\njobs: [{container: c, script: s}]\n", want: "YAML anchors (&n) are not allowed", line: 1},
	{name: "alias", yaml: "name: x\njobs:\n  - &j {container: c, script: s}\n  - *j\n", want: "manifest:4: YAML aliases (*j) are not allowed", line: 3},
	{name: "billion laughs", yaml: `name: x
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
jobs: *g
`, want: "YAML anchors (&a) are not allowed"},
	{name: "merge key", yaml: "name: x\njobs:\n  - {<<: {container: c}, script: s}\n", want: "YAML merge keys (<<) are not allowed"},
	{name: "unknown field", yaml: "name: n\nlabels: x\njobs: [{container: c, script: s}]\n", want: `unknown field "labels"`, line: 2, schema: true},
	{name: "duplicate field", yaml: "name: n\nname: m\njobs: [{container: c, script: s}]\n", want: "name is given twice (first at line 1)", line: 2},
	{name: "non-string key", yaml: "name: n\n1: x\njobs: [{container: c, script: s}]\n", want: `key the number "1" is not a string`},
	{name: "missing name", yaml: "jobs: [{container: c, script: s}]\n", want: "name is required", schema: true},
	{name: "empty name", yaml: "name: ''\njobs: [{container: c, script: s}]\n", want: "name is empty", schema: true},
	{name: "name not a string", yaml: "name: 12\njobs: [{container: c, script: s}]\n", want: "name must be a string, not the number", schema: true},
	{name: "long name", yaml: "name: " + strings.Repeat("n", 129) + "\njobs: [{container: c, script: s}]\n", want: "name is 129 bytes, at most 128", schema: true},
	{name: "two-line name", yaml: "name: \"a\\nb\"\njobs: [{container: c, script: s}]\n", want: "not printable", schema: true},
	{name: "control in name", yaml: "name: \"a\\x1b[31m\"\njobs: [{container: c, script: s}]\n", want: "not printable", schema: true},
	{name: "invalid UTF-8 name", yaml: "name: \"a\xff\"\njobs: [{container: c, script: s}]\n", want: "invalid YAML"},
	{name: "missing jobs", yaml: "name: n\n", want: "jobs is required", schema: true},
	{name: "empty jobs", yaml: "name: n\njobs: []\n", want: "jobs is empty", schema: true},
	{name: "jobs not a list", yaml: "name: n\njobs: {container: c}\n", want: "jobs must be a list, not a mapping", schema: true},
	{name: "job not a mapping", yaml: "name: n\njobs: [c/s]\n", want: "job 1 must be a mapping", schema: true},
	{name: "negative max_in_flight", yaml: "name: n\nmax_in_flight: -1\njobs: [{container: c, script: s}]\n", want: "max_in_flight must not be negative, got -1", line: 2, schema: true},
	{name: "max_in_flight not an integer", yaml: "name: n\nmax_in_flight: 1.5\njobs: [{container: c, script: s}]\n", want: "max_in_flight must be an integer, not the number", schema: true},
	{name: "max_in_flight overflows", yaml: "name: n\nmax_in_flight: 99999999999999999999\njobs: [{container: c, script: s}]\n", want: "max_in_flight must be an integer"},
	{name: "fail_fast not a boolean", yaml: "name: n\nfail_fast: yes\njobs: [{container: c, script: s}]\n", want: "fail_fast must be true or false", schema: true},
	{name: "missing container", yaml: job("{script: s}"), want: `job 1 (""/s): container is required`, line: 3, schema: true},
	{name: "missing script", yaml: job("{container: c}"), want: `job 1 (c/""): script is required`, schema: true},
	{name: "bad container name", yaml: job("{container: ../c, script: s}"), want: `container "../c" is not a valid name`, schema: true},
	{name: "container not a string", yaml: job("{container: [c], script: s}"), want: "container must be a string, not a list", schema: true},
	{name: "unknown job field", yaml: job("{container: c, script: s, timout: 1h}"), want: `job 1 (c/s): unknown field "timout"`, schema: true},
	{name: "duplicate job field", yaml: job("{container: c, script: s, script: t}"), want: "script is given twice"},
	{name: "tab in job name", yaml: job("{container: c, script: s, name: \"${{matrix.os\\t}}\", matrix: {os: [a]}}"), want: `name "${{matrix.os\t}}" has a character that is not printable`, schema: true},
	{name: "empty job name", yaml: job("{container: c, script: s, name: ''}"), want: "name is empty; leave it out", schema: true},
	{name: "bad timeout", yaml: job("{container: c, script: s, timeout: 2 hours}"), want: `timeout "2 hours" is not a duration`, schema: true},
	{name: "zero timeout", yaml: job("{container: c, script: s, timeout: 0m0s}"), want: "must be positive", schema: true},
	{name: "negative timeout", yaml: job("{container: c, script: s, timeout: -1m}"), want: "must be positive", schema: true},
	{name: "timeout number", yaml: job("{container: c, script: s, timeout: 60}"), want: "timeout must be a string, not the number", schema: true},
	{name: "negative cpu", yaml: job("{container: c, script: s, task_cpu: -1}"), want: "task_cpu must not be negative", schema: true},
	{name: "memory string", yaml: job("{container: c, script: s, task_memory: 4GB}"), want: "task_memory must be an integer", schema: true},
	{name: "args not a list", yaml: job("{container: c, script: s, args: --x}"), want: "args must be a list of strings", schema: true},
	{name: "arg mapping", yaml: job("{container: c, script: s, args: [--x, {a: 1}]}"), want: "job 1 (c/s): args[1] must be a string, not a mapping", schema: true},
	{name: "arg list", yaml: job("{container: c, script: s, args: [[a]]}"), want: "args[0] must be a string, not a list", schema: true},
	{name: "arg null", yaml: job("{container: c, script: s, args: [~]}"), want: "args[0] is null", schema: true},
	{name: "arg binary", yaml: job("{container: c, script: s, args: [!!binary aGk=]}"), want: "has the tag !!binary"},
	{name: "too many args", yaml: job("{container: c, script: s, args: [" + strings.Repeat("a, ", 256) + "a]}"), want: "args has 257 arguments, at most 256", schema: true},
	{name: "long arg", yaml: job("{container: c, script: s, args: [" + strings.Repeat("a", 4097) + "]}"), want: "args[0] is 4097 bytes, at most 4096"},
	{name: "matrix not a mapping", yaml: job("{container: c, script: s, matrix: [a]}"), want: "matrix must be a mapping", schema: true},
	{name: "empty matrix", yaml: job("{container: c, script: s, matrix: {}}"), want: "matrix has no keys and no include entries", schema: true},
	{name: "matrix value not a list", yaml: job("{container: c, script: s, matrix: {os: a}}"), want: "os must be a list of values", schema: true},
	{name: "matrix empty values", yaml: job("{container: c, script: s, matrix: {os: []}}"), want: "matrix: os lists no values", schema: true},
	{name: "matrix non-scalar value", yaml: job("{container: c, script: s, matrix: {os: [{a: b}]}}"), want: "matrix: os[0] must be a string, not a mapping", schema: true},
	{name: "matrix null value", yaml: job("{container: c, script: s, matrix: {os: [null]}}"), want: "os[0] is null", schema: true},
	{name: "matrix bad key", yaml: job("{container: c, script: s, matrix: {1os: [a]}}"), want: `key "1os" is not valid`, schema: true},
	{name: "matrix dotted key", yaml: job("{container: c, script: s, matrix: {os.name: [a]}}"), want: "is not valid", schema: true},
	{name: "matrix duplicate value", yaml: job("{container: c, script: s, matrix: {os: [a, b, a]}}"), want: "os lists a twice"},
	{name: "matrix duplicate key", yaml: job("{container: c, script: s, matrix: {os: [a], os: [b]}}"), want: "os is given twice"},
	{name: "include not a list", yaml: job("{container: c, script: s, matrix: {os: [a], include: {os: b}}}"), want: "include must be a list of mappings", schema: true},
	{name: "include entry not a mapping", yaml: job("{container: c, script: s, matrix: {os: [a], include: [b]}}"), want: "include[0] must be a mapping", schema: true},
	{name: "include entry empty", yaml: job("{container: c, script: s, matrix: {os: [a], include: [{}]}}"), want: "include[0] is empty", schema: true},
	{name: "include entry non-scalar", yaml: job("{container: c, script: s, matrix: {os: [a], include: [{os: [b]}]}}"), want: "include[0]: os must be a string, not a list", schema: true},
	{name: "include bad key", yaml: job("{container: c, script: s, matrix: {include: [{a b: c}]}}"), want: `key "a b" is not valid`, schema: true},
	{name: "exclude unknown key", yaml: job("{container: c, script: s, matrix: {os: [a, b], exclude: [{oss: a}]}}"), want: "exclude: oss is not a key of the matrix (keys: os)"},
	{name: "exclude unknown value", yaml: job("{container: c, script: s, matrix: {os: [a, b], exclude: [{os: c}]}}"), want: "would exclude nothing"},
	{name: "exclude everything", yaml: job("{container: c, script: s, matrix: {os: [a, b], exclude: [{os: a}, {os: b}]}}"), want: "exclude removes every combination"},
	{name: "other expression", yaml: job("{container: c, script: s, args: [\"${{ secrets.TOKEN }}\"], matrix: {os: [a]}}"), want: `job 1 (c/s): args[0] uses the expression "${{ secrets.TOKEN }}": only ${{ matrix.KEY }} is substituted`},
	{name: "github expression", yaml: job("{container: c, script: s, args: [\"${{ github.sha }}\"]}"), want: "only ${{ matrix.KEY }} is substituted"},
	{name: "unknown matrix key", yaml: job("{container: c, script: s, args: [\"${{ matrix.oss }}\"], matrix: {os: [a]}}"), want: "oss is not a key of the job's matrix"},
	{name: "matrix case differs", yaml: job("{container: c, script: s, args: [\"${{ Matrix.os }}\"], matrix: {os: [a]}}"), want: "only ${{ matrix.KEY }}"},
	{name: "unterminated expression", yaml: job("{container: c, script: s, args: [\"x-${{ matrix.os\"], matrix: {os: [a]}}"), want: "args[0] has ${{ without a closing }}"},
	{name: "no matrix", yaml: job("{container: c, script: s, args: [\"${{ matrix.os }}\"]}"), want: "but the job has no matrix"},
	{name: "expression in name", yaml: job("{container: c, script: s, name: \"${{ matrix.x }}\", matrix: {os: [a]}}"), want: "name uses the expression"},
	{name: "key missing in a combination", yaml: job("{container: c, script: s, args: [\"${{ matrix.extra }}\"], matrix: {os: [a, b], include: [{os: a, extra: x}]}}"), want: `args[0] uses matrix.extra, but the combination "os=b" has no value for it`},
	{name: "expression made by substitution", yaml: job("{container: c, script: s, args: [\"$${{ matrix.os }}\"], matrix: {os: [\"{{ x }}\"]}}"), want: "which contains ${{"},
	{name: "second job named", yaml: "name: n\njobs:\n  - {container: c, script: s}\n  - {container: d, script: t, args: [\"${{ matrix.os }}\"]}\n", want: "job 2 (d/t): args[0] uses", line: 4},
	{name: "duplicate matrices", yaml: "name: n\njobs:\n  - {container: c, script: s, matrix: {os: [a, b]}}\n  - {container: c, script: s, matrix: {os: [b]}}\n", want: `batch job 3 has the key "os=b", the same as batch job 2 from job 1 (c/s)`},
	{name: "duplicate names", yaml: "name: n\njobs:\n  - {container: c, script: s, name: x}\n  - {container: c, script: t, name: x}\n", want: `the key "x", the same as batch job 1`},
	{name: "long key", yaml: job("{container: c, script: s, name: " + strings.Repeat("k", 120) + ", matrix: {os: [abcdefgh]}}"), want: "the job's key is 132 bytes, at most 128"},
	{name: "unprintable key", yaml: job("{container: c, script: s, matrix: {os: [\"a\\tb\"]}}"), want: "the job's key \"os=a\\tb\" has a character that is not printable"},
	{name: "matrix too large", yaml: job("{container: c, script: s, matrix: {a: [" + nums(11) + "], b: [" + nums(91) + "]}}"), want: "matrix has more than 1000 combinations (before exclude)"},
	{name: "matrix astronomically large", yaml: job("{container: c, script: s, matrix: {" + bigMatrix(30, 10) + "}}"), want: "more than 1000 combinations"},
	{name: "batch too large", yaml: "name: n\njobs:\n  - {container: c, script: s, matrix: {a: [" + nums(1000) + "]}}\n  - {container: c, script: s, name: x}\n", want: "the manifest expands to more than 1000 jobs"},
	{name: "too many jobs", yaml: "name: n\njobs:\n" + strings.Repeat("  - {container: c, script: s}\n", 1001), want: "jobs lists 1001 jobs, at most 1000", schema: true},
	{name: "too large", yaml: "name: n\n#" + strings.Repeat("x", manifest.MaxBytes), want: "manifest is larger than 1048576 bytes"},
}

func nums(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(i)
	}
	return strings.Join(s, ", ")
}

func bigMatrix(keys, values int) string {
	s := make([]string, keys)
	for i := range s {
		s[i] = fmt.Sprintf("k%d: [%s]", i, nums(values))
	}
	return strings.Join(s, ", ")
}

func TestParseRejects(t *testing.T) {
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			m, err := manifest.Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if m != nil {
				t.Errorf("returned a manifest with the error %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
			var me *manifest.Error
			if !errors.As(err, &me) || me.Source != "manifest" || len(me.Problems) == 0 {
				t.Fatalf("error %#v is not a *manifest.Error from the manifest", err)
			}
			if tt.line != 0 && me.Problems[0].Line != tt.line {
				t.Errorf("first problem at line %d, want %d: %v", me.Problems[0].Line, tt.line, err)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := manifest.Parse([]byte(`name: n
max_in_flight: -2
jobs:
  - container: c
    args: [{a: b}]
  - container: d
    script: t
    task_cpu: x
`))
	want := `manifest:2: max_in_flight must not be negative, got -2
manifest:4: job 1 (c/""): script is required
manifest:5: job 1 (c/""): args[0] must be a string, not a mapping
manifest:8: job 2 (d/t): task_cpu must be an integer, not the string x`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestParseBoundsProblems(t *testing.T) {
	_, err := manifest.Parse([]byte("name: n\njobs:\n" + strings.Repeat("  - {container: c, script: s, x: 1}\n", 500)))
	var me *manifest.Error
	if !errors.As(err, &me) {
		t.Fatal(err)
	}
	if n := len(me.Problems); n > 30 || !strings.Contains(me.Problems[n-1].Message, "too many problems") {
		t.Errorf("%d problems, last %q", n, me.Problems[n-1].Message)
	}
}

func TestParseLimits(t *testing.T) {
	// Exactly at the limits is fine.
	m, err := manifest.Parse([]byte(job("{container: c, script: s, args: [\"${{ matrix.a }}\", " + strings.Repeat("a, ", 254) + strings.Repeat("a", 4096) + "], matrix: {a: [" + nums(1000) + "]}}")))
	if err != nil || len(m.Jobs) != 1000 {
		t.Fatalf("1000 jobs of 256 args: %v", err)
	}
	// A large product cut down by exclude fits when it is not over the
	// limit before exclude.
	m, err = manifest.Parse([]byte(job("{container: c, script: s, matrix: {a: [" + nums(10) + "], b: [" + nums(100) + "], exclude: [{a: 0}]}}")))
	if err != nil || len(m.Jobs) != 900 {
		t.Fatalf("900 jobs: %v", err)
	}
	m, err = manifest.Parse([]byte("name: n\njobs:\n" + jobs(1000)))
	if err != nil || len(m.Jobs) != 1000 {
		t.Fatalf("1000 plain jobs: %v", err)
	}
}

// jobs lists n plain jobs with distinct names.
func jobs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {container: c, script: s, name: j%d}\n", i)
	}
	return b.String()
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "batch.yaml")
	if err := os.WriteFile(path, []byte("name: n\njobs:\n  - {container: c}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := manifest.Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":3: job 1 (c/\"\"): script is required") {
		t.Errorf("got %v", err)
	}
	_, err = manifest.Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v", err)
	}
	if err := os.WriteFile(path, []byte("name: n\n#"+strings.Repeat("x", 2*manifest.MaxBytes)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = manifest.Load(path); err == nil || !strings.Contains(err.Error(), path+": manifest is larger than") {
		t.Errorf("got %v", err)
	}
}

// A plain list of jobs needs no names: a job without a key is named by its
// position.
func TestPlainJobsNeedNoNames(t *testing.T) {
	m, err := manifest.Parse([]byte("name: n\njobs:\n  - {container: c, script: s}\n  - {container: c, script: s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Jobs) != 2 || m.Jobs[0].Key != "" || m.Jobs[1].Key != "" {
		t.Fatalf("jobs %+v, want two without a key", m.Jobs)
	}
}
