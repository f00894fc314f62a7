package ecsrunner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/runner/ecsrunner"
	"github.com/deployerhq/deployer/internal/runner/runnertest"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/task/secret/awssecret"
	"github.com/deployerhq/deployer/internal/tasklog/cwlogs"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

// TestMain lets this test binary be deployer-task, the entrypoint of the
// running tasks' image, and checks that no task of the ECS fake outlives
// the tests. Idle keep-alive connections to closed test servers go away
// on their own.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == taskArg {
		os.Exit(task.Main(context.Background(), os.Args[2:], "test", &secret.Resolver{AWS: &awssecret.Fetcher{}}))
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const (
	taskDef   = "deployer-test"
	container = "deployer"
	cluster   = "deployer-test-cluster"
)

// behave is the fake's Behave for tasks started by spec(): the script's
// first argument is the runnertest.Behaviour, in JSON.
func behave(_ string, command []string, _ map[string]string) ecsfake.Plan {
	var b runnertest.Behaviour
	if len(command) > 1 {
		_ = json.Unmarshal([]byte(command[1]), &b)
	}
	return ecsfake.Plan{Lines: b.Lines, ExitCode: b.ExitCode, Sleep: b.Sleep}
}

func newFake() *ecsfake.Fake {
	return ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{taskDef: {container, "sidecar"}},
		Behave:          behave,
	})
}

// env is one runner talking to one fake through an optional transport.
type env struct {
	fake   *ecsfake.Fake
	url    string
	runner *ecsrunner.Runner
	count  *awsx.CountingTransport
}

func newEnv(t testing.TB, fake *ecsfake.Fake) *env {
	t.Helper()
	e := &env{fake: fake, url: fake.Serve(t)}
	e.runner, e.count = e.client(t, nil)
	return e
}

// client returns a runner on e's fake whose requests go through next
// (nil: straight), counted, its ECS client set up by opts.
func (e *env) client(t testing.TB, next http.RoundTripper, opts ...func(*ecs.Options)) (*ecsrunner.Runner, *awsx.CountingTransport) {
	t.Helper()
	count := &awsx.CountingTransport{Next: next}
	cfg := awstest.Config(t, e.url, &http.Client{Transport: count, Timeout: 30 * time.Second})
	return ecsrunner.New(ecs.NewFromConfig(cfg, opts...), ecsrunner.Options{Cluster: cluster, ContainerName: container}), count
}

func spec(b runnertest.Behaviour) runner.Spec {
	arg, _ := json.Marshal(b)
	td := taskDef
	if b.NoSuchScript {
		td = "no-such-task-definition"
	}
	return runner.Spec{
		Container: "test", Script: "behave", Argv: []string{string(arg)},
		TaskDefinition: td, Env: map[string]string{"B": "2", "A": "1"},
		Secrets: map[string]string{"TOKEN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token"},
		CPU:     256, Memory: 512,
	}
}

func runs(fake *ecsfake.Fake) func(jobID string, attempt int) int {
	return func(jobID string, attempt int) int {
		n := 0
		for _, ti := range fake.Tasks() {
			if ti.StartedBy == jobID && ti.Env[ecsrunner.EnvAttempt] == strconv.Itoa(attempt) && ti.Ran {
				n++
			}
		}
		return n
	}
}

func TestConformance(t *testing.T) {
	runnertest.Run(t, runnertest.Features{Tags: true, Timeout: 10 * time.Second}, func(t *testing.T) runnertest.Harness {
		fake := newFake()
		e := newEnv(t, fake)
		return runnertest.Harness{Runner: e.runner, Spec: spec, Runs: runs(fake)}
	})
}

// TestConformanceRunningTasks runs the suite against ECS tasks that run
// for real: the fake starts each task's container when it reaches
// RUNNING, as a process whose entrypoint is deployer-task (this test
// binary, see TestMain) running the "behave" script; its output goes to
// the CloudWatch Logs fake as the awslogs driver writes it, and the suite
// reads it back through the CloudWatch task log source. StopTask sends
// the process SIGTERM. ECS is tested here and not against moto: moto 5
// answers RunTask with HTTP 500 ("No instances found", "Cluster ... has
// no registered tasks") and never runs a task.
func TestConformanceRunningTasks(t *testing.T) {
	runnertest.Run(t, runnertest.Features{Tags: true, Timeout: 30 * time.Second}, func(t *testing.T) runnertest.Harness {
		h := runningTasks(t)
		return runnertest.Harness{Runner: h.runner, Spec: h.spec, Runs: h.runs, Logs: h.logs}
	})
}

