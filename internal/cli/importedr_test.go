package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportEDRCommand: import-edr writes YAML that "config validate"
// accepts; a broken file exits 78 naming file and line.
func TestImportEDRCommand(t *testing.T) {
	for _, fixture := range []string{"standard.tfvars", "standard.tfvars.json", "terragrunt.hcl"} {
		f, out, errOut := newFactory(t)
		src := filepath.Join("..", "..", "gatekeeper", "policy", "testdata", "edr", fixture)
		if code := Execute(context.Background(), f, []string{"config", "import-edr", src}); code != 0 {
			t.Fatalf("%s: exit %d; stderr:\n%s", fixture, code, errOut)
		}
		if !strings.Contains(out.String(), "# not carried: ") || !strings.Contains(errOut.String(), "imported ") {
			t.Errorf("%s: output lacks the comments or the summary:\n%s\n%s", fixture, out, errOut)
		}
		cfg := filepath.Join(t.TempDir(), "deployer.yaml")
		if err := os.WriteFile(cfg, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		f, vout, errOut := newFactory(t)
		if code := Execute(context.Background(), f, []string{"config", "validate", cfg}); code != 0 {
			t.Errorf("%s: validate exit %d; stderr:\n%s", fixture, code, errOut)
		} else if !strings.Contains(vout.String(), "valid") {
			t.Errorf("%s: validate said %s", fixture, vout)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.tfvars")
	if err := os.WriteFile(bad, []byte("terraform_planner_config = {\n  container_image = var.image\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, out, errOut := newFactory(t)
	if code := Execute(context.Background(), f, []string{"config", "import-edr", bad}); code != 78 {
		t.Errorf("exit %d, want 78", code)
	}
	if !strings.Contains(errOut.String(), "bad.tfvars:2: terraform_planner_config refers to var.image") || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	f, _, _ = newFactory(t)
	if code := Execute(context.Background(), f, []string{"config", "import-edr", "/no/such/file.tfvars"}); code != 64 {
		t.Errorf("a missing file: exit %d, want 64", code)
	}
}
