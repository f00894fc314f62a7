package sqsfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
)

// testKey is the access key id awstest.Config signs with.
const testKey = "AKIDTESTTESTTESTTEST"

func newClient(t *testing.T, endpoint string) *sqs.Client {
	t.Helper()
	return sqs.NewFromConfig(awstest.Config(t, endpoint, nil))
}

// clientWithKey returns a client signing with access key id akid.
func clientWithKey(t *testing.T, endpoint, akid string) *sqs.Client {
	t.Helper()
	cfg, err := awsx.Load(t.Context(), awsx.Options{
		Region:            "us-east-1",
		HTTPClient:        &http.Client{Timeout: time.Minute},
		StaticCredentials: &awsx.Credentials{AccessKeyID: akid, SecretAccessKey: "secret"},
		Retry:             awsx.RetryPolicy{MaxAttempts: 2, Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(endpoint)
	return sqs.NewFromConfig(cfg)
}

func createQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestErrorWireFormat(t *testing.T) {
	endpoint := sqsfake.Start(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/",
		strings.NewReader(`{"QueueName":"missing"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var e map[string]string
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if resp.StatusCode != http.StatusBadRequest ||
		resp.Header.Get("X-Amzn-Query-Error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" ||
		resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
		e["__type"] != "com.amazonaws.sqs#QueueDoesNotExist" || e["message"] == "" {
		t.Errorf("answer %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// Through the SDK: the modelled type, with the query code.
	_, err = newClient(t, endpoint).GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
	var qe *types.QueueDoesNotExist
	if !errors.As(err, &qe) || code(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Errorf("GetQueueUrl of a missing queue: %v (code %q)", err, code(err))
	}
}

func TestSenderIDFromSignature(t *testing.T) {
	srv := &awsfake.Server{}
	_, endpoint := sqsfake.StartWith(t, sqsfake.Options{Senders: map[string]string{testKey: "AIDAMAPPED"}}, srv)
	mapped := newClient(t, endpoint)
	other := clientWithKey(t, endpoint, "AKIDOTHER")
	u := createQueue(t, mapped, "senders", nil)
	for _, c := range []*sqs.Client{mapped, other} {
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("hi")}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := other.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl: &u, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSenderId},
	})
	if err != nil {
		t.Fatal(err)
	}
	var senders []string
	for _, m := range out.Messages {
		senders = append(senders, m.Attributes["SenderId"])
	}
	slices.Sort(senders)
	if want := []string{"AIDAMAPPED", "AKIDOTHER"}; !slices.Equal(senders, want) {
		t.Errorf("SenderIds %v, want %v (mapped, and an unmapped key id as itself)", senders, want)
	}
}

func TestCreateQueueExisting(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	u := createQueue(t, c, "q", map[string]string{"VisibilityTimeout": "60"})
	if again := createQueue(t, c, "q", map[string]string{"VisibilityTimeout": "60"}); again != u {
		t.Errorf("CreateQueue with the same attributes: %s, want %s", again, u)
	}
	_, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "30"}})
	var qe *types.QueueNameExists
	if !errors.As(err, &qe) || code(err) != "QueueAlreadyExists" {
		t.Errorf("CreateQueue with other attributes: %v (code %q), want QueueNameExists/QueueAlreadyExists", err, code(err))
	}
	for _, name := range []string{"has space", "q.fifo", strings.Repeat("x", 81)} {
		if _, err := c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name)}); code(err) != "InvalidParameterValue" {
			t.Errorf("CreateQueue(%q): %v, want InvalidParameterValue", name, err)
		}
	}
	_, err = c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String("r"), Attributes: map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":3}`,
	}})
	if code(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "Dead letter target does not exist") {
		t.Errorf("CreateQueue with a missing dead-letter target: %v", err)
	}
}

func TestQueueAttributesAndList(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	dlq := createQueue(t, c, "app-dlq", nil)
	u := createQueue(t, c, "app-main", map[string]string{
		"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:app-dlq","maxReceiveCount":"2"}`,
	})
	createQueue(t, c, "zzz", nil)
	for range 3 {
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("later"), DelaySeconds: 600}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &u, VisibilityTimeout: 600}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: &u,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Attributes
	want := map[string]string{
		"QueueArn":                              "arn:aws:sqs:us-east-1:123456789012:app-main",
		"RedrivePolicy":                         `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:app-dlq","maxReceiveCount":2}`,
		"VisibilityTimeout":                     "30",
		"MessageRetentionPeriod":                "345600",
		"ApproximateNumberOfMessages":           "2",
		"ApproximateNumberOfMessagesNotVisible": "1",
		"ApproximateNumberOfMessagesDelayed":    "1",
	}
	for k, v := range want {
		if a[k] != v {
			t.Errorf("%s = %q, want %q", k, a[k], v)
		}
	}
	if a["CreatedTimestamp"] == "" {
		t.Errorf("no CreatedTimestamp in %v", a)
	}
	_, err = c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: &dlq, AttributeNames: []types.QueueAttributeName{"Bogus"}})
	if code(err) != "InvalidAttributeName" {
		t.Errorf("GetQueueAttributes(Bogus): %v, want InvalidAttributeName", err)
	}

	// ListQueues pages with MaxResults and filters by prefix.
	var urls []string
	p := sqs.NewListQueuesPaginator(c, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("app-"), MaxResults: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		urls = append(urls, page.QueueUrls...)
	}
	if want := []string{dlq, u}; !slices.Equal(urls, want) || pages != 2 {
		t.Errorf("ListQueues(app-) in %d pages: %v, want %v in 2", pages, urls, want)
	}
}

