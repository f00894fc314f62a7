package ecsfake_test

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

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
)

// TestMain checks that no task goroutine, container process watcher or
// timer outlives the tests. Idle keep-alive connections of the SDK's
// client to the closed test servers go away on their own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// waitTimeout bounds every wait for a task.
const waitTimeout = 30 * time.Second

// logs collects what OnLog receives and wakes waiters.
type logs struct {
	mu      sync.Mutex
	lines   map[string][]string
	calls   map[string]int
	changed chan struct{}
}

func newLogs() *logs {
	return &logs{lines: map[string][]string{}, calls: map[string]int{}, changed: make(chan struct{})}
}

func (l *logs) add(id string, lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines[id] = append(l.lines[id], lines...)
	l.calls[id]++
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *logs) get(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines[id])
}

// waitFor waits until the task's lines satisfy cond.
func (l *logs) waitFor(t *testing.T, id string, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		got, ch := slices.Clone(l.lines[id]), l.changed
		l.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("task %s: %s never came; its log: %q", id, what, got)
		}
	}
}

func setup(t *testing.T, tweak ...func(*ecsfake.Options)) (*ecsfake.Fake, *ecs.Client, *logs) {
	t.Helper()
	lg := newLogs()
	o := ecsfake.Options{
		TaskDefinitions: map[string][]string{"app": {"main"}},
		Behave: func(td string, command []string, env map[string]string) ecsfake.Plan {
			switch {
			case slices.Contains(command, "sleep"):
				return ecsfake.Plan{Lines: []string{"zzz"}, Sleep: true}
			case env["FAIL"] != "":
				return ecsfake.Plan{FailToStart: env["FAIL"]}
			}
			return ecsfake.Plan{Lines: []string{"hello", td}, ExitCode: 7}
		},
		OnLog: lg.add,
	}
	for _, fn := range tweak {
		fn(&o)
	}
	f := ecsfake.New(o)
	return f, ecs.NewFromConfig(awstest.Config(t, f.Serve(t), nil)), lg
}

func runInput(token, startedBy string, command ...string) *ecs.RunTaskInput {
	return &ecs.RunTaskInput{
		Cluster: aws.String("c1"), TaskDefinition: aws.String("app:3"), ClientToken: aws.String(token),
		StartedBy: aws.String(startedBy), LaunchType: types.LaunchTypeFargate,
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
		Overrides: &types.TaskOverride{Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerOverrides: []types.ContainerOverride{{Name: aws.String("main"), Command: command}}},
	}
}

func run(t *testing.T, c *ecs.Client, token, startedBy string, command ...string) types.Task {
	t.Helper()
	return runWith(t, c, runInput(token, startedBy, command...))
}

