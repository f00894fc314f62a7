package awsbackend_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
	"github.com/deployerhq/deployer/worker"
)

// logshipperARN is the logshipper Lambda the task log group's
// subscription filter delivers to.
const logshipperARN = "arn:aws:lambda:us-east-1:123456789012:function:deployer-logshipper"

// TestLogshipperLambdaThroughSubscription serves the pipeline as a Lambda
// deployment runs it: the gatekeeper and the worker, and no in-process
// shipper; a task's output reaches the job's stream only through the
// CloudWatch Logs subscription filter on the task log group, which
// delivers it to the logshipper Lambda's handler (the backend's
// Logshipper, which cmd/logshipper's init serves) as AWS builds the event:
// base64 of gzip of the JSON payload, a CONTROL_MESSAGE when the filter
// is put. The tasks run deployer-task (their output is task records).
// Whether the deliveries come in order, twice, overtaking each other, or
// late (after the job ended), the follower prints every line once, in
// order, with the task's exit code; when every delivery comes before the
// job ends, it never reads the task log (its reads are refused).
func TestLogshipperLambdaThroughSubscription(t *testing.T) {
	const lines = 400
	cases := []struct {
		name     string
		delivery logsfake.Delivery
		// streamOnly: the task is held running until every delivery is
		// in, and the task log refuses reads.
		streamOnly bool
	}{
		{name: "in order", delivery: logsfake.Delivery{MaxBatchEvents: 50}, streamOnly: true},
		{name: "duplicated", delivery: logsfake.Delivery{MaxBatchEvents: 50, Duplicate: 0.5}, streamOnly: true},
		{name: "reordered", delivery: logsfake.Delivery{MaxBatchEvents: 50, Reorder: 0.5, ReorderBy: 300 * time.Millisecond}, streamOnly: true},
		{name: "late", delivery: logsfake.Delivery{MaxBatchEvents: 50, Late: 0.3, LateBy: 3 * time.Second}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.delivery.Seed = uint64(i + 1)
			d := startLambdaDeployment(t, c.delivery, c.streamOnly)
			got, term := runJob(t, d.caller, "lines", strconv.Itoa(lines))
			if producer.ExitCode(term) != 0 {
				t.Fatalf("exit code %d, terminal %+v", producer.ExitCode(term), term)
			}
			if len(got) != lines {
				t.Fatalf("the follower printed %d lines, want %d", len(got), lines)
			}
			for i, l := range got {
				if want := fmt.Sprintf("line %d", i+1); l != want {
					t.Fatalf("line %d is %q, want %q", i+1, l, want)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := d.logs.WaitDelivered(ctx); err != nil {
				t.Fatal(err)
			}
			st := d.logs.DeliveryStats()
			t.Logf("deliveries: %+v; task log reads refused: %d", st, d.deny.count())
			switch {
			case st.Control != 1 || st.Batches == 0 || st.Dropped != 0:
				t.Errorf("deliveries %+v: want one control message, batches, none dropped", st)
			case c.delivery.Duplicate > 0 && st.Duplicated == 0, c.delivery.Reorder > 0 && st.Reordered == 0, c.delivery.Late > 0 && st.Late == 0:
				t.Errorf("deliveries %+v: the fault under test never happened", st)
			}
			if runs := len(d.ecs.Tasks()); runs != 1 {
				t.Errorf("%d tasks started, want 1", runs)
			}
		})
	}
}

// lambdaDeployment is a Lambda deployment on the fakes.
type lambdaDeployment struct {
	caller *awsbackend.Backend
	logs   *logsfake.Fake
	ecs    *ecsfake.Fake
	deny   *denyLogReads
}

// denyLogReads answers the task log reads (GetLogEvents,
// FilterLogEvents) AccessDeniedException when on, and counts them.
type denyLogReads struct {
	next http.RoundTripper
	on   bool

	mu      sync.Mutex
	refused int
}

func (d *denyLogReads) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Header.Get("X-Amz-Target") {
	case "Logs_20140328.GetLogEvents", "Logs_20140328.FilterLogEvents":
		if !d.on {
			break
		}
		if req.Body != nil {
			_ = req.Body.Close()
		}
		d.mu.Lock()
		d.refused++
		d.mu.Unlock()
		return &http.Response{
			StatusCode: http.StatusBadRequest, Request: req,
			Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Errortype": {"AccessDeniedException"}},
			Body:   io.NopCloser(strings.NewReader(`{"__type":"AccessDeniedException","message":"User is not authorized to perform: logs:GetLogEvents (denied by the test)"}`)),
		}, nil
	}
	return d.next.RoundTrip(req)
}