// running is an ECS fake whose tasks run the behave script through
// deployer-task, with their logs in a CloudWatch Logs fake.
type running struct {
	fake    *ecsfake.Fake
	runner  *ecsrunner.Runner
	logs    *cwlogs.Source
	scripts string
	runsDir string

	mu      sync.Mutex
	written chan struct{} // closed and replaced when a task writes
}

// logged returns a channel closed when a task next writes to its log.
func (h *running) logged() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.written
}

// taskArg makes this test binary deployer-task.
const taskArg = "__deployer_task"

// behaveScript implements runnertest.Behaviour: behave <exit code>
// <sleep 0|1> [lines...]. It counts its runs in $RUNS_DIR.
const behaveScript = `#!/bin/sh
code=$1; sleep=$2; shift 2
echo run >> "$RUNS_DIR/$DEPLOYER_JOB_ID-$DEPLOYER_ATTEMPT"
if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
if [ "$sleep" = 1 ]; then exec sleep 1000; fi
exit "$code"
`

func runningTasks(t *testing.T) *running {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &running{scripts: t.TempDir(), runsDir: t.TempDir(), written: make(chan struct{})}
	if err := os.WriteFile(filepath.Join(h.scripts, "behave"), []byte(behaveScript), 0o755); err != nil { //nolint:gosec // a test script
		t.Fatal(err)
	}
	const group, prefix = "/deployer-tasks", "deployer/" + container + "/"
	logs, logsURL := logsfake.Start(t)
	h.fake = ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{taskDef: {container}},
		Run: ecsfake.Exec(func(ti ecsfake.TaskInfo) (*exec.Cmd, error) {
			cmd := exec.Command(exe, append([]string{taskArg}, ti.Command...)...) //nolint:gosec,noctx // this test binary; the fake kills it
			cmd.Env = []string{"PATH=/usr/bin:/bin", task.EnvScriptsDir + "=" + h.scripts, task.EnvStopGrace + "=5s"}
			for k, v := range ti.Env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			return cmd, nil
		}),
		OnLog: func(taskID string, lines []string) {
			evs := make([]logsfake.Event, len(lines))
			for i, l := range lines {
				evs[i] = logsfake.Event{Time: time.Now(), Message: l}
			}
			logs.Append(group, prefix+taskID, evs...)
			h.mu.Lock()
			close(h.written)
			h.written = make(chan struct{})
			h.mu.Unlock()
		},
	})
	e := newEnv(t, h.fake)
	h.runner = e.runner
	h.logs, err = cwlogs.New(cloudwatchlogs.NewFromConfig(awstest.Config(t, logsURL, nil)), cwlogs.Options{LogGroup: group, StreamPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *running) spec(b runnertest.Behaviour) runner.Spec {
	sleep := "0"
	if b.Sleep {
		sleep = "1"
	}
	td := taskDef
	if b.NoSuchScript {
		td = "no-such-task-definition"
	}
	return runner.Spec{
		Container: "test", Script: "behave", TaskDefinition: td, CPU: 256, Memory: 512,
		Argv: append([]string{strconv.Itoa(b.ExitCode), sleep}, b.Lines...),
		Env:  map[string]string{"RUNS_DIR": h.runsDir},
	}
}

// runs counts the runs the script recorded.
func (h *running) runs(jobID string, attempt int) int {
	b, err := os.ReadFile(filepath.Join(h.runsDir, fmt.Sprintf("%s-%d", jobID, attempt)))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "run\n")
}

