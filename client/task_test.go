package client_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/schemas"
)

// TestRunTaskProcessWithoutAWS runs this binary as a task's entrypoint
// (client.TaskArg, which TestMain hands to client.RunTaskProcess): an
// env: secret resolves, a Secrets Manager one fails the task before its
// script starts, saying that this program has no AWS SDK and what to do.
func TestRunTaskProcessWithoutAWS(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/token-AbCdEf"
	scripts := t.TempDir()
	if err := os.WriteFile(filepath.Join(scripts, "show"), []byte("#!/bin/sh\necho \"token=$TOKEN\"\n"), 0o755); err != nil { //nolint:gosec // scripts must be executable
		t.Fatal(err)
	}
	run := func(secret string) (lines []string, end *schemas.LogEnd, code int) {
		t.Helper()
		cmd := exec.CommandContext(ctxT(t), os.Args[0], client.TaskArg, "show") //nolint:gosec // this test binary
		cmd.Env = []string{
			"PATH=/usr/bin:/bin",
			"DEPLOYER_SCRIPTS_DIR=" + scripts,
			"DEPLOYER_JOB_ID=01JD3Q8Z5W6X7Y8Z9A0B1C2D3E",
			"DEPLOYER_SECRET_TOKEN=" + secret,
			"FROM_ENV=env-V4lue",
		}
		out, err := cmd.Output()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("the task: %v", err)
		}
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
		return lines, end, code
	}

	lines, end, code := run("env:FROM_ENV")
	if code != 0 || len(lines) != 1 || lines[0] != "token=env-V4lue" || end == nil {
		t.Fatalf("an env: secret: exit %d, lines %q, end %+v", code, lines, end)
	}

	lines, end, code = run(arn)
	if code != task.ExitCouldNotStart || len(lines) != 1 || end == nil || end.ExitCode != nil {
		t.Fatalf("a Secrets Manager secret: exit %d, lines %q, end %+v; want %d, one line, an end without exit code", code, lines, end, task.ExitCouldNotStart)
	}
	for _, want := range []string{"DEPLOYER_SECRET_TOKEN: secret " + arn + ": ", "leaves the AWS SDK out", "awsclient.RunTaskProcess"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the task's line %q does not say %q", lines[0], want)
		}
	}
}