func runWith(t *testing.T, c *ecs.Client, in *ecs.RunTaskInput) types.Task {
	t.Helper()
	if in.ClientToken != nil && *in.ClientToken == "" {
		in.ClientToken = nil
	}
	out, err := c.RunTask(t.Context(), in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("RunTask = %d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	return out.Tasks[0]
}

func describe(t *testing.T, c *ecs.Client, arn string) types.Task {
	t.Helper()
	out, err := c.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{
		Cluster: aws.String("c1"), Tasks: []string{arn}, Include: []types.TaskField{types.TaskFieldTags}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks: %v, %d tasks", err, len(out.Tasks))
	}
	return out.Tasks[0]
}

// waitStatus waits, without calling ECS, until the task's last status is
// status, and returns what DescribeTasks then says of it.
func waitStatus(t *testing.T, f *ecsfake.Fake, c *ecs.Client, arn, status string) types.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	id := arn[strings.LastIndexByte(arn, '/')+1:]
	err := f.WaitFor(ctx, func(ts []ecsfake.TaskInfo) bool {
		for _, ti := range ts {
			if ti.ID == id {
				return ti.LastStatus == status
			}
		}
		return false
	})
	if err != nil {
		ti, _ := f.Task(id)
		t.Fatalf("task %s never became %s: %+v", id, status, ti)
	}
	return describe(t, c, arn)
}

func taskID(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// A task goes through its states on the clock, with nobody looking, and
// ECS reports how its container ended.
func TestTasksRunOnTheClock(t *testing.T) {
	const step = 40 * time.Millisecond
	f, c, lg := setup(t, func(o *ecsfake.Options) {
		o.Delays = ecsfake.Delays{Provisioning: step, Pending: step, Deprovisioning: step}
	})
	task := run(t, c, "tok-1", "job-1", "go")
	if aws.ToString(task.LastStatus) != "PROVISIONING" || aws.ToString(task.DesiredStatus) != "RUNNING" ||
		aws.ToString(task.Cpu) != "256" || aws.ToString(task.Memory) != "512" ||
		task.CreatedAt == nil || aws.ToString(task.StartedBy) != "job-1" {
		t.Errorf("RunTask answered %+v", task)
	}
	arn := aws.ToString(task.TaskArn)
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := f.WaitFor(ctx, func(ts []ecsfake.TaskInfo) bool { return ts[0].LastStatus == "STOPPED" }); err != nil {
		t.Fatalf("the task never stopped: %+v", f.Tasks())
	}
	if n := f.Calls("DescribeTasks"); n != 0 {
		t.Fatalf("%d DescribeTasks calls before the task stopped, want none", n)
	}
	info := f.Tasks()[0]
	want := []string{"PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"}
	if !slices.Equal(info.History, want) || !info.Ran {
		t.Errorf("history %v (ran %v), want %v", info.History, info.Ran, want)
	}
	if got := lg.get(info.ID); !slices.Equal(got, []string{"hello", "app:3"}) {
		t.Errorf("OnLog got %q", got)
	}
	got := describe(t, c, arn)
	ct := got.Containers[0]
	if got.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(got.StoppedReason) != ecsfake.ReasonEssentialExited ||
		ct.ExitCode == nil || *ct.ExitCode != 7 || aws.ToString(ct.Name) != "main" || aws.ToString(ct.LastStatus) != "STOPPED" ||
		aws.ToString(got.DesiredStatus) != "STOPPED" || len(got.Tags) != 1 {
		t.Errorf("stopped task %+v, container %+v", got, ct)
	}
	times := []*time.Time{got.CreatedAt, got.PullStartedAt, got.PullStoppedAt, got.StartedAt, got.ExecutionStoppedAt, got.StoppedAt}
	for i, tm := range times {
		if tm == nil {
			t.Fatalf("timestamp %d of %+v missing", i, got)
		}
		if i > 0 && tm.Before(*times[i-1]) {
			t.Errorf("timestamp %d (%s) before timestamp %d (%s)", i, tm, i-1, times[i-1])
		}
	}
	// The delays are waited (timestamps are kept to the millisecond).
	if d := got.StoppedAt.Sub(*got.CreatedAt); d < 3*step-3*time.Millisecond {
		t.Errorf("created to stopped in %s, less than the three delays of %s", d, step)
	}
}

func TestClientTokenIdempotency(t *testing.T) {
	f, c, _ := setup(t)
	a := run(t, c, "tok", "job", "go")
	b := run(t, c, "tok", "job", "go")
	if aws.ToString(a.TaskArn) != aws.ToString(b.TaskArn) || len(f.Tasks()) != 1 {
		t.Errorf("same token started %d tasks (%s, %s)", len(f.Tasks()), aws.ToString(a.TaskArn), aws.ToString(b.TaskArn))
	}
	_, err := c.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("app"),
		ClientToken: aws.String("tok"), StartedBy: aws.String("other")})
	if awsx.Code(err) != "ConflictException" {
		t.Errorf("same token, other parameters: %v, want ConflictException", err)
	}
	_, err = c.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("nope")})
	if awsx.Code(err) != "ClientException" {
		t.Errorf("unknown task definition: %v, want ClientException", err)
	}
}

