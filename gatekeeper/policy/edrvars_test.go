package policy

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/tfvars"
)

var updateEDR = flag.Bool("update", false, "rewrite testdata/edr/*.golden.yaml from the importer's output")

// importEDRFile reads a variable file and imports it, as the CLI does.
func importEDRFile(name string, data []byte, opts EDRImportOptions) (*EDRImport, error) {
	f, err := tfvars.Read(name, data, EDRVariableWanted)
	if err != nil {
		return nil, err
	}
	vars := make(map[string]EDRVariable, len(f.Variables))
	for k, v := range f.Variables {
		vars[k] = EDRVariable(v)
	}
	return ImportEDRVariables(vars, f.Skipped, opts)
}

// TestImportEDRRoundTrip imports the standard configuration's variables as
// users keep them and checks the YAML loads, for AWS and, with
// --scripts-dir, for the embedded backend.
func TestImportEDRRoundTrip(t *testing.T) {
	for _, fixture := range []string{"standard.tfvars", "standard.tfvars.json", "terragrunt.hcl"} {
		t.Run(fixture, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/edr", fixture))
			if err != nil {
				t.Fatal(err)
			}
			imp, err := importEDRFile(fixture, data, EDRImportOptions{})
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			out, err := imp.YAML(fixture)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/edr", fixture+".golden.yaml")
			if *updateEDR {
				if err := os.WriteFile(golden, out, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestImportEDRRoundTrip -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (go test -run TestImportEDRRoundTrip -update rewrites it):\n%s", golden, out)
			}
			p, err := Parse(out, t.TempDir())
			if err != nil {
				t.Fatalf("the imported configuration does not load for AWS: %v", err)
			}
			planner := p.Config().Containers["terraform-planner"]
			if planner.Image != "123456789012.dkr.ecr.us-east-1.amazonaws.com/deploy-runner:v0.51.0" {
				t.Errorf("planner image = %q", planner.Image)
			}
			ds := planner.ScriptConfig["infrastructure-deploy-script"]
			if got := ds.HardcodedOptions["--repo"]; len(got) != 1 || got[0] != "git@github.com:acme/infrastructure-live.git" {
				t.Errorf("planner --repo = %v, want the one repository hardcoded", got)
			}
			if ds.RestrictedOptionsRegex["--command"] != edrPlanCommands {
				t.Errorf("planner --command = %q", ds.RestrictedOptionsRegex["--command"])
			}
			if _, ok := p.Config().Containers["ami-builder"]; ok {
				t.Error("a null ami_builder_config must leave ami-builder out")
			}
			if !strings.Contains(string(out), "# not carried: ami_builder_config is null") {
				t.Error("the disabled container is not named in a comment")
			}
			// The applier applies main only.
			apply := []string{"--ref", "main", "--command", "apply"}
			if p.Config().Containers["terraform-applier"].ScriptConfig["infrastructure-deploy-script"].HardcodedOptions["--repo"] == nil {
				apply = append(apply, "--repo", "git@github.com:acme/infrastructure-live.git")
			}
			if _, err := p.Resolve(request("terraform-applier", "infrastructure-deploy-script", apply...), ciRole, testNow); err != nil {
				t.Errorf("apply from main refused: %v", err)
			}
			if _, err := p.Resolve(request("terraform-applier", "infrastructure-deploy-script", "--ref", "feature", "--command", "apply"), ciRole, testNow); err == nil {
				t.Error("apply from a branch outside allowed_apply_git_refs was accepted")
			}
			if _, err := p.Resolve(request("terraform-planner", "infrastructure-deploy-script", "--command", "apply"), ciRole, testNow); err == nil {
				t.Error("the planner accepted apply")
			}

			// With --scripts-dir, and the scripts in place, it also loads
			// for the embedded backend.
			imp, err = importEDRFile(fixture, data, EDRImportOptions{ScriptsDir: "scripts"})
			if err != nil {
				t.Fatal(err)
			}
			out, err = imp.YAML(fixture)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "deployer.yaml")
			if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(cfgPath, WithLocalBackend()); err == nil {
				t.Error("validate --local passed without the scripts")
			}
			for cname, c := range imp.Config.Containers {
				for sname := range c.ScriptConfig {
					file := filepath.Join(dir, "scripts", cname, sname)
					if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, []byte("#!/bin/sh\n"), 0o700); err != nil { //nolint:gosec // an executable test script
						t.Fatal(err)
					}
				}
			}
			if _, err := Load(cfgPath, WithLocalBackend()); err != nil {
				t.Errorf("validate --local: %v", err)
			}
			if _, err := Load(cfgPath); err != nil {
				t.Errorf("validate: %v", err)
			}
		})
	}
}

