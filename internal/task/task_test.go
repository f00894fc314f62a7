package task_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/schemas"
)

const (
	testJob   = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	entryMain = "DEPLOYER_TASK_TEST_MAIN"
)

// The test binary doubles as deployer-task when entryMain is set.
func TestMain(m *testing.M) {
	if os.Getenv(entryMain) == "1" {
		os.Exit(task.Main(context.Background(), os.Args[1:], "v9.8.7", &secret.Resolver{}))
	}
	goleak.VerifyTestMain(m)
}

// scripts writes executable scripts into a fresh directory.
func scripts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil { //nolint:gosec // test scripts must be executable
			t.Fatal(err)
		}
	}
	return dir
}

// result is a decoded task log.
type result struct {
	code    int
	records []schemas.TaskRecord
	lines   []string // joined parts, in seq order
	end     *schemas.LogEnd
}

func decode(t *testing.T, code int, out []byte) result {
	t.Helper()
	res := result{code: code}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, schemas.MaxRecordBytes+1)
	var cur strings.Builder
	for sc.Scan() {
		if len(sc.Bytes()) > schemas.MaxRecordBytes {
			t.Fatalf("a record of %d bytes, limit %d", len(sc.Bytes()), schemas.MaxRecordBytes)
		}
		r, err := schemas.DecodeTaskRecord(sc.Bytes())
		if err != nil {
			t.Fatalf("record %d: %v: %q", len(res.records)+1, err, sc.Text())
		}
		if r.JobID != testJob || r.Attempt != 2 {
			t.Fatalf("record of job %s attempt %d, want %s attempt 2", r.JobID, r.Attempt, testJob)
		}
		if res.end != nil {
			t.Fatalf("record after the end record: %+v", r)
		}
		res.records = append(res.records, r)
		if r.End != nil {
			res.end = r.End
			if r.Seq != int64(len(res.lines))+1 {
				t.Fatalf("end record at seq %d after %d lines", r.Seq, len(res.lines))
			}
			continue
		}
		if want := int64(len(res.lines)) + 1; r.Seq != want {
			t.Fatalf("record seq %d, want %d", r.Seq, want)
		}
		cur.WriteString(r.Text)
		if !r.More {
			res.lines = append(res.lines, cur.String())
			cur.Reset()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if res.end == nil {
		t.Fatalf("no end record in %q", out)
	}
	if res.end.Lines != int64(len(res.lines)) {
		t.Fatalf("end record counts %d lines, the log has %d", res.end.Lines, len(res.lines))
	}
	return res
}

func run(t *testing.T, o task.Options) result {
	t.Helper()
	var out bytes.Buffer
	o.JobID, o.Attempt, o.Out = testJob, 2, &out
	if o.Environ == nil {
		o.Environ = []string{"PATH=/usr/bin:/bin"}
	}
	code := task.Run(context.Background(), o)
	return decode(t, code, out.Bytes())
}

func TestFramesOutputInOrder(t *testing.T) {
	dir := scripts(t, map[string]string{
		"build": `echo one; echo two >&2; printf '\n'; printf 'tab\there "quoted" <b>\r\n'; head -c 1048576 /dev/zero | tr '\0' x; echo; printf 'last'; exit 3`,
	})
	res := run(t, task.Options{ScriptsDir: dir, Script: "build"})
	want := []string{"one", "two", "", "tab\there \"quoted\" <b>", strings.Repeat("x", 1<<20), "last"}
	if res.code != 3 || res.end.ExitCode == nil || *res.end.ExitCode != 3 {
		t.Errorf("exit %d, end %+v; want 3", res.code, res.end)
	}
	if len(res.lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(res.lines), len(want))
	}
	for i := range want {
		if res.lines[i] != want[i] {
			t.Errorf("line %d: %d bytes %.40q, want %d bytes %.40q", i+1, len(res.lines[i]), res.lines[i], len(want[i]), want[i])
		}
	}
	parts := 0
	for _, r := range res.records {
		if r.Seq == 5 {
			parts++
			if r.Part != parts {
				t.Errorf("part %d of line 5 numbered %d", parts, r.Part)
			}
		}
	}
	if min := (1 << 20) / schemas.MaxPartBytes; parts < min {
		t.Errorf("the 1 MiB line came in %d parts, want at least %d", parts, min)
	}
}

