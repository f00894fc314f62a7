package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/deployerhq/deployer/internal/queue"
)

// Options configure a Broker. The zero value is ready to use.
type Options struct {
	// Prefix is put before every queue name on AWS (a deployment prefix,
	// e.g. "deployer-"). Names through the port never carry it.
	Prefix string
}

// Broker is the SQS queue adapter. It is safe for concurrent use.
type Broker struct {
	client *sqs.Client
	opts   Options

	mu   sync.Mutex
	urls map[string]string // queue URLs by unprefixed name
}

// Queue is a handle on one queue of a Broker. It is safe for concurrent
// use; it holds no state but the name (the Broker caches the URL).
type Queue struct {
	b    *Broker
	name string
}

var (
	_ queue.Broker = (*Broker)(nil)
	_ queue.Queue  = (*Queue)(nil)
)

// New returns a broker calling SQS through client.
func New(client *sqs.Client, opts Options) *Broker {
	return &Broker{client: client, opts: opts, urls: map[string]string{}}
}

func (b *Broker) full(name string) string { return b.opts.Prefix + name }

// validName reports whether name, and with the prefix, is a valid queue
// name.
func (b *Broker) validName(name string) bool {
	return queue.ValidName(name) && queue.ValidName(b.full(name))
}

// url returns the queue's URL, from the cache or GetQueueUrl. Its error
// is the SDK's.
func (b *Broker) url(ctx context.Context, name string) (string, error) {
	b.mu.Lock()
	u, ok := b.urls[name]
	b.mu.Unlock()
	if ok {
		return u, nil
	}
	out, err := b.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(b.full(name))})
	if err != nil {
		return "", err
	}
	b.remember(name, aws.ToString(out.QueueUrl))
	return aws.ToString(out.QueueUrl), nil
}

func (b *Broker) remember(name, u string) {
	b.mu.Lock()
	b.urls[name] = u
	b.mu.Unlock()
}

func (b *Broker) forget(name string) {
	b.mu.Lock()
	delete(b.urls, name)
	b.mu.Unlock()
}

// withURL calls fn with the queue's URL, and drops the cached URL when
// SQS answers that the queue does not exist. Its error is the SDK's.
func (b *Broker) withURL(ctx context.Context, name string, fn func(u *string) error) error {
	u, err := b.url(ctx, name)
	if err != nil {
		return err
	}
	err = fn(aws.String(u))
	if isNotFound(err) {
		b.forget(name)
	}
	return err
}

// Create creates the queue, or, when it exists with other attributes,
// applies cfg to it and adds cfg's tags. A redrive policy's dead-letter
// queue must exist (queue.ErrInvalid otherwise).
func (b *Broker) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	what := "creating queue " + name
	s, err := checkConfig(name, b.full(name), cfg, b.opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	attrs := map[string]string{
		string(types.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(int(s.visibility)),
		string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(s.retention)),
	}
	if s.dlq != "" {
		arn, err := b.arn(ctx, s.dlq)
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w: dead-letter queue %s does not exist", what, queue.ErrInvalid, s.dlq)
		}
		if err != nil {
			return nil, mapErr(ctx, what+": reading the dead-letter queue's ARN", err)
		}
		policy, err := json.Marshal(struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     int    `json:"maxReceiveCount"`
		}{arn, s.maxReceives})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	out, err := b.client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(b.full(name)),
		Attributes: attrs,
		Tags:       cfg.Tags,
	})
	switch {
	case err == nil:
		b.remember(name, aws.ToString(out.QueueUrl))
	case isAlreadyExists(err):
		if s.dlq == "" {
			attrs[string(types.QueueAttributeNameRedrivePolicy)] = "" // removes a policy set before
		}
		if err := b.update(ctx, name, attrs, cfg.Tags); err != nil {
			return nil, mapErr(ctx, what+": updating the existing queue", err)
		}
	default:
		return nil, mapErr(ctx, what, err)
	}
	return &Queue{b: b, name: name}, nil
}

