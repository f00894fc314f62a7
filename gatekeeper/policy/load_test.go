package policy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

// base is a valid configuration that the problem cases break one way each.
const base = `
containers:
  c:
    image: x
    script_config:
      s:
        allowed_options: [--a]
`

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []Problem // each must appear (Message is a substring)
	}{
		{"empty document", ``, []Problem{{"", "configuration is empty"}}},
		{"not a mapping", `- a`, []Problem{{"", "must be a mapping"}}},
		{"invalid YAML", "containers: [", []Problem{{"", "invalid YAML"}}},
		{"duplicate YAML key", "containers:\n  c: {}\n  c: {}\n", []Problem{{"", "already defined"}}},
		{"no containers", `containers: {}`, []Problem{{"containers", "must not be empty"}}},
		{"containers missing", `lanes: {}`, []Problem{{"containers", "required field is missing"}}},
		{"unknown top-level field", base + "extra: 1\n", []Problem{{"extra", "unknown field"}}},
		{"unknown container field", strings.Replace(base, "image: x", "image: x\n    imagee: y", 1), []Problem{{"containers.c.imagee", "unknown field"}}},
		{"unknown script field", strings.Replace(base, "allowed_options: [--a]", "allowed_option: [--a]", 1), []Problem{{"containers.c.script_config.s.allowed_option", "unknown field"}}},
		{"container without scripts", "containers:\n  c:\n    image: x\n    script_config: {}\n", []Problem{{"containers.c.script_config", "must not be empty"}}},
		{"container without script_config", "containers:\n  c:\n    image: x\n", []Problem{{"containers.c.script_config", "required field is missing"}}},
		{"container without anything to run", "containers:\n  c:\n    script_config:\n      s: {}\n", []Problem{{"containers.c", "needs at least one of image, task_definition and local"}}},
		{"bad container name", "containers:\n  bad name:\n    image: x\n    script_config:\n      s: {}\n", []Problem{{"containers.bad name", "is not a valid key here: it must be a name"}}},
		{"script name with a slash", "containers:\n  c:\n    image: x\n    script_config:\n      ../s: {}\n", []Problem{{"containers.c.script_config.../s", "not a valid key"}}},
		{"wrong type", strings.Replace(base, "image: x", "image: x\n    task_cpu: lots", 1), []Problem{{"containers.c.task_cpu", "must be integer, got string"}}},
		{"bad regex", base + "        restricted_options_regex:\n          --a: \"(unclosed\"\n", []Problem{{"containers.c.script_config.s.restricted_options_regex.--a", "invalid regular expression \"(unclosed\": missing closing )"}}},
		{"perl regex", base + "        restricted_options_regex:\n          --a: \"(?!x)\"\n", []Problem{{"containers.c.script_config.s.restricted_options_regex.--a", "invalid regular expression"}}},
		{"bad ref regex", base + "        allowed_refs: [\"main\", \"[\"]\n", []Problem{{"containers.c.script_config.s.allowed_refs.1", "invalid regular expression"}}},
		{"regex on a flag", base + "        allowed_options_without_args: [--f]\n        restricted_options_regex:\n          --F: x\n", []Problem{{"containers.c.script_config.s.restricted_options_regex.--F", "takes no value"}}},
		{"bad option name", base + "        restricted_options: [destroy]\n", []Problem{{"containers.c.script_config.s.restricted_options.0", "does not have the required form"}}},
		{"bad option key", base + "        hardcoded_options:\n          repo: [x]\n", []Problem{{"containers.c.script_config.s.hardcoded_options.repo", "it must be an option"}}},
		{"allowed and restricted", base + "        restricted_options: [-A]\n", []Problem{{"containers.c.script_config.s.allowed_options", "--a is also restricted (as -A)"}}},
		{"allowed and hardcoded", base + "        hardcoded_options:\n          --a: [x]\n", []Problem{{"containers.c.script_config.s.allowed_options", "--a is hardcoded (--a x), so callers can never pass it"}}},
		{"hardcoded twice", base + "        hardcoded_options:\n          --b: [x]\n          -B: [y]\n", []Problem{{"containers.c.script_config.s.hardcoded_options.-B", "-B is the same option as --b, already hardcoded"}}},
		{"repeatable hardcoded", base + "        hardcoded_options:\n          --b: [x]\n        repeatable_options: [--b]\n", []Problem{{"containers.c.script_config.s.repeatable_options", "hardcoded"}}},
		{"hardcoded value with a newline", base + "        hardcoded_options:\n          --b: [\"x\\ny\"]\n", []Problem{{"containers.c.script_config.s.hardcoded_options.--b.0", "control character U+000A"}}},
		{"cpu cap below default", strings.Replace(base, "image: x", "image: x\n    task_cpu: 1024\n    task_memory: 2048\n    max_task_cpu: 512", 1), []Problem{{"containers.c.max_task_cpu", "max_task_cpu 512 is below task_cpu 1024"}}},
		{"memory cap below default", strings.Replace(base, "image: x", "image: x\n    task_cpu: 1024\n    task_memory: 4096\n    max_task_memory: 2048", 1), []Problem{{"containers.c.max_task_memory", "max_task_memory 2048 is below task_memory 4096"}}},
		{"timeout cap below default", strings.Replace(base, "image: x", "image: x\n    timeout: 2h\n    max_timeout: 1h", 1), []Problem{{"containers.c.max_timeout", "max_timeout 1h0m0s is below timeout 2h0m0s"}}},
		{"timeout cap below the default timeout", strings.Replace(base, "image: x", "image: x\n    max_timeout: 30m", 1), []Problem{{"containers.c.max_timeout", "below timeout 1h0m0s"}}},
		{"script timeout above cap", strings.Replace(base, "image: x", "image: x\n    max_timeout: 2h", 1) + "        timeout: 3h\n", []Problem{{"containers.c.script_config.s.timeout", "timeout 3h0m0s is above the container's max_timeout 2h0m0s"}}},
		{"invalid duration", strings.Replace(base, "image: x", "image: x\n    timeout: 5 minutes", 1), []Problem{{"containers.c.timeout", "a Go duration"}}},
		{"negative duration", strings.Replace(base, "image: x", "image: x\n    timeout: -5m", 1), []Problem{{"containers.c.timeout", "a Go duration"}}},
		{"invalid Fargate default", strings.Replace(base, "image: x", "image: x\n    task_cpu: 1024\n    task_memory: 512", 1), []Problem{{"containers.c.task_memory", "FARGATE cannot run task_cpu 1024 with task_memory 512"}}},
		{"invalid Fargate cpu", strings.Replace(base, "image: x", "image: x\n    task_cpu: 1000", 1), []Problem{{"containers.c.task_cpu", "FARGATE has no task_cpu 1000"}}},
		{"unknown launch type", strings.Replace(base, "image: x", "image: x\n    launch_types: [LAMBDA]", 1), []Problem{{"containers.c.launch_types.0", "\"LAMBDA\" is not one of the allowed values FARGATE, EC2, EXTERNAL"}}},
		{"undefined lane", strings.Replace(base, "image: x", "image: x\n    lane: amis", 1), []Problem{{"containers.c.lane", "lane amis is not defined under lanes (defined: none)"}}},
		{"lane without concurrency", "lanes:\n  amis: {}\n" + base, []Problem{{"lanes.amis.concurrency", "required field is missing"}}},
		{"lane concurrency zero", "lanes:\n  amis: {concurrency: 0}\n" + base, []Problem{{"lanes.amis.concurrency", "must be at least 1, got 0"}}},
		{"secret value pasted", strings.Replace(base, "image: x", "image: x\n    secrets:\n      TOKEN: hunter2", 1), []Problem{{"containers.c.secrets.TOKEN", "looks like a value was pasted"}}},
		{"secret ARN malformed", strings.Replace(base, "image: x", "image: x\n    secrets:\n      TOKEN: arn:aws:secretsmanager:us-east-1:123:secret:x", 1), []Problem{{"containers.c.secrets.TOKEN", "not a valid Secrets Manager ARN"}}},
		{"secret file relative", strings.Replace(base, "image: x", "image: x\n    secrets:\n      TOKEN: file:token.txt", 1), []Problem{{"containers.c.secrets.TOKEN", "absolute"}}},
		{"secret env bad", strings.Replace(base, "image: x", "image: x\n    secrets:\n      TOKEN: env:1X", 1), []Problem{{"containers.c.secrets.TOKEN", "env:NAME"}}},
		{"secret and env var", strings.Replace(base, "image: x", "image: x\n    environment_vars:\n      TOKEN: x\n    secrets:\n      TOKEN: env:T", 1), []Problem{{"containers.c.secrets.TOKEN", "also set in environment_vars"}}},
		{"bad env name", strings.Replace(base, "image: x", "image: x\n    environment_vars:\n      BAD-NAME: x", 1), []Problem{{"containers.c.environment_vars.BAD-NAME", "environment variable name"}}},
		{"bad caller pattern", strings.Replace(base, "image: x", "image: x\n    allowed_callers: [alice]", 1), []Problem{{"containers.c.allowed_callers.0", "must be \"*\", \"user:NAME\", \"schedule:NAME\" or an ARN"}}},
		{"short ARN pattern", strings.Replace(base, "image: x", "image: x\n    allowed_callers: [\"arn:aws:iam::123\"]", 1), []Problem{{"containers.c.allowed_callers.0", "is not an ARN"}}},
		{"local without scripts_dir", strings.Replace(base, "image: x", "local: {}", 1), []Problem{{"containers.c.local.scripts_dir", "required field is missing"}}},
		{"option listed twice", base + "        restricted_options: [--x, --y, --x]\n", []Problem{{"containers.c.script_config.s.restricted_options", "items 0 and 2 are the same: list each once"}}},
		{"no launch type", strings.Replace(base, "image: x", "image: x\n    launch_types: []", 1), []Problem{{"containers.c.launch_types", "must not be empty"}}},
		{"empty ref", base + "        allowed_refs: [\"\"]\n", []Problem{{"containers.c.script_config.s.allowed_refs.0", "must not be empty"}}},
		{"caller too long", strings.Replace(base, "image: x", "image: x\n    allowed_callers: [\"arn:aws:iam::123456789012:role/"+strings.Repeat("é", 2020)+"\"]", 1), []Problem{{"containers.c.allowed_callers.0", "must have at most 2048 characters, got 2051"}}},
		{"retry out of range", strings.Replace(base, "image: x", "image: x\n    retry: {max_attempts: 99}", 1), []Problem{{"containers.c.retry.max_attempts", "must be at most 10, got 99"}}},
		{"every problem at once", `
lanes:
  l: {concurrency: 1}
containers:
  a:
    image: x
    bogus: 1
    script_config: {}
  b:
    image: x
    lane: nope
    task_cpu: 2048
    task_memory: 4096
    max_task_cpu: 1024
    script_config:
      s:
        restricted_options_regex: {--x: "("}
        allowed_refs: ["("]
`, []Problem{
			{"containers.a.bogus", "unknown field"},
			{"containers.a.script_config", "must not be empty"},
		}},
		{"every semantic problem at once", `
containers:
  b:
    image: x
    lane: nope
    task_cpu: 2048
    task_memory: 4096
    max_task_cpu: 1024
    secrets: {T: oops}
    script_config:
      s:
        restricted_options_regex: {--x: "("}
        allowed_refs: ["("]
`, []Problem{
			{"containers.b.lane", "not defined"},
			{"containers.b.max_task_cpu", "below"},
			{"containers.b.secrets.T", "secret reference"},
			{"containers.b.script_config.s.allowed_refs.0", "invalid regular expression"},
			{"containers.b.script_config.s.restricted_options_regex.--x", "invalid regular expression"},
		}},
		{"JSON duplicate key", `{"containers": {"c": {"image": "x", "script_config": {"s": {}}}, "c": {}}}`, []Problem{{"", "containers.c: key defined twice"}}},
		{"JSON trailing data", `{"containers": {}} {}`, []Problem{{"", "trailing data"}}},
		{"JSON syntax", `{"containers": `, []Problem{{"", "invalid JSON"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), t.TempDir())
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error = %v, want a *ConfigError", err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ce.Problems {
					if p.Path == w.Path && strings.Contains(p.Message, w.Message) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q: %q; got:\n%s", w.Path, w.Message, ce.Error())
				}
			}
			lines := strings.Split(ce.Error(), "\n")
			if len(lines) != len(ce.Problems) {
				t.Errorf("Error() has %d lines for %d problems", len(lines), len(ce.Problems))
			}
		})
	}
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	y, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("testdata/policy.yaml")
	_ = raw
	js, err := jsonOf(y.Config())
	if err != nil {
		t.Fatal(err)
	}
	j, err := Parse(js, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y.Config(), j.Config()) {
		t.Errorf("JSON and YAML configurations differ")
	}
	// Null and empty allowed_options survive the round trip distinctly.
	cfg := j.Config()
	if cfg.Containers["packer"].ScriptConfig["build-ami"].AllowedOptions != nil {
		t.Error("allowed_options: null became a list")
	}
	if o := cfg.Containers["locked"].ScriptConfig["noop"].AllowedOptions; o == nil || len(o) != 0 {
		t.Errorf("allowed_options: [] became %#v", o)
	}
	// Config returns copies.
	cfg.Containers["packer"].ScriptConfig["build-ami"] = schemas.ScriptConfig{}
	if j.Config().Containers["packer"].ScriptConfig["build-ami"].RestrictedOptions == nil {
		t.Error("Config aliases the policy")
	}
}

