package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

func TestImportEDR(t *testing.T) {
	data, err := os.ReadFile("testdata/edr/container_images.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, notes, err := ImportEDR(data)
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 ||
		ce.Problems[0].Path != "containers.terraform-planner.script_config.infrastructure-deploy-script.restricted_options_regex.--command" {
		t.Fatalf("ImportEDR error = %v, want the Python-only regex reported", err)
	}
	planner := cfg.Containers["terraform-planner"]
	if planner.Image != "123456789012.dkr.ecr.us-east-1.amazonaws.com/deploy-runner:v2.3.4" ||
		planner.Secrets["GITHUB_OAUTH_TOKEN"] != "arn:aws:secretsmanager:us-east-1:123456789012:secret:GitHubOAuthToken-AbCdEf" ||
		planner.EnvironmentVars["TF_IN_AUTOMATION"] != "1" || planner.AllowedCallers != nil {
		t.Errorf("planner = %+v", planner)
	}
	sc := planner.ScriptConfig["infrastructure-deploy-script"]
	want := schemas.ScriptConfig{
		HardcodedOptions:          map[string][]string{"--repo": {"https://github.com/acme/infrastructure-live"}, "--log-level": {"info"}},
		HardcodedArgs:             []string{},
		AllowedOptions:            []string{"--ref", "--binary", "--command", "--deploy-path"},
		AllowedOptionsWithoutArgs: []string{"--refresh-only"},
		RestrictedOptions:         []string{"--destroy", "--no-color"},
		RestrictedOptionsRegex:    map[string]string{"--ref": "^(main|[0-9a-f]{40})$", "--binary": "terraform|terragrunt", "--command": "(?i)plan(?=-all)?"},
	}
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("script config\n got %+v\nwant %+v", sc, want)
	}
	builder := cfg.Containers["docker-image-builder"].ScriptConfig["build-docker-image"]
	if builder.AllowedOptions != nil || !builder.AllowPositionalArgs {
		t.Errorf("builder = %+v; null allowed_options must stay null", builder)
	}
	joined := strings.Join(notes, "\n")
	for _, w := range []string{
		"deployer checks allowed_callers per container and script",
		"containers.terraform-planner: EDR ran any other script of the container's triggers directory with no arguments",
		"containers.terraform-planner: secrets_manager_env_vars became secrets (GITHUB_OAUTH_TOKEN)",
		"containers.terraform-planner: additional_secrets_manager_arns (1) have no equivalent",
		"containers.terraform-planner: was EDR's default container",
		"hardcoded_options: repo is written without dashes; it became --repo",
		"hardcoded_options.--no-color: EDR passed nothing for an empty list",
		"allowed_options: --repo is hardcoded, so it was removed",
		"allowed_options: --log-level is hardcoded",
		"allowed_options: --destroy is also restricted, so it was removed",
		"--refresh-only may now be passed",
		"restricted_options_regex.--binary: deployer matches the whole value, as if the pattern were ^(?:terraform|terragrunt)$",
		"restricted_options_regex.--command: \"(?i)plan(?=-all)?\" is not RE2 (Go) syntax",
		"build-docker-image: allowed_options is null, so any option that is not restricted is allowed",
	} {
		if !strings.Contains(joined, w) {
			t.Errorf("notes lack %q; notes:\n%s", w, joined)
		}
	}
	for _, n := range notes {
		if strings.Contains(n, "\n") {
			t.Errorf("note is not one line: %q", n)
		}
	}

	// Fixed by hand, the configuration loads and behaves as it did in EDR.
	fixed := bytes.Replace(data, []byte(`(?i)plan(?=-all)?`), []byte(`plan|plan-all`), 1)
	cfg, _, err = ImportEDR(fixed)
	if err != nil {
		t.Fatalf("fixed import: %v", err)
	}
	raw, _ := json.Marshal(cfg)
	p, err := Parse(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	o, err := p.Resolve(request("terraform-planner", "infrastructure-deploy-script", "--ref", "main", "--command", "plan", "--refresh-only"), ciRole, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.Argv, " "); got != "--log-level info --repo https://github.com/acme/infrastructure-live --ref main --command plan --refresh-only" {
		t.Errorf("argv = %s", got)
	}
	if _, err := p.Resolve(request("terraform-planner", "infrastructure-deploy-script", "--no-color"), ciRole, testNow); err == nil {
		t.Error("an empty hardcoded option must not be passable")
	}
}

func TestImportEDRShapes(t *testing.T) {
	entry := `{"docker_image": "img", "docker_tag": "sha256:abc", "script_config": {"s": {"allowed_options": [], "extra": 1}}, "cpu": 1}`
	for _, doc := range []string{
		`{"container_images": {"c": ` + entry + `}}`,
		`{"variable": {"container_images": {"type": "map(any)", "default": {"c": ` + entry + `}}}}`,
		`{"c": ` + entry + `}`,
	} {
		cfg, notes, err := ImportEDR([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if cfg.Containers["c"].Image != "img@sha256:abc" {
			t.Errorf("image = %s", cfg.Containers["c"].Image)
		}
		joined := strings.Join(notes, "\n")
		if !strings.Contains(joined, "containers.c: EDR field cpu has no equivalent") || !strings.Contains(joined, "containers.c.script_config.s: EDR field extra has no equivalent") {
			t.Errorf("notes:\n%s", joined)
		}
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"container_images": []}`, `{"a": {"b": 1}}`, `{"a": 1}`} {
		if _, _, err := ImportEDR([]byte(bad)); err == nil {
			t.Errorf("ImportEDR(%s) succeeded", bad)
		} else if errors.As(err, new(*ConfigError)) {
			t.Errorf("ImportEDR(%s) = %v, want a reading error", bad, err)
		}
	}
	// A container without scripts converts, with a note and a problem.
	_, notes, err := ImportEDR([]byte(`{"container_images": {"c": {"docker_image": "i", "docker_tag": "1", "script_config": null}}}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(strings.Join(notes, "\n"), "containers.c: has no script_config") {
		t.Errorf("no scripts: %v %v", err, notes)
	}
}
