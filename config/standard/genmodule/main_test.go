package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/deployerhq/deployer/gatekeeper/policy"
)

// TestModuleCopyIsCurrent fails when the Terraform module's copy of the
// standard configuration was not regenerated after it changed.
func TestModuleCopyIsCurrent(t *testing.T) {
	want, err := generate("../deployer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../terraform/modules/deployer/standard.json")
	if err != nil {
		t.Fatalf("reading the module's copy: %v (run: make docs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("terraform/modules/deployer/standard.json is stale; run: make docs")
	}
}

// The copy is itself a configuration the gatekeeper takes (JSON is YAML).
func TestModuleCopyValidates(t *testing.T) {
	if _, err := policy.Load("../../../terraform/modules/deployer/standard.json"); err != nil {
		t.Fatal(err)
	}
}
