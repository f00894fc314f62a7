package awsbackend_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsfake"
	"github.com/deployerhq/deployer/internal/awsfake/sqsfake"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue"
)

// lambdaEnv is a Lambda's environment against an SQS fake whose
// deployment has been provisioned.
func lambdaEnv(tb testing.TB, config string) func(string) string {
	tb.Helper()
	srv := &awsfake.Server{}
	f, err := sqsfake.New(sqsfake.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	f.Register(srv)
	url := srv.Start(tb)
	b, err := awsbackend.NewWithConfig(awstest.Config(tb, url, nil), awsbackend.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"requests-dlq", "runs-dlq", "requests"} {
		if _, err := b.Broker.Create(ctx, name, queue.Config{}); err != nil {
			tb.Fatal(err)
		}
	}
	return lambdaEnvAt(tb, url, config)
}

// lambdaEnvAt is a Lambda's environment against the fakes at url, with
// the CI role's principal id known to the gatekeeper.
func lambdaEnvAt(tb testing.TB, url, config string) func(string) string {
	tb.Helper()
	env := map[string]string{
		"DEPLOYER_CONFIG":       config,
		"DEPLOYER_AWS_REGION":   "us-east-1",
		"AWS_ENDPOINT_URL":      url,
		"AWS_ACCESS_KEY_ID":     "AKIDLAMBDA",
		"AWS_SECRET_ACCESS_KEY": "secret",
		"DEPLOYER_PRINCIPALS":   `{"AROAEXAMPLE":"arn:aws:iam::123456789012:role/ci-deployer"}`,
	}
	for k, v := range env {
		tb.Setenv(k, v)
	}
	return func(k string) string { return env[k] }
}

func TestGatekeeperInitFailsOnABrokenConfiguration(t *testing.T) {
	bad := t.TempDir() + "/deployer.yaml"
	writeFile(t, bad, "containers:\n  x:\n    task_definition: d\n    script_config:\n      s:\n        restricted_options_regex: {--a: \"(\"}\n")
	_, err := awsbackend.GatekeeperHandler(context.Background(), lambdaEnv(t, bad))
	if err == nil || !strings.Contains(err.Error(), "restricted_options_regex") {
		t.Fatalf("init error %v, want the bad regex named", err)
	}
	_, err = awsbackend.GatekeeperHandler(context.Background(), lambdaEnv(t, t.TempDir()+"/missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("init error %v, want the missing file named", err)
	}
}

// The handler answers an undecodable request through the real Lambda
// signature: dead-lettered, not retried.
func TestGatekeeperHandlerDeadLettersGarbage(t *testing.T) {
	h, err := awsbackend.GatekeeperHandler(context.Background(), lambdaEnv(t, "testdata/deployer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal([]byte(`{"Records":[{"messageId":"m1","receiptHandle":"r1","body":"{not json","attributes":{"SenderId":"AROAEXAMPLE:ci","ApproximateReceiveCount":"1","SentTimestamp":"1700000000000"},"eventSource":"aws:sqs"}]}`), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := h(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %+v, %v: an undecodable request is dead-lettered, not retried", resp, err)
	}
}

// BenchmarkGatekeeperInit measures the gatekeeper Lambda's init with a
// realistic configuration (10 containers × 4 scripts): load and validate
// it, load the AWS configuration, open the queues (three GetQueueUrl calls
// to a loopback fake). Target: under 20 ms.
func BenchmarkGatekeeperInit(b *testing.B) {
	getenv := lambdaEnv(b, "testdata/deployer.yaml")
	ctx := context.Background()
	b.ReportAllocs()
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := awsbackend.GatekeeperHandler(ctx, getenv); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
}

// A caller may run jobs without being allowed to read the dead-letter
// queues; the gatekeeper refuses to start without its own.
func TestDeadLetterQueuesOptionalForCallersOnly(t *testing.T) {
	srv := &awsfake.Server{}
	f, err := sqsfake.New(sqsfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	f.Register(srv)
	url := srv.Start(t)
	cfg := awstest.Config(t, url, nil)
	b, err := awsbackend.NewWithConfig(cfg, awsbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Broker.Create(context.Background(), "requests", queue.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	caller, err := awsbackend.Open(context.Background(), awsbackend.Options{Region: "us-east-1"})
	if err != nil {
		t.Fatalf("a caller's Open without dead-letter queues: %v", err)
	}
	_, runs := caller.DeadLetterQueues()
	if _, err := runs.Receive(context.Background(), queue.ReceiveOptions{}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("receiving from a missing dead-letter queue: %v, want ErrNotFound", err)
	}
	env := map[string]string{"DEPLOYER_CONFIG": "testdata/deployer.yaml", "DEPLOYER_AWS_REGION": "us-east-1"}
	_, err = awsbackend.GatekeeperHandler(context.Background(), func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "requests-dlq") {
		t.Fatalf("gatekeeper init without its dead-letter queue: %v", err)
	}
}