func TestSplitsEscapedTextWithinTheRecordLimit(t *testing.T) {
	// Control characters cost six bytes each in JSON: the split must count
	// the escaped size, not the raw one.
	dir := scripts(t, map[string]string{"ctl": `head -c 100000 /dev/zero | tr '\0' '\001'; echo`})
	res := run(t, task.Options{ScriptsDir: dir, Script: "ctl"})
	if len(res.lines) != 1 || res.lines[0] != strings.Repeat("\x01", 100000) {
		t.Fatalf("lines %d, first %d bytes", len(res.lines), len(res.lines[0]))
	}
}

func TestPrintsNothing(t *testing.T) {
	dir := scripts(t, map[string]string{"quiet": `exit 0`})
	res := run(t, task.Options{ScriptsDir: dir, Script: "quiet"})
	if res.code != 0 || len(res.records) != 1 || res.end.Lines != 0 || res.records[0].Seq != 1 {
		t.Fatalf("exit %d, records %+v; want only the end record at seq 1", res.code, res.records)
	}
}

func TestRefusesScriptsOutsideTheDirectory(t *testing.T) {
	outside := scripts(t, map[string]string{"evil": `touch "$MARK"`})
	dir := scripts(t, map[string]string{"ok": `touch "$MARK"`, "plain": "echo hi"})
	if err := os.Symlink(filepath.Join(outside, "evil"), filepath.Join(dir, "link-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "plain"), filepath.Join(dir, "link-in")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\ntouch \"$MARK\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../" + filepath.Base(outside) + "/evil", "..", ".", "", "sub", "a/b", "link-out", "missing", "noexec", "ok\x00"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			mark := filepath.Join(t.TempDir(), "ran")
			res := run(t, task.Options{ScriptsDir: dir, Script: name, Environ: []string{"MARK=" + mark}})
			if res.code != task.ExitCouldNotStart || res.end.ExitCode != nil || res.end.Reason == "" {
				t.Errorf("exit %d, end %+v; want %d and a reason", res.code, res.end, task.ExitCouldNotStart)
			}
			if len(res.lines) != 1 || !strings.Contains(res.lines[0], "could not start") {
				t.Errorf("lines %q, want one saying why", res.lines)
			}
			if _, err := os.Stat(mark); err == nil {
				t.Error("the script ran")
			}
		})
	}
	res := run(t, task.Options{ScriptsDir: dir, Script: "link-in"})
	if res.code != 0 || len(res.lines) != 1 || res.lines[0] != "hi" {
		t.Errorf("a link inside the directory: exit %d, lines %q", res.code, res.lines)
	}
}

type fakeSecrets map[string]string

func (f fakeSecrets) Environ(_ context.Context, env []string) ([]string, error) {
	var out []string
	for _, kv := range env {
		k, ref, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, task.EnvSecretPrefix)
		if !ok {
			out = append(out, kv)
			continue
		}
		v, found := f[ref]
		if !found {
			return nil, fmt.Errorf("secret %s (%s): not found", name, ref)
		}
		out = append(out, name+"="+v)
	}
	return out, nil
}