func TestListAndStop(t *testing.T) {
	f, c, _ := setup(t)
	var arns []string
	for range 5 {
		arns = append(arns, aws.ToString(run(t, c, "", "job-x", "sleep").TaskArn))
	}
	run(t, c, "", "job-y", "sleep")
	p := ecs.NewListTasksPaginator(c, &ecs.ListTasksInput{Cluster: aws.String("c1"), StartedBy: aws.String("job-x"), MaxResults: aws.Int32(2)})
	var listed []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		listed = append(listed, page.TaskArns...)
	}
	if !slices.Equal(listed, arns) || pages != 3 {
		t.Errorf("listed %d tasks in %d pages, want the 5 of job-x in 3", len(listed), pages)
	}
	waitStatus(t, f, c, arns[0], "RUNNING")
	out, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arns[0]), Reason: aws.String("bye")})
	if err != nil || aws.ToString(out.Task.DesiredStatus) != "STOPPED" {
		t.Fatalf("StopTask: %v", err)
	}
	got := waitStatus(t, f, c, arns[0], "STOPPED")
	if got.StopCode != types.TaskStopCodeUserInitiated || aws.ToString(got.StoppedReason) != "bye" ||
		got.Containers[0].ExitCode == nil || *got.Containers[0].ExitCode != 143 || len(got.Tags) != 0 {
		t.Errorf("stopped task = %+v", got)
	}
	if h := mustTask(t, f, arns[0]).History; !slices.Contains(h, "STOPPING") {
		t.Errorf("a running task stopped without STOPPING: %v", h)
	}
	stopped, err := c.ListTasks(t.Context(), &ecs.ListTasksInput{Cluster: aws.String("c1"), StartedBy: aws.String("job-x"),
		DesiredStatus: types.DesiredStatusStopped})
	if err != nil || !slices.Equal(stopped.TaskArns, arns[:1]) {
		t.Errorf("stopped tasks = %v, %v", stopped.TaskArns, err)
	}
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arns[0])}); err != nil {
		t.Errorf("stopping a stopped task: %v", err)
	}
	_, err = c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String("nope")})
	if awsx.Code(err) != "InvalidParameterException" {
		t.Errorf("stopping an unknown task: %v", err)
	}
	d, err := c.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("c1"), Tasks: []string{"nope", arns[1]}})
	if err != nil || len(d.Tasks) != 1 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" || len(d.Tasks[0].Tags) != 0 {
		t.Errorf("DescribeTasks of an unknown and a known task without TAGS: %+v, %v", d, err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "x"
	}
	if _, err := c.DescribeTasks(t.Context(), &ecs.DescribeTasksInput{Cluster: aws.String("c1"), Tasks: many}); awsx.Code(err) != "InvalidParameterException" {
		t.Errorf("DescribeTasks of 101 tasks: %v", err)
	}
	if f.Calls("StopTask") != 3 {
		t.Errorf("StopTask calls = %d, want 3", f.Calls("StopTask"))
	}
}

func mustTask(t *testing.T, f *ecsfake.Fake, ref string) ecsfake.TaskInfo {
	t.Helper()
	ti, ok := f.Task(ref)
	if !ok {
		t.Fatalf("no task %s", ref)
	}
	return ti
}

// A task stopped before its container started never runs and has no
// exit code.
func TestStopBeforeRunning(t *testing.T) {
	f, c, lg := setup(t, func(o *ecsfake.Options) { o.Delays.Provisioning = time.Hour })
	arn := aws.ToString(run(t, c, "", "job", "go").TaskArn)
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arn), Reason: aws.String("no")}); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, f, c, arn, "STOPPED")
	if got.StopCode != types.TaskStopCodeUserInitiated || got.Containers[0].ExitCode != nil || got.StartedAt != nil || aws.ToString(got.StoppedReason) != "no" {
		t.Errorf("stopped while provisioning: %+v", got)
	}
	if mustTask(t, f, arn).Ran || len(lg.get(taskID(arn))) != 0 {
		t.Errorf("a task stopped while provisioning ran")
	}
}

