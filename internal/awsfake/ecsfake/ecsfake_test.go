package ecsfake_test

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deployerhq/deployer/internal/awsfake/ecsfake"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/schemas"
)

type logs struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (l *logs) add(id string, lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines[id] = append(l.lines[id], lines...)
}

func (l *logs) get(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines[id])
}

func setup(t *testing.T) (*ecsfake.Fake, *ecs.Client, *logs) {
	t.Helper()
	lg := &logs{lines: map[string][]string{}}
	f := ecsfake.New(ecsfake.Options{
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
	})
	return f, ecs.NewFromConfig(awstest.Config(t, f.Serve(t), nil)), lg
}

func run(t *testing.T, c *ecs.Client, token, startedBy string, command ...string) types.Task {
	t.Helper()
	out, err := c.RunTask(t.Context(), &ecs.RunTaskInput{
		Cluster: aws.String("c1"), TaskDefinition: aws.String("app:3"), ClientToken: aws.String(token),
		StartedBy: aws.String(startedBy), LaunchType: types.LaunchTypeFargate,
		Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
		Overrides: &types.TaskOverride{Cpu: aws.String("256"), Memory: aws.String("512"),
			ContainerOverrides: []types.ContainerOverride{{Name: aws.String("main"), Command: command}}},
	})
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("RunTask = %d tasks, failures %v", len(out.Tasks), out.Failures)
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

func TestLifecycle(t *testing.T) {
	f, c, lg := setup(t)
	task := run(t, c, "tok-1", "job-1", "go")
	if aws.ToString(task.LastStatus) != "PROVISIONING" || aws.ToString(task.Cpu) != "256" || aws.ToString(task.Memory) != "512" ||
		task.CreatedAt == nil || aws.ToString(task.StartedBy) != "job-1" {
		t.Errorf("RunTask answered %+v", task)
	}
	running := describe(t, c, aws.ToString(task.TaskArn))
	if aws.ToString(running.LastStatus) != "RUNNING" || running.StartedAt == nil || len(running.Tags) != 1 {
		t.Errorf("second look: %s, startedAt %v, tags %v", aws.ToString(running.LastStatus), running.StartedAt, running.Tags)
	}
	stopped := describe(t, c, aws.ToString(task.TaskArn))
	ct := stopped.Containers[0]
	if aws.ToString(stopped.LastStatus) != "STOPPED" || stopped.StopCode != types.TaskStopCodeEssentialContainerExited ||
		ct.ExitCode == nil || *ct.ExitCode != 7 || aws.ToString(ct.Name) != "main" || stopped.StoppedAt == nil {
		t.Errorf("third look: %+v, container %+v", stopped, ct)
	}
	id := f.Tasks()[0].ID
	if got := lg.lines[id]; !slices.Equal(got, []string{"hello", "app:3"}) {
		t.Errorf("OnLog got %q", got)
	}
	if !f.Tasks()[0].Ran {
		t.Error("the task did not count as run")
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
	describe(t, c, arns[0]) // RUNNING
	out, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arns[0]), Reason: aws.String("bye")})
	if err != nil || aws.ToString(out.Task.DesiredStatus) != "STOPPED" {
		t.Fatalf("StopTask: %v", err)
	}
	got := describe(t, c, arns[0])
	if aws.ToString(got.LastStatus) != "STOPPED" || got.StopCode != types.TaskStopCodeUserInitiated ||
		aws.ToString(got.StoppedReason) != "bye" || got.Containers[0].ExitCode == nil || len(got.Tags) != 0 {
		t.Errorf("stopped task = %+v", got)
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

func TestFailToStartAndInjectedFailures(t *testing.T) {
	f, c, _ := setup(t)
	out, err := c.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("app"),
		Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("main"),
			Environment: []types.KeyValuePair{{Name: aws.String("FAIL"), Value: aws.String("CannotPullContainerError: x")}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := describe(t, c, aws.ToString(out.Tasks[0].TaskArn))
	if aws.ToString(got.LastStatus) != "STOPPED" || got.StopCode != types.TaskStopCodeTaskFailedToStart ||
		got.Containers[0].ExitCode != nil || got.StartedAt != nil || aws.ToString(got.Containers[0].Reason) == "" {
		t.Errorf("failed task = %+v", got)
	}
	f.FailRunTask(1, "RESOURCE:MEMORY", "")
	out, err = c.RunTask(t.Context(), &ecs.RunTaskInput{Cluster: aws.String("c1"), TaskDefinition: aws.String("app")})
	if err != nil || len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "RESOURCE:MEMORY" {
		t.Errorf("injected failure: %+v, %v", out, err)
	}
}

// A held task stays RUNNING however often it is described, and stops at
// the next look once its hold is released.
func TestHoldKeepsATaskRunningUntilReleased(t *testing.T) {
	var held atomic.Bool
	held.Store(true)
	f := ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"app": {"main"}},
		Behave: func(string, []string, map[string]string) ecsfake.Plan {
			return ecsfake.Plan{Lines: []string{"working"}, ExitCode: 3, Hold: held.Load}
		},
	})
	c := ecs.NewFromConfig(awstest.Config(t, f.Serve(t), nil))
	arn := aws.ToString(run(t, c, "", "job-h", "go").TaskArn)
	for i := range 3 {
		if got := describe(t, c, arn); aws.ToString(got.LastStatus) != "RUNNING" || got.Containers[0].ExitCode != nil {
			t.Fatalf("look %d while held: %s, exit code %v", i+1, aws.ToString(got.LastStatus), got.Containers[0].ExitCode)
		}
	}
	held.Store(false)
	got := describe(t, c, arn)
	if aws.ToString(got.LastStatus) != "STOPPED" || got.Containers[0].ExitCode == nil || *got.Containers[0].ExitCode != 3 {
		t.Fatalf("after the release: %s, exit code %v", aws.ToString(got.LastStatus), got.Containers[0].ExitCode)
	}
}

