package test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deployerhq/deployer/schemas"
)

// runtimeAPI is a loopback Lambda Runtime API: the protocol a provided.al2023
// function speaks with the Lambda service. Tests hand it events and read
// back the function's answers, as the service would for an event source
// mapping.
type runtimeAPI struct {
	url     string
	events  chan []byte
	answers chan runtimeAnswer
	ids     atomic.Int64
}

type runtimeAnswer struct {
	body  []byte
	error bool
}

func startRuntimeAPI(t *testing.T) *runtimeAPI {
	t.Helper()
	r := &runtimeAPI{events: make(chan []byte), answers: make(chan runtimeAnswer, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path := strings.TrimPrefix(req.URL.Path, "/2018-06-01/runtime/invocation/")
		switch {
		case req.Method == http.MethodGet && path == "next":
			select {
			case ev := <-r.events:
				w.Header().Set("Lambda-Runtime-Aws-Request-Id", strconv.FormatInt(r.ids.Add(1), 10))
				w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
				w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:deployer-gatekeeper")
				_, _ = w.Write(ev)
			case <-req.Context().Done():
			}
		case req.Method == http.MethodPost && (strings.HasSuffix(path, "/response") || strings.HasSuffix(path, "/error")):
			body, _ := io.ReadAll(req.Body)
			r.answers <- runtimeAnswer{body: body, error: strings.HasSuffix(path, "/error")}
			w.WriteHeader(http.StatusAccepted)
		default:
			http.Error(w, "not part of the runtime API", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// invoke hands the function one event and returns its answer.
func (r *runtimeAPI) invoke(t *testing.T, event any) runtimeAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := r.send(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send hands the function one event and waits for its answer until ctx
// ends.
func (r *runtimeAPI) send(ctx context.Context, event any) (runtimeAnswer, error) {
	b, err := json.Marshal(event)
	if err != nil {
		return runtimeAnswer{}, err
	}
	select {
	case r.events <- b:
	case <-ctx.Done():
		return runtimeAnswer{}, fmt.Errorf("the function never asked for an event: %w", ctx.Err())
	}
	select {
	case a := <-r.answers:
		return a, nil
	case <-ctx.Done():
		return runtimeAnswer{}, fmt.Errorf("the function never answered: %w", ctx.Err())
	}
}

// envValue returns the value of key in the setup's extra environment.
func (e *env) envValue(key string) string {
	// The last setting wins, as in the commands' environment.
	for i := len(e.extraEnv) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(e.extraEnv[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// TestGatekeeperLambdaBinary runs the gatekeeper Lambda binary as Lambda
// would — through the Runtime API — fed by the request queue as an event
// source mapping would feed it: a request queued by "deployer run" is
// accepted and forwarded, a garbage record is dead-lettered, and neither
// is reported as a batch item failure.
func TestGatekeeperLambdaBinary(t *testing.T) {
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)
	_ = up.cmd.Process.Signal(os.Interrupt)
	up.wait(t, time.Minute)

	rt := startRuntimeAPI(t)
	fn := exec.Command(gatekeeperBin)
	fn.Env = append(append(os.Environ(), e.extraEnv...),
		"DEPLOYER_CONFIG="+e.config, "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.url, "http://"))
	var fnErr bytes.Buffer
	fn.Stderr = &fnErr
	if err := fn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Process.Kill(); _ = fn.Wait() })

	r := e.run("run", "--no-wait", "--", "infra", "hello", "lambda")
	if r.code != 0 {
		t.Fatalf("run --no-wait: exit %d\n%s", r.code, r.stderr)
	}
	jobID := strings.TrimSpace(r.stdout)

	// The event source mapping: receive what is queued, with the system
	// attributes SQS sets (SenderId among them), and hand it over.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := e.sqsClient(t)
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("deployer-requests")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("received %d requests (%v), want 1", len(out.Messages), err)
	}
	m := out.Messages[0]
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Attributes: m.Attributes, EventSource: "aws:sqs", AWSRegion: "us-east-1"},
		{MessageId: "garbage-1", ReceiptHandle: "r", Body: "{not json", EventSource: "aws:sqs",
			Attributes: map[string]string{"SenderId": "AROACIROLE:ci", "ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}},
	}}
	a := rt.invoke(t, ev)
	var resp events.SQSEventResponse
	if a.error || json.Unmarshal(a.body, &resp) != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("answer %s (error %v), want no batch item failures; the function said:\n%s", a.body, a.error, fnErr.String())
	}

	if r := e.run("status", jobID); !strings.Contains(r.stdout, "queued") || !strings.Contains(r.stdout, "ci-deployer") {
		t.Fatalf("status after the Lambda: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("dlq", "list", "--queue", "request"); !strings.Contains(r.stdout+r.stderr, "malformed_request") {
		t.Fatalf("dlq list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A broken allow-list fails the Lambda's init, naming the problem, before
// it takes any event.
func TestGatekeeperLambdaBinaryRefusesABrokenConfiguration(t *testing.T) {
	e := newEnv(t, "containers:\n  x:\n    task_definition: d\n    script_config:\n      s:\n        restricted_options_regex: {--a: \"(\"}\n", nil)
	startAWSFakes(t, e)
	fn := exec.Command(gatekeeperBin)
	fn.Env = append(append(os.Environ(), e.extraEnv...), "DEPLOYER_CONFIG="+e.config, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
	out, err := fn.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "restricted_options_regex") {
		t.Fatalf("exit %v, output:\n%s", err, out)
	}
}

// sqsClient is an SQS client of the fakes the setup points at.
func (e *env) sqsClient(t *testing.T) *sqs.Client {
	t.Helper()
	return sqsClientAt(t, e.envValue("AWS_ENDPOINT_URL"), e.envValue("AWS_ACCESS_KEY_ID"))
}

// sqsClientAt is an SQS client of endpoint signing with access key id key.
func sqsClientAt(t *testing.T, endpoint, key string) *sqs.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key, "test", "")),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(endpoint)
	return sqs.NewFromConfig(cfg)
}

// readStream long-polls a job's stream queue (of a deployment with the
// given prefix) until until accepts an event, and returns every event read.
func readStream(t *testing.T, client *sqs.Client, prefix, jobID string, until func(schemas.JobEvent) bool) []schemas.JobEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(prefix + "job-" + jobID)})
	if err != nil {
		t.Fatal(err)
	}
	var all []schemas.JobEvent
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil {
			t.Fatalf("reading the stream of %s: %v (events so far: %+v)", jobID, err, all)
		}
		done := false
		for _, m := range out.Messages {
			ev, err := schemas.DecodeJobEvent([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, ev)
			done = done || until(ev)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		if done {
			return all
		}
	}
}

// subscriptionEvent is a CloudWatch Logs subscription delivery as Lambda
// receives it: awslogs.data, base64 of gzip of the JSON batch.
func subscriptionEvent(t *testing.T, stream string, lines ...string) events.CloudwatchLogsEvent {
	t.Helper()
	data := events.CloudwatchLogsData{
		Owner: "123456789012", LogGroup: "/deployer-tasks", LogStream: stream, MessageType: "DATA_MESSAGE",
		SubscriptionFilters: []string{"deployer-logshipper"},
	}
	for i, l := range lines {
		data.LogEvents = append(data.LogEvents, events.CloudwatchLogsLogEvent{
			ID: fmt.Sprintf("3729%030d", i+1), Timestamp: time.Now().UnixMilli(), Message: l + "\n",
		})
	}
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: base64.StdEncoding.EncodeToString(gz.Bytes())}}
}

// TestLogshipperLambdaBinary runs the logshipper Lambda binary through the
// Runtime API with a subscription delivery for a task that ran: its lines
// reach the owning job's stream as log events carrying the CloudWatch
// event ids, found through the task's tags.
func TestLogshipperLambdaBinary(t *testing.T) {
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)

	r := e.run("run", "--no-wait", "--", "infra", "hello", "lambda")
	if r.code != 0 {
		t.Fatalf("run --no-wait: exit %d\n%s", r.code, r.stderr)
	}
	jobID := strings.TrimSpace(r.stdout)
	client := e.sqsClient(t)
	var taskID string
	readStream(t, client, "deployer-", jobID, func(ev schemas.JobEvent) bool {
		if ev.TaskID != "" {
			taskID = ev.TaskID
		}
		return ev.Type.Terminal()
	})
	if taskID == "" {
		t.Fatal("no event named the job's task")
	}

	rt := startRuntimeAPI(t)
	fn := exec.Command(logshipperBin)
	fn.Env = append(append(os.Environ(), e.extraEnv...), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.url, "http://"))
	var fnErr bytes.Buffer
	fn.Stderr = &fnErr
	if err := fn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fn.Process.Kill(); _ = fn.Wait() })

	a := rt.invoke(t, subscriptionEvent(t, "deployer/deployer/"+taskID, "hello lambda", "second line"))
	if a.error {
		t.Fatalf("the logshipper failed: %s\n%s", a.body, fnErr.String())
	}
	var got []schemas.LogLine
	readStream(t, client, "deployer-", jobID, func(ev schemas.JobEvent) bool {
		if ev.Type == schemas.EventLog && ev.Source == "logshipper" {
			got = append(got, ev.Lines...)
		}
		return len(got) >= 2
	})
	if got[0].Text != "hello lambda" || got[1].Text != "second line" || got[0].ID == "" || got[0].Seq != 0 {
		t.Fatalf("shipped lines %+v", got)
	}
}
