package main

import (
	"bytes"
	"os"
	"testing"
)

// TestReferenceIsCurrent fails when docs/standard.md was not regenerated
// after the standard configuration or its scripts changed.
func TestReferenceIsCurrent(t *testing.T) {
	want, err := generate("../deployer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../../docs/standard.md")
	if err != nil {
		t.Fatalf("reading the reference: %v (run: make docs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/standard.md is stale; run: make docs")
	}
}