func TestResolvesSecretsForTheScriptOnly(t *testing.T) {
	dir := scripts(t, map[string]string{"show": `echo "token=$TOKEN"; env | grep -c '^DEPLOYER_SECRET_\|^DEPLOYER_SCRIPTS_DIR\|^DEPLOYER_STOP_GRACE' || true; echo "job=$DEPLOYER_JOB_ID"`})
	env := []string{"PATH=/usr/bin:/bin", "DEPLOYER_SECRET_TOKEN=ssm:/ci/token", "DEPLOYER_SCRIPTS_DIR=" + dir, "DEPLOYER_STOP_GRACE=1s", "DEPLOYER_JOB_ID=" + testJob}
	res := run(t, task.Options{ScriptsDir: dir, Script: "show", Environ: env, Secrets: fakeSecrets{"ssm:/ci/token": "s3cr3t"}})
	want := []string{"token=s3cr3t", "0", "job=" + testJob}
	if res.code != 0 || strings.Join(res.lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exit %d, lines %q; want %q", res.code, res.lines, want)
	}

	mark := filepath.Join(t.TempDir(), "ran")
	dir = scripts(t, map[string]string{"show": `touch "$MARK"`})
	env = []string{"MARK=" + mark, "DEPLOYER_SECRET_DB=ssm:/ci/db"}
	res = run(t, task.Options{ScriptsDir: dir, Script: "show", Environ: env, Secrets: fakeSecrets{}})
	if res.code != task.ExitCouldNotStart || len(res.lines) != 1 || !strings.Contains(res.lines[0], "secret DB (ssm:/ci/db): not found") {
		t.Fatalf("a missing secret: exit %d, lines %q", res.code, res.lines)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the script ran without its secret")
	}
}

func TestStopForwardsToTheProcessGroup(t *testing.T) {
	dir := scripts(t, map[string]string{
		// The child shares the group: it must be stopped too.
		"polite":   `sleep 300 & trap 'echo "got TERM"; exit 7' TERM; echo ready; wait`,
		"stubborn": `trap '' TERM; echo ready; while :; do sleep 1; done`,
	})
	for _, tc := range []struct {
		script string
		code   int
		last   string
	}{
		{"polite", 7, "got TERM"},
		{"stubborn", 128 + int(syscall.SIGKILL), "ready"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			sigs := make(chan os.Signal, 1)
			codec := make(chan int, 1)
			go func() {
				defer func() { _ = pw.Close() }()
				codec <- task.Run(context.Background(), task.Options{
					JobID: testJob, Attempt: 2, ScriptsDir: dir, Script: tc.script,
					Environ: []string{"PATH=/usr/bin:/bin"}, Grace: 200 * time.Millisecond, Out: pw, Signals: sigs,
				})
			}()
			var out bytes.Buffer
			br := bufio.NewReader(pr)
			first, err := br.ReadBytes('\n')
			if err != nil {
				t.Fatal(err)
			}
			out.Write(first)
			sigs <- syscall.SIGTERM
			rest, _ := io.ReadAll(br)
			out.Write(rest)
			code := <-codec
			res := decode(t, code, out.Bytes())
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if n := len(res.lines); n < 1 || res.lines[n-1] != tc.last {
				t.Errorf("lines %q", res.lines)
			}
			if !strings.Contains(res.end.Reason, "received terminated") {
				t.Errorf("end reason %q", res.end.Reason)
			}
		})
	}
}

// TestWaitsForOutputAfterExitWithoutSpinning: a script whose output
// outlives it (a process of its own session holds the pipe) has that
// output kept, and the wait for it costs no CPU. A wait that took the
// script's exit again at every turn spun a core for the whole time.
func TestWaitsForOutputAfterExitWithoutSpinning(t *testing.T) {
	// The script exits once the other session holds the pipe (it made
	// the file), not before: its exit kills its own process group.
	started := filepath.Join(t.TempDir(), "started")
	dir := scripts(t, map[string]string{
		"lingers": fmt.Sprintf(`setsid sh -c 'touch %[1]s; sleep 0.6; echo late' & until [ -e %[1]s ]; do :; done; echo early; exit 0`, started),
	})
	before := cpuTime(t)
	res := run(t, task.Options{ScriptsDir: dir, Script: "lingers"})
	used := cpuTime(t) - before
	if res.code != 0 || !slices.Equal(res.lines, []string{"early", "late"}) {
		t.Fatalf("exit %d, lines %q; want 0, [early late]", res.code, res.lines)
	}
	// Waiting ~600 ms: a spinning loop burns most of that; waiting
	// costs a few milliseconds.
	if used > 150*time.Millisecond {
		t.Errorf("the wait for the output used %v of CPU", used)
	}
}

