package awsbackend_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
	"github.com/deployerhq/deployer/worker"
)

// The access key the tests sign with; the SQS fake reports it as the
// SenderId, and the principals map it to the CI role.
const (
	callerKey  = "AKIDTESTTESTTESTTEST"
	callerRole = "arn:aws:iam::123456789012:role/ci-deployer"
)

const config = `
lanes:
  default:
    concurrency: 4
containers:
  infra:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    timeout: 10m
    script_config:
      lines:
        allow_positional_args: true
        allowed_options: []
      fail:
        allowed_options: []
      sleep:
        allowed_options: []
`

// fakes is one endpoint serving every AWS fake the backend calls, with ECS
// tasks whose output goes to the task log group as the awslogs driver
// would write it.
type fakes struct {
	url   string
	count *awsx.CountingTransport
	logs  *logsfake.Fake
}

// plan makes a task's behaviour from its command: "lines N" writes N
// lines and exits 0; "fail" writes one line and exits 3.
func plan(_ string, command []string, _ map[string]string) ecsfake.Plan {
	switch {
	case len(command) == 2 && command[0] == "lines":
		n, _ := strconv.Atoi(command[1])
		var ls []string
		for i := 1; i <= n; i++ {
			ls = append(ls, fmt.Sprintf("line %d", i))
		}
		return ecsfake.Plan{Lines: ls}
	case len(command) == 1 && command[0] == "fail":
		return ecsfake.Plan{Lines: []string{"about to fail"}, ExitCode: 3}
	case len(command) == 1 && command[0] == "sleep":
		return ecsfake.Plan{Lines: []string{"sleeping"}, Sleep: true}
	}
	return ecsfake.Plan{FailToStart: "CannotPullContainerError: no such script"}
}

func startFakes(t testing.TB, o awsbackend.Options) *fakes {
	t.Helper()
	srv := &awsfake.Server{}
	sq, err := sqsfake.New(sqsfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sq.Close() })
	sq.Register(srv)
	f := &fakes{logs: logsfake.New(), count: &awsx.CountingTransport{}}
	f.logs.Register(srv)
	group, prefix := "/deployer-tasks", "deployer/deployer/"
	ecs := ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"deployer": {"deployer"}},
		Behave:          plan,
		OnLog: func(taskID string, lines []string) {
			evs := make([]logsfake.Event, len(lines))
			for i, l := range lines {
				evs[i] = logsfake.Event{Time: time.Now(), Message: l}
			}
			f.logs.Append(group, prefix+taskID, evs...)
		},
	})
	t.Cleanup(ecs.Close)
	srv.Add(ecs.Service())
	srv.Add(ddbfake.New(ddbfake.Options{}).Service())
	f.url = ddbfake.Serve(t, srv)
	return f
}

// open returns a provisioned backend on the fakes, serving its pipeline
// in this process until the test ends.
func open(t testing.TB) (*awsbackend.Backend, *fakes) {
	t.Helper()
	return openWith(t, served{worker: quickWorker})
}

// served is how a test serves its pipeline.
type served struct {
	// worker is the worker's options.
	worker worker.Options
	// config is the policy. Defaults to config.
	config string
	// wrap, when set, wraps the pipeline's HTTP transport (to watch its
	// calls).
	wrap func(http.RoundTripper) http.RoundTripper
}

// quickWorker polls every few hundred milliseconds, so that tests do not
// wait out the production intervals.
var quickWorker = worker.Options{Poll: 100 * time.Millisecond, Discover: 200 * time.Millisecond, ReceiveWait: time.Second}