// update applies attrs and adds tags to an existing queue.
func (b *Broker) update(ctx context.Context, name string, attrs, tags map[string]string) error {
	return b.withURL(ctx, name, func(u *string) error {
		if _, err := b.client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: u, Attributes: attrs}); err != nil {
			return err
		}
		if len(tags) == 0 {
			return nil
		}
		_, err := b.client.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: u, Tags: tags})
		return err
	})
}

// arn returns the queue's ARN. Its error is the SDK's.
func (b *Broker) arn(ctx context.Context, name string) (string, error) {
	var arn string
	err := b.withURL(ctx, name, func(u *string) error {
		out, err := b.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       u,
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return err
		}
		arn = out.Attributes[string(types.QueueAttributeNameQueueArn)]
		if arn == "" {
			return fmt.Errorf("GetQueueAttributes of %s returned no QueueArn", name)
		}
		return nil
	})
	return arn, err
}

// Open opens an existing queue; queue.ErrNotFound when there is none.
func (b *Broker) Open(ctx context.Context, name string) (queue.Queue, error) {
	if !b.validName(name) {
		return nil, fmt.Errorf("opening queue %s: %w: invalid name", name, queue.ErrNotFound)
	}
	if _, err := b.url(ctx, name); err != nil {
		return nil, mapErr(ctx, "opening queue "+name, err)
	}
	return &Queue{b: b, name: name}, nil
}

// Delete deletes the queue and its messages; queue.ErrNotFound when there
// is none. SQS may take up to 60 seconds to forget it.
func (b *Broker) Delete(ctx context.Context, name string) error {
	if !b.validName(name) {
		return fmt.Errorf("deleting queue %s: %w: invalid name", name, queue.ErrNotFound)
	}
	err := b.withURL(ctx, name, func(u *string) error {
		_, err := b.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: u})
		return err
	})
	if err != nil {
		return mapErr(ctx, "deleting queue "+name, err)
	}
	b.forget(name)
	return nil
}

