package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// tasks is an ECS fake running r's containers, and what they logged.
type tasks struct {
	fake    *ecsfake.Fake
	ecs     *ecs.Client
	mu      sync.Mutex
	logs    map[string][]string
	written chan struct{} // closed and replaced when a log grows
}

func startTasks(t *testing.T, r taskRunner) *tasks {
	t.Helper()
	ts := &tasks{logs: map[string][]string{}, written: make(chan struct{})}
	ts.fake = ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"deployer": {"deployer"}},
		Run:             r.runFunc(),
		StopTimeout:     r.stopTimeout,
		OnLog: func(id string, lines []string) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.logs[id] = append(ts.logs[id], lines...)
			close(ts.written)
			ts.written = make(chan struct{})
		},
	})
	ts.ecs = ecs.NewFromConfig(awstest.Config(t, ts.fake.Serve(t), nil))
	return ts
}

// run starts a task of job with command and returns its id.
func (ts *tasks) run(t *testing.T, job string, command ...string) string {
	t.Helper()
	out, err := ts.ecs.RunTask(t.Context(), &ecs.RunTaskInput{
		TaskDefinition: aws.String("deployer"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{
			Name: aws.String("deployer"), Command: command,
			Environment: []types.KeyValuePair{{Name: aws.String("DEPLOYER_JOB_ID"), Value: aws.String(job)}},
		}}},
	})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %+v, %v", out, err)
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

// wait waits until the task's status is status and returns it.
func (ts *tasks) wait(t *testing.T, id, status string) ecsfake.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var last ecsfake.TaskInfo
	err := ts.fake.WaitFor(ctx, func([]ecsfake.TaskInfo) bool {
		last, _ = ts.fake.Task(id)
		return last.LastStatus == status
	})
	if err != nil {
		t.Fatalf("task %s never %s: %+v", id, status, last)
	}
	return last
}

func (ts *tasks) log(id string) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.logs[id])
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil { //nolint:gosec // a test script
		t.Fatal(err)
	}
}

// With an entrypoint, a task runs "ENTRYPOINT SCRIPT ARGS..." with the
// scripts directory, the stop grace and the override's environment, its
// exit code kept; stdout and stderr are one log.
func TestEntrypointRunsTheCommandWithTheTasksEnvironment(t *testing.T) {
	dir := t.TempDir()
	entry := filepath.Join(dir, "entry")
	writeScript(t, entry, "#!/bin/sh\necho \"args $*\"\necho \"dir $DEPLOYER_SCRIPTS_DIR job $DEPLOYER_JOB_ID grace $DEPLOYER_STOP_GRACE\"\necho oops >&2\nexit 3\n")
	ts := startTasks(t, taskRunner{scripts: "/scripts", entrypoint: entry, stopTimeout: 30 * time.Second})
	id := ts.run(t, "J1", "plan", "a b")
	got := ts.wait(t, id, "STOPPED")
	want := []string{"args plan a b", "dir /scripts job J1 grace 25s", "oops"}
	if got.ExitCode == nil || *got.ExitCode != 3 || got.StopCode != "EssentialContainerExited" || !slices.Equal(ts.log(id), want) {
		t.Fatalf("task %+v, log %q; want exit code 3 and %q", got, ts.log(id), want)
	}

	missing := startTasks(t, taskRunner{entrypoint: filepath.Join(dir, "missing")})
	id = missing.run(t, "J2", "x")
	got = missing.wait(t, id, "STOPPED")
	if got.StopCode != "TaskFailedToStart" || !strings.HasPrefix(got.StoppedReason, "CannotStartContainerError") || got.Ran {
		t.Fatalf("a missing entrypoint: %+v", got)
	}
}

// Without an entrypoint, the command names a script of the directory;
// one that is not there fails the task's start.
func TestScriptsWithoutEntrypoint(t *testing.T) {
	scripts := t.TempDir()
	writeScript(t, filepath.Join(scripts, "s"), "#!/bin/sh\necho \"hi $1\"\n")
	ts := startTasks(t, taskRunner{scripts: scripts})
	id := ts.run(t, "J3", "s", "there")
	if got := ts.wait(t, id, "STOPPED"); got.ExitCode == nil || *got.ExitCode != 0 || !slices.Equal(ts.log(id), []string{"hi there"}) {
		t.Fatalf("task %+v, log %q", got, ts.log(id))
	}
	for _, bad := range []string{"nope", "../s"} {
		id := ts.run(t, "J4", bad)
		if got := ts.wait(t, id, "STOPPED"); got.StopCode != "TaskFailedToStart" {
			t.Errorf("script %q: %+v, want a failed start", bad, got)
		}
	}
}

// -task-release-dir holds a task RUNNING, its output written, until its
// job's release file exists.
func TestReleaseDirHoldsATaskUntilItsJobIsReleased(t *testing.T) {
	release, scripts := t.TempDir(), t.TempDir()
	writeScript(t, filepath.Join(scripts, "s"), "#!/bin/sh\necho hi\nexit 5\n")
	ts := startTasks(t, taskRunner{scripts: scripts, release: release})
	id := ts.run(t, "J5", "s")
	ts.wait(t, id, "RUNNING")
	// Its output written, the task still runs.
	deadline := time.After(30 * time.Second)
	for {
		ts.mu.Lock()
		n, written := len(ts.logs[id]), ts.written
		ts.mu.Unlock()
		if n > 0 {
			break
		}
		select {
		case <-written:
		case <-deadline:
			t.Fatal("the held task wrote nothing")
		}
	}
	if got, _ := ts.fake.Task(id); got.LastStatus != "RUNNING" {
		t.Fatalf("before the release: %+v", got)
	}
	if err := os.WriteFile(filepath.Join(release, "J5"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ts.wait(t, id, "STOPPED"); got.ExitCode == nil || *got.ExitCode != 5 {
		t.Fatalf("after the release: %+v", got)
	}
}

func TestStopGraceBelowStopTimeout(t *testing.T) {
	for timeout, want := range map[time.Duration]time.Duration{
		30 * time.Second: 25 * time.Second, 10 * time.Second: 5 * time.Second, 4 * time.Second: 2 * time.Second,
	} {
		if got := stopGrace(timeout); got != want {
			t.Errorf("stopGrace(%s) = %s, want %s", timeout, got, want)
		}
	}
}
