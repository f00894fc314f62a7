package cwlogs_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/tasklog/tasklogtest"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

// TestConformanceUnderFaults runs the task log suite against the fake over
// a transport that throttles, answers 500 and resets connections before
// the request is sent (3% each), with up to 10ms of added latency, and
// resets 5% of the GetLogEvents calls after CloudWatch answered (a read:
// repeating it changes nothing). The suite's own writes (the awslogs
// driver's part) see the same faults except resets after the fact, which
// would put a line into the log twice: that is the driver's business,
// not the adapter's.
func TestConformanceUnderFaults(t *testing.T) {
	fake, url := logsfake.Start(t)
	after := &awsx.FaultTransport{ResetAfter: 0.05, Only: []string{"logs:GetLogEvents"}, FirstOfEach: true}
	ft := &awsx.FaultTransport{Next: after, Throttle: 0.03, ServerError: 0.03, ResetBefore: 0.03, Latency: 10 * time.Millisecond, FirstOfEach: true}
	counter := &awsx.CountingTransport{Next: ft}
	cfg := awstest.Config(t, url, &http.Client{Transport: counter, Timeout: time.Minute})
	b := &backend{
		fake:    fake,
		client:  cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = faultAttempts }),
		counter: counter,
		group:   "/deployer/tasks-" + ulid.Make().String(),
	}
	if _, err := b.client.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(b.group)}); err != nil {
		t.Fatalf("creating log group: %v", err)
	}
	t.Cleanup(func() {
		_, _ = b.client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(b.group)})
	})
	t.Run("suite", func(t *testing.T) { tasklogtest.Run(t, b.harness) })
	t.Logf("faults absorbed: %v; GetLogEvents answers lost: %v", ft.Faults(), after.Faults())
	if m := append(ft.Missing(), after.Missing()...); len(m) > 0 {
		t.Errorf("faults never injected: %v: the test proved less than it says", m)
	}
}

// faultAttempts replaces the test config's five attempts: a call meets up
// to 14% of faults, and five in a row happen over a suite's thousands of
// calls; eight in a row (about 1.5e-7) do not.
const faultAttempts = 8