// Tasks that fail to start stop as ECS reports them: TaskFailedToStart, no
// exit code, the reason on the task (and on the container for container
// errors).
func TestFailToStart(t *testing.T) {
	f, c, _ := setup(t)
	for _, tc := range []struct {
		reason        string
		containerSays bool
	}{
		{"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref", true},
		{"ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed", false},
	} {
		in := runInput("", "job", "go")
		in.Overrides.ContainerOverrides[0].Environment = []types.KeyValuePair{{Name: aws.String("FAIL"), Value: aws.String(tc.reason)}}
		arn := aws.ToString(runWith(t, c, in).TaskArn)
		got := waitStatus(t, f, c, arn, "STOPPED")
		ct := got.Containers[0]
		wantContainer := ""
		if tc.containerSays {
			wantContainer = tc.reason
		}
		if got.StopCode != types.TaskStopCodeTaskFailedToStart || aws.ToString(got.StoppedReason) != tc.reason ||
			ct.ExitCode != nil || got.StartedAt != nil || aws.ToString(ct.Reason) != wantContainer {
			t.Errorf("%s: task %+v, container %+v", tc.reason, got, ct)
		}
		if mustTask(t, f, arn).Ran {
			t.Errorf("%s: counted as run", tc.reason)
		}
	}
	f.FailRunTask(1, "AGENT", "")
	out, err := c.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("app")})
	if err != nil || len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "AGENT" {
		t.Errorf("injected failure: %+v, %v", out, err)
	}
}

// With Capacity, a task that does not fit beside the running ones is a
// RESOURCE:MEMORY (or CPU) failure naming the container instance, until
// one stops.
func TestCapacityFailures(t *testing.T) {
	f, c, _ := setup(t, func(o *ecsfake.Options) { o.Capacity = &ecsfake.Capacity{CPU: 600, Memory: 1024} })
	a := run(t, c, "", "job-a", "sleep") // 256 cpu, 512 memory
	run(t, c, "", "job-b", "sleep")
	if aws.ToString(a.ContainerInstanceArn) == "" {
		t.Errorf("a placed task names no container instance")
	}
	out, err := c.RunTask(t.Context(), runInput("", "job-c", "sleep"))
	if err != nil || len(out.Tasks) != 0 || len(out.Failures) != 1 {
		t.Fatalf("a third task: %+v, %v; want a failure", out, err)
	}
	fl := out.Failures[0]
	if aws.ToString(fl.Reason) != "RESOURCE:MEMORY" || aws.ToString(fl.Arn) != aws.ToString(a.ContainerInstanceArn) {
		t.Errorf("failure %+v, want RESOURCE:MEMORY on %s", fl, aws.ToString(a.ContainerInstanceArn))
	}
	in := runInput("", "job-d", "sleep")
	in.Overrides.Cpu, in.Overrides.Memory = aws.String("512"), aws.String("0")
	out, err = c.RunTask(t.Context(), in)
	if err != nil || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:CPU" {
		t.Errorf("a task over the cpu left: %+v, %v; want RESOURCE:CPU", out, err)
	}
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: a.TaskArn}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, f, c, aws.ToString(a.TaskArn), "STOPPED")
	run(t, c, "", "job-c", "sleep")
}

// A held task stays RUNNING until its hold is released, then exits as
// planned.
func TestHoldKeepsATaskRunningUntilReleased(t *testing.T) {
	hold := make(chan struct{})
	f, c, _ := setup(t, func(o *ecsfake.Options) {
		o.Behave = func(string, []string, map[string]string) ecsfake.Plan {
			return ecsfake.Plan{Lines: []string{"working"}, ExitCode: 3, Hold: hold}
		}
	})
	arn := aws.ToString(run(t, c, "", "job-h", "go").TaskArn)
	got := waitStatus(t, f, c, arn, "RUNNING")
	if got.Containers[0].ExitCode != nil {
		t.Fatalf("running while held, with an exit code: %+v", got)
	}
	close(hold)
	got = waitStatus(t, f, c, arn, "STOPPED")
	if got.Containers[0].ExitCode == nil || *got.Containers[0].ExitCode != 3 {
		t.Fatalf("after the release: exit code %v", got.Containers[0].ExitCode)
	}
}