func (d *denyLogReads) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

// startLambdaDeployment provisions a deployment on the fakes and serves
// it as a Lambda deployment runs, until the test ends.
func startLambdaDeployment(t *testing.T, delivery logsfake.Delivery, streamOnly bool) *lambdaDeployment {
	t.Helper()
	d := &lambdaDeployment{logs: logsfake.New()}
	t.Cleanup(d.logs.Close)
	d.logs.SetDelivery(delivery)
	srv := &awsfake.Server{}
	sq, err := sqsfake.New(sqsfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sq.Close() })
	sq.Register(srv)
	d.logs.Register(srv)
	const group, prefix = "/deployer-tasks", "deployer/deployer/"
	d.ecs = ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"deployer": {"deployer"}},
		// "lines N" writes N lines as deployer-task frames them, closes
		// the log and exits 0; with streamOnly, its task stays RUNNING
		// until every delivery is in.
		Run: func(ctx context.Context, c ecsfake.Container) (func() int, error) {
			if len(c.Task.Command) != 2 || c.Task.Command[0] != "lines" {
				return nil, fmt.Errorf("no such script %q", c.Task.Command)
			}
			n, err := strconv.Atoi(c.Task.Command[1])
			if err != nil {
				return nil, err
			}
			return func() int {
				attempt, _ := strconv.Atoi(c.Task.Env[task.EnvAttempt])
				fr := task.NewFramer(c.Output, c.Task.Env[task.EnvJobID], attempt)
				for i := 1; i <= n; i++ {
					fr.Line(fmt.Sprintf("line %d", i))
				}
				code := 0
				_ = fr.End(&code, "")
				if streamOnly {
					_ = d.logs.WaitDelivered(ctx)
				}
				return code
			}, nil
		},
		OnLog: func(taskID string, lines []string) {
			evs := make([]logsfake.Event, len(lines))
			for i, l := range lines {
				evs[i] = logsfake.Event{Time: time.Now(), Message: l}
			}
			d.logs.Append(group, prefix+taskID, evs...)
		},
	})
	t.Cleanup(d.ecs.Close)
	srv.Add(d.ecs.Service())
	srv.Add(ddbfake.New(ddbfake.Options{}).Service())
	url := ddbfake.Serve(t, srv)

	o := awsbackend.Options{Principals: map[string]string{callerKey: callerRole}}
	b, err := awsbackend.NewWithConfig(awstest.Config(t, url, &http.Client{Timeout: time.Minute}), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}

	// The logshipper Lambda's handler is the destination of the task log
	// group's subscription filter.
	d.logs.SetDestination(logshipperARN, b.Logshipper().Handle)
	logs := cloudwatchlogs.NewFromConfig(awstest.Config(t, url, nil))
	if _, err := logs.PutSubscriptionFilter(ctx, &cloudwatchlogs.PutSubscriptionFilterInput{
		LogGroupName: aws.String(group), FilterName: aws.String("deployer-logshipper"),
		FilterPattern: aws.String(""), DestinationArn: aws.String(logshipperARN),
	}); err != nil {
		t.Fatal(err)
	}
	// The caller ("deployer run"): with streamOnly, its reads of the task
	// log are refused, as IAM would refuse them.
	d.deny = &denyLogReads{next: http.DefaultTransport, on: streamOnly}
	if d.caller, err = awsbackend.NewWithConfig(awstest.Config(t, url, &http.Client{Transport: d.deny, Timeout: time.Minute}), o); err != nil {
		t.Fatal(err)
	}
	if err := d.caller.Provision(ctx); err != nil {
		t.Fatal(err)
	}

	// The gatekeeper and the worker; no in-process shipper.
	pol, err := policy.Parse([]byte(config), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	requests := b.Client().Requests
	for _, lane := range backend.Lanes(pol.Config()) {
		if _, err := b.RunQueue(ctx, lane); err != nil {
			t.Fatal(err)
		}
	}
	w, err := b.Worker(worker.Options{Poll: 100 * time.Millisecond, Discover: 200 * time.Millisecond, ReceiveWait: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := backend.Serve(sctx, b.Gatekeeper(pol), requests, w, backend.ServeOptions{}); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	return d
}