func TestLocalBackend(t *testing.T) {
	dir := t.TempDir()
	scripts := filepath.Join(dir, "bin")
	if err := os.Mkdir(scripts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scripts, "ok"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(scripts, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := `
containers:
  c:
    local: {scripts_dir: bin}
    script_config:
      ok: {}
  d:
    local: {scripts_dir: bin}
    script_config:
      missing: {}
      noexec: {}
  e:
    local: {scripts_dir: /nonexistent/deployer/scripts}
    script_config:
      x: {}
  f:
    image: x
    script_config:
      x: {}
`
	path := filepath.Join(dir, "deployer.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without the local backend only the shape counts.
	p, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := p.Config().Containers["e"].Local.ScriptsDir; got != "/nonexistent/deployer/scripts" {
		t.Errorf("absolute scripts_dir changed to %s", got)
	}
	if got := p.Config().Containers["c"].Local.ScriptsDir; got != scripts {
		t.Errorf("relative scripts_dir resolved to %s, want %s", got, scripts)
	}
	o, err := p.Resolve(request("c", "ok"), alice, testNow)
	if err != nil || o.ScriptsDir != scripts {
		t.Errorf("ScriptsDir = %q, %v", o.ScriptsDir, err)
	}

	_, err = Load(path, WithLocalBackend())
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Load with the local backend: %v", err)
	}
	want := []Problem{
		{"containers.d.script_config.missing", "script file " + filepath.Join(scripts, "missing") + " does not exist"},
		{"containers.d.script_config.noexec", "is not executable"},
		{"containers.e.local.scripts_dir", "directory /nonexistent/deployer/scripts does not exist"},
		{"containers.e.script_config.x", "does not exist"},
		{"containers.f.local", "required by the local backend"},
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("problems\n got %q\nwant %q", ce.Problems, want)
	}
	for i := range min(len(want), len(ce.Problems)) {
		if ce.Problems[i].Path != want[i].Path || !strings.Contains(ce.Problems[i].Message, want[i].Message) {
			t.Errorf("problem %d = %q, want %q", i, ce.Problems[i], want[i])
		}
	}
	if _, err := Load(filepath.Join(dir, "absent.yaml")); err == nil || errors.As(err, &ce) {
		t.Errorf("missing file: %v", err)
	}
}

func TestExampleConfiguration(t *testing.T) {
	// The built-in example configuration must load on the local backend.
	if _, err := Load("../../internal/cli/example/deployer.yaml", WithLocalBackend()); err != nil {
		t.Fatalf("example configuration: %v", err)
	}
}

func TestValidateConfig(t *testing.T) {
	cfg := testPolicy(t).Config()
	if err := ValidateConfig(cfg, ""); err != nil {
		t.Fatal(err)
	}
	c := cfg.Containers["packer"]
	c.MaxTaskCPU, c.TaskCPU = 1, 2
	cfg.Containers["packer"] = c
	var ce *ConfigError
	if err := ValidateConfig(cfg, ""); !errors.As(err, &ce) || ce.Problems[0].Path != "containers.packer.max_task_cpu" {
		t.Errorf("ValidateConfig = %v", err)
	}
}

func jsonOf(cfg schemas.Config) ([]byte, error) { return jsonMarshal(cfg) }

func TestSchedulesValidation(t *testing.T) {
	base := `
containers:
  ami-builder:
    image: ami-builder:1
    allowed_callers: ["schedule:nightly-*"]
    script_config:
      build-packer-artifact: {allowed_options: null}
schedules:
`
	tests := []struct {
		name, schedules string
		want            []string // substrings of the error; none: valid
	}{
		{"valid", `
  nightly-amis:
    cron: "0 2 * * *"
    time_zone: Europe/Berlin
    container: ami-builder
    script: build-packer-artifact
    args: [--build-name, al2023]
    overlap: cancel-previous
    pause_after_failures: 3`, nil},
		{"bad cron and zone, unknown script", `
  a:
    cron: "0 2 * *"
    container: ami-builder
    script: nope
  b:
    cron: "0 2 * * *"
    time_zone: Europe/Atlantis
    container: other
    script: x`, []string{
			`schedule a: cron expression "0 2 * *" has 4 fields`,
			`schedule a: script "nope" is not listed under containers.ami-builder.script_config`,
			`schedule b: time zone "Europe/Atlantis" is not an IANA time zone`,
			`schedule b: container "other" is not listed`,
		}},
		{"bad overlap and negative pause", `
  a:
    cron: "0 2 * * *"
    container: ami-builder
    script: build-packer-artifact
    overlap: queue
    pause_after_failures: -1`, []string{"schedules.a.overlap", "schedules.a.pause_after_failures"}},
		{"caller of another schedule", `
  a:
    cron: "0 2 * * *"
    container: ami-builder
    script: build-packer-artifact
    caller: "schedule:b"`, []string{`names another schedule`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(base+tt.schedules), t.TempDir())
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A syntax error names the line (and, in JSON, the column) a person
// counts: yaml.v3's parser names the line before the construct that is
// not well formed, and encoding/json only a byte offset.
func TestSyntaxErrorsNameTheirLine(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
	}{
		{"YAML flow sequence not closed", "containers:\n  x:\n    image: a\n    script_config:\n      s:\n        allowed_options: [--a\n        foo: bar\n",
			"line 6: did not find expected ',' or ']'"},
		{"YAML scanner error", "containers:\n  x:\n    image: \"a\n", "line 3"},
		{"JSON", "{\"containers\": {\"x\": {\"image\": \"a\",\n \"script_config\": {\"s\": {\"allowed_options\": [\"--a\",]}}}}}\n",
			"invalid JSON at line 2, column 52"},
		{"JSON cut short", "\n\n{\"containers\": {\"x\": {\"image\": \"a\"", "ends at line 3, column 35"},
	} {
		_, err := Parse([]byte(c.doc), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
