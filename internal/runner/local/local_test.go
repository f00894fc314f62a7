package local_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/runner/runnertest"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/schemas"
)

func TestArgumentsReachScriptVerbatim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("args", "#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
	argv := []string{"$(touch pwned)", ";rm -rf pwned2", "`id`", "a b  c", "*", "'quoted'", "$HOME", "-x", ""}
	task := e.waitStopped(e.start(e.spec("args", argv...)).ID)
	if exitOf(task) != "0" {
		t.Fatalf("exit %s (%s)", exitOf(task), task.StopReason)
	}
	if got := e.lines(task.ID); !slices.Equal(got, argv) {
		t.Errorf("script saw %q, want %q", got, argv)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(local.WorkDir(e.stateDir, task.ID), "home", f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists: an argument was interpreted by a shell", f)
		}
	}
}

func TestEnvironmentIsMinimal(t *testing.T) {
	e := newEnv(t, func(o *local.Options) { o.Path = "/usr/bin:/bin" })
	e.script("env", "#!/bin/sh\nexec env\n")
	const (
		envSecret  = "s3cr3t-from-env-c0ffee"
		fileSecret = "s3cr3t-from-file-beef"
	)
	t.Setenv("DEPLOYER_TEST_SECRET", envSecret)
	t.Setenv("DEPLOYER_TEST_NOT_PASSED", "leak")
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := e.spec("env")
	spec.Attempt = 2
	spec.Env = map[string]string{"STAGE": "prod", "EMPTY": ""}
	spec.Secrets = map[string]string{"API_TOKEN": "env:DEPLOYER_TEST_SECRET", "DB_PASSWORD": "file:" + secretFile}
	task := e.waitStopped(e.start(spec).ID)
	if exitOf(task) != "0" {
		t.Fatalf("exit %s (%s)", exitOf(task), task.StopReason)
	}
	dir := local.WorkDir(e.stateDir, task.ID)
	want := map[string]string{
		"PATH":             "/usr/bin:/bin",
		"HOME":             filepath.Join(dir, "home"),
		"TMPDIR":           filepath.Join(dir, "tmp"),
		"STAGE":            "prod",
		"EMPTY":            "",
		"DEPLOYER_JOB_ID":  spec.JobID,
		"DEPLOYER_ATTEMPT": "2",
		"API_TOKEN":        envSecret,
		"DB_PASSWORD":      fileSecret,
	}
	// What /bin/sh adds by itself.
	shellAdds := map[string]bool{"PWD": true, "SHLVL": true, "_": true, "OLDPWD": true}
	got := map[string]string{}
	for _, l := range e.lines(task.ID) {
		k, v, _ := strings.Cut(l, "=")
		if !shellAdds[k] {
			got[k] = v
		}
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q (set: %v), want %q", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected variable %s in the task's environment", k)
		}
	}
	// The values reached the script only: not the task row, not the
	// supervisor's log, not the runner's log.
	supLog, err := os.ReadFile(filepath.Join(dir, "supervisor.log"))
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"task row": e.row(task.ID), "supervisor log": string(supLog), "runner log": e.logBuf.String()} {
		for _, secret := range []string{envSecret, fileSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s contains a secret value", where)
			}
		}
	}
	if !strings.Contains(e.row(task.ID), "env:DEPLOYER_TEST_SECRET") {
		t.Errorf("the task row does not keep the secret's reference")
	}
}

