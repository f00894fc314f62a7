package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// someoneElsesConfig is a configuration as a platform team would write it.
const someoneElsesConfig = `
lanes:
  default: {concurrency: 8}
containers:
  terraform-planner:
    description: terraform plan for CI
    local: {scripts_dir: SCRIPTS}
    environment_vars: {TF_IN_AUTOMATION: "1"}
    timeout: 10m
    script_config:
      print:
        allow_positional_args: true
      exit-with:
        allow_positional_args: true
      many-lines:
        allowed_options: []
      gated:
        allow_positional_args: true
        allowed_options: []
      env:
        allowed_options: []
      plan:
        hardcoded_options: {--lock-timeout: ["5m"]}
        hardcoded_args: [--no-color]
        allowed_options: [--ref, --path, --refresh-only]
        allowed_options_without_args: [--refresh-only]
        restricted_options: [--destroy]
        restricted_options_regex: {--ref: "^(main|[0-9a-f]{40})$"}
      not-executable:
        allowed_options: []
  short-fuse:
    local: {scripts_dir: SCRIPTS}
    timeout: 1s
    script_config:
      sleep-forever:
        allow_positional_args: true
        allowed_options: []
`

var someoneElsesScripts = map[string]string{
	"print":          "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n",
	"exit-with":      "#!/bin/sh\necho \"exiting with $1\"\necho \"to stderr\" >&2\nexit \"$1\"\n",
	"sleep-forever":  "#!/bin/sh\ntrap '' TERM\nsleep 1000 &\necho $! > \"$1\"\necho started\nwhile :; do sleep 1; done\n",
	"many-lines":     "#!/bin/sh\nseq 1 100000\n",
	"gated":          "#!/bin/sh\necho before\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho after\nexit 7\n",
	"env":            "#!/bin/sh\nenv | sort\n",
	"plan":           "#!/bin/sh\nfor a in \"$@\"; do echo \"arg:$a\"; done\n",
	"not-executable": "#!/bin/sh\necho never\n",
}

func newPlatform(t *testing.T) *env {
	return newEnv(t, someoneElsesConfig, someoneElsesScripts)
}

func TestRunStreamsOutputAndExitsWithTaskCode(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)

	r := e.run("run", "--", "terraform-planner", "print", "one", "two words", "$(touch pwned)", "")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", r.code, r.stderr)
	}
	if want := "one\ntwo words\n$(touch pwned)\n\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	for _, want := range []string{"submitted", "accepted: terraform-planner print", "started task", "finished: exit code 0 after"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}

	r = e.run("run", "--", "terraform-planner", "exit-with", "42")
	if r.code != 42 {
		t.Fatalf("exit code %d, want 42; stderr:\n%s", r.code, r.stderr)
	}
	if want := "exiting with 42\nto stderr\n"; r.stdout != want {
		t.Errorf("stdout = %q, want stdout and stderr merged in order: %q", r.stdout, want)
	}
}

