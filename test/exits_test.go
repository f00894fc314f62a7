package test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUnknownIDsExitNoInput: a job, batch or dead letter the state
// directory has no record of ends with 66 (EX_NOINPUT) and names what was
// looked for and where, never with a bare 1.
func TestUnknownIDsExitNoInput(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	if r := e.run("run", "--", "terraform-planner", "print", "hi"); r.code != 0 {
		t.Fatalf("run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	const batch = "batch-" + job
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", job}, "no job " + job + " in the state directory " + e.state},
		{[]string{"logs", job}, "no job " + job + " in the state directory " + e.state},
		{[]string{"wait", job}, "no job " + job + " in the state directory " + e.state},
		{[]string{"batch", "status", batch}, "no batch " + batch + " in the state directory " + e.state},
		{[]string{"batch", "logs", batch}, "no batch " + batch + " in the state directory " + e.state},
		{[]string{"jobs", "--batch", batch}, "no batch " + batch},
		{[]string{"dlq", "show", job}, "no dead letter for job " + job},
	} {
		r := e.run(c.args...)
		if r.code != 66 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want 66 and %q; stderr:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}

// TestReadOnlyStateDirectory: a user who cannot write a state directory
// can still look at it (status, logs, jobs, batch list), and a command
// that must write says so with 73 (EX_CANTCREAT). As root, which ignores
// permissions, the commands run as nobody (uid 65534).
func TestReadOnlyStateDirectory(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	e.extraEnv = []string{"DEPLOYER_IDLE_EXIT=50ms"}
	r := e.run("run", "--", "terraform-planner", "print", "read-only")
	if r.code != 0 {
		t.Fatalf("run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	m := jobSubmitted.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no job id in:\n%s", r.stderr)
	}
	job := m[1]
	// A failed job leaves a dead letter to look at.
	failed := e.run("run", "--", "terraform-planner", "exit-with", "3")
	fm := jobSubmitted.FindStringSubmatch(failed.stderr)
	if failed.code != 3 || fm == nil {
		t.Fatalf("run exit-with 3: exit %d; stderr:\n%s", failed.code, failed.stderr)
	}
	job = job + " " + fm[1]
	// The detached server stops once idle, checkpointing its WAL.
	waitServersGone(t, e.state, 30*time.Second)

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		// nobody must reach the binary (and deployer-aws beside it, which
		// serves the dashboard), the configuration and the state.
		bin := filepath.Join(t.TempDir(), "deployer")
		for from, to := range map[string]string{deployerBin: bin, deployerAWSBin: filepath.Join(filepath.Dir(bin), "deployer-aws")} {
			data, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{filepath.Dir(bin), e.state, e.config, e.scripts} {
			for d := p; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
				if err := os.Chmod(d, mode(t, d)|0o055); err != nil {
					t.Fatal(err)
				}
			}
		}
		_ = filepath.Walk(e.state, func(p string, fi os.FileInfo, err error) error {
			if err == nil {
				_ = os.Chmod(p, fi.Mode().Perm()|0o044)
			}
			return nil
		})
		e.as = func(c *exec.Cmd) {
			c.Path, c.Args[0] = bin, bin
			c.Env = append(c.Env, "HOME="+os.TempDir())
			c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		checkReadOnly(t, e, job)
		return
	}
	var restore []func()
	_ = filepath.Walk(e.state, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			perm := fi.Mode().Perm()
			restore = append(restore, func() { _ = os.Chmod(p, perm) })
			_ = os.Chmod(p, perm&^0o222)
		}
		return nil
	})
	t.Cleanup(func() {
		for i := len(restore) - 1; i >= 0; i-- {
			restore[i]()
		}
	})
	checkReadOnly(t, e, job)
}

