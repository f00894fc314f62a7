package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/client"
)

// TestMain makes the test binary the embedded backend's task processes,
// as a program that serves must (client.RunTaskProcess), then runs the
// tests and examples, checking that they leave no goroutine behind.
func TestMain(m *testing.M) {
	if code, ok := client.RunTaskProcess(context.Background(), os.Args[1:]); ok {
		os.Exit(code)
	}
	code := m.Run()
	// Leaks first: a task supervisor whose state directory is removed
	// under it retries its writes for minutes.
	if code == 0 {
		if err := noLeaks(10 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			fmt.Fprint(os.Stderr, children())
			code = 1
		}
	}
	for _, d := range exampleDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// noLeaks checks that the tests left no goroutine behind. The pipelines
// stop with their tests; only the HTTP clients' idle keep-alive
// connections to the AWS fakes may outlive them. The local runner reaps
// each task's supervisor, a process that outlives the pipeline by design,
// in a goroutine that ends when the supervisor does, a moment after its
// job ended: that is waited for, up to wait, not ignored.
func noLeaks(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := goleak.Find(
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// testConfig allow-lists the container demo with the scripts of
// testScripts; SCRIPTS is its scripts directory.
const testConfig = `lanes:
  default:
    concurrency: 4
containers:
  demo:
    description: Scripts for the client's tests and examples.
    local:
      scripts_dir: SCRIPTS
    timeout: 5m
    script_config:
      hello:
        allow_positional_args: true
        allowed_options: []
      fail:
        allowed_options: []
      sleep:
        allowed_options: []
`

var testScripts = map[string]string{
	"hello": "#!/bin/sh\necho \"hello, ${*:-world}\"\n",
	"fail":  "#!/bin/sh\necho 'about to fail'\nexit 3\n",
	"sleep": "#!/bin/sh\necho sleeping\nexec sleep 60\n",
}

// writeDeployment writes the configuration and its scripts under root and
// returns the state directory (not created) and the configuration's path.
func writeDeployment(root string) (stateDir, config string, err error) {
	scripts := filepath.Join(root, "scripts")
	if err := os.MkdirAll(scripts, 0o755); err != nil {
		return "", "", err
	}
	for name, body := range testScripts {
		if err := os.WriteFile(filepath.Join(scripts, name), []byte(body), 0o755); err != nil { //nolint:gosec // scripts must be executable
			return "", "", err
		}
	}
	config = filepath.Join(root, "deployer.yaml")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(testConfig, "SCRIPTS", scripts)), 0o600); err != nil {
		return "", "", err
	}
	return filepath.Join(root, "state"), config, nil
}

// exampleDirs are the directories the examples made, removed once every
// test and example has run.
var exampleDirs []string

// exampleDeployment is a state directory and a configuration that
// allow-lists "demo hello [NAME]", "demo fail" (exits 3) and "demo sleep"
// for the examples.
func exampleDeployment() (stateDir, config string) {
	root, err := os.MkdirTemp("", "deployer-client-example-")
	if err != nil {
		panic(err)
	}
	exampleDirs = append(exampleDirs, root)
	stateDir, config, err = writeDeployment(root)
	if err != nil {
		panic(err)
	}
	return stateDir, config
}

// children describes this process's live child processes, the task
// supervisors among them, with what each has logged so far (its stderr,
// read through /proc: the file may be gone with its test's directory),
// so that a leak check that fails says which task outlived its test.
func children() string {
	var b strings.Builder
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range procs {
		raw, err := os.ReadFile(stat)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ')'.
		_, after, ok := strings.Cut(string(raw), ") ")
		if f := strings.Fields(after); !ok || len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		dir := filepath.Dir(stat)
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		fmt.Fprintf(&b, "child %s: %s\n", filepath.Base(dir), strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
		if log, err := os.ReadFile(filepath.Join(dir, "fd", "2")); err == nil {
			fmt.Fprintf(&b, "  its stderr:\n%s\n", log)
		}
	}
	if b.Len() == 0 {
		return "no child process is alive\n"
	}
	return b.String()
}
