package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

// The example in the reference is a valid configuration.
func TestExampleIsValid(t *testing.T) {
	yaml := strings.TrimSuffix(strings.SplitN(example, "```yaml\n", 2)[1], "```\n")
	if _, err := policy.Parse([]byte(yaml), t.TempDir()); err != nil {
		t.Fatalf("the reference's example does not load:\n%v", err)
	}
}

// TestReferenceIsCurrent fails when docs/configuration.md was not
// regenerated after the schema or the reason codes changed.
func TestReferenceIsCurrent(t *testing.T) {
	want, err := generate(schemas.ConfigSchema)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatalf("reading the reference: %v (run: go run ./gatekeeper/policy/gendocs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/configuration.md is stale; run: go run ./gatekeeper/policy/gendocs")
	}
}