// openWith is open with the pipeline served as s says.
func openWith(t testing.TB, s served) (*awsbackend.Backend, *fakes) {
	t.Helper()
	o := awsbackend.Options{Principals: map[string]string{callerKey: callerRole}}
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	f := startFakes(t, o)
	var transport http.RoundTripper = f.count
	if s.wrap != nil {
		transport = s.wrap(transport)
	}
	cfg := awstest.Config(t, f.url, &http.Client{Transport: transport, Timeout: time.Minute})
	b, err := awsbackend.NewWithConfig(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	serve(t, b, s)
	return b, f
}

// serve serves b's pipeline as s says in this process until the test
// ends.
func serve(t testing.TB, b *awsbackend.Backend, s served) {
	t.Helper()
	if s.config == "" {
		s.config = config
	}
	pol, err := policy.Parse([]byte(s.config), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := b.Serve(ctx, pol, backend.ServeOptions{Worker: s.worker}); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); wg.Wait() })
}

func runJob(t testing.TB, b *awsbackend.Backend, script string, args ...string) ([]string, schemas.JobEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := b.Client()
	job, err := c.Submit(ctx, producer.Request{Container: "infra", Script: script, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	res, err := c.Follow(ctx, job, producer.FollowOptions{
		OnLine:    func(_ int, l schemas.LogLine) { lines = append(lines, l.Text) },
		QuietWait: 1500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("following %s: %v", job.ID, err)
	}
	return lines, res.Terminal
}

func TestPipelineOnAWSFakes(t *testing.T) {
	b, _ := open(t)
	t.Run("lines", func(t *testing.T) {
		lines, term := runJob(t, b, "lines", "25")
		if producer.ExitCode(term) != 0 || len(lines) != 25 {
			t.Fatalf("exit %d, %d lines %q; terminal %+v", producer.ExitCode(term), len(lines), lines, term)
		}
		for i, l := range lines {
			if want := fmt.Sprintf("line %d", i+1); l != want {
				t.Fatalf("line %d is %q, want %q", i+1, l, want)
			}
		}
	})
	t.Run("many lines", func(t *testing.T) {
		lines, term := runJob(t, b, "lines", "5000")
		if producer.ExitCode(term) != 0 || len(lines) != 5000 || lines[4999] != "line 5000" {
			t.Fatalf("exit %d, %d lines", producer.ExitCode(term), len(lines))
		}
	})
	t.Run("exit code", func(t *testing.T) {
		lines, term := runJob(t, b, "fail")
		if producer.ExitCode(term) != 3 || strings.Join(lines, "|") != "about to fail" {
			t.Fatalf("exit %d, lines %q; terminal %+v", producer.ExitCode(term), lines, term)
		}
	})
	t.Run("describe", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		infos, principal, err := b.Client().Describe(ctx, schemas.CallerMetadata{})
		if err != nil || principal != callerRole || len(infos) != 1 || infos[0].Name != "infra" || len(infos[0].Scripts) != 3 {
			t.Fatalf("Describe = %+v, %q, %v", infos, principal, err)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		_, term := runJob(t, b, "fail", "--destroy")
		if term.Type != schemas.EventRejected || producer.ExitCode(term) != producer.ExitRejected {
			t.Fatalf("terminal %+v, want a rejection", term)
		}
	})
}

// A cancel goes through the gatekeeper and the cancel queue to the worker
// tracking the ECS task, which stops it: the follower sees the job end
// cancelled (exit 130).
func TestCancelOnAWSFakes(t *testing.T) {
	b, _ := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := b.Client()
	job, err := c.Submit(ctx, producer.Request{Container: "infra", Script: "sleep"})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	done := make(chan producer.FollowResult, 1)
	go func() {
		res, err := c.Follow(ctx, job, producer.FollowOptions{
			OnLine:    func(_ int, l schemas.LogLine) { once.Do(func() { close(started) }) },
			QuietWait: time.Second,
		})
		if err != nil {
			t.Errorf("following: %v", err)
		}
		done <- res
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the task never printed")
	}
	ans, err := c.Cancel(ctx, job.ID, producer.CancelOptions{Reason: "wrong ref"})
	if err != nil || !ans.Accepted {
		t.Fatalf("cancel answered %+v, %v", ans, err)
	}
	res := <-done
	if res.Terminal.Outcome != schemas.OutcomeCancelled || producer.ExitCode(res.Terminal) != producer.ExitCancelled {
		t.Fatalf("terminal %+v, want cancelled", res.Terminal)
	}
}