func mode(t *testing.T, p string) os.FileMode {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func checkReadOnly(t *testing.T, e *env, jobs string) {
	t.Helper()
	run := e.run
	job, failed, _ := strings.Cut(jobs, " ")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", job}, "succeeded"},
		{[]string{"logs", job}, "read-only"},
		{[]string{"jobs"}, job},
		{[]string{"batch", "list"}, "BATCH ID"},
		// Dead letters are looked at, not received (which would write).
		{[]string{"dlq", "list"}, failed},
		{[]string{"dlq", "show", failed}, failed},
	} {
		if r := run(c.args...); r.code != 0 || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%v on a read-only state directory: exit %d, want 0 and %q on stdout:\n%s\nstderr:\n%s", c.args, r.code, c.want, r.stdout, r.stderr)
		}
	}
	r := run("run", "--", "terraform-planner", "print", "x")
	if want := "state directory " + e.state + " is not writable by"; r.code != 73 || !strings.Contains(r.stderr, want) {
		t.Errorf("run on a read-only state directory: exit %d, want 73 and %q; stderr:\n%s", r.code, want, r.stderr)
	}

	// The dashboard shows it read-only, the dry run of a dead letter
	// included; with actions it must write, and says so.
	ui := e.start("ui", "--addr", "127.0.0.1:0")
	base := ui.stderr.waitFor(t, dashboardAt, 30*time.Second)[1]
	for _, c := range []struct{ page, want string }{
		{"jobs", job}, {"jobs/" + job, job}, {"dlq", failed}, {"dlq/" + failed, "Would replay as job"},
		{"lanes", "default"}, {"batches", "Batches"}, {"schedules", "Schedules"},
	} {
		status, body := get(t, base+c.page)
		if status != http.StatusOK || !strings.Contains(body, c.want) {
			t.Errorf("dashboard of a read-only state directory, /%s: %d, want 200 and %q:\n%s\nstderr:\n%s", c.page, status, c.want, body, ui.stderr.text())
		}
	}
	if r := run("ui", "--addr", "127.0.0.1:0", "--allow-actions"); r.code != 73 || !strings.Contains(r.stderr, "not writable") {
		t.Errorf("ui --allow-actions on a read-only state directory: exit %d, want 73 saying it is not writable; stderr:\n%s", r.code, r.stderr)
	}
}

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestWaitOfAFinishedJobNeverReportsCancelling: "wait" of a finished job
// starts a detached server that may stop (idle) while it still starts;
// stopping is never reported as a failure.
func TestWaitOfAFinishedJobNeverReportsCancelling(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	e.extraEnv = []string{"DEPLOYER_IDLE_EXIT=1ms"}
	r := e.run("run", "--", "terraform-planner", "print", "done")
	m := jobSubmitted.FindStringSubmatch(r.stderr)
	if r.code != 0 || m == nil {
		t.Fatalf("run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	for i := range 20 {
		r := e.run("wait", m[1])
		if r.code != 0 || strings.Contains(r.stderr, "context canceled") {
			t.Fatalf("wait #%d: exit %d; stderr:\n%s", i+1, r.code, r.stderr)
		}
	}
}

// TestUnreachableAWSExitsUnavailable: an AWS backend that cannot be
// reached (here a loopback port nothing listens on) ends with 69
// (EX_UNAVAILABLE), naming the endpoint, the network error and where to
// look, instead of the SDK's account of its retries and a bare 1.
func TestUnreachableAWSExitsUnavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	e := newEnv(t, awsConfig, awsScripts)
	e.extraEnv = append(awsEnv(closed), "AWS_MAX_ATTEMPTS=2")
	for _, args := range [][]string{
		{"run", "--", "infra", "hello", "x"},
		{"status", "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"},
		{"describe"},
		{"rollback"},
	} {
		r := e.run(args...)
		if r.code != 69 || !strings.Contains(r.stderr, "cannot reach AWS at "+closed) ||
			!strings.Contains(r.stderr, "connection refused") || strings.Contains(r.stderr, "exceeded maximum number of attempts") {
			t.Errorf("%v: exit %d, want 69 naming %s and the refused connection; stderr:\n%s", args, r.code, closed, r.stderr)
		}
	}
}

// waitServersGone waits, up to d, for every process serving the state
// directory (the pid in each up-<pid>.lock) to exit: a pidfd becomes
// readable when its process exits, so this blocks instead of polling.
func waitServersGone(t *testing.T, state string, d time.Duration) {
	t.Helper()
	locks, err := filepath.Glob(filepath.Join(state, "up-*.lock"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(d)
	for _, l := range locks {
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "up-"), ".lock"))
		if err != nil {
			t.Fatalf("lock file %s names no pid", l)
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // gone already
		}
		if err != nil {
			t.Fatalf("watching server %d: %v", pid, err)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		_ = unix.Close(fd)
		if err != nil || n == 0 {
			t.Fatalf("the detached server %d still serves %s after %s (%v)", pid, state, d, err)
		}
	}
}
