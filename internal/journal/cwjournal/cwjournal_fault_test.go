package cwjournal_test

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
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/journal/cwjournal"
	"github.com/deployerhq/deployer/internal/journal/journaltest"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

// TestConformanceUnderFaults runs the journal suite against the fake over
// a transport that throttles, answers 500 and resets connections before
// the request is sent (3% each), with up to 10ms of added latency, and
// resets 5% of all calls after CloudWatch answered. A PutLogEvents whose
// answer is lost is sent again and its events are stored twice; the
// journal's idempotence (Read keeps the first event of each id) makes
// that invisible, and a CreateLogStream repeated finds the stream there.
func TestConformanceUnderFaults(t *testing.T) {
	fake, url := logsfake.Start(t)
	after := &awsx.FaultTransport{ResetAfter: 0.05, FirstOfEach: true}
	ft := &awsx.FaultTransport{Next: after, Throttle: 0.03, ServerError: 0.03, ResetBefore: 0.03, Latency: 10 * time.Millisecond, FirstOfEach: true}
	counter := &awsx.CountingTransport{Next: ft}
	cfg := awstest.Config(t, url, &http.Client{Transport: counter, Timeout: time.Minute})
	b := &backend{
		fake:    fake,
		client:  cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = faultAttempts }),
		counter: counter,
		group:   "/deployer/journal-" + ulid.Make().String(),
	}
	if _, err := b.client.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(b.group)}); err != nil && !awsx.HasCode(err, "ResourceAlreadyExistsException") {
		t.Fatalf("creating log group: %v", err)
	}
	t.Cleanup(func() {
		_, _ = b.client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(b.group)})
	})
	j := b.journal(t, cwjournal.Options{})
	t.Run("suite", func(t *testing.T) {
		journaltest.Run(t, func(*testing.T) journal.Journal { return j })
	})
	t.Logf("faults absorbed: %v; answers lost after CloudWatch acted: %v", ft.Faults(), after.Faults())
	if m := append(ft.Missing(), after.Missing()...); len(m) > 0 {
		t.Errorf("faults never injected: %v: the test proved less than it says", m)
	}
}

// faultAttempts replaces the test config's five attempts: a call meets up
// to 14% of faults, and five in a row happen over a suite's thousands of
// calls; eight in a row (about 1.5e-7) do not.
const faultAttempts = 8