// TestFramedTasksWriteTaskRecords: with Framed, a task's output is what
// deployer-task writes: records of the job and attempt named in the
// overrides, closed by an end record with the exit code, when it runs, or
// when StopTask ends a sleeping one.
func TestFramedTasksWriteTaskRecords(t *testing.T) {
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	lg := &logs{lines: map[string][]string{}}
	f := ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"app": {"main"}},
		Framed:          true,
		Behave: func(_ string, command []string, _ map[string]string) ecsfake.Plan {
			if slices.Contains(command, "sleep") {
				return ecsfake.Plan{Lines: []string{"zzz"}, Sleep: true}
			}
			return ecsfake.Plan{Lines: []string{"hello", strings.Repeat("x", 40000)}, ExitCode: 7}
		},
		OnLog: lg.add,
	})
	c := ecs.NewFromConfig(awstest.Config(t, f.Serve(t), nil))
	start := func(command string) types.Task {
		out, err := c.RunTask(t.Context(), &ecs.RunTaskInput{
			Cluster: aws.String("c1"), TaskDefinition: aws.String("app"),
			Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("main"), Command: []string{command},
				Environment: []types.KeyValuePair{{Name: aws.String("DEPLOYER_JOB_ID"), Value: aws.String(job)}, {Name: aws.String("DEPLOYER_ATTEMPT"), Value: aws.String("2")}}}}},
		})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("RunTask: %v", err)
		}
		return out.Tasks[0]
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
	describe(t, c, aws.ToString(done.TaskArn)) // RUNNING: the output is written
	id := aws.ToString(done.TaskArn)[strings.LastIndexByte(aws.ToString(done.TaskArn), '/')+1:]
	texts, end := records(id)
	if len(texts) != 2 || texts[0] != "hello" || len(texts[1]) != 40000 || end == nil || end.Lines != 2 || *end.ExitCode != 7 {
		t.Fatalf("lines %.30q, end %+v", texts, end)
	}

	sleeper := start("sleep")
	arn := aws.ToString(sleeper.TaskArn)
	describe(t, c, arn)
	if _, err := c.StopTask(t.Context(), &ecs.StopTaskInput{Cluster: aws.String("c1"), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	describe(t, c, arn) // STOPPED: deployer-task closes the log
	texts, end = records(arn[strings.LastIndexByte(arn, '/')+1:])
	if len(texts) != 1 || end == nil || end.Lines != 1 || *end.ExitCode != 143 {
		t.Fatalf("sleeper: lines %q, end %+v", texts, end)
	}
}
