package test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
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

// environ is the environment of the setup's processes other than deployer
// (Lambdas, workers): the test's own plus the setup's.
func (e *env) environ(extra ...string) []string {
	return append(append(append(os.Environ(), "DEPLOYER_CONFIG=", "DEPLOYER_STATE_DIR="), e.extraEnv...), extra...)
}

// TestGatekeeperLambdaBinary runs the gatekeeper's Lambda package under
// the Lambda Runtime Interface Emulator, fed by the request queue as an
// event source mapping feeds it: a request queued by "deployer run" is
// accepted and forwarded, a garbage record is dead-lettered, and neither
// is reported as a batch item failure.
func TestGatekeeperLambdaBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	up := e.start("up", "--provision")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment`), time.Minute)
	_ = up.cmd.Process.Signal(os.Interrupt)
	up.wait(t, time.Minute)

	fn := startLambda(t, "deployer-gatekeeper", gatekeeperPkg, e.environ("DEPLOYER_CONFIG="+e.config))

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
	out, err := client.ReceiveMessage(ctx, receiveBatch(url.QueueUrl, 5))
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("received %d requests (%v), want 1", len(out.Messages), err)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		sqsRecord(out.Messages[0], "deployer-requests"),
		{MessageId: "garbage-1", ReceiptHandle: "r", Body: "{not json", EventSource: "aws:sqs", AWSRegion: "us-east-1",
			Attributes: map[string]string{"SenderId": "AROACIROLE:ci", "ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"}},
	}}
	body, err := fn.invoke(ctx, ev)
	var resp events.SQSEventResponse
	if err != nil || json.Unmarshal(body, &resp) != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("answer %s (%v), want no batch item failures; the function said:\n%s", body, err, fn.output())
	}

	if r := e.run("status", jobID); !strings.Contains(r.stdout, "queued") || !strings.Contains(r.stdout, "ci-deployer") {
		t.Fatalf("status after the Lambda: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := e.run("dlq", "list", "--queue", "request"); !strings.Contains(r.stdout+r.stderr, "malformed_request") {
		t.Fatalf("dlq list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// A broken allow-list fails the Lambda's init, naming the problem, and
// the invocation with it: the emulator answers 502, as Lambda answers
// Runtime.ExitError, and the event is not handled.
func TestGatekeeperLambdaBinaryRefusesABrokenConfiguration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "containers:\n  x:\n    task_definition: d\n    script_config:\n      s:\n        restricted_options_regex: {--a: \"(\"}\n", nil)
	startAWSFakes(t, e)
	fn := startLambda(t, "deployer-gatekeeper", gatekeeperPkg, e.environ("DEPLOYER_CONFIG="+e.config))
	_, err := fn.invoke(t.Context(), events.SQSEvent{})
	var le *lambdaError
	if !errors.As(err, &le) || le.Status != http.StatusBadGateway {
		t.Fatalf("invocation: %v, want a failed init (HTTP 502); the function said:\n%s", err, fn.output())
	}
	if !fn.out.waitFor(30*time.Second, "gatekeeper: init: ", "restricted_options_regex") {
		t.Fatalf("the function's output does not name the problem:\n%s", fn.output())
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

// receiveBatch is the ReceiveMessage of an SQS event source mapping: up
// to 10 messages, with every system attribute (SenderId among them) and
// message attribute.
func receiveBatch(queueURL *string, wait int32) *sqs.ReceiveMessageInput {
	return &sqs.ReceiveMessageInput{
		QueueUrl: queueURL, MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	}
}

// sqsRecord is a received message as an SQS event source mapping hands
// it to Lambda.
func sqsRecord(m sqstypes.Message, queue string) events.SQSMessage {
	r := events.SQSMessage{
		MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		Md5OfBody: aws.ToString(m.MD5OfBody), Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes: m.Attributes, MessageAttributes: map[string]events.SQSMessageAttribute{},
		EventSource: "aws:sqs", EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:" + queue, AWSRegion: "us-east-1",
	}
	for k, v := range m.MessageAttributes {
		r.MessageAttributes[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue,
			StringListValues: v.StringListValues, BinaryListValues: v.BinaryListValues, DataType: aws.ToString(v.DataType)}
	}
	return r
}

// eventSourceMapping does what Lambda's SQS event source mapping with
// ReportBatchItemFailures does for the gatekeeper: it long-polls the
// request queue, hands each batch to the function and deletes the
// messages the function did not report as failed. A failed invocation is
// an error: the gatekeeper reports what it retries, it never fails a
// batch.
func eventSourceMapping(ctx context.Context, client *sqs.Client, queue string, fn lambdaInvoker) error {
	u, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		out, err := client.ReceiveMessage(ctx, receiveBatch(u.QueueUrl, 1))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(out.Messages) == 0 {
			continue
		}
		var ev events.SQSEvent
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, sqsRecord(m, queue))
		}
		body, err := fn.invoke(ctx, ev)
		if ctx.Err() != nil {
			return nil
		}
		var resp events.SQSEventResponse
		if err != nil || json.Unmarshal(body, &resp) != nil {
			return fmt.Errorf("the function failed the batch: %s (%w)", body, err)
		}
		for _, m := range out.Messages {
			if slices.ContainsFunc(resp.BatchItemFailures, func(f events.SQSBatchItemFailure) bool { return f.ItemIdentifier == aws.ToString(m.MessageId) }) {
				continue
			}
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: u.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
	return nil
}

// subscriptionEvent is a CloudWatch Logs subscription delivery as Lambda
// receives it: awslogs.data, base64 of gzip of the JSON document.
func subscriptionEvent(data events.CloudwatchLogsData) events.CloudwatchLogsEvent {
	raw, _ := json.Marshal(data) // a struct of strings and numbers
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw) // writes to memory do not fail
	_ = w.Close()
	return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: base64.StdEncoding.EncodeToString(gz.Bytes())}}
}

// dataMessage is the DATA_MESSAGE a subscription filter delivers for
// events of one log stream.
func dataMessage(group, stream string, evs ...events.CloudwatchLogsLogEvent) events.CloudwatchLogsData {
	return events.CloudwatchLogsData{
		Owner: "123456789012", LogGroup: group, LogStream: stream, MessageType: "DATA_MESSAGE",
		SubscriptionFilters: []string{"deployer-logshipper"}, LogEvents: evs,
	}
}

// controlMessage is the CONTROL_MESSAGE CloudWatch Logs sends to check
// that a subscription's destination is reachable.
func controlMessage(at time.Time) events.CloudwatchLogsData {
	return events.CloudwatchLogsData{
		Owner: "CloudwatchLogs", MessageType: "CONTROL_MESSAGE", SubscriptionFilters: []string{},
		LogEvents: []events.CloudwatchLogsLogEvent{{ID: "", Timestamp: at.UnixMilli(), Message: "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}},
	}
}

// cloudWatchEventID is an id of the shape CloudWatch Logs gives events (56
// digits) for the n-th event of a stream, at ts.
func cloudWatchEventID(ts int64, n int) string { return fmt.Sprintf("%020d%036d", ts, n) }

// lineString shows a shipped line, for comparisons.
func lineString(l schemas.LogLine) string {
	s := fmt.Sprintf("seq=%d part=%d more=%v id=%s time=%s text=%q", l.Seq, l.Part, l.More, l.ID, l.Time.UTC().Format(time.RFC3339Nano), l.Text)
	if l.End != nil {
		code := "none"
		if l.End.ExitCode != nil {
			code = fmt.Sprint(*l.End.ExitCode)
		}
		s += fmt.Sprintf(" end={lines=%d exit_code=%s reason=%q}", l.End.Lines, code, l.End.Reason)
	}
	return s
}

// TestLogshipperLambdaBinary runs the logshipper's Lambda package under
// the Lambda Runtime Interface Emulator with subscription deliveries for
// a task that ran: a CONTROL_MESSAGE is answered and ships nothing; a
// DATA_MESSAGE's task records (a line, a line in two parts, the end
// record), in any order, reach the owning job's stream — found through
// the task's tags — as lines with the records' sequence numbers, parts
// and texts and the CloudWatch event ids; an event that is not a record
// ships as an unsequenced line identified by its event id.
func TestLogshipperLambdaBinary(t *testing.T) {
	t.Parallel()
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
	// From here on only the Lambda ships lines.
	_ = up.cmd.Process.Signal(os.Interrupt)
	up.wait(t, time.Minute)

	fn := startLambda(t, "deployer-logshipper", logshipperPkg, e.environ())
	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, err := fn.invoke(t.Context(), subscriptionEvent(controlMessage(now))); err != nil {
		t.Fatalf("the logshipper failed a control message: %v\n%s", err, fn.output())
	}

	zero := 0
	records := []schemas.TaskRecord{
		{Seq: 3, Time: now, End: &schemas.LogEnd{Lines: 2, ExitCode: &zero}},
		{Seq: 2, Part: 2, Time: now, Text: "in two parts"},
		{Seq: 1, Time: now, Text: "hello lambda"},
		{Seq: 2, Part: 1, More: true, Time: now, Text: "a \"long\" line, ünïcode, "},
	}
	var evs []events.CloudwatchLogsLogEvent
	var want []string
	for i, rec := range records {
		rec.JobID, rec.Attempt = jobID, 1
		b, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		id := cloudWatchEventID(now.UnixMilli(), i)
		evs = append(evs, events.CloudwatchLogsLogEvent{ID: id, Timestamp: now.UnixMilli(), Message: string(b)})
		l := rec.Line()
		l.ID = id
		want = append(want, lineString(l))
	}
	plain := events.CloudwatchLogsLogEvent{ID: cloudWatchEventID(now.UnixMilli(), 9), Timestamp: now.UnixMilli(), Message: "not a record"}
	evs = append(evs, plain)
	want = append(want, lineString(schemas.LogLine{ID: plain.ID, Time: now, Text: "not a record"}))
	sort.Strings(want)

	if _, err := fn.invoke(t.Context(), subscriptionEvent(dataMessage("/deployer-tasks", "deployer/deployer/"+taskID, evs...))); err != nil {
		t.Fatalf("the logshipper failed: %v\n%s", err, fn.output())
	}
	var got []string
	readStream(t, client, "deployer-", jobID, func(ev schemas.JobEvent) bool {
		if ev.Type == schemas.EventLog && ev.Source == "logshipper" {
			for _, l := range ev.Lines {
				got = append(got, lineString(l))
			}
		}
		return len(got) >= len(want)
	})
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("shipped lines:\n%s\nwant:\n%s\nthe function said:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), fn.output())
	}
}

// A look-up a retry can fix (the task's owner, from ECS) fails the
// invocation, so that Lambda retries it: the emulator answers the
// handler's error as the body of a 200.
func TestLogshipperLambdaBinaryFailsWhatARetryCanFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsConfig, awsScripts)
	startAWSFakes(t, e)
	closed, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	fn := startLambda(t, "deployer-logshipper", logshipperPkg, e.environ("AWS_ENDPOINT_URL_ECS=http://"+closed, "AWS_MAX_ATTEMPTS=1"))
	ev := events.CloudwatchLogsLogEvent{ID: cloudWatchEventID(1, 1), Timestamp: time.Now().UnixMilli(), Message: "a line"}
	_, err = fn.invoke(t.Context(), subscriptionEvent(dataMessage("/deployer-tasks", "deployer/deployer/0123456789abcdef0123456789abcdef", ev)))
	var le *lambdaError
	if !errors.As(err, &le) || le.Status != http.StatusOK || !strings.Contains(le.Message, "0123456789abcdef0123456789abcdef") {
		t.Fatalf("invocation: %v, want the handler's error naming the task; the function said:\n%s", err, fn.output())
	}
}