func TestReceipts(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	u := createQueue(t, c, "q", nil)
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	receive := func() types.Message {
		t.Helper()
		out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 1, VisibilityTimeout: 600})
		if err != nil || len(out.Messages) != 1 {
			t.Fatalf("ReceiveMessage: %v, %d messages", err, len(out.Messages))
		}
		return out.Messages[0]
	}
	first := receive()
	if _, err := c.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: first.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	second := receive()

	// A stale receipt: DeleteMessage succeeds and deletes nothing.
	if _, err := c.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: first.ReceiptHandle}); err != nil {
		t.Fatalf("DeleteMessage with a stale receipt: %v", err)
	}
	_, err := c.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: first.ReceiptHandle, VisibilityTimeout: 5})
	if code(err) != "InvalidParameterValue" || !strings.Contains(err.Error(), "ReceiptHandle") {
		t.Errorf("ChangeMessageVisibility with a stale receipt: %v", err)
	}
	_, err = c.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: aws.String("not-a-receipt")})
	var rie *types.ReceiptHandleIsInvalid
	if !errors.As(err, &rie) {
		t.Errorf("DeleteMessage with a malformed receipt: %v, want ReceiptHandleIsInvalid", err)
	}
	out, err := c.DeleteMessageBatch(t.Context(), &sqs.DeleteMessageBatchInput{QueueUrl: &u, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: aws.String("bogus")},
		{Id: aws.String("b"), ReceiptHandle: second.ReceiptHandle},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failed) != 1 || aws.ToString(out.Failed[0].Id) != "a" || aws.ToString(out.Failed[0].Code) != "ReceiptHandleIsInvalid" ||
		!out.Failed[0].SenderFault || len(out.Successful) != 1 || aws.ToString(out.Successful[0].Id) != "b" {
		t.Errorf("DeleteMessageBatch: %+v", out)
	}
	if _, err := c.ChangeMessageVisibility(t.Context(), &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: second.ReceiptHandle}); err == nil {
		t.Errorf("ChangeMessageVisibility of a deleted message succeeded")
	}
}

