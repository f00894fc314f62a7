package jsonschema_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The binaries validate configurations with this package: the reference
// implementation costs every process that links it milliseconds at start
// (docs/performance.md), so only tests may import it.
func TestNoBinaryLinksTheReference(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over every binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs go list: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", "../../cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "github.com/santhosh-tekuri/jsonschema") {
			t.Errorf("a binary links %s", dep)
		}
	}
	if !strings.Contains(string(out), "github.com/deployerhq/deployer/internal/jsonschema") {
		t.Error("no binary links internal/jsonschema: go list listed the wrong packages")
	}
}
