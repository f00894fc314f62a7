package schemas

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Schema names of the cancel messages.
const (
	CancelRequestV1 = "cancel_request/v1"
	CancelOrderV1   = "cancel_order/v1"
)

// MaxCancelReason is the longest reason, in bytes, a cancel request may
// carry.
const MaxCancelReason = 1024

// CancelRequest is a caller asking to cancel a job (producer → request
// queue). Like a job request it is untrusted until the gatekeeper has
// checked the caller the queue verified against the job's policy.
type CancelRequest struct {
	Schema string `json:"schema"`
	// RequestID identifies this cancel request (a ULID made by the
	// producer); the reply stream is created under it.
	RequestID string `json:"request_id"`
	// JobID is the job to cancel.
	JobID string `json:"job_id"`
	// Reason is the caller's own words, recorded and shown with the
	// job's end. Optional.
	Reason string `json:"reason,omitempty"`
	// ReplyStream is the address of the stream, made by the producer
	// before it enqueued the request, on which the gatekeeper answers
	// with one cancel_accepted or cancel_rejected event.
	ReplyStream string `json:"reply_stream"`
	// Caller describes where the request came from, as the caller says;
	// informational only.
	Caller      CallerMetadata `json:"caller,omitzero"`
	TraceParent string         `json:"traceparent,omitempty"`
	SubmittedAt time.Time      `json:"submitted_at"`
}

// Validate checks the request's own shape.
func (r *CancelRequest) Validate() error {
	switch {
	case !ValidJobID(r.RequestID):
		return fmt.Errorf("%w: request_id %q is not a valid id", ErrMalformed, r.RequestID)
	case !ValidJobID(r.JobID):
		return fmt.Errorf("%w: job_id %q is not a valid job id", ErrMalformed, r.JobID)
	case r.ReplyStream == "":
		return fmt.Errorf("%w: reply_stream is empty", ErrMalformed)
	case len(r.Reason) > MaxCancelReason:
		return fmt.Errorf("%w: reason is %d bytes, limit %d", ErrMalformed, len(r.Reason), MaxCancelReason)
	case !utf8.ValidString(r.Reason):
		return fmt.Errorf("%w: reason is not UTF-8", ErrMalformed)
	}
	return nil
}

// Encode sets the schema and encodes the request.
func (r CancelRequest) Encode() ([]byte, error) {
	r.Schema = CancelRequestV1
	return json.Marshal(r)
}

// DecodeCancelRequest decodes and validates a cancel request.
func DecodeCancelRequest(data []byte) (CancelRequest, error) {
	var r CancelRequest
	if err := decode(data, CancelRequestV1, &r); err != nil {
		return CancelRequest{}, err
	}
	return r, r.Validate()
}

// CancelOrder tells workers to stop a job (gatekeeper → the cancel
// queue). The gatekeeper has checked the caller and journaled a
// cancel_requested event before sending it.
type CancelOrder struct {
	Schema    string `json:"schema"`
	JobID     string `json:"job_id"`
	RequestID string `json:"request_id"`
	// Lane is the job's concurrency lane.
	Lane   string `json:"lane,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Caller is who asked, as verified.
	Caller      Identity  `json:"caller"`
	RequestedAt time.Time `json:"requested_at"`
}

// Validate checks the order's own shape.
func (o *CancelOrder) Validate() error {
	switch {
	case !ValidJobID(o.JobID):
		return fmt.Errorf("%w: job_id %q is not a valid job id", ErrMalformed, o.JobID)
	case o.Caller.Principal == "":
		return fmt.Errorf("%w: caller.principal is empty", ErrMalformed)
	}
	return nil
}

// Encode sets the schema and encodes the order.
func (o CancelOrder) Encode() ([]byte, error) {
	o.Schema = CancelOrderV1
	return json.Marshal(o)
}

// DecodeCancelOrder decodes and validates a cancel order.
func DecodeCancelOrder(data []byte) (CancelOrder, error) {
	var o CancelOrder
	if err := decode(data, CancelOrderV1, &o); err != nil {
		return CancelOrder{}, err
	}
	return o, o.Validate()
}

// SchemaName returns the name part of an encoded message's schema
// ("cancel_request" for "cancel_request/v1"), or "" when the message has
// no readable schema. Consumers that take more than one kind of message
// on a queue dispatch on it; the decoder of that kind then rejects an
// unknown major version.
func SchemaName(data []byte) string {
	s, err := SchemaOf(data)
	if err != nil {
		return ""
	}
	name, _, err := ParseSchema(s)
	if err != nil {
		return ""
	}
	return name
}

// Names of the schemas, for SchemaName.
const (
	CancelRequestName = "cancel_request"
	CancelOrderName   = "cancel_order"
)

// CancelStopReason is the reason a worker gives the runner when it stops
// a task on a cancel order. It starts with StopReasonCancelled, so
// whichever worker tracks the task recognises a cancel from the task's
// stop reason alone.
func CancelStopReason(principal, reason string) string {
	s := StopReasonCancelled + ": requested by " + principal
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// StopReasonCancelled starts the stop reason of a task stopped because
// its job was cancelled.
const StopReasonCancelled = "cancelled"
