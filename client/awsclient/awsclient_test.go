package awsclient_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/client/awsclient"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
	"github.com/deployerhq/deployer/worker"
)

// The access key the client signs with; the SQS fake reports it as the
// SenderId, and the deployment maps it to the CI role its configuration
// allows.
const (
	awsCallerKey  = "AKIDCLIENTTESTKEY000"
	awsCallerRole = "arn:aws:iam::123456789012:role/ci-deployer"
)

const awsConfig = `
containers:
  infra:
    task_definition: deployer
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    script_config:
      lines:
        allow_positional_args: true
        allowed_options: []
      fail:
        allowed_options: []
`

// awsDeployment serves a deployment with the given prefix on the
// HTTP-level fakes of SQS, CloudWatch Logs, DynamoDB and ECS, its
// pipeline in this process, until the test ends, and returns the fakes'
// endpoint. Its tasks write "line 1".."line N" for "lines N", and "about
// to fail" then exit 3 for "fail".
func awsDeployment(t *testing.T, prefix string) string {
	t.Helper()
	srv := &awsfake.Server{}
	sq, err := sqsfake.New(sqsfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sq.Close() })
	sq.Register(srv)
	logs := logsfake.New()
	logs.Register(srv)
	group, streamPrefix := "/"+prefix+"tasks", "deployer/deployer/"
	ecs := ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"deployer": {"deployer"}},
		Behave: func(_ string, command []string, _ map[string]string) ecsfake.Plan {
			switch {
			case len(command) == 2 && command[0] == "lines":
				n, _ := strconv.Atoi(command[1])
				var ls []string
				for i := 1; i <= n; i++ {
					ls = append(ls, "line "+strconv.Itoa(i))
				}
				return ecsfake.Plan{Lines: ls}
			case len(command) == 1 && command[0] == "fail":
				return ecsfake.Plan{Lines: []string{"about to fail"}, ExitCode: 3}
			}
			return ecsfake.Plan{FailToStart: "CannotPullContainerError: no such script"}
		},
		OnLog: func(taskID string, lines []string) {
			evs := make([]logsfake.Event, len(lines))
			for i, l := range lines {
				evs[i] = logsfake.Event{Time: time.Now(), Message: l}
			}
			logs.Append(group, streamPrefix+taskID, evs...)
		},
	})
	t.Cleanup(ecs.Close)
	srv.Add(ecs.Service())
	srv.Add(ddbfake.New(ddbfake.Options{}).Service())
	url := ddbfake.Serve(t, srv)

	// The deployment's side: provisioned and served by the internal
	// backend, as the Lambdas and workers would serve it.
	b, err := awsbackend.NewWithConfig(awstest.Config(t, url, &http.Client{Timeout: time.Minute}),
		awsbackend.Options{Prefix: prefix, Principals: map[string]string{awsCallerKey: awsCallerRole}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(awsConfig), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.Serve(sctx, pol, backend.ServeOptions{Worker: worker.Options{
			Poll: 100 * time.Millisecond, Discover: 200 * time.Millisecond, ReceiveWait: time.Second,
		}}); err != nil {
			t.Errorf("serving the deployment: %v", err)
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })
	return url
}

// TestOpen: a client opened with a region, a prefix and an endpoint,
// signing with credentials the SDK's default chain finds (here the
// environment), submits to an AWS deployment and follows its jobs as on
// the embedded backend.
func TestOpen(t *testing.T) {
	const prefix = "clt-"
	url := awsDeployment(t, prefix)
	// Only the environment's credentials: no profile of this machine.
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ACCESS_KEY_ID", awsCallerKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	ctx := ctxT(t)

	c, err := awsclient.Open(ctx, client.AWSOptions{Region: "us-east-1", Prefix: prefix, Endpoint: url})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if c.Backend() != client.BackendAWS || c.StateDir() != "" || c.ReadOnly() || !strings.Contains(c.Where(), `"clt-"`) {
		t.Errorf("Backend %q, StateDir %q, ReadOnly %t, Where %q", c.Backend(), c.StateDir(), c.ReadOnly(), c.Where())
	}
	if served, err := c.Served(); !served || err != nil {
		t.Errorf("Served: %t, %v; want true: the deployment serves itself", served, err)
	}

	job, err := c.Submit(ctx, client.Request{Container: "infra", Script: "lines", Args: []string{"3"}})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	res, err := c.Follow(ctx, job.ID, client.FollowOptions{
		OnLine:    func(_ int, l schemas.LogLine) { lines = append(lines, l.Text) },
		QuietWait: 1500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode() != 0 || strings.Join(lines, "|") != "line 1|line 2|line 3" {
		t.Fatalf("exit %d, lines %q; terminal %+v", res.ExitCode(), lines, res.Terminal)
	}
	s, err := c.Status(ctx, job.ID)
	if err != nil || s.State != client.StateSucceeded || s.Principal != awsCallerRole {
		t.Errorf("Status: %+v, %v; want succeeded, run as %s", s, err, awsCallerRole)
	}

	job, err = c.Submit(ctx, client.Request{Container: "infra", Script: "fail"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Follow(ctx, job.ID, client.FollowOptions{QuietWait: 1500 * time.Millisecond}); err != nil || res.ExitCode() != 3 {
		t.Fatalf("fail: %+v, %v; want exit 3", res, err)
	}
	if _, err := c.DeadLetters(ctx, client.DeadLetterOptions{NoReceive: true}); !errors.Is(err, client.ErrWouldReceive) {
		t.Errorf("DeadLetters with NoReceive on SQS: %v, want ErrWouldReceive", err)
	}
	letters, err := c.DeadLetters(ctx, client.DeadLetterOptions{})
	if err != nil || len(letters) != 1 || letters[0].JobID != job.ID {
		t.Errorf("DeadLetters: %+v, %v; want job %s's", letters, err, job.ID)
	}
	lanes, err := c.Lanes(ctx, schemas.Config{Containers: map[string]schemas.Container{"infra": {}}})
	if err != nil || len(lanes) != 1 || lanes[0].Name != schemas.DefaultLane || lanes[0].Limit != schemas.DefaultLaneLimit || lanes[0].Running < 0 {
		// The failed job's lease may be held a moment more: only that
		// the lease table is counted is checked.
		t.Errorf("Lanes: %+v, %v; want the default lane with its slots counted", lanes, err)
	}
	// EventBridge Scheduler keeps the schedules' state.
	if _, err := c.ScheduleState(ctx, "nightly"); !errors.Is(err, client.ErrNotSupported) {
		t.Errorf("ScheduleState on AWS: %v, want ErrNotSupported", err)
	}
	if err := c.PauseSchedule(ctx, "nightly", "x"); !errors.Is(err, client.ErrNotSupported) || !strings.Contains(err.Error(), "DISABLED") {
		t.Errorf("PauseSchedule on AWS: %v, want ErrNotSupported saying how to pause one", err)
	}
	if err := c.Serve(ctx, client.ServeOptions{Config: "deployer.yaml"}); err == nil || !strings.Contains(err.Error(), "AWS") {
		t.Errorf("Serve on AWS: %v, want a refusal", err)
	}

	// A prefix with no deployment behind it is said plainly.
	_, err = awsclient.Open(ctx, client.AWSOptions{Region: "us-east-1", Prefix: "nothing-", Endpoint: url})
	if err == nil || !strings.Contains(err.Error(), `prefix "nothing-"`) {
		t.Errorf("Open of a missing deployment: %v, want an error naming the prefix", err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