// TestImportEDRVariablesLegacy: today's container_images JSON still
// imports through the variable reader.
func TestImportEDRVariablesLegacy(t *testing.T) {
	data, err := os.ReadFile("testdata/edr/container_images.json")
	if err != nil {
		t.Fatal(err)
	}
	fixed := bytes.Replace(data, []byte(`(?i)plan(?=-all)?`), []byte(`plan|plan-all`), 1)
	imp, err := importEDRFile("container_images.json", fixed, EDRImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Config.Containers) != 2 || imp.Config.Containers["terraform-planner"].Image == "" {
		t.Errorf("containers = %+v", imp.Config.Containers)
	}
	for _, doc := range []string{
		`{"variable": {"container_images": {"default": {"c": {"docker_image": "i", "docker_tag": "1", "script_config": {"s": {"allowed_options": []}}}}}}}`,
		`{"c": {"docker_image": "i", "docker_tag": "1", "script_config": {"s": {"allowed_options": []}}}}`,
	} {
		if _, err := importEDRFile("x.json", []byte(doc), EDRImportOptions{}); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// TestImportEDRBadInput: broken and hostile files give an error naming the
// file and line, and never a configuration.
func TestImportEDRBadInput(t *testing.T) {
	for _, tc := range []struct{ name, file, data, want string }{
		{"invalid HCL", "bad.tfvars", "terraform_planner_config = {\n  container_image = {\n", "bad.tfvars:"},
		{"variable reference", "ref.tfvars", "vpc_id = var.vpc\nterraform_planner_config = {\n  container_image = var.image\n}\n", "ref.tfvars:3: terraform_planner_config refers to var.image"},
		{"function call", "fn.tfvars", "terraform_applier_config = merge({}, {})\n", "fn.tfvars:1: terraform_applier_config calls the function merge"},
		{"non-literal local", "tg.hcl", "locals {\n  x = get_env(\"X\")\n}\ninputs = {\n  terraform_planner_config = local.x\n}\n", "tg.hcl:5: terraform_planner_config refers to local.x, which is not a literal value"},
		{"dependency in inputs", "dep.hcl", "inputs = {\n  ami_builder_config = dependency.x.outputs.y\n}\n", "dep.hcl:2: ami_builder_config refers to dependency.x.outputs.y"},
		{"wrong variable type", "type.tfvars", "\n\nterraform_planner_config = [\"a\"]\n", "type.tfvars:3: terraform_planner_config must be an object"},
		{"wrong field type", "field.tfvars.json", `{"terraform_planner_config": {"container_image": "img:1"}}`, "field.tfvars.json:1: terraform_planner_config.container_image must be an object, got string"},
		{"wrong list type", "list.tfvars", "terraform_applier_config = {\n  allowed_apply_git_refs = \"main\"\n}\n", "list.tfvars:1: terraform_applier_config.allowed_apply_git_refs must be a list of strings"},
		{"wrong size", "size.tfvars", "container_cpu = \"lots\"\nterraform_planner_config = null\n", "size.tfvars:1: container_cpu must be a positive whole number"},
		{"all disabled", "null.tfvars", "terraform_planner_config = null\n", "every container is disabled"},
		{"nothing known", "other.tfvars", "vpc_id = \"vpc-1\"\n", "no containers found"},
		{"set twice in inputs", "twice.hcl", "inputs = {\n  terraform_planner_config = null\n  terraform_planner_config = null\n}\n", "twice.hcl:3: terraform_planner_config is set twice"},
		{"not JSON", "x.tfvars.json", `{"a": `, "x.tfvars.json:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := importEDRFile(tc.file, []byte(tc.data), EDRImportOptions{})
			if err == nil || errors.As(err, new(*ConfigError)) {
				t.Fatalf("err = %v, want a reading error", err)
			}
			if imp != nil {
				t.Errorf("a broken file gave a configuration")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