func TestRunAppliesHardcodedOptionsAndArgs(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	r := e.run("run", "--", "terraform-planner", "plan", "--ref=main", "--path", "modules/vpc", "--refresh-only")
	if r.code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	want := "arg:--lock-timeout\narg:5m\narg:--ref=main\narg:--path\narg:modules/vpc\narg:--refresh-only\narg:--no-color\n"
	if r.stdout != want {
		t.Errorf("argv the script saw:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestRejectionsNameTheFaultAndExit77(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"no-such-container", "plan"}, []string{"no-such-container", "terraform-planner"}},
		{[]string{"terraform-planner", "apply"}, []string{"apply", "plan"}},
		{[]string{"terraform-planner", "plan", "--destroy"}, []string{"--destroy"}},
		{[]string{"terraform-planner", "plan", "--target=x"}, []string{"--target", "--path"}},
		{[]string{"terraform-planner", "plan", "--ref", "feature/x"}, []string{"--ref", "feature/x"}},
		{[]string{"terraform-planner", "plan", "--path"}, []string{"--path"}},
		{[]string{"terraform-planner", "plan", "positional"}, []string{"positional"}},
		{[]string{"terraform-planner", "plan", "--lock-timeout", "0s"}, []string{"--lock-timeout"}},
	}
	for _, c := range cases {
		r := e.run(append([]string{"run", "--"}, c.args...)...)
		if r.code != 77 {
			t.Errorf("%v: exit code %d, want 77; stderr:\n%s", c.args, r.code, r.stderr)
			continue
		}
		if r.stdout != "" {
			t.Errorf("%v: a rejected job printed output: %q", c.args, r.stdout)
		}
		line := regexp.MustCompile(`(?m)^deployer: rejected \[[a-z_]+\]: .*$`).FindString(r.stderr)
		if line == "" {
			t.Errorf("%v: no rejection line in stderr:\n%s", c.args, r.stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%v: rejection %q does not mention %q", c.args, line, w)
			}
		}
	}
}

// TestStatusLinesDoNotEchoHostileArguments: the arguments a status line
// quotes are the caller's, shown before the policy judged them. Escape
// sequences, carriage returns and newlines print as escapes, and a huge
// argument is cut, whatever the policy then says.
func TestStatusLinesDoNotEchoHostileArguments(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	huge := strings.Repeat("A", 100_000)
	for _, args := range [][]string{
		{"terraform-planner", "plan", "--ref", "\x1b]0;pwned\x07\x1b[2J\rmain\nfake: line"},
		{"terraform-planner", "plan", "--path", huge},
	} {
		r := e.run(append([]string{"run", "--"}, args...)...)
		if r.code != 77 {
			t.Errorf("exit code %d, want 77; stderr:\n%.2000s", r.code, r.stderr)
		}
		if strings.ContainsAny(r.stderr, "\x1b\r\x07") {
			t.Errorf("stderr holds a control character: %q", r.stderr)
		}
		if len(r.stderr) > 4096 {
			t.Errorf("stderr is %d bytes for a %d-byte argument: it is echoed whole", len(r.stderr), len(args[3]))
		}
		for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
			if !strings.HasPrefix(line, "deployer: ") {
				t.Errorf("stderr line %q is not one of deployer's: an argument broke a line", line)
			}
		}
	}
}

func TestTimeoutKillsTheProcessGroupAndExits124(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The script ignores SIGTERM; the runner must SIGKILL its group.
	r := e.run("run", "--", "short-fuse", "sleep-forever", pidFile)
	if r.code != 124 {
		t.Fatalf("exit code %d, want 124; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "started") || !strings.Contains(r.stderr, "timed_out") {
		t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the script did not record its child's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("bad pid file %q", b)
	}
	if running(pid) {
		t.Errorf("the task's background child %d survived the timeout", pid)
	}
}

func TestCouldNotStartExits69(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	// The configuration is checked when the pipeline starts; the script
	// breaks afterwards, as a bad deploy of the scripts would.
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)
	if err := os.Chmod(filepath.Join(e.scripts, "not-executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("run", "--", "terraform-planner", "not-executable")
	if r.code != 69 {
		t.Fatalf("exit code %d, want 69; stderr:\n%s", r.code, r.stderr)
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	for _, args := range [][]string{
		{"run"},
		{"run", "--", "terraform-planner"},
		{"run", "--output", "yaml", "--", "terraform-planner", "print"},
		{"run", "--no-such-flag", "--", "terraform-planner", "print"},
		{"status", "not-a-job-id"},
		{"no-such-command"},
	} {
		if r := e.run(args...); r.code != 64 {
			t.Errorf("%v: exit code %d, want 64; stderr:\n%s", args, r.code, r.stderr)
		}
	}

	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("containers:\n  x:\n    script_config:\n      s: {restricted_options_regex: {--a: \"(\"}}\n    bogus_field: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("--config", broken, "run", "--", "x", "s")
	if r.code != 78 {
		t.Fatalf("broken config: exit code %d, want 78; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"bogus_field", "restricted_options_regex"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("config error does not mention %q:\n%s", want, r.stderr)
		}
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	r := e.runEnv([]string{"AWS_SECRET_ACCESS_KEY=leak"}, "run", "--", "terraform-planner", "env")
	if r.code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("the caller's environment leaked into the task:\n%s", r.stdout)
	}
	for _, want := range []string{"TF_IN_AUTOMATION=1", "DEPLOYER_JOB_ID=", "HOME=", "PATH="} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("task environment lacks %s:\n%s", want, r.stdout)
		}
	}
}

func TestHundredThousandLinesArriveOnceInOrder(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	r := e.run("run", "--", "terraform-planner", "many-lines")
	if r.code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 100000 {
		t.Fatalf("got %d lines, want 100000", len(lines))
	}
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d is %q, want %d", i+1, l, i+1)
		}
	}
}