// List returns the names of the queues that start with prefix, sorted,
// without the broker's prefix.
func (b *Broker) List(ctx context.Context, prefix string) ([]string, error) {
	full := b.full(prefix)
	if full != "" && !queue.ValidName(full) {
		return nil, nil // no queue name starts with it
	}
	in := &sqs.ListQueuesInput{MaxResults: aws.Int32(1000)}
	if full != "" {
		in.QueueNamePrefix = aws.String(full)
	}
	var names []string
	p := sqs.NewListQueuesPaginator(b.client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapErr(ctx, fmt.Sprintf("listing queues with prefix %q", prefix), err)
		}
		for _, raw := range out.QueueUrls {
			n := queueName(raw)
			if rest, ok := strings.CutPrefix(n, b.opts.Prefix); ok && strings.HasPrefix(n, full) {
				names = append(names, rest)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Stats returns the queue's ApproximateNumberOfMessages,
// ApproximateNumberOfMessagesNotVisible and
// ApproximateNumberOfMessagesDelayed with one GetQueueAttributes call;
// queue.ErrNotFound when there is no such queue. SQS does not report the
// age of the oldest message as an attribute (it is the CloudWatch metric
// ApproximateAgeOfOldestMessage), so AgeKnown is false.
func (b *Broker) Stats(ctx context.Context, name string) (queue.Stats, error) {
	what := "reading the counts of queue " + name
	if !b.validName(name) {
		return queue.Stats{}, fmt.Errorf("%s: %w: invalid name", what, queue.ErrNotFound)
	}
	var attrs map[string]string
	err := b.withURL(ctx, name, func(u *string) error {
		out, err := b.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: u,
			AttributeNames: []types.QueueAttributeName{
				types.QueueAttributeNameApproximateNumberOfMessages,
				types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			},
		})
		if err == nil {
			attrs = out.Attributes
		}
		return err
	})
	if err != nil {
		return queue.Stats{}, mapErr(ctx, what, err)
	}
	count := func(a types.QueueAttributeName) int {
		n, _ := strconv.Atoi(attrs[string(a)])
		return n
	}
	return queue.Stats{
		Visible:  count(types.QueueAttributeNameApproximateNumberOfMessages),
		InFlight: count(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:  count(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}, nil
}

// queueName is the last path element of a queue URL.
func queueName(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		raw = u.Path
	}
	return path.Base(raw)
}

// Tags returns the queue's tags; queue.ErrNotFound when there is no such
// queue.
func (b *Broker) Tags(ctx context.Context, name string) (map[string]string, error) {
	if !b.validName(name) {
		return nil, fmt.Errorf("reading tags of queue %s: %w: invalid name", name, queue.ErrNotFound)
	}
	var tags map[string]string
	err := b.withURL(ctx, name, func(u *string) error {
		out, err := b.client.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: u})
		if err == nil {
			tags = out.Tags
		}
		return err
	})
	if err != nil {
		return nil, mapErr(ctx, "reading tags of queue "+name, err)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// Name is the queue's name, without the broker's prefix.
func (q *Queue) Name() string { return q.name }

// entryIndex returns the batch position of an entry id.
func entryIndex(id *string, n int) (int, bool) {
	i, err := strconv.Atoi(aws.ToString(id))
	return i, err == nil && i >= 0 && i < n
}

// Send enqueues 1 to queue.MaxBatch messages with one SendMessageBatch and
// returns their ids in order. Entries SQS refused are a *queue.BatchError,
// their ids "".
func (q *Queue) Send(ctx context.Context, msgs ...queue.Outgoing) ([]string, error) {
	what := "sending to queue " + q.name
	if err := queue.CheckBatch(msgs); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	entries := make([]types.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		e := types.SendMessageBatchRequestEntry{
			Id:           aws.String(strconv.Itoa(i)),
			MessageBody:  aws.String(string(m.Body)),
			DelaySeconds: seconds(m.Delay),
		}
		if len(m.Attributes) > 0 {
			e.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
			for k, v := range m.Attributes {
				e.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String(queue.AttrType), StringValue: aws.String(v)}
			}
		}
		entries[i] = e
	}
	var out *sqs.SendMessageBatchOutput
	err := q.b.withURL(ctx, q.name, func(u *string) error {
		var err error
		out, err = q.b.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: u, Entries: entries})
		return err
	})
	if err != nil {
		return nil, mapErr(ctx, what, err)
	}
	ids := make([]string, len(msgs))
	for _, s := range out.Successful {
		if i, ok := entryIndex(s.Id, len(msgs)); ok {
			ids[i] = aws.ToString(s.MessageId)
		}
	}
	failed := map[int]error{}
	for _, f := range out.Failed {
		if i, ok := entryIndex(f.Id, len(msgs)); ok {
			failed[i] = entryError(f)
			ids[i] = ""
		}
	}
	for i, id := range ids {
		if id == "" && failed[i] == nil {
			failed[i] = fmt.Errorf("SQS reported no result for entry %d", i)
		}
	}
	if len(failed) > 0 {
		return ids, fmt.Errorf("%s: %w", what, &queue.BatchError{Failed: failed})
	}
	return ids, nil
}

// Receive makes one ReceiveMessage call: it long-polls for up to
// opts.Wait (rounded up to whole seconds) and returns up to opts.Max
// messages hidden for opts.Visibility (rounded up), or the queue's
// visibility timeout when 0.
func (q *Queue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	what := "receiving from queue " + q.name
	opts, err := queue.CheckReceive(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out *sqs.ReceiveMessageOutput
	err = q.b.withURL(ctx, q.name, func(u *string) error {
		var err error
		out, err = q.b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    u,
			MaxNumberOfMessages:         int32(opts.Max), //nolint:gosec // 1..10
			WaitTimeSeconds:             seconds(opts.Wait),
			VisibilityTimeout:           seconds(opts.Visibility),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		return err
	})
	if err != nil {
		return nil, mapErr(ctx, what, err)
	}
	if opts.LostAnswer != nil && lostAnswer(out.ResultMetadata) {
		opts.LostAnswer()
	}
	msgs := make([]queue.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, message(m))
	}
	return msgs, nil
}