// A container that ignores SIGTERM is killed after the stop timeout: 137.
func TestStopTimeoutEscalatesToSIGKILL(t *testing.T) {
	const timeout = 150 * time.Millisecond
	f, c, _ := setup(t, func(o *ecsfake.Options) {
		o.StopTimeout = timeout
		o.Behave = func(string, []string, map[string]string) ecsfake.Plan {
			return ecsfake.Plan{Sleep: true, IgnoreSIGTERM: true}
		}
	})
	arn := aws.ToString(run(t, c, "", "job", "go").TaskArn)
	waitStatus(t, f, c, arn, "RUNNING")
	out, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Task.LastStatus) != "STOPPING" || aws.ToString(out.Task.StoppedReason) != ecsfake.ReasonStoppedByUser {
		t.Errorf("StopTask answered %s, %q", aws.ToString(out.Task.LastStatus), aws.ToString(out.Task.StoppedReason))
	}
	got := waitStatus(t, f, c, arn, "STOPPED")
	if code := got.Containers[0].ExitCode; code == nil || *code != 137 {
		t.Errorf("exit code %v, want 137 (SIGKILL)", code)
	}
	if d := got.ExecutionStoppedAt.Sub(*got.StoppingAt); d < timeout-5*time.Millisecond {
		t.Errorf("killed %s after the stop, before the %s stop timeout", d, timeout)
	}
}

// A container killed for its memory: 137, ECS's reason, the task's stop
// code that of an exited essential container.
func TestOutOfMemory(t *testing.T) {
	f, c, lg := setup(t, func(o *ecsfake.Options) {
		o.Framed = true
		o.Behave = func(string, []string, map[string]string) ecsfake.Plan {
			return ecsfake.Plan{Lines: []string{"allocating"}, OutOfMemory: true}
		}
	})
	arn := aws.ToString(run(t, c, "", "job", "go").TaskArn)
	got := waitStatus(t, f, c, arn, "STOPPED")
	ct := got.Containers[0]
	if ct.ExitCode == nil || *ct.ExitCode != 137 || aws.ToString(ct.Reason) != ecsfake.ReasonOutOfMemory ||
		got.StopCode != types.TaskStopCodeEssentialContainerExited || aws.ToString(got.StoppedReason) != ecsfake.ReasonEssentialExited {
		t.Errorf("task %+v, container %+v", got, ct)
	}
	// SIGKILL leaves deployer-task no time for its end record.
	if evs := lg.get(taskID(arn)); len(evs) != 1 {
		t.Errorf("log %q, want the one line and no end record", evs)
	}
	if f.KillOutOfMemory(arn) {
		t.Errorf("KillOutOfMemory of a stopped task reported a kill")
	}
}

// TestFramedTasksWriteTaskRecords: with Framed, a task's output is what
// deployer-task writes: records of the job and attempt named in the
// overrides, closed by an end record with the exit code, when it exits,
// or when StopTask ends a sleeping one.
func TestFramedTasksWriteTaskRecords(t *testing.T) {
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	f, c, lg := setup(t, func(o *ecsfake.Options) {
		o.Framed = true
		o.Behave = func(_ string, command []string, _ map[string]string) ecsfake.Plan {
			if slices.Contains(command, "sleep") {
				return ecsfake.Plan{Lines: []string{"zzz"}, Sleep: true}
			}
			return ecsfake.Plan{Lines: []string{"hello", strings.Repeat("x", 40000)}, ExitCode: 7}
		}
	})
	start := func(command string) string {
		in := runInput("", "job", command)
		in.Overrides.ContainerOverrides[0].Environment = []types.KeyValuePair{
			{Name: aws.String("DEPLOYER_JOB_ID"), Value: aws.String(job)}, {Name: aws.String("DEPLOYER_ATTEMPT"), Value: aws.String("2")}}
		return aws.ToString(runWith(t, c, in).TaskArn)
	}
	records := func(id string) (texts []string, end *schemas.LogEnd) {
		var cur strings.Builder
		for _, raw := range lg.get(id) {
			r, err := schemas.DecodeTaskRecord([]byte(raw))
			if err != nil || r.JobID != job || r.Attempt != 2 {
				t.Fatalf("record %q: %v", raw, err)
			}
			if r.End != nil {
				end = r.End
				continue
			}
			cur.WriteString(r.Text)
			if !r.More {
				texts = append(texts, cur.String())
				cur.Reset()
			}
		}
		return texts, end
	}

	done := start("go")
	waitStatus(t, f, c, done, "STOPPED")
	texts, end := records(taskID(done))
	if len(texts) != 2 || texts[0] != "hello" || len(texts[1]) != 40000 || end == nil || end.Lines != 2 || *end.ExitCode != 7 {
		t.Fatalf("lines %.30q, end %+v", texts, end)
	}

	sleeper := start("sleep")
	waitStatus(t, f, c, sleeper, "RUNNING")
	if _, end := records(taskID(sleeper)); end != nil {
		t.Fatalf("a running task's log is closed: %+v", end)
	}
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(sleeper)}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, f, c, sleeper, "STOPPED")
	texts, end = records(taskID(sleeper))
	if len(texts) != 1 || end == nil || end.Lines != 1 || *end.ExitCode != 143 {
		t.Fatalf("sleeper: lines %q, end %+v", texts, end)
	}
}