// A task stopped while its script runs: SIGTERM reaches the script
// through deployer-task, which closes the log with the exit code; the
// runner reports the stop as requested, with the container's exit code.
func TestStopWhileTheScriptRuns(t *testing.T) {
	h := runningTasks(t)
	sp := h.spec(runnertest.Behaviour{Lines: []string{"working"}, Sleep: true})
	sp.JobID, sp.Attempt = newJob(), 1
	started, err := h.runner.Start(t.Context(), sp)
	if err != nil {
		t.Fatal(err)
	}
	// The script has written its line: it runs.
	deadline := time.After(30 * time.Second)
	for {
		written := h.logged()
		lines, err := h.logs.Read(t.Context(), started.ID, 0, 10)
		if err == nil && len(lines) > 0 {
			break
		}
		select {
		case <-written:
		case <-deadline:
			t.Fatalf("the script wrote nothing: %v", err)
		}
	}
	if err := h.runner.Stop(t.Context(), started.ID, "cancelled: wrong ref"); err != nil {
		t.Fatal(err)
	}
	got := runnertest.WaitStopped(t, h.runner, started.ID, 30*time.Second)
	if got.StopCode != runner.StopRequested || got.ExitCode == nil || *got.ExitCode != 143 || !strings.Contains(got.StopReason, "wrong ref") {
		t.Errorf("stopped task %+v; want stop_requested, exit code 143, the reason", got)
	}
	lines, err := h.logs.Read(t.Context(), started.ID, 0, 100)
	if err != nil || len(lines) == 0 {
		t.Fatalf("log: %v", err)
	}
	if end := lines[len(lines)-1].End; end == nil || end.ExitCode == nil || *end.ExitCode != 143 {
		t.Errorf("the log ends %+v, want deployer-task's end record with exit code 143", lines[len(lines)-1])
	}
}

func newJob() string { return ulid.Make().String() }

func start(t *testing.T, r runner.Runner, b runnertest.Behaviour) (runner.Spec, runner.Task) {
	t.Helper()
	sp := spec(b)
	sp.JobID, sp.Attempt = newJob(), 1
	task, err := r.Start(t.Context(), sp)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return sp, task
}

// TestRunTaskRequest checks what reaches ECS: command, environment with
// secret references (never values), cpu/memory, tags, startedBy.
func TestRunTaskRequest(t *testing.T) {
	e := newEnv(t, newFake())
	sp, task := start(t, e.runner, runnertest.Behaviour{})
	sp.Tags = nil
	tasks := e.fake.Tasks()
	if len(tasks) != 1 {
		t.Fatalf("fake holds %d tasks, want 1", len(tasks))
	}
	got := tasks[0]
	if got.ID != task.ID || got.StartedBy != sp.JobID || got.Cluster != cluster || got.TaskDefinition != taskDef {
		t.Errorf("task %+v; want id %s, startedBy %s, cluster %s", got, task.ID, sp.JobID, cluster)
	}
	if len(got.Command) != 2 || got.Command[0] != "behave" || got.Command[1] != sp.Argv[0] {
		t.Errorf("command = %q, want [behave %s]", got.Command, sp.Argv[0])
	}
	want := map[string]string{
		"A": "1", "B": "2", "DEPLOYER_JOB_ID": sp.JobID, "DEPLOYER_ATTEMPT": "1",
		"DEPLOYER_SECRET_TOKEN": sp.Secrets["TOKEN"],
	}
	if fmt.Sprint(got.Env) != fmt.Sprint(want) {
		t.Errorf("env = %v, want %v", got.Env, want)
	}
	if got.Tags[ecsrunner.TagJobID] != sp.JobID || got.Tags[ecsrunner.TagAttempt] != "1" {
		t.Errorf("tags = %v, want the job id and attempt", got.Tags)
	}
	if task.JobID != sp.JobID || task.Attempt != 1 || task.Status != runner.StatusPending || task.LogEvents != -1 {
		t.Errorf("Start = %+v", task)
	}
}

func TestInvalidSpecRefusedBeforeECS(t *testing.T) {
	e := newEnv(t, newFake())
	for name, mutate := range map[string]func(*runner.Spec){
		"no task definition": func(s *runner.Spec) { s.TaskDefinition = "" },
		"bad job id":         func(s *runner.Spec) { s.JobID = "job id with spaces" },
		"bad env name":       func(s *runner.Spec) { s.Env = map[string]string{"1X": "y"} },
		"reserved env":       func(s *runner.Spec) { s.Env = map[string]string{"DEPLOYER_ATTEMPT": "7"} },
		"empty secret ref":   func(s *runner.Spec) { s.Secrets = map[string]string{"X": ""} },
		"too many tags": func(s *runner.Spec) {
			s.Tags = map[string]string{}
			for i := range 49 {
				s.Tags[fmt.Sprint("t", i)] = "v"
			}
		},
		"aws tag":            func(s *runner.Spec) { s.Tags = map[string]string{"aws:x": "y"} },
		"overrides too long": func(s *runner.Spec) { s.Argv = []string{strings.Repeat("x", 9000)} },
	} {
		t.Run(name, func(t *testing.T) {
			sp := spec(runnertest.Behaviour{})
			sp.JobID, sp.Attempt = newJob(), 1
			mutate(&sp)
			if _, err := e.runner.Start(t.Context(), sp); !errors.Is(err, runner.ErrInvalidSpec) {
				t.Errorf("Start: %v, want ErrInvalidSpec", err)
			}
		})
	}
	if n := e.fake.Calls("RunTask"); n != 0 {
		t.Errorf("RunTask was called %d times, want 0", n)
	}
}

