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
	t.Parallel()
	alone := deployerAlone(t)
	state := t.TempDir()
	run := func(bin string, args ...string) (code int, stderr string) {
		t.Helper()
		return runHandOff(t, bin, []string{"DEPLOYER_STATE_DIR=" + state, "DEPLOYER_CONFIG=", "DEPLOYER_BACKEND=", "DEPLOYER_AWS_REGION=",
			"AWS_ENDPOINT_URL=http://127.0.0.1:1", "AWS_ACCESS_KEY_ID=AKIDHANDOFF", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}, args...)
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
		for _, want := range []string{"the aws backend needs deployer-aws", "no " + filepath.Join(filepath.Dir(alone), "deployer-aws") + " next to it", "Install deployer-aws of the same release next to " + alone} {
			if code != 69 || !strings.Contains(stderr, want) {
				t.Errorf("deployer alone, %s: exit %d, stderr:\n%s\nwant exit 69 and %q", strings.Join(args, " "), code, stderr, want)
			}
		}
	}
	if code, stderr := run(alone, "describe"); code != 0 {
		t.Errorf("deployer alone, describe on the embedded backend: exit %d\n%s", code, stderr)
	}
}

// TestDeployerHandsTheExtrasToDeployerAWS: deployer links neither
// Prometheus, the OTLP exporter nor the dashboard; "up --metrics-addr",
// "ui", "up --ui-addr" and a command whose environment asks for spans to
// be exported run in deployer-aws (TestMetricsEndToEnd, the dashboard's
// tests and TestTraceEndToEndEmbedded go through that hand-off). Without
// a deployer-aws beside it, the first three fail with exit 69 saying
// what to install, before they do anything; a command asked to export
// spans says it cannot and runs without exporting, as it does when the
// exporter cannot start.
func TestDeployerHandsTheExtrasToDeployerAWS(t *testing.T) {
	t.Parallel()
	alone := deployerAlone(t)
	state := t.TempDir()
	env := []string{"DEPLOYER_STATE_DIR=" + state, "DEPLOYER_CONFIG=", "DEPLOYER_BACKEND=", "DEPLOYER_AWS_REGION=", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="}
	for _, c := range []struct {
		args []string
		need string
	}{
		{[]string{"up", "--metrics-addr", "127.0.0.1:0"}, "--metrics-addr (Prometheus metrics)"},
		{[]string{"up", "--ui-addr", "127.0.0.1:0"}, "the web dashboard"},
		{[]string{"ui", "--addr", "127.0.0.1:0"}, "the web dashboard"},
	} {
		code, stderr := runHandOff(t, alone, env, c.args...)
		for _, want := range []string{c.need + " needs deployer-aws", "Install deployer-aws of the same release next to " + alone} {
			if code != 69 || !strings.Contains(stderr, want) {
				t.Errorf("deployer alone, %s: exit %d, stderr:\n%s\nwant exit 69 and %q", strings.Join(c.args, " "), code, stderr, want)
			}
		}
		if made, err := os.ReadDir(state); err != nil || len(made) > 0 {
			t.Errorf("deployer alone, %s, left %v in the state directory (%v): it must fail before doing anything", strings.Join(c.args, " "), made, err)
		}
	}

	traced := append(env[:len(env):len(env)], "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1")
	code, stderr := runHandOff(t, alone, traced, "describe")
	for _, want := range []string{"deployer: tracing: exporting spans (OTEL_EXPORTER_OTLP_ENDPOINT) needs deployer-aws", "running without it"} {
		if code != 0 || !strings.Contains(stderr, want) {
			t.Errorf("deployer alone, describe asked to export spans: exit %d, stderr:\n%s\nwant exit 0 and %q", code, stderr, want)
		}
	}
	// With deployer-aws beside it, the same command line runs there:
	// it exports (to nowhere here) and says nothing of running without.
	code, stderr = runHandOff(t, deployerBin, traced, "describe")
	if code != 0 || strings.Contains(stderr, "running without it") {
		t.Errorf("deployer, describe asked to export spans: exit %d, stderr:\n%s\nwant exit 0, exported by deployer-aws", code, stderr)
	}
}

// deployerAlone is a copy of deployer with no deployer-aws beside it.
func deployerAlone(t *testing.T) string {
	t.Helper()
	alone := filepath.Join(t.TempDir(), "deployer")
	copyExecutable(t, deployerBin, alone)
	return alone
}

// runHandOff runs bin with args in this environment plus env, and
// returns its exit code and stderr.
func runHandOff(t *testing.T, bin string, env []string, args ...string) (code int, stderr string) {
	t.Helper()
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), env...)
	var errOut bytes.Buffer
	c.Stderr = &errOut
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return c.ProcessState.ExitCode(), errOut.String()
}
