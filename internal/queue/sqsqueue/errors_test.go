package sqsqueue_test

import (
	"crypto/md5" //nolint:gosec // SQS's checksums are MD5
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqsqueue"
	"github.com/deployerhq/deployer/test/awsfake"
)

// canned is an SQS endpoint that answers each operation with a fixed
// response in AWS's JSON shapes.
type canned struct {
	t   *testing.T
	url string

	mu      sync.Mutex
	answers map[string]answer // by operation ("GetQueueUrl")
	bodies  map[string][]string
}

// answer is one canned HTTP response.
type answer struct {
	status  int
	headers map[string]string
	body    string
}

func newCanned(t *testing.T) *canned {
	c := &canned{t: t, answers: map[string]answer{}, bodies: map[string][]string{}}
	ts := httptest.NewServer(c)
	t.Cleanup(ts.Close)
	c.url = ts.URL
	// Every queue exists unless a test says otherwise.
	c.set("GetQueueUrl", http.StatusOK, nil, fmt.Sprintf(`{"QueueUrl":%q}`, c.queueURL("q")))
	return c
}

func (c *canned) queueURL(name string) string { return c.url + "/123456789012/" + prefix + name }

func (c *canned) set(op string, status int, headers map[string]string, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[op] = answer{status, headers, body}
}

// sqsError sets op to answer an SQS error: the awsJson1_0 __type, and,
// when queryCode is not "", the awsQueryCompatible header.
func (c *canned) sqsError(op string, status int, typ, queryCode, msg string) {
	h := map[string]string{}
	if queryCode != "" {
		h["X-Amzn-Query-Error"] = queryCode + ";Sender"
	}
	c.set(op, status, h, fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg))
}

func (c *canned) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	a, ok := c.answers[op]
	c.bodies[op] = append(c.bodies[op], string(body))
	c.mu.Unlock()
	if !ok {
		c.t.Errorf("unexpected call %s", op)
		a = answer{status: http.StatusBadRequest, body: `{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"not canned"}`}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "canned")
	for k, v := range a.headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// calls returns the request bodies op received.
func (c *canned) calls(op string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies[op]...)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // SQS's checksum
	return hex.EncodeToString(sum[:])
}

func TestQueueDoesNotExistMapsToNotFound(t *testing.T) {
	const msg = "The specified queue does not exist."
	for _, tc := range []struct {
		name, typ, queryCode string
	}{
		// What SQS sends: the shape in __type, the legacy code in the
		// header; the SDK reports the latter as the code.
		{"json shape with query code", "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"},
		// Without the header (emulators): the shape's code.
		{"json shape only", "com.amazonaws.sqs#QueueDoesNotExist", ""},
		// The legacy code in __type: a generic API error.
		{"query code only", "AWS.SimpleQueueService.NonExistentQueue", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanned(t)
			c.sqsError("GetQueueUrl", http.StatusBadRequest, tc.typ, tc.queryCode, msg)
			b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
			_, err := b.Open(t.Context(), "q")
			if !errors.Is(err, queue.ErrNotFound) {
				t.Fatalf("Open = %v, want queue.ErrNotFound", err)
			}
			if err := b.Delete(t.Context(), "q"); !errors.Is(err, queue.ErrNotFound) {
				t.Errorf("Delete = %v, want queue.ErrNotFound", err)
			}
			if _, err := b.Tags(t.Context(), "q"); !errors.Is(err, queue.ErrNotFound) {
				t.Errorf("Tags = %v, want queue.ErrNotFound", err)
			}
			var qe *types.QueueDoesNotExist
			if tc.typ != "AWS.SimpleQueueService.NonExistentQueue" && !errors.As(err, &qe) {
				t.Errorf("Open = %v, want the SDK's *types.QueueDoesNotExist wrapped too", err)
			}
		})
	}
}

