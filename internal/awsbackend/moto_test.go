package awsbackend_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ecsfake"
	"github.com/deployerhq/deployer/worker"
)

// TestPipelineOnMoto runs the whole pipeline with SQS, CloudWatch Logs and
// DynamoDB on an external emulator (DEPLOYER_TEST_AWS_ENDPOINT: moto in
// CI) and ECS on the HTTP-level fake, whose tasks write their output to
// the emulator's CloudWatch Logs as the awslogs driver would. Endpoints
// are chosen the way a user chooses them: AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_ECS.
func TestPipelineOnMoto(t *testing.T) {
	b := motoBackend(t)
	lines, term := runJob(t, b, "lines", "40")
	if producer.ExitCode(term) != 0 || len(lines) != 40 || lines[0] != "line 1" || lines[39] != "line 40" {
		t.Fatalf("exit %d, %d lines (%q…); terminal %+v", producer.ExitCode(term), len(lines), first(lines), term)
	}
	if _, term := runJob(t, b, "fail"); producer.ExitCode(term) != 3 {
		t.Fatalf("terminal %+v, want exit 3", term)
	}
}

// motoBackend returns a caller's backend on the emulator, with a
// pipeline serving it in this process until the test ends. It skips the
// test when no emulator is configured.
func motoBackend(t testing.TB) *awsbackend.Backend {
	t.Helper()
	return motoWith(t, served{worker: worker.Options{Poll: 200 * time.Millisecond, Discover: 500 * time.Millisecond, ReceiveWait: time.Second}})
}

// motoWith is motoBackend with the pipeline served as s says.
func motoWith(t testing.TB, s served) *awsbackend.Backend {
	t.Helper()
	ep := awstest.Endpoint(t, "sqs")
	awstest.Endpoint(t, "logs")
	awstest.Endpoint(t, "dynamodb")

	prefix := fmt.Sprintf("dt%d-", time.Now().UnixNano()%1_000_000_000)
	group, streamPrefix := "/"+prefix+"tasks", "deployer/deployer/"
	logs := cloudwatchlogs.NewFromConfig(awstest.Config(t, ep, nil))
	srv := &awsfake.Server{}
	ecs := ecsfake.New(ecsfake.Options{
		TaskDefinitions: map[string][]string{"deployer": {"deployer"}},
		Behave:          plan,
		OnLog: ecsfake.LogsTo(logs, group, streamPrefix, func(_ string, err error) {
			t.Errorf("writing the task's log to the emulator: %v", err)
		}),
	})
	t.Cleanup(ecs.Close)
	srv.Add(ecs.Service())
	ecsURL := srv.Start(t)

	t.Setenv("AWS_ENDPOINT_URL", ep)
	t.Setenv("AWS_ENDPOINT_URL_ECS", ecsURL)
	o := awsbackend.Options{
		Region: "us-east-1", Prefix: prefix,
		Credentials: &awsx.Credentials{AccessKeyID: callerKey, SecretAccessKey: "test"},
		Retry:       awsx.RetryPolicy{MaxAttempts: 5, Initial: 20 * time.Millisecond, Max: time.Second},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b, err := awsbackend.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	// moto reports one SenderId for every caller; map whatever it says.
	sender := motoSender(t, b)
	o.Principals = map[string]string{strings.SplitN(sender, ":", 2)[0]: callerRole}
	if s.wrap != nil {
		// The SDK's own transport, as a deployment's pipeline has it.
		o.HTTPClient = &http.Client{Transport: s.wrap(awshttp.NewBuildableClient().GetTransport())}
	}
	pipeline, err := awsbackend.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	serve(t, pipeline, s)
	return b
}

func first(ls []string) []string { return ls[:min(3, len(ls))] }

// motoSender sends a message and reads back the SenderId the emulator
// records for it.
func motoSender(t testing.TB, b *awsbackend.Backend) string {
	t.Helper()
	ctx := context.Background()
	q, err := b.RunQueue(ctx, "sender-probe")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Broker.Delete(ctx, "runs-lane-sender-probe") }()
	if _, err := q.Send(ctx, queueMsg("probe")); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(ctx, receiveOne)
	if err != nil || len(msgs) != 1 || msgs[0].SenderID == "" {
		t.Fatalf("probe: %+v, %v", msgs, err)
	}
	return msgs[0].SenderID
}

var receiveOne = queue.ReceiveOptions{Max: 1, Wait: 5 * time.Second}

func queueMsg(body string) queue.Outgoing { return queue.Outgoing{Body: []byte(body)} }
