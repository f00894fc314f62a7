// Package queue is the port for the pipeline's work queues (requests, run
// orders, dead letters). Its semantics are SQS standard queues: at-least-once
// delivery, long-poll receive, a visibility timeout that hides a received
// message until it is deleted or the timeout lapses, and a dead-letter queue
// that takes a message once it has been received MaxReceiveCount times.
//
// Adapters live beside it (sqlitequeue, sqsqueue); queuetest is the
// conformance suite every adapter runs. Nothing here names an SDK type.
package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits shared by every adapter (the SQS limits).
const (
	MaxBatch       = 10
	MaxBodySize    = 256 * 1024
	MaxWait        = 20 * time.Second
	MaxVisibility  = 12 * time.Hour
	MaxAttributes  = 10
	DefaultVisible = 30 * time.Second
)

// Port errors. Adapters translate backend errors into these.
var (
	// ErrNotFound means the queue does not exist.
	ErrNotFound = errors.New("queue not found")
	// ErrInvalidReceipt means the receipt handle is unknown or no longer current
	// (the message was deleted or received again by someone else).
	ErrInvalidReceipt = errors.New("invalid receipt handle")
	// ErrTooLarge means a message body or batch exceeds the limits.
	ErrTooLarge = errors.New("message too large")
	// ErrInvalid means a request the queue refuses (bad name, too many entries,
	// out-of-range timeout).
	ErrInvalid = errors.New("invalid queue request")
	// ErrThrottled means the backend asked the caller to slow down; retryable.
	ErrThrottled = errors.New("queue throttled")
	// ErrDenied means the backend refused the caller the call on this
	// queue (IAM on SQS); not retryable until someone grants it.
	ErrDenied = errors.New("queue access denied")
)

// Message is one received message.
type Message struct {
	// ID is the queue's id for the message, stable across redeliveries.
	ID   string
	Body []byte
	// Attributes are the string attributes the sender set.
	Attributes map[string]string
	// Receipt identifies this delivery; Delete and ChangeVisibility need it.
	Receipt string
	// ReceiveCount is how many times the message has been received,
	// including this time.
	ReceiveCount int
	// SentAt is when the message was first sent.
	SentAt time.Time
	// SenderID is the sender's identity as the backend verified it (the SQS
	// SenderId; the OS user on the embedded backend), never a value the
	// sender wrote.
	SenderID string
	// TraceHeader is the trace header the backend keeps beside the
	// message's own attributes, in AWS X-Ray form ("Root=1-…;Parent=…;
	// Sampled=1"): the AWSTraceHeader system attribute SQS sets when the
	// sender is traced by X-Ray. Empty when there is none, and always on
	// the embedded backend.
	TraceHeader string
}

// Outgoing is a message to send.
type Outgoing struct {
	Body       []byte
	Attributes map[string]string
	// Delay hides the message for this long after sending (max 15m).
	Delay time.Duration
}

// ReceiveOptions tune one Receive call.
type ReceiveOptions struct {
	// Max is the most messages to return, 1..MaxBatch. Defaults to 1.
	Max int
	// Wait is how long to wait for a first message (long poll), at most
	// MaxWait. Zero returns at once.
	Wait time.Duration
	// Visibility hides the received messages for this long. Zero uses the
	// queue's default visibility timeout.
	Visibility time.Duration
	// LostAnswer, when set, is called when the call may have received
	// messages that it does not return: an attempt's answer never
	// arrived whole (a connection cut while it was read) and the adapter
	// tried again. The backend handed those messages over and hides them
	// for the visibility timeout; then they come back. A failed Receive
	// may have done the same; its error is the caller's sign of that.
	// Adapters that cannot lose an answer (sqlitequeue) never call it.
	LostAnswer func()
}

// Queue is one queue.
type Queue interface {
	// Name is the queue's name.
	Name() string
	// Send enqueues up to MaxBatch messages and returns their ids in order.
	// When some entries fail it returns the ids of the others (empty string
	// for failed ones) and a *BatchError.
	Send(ctx context.Context, msgs ...Outgoing) ([]string, error)
	// Receive blocks until a message is visible or opts.Wait elapses, then
	// returns up to opts.Max messages, each hidden for the visibility
	// timeout. It returns no messages and no error when none were visible.
	// A message received more than the redrive policy's MaxReceiveCount
	// times moves to the dead-letter queue instead of being returned.
	Receive(ctx context.Context, opts ReceiveOptions) ([]Message, error)
	// Delete removes the messages of up to MaxBatch receipts. Deleting an
	// already deleted message is not an error; a stale receipt of a message
	// that is still in the queue is a *BatchError entry with
	// ErrInvalidReceipt.
	Delete(ctx context.Context, receipts ...string) error
	// ChangeVisibility hides the received message for d from now (0 makes
	// it visible at once). ErrInvalidReceipt when the receipt is stale.
	ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error
}

// Config is a queue's configuration.
type Config struct {
	// VisibilityTimeout is the default visibility timeout. Defaults to 30s.
	VisibilityTimeout time.Duration
	// Retention is how long a message is kept. Defaults to 4 days; at
	// most 14 days.
	Retention time.Duration
	// DeadLetter, when set, moves messages received more than
	// MaxReceiveCount times to the named queue.
	DeadLetter *Redrive
	// Tags are attached to the queue.
	Tags map[string]string
}

// Redrive is a dead-letter policy.
type Redrive struct {
	Queue           string
	MaxReceiveCount int
}

// Stats are a queue's message counts at one moment. On SQS they are the
// ApproximateNumberOfMessages* attributes: approximate, and up to a minute
// behind.
type Stats struct {
	// Visible is how many messages wait to be received.
	Visible int
	// InFlight is how many were received and are neither deleted nor
	// visible again yet.
	InFlight int
	// Delayed is how many were sent with a delay that has not passed yet.
	Delayed int
	// OldestAge is the age of the oldest message the queue holds, in any
	// of those states; valid only when AgeKnown.
	OldestAge time.Duration
	// AgeKnown is false when the queue is empty or the backend cannot tell
	// (SQS keeps that age as a CloudWatch metric only,
	// ApproximateAgeOfOldestMessage, not as a queue attribute).
	AgeKnown bool
}

// Broker creates, opens and deletes queues.
type Broker interface {
	// Create creates the queue, or opens it when it exists.
	Create(ctx context.Context, name string, cfg Config) (Queue, error)
	// Open opens an existing queue; ErrNotFound when there is none.
	Open(ctx context.Context, name string) (Queue, error)
	// Delete deletes the queue and its messages; deleting a missing queue
	// is ErrNotFound.
	Delete(ctx context.Context, name string) error
	// List returns the names of the queues that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Stats returns the named queue's message counts; ErrNotFound when
	// there is no such queue.
	Stats(ctx context.Context, name string) (Stats, error)
}

// BatchError reports the entries of a batch call that failed. Entries are
// indexed by their position in the call.
type BatchError struct {
	Failed map[int]error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d batch entries failed", len(e.Failed))
	for i := 0; i < MaxBatch; i++ {
		if err, ok := e.Failed[i]; ok {
			fmt.Fprintf(&b, "; entry %d: %v", i, err)
		}
	}
	return b.String()
}

// Unwrap returns the entries' errors so errors.Is sees through the batch.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for i := 0; i < MaxBatch; i++ {
		if err, ok := e.Failed[i]; ok {
			errs = append(errs, err)
		}
	}
	return errs
}

// ValidName reports whether name is a valid queue name: 1 to 80 letters,
// digits, hyphens and underscores (the SQS rule).
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 80 {
		return false
	}
	for _, r := range name {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}