// processFake is a fake whose tasks run the scripts of a directory as
// processes.
func processFake(t *testing.T, scripts map[string]string, tweak ...func(*ecsfake.Options)) (*ecsfake.Fake, *ecs.Client, *logs, string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil { //nolint:gosec // a test script
			t.Fatal(err)
		}
	}
	f, c, lg := setup(t, append([]func(*ecsfake.Options){func(o *ecsfake.Options) {
		o.Behave = nil
		o.Run = ecsfake.Exec(ecsfake.ScriptsCommand("", dir, map[string]string{"GATES": dir}))
	}}, tweak...)...)
	return f, c, lg, dir
}

// A process's output reaches OnLog while the task runs, cut as the
// awslogs driver cuts it, and the task stops when the process exits, with
// its exit code.
func TestProcessOutputWhileRunning(t *testing.T) {
	f, c, lg, dir := processFake(t, map[string]string{
		"talk": "#!/bin/sh\necho one\necho\nprintf '%040000d\\n' 0\necho to stderr >&2\n" +
			"while [ ! -e \"$GATES/go-on\" ]; do sleep 0.01; done\nprintf 'last, unterminated'\nexit 4\n",
	})
	arn := aws.ToString(run(t, c, "", "job", "talk").TaskArn)
	id := taskID(arn)
	got := lg.waitFor(t, id, "the output before the gate", func(l []string) bool { return len(l) >= 5 })
	if ti := mustTask(t, f, id); ti.LastStatus != "RUNNING" {
		t.Fatalf("output came while the task was %s", ti.LastStatus)
	}
	zeros := strings.Repeat("0", 40000)
	want := []string{"one", zeros[:16384], zeros[16384:32768], zeros[32768:], "to stderr"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %.40q, want %.40q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "go-on"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stopped := waitStatus(t, f, c, arn, "STOPPED")
	if code := stopped.Containers[0].ExitCode; code == nil || *code != 4 || stopped.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Errorf("stopped %+v, exit code %v; want 4", stopped, code)
	}
	if l := lg.get(id); len(l) != 6 || l[5] != "last, unterminated" {
		t.Errorf("events after the exit %.40q, want the unterminated line last", l)
	}
}

// With LogInterval, a container's events are handed over in batches, as
// the awslogs driver sends them: here, all at its exit.
func TestProcessOutputBatchedByLogInterval(t *testing.T) {
	f, c, lg, _ := processFake(t, map[string]string{
		"many": "#!/bin/sh\nseq 1 3000\necho last\n",
	}, func(o *ecsfake.Options) { o.LogInterval = time.Hour })
	arn := aws.ToString(run(t, c, "", "job", "many").TaskArn)
	waitStatus(t, f, c, arn, "STOPPED")
	got := lg.get(taskID(arn))
	lg.mu.Lock()
	calls := lg.calls[taskID(arn)]
	lg.mu.Unlock()
	if len(got) != 3001 || got[0] != "1" || got[3000] != "last" || calls != 1 {
		t.Errorf("%d events in %d calls, want 3001 in one", len(got), calls)
	}
}

// StopTask sends a running process SIGTERM; the exit code is the one it
// exits with, the stop's reason the task's.
func TestProcessStopTaskSendsSIGTERM(t *testing.T) {
	f, c, lg, _ := processFake(t, map[string]string{
		"trap": "#!/bin/sh\ntrap 'echo got TERM; exit 3' TERM\necho ready\nwhile :; do sleep 0.01; done\n",
	})
	arn := aws.ToString(run(t, c, "", "job", "trap").TaskArn)
	lg.waitFor(t, taskID(arn), "ready", func(l []string) bool { return slices.Contains(l, "ready") })
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arn), Reason: aws.String("cancelled: by a person")}); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, f, c, arn, "STOPPED")
	if code := got.Containers[0].ExitCode; code == nil || *code != 3 || got.StopCode != types.TaskStopCodeUserInitiated ||
		aws.ToString(got.StoppedReason) != "cancelled: by a person" {
		t.Errorf("stopped %+v, exit code %v; want 3, UserInitiated, the reason", got, code)
	}
	if l := lg.get(taskID(arn)); !slices.Equal(l, []string{"ready", "got TERM"}) {
		t.Errorf("log %q", l)
	}
}

