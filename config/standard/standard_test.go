package standard_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/config/standard"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

// The standard configuration loads for both backends: AWS (task
// definitions) and embedded (every script a file of local.scripts_dir).
func TestConfigurationLoadsForBothBackends(t *testing.T) {
	if _, err := policy.Load("deployer.yaml"); err != nil {
		t.Fatalf("AWS backend:\n%v", err)
	}
	p, err := policy.Load("deployer.yaml", policy.WithLocalBackend())
	if err != nil {
		t.Fatalf("embedded backend:\n%v", err)
	}
	for name, c := range p.Config().Containers {
		if c.TaskDefinition == "" || c.Local == nil {
			t.Errorf("%s needs both task_definition and local", name)
		}
		if c.Secrets["GITHUB_OAUTH_TOKEN"] == "" {
			t.Errorf("%s has no GITHUB_OAUTH_TOKEN secret to clone with", name)
		}
	}
}

// StubConfig changes the environment and the secrets, never the argument
// policy.
func TestStubConfigKeepsThePolicy(t *testing.T) {
	path, err := standard.StubConfig("deployer.yaml", t.TempDir(), map[string]string{"STUB_LOG": "/dev/null"})
	if err != nil {
		t.Fatal(err)
	}
	orig, err := policy.Load("deployer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	stub, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	caller := schemas.Identity{Principal: "user:test"}
	a, b := orig.Describe(caller), stub.Describe(caller)
	for i := range a {
		a[i].Environment, b[i].Environment = nil, nil
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the stub configuration's policy differs:\n%+v\n%+v", a, b)
	}
	for name, c := range stub.Config().Containers {
		stubs, _ := filepath.Abs("stubs")
		if !strings.HasPrefix(c.EnvironmentVars["PATH"], stubs+":") || c.EnvironmentVars["STUB_LOG"] != "/dev/null" {
			t.Errorf("%s: environment %v", name, c.EnvironmentVars)
		}
		for k, ref := range c.Secrets {
			if !strings.HasPrefix(ref, "file:") {
				t.Errorf("%s: secret %s is %s, want a file: reference", name, k, ref)
			}
		}
	}
}