func TestRunTaskFailuresAreCapacity(t *testing.T) {
	e := newEnv(t, newFake())
	for _, reason := range []string{"RESOURCE:MEMORY", "RESOURCE:CPU", "RESOURCE:ENI", "AGENT",
		"Capacity is unavailable at this time. Please try again later or in a different availability zone"} {
		e.fake.FailRunTask(1, reason, "")
		sp := spec(runnertest.Behaviour{})
		sp.JobID, sp.Attempt = newJob(), 1
		if _, err := e.runner.Start(t.Context(), sp); !errors.Is(err, runner.ErrCapacity) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: Start error = %v, want ErrCapacity naming the reason", reason, err)
		}
		// Capacity is transient: the next Start places the task.
		if _, err := e.runner.Start(t.Context(), sp); err != nil {
			t.Errorf("%s: Start after the failure: %v", reason, err)
		}
	}
	e.fake.FailRunTask(1, "ATTRIBUTE", "requires attribute ecs.capability.secrets")
	sp := spec(runnertest.Behaviour{})
	sp.JobID, sp.Attempt = newJob(), 1
	if _, err := e.runner.Start(t.Context(), sp); !errors.Is(err, runner.ErrInvalidSpec) {
		t.Errorf("ATTRIBUTE: Start error = %v, want ErrInvalidSpec", err)
	}
}

func TestUnknownTaskDefinitionIsInvalidSpec(t *testing.T) {
	e := newEnv(t, newFake())
	sp := spec(runnertest.Behaviour{NoSuchScript: true})
	sp.JobID, sp.Attempt = newJob(), 1
	_, err := e.runner.Start(t.Context(), sp)
	if !errors.Is(err, runner.ErrInvalidSpec) || !errors.Is(err, runner.ErrMissingDefinition) || awsx.Code(err) != "ClientException" {
		t.Fatalf("Start error = %v (code %q), want ErrInvalidSpec and ErrMissingDefinition from ClientException", err, awsx.Code(err))
	}
	// ECS's word for a deregistered revision.
	e.fake.FailNext("RunTask", 1, &awsfake.Error{Status: 400, Code: "ClientException", Message: "TaskDefinition is inactive"})
	sp = spec(runnertest.Behaviour{})
	sp.JobID, sp.Attempt = newJob(), 1
	if _, err := e.runner.Start(t.Context(), sp); !errors.Is(err, runner.ErrMissingDefinition) {
		t.Errorf("Start of an inactive task definition: %v, want ErrMissingDefinition", err)
	}
	// A container override naming no container of the definition.
	r := ecsrunner.New(ecs.NewFromConfig(awstest.Config(t, e.url, nil)), ecsrunner.Options{Cluster: cluster, ContainerName: "nope"})
	sp = spec(runnertest.Behaviour{})
	sp.JobID, sp.Attempt = newJob(), 1
	if _, err := r.Start(t.Context(), sp); !errors.Is(err, runner.ErrInvalidSpec) || errors.Is(err, runner.ErrMissingDefinition) {
		t.Errorf("Start with an unknown container: %v, want ErrInvalidSpec only", err)
	}
}