func TestSendMessageBatchValidation(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	u := createQueue(t, c, "q", nil)
	entry := func(id, body string) types.SendMessageBatchRequestEntry {
		return types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
	}
	out, err := c.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: []types.SendMessageBatchRequestEntry{
		entry("ok", "fine"),
		entry("nul", "a\x00b"),
		{Id: aws.String("attr"), MessageBody: aws.String("x"), MessageAttributes: map[string]types.MessageAttributeValue{
			"AWS.reserved": {DataType: aws.String("String"), StringValue: aws.String("v")},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, f := range out.Failed {
		failed[aws.ToString(f.Id)] = aws.ToString(f.Code)
	}
	if len(out.Successful) != 1 || failed["nul"] != "InvalidMessageContents" || failed["attr"] != "InvalidParameterValue" {
		t.Errorf("SendMessageBatch: successful %+v, failed %v", out.Successful, failed)
	}
	for _, tc := range []struct {
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{
		{[]types.SendMessageBatchRequestEntry{}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{[]types.SendMessageBatchRequestEntry{entry("a", "x"), entry("a", "y")}, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{[]types.SendMessageBatchRequestEntry{entry("a b", "x")}, "AWS.SimpleQueueService.InvalidBatchEntryId"},
		{slices.Repeat([]types.SendMessageBatchRequestEntry{entry("a", "x")}, 11), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
	} {
		for i := range tc.entries {
			if len(tc.entries) == 11 {
				tc.entries[i].Id = aws.String(string(rune('a' + i)))
			}
		}
		_, err := c.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: tc.entries})
		if code(err) != tc.code {
			t.Errorf("SendMessageBatch of %d entries: %v, want %s", len(tc.entries), err, tc.code)
		}
	}
}

func TestMessageAttributeTypes(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	u := createQueue(t, c, "q", nil)
	attrs := map[string]types.MessageAttributeValue{
		"s": {DataType: aws.String("String"), StringValue: aws.String("text")},
		"n": {DataType: aws.String("Number.int"), StringValue: aws.String("42")},
		"b": {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 0xff}},
	}
	sent, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("typed"), MessageAttributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	m := out.Messages[0]
	if aws.ToString(m.MD5OfMessageAttributes) != aws.ToString(sent.MD5OfMessageAttributes) || aws.ToString(m.MD5OfMessageAttributes) == "" {
		t.Errorf("MD5OfMessageAttributes %q on receive, %q on send", aws.ToString(m.MD5OfMessageAttributes), aws.ToString(sent.MD5OfMessageAttributes))
	}
	got := m.MessageAttributes
	if aws.ToString(got["s"].StringValue) != "text" || aws.ToString(got["n"].DataType) != "Number.int" ||
		aws.ToString(got["n"].StringValue) != "42" || string(got["b"].BinaryValue) != "\x00\x01\x02\xff" {
		t.Errorf("attributes came back as %+v", got)
	}
}

func TestPurgeQueue(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	u := createQueue(t, c, "q", nil)
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeQueue(t.Context(), &sqs.PurgeQueueInput{QueueUrl: &u}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &u})
	if err != nil || len(out.Messages) != 0 {
		t.Errorf("ReceiveMessage after PurgeQueue: %v, %d messages", err, len(out.Messages))
	}
	_, err = c.PurgeQueue(t.Context(), &sqs.PurgeQueueInput{QueueUrl: &u})
	var pe *types.PurgeQueueInProgress
	if !errors.As(err, &pe) {
		t.Errorf("second PurgeQueue within 60s: %v, want PurgeQueueInProgress", err)
	}
}

// TestHookInjectsFaults shows fault injection through the server's hook:
// ReceiveMessage throttled once, which the SDK's retryer absorbs.
func TestHookInjectsFaults(t *testing.T) {
	var calls, throttled atomic.Int32
	throttled.Store(1)
	srv := &awsfake.Server{Hook: func(target string, _ []byte) error {
		if target != "AmazonSQS.ReceiveMessage" {
			return nil
		}
		calls.Add(1)
		if throttled.Add(-1) >= 0 {
			return &awsfake.Error{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
		}
		return nil
	}}
	_, endpoint := sqsfake.StartWith(t, sqsfake.Options{}, srv)
	c := newClient(t, endpoint)
	u := createQueue(t, c, "q", nil)
	if _, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &u}); err != nil {
		t.Fatalf("ReceiveMessage throttled once: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("ReceiveMessage reached the server %d times, want 2", n)
	}
}

func TestLongPollCancelledByClient(t *testing.T) {
	c := newClient(t, sqsfake.Start(t))
	u := createQueue(t, c, "q", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 20})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReceiveMessage past its deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ReceiveMessage returned %s after a 200ms deadline", d)
	}
}
