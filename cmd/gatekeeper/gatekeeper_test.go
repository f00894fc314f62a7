package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/metrics/emf"
	"github.com/deployerhq/deployer/internal/metrics/emf/emftest"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
)

// sqsFake starts an SQS fake and returns its URL and a backend on it.
func sqsFake(tb testing.TB) (string, *awsbackend.Backend) {
	tb.Helper()
	url := sqsfake.Start(tb)
	b, err := awsbackend.NewWithConfig(awstest.Config(tb, url, nil), awsbackend.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return url, b
}

// lambdaEnv is the Lambda's environment against an SQS fake whose
// deployment has been provisioned, with the CI role's principal id known
// to the gatekeeper.
func lambdaEnv(tb testing.TB, config string) func(string) string {
	tb.Helper()
	url, b := sqsFake(tb)
	for _, name := range []string{topology.RequestDLQ, topology.RunDLQ, topology.RequestQueue} {
		if _, err := b.Broker.Create(context.Background(), name, queue.Config{}); err != nil {
			tb.Fatal(err)
		}
	}
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

func TestConfigPath(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DEPLOYER_CONFIG": "/etc/d.yaml", "LAMBDA_TASK_ROOT": "/var/task"}, "/etc/d.yaml"},
		{map[string]string{"LAMBDA_TASK_ROOT": "/var/task"}, "/var/task/deployer.yaml"},
		{nil, "deployer.yaml"},
	} {
		if got := configPath(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("configPath(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// A failed init says why on stderr and exits 1 without starting; a good
// one starts the handler.
func TestRun(t *testing.T) {
	started := 0
	start := func(h any) {
		if _, ok := h.(func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)); !ok {
			t.Errorf("started %T, want an SQS event handler", h)
		}
		started++
	}
	var stderr bytes.Buffer
	missing := lambdaEnv(t, filepath.Join(t.TempDir(), "missing.yaml"))
	if code := run(context.Background(), missing, io.Discard, &stderr, start); code != 1 || started != 0 ||
		!strings.HasPrefix(stderr.String(), "gatekeeper: init: configuration ") || !strings.Contains(stderr.String(), "missing.yaml") {
		t.Fatalf("exit %d, %d starts; stderr:\n%s", code, started, stderr.String())
	}
	if code := run(context.Background(), lambdaEnv(t, "testdata/deployer.yaml"), io.Discard, io.Discard, start); code != 0 || started != 1 {
		t.Fatalf("exit %d, %d starts", code, started)
	}
}

func TestInitFailsOnABrokenConfiguration(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "deployer.yaml")
	if err := os.WriteFile(bad, []byte("containers:\n  x:\n    task_definition: d\n    script_config:\n      s:\n        restricted_options_regex: {--a: \"(\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := handler(context.Background(), lambdaEnv(t, bad), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "restricted_options_regex") {
		t.Fatalf("init error %v, want the bad regex named", err)
	}
	_, err = handler(context.Background(), lambdaEnv(t, filepath.Join(t.TempDir(), "missing.yaml")), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("init error %v, want the missing file named", err)
	}
}

// The handler answers an undecodable request through the real Lambda
// signature: dead-lettered, not retried.
func TestHandlerDeadLettersGarbage(t *testing.T) {
	h, err := handler(context.Background(), lambdaEnv(t, "testdata/deployer.yaml"), io.Discard, io.Discard)
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

// Each invocation writes its decisions to stdout as CloudWatch Embedded
// Metric Format, one line per decision and reason, and nothing for an
// invocation that decided nothing.
func TestHandlerWritesEMF(t *testing.T) {
	var stdout bytes.Buffer
	h, err := handler(context.Background(), lambdaEnv(t, "testdata/deployer.yaml"), &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal([]byte(`{"Records":[
		{"messageId":"m1","receiptHandle":"r1","body":"{not json","attributes":{"SenderId":"AROAEXAMPLE:ci","ApproximateReceiveCount":"1","SentTimestamp":"1700000000000"},"eventSource":"aws:sqs"},
		{"messageId":"m2","receiptHandle":"r2","body":"[]","attributes":{"SenderId":"AROAEXAMPLE:ci","ApproximateReceiveCount":"1","SentTimestamp":"1700000000000"},"eventSource":"aws:sqs"}]}`), &ev); err != nil {
		t.Fatal(err)
	}
	if _, err := h(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout has %d lines, want one (two requests, one decision and reason):\n%s", len(lines), stdout.String())
	}
	doc, err := emftest.Parse([]byte(lines[0]))
	if err != nil {
		t.Fatalf("not EMF: %v\n%s", err, lines[0])
	}
	n, _ := doc.Values[emf.MetricDecisions].(json.Number).Int64()
	if doc.Namespace != emf.Namespace || doc.Values["Decision"] != "dead_lettered" || doc.Values["Reason"] != "malformed_request" || n != 2 ||
		doc.Values["Deployment"] != "deployer-" {
		t.Errorf("EMF document %+v", doc)
	}
	stdout.Reset()
	if _, err := h(context.Background(), events.SQSEvent{}); err != nil || stdout.Len() != 0 {
		t.Errorf("an empty invocation wrote %q (%v)", stdout.String(), err)
	}
}

// BenchmarkInit measures the gatekeeper Lambda's init with a realistic
// configuration (10 containers × 4 scripts): load and validate it, load
// the AWS configuration, open the queues (three GetQueueUrl calls to a
// loopback fake). Target: under 20 ms.
func BenchmarkInit(b *testing.B) {
	getenv := lambdaEnv(b, "testdata/deployer.yaml")
	ctx := context.Background()
	b.ReportAllocs()
	var worst time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := handler(ctx, getenv, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-ms")
}

// The gatekeeper refuses to start without its dead-letter queue (a
// caller's Open does without: see internal/awsbackend).
func TestInitRequiresItsDeadLetterQueue(t *testing.T) {
	url, b := sqsFake(t)
	if _, err := b.Broker.Create(context.Background(), topology.RequestQueue, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DEPLOYER_CONFIG": "testdata/deployer.yaml", "DEPLOYER_AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url,
		"AWS_ACCESS_KEY_ID": "AKIDLAMBDA", "AWS_SECRET_ACCESS_KEY": "secret",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	_, err := handler(context.Background(), func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), topology.RequestDLQ) {
		t.Fatalf("gatekeeper init without its dead-letter queue: %v", err)
	}
}
