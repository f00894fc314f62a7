package test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployerHandsTheAWSBackendToDeployerAWS: deployer links no AWS SDK;
// a command line that needs the aws backend runs in deployer-aws, the
// same build next to it, as if deployer had run it (here: the same
// "cannot reach AWS" with exit 69 that deployer-aws says). Without a
// deployer-aws beside it, such a command fails with exit 69 saying what
// to install, and the embedded backend still works. (Commands that
// reach an AWS deployment through the hand-off:
// TestAWSInfrastructureDeployerVerbatim, the completion and AWS tests.)
func TestDeployerHandsTheAWSBackendToDeployerAWS(t *testing.T) {
	alone := filepath.Join(t.TempDir(), "deployer")
	data, err := os.ReadFile(deployerBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	run := func(bin string, args ...string) (code int, stderr string) {
		t.Helper()
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "DEPLOYER_STATE_DIR="+state, "DEPLOYER_CONFIG=", "DEPLOYER_BACKEND=", "DEPLOYER_AWS_REGION=",
			"AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_ACCESS_KEY_ID=AKIDHANDOFF", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
		var errOut bytes.Buffer
		c.Stderr = &errOut
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
		return c.ProcessState.ExitCode(), errOut.String()
	}
	awsLines := [][]string{
		{"--region", "us-east-1", "jobs"},
		{"--backend", "aws", "--region", "us-east-1", "run", "--", "demo", "plan"},
		{"rollback", "--region", "us-east-1", "--dry-run"},
		{"--aws-region", "us-east-1", "--", "demo", "plan"},
	}
	for _, args := range awsLines {
		code, stderr := run(deployerBin, args...)
		if code != 69 || !strings.Contains(stderr, "deployer: cannot reach AWS at http://127.0.0.1:1") {
			t.Errorf("deployer %s: exit %d, stderr:\n%s\nwant deployer-aws's exit 69, cannot reach AWS", strings.Join(args, " "), code, stderr)
		}
		code, stderr = run(alone, args...)
		for _, want := range []string{"the aws backend is served by deployer-aws", "no " + filepath.Join(filepath.Dir(alone), "deployer-aws") + " next to it", "Install deployer-aws of the same release next to " + alone} {
			if code != 69 || !strings.Contains(stderr, want) {
				t.Errorf("deployer alone, %s: exit %d, stderr:\n%s\nwant exit 69 and %q", strings.Join(args, " "), code, stderr, want)
			}
		}
	}
	if code, stderr := run(alone, "describe"); code != 0 {
		t.Errorf("deployer alone, describe on the embedded backend: exit %d\n%s", code, stderr)
	}
}