// A process that ignores SIGTERM is killed, with what it left behind in
// its group, after the stop timeout: 137.
func TestProcessKilledAfterStopTimeout(t *testing.T) {
	f, c, lg, dir := processFake(t, map[string]string{
		"stubborn": "#!/bin/sh\ntrap '' TERM\n(trap '' TERM; while :; do sleep 0.01; done; echo child >&2) &\necho $! > \"$GATES/child\"\necho ready\nwhile :; do sleep 0.01; done\n",
	}, func(o *ecsfake.Options) { o.StopTimeout = 200 * time.Millisecond })
	arn := aws.ToString(run(t, c, "", "job", "stubborn").TaskArn)
	lg.waitFor(t, taskID(arn), "ready", func(l []string) bool { return slices.Contains(l, "ready") })
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, f, c, arn, "STOPPED")
	if code := got.Containers[0].ExitCode; code == nil || *code != 137 {
		t.Errorf("exit code %v, want 137", code)
	}
	assertGone(t, dir)
}

// assertGone checks that the process whose pid is in dir/child is gone
// (or a zombie) soon: killed with the container.
func assertGone(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(b))
	deadline := time.Now().Add(waitTimeout)
	for {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's child %s outlived it: %s", pid, st)
		}
		// A killed process takes a moment to die: nothing to wait on but
		// the kernel.
		time.Sleep(5 * time.Millisecond)
	}
}

// A process killed for its memory.
func TestProcessOutOfMemory(t *testing.T) {
	f, c, lg, _ := processFake(t, map[string]string{"big": "#!/bin/sh\necho ready\nwhile :; do sleep 0.01; done\n"})
	arn := aws.ToString(run(t, c, "", "job", "big").TaskArn)
	lg.waitFor(t, taskID(arn), "ready", func(l []string) bool { return slices.Contains(l, "ready") })
	if !f.KillOutOfMemory(arn) {
		t.Fatal("KillOutOfMemory found no running container")
	}
	got := waitStatus(t, f, c, arn, "STOPPED")
	if ct := got.Containers[0]; ct.ExitCode == nil || *ct.ExitCode != 137 || aws.ToString(ct.Reason) != ecsfake.ReasonOutOfMemory {
		t.Errorf("container %+v", ct)
	}
}

// A container that cannot start (no such script) fails the task's start.
func TestProcessCannotStart(t *testing.T) {
	f, c, _, _ := processFake(t, nil)
	arn := aws.ToString(run(t, c, "", "job", "missing").TaskArn)
	got := waitStatus(t, f, c, arn, "STOPPED")
	if got.StopCode != types.TaskStopCodeTaskFailedToStart || !strings.HasPrefix(aws.ToString(got.StoppedReason), "CannotStartContainerError: ") ||
		got.Containers[0].ExitCode != nil || got.StartedAt != nil {
		t.Errorf("task %+v", got)
	}
}

// Close kills running containers and ends every task goroutine (goleak
// checks the latter).
func TestCloseKillsContainers(t *testing.T) {
	f, c, lg, dir := processFake(t, map[string]string{
		"forever": "#!/bin/sh\nsleep 1000 &\necho $! > \"$GATES/child\"\necho ready\nwait\n",
	})
	arn := aws.ToString(run(t, c, "", "job", "forever").TaskArn)
	lg.waitFor(t, taskID(arn), "ready", func(l []string) bool { return slices.Contains(l, "ready") })
	f.Close()
	assertGone(t, dir)
	f.Close()
	if _, err := c.RunTask(t.Context(), runInput("", "job-2", "forever")); err == nil {
		t.Errorf("RunTask after Close succeeded")
	}
}