// lostAnswer reports whether an attempt of a call, before the one that
// succeeded, failed without SQS's whole answer: a connection cut before
// or while the answer was read, a timeout, an answer that did not
// decode, or a server error. Such an attempt may have been served (for a
// receive: messages handed over and hidden). Only an error answer of
// SQS's own below 500 (throttling, a refusal) says that it was not.
func lostAnswer(md middleware.Metadata) bool {
	res, ok := retry.GetAttemptResults(md)
	if !ok {
		return false
	}
	for _, r := range res.Results {
		if r.Err != nil && !refused(r.Err) {
			return true
		}
	}
	return false
}

// refused reports whether err carries an answer of SQS's own with a
// status from 400 to 499. The SDK reports a request it could not send,
// or whose answer it could not read, as a ResponseError too, with no
// status.
func refused(err error) bool {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Response == nil {
		return false
	}
	return re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// message converts a received SQS message.
func message(m types.Message) queue.Message {
	out := queue.Message{
		ID:          aws.ToString(m.MessageId),
		Body:        []byte(aws.ToString(m.Body)),
		Receipt:     aws.ToString(m.ReceiptHandle),
		Attributes:  make(map[string]string, len(m.MessageAttributes)),
		SenderID:    m.Attributes[string(types.MessageSystemAttributeNameSenderId)],
		TraceHeader: m.Attributes[string(types.MessageSystemAttributeNameAWSTraceHeader)],
	}
	if n, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		out.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		out.SentAt = time.UnixMilli(ms).UTC()
	}
	for k, v := range m.MessageAttributes {
		if v.StringValue != nil {
			out.Attributes[k] = *v.StringValue
		}
	}
	return out
}

// Delete deletes the messages of 1 to queue.MaxBatch receipts with one
// DeleteMessageBatch. Entries SQS refused are a *queue.BatchError (a
// malformed or expired receipt: queue.ErrInvalidReceipt); SQS accepts the
// receipt of an earlier delivery without deleting anything.
func (q *Queue) Delete(ctx context.Context, receipts ...string) error {
	what := "deleting from queue " + q.name
	if len(receipts) == 0 || len(receipts) > queue.MaxBatch {
		return fmt.Errorf("%s: %w: %d receipts, want 1 to %d", what, queue.ErrInvalid, len(receipts), queue.MaxBatch)
	}
	// Each distinct receipt once: SQS emulators refuse a batch that
	// repeats one, and deleting twice is deleting once.
	var entries []types.DeleteMessageBatchRequestEntry
	slot := make([]int, len(receipts)) // entry of each receipt
	seen := map[string]int{}
	for i, r := range receipts {
		j, ok := seen[r]
		if !ok {
			j = len(entries)
			seen[r] = j
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(r)})
		}
		slot[i] = j
	}
	var out *sqs.DeleteMessageBatchOutput
	err := q.b.withURL(ctx, q.name, func(u *string) error {
		var err error
		out, err = q.b.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: u, Entries: entries})
		return err
	})
	if err != nil {
		return mapErr(ctx, what, err)
	}
	entryFailed := map[int]error{}
	for _, f := range out.Failed {
		if j, ok := entryIndex(f.Id, len(entries)); ok {
			entryFailed[j] = entryError(f)
		}
	}
	failed := map[int]error{}
	for i, j := range slot {
		if err := entryFailed[j]; err != nil {
			failed[i] = err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s: %w", what, &queue.BatchError{Failed: failed})
	}
	return nil
}

// ChangeVisibility hides the received message for d (rounded up to whole
// seconds) from now; 0 makes it visible at once.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	what := "changing visibility in queue " + q.name
	if d < 0 || d > queue.MaxVisibility {
		return fmt.Errorf("%s: %w: %s, want 0 to %s", what, queue.ErrInvalid, d, queue.MaxVisibility)
	}
	err := q.b.withURL(ctx, q.name, func(u *string) error {
		_, err := q.b.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl:          u,
			ReceiptHandle:     aws.String(receipt),
			VisibilityTimeout: seconds(d),
		})
		return err
	})
	return mapErr(ctx, what, err)
}