// TestEndRecordedWhenTheLastOutputCannotBeStored: when the last batch of
// output (the one with the end record, stored with the task's end) cannot
// be stored, the task's end is still recorded, with its exit code, and
// says what was lost.
func TestEndRecordedWhenTheLastOutputCannotBeStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *local.Options) { o.Supervisor = []string{exe(t), impatientArg} })
	if _, err := e.db.ExecContext(t.Context(), `CREATE TRIGGER refuse_batches BEFORE INSERT ON task_log_batches
		BEGIN SELECT RAISE(ABORT, 'batch refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	// No output: the end record is the last batch's only line, so
	// nothing is flushed before the task ends.
	e.script("short", "#!/bin/sh\nexit 3\n")
	task := e.waitStopped(e.start(e.spec("short")).ID)
	if task.ExitCode == nil || *task.ExitCode != 3 {
		t.Errorf("exit %s, want 3", exitOf(task))
	}
	for _, want := range []string{"could not be stored", "batch refused by the test"} {
		if !strings.Contains(task.StopReason, want) {
			t.Errorf("reason %q does not say %q", task.StopReason, want)
		}
	}
	if task.LogEvents != 0 {
		t.Errorf("%d lines counted, want the 0 stored", task.LogEvents)
	}
}

func TestUnresolvableSecretFailsToStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("never", "#!/bin/sh\necho ran\n")
	spec := e.spec("never")
	spec.Secrets = map[string]string{"API_TOKEN": "env:DEPLOYER_TEST_UNSET_VARIABLE_9F"}
	task := e.waitStopped(e.start(spec).ID)
	if task.StopCode != runner.StopFailedToStart || task.ExitCode != nil {
		t.Errorf("stop code %q, exit %s; want %q and none", task.StopCode, exitOf(task), runner.StopFailedToStart)
	}
	for _, s := range []string{"API_TOKEN", "env:DEPLOYER_TEST_UNSET_VARIABLE_9F"} {
		if !strings.Contains(task.StopReason, s) {
			t.Errorf("reason %q does not name %s", task.StopReason, s)
		}
	}
	// The log holds deployer-task's one line saying why, for whoever
	// follows the job, and nothing of the script.
	lines := e.lines(task.ID)
	if len(lines) != 1 || task.LogEvents != 1 || !strings.Contains(lines[0], "could not start") || !strings.Contains(lines[0], "API_TOKEN") {
		t.Errorf("log %q (%d lines); want only why the script could not start", lines, task.LogEvents)
	}
}

func TestExecFailureFailsToStart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("broken", "#!/nonexistent/interpreter\n")
	task := e.waitStopped(e.start(e.spec("broken")).ID)
	if task.StopCode != runner.StopFailedToStart || task.ExitCode != nil {
		t.Errorf("stop code %q, exit %s; want %q and none", task.StopCode, exitOf(task), runner.StopFailedToStart)
	}
	if !strings.Contains(task.StopReason, "broken") || !strings.Contains(task.StopReason, "no such file") {
		t.Errorf("reason %q does not say what failed", task.StopReason)
	}
}

func TestHomeIsFreshWorkDir(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("home", "#!/bin/sh\npwd\nls -A \"$HOME\" \"$TMPDIR\"\nstat -c %a \"$HOME\" \"$TMPDIR\"\ntouch \"$HOME/made-by-task\"\n")
	spec := e.spec("home")
	dir := local.WorkDir(e.stateDir, local.TaskID(spec.JobID, spec.Attempt))
	for _, d := range []string{"home", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d, "leftover-dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, ".leftover"), []byte("x"), 0o644); err != nil { //nolint:gosec // test file
			t.Fatal(err)
		}
	}
	task := e.waitStopped(e.start(spec).ID)
	got := e.lines(task.ID)
	home := filepath.Join(dir, "home")
	// pwd; ls of two empty directories prints their headers only; modes.
	want := []string{home, filepath.Join(dir, "home") + ":", "", filepath.Join(dir, "tmp") + ":", "700", "700"}
	if !slices.Equal(got, want) {
		t.Errorf("the task saw %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(home, "made-by-task")); err != nil {
		t.Errorf("the work directory is not kept after the task: %v", err)
	}
}

func TestStdoutAndStderrInterleaved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("both", "#!/bin/sh\ni=0\nwhile [ $i -lt 1000 ]; do echo out; echo err >&2; i=$((i+1)); done\n")
	task := e.waitStopped(e.start(e.spec("both")).ID)
	got := e.lines(task.ID)
	if len(got) != 2000 || task.LogEvents != 2000 {
		t.Fatalf("got %d lines, LogEvents %d; want 2000", len(got), task.LogEvents)
	}
	for i, l := range got {
		want := "out"
		if i%2 == 1 {
			want = "err"
		}
		if l != want {
			t.Fatalf("line %d = %q, want %q: stdout and stderr lost their order", i+1, l, want)
		}
	}
}

// pidGone waits until pid no longer runs.
func pidGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for local.Alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStopKillsGroupAfterGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Ignores SIGTERM; leaves a grandchild (which inherits the ignored
	// SIGTERM) in its process group.
	e.script("stubborn", "#!/bin/sh\ntrap '' TERM\nsleep 1000 &\necho $!\necho ready\nwhile :; do sleep 0.05; done\n")
	task := e.start(e.spec("stubborn"))
	runnertest.WaitFor(t, e.r, task.ID, waitTimeout, "ready", func(t runner.Task) bool { return t.LogEvents >= 2 })
	grandchild, err := strconv.Atoi(e.lines(task.ID)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(grandchild, syscall.SIGKILL) })
	if !local.Alive(grandchild) {
		t.Fatalf("grandchild %d is not running", grandchild)
	}
	asked := time.Now()
	if err := e.r.Stop(t.Context(), task.ID, "timeout: test"); err != nil {
		t.Fatal(err)
	}
	got := e.waitStopped(task.ID)
	if took := time.Since(asked); took < testGrace {
		t.Errorf("stopped after %s, before the grace period (%s) was over", took, testGrace)
	}
	if got.StopCode != runner.StopRequested || exitOf(got) != "137" || got.StopReason != "timeout: test" {
		t.Errorf("stop code %q, exit %s, reason %q; want %q, 137 (SIGKILL), the reason given", got.StopCode, exitOf(got), got.StopReason, runner.StopRequested)
	}
	pidGone(t, grandchild)
}

func TestExitKillsLeftovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The grandchild holds the output pipe open: the task must still end.
	e.script("leaves", "#!/bin/sh\nsleep 1000 &\necho $!\nexit 4\n")
	got := e.waitStopped(e.start(e.spec("leaves")).ID)
	if got.StopCode != runner.StopExited || exitOf(got) != "4" {
		t.Errorf("stop code %q, exit %s; want %q, 4", got.StopCode, exitOf(got), runner.StopExited)
	}
	grandchild, err := strconv.Atoi(e.lines(got.ID)[0])
	if err != nil {
		t.Fatal(err)
	}
	pidGone(t, grandchild)
}

func TestTaskOutlivesStarter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("waits", "#!/bin/sh\nwhile [ ! -e \"$1\" ]; do sleep 0.02; done\necho done\nexit 7\n")
	gate := filepath.Join(t.TempDir(), "go")
	spec := e.spec("waits")
	out, err := exec.CommandContext(t.Context(), exe(t), startArg, e.stateDir, e.scripts, spec.JobID, "waits", gate).Output()
	if err != nil {
		t.Fatalf("starter: %v", err)
	}
	id := strings.TrimSpace(string(out))
	if id != local.TaskID(spec.JobID, 1) {
		t.Fatalf("starter started %q", id)
	}
	// The starter has exited; the task is still there.
	running := runnertest.WaitFor(t, e.r, id, waitTimeout, "running", func(t runner.Task) bool { return t.Status == runner.StatusRunning })
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := e.waitStopped(running.ID)
	if exitOf(got) != "7" || got.StopCode != runner.StopExited || got.LogEvents != 1 {
		t.Errorf("exit %s, stop code %q, %d lines; want 7, %q, 1", exitOf(got), got.StopCode, got.LogEvents, runner.StopExited)
	}
	// The supervisor was not ours to reap; make sure it is gone.
	pidGone(t, e.supervisorPID(id))
}

func TestSecondSupervisorCannotClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("marks", "#!/bin/sh\ntouch \"$HOME/marker\"\necho ready\nexec sleep 1000\n")
	task := e.start(e.spec("marks"))
	runnertest.WaitFor(t, e.r, task.ID, waitTimeout, "ready", func(t runner.Task) bool { return t.LogEvents == 1 })
	first := e.supervisorPID(task.ID)
	out, err := exec.CommandContext(t.Context(), exe(t), superviseArg, e.stateDir, task.ID).CombinedOutput()
	if err != nil {
		t.Fatalf("second supervisor: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "not claimed") {
		t.Errorf("second supervisor said %q", out)
	}
	if _, err := os.Stat(filepath.Join(local.WorkDir(e.stateDir, task.ID), "home", "marker")); err != nil {
		t.Errorf("the second supervisor touched the work directory: %v", err)
	}
	if pid := e.supervisorPID(task.ID); pid != first {
		t.Errorf("supervisor pid changed from %d to %d", first, pid)
	}
	if err := e.r.Stop(t.Context(), task.ID, "done"); err != nil {
		t.Fatal(err)
	}
	got := e.waitStopped(task.ID)
	if got.LogEvents != 1 || exitOf(got) != "143" {
		t.Errorf("%d lines, exit %s; want 1 line, 143 (SIGTERM)", got.LogEvents, exitOf(got))
	}
}

func TestManyLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("seq", "#!/bin/sh\nexec seq 100000\n")
	begin := time.Now()
	got := e.waitStopped(e.start(e.spec("seq")).ID)
	took := time.Since(begin)
	if got.LogEvents != 100000 || exitOf(got) != "0" {
		t.Fatalf("LogEvents %d, exit %s; want 100000, 0", got.LogEvents, exitOf(got))
	}
	lines := e.lines(got.ID) // checks seq is dense
	if len(lines) != 100000 {
		t.Fatalf("%d lines stored, want 100000", len(lines))
	}
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d = %q", i+1, l)
		}
	}
	t.Logf("100000 lines stored in %s (from Start, including the supervisor's start-up)", took)
}

func TestLostSupervisor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("sleeper", "#!/bin/sh\necho $$\nexec sleep 1000\n")
	task := e.start(e.spec("sleeper"))
	runnertest.WaitFor(t, e.r, task.ID, waitTimeout, "running", func(t runner.Task) bool { return t.LogEvents == 1 })
	script, err := strconv.Atoi(e.lines(task.ID)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-script, syscall.SIGKILL) })
	if err := syscall.Kill(e.supervisorPID(task.ID), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := e.waitStopped(task.ID)
	if got.StopCode != runner.StopLost || got.ExitCode != nil || !strings.Contains(got.StopReason, "died") {
		t.Errorf("stop code %q, exit %s, reason %q; want %q, none", got.StopCode, exitOf(got), got.StopReason, runner.StopLost)
	}
	if err := e.r.Stop(t.Context(), task.ID, "late"); err != nil {
		t.Errorf("Stop of a lost task: %v", err)
	}
}

func TestSupervisorSIGTERMStopsTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("sleeper", "#!/bin/sh\necho ready\nexec sleep 1000\n")
	task := e.start(e.spec("sleeper"))
	runnertest.WaitFor(t, e.r, task.ID, waitTimeout, "running", func(t runner.Task) bool { return t.LogEvents == 1 })
	if err := syscall.Kill(e.supervisorPID(task.ID), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	got := e.waitStopped(task.ID)
	if got.StopCode != runner.StopRequested || exitOf(got) != "143" || !strings.Contains(got.StopReason, "supervisor received") {
		t.Errorf("stop code %q, exit %s, reason %q; want %q, 143, saying the supervisor was signalled", got.StopCode, exitOf(got), got.StopReason, runner.StopRequested)
	}
}

func TestStopLostSupervisor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("sleeper", "#!/bin/sh\necho $$\nexec sleep 1000\n")
	task := e.start(e.spec("sleeper"))
	runnertest.WaitFor(t, e.r, task.ID, waitTimeout, "running", func(t runner.Task) bool { return t.LogEvents == 1 })
	script, err := strconv.Atoi(e.lines(task.ID)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-script, syscall.SIGKILL) })
	sup := e.supervisorPID(task.ID)
	if err := syscall.Kill(sup, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pidGone(t, sup)
	// Let its heartbeat go stale without asking Inspect.
	if _, err := e.db.ExecContext(t.Context(), `UPDATE local_tasks SET beat_ms = beat_ms - 60000 WHERE id = ?`, task.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Stop(t.Context(), task.ID, "cancel: by test"); err != nil {
		t.Fatal(err)
	}
	got, err := e.r.Find(t.Context(), task.JobID, task.Attempt)
	if err != nil || got.Status != runner.StatusStopped || got.StopCode != runner.StopLost || !strings.Contains(got.StopReason, "cancel: by test") {
		t.Errorf("after Stop: %+v, %v; want stopped, lost, naming the stop reason", got, err)
	}
}

func TestUnclaimedTaskIsSpawnedAgain(t *testing.T) {
	t.Parallel()
	// A "supervisor" that dies at once never claims the task.
	dud := newEnv(t, func(o *local.Options) { o.Supervisor = []string{"/bin/true"} })
	dud.script("hello", "#!/bin/sh\necho hello\n")
	spec := dud.spec("hello")
	task := dud.start(spec)
	if task.Status != runner.StatusPending {
		t.Fatalf("status %q, want pending", task.Status)
	}
	// Another runner on the same state directory, with a real supervisor.
	r, err := local.New(dud.db, local.Options{StateDir: dud.stateDir, Supervisor: []string{exe(t), superviseArg}, Heartbeat: testHeartbeat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.WaitSupervisors(r) })
	// /bin/true may still be running for a moment; Start respawns once it
	// is gone.
	var again runner.Task
	deadline := time.Now().Add(waitTimeout)
	for {
		if again, err = r.Start(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
		if again.Status != runner.StatusPending || time.Now().After(deadline) {
			break
		}
		local.WaitSupervisors(dud.r)
	}
	if again.ID != task.ID {
		t.Fatalf("Start returned %s, want %s", again.ID, task.ID)
	}
	got := runnertest.WaitStopped(t, r, task.ID, waitTimeout)
	if exitOf(got) != "0" || got.LogEvents != 1 {
		t.Errorf("exit %s, %d lines; want 0, 1", exitOf(got), got.LogEvents)
	}
}

func TestStopPendingTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *local.Options) { o.Supervisor = []string{"/bin/true"} })
	e.script("hello", "#!/bin/sh\necho hello\n")
	task := e.start(e.spec("hello"))
	if err := e.r.Stop(t.Context(), task.ID, "cancel: before it ran"); err != nil {
		t.Fatal(err)
	}
	got, err := e.r.Find(t.Context(), task.JobID, task.Attempt)
	if err != nil || got.Status != runner.StatusStopped || got.StopCode != runner.StopRequested || got.ExitCode != nil {
		t.Errorf("after Stop: %+v, %v; want stopped, %q, no exit code", got, err, runner.StopRequested)
	}
	// A supervisor arriving late does not run it.
	out, err := exec.CommandContext(t.Context(), exe(t), superviseArg, e.stateDir, task.ID).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "not claimed") {
		t.Errorf("late supervisor: %v\n%s", err, out)
	}
}

// TestStopAsTheTaskStarts: a stop that reaches the task while its
// supervisor is starting it (before or after the script started) is a
// stop, never a task lost.
func TestStopAsTheTaskStarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("sleep", "#!/bin/sh\necho sleeping\nwhile :; do sleep 0.1; done\n")
	task := e.start(e.spec("sleep"))
	if err := e.r.Stop(t.Context(), task.ID, "cancel: at once"); err != nil {
		t.Fatal(err)
	}
	got := e.waitStopped(task.ID)
	if got.StopCode != runner.StopRequested {
		t.Fatalf("stop code %q (%s), exit %s; want %q", got.StopCode, got.StopReason, exitOf(got), runner.StopRequested)
	}
}

func TestInvalidSpecs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("ok", "#!/bin/sh\n")
	if err := os.WriteFile(filepath.Join(e.scripts, "plain"), []byte("#!/bin/sh\n"), 0o644); err != nil { //nolint:gosec // test file
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(e.scripts, "dir"), 0o755); err != nil { //nolint:gosec // test dir
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*runner.Spec)
		want string
	}{
		{"empty script", func(s *runner.Spec) { s.Script = "" }, "script name is empty"},
		{"dot dot", func(s *runner.Spec) { s.Script = ".." }, "not a file name"},
		{"path", func(s *runner.Spec) { s.Script = "../ok" }, "plain file name"},
		{"slash", func(s *runner.Spec) { s.Script = "sub/ok" }, "plain file name"},
		{"nul", func(s *runner.Spec) { s.Script = "ok\x00" }, "plain file name"},
		{"relative dir", func(s *runner.Spec) { s.ScriptsDir = "scripts" }, "not an absolute path"},
		{"missing", func(s *runner.Spec) { s.Script = "missing" }, "no such file"},
		{"not executable", func(s *runner.Spec) { s.Script = "plain" }, "not executable"},
		{"directory", func(s *runner.Spec) { s.Script = "dir" }, "not a regular file"},
		{"bad job id", func(s *runner.Spec) { s.JobID = "../../etc" }, "not a valid job id"},
		{"attempt 0", func(s *runner.Spec) { s.Attempt = 0 }, "out of range"},
		{"nul arg", func(s *runner.Spec) { s.Argv = []string{"a\x00b"} }, "NUL"},
		{"bad env name", func(s *runner.Spec) { s.Env = map[string]string{"A-B": "x"} }, "not valid"},
		{"reserved env", func(s *runner.Spec) { s.Env = map[string]string{"DEPLOYER_JOB_ID": "x"} }, "set by the runner"},
		{"secret scheme", func(s *runner.Spec) { s.Secrets = map[string]string{"T": "arn:aws:secretsmanager:x"} }, "not a valid Secrets Manager ARN"},
		{"relative secret file", func(s *runner.Spec) { s.Secrets = map[string]string{"T": "file:token"} }, "absolute"},
		{"env and secret", func(s *runner.Spec) {
			s.Env = map[string]string{"T": "x"}
			s.Secrets = map[string]string{"T": "env:X"}
		}, "both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.spec("ok")
			tc.edit(&spec)
			_, err := e.r.Start(t.Context(), spec)
			if !errors.Is(err, runner.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v; want ErrInvalidSpec saying %q", err, tc.want)
			}
		})
	}
	var n int
	if err := e.db.QueryRowContext(t.Context(), `SELECT count(*) FROM local_tasks`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tasks recorded (%v), want none", n, err)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("ok", "#!/bin/sh\necho hi\n")
	task := e.waitStopped(e.start(e.spec("ok")).ID)
	dir := local.WorkDir(e.stateDir, task.ID)
	if n, err := e.r.Prune(t.Context(), time.Hour); err != nil || n != 0 {
		t.Errorf("Prune(1h) = %d, %v; want 0", n, err)
	}
	if n, err := e.r.Prune(t.Context(), -time.Second); err != nil || n != 1 {
		t.Errorf("Prune(now) = %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work directory still there: %v", err)
	}
	if got, err := e.r.Find(t.Context(), task.JobID, 1); err != nil || got.LogEvents != 1 {
		t.Errorf("the task row is gone: %v", err)
	}
}

func TestRecordSinkJoinsParts(t *testing.T) {
	t.Parallel()
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	recs := func(rs ...schemas.TaskRecord) []schemas.TaskRecord {
		for i := range rs {
			if rs[i].JobID == "" {
				rs[i].JobID = job
			}
			rs[i].Attempt = 1
		}
		return rs
	}
	got, err := local.SinkLines(job, recs(
		schemas.TaskRecord{Seq: 1, Text: "one"},
		schemas.TaskRecord{Seq: 2, Part: 1, More: true, Text: "tw"},
		schemas.TaskRecord{Seq: 2, Part: 2, Text: "o\xff"},
		schemas.TaskRecord{Seq: 3, End: &schemas.LogEnd{Lines: 2, ExitCode: new(int)}},
	))
	if err != nil {
		t.Fatal(err)
	}
	// Invalid UTF-8 reads as it would through deployer-task's JSON.
	if len(got) != 3 || got[0].Text != "one" || got[1].Text != "two\uFFFD" || got[1].Part != 0 || got[2].End == nil || got[2].Seq != 3 {
		t.Fatalf("lines %+v", got)
	}
	for name, bad := range map[string][]schemas.TaskRecord{
		"gap":         recs(schemas.TaskRecord{Seq: 2, Text: "x"}),
		"another job": recs(schemas.TaskRecord{JobID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F", Seq: 1}),
	} {
		if lines, err := local.SinkLines(job, bad); err == nil || len(lines) != 0 {
			t.Errorf("%s: lines %+v, error %v; want none and an error", name, lines, err)
		}
	}
}

// TestPumpStoresWhatQueuedBehindAPauseInOneBatch: lines the script wrote
// while a batch was being stored wait in the pump's queue, each chunk
// handed as the pipe ran dry; they are stored together (up to FlushLines),
// not in one commit per chunk.
func TestPumpStoresWhatQueuedBehindAPauseInOneBatch(t *testing.T) {
	t.Parallel()
	var (
		chunks [][]schemas.LogLine
		seq    int64
	)
	for range 5 {
		var c []schemas.LogLine
		for range local.FlushLines / 3 {
			seq++
			c = append(c, schemas.LogLine{Seq: seq, Text: "line"})
		}
		chunks = append(chunks, c)
	}
	var sizes []int
	next := int64(1)
	for _, b := range local.PumpBatches(chunks) {
		sizes = append(sizes, len(b))
		for _, l := range b {
			if l.Seq != next {
				t.Fatalf("stored line %d, want %d", l.Seq, next)
			}
			next++
		}
	}
	third := local.FlushLines / 3
	if want := []int{local.FlushLines, 5*third - local.FlushLines}; !slices.Equal(sizes, want) {
		t.Errorf("batches of %v lines, want %v", sizes, want)
	}
}

// TestPumpBoundsABatchsText: long lines make a batch of at most
// FlushBytes of text (and the line that crossed it), however few lines.
func TestPumpBoundsABatchsText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", local.FlushBytes/2+1)
	var chunks [][]schemas.LogLine
	for seq := int64(1); seq <= 3; seq++ {
		chunks = append(chunks, []schemas.LogLine{{Seq: seq, Text: long}})
	}
	var sizes []int
	for _, b := range local.PumpBatches(chunks) {
		sizes = append(sizes, len(b))
	}
	if want := []int{2, 1}; !slices.Equal(sizes, want) {
		t.Errorf("batches of %v lines, want %v", sizes, want)
	}
}

// BenchmarkLines measures end-to-end output throughput: from Start to the
// recorded exit status of a script printing 100,000 lines, supervisor
// start-up included, against the same script printing to /dev/null.
func BenchmarkLines(b *testing.B) {
	const n = 100000
	stateDir, scripts := b.TempDir(), b.TempDir()
	script := filepath.Join(scripts, "seq")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec seq 100000\n"), 0o755); err != nil { //nolint:gosec // test script
		b.Fatal(err)
	}
	db, err := sqlitedb.Open(stateDir)
	if err != nil {
		b.Fatal(err)
	}
	r, err := local.New(db, local.Options{StateDir: stateDir, Supervisor: []string{exe(b), superviseArg}, Heartbeat: testHeartbeat})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { local.WaitSupervisors(r); _ = db.Close() }()

	// Baseline: the same script straight to /dev/null.
	begin := time.Now()
	for range b.N {
		if err := exec.CommandContext(b.Context(), script).Run(); err != nil {
			b.Fatal(err)
		}
	}
	devnull := time.Since(begin)

	b.ResetTimer()
	begin = time.Now()
	for range b.N {
		spec := runner.Spec{JobID: ulid.Make().String(), Attempt: 1, Script: "seq", ScriptsDir: scripts}
		task, err := r.Start(b.Context(), spec)
		if err != nil {
			b.Fatal(err)
		}
		for task.Status != runner.StatusStopped {
			time.Sleep(2 * time.Millisecond) // a tight poll, so as not to pad the measurement
			if task, err = r.Find(b.Context(), spec.JobID, 1); err != nil {
				b.Fatal(err)
			}
		}
		if task.LogEvents != n {
			b.Fatalf("%d lines stored, want %d", task.LogEvents, n)
		}
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(n*b.N)/devnull.Seconds(), "devnull-lines/s")
}

// TestCanaryRunsTheVersionProbe: a canary runs the task entrypoint's
// version probe, not a script, and its one line is the task's log; a
// canary of a scripts directory that is gone fails to start as a missing
// task definition.
func TestCanaryRunsTheVersionProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec := runner.Spec{JobID: ulid.Make().String(), Attempt: 1, Container: "test", Canary: true, ScriptsDir: e.scripts}
	task := e.waitStopped(e.start(spec).ID)
	if exitOf(task) != "0" || task.StopCode != runner.StopExited {
		t.Fatalf("exit %s, stop %s (%s)", exitOf(task), task.StopCode, task.StopReason)
	}
	if got := e.lines(task.ID); !slices.Equal(got, []string{schemas.CanaryVersionPrefix + "test"}) {
		t.Errorf("canary wrote %q", got)
	}
	spec.JobID, spec.ScriptsDir = ulid.Make().String(), filepath.Join(e.scripts, "gone")
	if _, err := e.r.Start(t.Context(), spec); !errors.Is(err, runner.ErrMissingDefinition) || !errors.Is(err, runner.ErrInvalidSpec) {
		t.Errorf("canary of a missing scripts directory: %v, want ErrMissingDefinition", err)
	}
	spec.JobID, spec.ScriptsDir, spec.Script = ulid.Make().String(), e.scripts, "args"
	if _, err := e.r.Start(t.Context(), spec); !errors.Is(err, runner.ErrInvalidSpec) {
		t.Errorf("canary with a script: %v, want ErrInvalidSpec", err)
	}
}

// TestSpareSupervisorTakesTheNextTask: while KeepSpare runs, a supervisor
// waits ahead of the next task and runs it (its pid is the one recorded
// before the task starts), then comes back and waits for the task after,
// each task's diagnostics go to its own supervisor.log and nowhere else,
// and the spare left exits without running anything when KeepSpare ends.
func TestSpareSupervisorTakesTheNextTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *local.Options) { o.SpareAtStart = true })
	e.script("hello", "#!/bin/sh\necho \"hello $1\"\n")
	stop := local.KeepSpares(e.r)
	spares := local.SparePIDs(e.r)
	if len(spares) != 1 {
		t.Fatalf("spares %v, want one ready", spares)
	}
	spare := spares[0]
	var ids []string
	for i := range 3 {
		// The supervisor is back once it has recorded the last task's end.
		if got := local.AwaitSpare(e.r, 0, 10*time.Second); got != spare {
			t.Fatalf("task %d: spare %d, want %d back", i, got, spare)
		}
		task := e.start(e.spec("hello", strconv.Itoa(i)))
		ids = append(ids, task.ID)
		if pid := e.supervisorPID(task.ID); pid != spare {
			t.Fatalf("task %d: supervisor pid %d, want the spare's %d", i, pid, spare)
		}
		got := e.waitStopped(task.ID)
		if got.ExitCode == nil || *got.ExitCode != 0 || strings.Join(e.lines(task.ID), "|") != "hello "+strconv.Itoa(i) {
			t.Fatalf("task %d: %+v, lines %q", i, got, e.lines(task.ID))
		}
	}
	if got := local.AwaitSpare(e.r, 0, 10*time.Second); got != spare {
		t.Fatalf("after the last task: spare %d, want %d back", got, spare)
	}
	stop()
	if local.Alive(spare) {
		t.Errorf("the spare left (pid %d) outlived KeepSpare", spare)
	}
	for i, id := range ids {
		log, err := os.ReadFile(filepath.Join(local.WorkDir(e.stateDir, id), "supervisor.log"))
		if err != nil || !strings.Contains(string(log), "task claimed") {
			t.Fatalf("task %d's supervisor.log: %v\n%s", i, err, log)
		}
		for j, other := range ids {
			if j != i && strings.Contains(string(log), other) {
				t.Errorf("task %d's supervisor.log speaks of task %d (%s):\n%s", i, j, other, log)
			}
		}
	}
}

// TestSupervisorBackIsNotReplaced: the spare the runner would start a
// while after a task was handed over, for the next task (the task may be
// long), is not started once the supervisor is back from it: else a
// supervisor taken back would be replaced while it runs a later task.
func TestSupervisorBackIsNotReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *local.Options) { o.SpareAtStart = true })
	e.script("hello", "#!/bin/sh\necho hello\n")
	asked, release := local.HoldSpareStarts(e.r)
	t.Cleanup(release)
	t.Cleanup(local.KeepSpares(e.r))
	spares := local.SparePIDs(e.r)
	if len(spares) != 1 {
		t.Fatalf("spares %v, want one ready", spares)
	}
	task := e.start(e.spec("hello"))
	if d := <-asked; d != time.Second {
		t.Fatalf("the runner waits %s to start the next spare, want the 1s after a task starts", d)
	}
	e.waitStopped(task.ID)
	if got := local.AwaitSpare(e.r, 0, 10*time.Second); got != spares[0] {
		t.Fatalf("spare %d, want %d back", got, spares[0])
	}
	if !local.AwaitRefillWaits(e.r, 0, 10*time.Second) {
		t.Errorf("the runner still waits to start a spare, with the supervisor %d back", spares[0])
	}
}

// TestSupervisorOfATaskWithSecretsIsNotTakenBack: a supervisor whose task
// had secrets exits after it (their values stay in no process that runs
// another task), and the runner starts another spare.
func TestSupervisorOfATaskWithSecretsIsNotTakenBack(t *testing.T) {
	t.Parallel()
	e, spare := spareEnv(t)
	spec := e.spec("hello")
	spec.Secrets = map[string]string{"API_TOKEN": "env:PATH"}
	task := e.start(spec)
	if pid := e.supervisorPID(task.ID); pid != spare {
		t.Fatalf("supervisor pid %d, want the spare's %d", pid, spare)
	}
	if got := e.waitStopped(task.ID); got.ExitCode == nil || *got.ExitCode != 0 {
		t.Fatalf("task %+v", got)
	}
	pidGone(t, spare)
	if next := local.AwaitSpare(e.r, spare, 10*time.Second); next == 0 {
		t.Fatalf("no spare after the task with secrets; spares %v", local.SparePIDs(e.r))
	}
	if log, err := os.ReadFile(filepath.Join(local.WorkDir(e.stateDir, task.ID), "supervisor.log")); err != nil ||
		!strings.Contains(string(log), "the task had secrets") {
		t.Errorf("the supervisor.log does not say why it exits: %v\n%s", err, log)
	}
}

// TestSupervisorRunsItsShareOfTasks: a supervisor taken back runs at most
// local.TasksPerSupervisor tasks (two here), then exits, and the next
// task goes to the spare started after it.
func TestSupervisorRunsItsShareOfTasks(t *testing.T) {
	t.Parallel()
	e, spare := spareEnv(t, exe(t), superviseTwoArg)
	for i := range 2 {
		if got := local.AwaitSpare(e.r, 0, 10*time.Second); got != spare {
			t.Fatalf("task %d: spare %d, want %d", i, got, spare)
		}
		task := e.start(e.spec("hello"))
		if pid := e.supervisorPID(task.ID); pid != spare {
			t.Fatalf("task %d: supervisor pid %d, want the spare's %d", i, pid, spare)
		}
		e.waitStopped(task.ID)
	}
	pidGone(t, spare)
	next := local.AwaitSpare(e.r, spare, 10*time.Second)
	if next == 0 {
		t.Fatalf("no spare after the first retired; spares %v", local.SparePIDs(e.r))
	}
	task := e.start(e.spec("hello"))
	if pid := e.supervisorPID(task.ID); pid != next {
		t.Errorf("the third task's supervisor is %d, want the new spare %d", pid, next)
	}
	e.waitStopped(task.ID)
}

// TestSupervisorThatSaysNonsenseIsToldToGo: a supervisor that says on its
// socket anything but that it is back (or a line longer than any it
// says, read no further) is not offered a task again: the runner closes
// its end, and says why.
func TestSupervisorThatSaysNonsenseIsToldToGo(t *testing.T) {
	t.Parallel()
	for name, say := range map[string]string{
		"nonsense":        `echo nonsense`,
		"a line too long": `head -c 100000 /dev/zero | tr '\0' x`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// It reads its task's id, says it on the socket (descriptor
			// 3 too: a pipeline's last command has the pipe for its
			// stdin), and exits once the runner has closed the socket.
			rude := `exec 3<&0; read -r id; ` + say + ` >&3; read -r more; exit 0`
			e, spare := spareEnv(t, "/bin/sh", "-c", rude, "rude")
			task := e.start(e.spec("hello"))
			if pid := e.supervisorPID(task.ID); pid != spare {
				t.Fatalf("supervisor pid %d, want the spare's %d", pid, spare)
			}
			pidGone(t, spare)
			if !strings.Contains(e.logBuf.String(), "a supervisor said what it should not") {
				t.Errorf("the runner log does not say so:\n%s", e.logBuf.String())
			}
			if s := local.SparePIDs(e.r); slices.Contains(s, spare) {
				t.Errorf("the rude supervisor (pid %d) is the spare again", spare)
			}
			_ = e.r.Stop(t.Context(), task.ID, "the test is over")
		})
	}
}

// TestSpareIsRecordedWithItsTask: a task handed to a spare supervisor is
// recorded with the spare as its supervisor in the one commit that
// records the task: nothing more is written before the spare claims it.
// (This spare reads its task's id and exits without claiming it.)
func TestSpareIsRecordedWithItsTask(t *testing.T) {
	t.Parallel()
	e, spare := spareEnv(t, "/bin/sh", "-c", "read -r id", "spare")
	before := commitsTo(e.stateDir)
	task := e.start(e.spec("hello"))
	if n := commitsTo(e.stateDir) - before; n != 1 {
		t.Errorf("Start made %d commits handing its task to a spare, want 1", n)
	}
	if task.Status != runner.StatusPending {
		t.Errorf("status %q, want pending (the spare does not claim it)", task.Status)
	}
	if pid := e.supervisorPID(task.ID); pid != spare {
		t.Errorf("supervisor pid %d, want the spare's %d", pid, spare)
	}
}

// spareEnv is an env whose supervisor command is supervisor (none: the
// test binary's, the real one), keeping a spare (until the test ends)
// and the script "hello"; it returns the pid of the spare ready.
func spareEnv(t *testing.T, supervisor ...string) (*env, int) {
	t.Helper()
	e := newEnv(t, func(o *local.Options) {
		if len(supervisor) > 0 {
			o.Supervisor = supervisor
		}
		o.SpareAtStart = true
	})
	e.script("hello", "#!/bin/sh\necho hello\n")
	t.Cleanup(local.KeepSpares(e.r))
	spares := local.SparePIDs(e.r)
	if len(spares) != 1 {
		t.Fatalf("spares %v, want one ready", spares)
	}
	return e, spares[0]
}

// TestSpareThatCannotTakeItsTask: a spare that cannot be handed its task
// (it closed its stdin) leaves the task to a supervisor started for it,
// recorded in its stead.
func TestSpareThatCannotTakeItsTask(t *testing.T) {
	t.Parallel()
	// Neither the spare nor the supervisor started in its stead claims the
	// task. The first spare says on the FIFO that it has closed its stdin.
	closed := filepath.Join(t.TempDir(), "closed")
	if err := unix.Mkfifo(closed, 0o600); err != nil {
		t.Fatal(err)
	}
	const deaf = `exec 0<&-
if [ "$3" = - ] && mkdir "$1.once" 2>/dev/null; then echo closed >"$1"; fi
exec sleep 1`
	e, spare := spareEnv(t, "/bin/sh", "-c", deaf, "deaf", closed)
	if said, err := os.ReadFile(closed); err != nil || string(said) != "closed\n" {
		t.Fatalf("the spare said %q, %v", said, err)
	}
	task := e.start(e.spec("hello"))
	if pid := e.supervisorPID(task.ID); pid == spare || pid == 0 {
		t.Errorf("supervisor pid %d; want the one started for the task, not the spare's %d", pid, spare)
	}
	if !strings.Contains(e.logBuf.String(), "handing a task to the spare supervisor; spawning one") {
		t.Errorf("runner log does not say the spare could not take the task:\n%s", e.logBuf.String())
	}
}

// TestSpareStartsAfterTheTasksEnd: the spare for the next task starts
// local.SpareAfterEnd after the supervisor of the last one exits, not at
// once: its start would take the CPU from the job's end and its caller's.
func TestSpareStartsAfterTheTasksEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("hello", "#!/bin/sh\necho hello\n")
	asked, release := local.HoldSpareStarts(e.r)
	defer release()
	t.Cleanup(local.KeepSpares(e.r))
	task := e.start(e.spec("hello"))
	supervisor := e.supervisorPID(task.ID)
	e.waitStopped(task.ID)
	wait := func() time.Duration {
		t.Helper()
		select {
		case d := <-asked:
			return d
		case <-time.After(10 * time.Second):
			t.Fatalf("the runner waited for nothing before starting a spare; spares %v", local.SparePIDs(e.r))
			return 0
		}
	}
	if d := wait(); d != time.Second {
		t.Fatalf("the runner first waited %s, want the 1s after a task starts", d)
	}
	if d := wait(); d != local.SpareAfterEnd {
		t.Fatalf("the runner waited %s after the task's end, want %s", d, local.SpareAfterEnd)
	}
	if local.Alive(supervisor) {
		t.Errorf("the runner waited for the task's end while its supervisor (pid %d) lives", supervisor)
	}
	if s := local.SparePIDs(e.r); len(s) != 0 {
		t.Fatalf("spare %v started before the wait ended", s)
	}
	release()
	if local.AwaitSpare(e.r, supervisor, 10*time.Second) == 0 {
		t.Fatalf("no spare once the wait ended")
	}
}

// TestSpareOnlyAfterASupervisorRan: without SpareAtStart (a program whose
// binary is not known to run the supervisor command), no spare is started
// until a task's supervisor has been, and none is left when KeepSpare ends.
func TestSpareOnlyAfterASupervisorRan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.script("hello", "#!/bin/sh\necho hello\n")
	stop := local.KeepSpares(e.r)
	if s := local.SparePIDs(e.r); len(s) != 0 {
		t.Fatalf("spares %v before any task", s)
	}
	task := e.start(e.spec("hello"))
	e.waitStopped(task.ID)
	spare := local.AwaitSpare(e.r, e.supervisorPID(task.ID), 10*time.Second)
	if spare == 0 {
		t.Fatalf("spares %v after the first task (supervisor %d), want another ready", local.SparePIDs(e.r), e.supervisorPID(task.ID))
	}
	stop()
	if local.Alive(spare) {
		t.Errorf("the spare (pid %d) outlived KeepSpare", spare)
	}
}
