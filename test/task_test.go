package test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What runs inside the task (deployer-task, which the local runner's tasks
// run as the deployer binary's hidden __task) seen through "deployer run".

const secretValue = "s3cr3t-VALUE-8d1f" //nolint:gosec // a test secret

const taskConfig = `
containers:
  tasks:
    local: {scripts_dir: SCRIPTS}
    secrets: {TOKEN: "file:SECRETFILE"}
    timeout: 5m
    script_config:
      long-line: {allowed_options: []}
      quiet: {allowed_options: []}
      uses-secret: {allowed_options: []}
      link-out: {allowed_options: []}
`

var taskScripts = map[string]string{
	// A 1 MiB line between two short ones: it travels in parts and is
	// joined again.
	"long-line":   "#!/bin/sh\necho before\nhead -c 1048576 /dev/zero | tr '\\0' x\necho\necho after >&2\n",
	"quiet":       "#!/bin/sh\nexit 0\n",
	"uses-secret": "#!/bin/sh\nif [ \"$TOKEN\" = '" + secretValue + "' ]; then echo 'token ok'; else echo 'token wrong'; exit 1; fi\n",
}

// newTaskEnv returns the setup and the file the script outside the
// scripts directory would create.
func newTaskEnv(t *testing.T) (*env, string) {
	t.Helper()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "token")
	if err := os.WriteFile(secretFile, []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside")
	marker := filepath.Join(dir, "ran")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil { //nolint:gosec // test script
		t.Fatal(err)
	}
	e := newEnv(t, strings.ReplaceAll(taskConfig, "SECRETFILE", secretFile), taskScripts)
	if err := os.Symlink(outside, filepath.Join(e.scripts, "link-out")); err != nil {
		t.Fatal(err)
	}
	return e, marker
}

func TestRunLongLineAndSilence(t *testing.T) {
	t.Parallel()
	e, _ := newTaskEnv(t)
	r := e.run("run", "--", "tasks", "long-line")
	if want := "before\n" + strings.Repeat("x", 1<<20) + "\nafter\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d, stdout %d bytes (want %d, equal: %v); stderr:\n%s", r.code, len(r.stdout), len(want), r.stdout == want, r.stderr)
	}
	r = e.run("run", "--", "tasks", "quiet")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestSecretReachesTheScriptOnly: the secret's value is in the script's
// environment and nowhere else: not in the output, the events, the
// journal, nor any file of the state directory.
func TestSecretReachesTheScriptOnly(t *testing.T) {
	t.Parallel()
	e, _ := newTaskEnv(t)
	r := e.run("run", "--output", "json", "--", "tasks", "uses-secret")
	if r.code != 0 || !strings.Contains(r.stdout, "token ok") {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	jobID := jobOf(t, r.stdout)
	status := e.run("status", jobID)
	logs := e.run("logs", jobID)
	for what, text := range map[string]string{"events": r.stdout + r.stderr, "status": status.stdout + status.stderr, "logs": logs.stdout + logs.stderr} {
		if strings.Contains(text, secretValue) {
			t.Errorf("the secret's value is in the %s", what)
		}
	}
	e.waitIdle()
	err := filepath.WalkDir(e.state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path) //nolint:gosec // the test's own state directory
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secretValue)) {
			t.Errorf("the secret's value is in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScriptLinkedOutOfItsDirectoryIsRefused: an allow-listed script name
// that is a symlink out of the scripts directory never runs.
func TestScriptLinkedOutOfItsDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	e, marker := newTaskEnv(t)
	r := e.run("run", "--", "tasks", "link-out")
	if r.code != 69 || !strings.Contains(r.stdout+r.stderr, "leads out of the scripts directory") {
		t.Fatalf("exit %d, want 69 naming the cause; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the script outside the scripts directory ran")
	}
}

// jobOf returns the job id of the first event of --output json.
func jobOf(t *testing.T, jsonLines string) string {
	t.Helper()
	const key = `"job_id":"`
	i := strings.Index(jsonLines, key)
	if i < 0 {
		t.Fatalf("no job id in %q", jsonLines)
	}
	rest := jsonLines[i+len(key):]
	return rest[:strings.IndexByte(rest, '"')]
}