// TestAbandonsAPipeHeldPastTheExit: a process of another session that
// keeps the output pipe open, writing nothing, does not keep the task
// from ending: after drainIdle of silence since the script's exit, the
// pipe is abandoned, and the lines before are kept.
func TestAbandonsAPipeHeldPastTheExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "holder")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	dir := scripts(t, map[string]string{
		"holds": fmt.Sprintf(`setsid sh -c 'echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s; exec sleep 60' & until [ -e %[1]s ]; do :; done; echo done; exit 0`, pidFile),
	})
	res := run(t, task.Options{ScriptsDir: dir, Script: "holds"})
	if res.code != 0 || !slices.Equal(res.lines, []string{"done"}) || res.end.ExitCode == nil || *res.end.ExitCode != 0 {
		t.Fatalf("exit %d, lines %q, end %+v; want 0, [done] and the end record", res.code, res.lines, res.end)
	}
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMainAsAProcess runs the entrypoint as deployer-task runs in a task:
// configured by its environment, stopped by SIGTERM.
func TestMainAsAProcess(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := scripts(t, map[string]string{"greet": `echo "hello $1"; trap 'exit 9' TERM; echo ready; while :; do sleep 0.05; done`})
	cmd := exec.Command(exe, "greet", "world") //nolint:gosec // the test binary
	cmd.Env = []string{entryMain + "=1", "PATH=/usr/bin:/bin", task.EnvJobID + "=" + testJob, task.EnvAttempt + "=2", task.EnvScriptsDir + "=" + dir, task.EnvStopGrace + "=5s"}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stdout)
	var out bytes.Buffer
	for !strings.Contains(out.String(), `"text":"ready"`) {
		l, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("%v after %q", err, out.String())
		}
		out.Write(l)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	out.Write(rest)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 9 {
		t.Fatalf("exit %v, want 9", err)
	}
	res := decode(t, 9, out.Bytes())
	if res.lines[0] != "hello world" || *res.end.ExitCode != 9 {
		t.Errorf("lines %q, end %+v", res.lines, res.end)
	}

	// Without a job id it is a usage error, and writes no log.
	cmd = exec.Command(exe, "greet") //nolint:gosec // the test binary
	cmd.Env = []string{entryMain + "=1", task.EnvScriptsDir + "=" + dir}
	out.Reset()
	cmd.Stdout = &out
	err = cmd.Run()
	if !errors.As(err, &ee) || ee.ExitCode() != task.ExitUsage || out.Len() != 0 {
		t.Errorf("no job id: %v, stdout %q", err, out.String())
	}
}

// TestVersionProbe: "deployer-task --version" prints its version; in a
// task (a job id in its environment: a canary) the line is framed as the
// task's log, with an end record saying exit 0, so that it reaches the
// job's followers as any script's output.
func TestVersionProbe(t *testing.T) {
	var out bytes.Buffer
	if code := task.PrintVersion(&out, func(string) string { return "" }, "v1.2.3"); code != 0 || out.String() != "deployer-task v1.2.3\n" {
		t.Errorf("for a person: exit %d, %q", code, out.String())
	}
	out.Reset()
	env := map[string]string{task.EnvJobID: testJob, task.EnvAttempt: "2"}
	code := task.PrintVersion(&out, func(k string) string { return env[k] }, "v1.2.3")
	res := decode(t, code, out.Bytes())
	if code != 0 || len(res.lines) != 1 || res.lines[0] != "deployer-task v1.2.3" || res.end.ExitCode == nil || *res.end.ExitCode != 0 {
		t.Errorf("in a task: exit %d, lines %q, end %+v", code, res.lines, res.end)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, task.VersionFlag) //nolint:gosec // the test binary
	cmd.Env = []string{entryMain + "=1", task.EnvJobID + "=" + testJob, task.EnvAttempt + "=2"}
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if res := decode(t, 0, b); len(res.lines) != 1 || res.lines[0] != "deployer-task v9.8.7" {
		t.Errorf("as a process: lines %q", res.lines)
	}
}
