package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

// Detached servers: with no "deployer up", commands start "deployer up"
// in the background, which outlives them and stops once idle.

// serverPids are the pids of the processes marked as serving e's state
// directory (see embedded.ServeLock).
func serverPids(t testing.TB, e *env) []int {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(e.state, "up-*.lock"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range paths {
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "up-"), ".lock"))
		if err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// processesOf returns the pids of the processes whose command line names
// the state directory state: its servers and their task supervisors.
func processesOf(t *testing.T, state string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), state) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// onlyServer is the pid of the one server of e's state directory.
func onlyServer(t *testing.T, e *env) int {
	t.Helper()
	pids := serverPids(t, e)
	if len(pids) != 1 {
		t.Fatalf("%d servers marked in the state directory (%v), want 1", len(pids), pids)
	}
	return pids[0]
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits for a process that is not our child to exit.
func waitGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	poll(t, d, func() (bool, string) { return !alive(pid), "process " + strconv.Itoa(pid) + " is still running" })
}

// serveLog is the detached servers' log, for failure reports.
func serveLog(e *env) string {
	b, _ := os.ReadFile(filepath.Join(e.state, "serve.log"))
	return string(b)
}

func TestDetachedNoWaitRunsToItsEndThenTheServerIdlesOut(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	const idle = time.Second
	e.extraEnv = []string{"DEPLOYER_IDLE_EXIT=" + idle.String()}
	r := e.run("run", "--no-wait", "--", "terraform-planner", "exit-with", "5")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	id := lines[len(lines)-1]
	if r.code != 0 || !schemas.ValidJobID(id) {
		t.Fatalf("run --no-wait: exit %d, stdout %q; stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// run --no-wait returned once the server served.
	pid := onlyServer(t, e)

	w := e.run("wait", id)
	if w.code != 5 || w.stdout != "exiting with 5\nto stderr\n" {
		t.Fatalf("wait: exit %d, stdout %q; stderr:\n%s\nserve.log:\n%s", w.code, w.stdout, w.stderr, serveLog(e))
	}
	begin := time.Now()
	waitGone(t, pid, time.Minute)
	t.Logf("the detached server stopped %s after wait returned (idle exit %s)", time.Since(begin).Round(time.Millisecond), idle)
	if pids := serverPids(t, e); len(pids) != 0 {
		t.Errorf("servers still marked after the server stopped: %v", pids)
	}
	log := serveLog(e)
	for _, want := range []string{"detached server (pid " + strconv.Itoa(pid) + ")", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve.log lacks %q:\n%s", want, log)
		}
	}
}

func TestDetachedJobEndsAfterItsRunWasKilled(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	gate := filepath.Join(t.TempDir(), "gate")
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
		t.Fatalf("wait: exit %d, stdout %q; stderr:\n%s\nserve.log:\n%s", w.code, w.stdout, w.stderr, serveLog(e))
	}
}

func TestDetachedServerKilledMidJobIsReplacedAndTheJobEnds(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	// A short visibility, so that the run order of the killed server's
	// job is adopted within seconds rather than 30s.
	e.extraEnv = []string{"DEPLOYER_VISIBILITY=3s", "DEPLOYER_IDLE_EXIT=1s"}
	gate := filepath.Join(t.TempDir(), "gate")
	run := e.start("run", "--", "terraform-planner", "gated", gate)
	id := run.stderr.waitFor(t, jobSubmitted, 30*time.Second)[1]
	run.stdout.waitFor(t, regexp.MustCompile(`^before$`), 30*time.Second)
	first := onlyServer(t, e)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, first, 30*time.Second)

	// The task outlives its server; a later wait starts another server,
	// which adopts the job and sees it to its true end.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	w := e.run("wait", id)
	if w.code != 7 || w.stdout != "before\nafter\n" {
		t.Fatalf("wait: exit %d, stdout %q; stderr:\n%s\nserve.log:\n%s", w.code, w.stdout, w.stderr, serveLog(e))
	}
	t.Logf("wait returned %s after the server was killed and the gate opened", time.Since(begin).Round(time.Millisecond))
	// The run that was following all along ends the same way.
	if code := run.wait(t, time.Minute); code != 7 {
		t.Errorf("run exited %d, want 7; stderr:\n%s", code, run.stderr.text())
	}
	for _, pid := range serverPids(t, e) {
		if pid == first {
			t.Errorf("the killed server is still marked as serving")
		}
	}
}

