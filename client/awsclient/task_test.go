package awsclient_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/client/awsclient"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake"
)

// TestMain makes the test binary the embedded backend's task processes,
// as a program whose tasks read AWS secrets does.
func TestMain(m *testing.M) {
	if code, ok := awsclient.RunTaskProcess(context.Background(), os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestRunTaskProcessReadsAWSSecrets runs this binary as a task's
// entrypoint (client.TaskArg) whose secret is a Secrets Manager ARN,
// served by a fake at AWS_ENDPOINT_URL_SECRETS_MANAGER: the script sees
// the value.
func TestRunTaskProcessReadsAWSSecrets(t *testing.T) {
	const (
		arn   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/token-AbCdEf"
		value = "t0ken-V4lue"
	)
	var sm awsfake.Server
	sm.Add(awsfake.SecretsManager(map[string]string{arn: `{"token":"` + value + `"}`}))
	url := sm.Start(t)

	scripts := t.TempDir()
	if err := os.WriteFile(filepath.Join(scripts, "show"), []byte("#!/bin/sh\necho \"token=$TOKEN\"\n"), 0o755); err != nil { //nolint:gosec // scripts must be executable
		t.Fatal(err)
	}
	none := filepath.Join(t.TempDir(), "none")
	cmd := exec.CommandContext(ctxT(t), os.Args[0], client.TaskArg, "show") //nolint:gosec // this test binary
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"DEPLOYER_SCRIPTS_DIR=" + scripts,
		"DEPLOYER_JOB_ID=01JD3Q8Z5W6X7Y8Z9A0B1C2D3E",
		"DEPLOYER_SECRET_TOKEN=" + arn + ":token::",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + url,
		"AWS_ACCESS_KEY_ID=AKIDTESTTESTTESTTEST",
		"AWS_SECRET_ACCESS_KEY=test-secret",
		"AWS_CONFIG_FILE=" + none,
		"AWS_SHARED_CREDENTIALS_FILE=" + none,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the task: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var lines []string
	var end *schemas.LogEnd
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		var rec schemas.TaskRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a task record: %v: %s", err, sc.Bytes())
		}
		if rec.End != nil {
			end = rec.End
			continue
		}
		lines = append(lines, rec.Text)
	}
	if want := []string{"token=" + value}; !slices.Equal(lines, want) || end == nil {
		t.Fatalf("the task wrote %q, end %+v; want %q and an end", lines, end, want)
	}
}