func TestJSONOutputIsOneEventPerLine(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	r := e.run("run", "--output", "json", "--", "terraform-planner", "print", "a", "b")
	if r.code != 0 {
		t.Fatalf("exit code %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var texts []string
	var last schemas.JobEvent
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		ev, err := schemas.DecodeJobEvent([]byte(l))
		if err != nil {
			t.Fatalf("line %q is not a job event: %v", l, err)
		}
		for _, ln := range ev.Lines {
			texts = append(texts, ln.Text)
		}
		last = ev
	}
	if strings.Join(texts, ",") != "a,b" {
		t.Errorf("lines %v, want a,b", texts)
	}
	if last.Type != schemas.EventFinished || last.ExitCode == nil || *last.ExitCode != 0 {
		b, _ := json.Marshal(last)
		t.Errorf("last event %s, want finished with exit code 0", b)
	}
}

func TestNoWaitThenWait(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	r := e.run("run", "--no-wait", "--", "terraform-planner", "exit-with", "5")
	if r.code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := lines[len(lines)-1]
	if !schemas.ValidJobID(id) {
		t.Fatalf("last line of stdout %q is not a job id", id)
	}
	w := e.run("wait", id)
	if w.code != 5 || w.stdout != "exiting with 5\nto stderr\n" {
		t.Fatalf("wait: exit %d, stdout %q; stderr:\n%s", w.code, w.stdout, w.stderr)
	}
	s := e.run("status", id)
	if s.code != 0 || !strings.Contains(s.stdout, "exit code") || !strings.Contains(s.stdout, "5") {
		t.Errorf("status: exit %d\n%s\n%s", s.code, s.stdout, s.stderr)
	}
	l := e.run("logs", id)
	if l.code != 0 || l.stdout != "exiting with 5\nto stderr\n" {
		t.Errorf("logs: exit %d, stdout %q; stderr:\n%s", l.code, l.stdout, l.stderr)
	}
}

func TestWaitReattachesAfterRunWasKilled(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	gate := filepath.Join(t.TempDir(), "gate")
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)

	run := e.start("run", "--", "terraform-planner", "gated", gate)
	id := run.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	run.stdout.waitFor(t, regexp.MustCompile(`^before$`), 30*time.Second)
	if err := run.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	run.wait(t, 10*time.Second)

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w := e.run("wait", id)
	if w.code != 7 || w.stdout != "before\nafter\n" {
		t.Fatalf("wait: exit %d, stdout %q; stderr:\n%s", w.code, w.stdout, w.stderr)
	}
}

func TestParallelRunsShareOneUp(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	up := e.start("up")
	up.stderr.waitFor(t, regexp.MustCompile(`serving`), 30*time.Second)

	const n = 5
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.run("run", "--", "terraform-planner", "exit-with", strconv.Itoa(10+i))
		}()
	}
	wg.Wait()
	for i, r := range results {
		want := fmt.Sprintf("exiting with %d\nto stderr\n", 10+i)
		if r.code != 10+i || r.stdout != want {
			t.Errorf("run %d: exit %d, stdout %q; want %d, %q; stderr:\n%s", i, r.code, r.stdout, 10+i, want, r.stderr)
		}
	}
}

// runEnv is run with extra environment variables.
func (e *env) runEnv(extra []string, args ...string) result {
	e.t.Helper()
	saved := e.extraEnv
	e.extraEnv = extra
	defer func() { e.extraEnv = saved }()
	return e.run(args...)
}

// running reports whether pid is a live process (not gone, not a zombie
// waiting for a parent that does not reap).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func TestTimestampsPrefixEachLine(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	r := e.run("run", "--timestamps", "--", "terraform-planner", "print", "a", "b c")
	if r.code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", r.code, r.stderr)
	}
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)$`)
	var texts []string
	for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q has no timestamp prefix", l)
		}
		texts = append(texts, m[1])
	}
	if strings.Join(texts, "|") != "a|b c" {
		t.Errorf("lines %q, want a and b c", texts)
	}
}