func TestDetachedBrokenConfigFailsBeforeEnqueueing(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("containers:\n  x:\n    bogus_field: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"run", "--", "x", "s"}, {"run", "--no-wait", "--", "x", "s"}} {
		r := e.run(append([]string{"--config", broken}, args...)...)
		if r.code != 78 || !strings.Contains(r.stderr, "bogus_field") {
			t.Errorf("%v: exit %d, want 78 naming the fault; stderr:\n%s", args, r.code, r.stderr)
		}
	}
	// The server started while the run loaded its configuration was
	// stopped before the run returned: it never served, and is gone.
	if pids := serverPids(t, e); len(pids) != 0 {
		t.Errorf("servers marked as serving for a broken configuration: %v", pids)
	}
	if strings.Contains(serveLog(e), "serving") {
		t.Errorf("a server served for a broken configuration:\n%s", serveLog(e))
	}
	if pids := processesOf(t, e.state); len(pids) != 0 {
		t.Errorf("processes of the state directory left after runs with a broken configuration: %v", pids)
	}
	b, err := embedded.Open(context.Background(), e.state, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if n, err := b.Broker.Count(context.Background(), topology.RequestQueue); err != nil || n != 0 {
		t.Errorf("%d requests enqueued (%v), want none", n, err)
	}
}

// TestTaskSupervisors: a task's supervisor (the script's parent) is
// deployer-supervisor when it lies beside deployer as the same build, and
// deployer itself when none does or this user may not run it, and up
// says which.
func TestTaskSupervisors(t *testing.T) {
	t.Parallel()
	// install copies the binaries named (name → mode) into a directory
	// of their own and returns it.
	install := func(modes map[string]os.FileMode) string {
		dir := t.TempDir()
		for name, mode := range modes {
			b, err := os.ReadFile(filepath.Join(buildDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	alone := install(map[string]os.FileMode{"deployer": 0o755})
	unrunnable := install(map[string]os.FileMode{"deployer": 0o755, "deployer-supervisor": 0o644})
	for _, c := range []struct {
		name, bin, supervisor, about string
	}{
		{"deployer-supervisor beside deployer", deployerBin, "deployer-supervisor", filepath.Join(buildDir, "deployer-supervisor")},
		{"none beside deployer", filepath.Join(alone, "deployer"), "deployer", "deployer itself (no deployer-supervisor next to it)"},
		{"one this user may not run", filepath.Join(unrunnable, "deployer"), "deployer",
			"deployer itself: " + filepath.Join(unrunnable, "deployer-supervisor") + " is not executable by this user: permission denied"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, `
containers:
  c:
    local: {scripts_dir: SCRIPTS}
    script_config:
      env: {allowed_options: []}
`, map[string]string{
				// The supervisor is the script's parent.
				"env": "#!/bin/sh\necho \"supervisor $(basename \"$(readlink /proc/$PPID/exe)\")\"\n",
			})
			e.as = func(cmd *exec.Cmd) { cmd.Path, cmd.Args[0] = c.bin, c.bin }
			r := e.run("run", "--", "c", "env")
			want := "supervisor " + c.supervisor + "\n"
			if r.code != 0 || r.stdout != want {
				t.Fatalf("run: exit %d, stdout %q, want %q; stderr:\n%s", r.code, r.stdout, want, r.stderr)
			}
			if log, want := serveLog(e), "deployer: task supervisors: "+c.about+"\n"; !strings.Contains(log, want) {
				t.Errorf("serve.log lacks %q:\n%s", want, log)
			}
		})
	}
}

// TestFirstCommandWithTheExampleMakesAPrivateStateDirectory: a command
// on a state directory that does not exist yet, with the built-in example
// configuration, makes the directory its owner's alone, as opening it
// does, though the example is written into it first (describe opens no
// database; run starts its server before it opens it).
func TestFirstCommandWithTheExampleMakesAPrivateStateDirectory(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"describe"}, {"run", "--", "demo", "hello", "world"}} {
		t.Run(args[0], func(t *testing.T) {
			e := *newPlatform(t)
			e.state = filepath.Join(t.TempDir(), "new", "state")
			e.config = "" // --config "": the built-in example
			t.Cleanup(e.waitIdle)
			r := e.run(args...)
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			for _, dir := range []string{e.state, filepath.Dir(e.state)} {
				fi, err := os.Stat(dir)
				if err != nil {
					t.Fatal(err)
				}
				if perm := fi.Mode().Perm(); perm != 0o700 {
					t.Errorf("%s: mode %v, want 0700", dir, perm)
				}
			}
			if _, err := os.Stat(filepath.Join(e.state, "example", "deployer.yaml")); err != nil {
				t.Errorf("the example is not in the state directory: %v", err)
			}
		})
	}
}