func TestURLCacheDroppedWhenQueueGone(t *testing.T) {
	c := newCanned(t)
	b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
	q, err := b.Open(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	c.set("ReceiveMessage", http.StatusOK, nil, `{}`)
	for range 3 {
		if _, err := q.Receive(t.Context(), queue.ReceiveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.calls("GetQueueUrl")); n != 1 {
		t.Fatalf("GetQueueUrl called %d times for one queue, want 1 (cached)", n)
	}
	c.sqsError("ReceiveMessage", http.StatusBadRequest, "com.amazonaws.sqs#QueueDoesNotExist",
		"AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
	if _, err := q.Receive(t.Context(), queue.ReceiveOptions{}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Receive from a deleted queue = %v, want queue.ErrNotFound", err)
	}
	c.set("ReceiveMessage", http.StatusOK, nil, `{}`)
	if _, err := q.Receive(t.Context(), queue.ReceiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.calls("GetQueueUrl")); n != 2 {
		t.Errorf("GetQueueUrl called %d times, want 2: the URL looked up again after QueueDoesNotExist", n)
	}
}

// TestThrottlingRetriedThenErrThrottled throttles every SendMessageBatch
// through the fake's hook: the SDK retryer tries awstest's 5 times, then
// Send fails with queue.ErrThrottled.
func TestThrottlingRetriedThenErrThrottled(t *testing.T) {
	var throttle atomic.Int32 // how many more SendMessageBatch calls to throttle
	srv := &awsfake.Server{Hook: func(target string, _ []byte) error {
		if target == "AmazonSQS.SendMessageBatch" && throttle.Add(-1) >= 0 {
			return &awsfake.Error{Status: http.StatusBadRequest, Code: "ThrottlingException", Message: "Rate exceeded"}
		}
		return nil
	}}
	_, endpoint := startFake(t, srv)
	counter := &awsx.CountingTransport{}
	b := sqsqueue.New(client(t, endpoint, &http.Client{Transport: counter, Timeout: time.Minute}), sqsqueue.Options{Prefix: prefix})
	q, err := b.Create(t.Context(), "throttled", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}

	throttle.Store(1000)
	_, err = q.Send(t.Context(), queue.Outgoing{Body: []byte("x")})
	if !errors.Is(err, queue.ErrThrottled) {
		t.Fatalf("Send = %v, want queue.ErrThrottled", err)
	}
	if n := counter.Total("sqs:SendMessageBatch"); n != 5 {
		t.Errorf("SendMessageBatch tried %d times, want 5 (awstest's MaxAttempts)", n)
	}

	// Throttled twice, then let through: the retryer hides it.
	counter.Reset()
	throttle.Store(2)
	if _, err := q.Send(t.Context(), queue.Outgoing{Body: []byte("y")}); err != nil {
		t.Fatalf("Send after two throttles = %v, want success", err)
	}
	if n := counter.Total("sqs:SendMessageBatch"); n != 3 {
		t.Errorf("SendMessageBatch tried %d times, want 3", n)
	}
}

func TestRequestThrottledMapsToErrThrottled(t *testing.T) {
	c := newCanned(t)
	// SQS's modelled throttling error (403, query code RequestThrottled).
	c.sqsError("ReceiveMessage", http.StatusForbidden, "com.amazonaws.sqs#RequestThrottled", "RequestThrottled", "Request is throttled.")
	b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
	q, err := b.Open(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Receive(t.Context(), queue.ReceiveOptions{}); !errors.Is(err, queue.ErrThrottled) {
		t.Fatalf("Receive = %v, want queue.ErrThrottled", err)
	}
	if n := len(c.calls("ReceiveMessage")); n != 5 {
		t.Errorf("ReceiveMessage tried %d times, want 5", n)
	}
}

func TestSendBatchPartialFailure(t *testing.T) {
	c := newCanned(t)
	bodies := []string{"zero", "one", "two", "three"}
	// AWS's SendMessageBatchResult: entries 1 and 3 failed.
	c.set("SendMessageBatch", http.StatusOK, nil, fmt.Sprintf(`{
		"Successful": [
			{"Id": "2", "MessageId": "id-2", "MD5OfMessageBody": %q},
			{"Id": "0", "MessageId": "id-0", "MD5OfMessageBody": %q}
		],
		"Failed": [
			{"Id": "1", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes."},
			{"Id": "3", "SenderFault": false, "Code": "InternalError", "Message": "We encountered an internal error. Please try again."}
		]
	}`, md5Hex(bodies[2]), md5Hex(bodies[0])))
	b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
	q, err := b.Open(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]queue.Outgoing, len(bodies))
	for i, s := range bodies {
		out[i] = queue.Outgoing{Body: []byte(s), Attributes: map[string]string{"i": fmt.Sprint(i)}}
	}
	ids, err := q.Send(t.Context(), out...)
	var be *queue.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Send = %v, want a *queue.BatchError", err)
	}
	if want := []string{"id-0", "", "id-2", ""}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("ids = %q, want %q", ids, want)
	}
	if len(be.Failed) != 2 {
		t.Errorf("Failed = %v, want entries 1 and 3", be.Failed)
	}
	if !errors.Is(be.Failed[1], queue.ErrTooLarge) {
		t.Errorf("entry 1: %v, want queue.ErrTooLarge", be.Failed[1])
	}
	if be.Failed[3] == nil || errors.Is(be.Failed[3], queue.ErrInvalid) || errors.Is(be.Failed[3], queue.ErrTooLarge) {
		t.Errorf("entry 3: %v, want an error that is no client error of the port", be.Failed[3])
	}

	// What went out: ids by position, String attributes.
	var in struct {
		Entries []struct {
			Id                string //nolint:revive // the SQS field name
			MessageBody       string
			MessageAttributes map[string]struct{ DataType, StringValue string }
		}
	}
	if err := json.Unmarshal([]byte(c.calls("SendMessageBatch")[0]), &in); err != nil {
		t.Fatal(err)
	}
	for i, e := range in.Entries {
		a := e.MessageAttributes["i"]
		if e.Id != fmt.Sprint(i) || e.MessageBody != bodies[i] || a.DataType != "String" || a.StringValue != fmt.Sprint(i) {
			t.Errorf("entry %d sent as %+v", i, e)
		}
	}
}

func TestDeleteBatchInvalidReceipt(t *testing.T) {
	c := newCanned(t)
	// AWS's DeleteMessageBatchResult with one malformed receipt.
	c.set("DeleteMessageBatch", http.StatusOK, nil, `{
		"Successful": [{"Id": "0"}, {"Id": "2"}],
		"Failed": [{"Id": "1", "SenderFault": true, "Code": "ReceiptHandleIsInvalid",
			"Message": "The input receipt handle \"bogus\" is not a valid receipt handle."}]
	}`)
	b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
	q, err := b.Open(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	err = q.Delete(t.Context(), "r0", "bogus", "r2", "r0")
	var be *queue.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Delete = %v, want a *queue.BatchError", err)
	}
	if !errors.Is(err, queue.ErrInvalidReceipt) || !errors.Is(be.Failed[1], queue.ErrInvalidReceipt) {
		t.Errorf("Delete = %v, want entry 1 queue.ErrInvalidReceipt", err)
	}
	if len(be.Failed) != 1 {
		t.Errorf("Failed = %v, want only entry 1", be.Failed)
	}
	// The repeated receipt went out once.
	var in struct {
		Entries []struct {
			Id            string //nolint:revive // the SQS field name
			ReceiptHandle string
		}
	}
	if err := json.Unmarshal([]byte(c.calls("DeleteMessageBatch")[0]), &in); err != nil {
		t.Fatal(err)
	}
	if len(in.Entries) != 3 {
		t.Errorf("sent %d entries, want 3 distinct receipts: %+v", len(in.Entries), in.Entries)
	}
}

func TestChangeVisibilityReceiptErrors(t *testing.T) {
	for _, tc := range []struct {
		name, typ, queryCode, msg string
		status                    int
		want                      error
	}{
		{"ReceiptHandleIsInvalid", "com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
			`The input receipt handle "x" is not a valid receipt handle.`, http.StatusNotFound, queue.ErrInvalidReceipt},
		{"MessageNotInflight", "com.amazonaws.sqs#MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
			"The message referred to isn't in flight.", http.StatusBadRequest, queue.ErrInvalidReceipt},
		{"receipt expired", "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue",
			"Value x for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.", http.StatusBadRequest, queue.ErrInvalidReceipt},
		{"other invalid parameter", "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue",
			"Value 50000 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]",
			http.StatusBadRequest, queue.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanned(t)
			c.sqsError("ChangeMessageVisibility", tc.status, tc.typ, tc.queryCode, tc.msg)
			b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
			q, err := b.Open(t.Context(), "q")
			if err != nil {
				t.Fatal(err)
			}
			err = q.ChangeVisibility(t.Context(), "x", time.Minute)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ChangeVisibility = %v, want %v", err, tc.want)
			}
			if !errors.Is(tc.want, queue.ErrInvalidReceipt) && errors.Is(err, queue.ErrInvalidReceipt) {
				t.Errorf("ChangeVisibility = %v, also ErrInvalidReceipt", err)
			}
		})
	}
}

// TestAccessDeniedMapsToErrDenied: IAM's refusal, in the spellings SQS
// and KMS give it, is queue.ErrDenied, with the SDK's error and the call
// named.
func TestAccessDeniedMapsToErrDenied(t *testing.T) {
	for _, tc := range []struct{ name, typ, queryCode string }{
		{"json shape with query code", "com.amazon.coral.service#AccessDeniedException", "AccessDenied"},
		{"json shape only", "com.amazon.coral.service#AccessDeniedException", ""},
		{"kms", "com.amazonaws.sqs#KmsAccessDenied", "KMS.AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanned(t)
			c.sqsError("GetQueueUrl", http.StatusForbidden, tc.typ, tc.queryCode,
				"User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to perform: sqs:getqueueurl on resource: arn:aws:sqs:us-east-1:123456789012:"+prefix+"q")
			b := sqsqueue.New(client(t, c.url, nil), sqsqueue.Options{Prefix: prefix})
			_, err := b.Open(t.Context(), "q")
			if !errors.Is(err, queue.ErrDenied) || errors.Is(err, queue.ErrNotFound) || !strings.Contains(err.Error(), "opening queue q") {
				t.Fatalf("Open = %v, want queue.ErrDenied naming the call", err)
			}
		})
	}
}