// TestCanaryRunsTheVersionProbe: a canary's task is the image's
// entrypoint with deployer-task's version probe as its command, and
// nothing else; a canary with a script is refused before ECS.
func TestCanaryRunsTheVersionProbe(t *testing.T) {
	e := newEnv(t, newFake())
	sp := runner.Spec{JobID: newJob(), Attempt: 1, Container: "test", Canary: true, TaskDefinition: taskDef}
	if _, err := e.runner.Start(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	tasks := e.fake.Tasks()
	if len(tasks) != 1 || len(tasks[0].Command) != 1 || tasks[0].Command[0] != task.VersionFlag {
		t.Fatalf("tasks %+v, want one whose command is [%s]", tasks, task.VersionFlag)
	}
	sp.JobID, sp.Script = newJob(), "behave"
	if _, err := e.runner.Start(t.Context(), sp); !errors.Is(err, runner.ErrInvalidSpec) {
		t.Errorf("a canary with a script: %v, want ErrInvalidSpec", err)
	}
}

func TestThrottlingRetriedThenErrThrottled(t *testing.T) {
	e := newEnv(t, newFake())
	// One throttle: the retryer hides it.
	e.fake.FailNext("RunTask", 1, &awsfake.Error{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"})
	_, task := start(t, e.runner, runnertest.Behaviour{})
	if task.ID == "" || e.fake.Calls("RunTask") != 2 {
		t.Errorf("after one throttle: task %q, %d RunTask calls; want a task after 2 calls", task.ID, e.fake.Calls("RunTask"))
	}
	// Throttled for good: every try refused.
	ft := &awsx.FaultTransport{Throttle: 1, Only: []string{"ecs:RunTask"}, Seed: 1}
	r, count := e.client(t, ft)
	sp := spec(runnertest.Behaviour{})
	sp.JobID, sp.Attempt = newJob(), 1
	_, err := r.Start(t.Context(), sp)
	if !errors.Is(err, runner.ErrThrottled) {
		t.Fatalf("Start error = %v, want ErrThrottled", err)
	}
	if n := count.Total("ecs:RunTask"); n < 2 {
		t.Errorf("RunTask was tried %d times, want retries", n)
	}
	e.fake.FailNext("DescribeTasks", 10, &awsfake.Error{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"})
	if _, err := e.runner.Inspect(t.Context(), task.ID); !errors.Is(err, runner.ErrThrottled) {
		t.Errorf("Inspect error = %v, want ErrThrottled", err)
	}
}

// resetOnce loses the answer of the first RunTask: ECS ran it, the caller
// sees a connection reset.
type resetOnce struct {
	mu   sync.Mutex
	done bool
}

func (r *resetOnce) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || awsx.Operation(req) != "ecs:RunTask" {
		return resp, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return resp, nil
	}
	r.done = true
	_ = resp.Body.Close()
	return nil, errors.New("read: connection reset by peer")
}

func TestLostRunTaskAnswerStartsOneTask(t *testing.T) {
	e := newEnv(t, newFake())

	t.Run("retried by the SDK", func(t *testing.T) {
		r, count := e.client(t, &resetOnce{})
		sp, task := start(t, r, runnertest.Behaviour{})
		if n := count.Total("ecs:RunTask"); n != 2 {
			t.Errorf("RunTask sent %d times, want 2 (one answer lost)", n)
		}
		assertOneTask(t, e.fake, sp.JobID, task.ID)
	})

	t.Run("every answer lost, then Start again", func(t *testing.T) {
		ft := &awsx.FaultTransport{ResetAfter: 1, Only: []string{"ecs:RunTask"}, Seed: 1}
		r, count := e.client(t, ft)
		sp := spec(runnertest.Behaviour{})
		sp.JobID, sp.Attempt = newJob(), 1
		if _, err := r.Start(t.Context(), sp); err == nil || errors.Is(err, runner.ErrInvalidSpec) {
			t.Fatalf("Start with every RunTask answer lost: %v, want a retryable error", err)
		}
		if n := count.Total("ecs:RunTask"); n < 2 {
			t.Errorf("RunTask sent %d times, want retries", n)
		}
		// A worker retrying (or another worker) finds it by startedBy.
		task, err := e.runner.Start(t.Context(), sp)
		if err != nil {
			t.Fatalf("Start again: %v", err)
		}
		assertOneTask(t, e.fake, sp.JobID, task.ID)
	})
}

func assertOneTask(t *testing.T, fake *ecsfake.Fake, jobID, id string) {
	t.Helper()
	var ids []string
	for _, ti := range fake.Tasks() {
		if ti.StartedBy == jobID {
			ids = append(ids, ti.ID)
		}
	}
	if len(ids) != 1 || ids[0] != id {
		t.Errorf("tasks of job %s = %v, want just %s", jobID, ids, id)
	}
}

func TestInspectBatchesOf100(t *testing.T) {
	e := newEnv(t, newFake())
	ids := make([]string, 0, 250)
	for range 250 {
		_, task := start(t, e.runner, runnertest.Behaviour{Sleep: true})
		ids = append(ids, task.ID)
	}
	e.count.Reset()
	tasks, err := e.runner.Inspect(t.Context(), ids...)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if len(tasks) != 250 {
		t.Errorf("Inspect returned %d tasks, want 250", len(tasks))
	}
	if n := e.count.Total("ecs:DescribeTasks"); n != 3 {
		t.Errorf("Inspect of 250 tasks made %d DescribeTasks calls, want 3", n)
	}
	if n := e.count.Total(); n != 3 {
		t.Errorf("Inspect made %d calls in all (%v), want 3", n, e.count.Counts())
	}
}

func TestFailedToStartIsNotExitZero(t *testing.T) {
	fake := ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{taskDef: {container}},
		Behave: func(string, []string, map[string]string) ecsfake.Plan {
			return ecsfake.Plan{FailToStart: "CannotPullContainerError: pull image manifest has been retried 5 time(s)"}
		},
	})
	e := newEnv(t, fake)
	_, task := start(t, e.runner, runnertest.Behaviour{})
	got := runnertest.WaitStopped(t, e.runner, task.ID, 10*time.Second)
	if got.StopCode != runner.StopFailedToStart || got.ExitCode != nil {
		t.Errorf("stop code %q, exit code %v; want %q and none", got.StopCode, got.ExitCode, runner.StopFailedToStart)
	}
	if !strings.Contains(got.StopReason, "CannotPullContainerError") {
		t.Errorf("StopReason = %q, want the pull error", got.StopReason)
	}
	if runs(fake)(got.JobID, 1) != 0 {
		t.Errorf("a task that failed to start counted as run")
	}
}

func TestStopBeforeRunningHasNoExitCode(t *testing.T) {
	// The task provisions for an hour: the stop comes before it runs.
	e := newEnv(t, ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{taskDef: {container, "sidecar"}},
		Behave:          behave,
		Delays:          ecsfake.Delays{Provisioning: time.Hour},
	}))
	_, task := start(t, e.runner, runnertest.Behaviour{Sleep: true})
	if err := e.runner.Stop(t.Context(), task.ID, "cancelled: by a person"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	got := runnertest.WaitStopped(t, e.runner, task.ID, 10*time.Second)
	if got.StopCode != runner.StopRequested || got.ExitCode != nil || got.StopReason != "cancelled: by a person" {
		t.Errorf("got %+v; want stop_requested, no exit code, the reason", got)
	}
	if got.Attempt != 1 || got.JobID == "" {
		t.Errorf("a stopped task (tags deleted) lost its job or attempt: %+v", got)
	}
}

func TestStopReasonTruncated(t *testing.T) {
	e := newEnv(t, newFake())
	_, task := start(t, e.runner, runnertest.Behaviour{Sleep: true})
	long := strings.Repeat("é", 300)
	if err := e.runner.Stop(t.Context(), task.ID, long); err != nil {
		t.Fatalf("Stop with a 300-character reason: %v", err)
	}
}

func TestFindPagesThroughTasks(t *testing.T) {
	e := newEnv(t, newFake())
	job := newJob()
	var last runner.Task
	for attempt := 1; attempt <= 130; attempt++ {
		sp := spec(runnertest.Behaviour{Sleep: true})
		sp.JobID, sp.Attempt = job, attempt
		task, err := e.runner.Start(t.Context(), sp)
		if err != nil {
			t.Fatalf("Start attempt %d: %v", attempt, err)
		}
		last = task
	}
	e.count.Reset()
	got, err := e.runner.Find(t.Context(), job, 130)
	if err != nil || got.ID != last.ID {
		t.Fatalf("Find(attempt 130) = %s, %v; want %s", got.ID, err, last.ID)
	}
	if n := e.count.Total("ecs:ListTasks"); n != 3 {
		t.Errorf("ListTasks calls = %d, want 3 (two pages running, one stopped)", n)
	}
}

func TestContextCancelled(t *testing.T) {
	e := newEnv(t, newFake())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.runner.Inspect(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Inspect with a cancelled context: %v", err)
	}
}

// BenchmarkInspect1000 reports the DescribeTasks calls of one poll of
// 1,000 tracked tasks (target: at most 10).
func BenchmarkInspect1000(b *testing.B) {
	e := newEnv(b, newFake())
	ids := make([]string, 0, 1000)
	for range 1000 {
		sp := spec(runnertest.Behaviour{Sleep: true})
		sp.JobID, sp.Attempt = newJob(), 1
		task, err := e.runner.Start(b.Context(), sp)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	e.count.Reset()
	polls := 0
	for b.Loop() {
		tasks, err := e.runner.Inspect(b.Context(), ids...)
		if err != nil || len(tasks) != 1000 {
			b.Fatalf("Inspect: %d tasks, %v", len(tasks), err)
		}
		polls++
	}
	b.ReportMetric(float64(e.count.Total("ecs:DescribeTasks"))/float64(polls), "describe_calls/poll")
}
